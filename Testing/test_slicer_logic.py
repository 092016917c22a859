"""The CCRCCStaging module's Logic on real MRML (slicer-core) with the real CLI, on small generated cases.

Each analysis runs ``python -m CCRCCStagingLib.cli analyze`` in a child process, as in Slicer (there with
PythonSlicer and a Qt event loop; here with this Python and a plain blocking runner).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from slicer_harness import (
    MrmlApplication,
    addCase,
    ijkToRasMatrix,
    loadModule,
    phantomCase,
    requireSlicerCore,
    sceneSnapshot,
)

# An oblique, anisotropic CT grid: the geometry that breaks naive image/mask handling.
SPACING, ORIGIN, ROTATION = (0.7, 0.8, 2.5), (10.0, -20.0, 5.0), (10.0, 5.0, 20.0)


@pytest.fixture(scope="module")
def ccrcc():
    requireSlicerCore()
    return loadModule()


@pytest.fixture
def slicer(ccrcc):
    application = MrmlApplication()
    import slicer

    yield slicer
    application.close()


@pytest.fixture
def case(slicer):
    image, mask = phantomCase()
    volumeNode, segmentationNode, tumourId = addCase(slicer, image, mask, ijkToRasMatrix(SPACING, ORIGIN, ROTATION))
    return volumeNode, segmentationNode, tumourId


def recordingRunner(ccrcc, keepDir: Path):
    """A CliRunner that keeps copies of what the Logic gave the CLI and what the CLI wrote (the Logic deletes
    its temporary folder)."""

    class RecordingRunner(ccrcc.CliRunner):
        def run(self, args, env, onLine):
            self.args = list(args)
            exitCode = super().run(args, env, onLine)
            position = args.index("analyze")
            shutil.copy(args[position + 1], keepDir / "image.nrrd")
            shutil.copy(args[position + 2], keepDir / "mask.nrrd")
            shutil.copytree(args[args.index("--out") + 1], keepDir / "out")
            return exitCode

    return RecordingRunner()


def segmentsByName(segmentationNode):
    segmentation = segmentationNode.GetSegmentation()
    return {segmentation.GetSegment(segmentId).GetName(): segmentId for segmentId in segmentation.GetSegmentIDs()}


def segmentArrays(slicer, segmentationNode, segmentId, volumeNode):
    """The segment on the CT grid, and its internal labelmap as stored (with extent and label value)."""
    internal = segmentationNode.GetBinaryLabelmapInternalRepresentation(segmentId)
    return (slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode).copy(),
            slicer.util.arrayFromSegmentInternalBinaryLabelmap(segmentationNode, segmentId).copy(),
            internal.GetExtent(),
            segmentationNode.GetSegmentation().GetSegment(segmentId).GetLabelValue())


def assertSameSegment(before, after):
    for arrayBefore, arrayAfter in zip(before[:2], after[:2]):
        assert arrayBefore.dtype == arrayAfter.dtype and np.array_equal(arrayBefore, arrayAfter)
    assert before[2:] == after[2:]


def loadLabelmap(slicer, path):
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", Path(path).stem)
    storageNode = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storageNode.SetFileName(str(path))
    assert storageNode.ReadData(node)
    return node


def expectedLpsGeometry(volumeNode):
    """Spacing, origin and direction (row-major) that an ITK reader must see for the volume node."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volumeNode.GetIJKToRASMatrix(matrix)
    ijkToRas = np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])
    spacing = np.linalg.norm(ijkToRas[:3, :3], axis=0)
    rasToLps = np.diag([-1.0, -1.0, 1.0])
    return spacing, rasToLps @ ijkToRas[:3, 3], (rasToLps @ (ijkToRas[:3, :3] / spacing)).ravel()


def test_analysisRoundTripsTheObliqueAnisotropicGeometry(ccrcc, slicer, case, tmp_path):
    import vtk

    volumeNode, segmentationNode, tumourId = case
    tumourBefore = segmentArrays(slicer, segmentationNode, tumourId, volumeNode)
    runner = recordingRunner(ccrcc, tmp_path)
    progress = []

    analysis = ccrcc.CCRCCStagingLogic().analyze(
        volumeNode, segmentationNode, tumourId, runner=runner, onProgress=lambda *step: progress.append(step))

    # What the CLI was given: the CT as it is, and the segment on exactly the CT's grid.
    image, mask = sitk.ReadImage(tmp_path / "image.nrrd"), sitk.ReadImage(tmp_path / "mask.nrrd")
    spacing, origin, direction = expectedLpsGeometry(volumeNode)
    for written in (image, mask):
        np.testing.assert_allclose(written.GetSpacing(), spacing, atol=1e-6)
        np.testing.assert_allclose(written.GetOrigin(), origin, atol=1e-6)
        np.testing.assert_allclose(written.GetDirection(), direction, atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(image), slicer.util.arrayFromVolume(volumeNode))
    assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, tumourBefore[0] > 0)
    assert runner.args[runner.args.index("--margin-mm") + 1] == "3"

    # What came back: one segment per labelled region, voxel for voxel on regions.nrrd's own 1 mm grid.
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert analysis.result == result
    regionsNode = loadLabelmap(slicer, tmp_path / "out" / "regions.nrrd")
    regions = slicer.util.arrayFromVolume(regionsNode).copy()
    k = result["habitats_k"]
    assert set(analysis.segmentIds) == {"peri", *(f"sub{habitat}" for habitat in range(1, k + 1))}
    segmentation = segmentationNode.GetSegmentation()
    for region, segmentId in analysis.segmentIds.items():
        segment = segmentation.GetSegment(segmentId)
        assert segment.GetName() == ccrcc.regionDisplayName(region, 3.0)
        assert segment.GetColor() == pytest.approx(ccrcc.regionColor(region))
        assert segment.HasTag(ccrcc.GENERATED_TAG)
        regionTag = vtk.reference("")
        assert segment.GetTag(ccrcc.REGION_TAG, regionTag) and str(regionTag) == region
        generated = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, regionsNode)
        assert np.array_equal(generated > 0, regions == result["regions"][region]["label"]), region
    assert sorted(segmentsByName(segmentationNode)) == sorted(
        ["Tumour", "Peritumoral 3 mm", *(f"Habitat {habitat}" for habitat in range(1, k + 1))])
    assert len({segment.GetColor() for segment in map(segmentation.GetSegment, analysis.segmentIds.values())}) == k + 1

    # The radiologist's segment is bit for bit as it was.
    assertSameSegment(tumourBefore, segmentArrays(slicer, segmentationNode, tumourId, volumeNode))

    # Features in the table, the result in the parameter node, progress reported up to the end.
    with open(tmp_path / "out" / "features.csv", newline="") as file:
        header, values = list(csv.reader(file))
    features = {column: float(value) for column, value in zip(header, values) if column.split("_")[0] in result["regions"]}
    table = analysis.featureTable
    assert table.GetNumberOfRows() == len(features) > 1000
    for row in (0, table.GetNumberOfRows() - 1):
        name = f"{table.GetCellText(row, 0)}_{table.GetCellText(row, 1)}"
        assert table.GetTable().GetValue(row, 2).ToDouble() == pytest.approx(features[name], rel=1e-12, nan_ok=True)
    parameterNode = ccrcc.CCRCCStagingLogic().getParameterNode()
    assert json.loads(parameterNode.GetParameter(ccrcc.RESULT_PARAMETER)) == result
    assert parameterNode.GetNodeReference(ccrcc.FEATURE_TABLE_PARAMETER) is table
    fractions = [fraction for fraction, _message in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_rerunReplacesOnlyTheGeneratedSegments(ccrcc, slicer, case):
    volumeNode, segmentationNode, tumourId = case
    segmentation = segmentationNode.GetSegmentation()
    # Another segment of the radiologist's, named like a generated one: it must survive every run.
    kidneyId = segmentation.AddEmptySegment("", "Habitat 1")
    kidney = np.zeros(slicer.util.arrayFromVolume(volumeNode).shape, np.uint8)
    kidney[1:4, 2:8, 3:9] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(kidney, segmentationNode, kidneyId, volumeNode)
    userSegments = {segmentId: segmentArrays(slicer, segmentationNode, segmentId, volumeNode)
                    for segmentId in (tumourId, kidneyId)}
    logic = ccrcc.CCRCCStagingLogic()

    first = logic.analyze(volumeNode, segmentationNode, tumourId, habitats=3, runner=ccrcc.CliRunner())
    firstContents = {region: slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
                     for region, segmentId in first.segmentIds.items()}
    second = logic.analyze(volumeNode, segmentationNode, tumourId, habitats=3, runner=ccrcc.CliRunner())
    names = [segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs()]
    assert sorted(names) == sorted(["Tumour", "Habitat 1", "Habitat 1", "Habitat 2", "Habitat 3", "Peritumoral 3 mm"])
    assert len(ccrcc.CCRCCStagingLogic.generatedSegmentIds(segmentationNode)) == 4
    for region, segmentId in second.segmentIds.items():
        assert np.array_equal(
            slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode), firstContents[region])
    assert second.featureTable is first.featureTable

    third = logic.analyze(volumeNode, segmentationNode, tumourId, marginMm=2.5, habitats="2", runner=ccrcc.CliRunner())
    assert third.result["habitats_k"] == 2
    generatedNames = {segmentation.GetSegment(segmentId).GetName()
                      for segmentId in ccrcc.CCRCCStagingLogic.generatedSegmentIds(segmentationNode)}
    assert generatedNames == {"Habitat 1", "Habitat 2", "Peritumoral 2.5 mm"}
    assert segmentation.GetNumberOfSegments() == 5
    for segmentId, before in userSegments.items():
        assert not segmentation.GetSegment(segmentId).HasTag(ccrcc.GENERATED_TAG)
        assertSameSegment(before, segmentArrays(slicer, segmentationNode, segmentId, volumeNode))
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1

    logic.setGeneratedSegmentsVisible(segmentationNode, False)
    displayNode = segmentationNode.GetDisplayNode()
    assert not any(displayNode.GetSegmentVisibility(segmentId) for segmentId in third.segmentIds.values())
    assert displayNode.GetSegmentVisibility(tumourId) and displayNode.GetSegmentVisibility(kidneyId)


def test_resultsAreShownOnTheCtCentredOnTheTumour(ccrcc, slicer, case):
    volumeNode, segmentationNode, tumourId = case
    sliceNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSliceNode")
    sliceNode.SetLayoutName("Red")
    compositeNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    compositeNode.SetLayoutName("Red")
    segmentationNode.GetDisplayNode().SetVisibility2DFill(False)

    ccrcc.CCRCCStagingLogic.showResults(volumeNode, segmentationNode, tumourId)

    assert compositeNode.GetBackgroundVolumeID() == volumeNode.GetID()
    displayNode = segmentationNode.GetDisplayNode()
    assert displayNode.GetVisibility2DFill() and displayNode.GetVisibility2DOutline()
    sliceToRas = sliceNode.GetSliceToRAS()
    sliceCentre = [sliceToRas.GetElement(row, 3) for row in range(3)]
    assert sliceCentre == pytest.approx(segmentationNode.GetSegmentCenterRAS(tumourId), abs=1e-6)


@pytest.mark.slow
def test_theSampleCaseAsSlicerLoadsIt(ccrcc, slicer):
    """What CCRCCStagingTest does in Slicer, as far as it goes without the application."""
    sampleDir = ccrcc.libraryRoot() / "Resources" / "Sample"
    volumeNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CCRCC sample CT")
    segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CCRCC sample tumour")
    for node, storageNode, (fileName, _fileType) in zip(
            (volumeNode, segmentationNode),
            (slicer.vtkMRMLVolumeArchetypeStorageNode(), slicer.vtkMRMLSegmentationStorageNode()),
            ccrcc.SAMPLE_FILES):
        storageNode.SetFileName(str(sampleDir / fileName))
        assert storageNode.ReadData(node), fileName
    tumourId = segmentationNode.GetSegmentation().GetNthSegmentID(0)
    tumourBefore = segmentArrays(slicer, segmentationNode, tumourId, volumeNode)

    analysis = ccrcc.CCRCCStagingLogic().analyze(volumeNode, segmentationNode, tumourId, runner=ccrcc.CliRunner())

    k = analysis.result["habitats_k"]
    assert sorted(segmentsByName(segmentationNode)) == sorted(
        [segmentationNode.GetSegmentation().GetSegment(tumourId).GetName(), "Peritumoral 3 mm",
         *(f"Habitat {habitat}" for habitat in range(1, k + 1))])
    assertSameSegment(tumourBefore, segmentArrays(slicer, segmentationNode, tumourId, volumeNode))
    assert analysis.result["case_id"] == "CCRCC_sample_CT"


def test_segmentationUnderAnotherTransformStaysAligned(ccrcc, slicer, case, tmp_path):
    import vtk

    volumeNode, segmentationNode, tumourId = case
    transformNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkMatrix4x4()
    for axis, millimetres in enumerate((3.3, -1.7, 2.2)):
        shift.SetElement(axis, 3, millimetres)
    transformNode.SetMatrixTransformToParent(shift)
    segmentationNode.SetAndObserveTransformNodeID(transformNode.GetID())
    runner = recordingRunner(ccrcc, tmp_path)

    analysis = ccrcc.CCRCCStagingLogic().analyze(volumeNode, segmentationNode, tumourId, runner=runner)

    # The CLI saw the segment where it lies in the world, on the CT's grid (as Slicer's own export puts it) …
    tumourInCtFrame = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
    assert tumourInCtFrame.any()
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(tmp_path / "mask.nrrd")) > 0, tumourInCtFrame > 0)
    # … and the regions came back to the same place in the world, under the segmentation's transform.
    regionsNode = loadLabelmap(slicer, tmp_path / "out" / "regions.nrrd")
    regions = slicer.util.arrayFromVolume(regionsNode).copy()
    for region, segmentId in analysis.segmentIds.items():
        generated = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, regionsNode)
        assert np.array_equal(generated > 0, regions == analysis.result["regions"][region]["label"]), region


def test_cancelLeavesTheSceneAsItWas(ccrcc, slicer, case):
    volumeNode, segmentationNode, tumourId = case

    class CancellingRunner(ccrcc.CliRunner):
        """Cancels as soon as the CLI reports progress, as the Cancel button would."""

        def run(self, args, env, onLine):
            def onLineThenCancel(line):
                onLine(line)
                if line.startswith("progress:"):
                    self.cancel()

            return super().run(args, env, onLineThenCancel)

    before = sceneSnapshot(slicer.mrmlScene)
    runner = CancellingRunner()

    assert ccrcc.CCRCCStagingLogic().analyze(volumeNode, segmentationNode, tumourId, runner=runner) is None
    assert runner._process.poll() is not None  # the child is gone
    assert sceneSnapshot(slicer.mrmlScene) == before


def test_aUserMistakeRaisesTheCliSentenceAndChangesNothing(ccrcc, slicer, case):
    volumeNode, segmentationNode, _tumourId = case
    emptyId = segmentationNode.GetSegmentation().AddEmptySegment("", "Empty")
    before = sceneSnapshot(slicer.mrmlScene)

    with pytest.raises(ccrcc.AnalysisError) as raised:
        ccrcc.CCRCCStagingLogic().analyze(volumeNode, segmentationNode, emptyId, runner=ccrcc.CliRunner())

    message = str(raised.value)
    assert message and "\n" not in message and not message.startswith("error")
    assert "empty" in message.lower()
    assert sceneSnapshot(slicer.mrmlScene) == before


def test_inputsThatCannotBeAnalysedAreRefusedBeforeRunning(ccrcc, slicer, case):
    volumeNode, segmentationNode, tumourId = case
    logic = ccrcc.CCRCCStagingLogic()

    class FailingRunner:
        def run(self, args, env, onLine):
            raise AssertionError("the CLI must not be started")

    with pytest.raises(ccrcc.AnalysisError, match="tumour segment"):
        logic.analyze(volumeNode, segmentationNode, "no such segment", runner=FailingRunner())
    with pytest.raises(ccrcc.AnalysisError, match="CT volume"):
        logic.analyze(None, segmentationNode, tumourId, runner=FailingRunner())
    # Adding labelmap segments to a surface segmentation would convert the radiologist's segments.
    surfaces = slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName()
    segmentationNode.GetSegmentation().CreateRepresentation(surfaces)
    segmentationNode.GetSegmentation().SetSourceRepresentationName(surfaces)
    with pytest.raises(ccrcc.AnalysisError, match="binary labelmap"):
        logic.analyze(volumeNode, segmentationNode, tumourId, runner=FailingRunner())
