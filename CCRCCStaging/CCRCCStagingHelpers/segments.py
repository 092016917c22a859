"""MRML in and out of the CLI: the CT and the tumour segment written for it (uncompressed NRRD on the CT's own grid),
its regions read back as segments of the radiologist's segmentation, the feature table, and the views.

Generated segments carry a tag, so that a new analysis replaces exactly those and never a segment of the
radiologist's, whatever its name.
"""

import re

from . import AnalysisError
from .results import regionColor, regionDisplayName, resultMarginMm
from .slicerApp import slicer, vtk

#: Segment tags: which segments this module made (and may replace), and which region each one shows.
GENERATED_TAG = "CCRCCStaging.generated"
REGION_TAG = "CCRCCStaging.region"


def checkInputs(volumeNode, segmentationNode, segmentId):
    """Raise AnalysisError with a sentence when these nodes cannot be analysed."""
    if not volumeNode or not volumeNode.GetImageData():
        raise AnalysisError("Select the CT volume.")
    if not segmentationNode or not segmentId or not segmentationNode.GetSegmentation().GetSegment(segmentId):
        raise AnalysisError("Select the tumour segment.")
    binaryLabelmap = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
    if segmentationNode.GetSegmentation().GetSourceRepresentationName() != binaryLabelmap:
        # New segments could only be added by converting the radiologist's segments, which must not change.
        raise AnalysisError(
            f'The segmentation "{segmentationNode.GetName()}" is stored as surfaces. In the Segmentations '
            "module, set its source representation to binary labelmap, then analyse again.")


def writeInputs(volumeNode, segmentationNode, segmentId, inputDir):
    """The CT and the segment resampled onto the CT's own grid, as uncompressed NRRD files the CLI reads in one
    space (fast to write and to read: they are read once and deleted). Returns (image path, mask path)."""
    # Named after the volume: the CLI takes the case ID in result.json from the image's file name.
    caseId = re.sub(r"[^\w.-]+", "_", volumeNode.GetName() or "").strip("._") or "image"
    (inputDir / "image").mkdir(parents=True)
    imagePath, maskPath = inputDir / "image" / f"{caseId}.nrrd", inputDir / "mask.nrrd"
    segmentIds = vtk.vtkStringArray()
    segmentIds.InsertNextValue(segmentId)
    mask = slicer.vtkOrientedImageData()
    # Into the CT's frame, including any difference between the two nodes' parent transforms.
    slicer.vtkSlicerSegmentationsModuleLogic.GenerateMergedLabelmapInReferenceGeometry(
        segmentationNode, volumeNode, segmentIds, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY, mask, None)
    maskNode = slicer.vtkMRMLLabelMapVolumeNode()  # outside the scene: nothing to clean up
    ijkToRas = vtk.vtkMatrix4x4()
    mask.GetImageToWorldMatrix(ijkToRas)
    maskNode.SetIJKToRASMatrix(ijkToRas)
    maskImage = vtk.vtkImageData()
    maskImage.ShallowCopy(mask)
    maskImage.SetOrigin(0, 0, 0)
    maskImage.SetSpacing(1, 1, 1)
    maskNode.SetAndObserveImageData(maskImage)
    for node, path in ((volumeNode, imagePath), (maskNode, maskPath)):
        storageNode = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storageNode.SetFileName(str(path))
        storageNode.SetUseCompression(False)
        if not storageNode.WriteData(node):
            raise AnalysisError(f"Could not write {path.name} to the temporary folder {inputDir}.")
    return imagePath, maskPath


def readRegions(path):
    """regions.nrrd (habitats 1..K, shell 10) with its own geometry, in the CT's frame."""
    regionsNode = slicer.vtkMRMLLabelMapVolumeNode()
    storageNode = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storageNode.SetFileName(str(path))
    if not storageNode.ReadData(regionsNode):
        raise AnalysisError(f"The analysis wrote an unreadable {path.name}.")
    regionsImage = slicer.vtkOrientedImageData()
    regionsImage.ShallowCopy(regionsNode.GetImageData())
    ijkToRas = vtk.vtkMatrix4x4()
    regionsNode.GetIJKToRASMatrix(ijkToRas)
    regionsImage.SetImageToWorldMatrix(ijkToRas)
    return regionsImage


def replaceGeneratedSegments(segmentationNode, regionsImage, result, volumeTransformNode):
    """Import the regions as segments (named, coloured and tagged) and remove the previous run's; returns
    ``{region: segment ID}``. A failed import keeps the previous run's segments."""
    segmentation = segmentationNode.GetSegmentation()
    previousIds = generatedSegmentIds(segmentationNode)
    segmentIdsArray, segmentIds = _newSegmentIds(segmentation, result)
    # The regions are in the CT's frame; the segmentation may sit under another transform.
    regionsToSegmentation = None
    if volumeTransformNode != segmentationNode.GetParentTransformNode():
        regionsToSegmentation = vtk.vtkGeneralTransform()
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(
            volumeTransformNode, segmentationNode.GetParentTransformNode(), regionsToSegmentation)
    # Imported as they are (own 1 mm grid, one new layer): the radiologist's layers are not touched.
    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(
            regionsImage, segmentationNode, segmentIdsArray, regionsToSegmentation):
        raise AnalysisError("The habitats could not be added to the segmentation.")
    for region, segmentId in segmentIds.items():
        segment = segmentation.GetSegment(segmentId)
        segment.SetName(regionDisplayName(region, resultMarginMm(result)))
        segment.SetColor(*regionColor(region))
        segment.SetTag(GENERATED_TAG, "1")
        segment.SetTag(REGION_TAG, region)
    # Removed only now that the new ones are in.
    for segmentId in previousIds:
        segmentation.RemoveSegment(segmentId)
    return segmentIds


def _newSegmentIds(segmentation, result):
    """The segment ID of each label (entry i names the segment of label i+1; labels between K and the shell's get
    an empty entry and no segment), and ``{region: segment ID}``."""
    regionsByLabel = {values["label"]: region for region, values in result["regions"].items() if "label" in values}
    segmentIdsArray = vtk.vtkStringArray()
    segmentIds = {}
    for label in range(1, max(regionsByLabel) + 1):
        region = regionsByLabel.get(label)
        segmentId = segmentation.GenerateUniqueSegmentID(f"CCRCCStaging_{region}") if region else ""
        segmentIdsArray.InsertNextValue(segmentId)
        if region:
            segmentIds[region] = segmentId
    return segmentIdsArray, segmentIds


def generatedSegmentIds(segmentationNode):
    segmentation = segmentationNode.GetSegmentation()
    return [segmentId for segmentId in segmentation.GetSegmentIDs()
            if segmentation.GetSegment(segmentId).HasTag(GENERATED_TAG)]


def setGeneratedSegmentsVisible(segmentationNode, visible):
    displayNode = segmentationNode.GetDisplayNode()
    if not displayNode:
        return
    for segmentId in generatedSegmentIds(segmentationNode):
        displayNode.SetSegmentVisibility(segmentId, visible)


def fillFeatureTable(tableNode, features):
    """The (region, feature, value) rows as the table's three columns."""
    with slicer.util.NodeModify(tableNode):
        tableNode.RemoveAllColumns()
        columns = (vtk.vtkStringArray(), vtk.vtkStringArray(), vtk.vtkDoubleArray())
        for column, name in zip(columns, ("Region", "Feature", "Value")):
            column.SetName(name)
        for row in features:
            for column, value in zip(columns, row):
                column.InsertNextValue(value)
        for column in columns:
            tableNode.AddColumn(column)


def showResults(volumeNode, segmentationNode, segmentId):
    """The CT in the slice views with the segments drawn as fill and outline, centred on the tumour."""
    slicer.util.setSliceViewerLayers(background=volumeNode, fit=False)
    displayNode = segmentationNode.GetDisplayNode()
    displayNode.SetVisibility(True)
    displayNode.SetVisibility2DFill(True)
    displayNode.SetVisibility2DOutline(True)
    center = segmentationNode.GetSegmentCenterRAS(segmentId)
    slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *center, slicer.vtkMRMLSliceNode.CenteredJumpSlice)
