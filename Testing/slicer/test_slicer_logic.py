"""The CCRCCStaging module's Logic on real MRML (slicer-core) with the real CLI, on small generated cases.

Each analysis runs ``python -m CCRCCStagingLib.cli analyze`` in a child process, as in Slicer (there with
PythonSlicer, in the warm worker and in the background; here with this Python and a blocking one-process runner —
the worker and the background runs are tested in test_slicer_runs.py). The tests of what the Logic
does with a model's output and of the report export swap the runner for fakes that write what the CLI would
(from one real no-model run), so they do not depend on the bundled model or the report renderer; the real ones
are tested too, and skip with the reason while they are absent.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.core.privacy import PLACEHOLDER
from slicer_harness import (
    MrmlApplication,
    addCase,
    ijkToRasMatrix,
    moduleNames,
    phantomCase,
    requireSlicerCore,
    sceneSnapshot,
)

# An oblique, anisotropic CT grid: the geometry that breaks naive image/mask handling.
SPACING, ORIGIN, ROTATION = (0.7, 0.8, 2.5), (10.0, -20.0, 5.0), (10.0, 5.0, 20.0)


@pytest.fixture(scope="module")
def ccrcc():
    requireSlicerCore()
    return moduleNames()


@pytest.fixture
def slicer(ccrcc):
    application = MrmlApplication()
    import slicer

    yield slicer
    application.close()


@pytest.fixture
def logic(ccrcc, slicer):
    """A Logic whose kept output folder is deleted after the test."""
    logic = ccrcc.CCRCCStagingLogic()
    yield logic
    logic.discardLastAnalysis()
    logic.shutdown()


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


def test_analysisRoundTripsTheObliqueAnisotropicGeometry(ccrcc, slicer, case, logic, tmp_path):
    import vtk

    volumeNode, segmentationNode, tumourId = case
    tumourBefore = segmentArrays(slicer, segmentationNode, tumourId, volumeNode)
    runner = recordingRunner(ccrcc, tmp_path)
    progress = []

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, model=ccrcc.MODEL_NONE, runner=runner,
                             onProgress=lambda *step: progress.append(step))

    # What the CLI was given: the CT as it is, and the segment on exactly the CT's grid.
    image, mask = sitk.ReadImage(tmp_path / "image.nrrd"), sitk.ReadImage(tmp_path / "mask.nrrd")
    spacing, origin, direction = expectedLpsGeometry(volumeNode)
    for written in (image, mask):
        np.testing.assert_allclose(written.GetSpacing(), spacing, atol=1e-6)
        np.testing.assert_allclose(written.GetOrigin(), origin, atol=1e-6)
        np.testing.assert_allclose(written.GetDirection(), direction, atol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(image), slicer.util.arrayFromVolume(volumeNode))
    assert np.array_equal(sitk.GetArrayFromImage(mask) > 0, tumourBefore[0] > 0)
    # Without a model the region settings are passed, the panel's defaults.
    assert "--no-model" in runner.args and "--model" not in runner.args
    assert runner.args[runner.args.index("--margin-mm") + 1] == "3"
    assert runner.args[runner.args.index("--habitats") + 1] == "auto"

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
    assert "t_stage_group" not in result and ccrcc.resultSummary(result)["noPrediction"].startswith("No prediction")
    assert parameterNode.GetNodeReference(ccrcc.FEATURE_TABLE_PARAMETER) is table
    fractions = [fraction for fraction, _message in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_rerunReplacesOnlyTheGeneratedSegments(ccrcc, slicer, case, logic):
    volumeNode, segmentationNode, tumourId = case
    segmentation = segmentationNode.GetSegmentation()
    # Another segment of the radiologist's, named like a generated one: it must survive every run.
    kidneyId = segmentation.AddEmptySegment("", "Habitat 1")
    kidney = np.zeros(slicer.util.arrayFromVolume(volumeNode).shape, np.uint8)
    kidney[1:4, 2:8, 3:9] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(kidney, segmentationNode, kidneyId, volumeNode)
    userSegments = {segmentId: segmentArrays(slicer, segmentationNode, segmentId, volumeNode)
                    for segmentId in (tumourId, kidneyId)}
    noModel = ccrcc.MODEL_NONE

    first = logic.analyze(volumeNode, segmentationNode, tumourId, noModel, habitats=3, runner=ccrcc.CliRunner())
    firstContents = {region: slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
                     for region, segmentId in first.segmentIds.items()}
    second = logic.analyze(volumeNode, segmentationNode, tumourId, noModel, habitats=3, runner=ccrcc.CliRunner())
    names = [segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs()]
    assert sorted(names) == sorted(["Tumour", "Habitat 1", "Habitat 1", "Habitat 2", "Habitat 3", "Peritumoral 3 mm"])
    assert len(ccrcc.CCRCCStagingLogic.generatedSegmentIds(segmentationNode)) == 4
    for region, segmentId in second.segmentIds.items():
        assert np.array_equal(
            slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode), firstContents[region])
    assert second.featureTable is first.featureTable

    third = logic.analyze(volumeNode, segmentationNode, tumourId, noModel, marginMm=2.5, habitats="2",
                          runner=ccrcc.CliRunner())
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
def test_theSampleCaseAsSlicerLoadsIt(ccrcc, slicer, logic):
    """What CCRCCStagingTest does in Slicer, as far as it goes without the application."""
    sampleDir = ccrcc.libraryRoot() / "Resources" / "Sample"
    volumeNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CCRCC sample CT")
    segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CCRCC sample tumour")
    for node, storageNode, (fileName, _fileType, _nodeName) in zip(
            (volumeNode, segmentationNode),
            (slicer.vtkMRMLVolumeArchetypeStorageNode(), slicer.vtkMRMLSegmentationStorageNode()),
            ccrcc.SAMPLE_FILES):
        storageNode.SetFileName(str(sampleDir / fileName))
        assert storageNode.ReadData(node), fileName
    tumourId = segmentationNode.GetSegmentation().GetNthSegmentID(0)
    tumourBefore = segmentArrays(slicer, segmentationNode, tumourId, volumeNode)

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, ccrcc.MODEL_NONE, runner=ccrcc.CliRunner())

    k = analysis.result["habitats_k"]
    assert sorted(segmentsByName(segmentationNode)) == sorted(
        [segmentationNode.GetSegmentation().GetSegment(tumourId).GetName(), "Peritumoral 3 mm",
         *(f"Habitat {habitat}" for habitat in range(1, k + 1))])
    assertSameSegment(tumourBefore, segmentArrays(slicer, segmentationNode, tumourId, volumeNode))
    assert analysis.result["case_id"] == "CCRCC_sample_CT"


def test_segmentationUnderAnotherTransformStaysAligned(ccrcc, slicer, case, logic, tmp_path):
    import vtk

    volumeNode, segmentationNode, tumourId = case
    transformNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift = vtk.vtkMatrix4x4()
    for axis, millimetres in enumerate((3.3, -1.7, 2.2)):
        shift.SetElement(axis, 3, millimetres)
    transformNode.SetMatrixTransformToParent(shift)
    segmentationNode.SetAndObserveTransformNodeID(transformNode.GetID())
    runner = recordingRunner(ccrcc, tmp_path)

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, ccrcc.MODEL_NONE, runner=runner)

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


def test_cancelLeavesTheSceneAsItWas(ccrcc, slicer, case, logic):
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

    assert logic.analyze(volumeNode, segmentationNode, tumourId, ccrcc.MODEL_NONE, runner=runner) is None
    assert runner._process.poll() is not None  # the child is gone
    assert sceneSnapshot(slicer.mrmlScene) == before
    assert logic.lastOutputDir is None


def test_aUserMistakeRaisesTheCliSentenceAndChangesNothing(ccrcc, slicer, case, logic):
    volumeNode, segmentationNode, _tumourId = case
    emptyId = segmentationNode.GetSegmentation().AddEmptySegment("", "Empty")
    before = sceneSnapshot(slicer.mrmlScene)

    with pytest.raises(ccrcc.AnalysisError) as raised:
        logic.analyze(volumeNode, segmentationNode, emptyId, ccrcc.MODEL_NONE, runner=ccrcc.CliRunner())

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


#
# Models: which options reach the CLI, and what the Logic does with a model's output
#


class CapturingRunner:
    """Records the command and stops as a cancelled run would: nothing is run, nothing changes."""

    def __init__(self):
        self.args = None

    def run(self, args, env, onLine):
        self.args = list(args)
        return None


class NeverRunner:
    def run(self, args, env, onLine):
        raise AssertionError("the CLI must not be started")


REGION_OPTIONS = {"--margin-mm", "--habitats"}


def fakeBundledModel(ccrcc, monkeypatch, folder, withManifest=True):
    """Points the Logic's bundled model at ``folder`` (with or without its manifest)."""
    folder.mkdir(exist_ok=True)
    if withManifest:
        (folder / "manifest.json").write_text("{}")
    monkeypatch.setattr(ccrcc.logicModule, "bundledModelDir", lambda: folder)


def test_withAModelNoRegionOptionsArePassed(ccrcc, slicer, case, logic, tmp_path, monkeypatch):
    volumeNode, segmentationNode, tumourId = case
    before = sceneSnapshot(slicer.mrmlScene)
    modelDir = tmp_path / "my model"
    modelDir.mkdir()

    runner = CapturingRunner()
    assert logic.analyze(volumeNode, segmentationNode, tumourId, model=str(modelDir), runner=runner) is None
    assert runner.args[runner.args.index("--model") + 1] == str(modelDir.resolve())
    assert not REGION_OPTIONS & set(runner.args) and "--no-model" not in runner.args

    # The bundled model: the CLI's default, so no model option at all.
    fakeBundledModel(ccrcc, monkeypatch, tmp_path / "bundled")
    runner = CapturingRunner()
    assert logic.analyze(volumeNode, segmentationNode, tumourId, runner=runner) is None
    outDir = runner.args[runner.args.index("--out") + 1]
    assert runner.args[runner.args.index("analyze") + 3:] == ["--out", outDir, "--label", "1", "--report", "none"]

    # Settings that belong to the model are refused before anything runs, as the CLI would refuse them.
    for regionSettings in ({"marginMm": 3.0}, {"habitats": "auto"}):
        with pytest.raises(ccrcc.AnalysisError, match="set by the model"):
            logic.analyze(volumeNode, segmentationNode, tumourId, runner=NeverRunner(), **regionSettings)
    assert sceneSnapshot(slicer.mrmlScene) == before
    assert logic.lastOutputDir is None


def test_aMissingModelIsReportedBeforeRunning(ccrcc, slicer, case, logic, tmp_path, monkeypatch):
    volumeNode, segmentationNode, tumourId = case
    fakeBundledModel(ccrcc, monkeypatch, tmp_path / "bundled", withManifest=False)
    with pytest.raises(ccrcc.AnalysisError, match="bundled model is missing"):
        logic.analyze(volumeNode, segmentationNode, tumourId, runner=NeverRunner())
    with pytest.raises(ccrcc.AnalysisError, match="bundled model is missing"):  # as the panel says it
        logic.modelInfo(ccrcc.MODEL_BUNDLED)
    with pytest.raises(ccrcc.AnalysisError, match="does not exist"):
        logic.analyze(volumeNode, segmentationNode, tumourId, model=str(tmp_path / "nowhere"), runner=NeverRunner())
    with pytest.raises(ccrcc.AnalysisError, match="Choose the model folder"):
        logic.modelDirectory(ccrcc.MODEL_FOLDER, "")
    assert logic.modelDirectory(ccrcc.MODEL_NONE) is None and logic.modelInfo(ccrcc.MODEL_NONE) is None
    assert logic.modelDirectory(ccrcc.MODEL_FOLDER, str(tmp_path)) == tmp_path
    with pytest.raises(ccrcc.AnalysisError, match="holds no model.json"):
        logic.modelInfo(ccrcc.MODEL_FOLDER, str(tmp_path))
    # What the panel shows of a model: the settings it was trained with, which the analysis will use.
    (tmp_path / "model.json").write_text(json.dumps({
        "id": "mine", "extraction_settings": {"margin_mm": 4.0, "habitats": {"k": 3}}, "card": {}}))
    info = logic.modelInfo(ccrcc.MODEL_FOLDER, str(tmp_path))
    assert (info.id, info.marginMm, info.habitats, info.demonstration) == ("mine", 4.0, "3", False)


def test_withoutAModelTheRegionOptionsArePassed(ccrcc, slicer, case, logic):
    volumeNode, segmentationNode, tumourId = case
    for model in (ccrcc.MODEL_NONE, None):
        runner = CapturingRunner()
        logic.analyze(volumeNode, segmentationNode, tumourId, model, marginMm=2.5, habitats=3, runner=runner)
        assert "--no-model" in runner.args and "--model" not in runner.args
        assert runner.args[runner.args.index("--margin-mm") + 1] == "2.5"
        assert runner.args[runner.args.index("--habitats") + 1] == "3"


@pytest.fixture(scope="module")
def cliOutputs(ccrcc, tmp_path_factory):
    """The output folder of one real ``analyze --no-model`` run on a phantom case (what the fakes copy)."""
    folder = tmp_path_factory.mktemp("cli-outputs")
    image, mask = phantomCase()
    for array, name in ((image, "Fake_Patient_CT.nrrd"), (mask, "mask.nrrd")):
        written = sitk.GetImageFromArray(array)
        written.SetSpacing(SPACING)
        sitk.WriteImage(written, str(folder / name))
    completed = ccrcc.CliRunner().run(
        [*ccrcc.CCRCCStagingLogic().cliCommand(), "analyze", str(folder / "Fake_Patient_CT.nrrd"),
         str(folder / "mask.nrrd"), "--out", str(folder / "out"), "--label", "1", "--no-model", "--habitats", "2",
         "--report", "none"],
        ccrcc.CCRCCStagingLogic().cliEnvironment(), lambda line: None)
    assert completed == 0
    return folder / "out"


MODEL_IDENTITY = {"id": "test-model", "sha256": "ab" * 32, "training_data": "synthetic", "intended_use": "tests",
                  "demonstration": True}
PREDICTION = {"t_stage_group": "high", "probability_high": 0.81, "threshold": 0.5, "radscore": 0.42,
              "radscore_cutoff": 0.1, "risk_group": "high", "model": MODEL_IDENTITY,
              "model_features": [], "radscore_training": [0.1, 0.2], "model_card": "# Test model"}


class FakeAnalyzeRunner:
    """Writes what ``analyze`` with a model would: the real outputs of ``cliOutputs`` with ``extra`` merged
    into result.json. Exit code ``exitCode`` (with an error line when it is 2)."""

    def __init__(self, outputs, extra=None, exitCode=0):
        self.outputs, self.extra, self.exitCode = outputs, extra or {}, exitCode
        self.args = None

    def run(self, args, env, onLine):
        self.args = list(args)
        if self.exitCode:
            onLine("error: The fake analysis failed.")
            return self.exitCode
        outDir = Path(args[args.index("--out") + 1])
        shutil.copytree(self.outputs, outDir)
        result = json.loads((outDir / "result.json").read_text())
        (outDir / "result.json").write_text(json.dumps({**result, **self.extra}))
        onLine("progress: 1.0 done")
        return 0


def test_thePredictionLandsInTheResultAndTheParameterNode(ccrcc, slicer, case, logic, cliOutputs, tmp_path):
    volumeNode, segmentationNode, tumourId = case

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, model=str(tmp_path),
                             runner=FakeAnalyzeRunner(cliOutputs, PREDICTION))

    stored = json.loads(logic.getParameterNode().GetParameter(ccrcc.RESULT_PARAMETER))
    assert stored == analysis.result
    for key, value in PREDICTION.items():
        assert stored[key] == value, key
    summary = ccrcc.resultSummary(stored)
    assert summary["tStage"] == "T3–T4 (P(T3–T4) = 0.81, threshold 0.50)"
    assert summary["radscore"] == "0.420 (cutoff 0.100): high-risk group"
    assert summary["notice"] == ccrcc.DEMONSTRATION_MODEL_NOTICE
    assert summary["model"].startswith("test-model") and summary["noPrediction"] is None
    # The shell's segment is named after the margin the result was computed with (the model's).
    names = {segmentationNode.GetSegmentation().GetSegment(segmentId).GetName()
             for segmentId in analysis.segmentIds.values()}
    assert names == {"Habitat 1", "Habitat 2", f"Peritumoral {stored['settings']['margin_mm']:g} mm"}


def test_aWithheldPredictionIsShownWithItsReason(ccrcc, slicer, case, logic, cliOutputs, tmp_path):
    volumeNode, segmentationNode, tumourId = case
    withheld = {"model": MODEL_IDENTITY, "prediction_withheld": "the model needs features this case could not give"}

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, model=str(tmp_path),
                             runner=FakeAnalyzeRunner(cliOutputs, withheld))

    summary = ccrcc.resultSummary(json.loads(logic.getParameterNode().GetParameter(ccrcc.RESULT_PARAMETER)))
    assert summary["noPrediction"] == "Prediction withheld: the model needs features this case could not give"
    assert summary["tStage"] is None and summary["radscore"] is None
    assert summary["notice"] == ccrcc.DEMONSTRATION_MODEL_NOTICE  # the model is still the demonstration one
    assert analysis.segmentIds  # the regions are there all the same


def test_theLastAnalysisOutputIsKeptUntilTheNextOne(ccrcc, slicer, case, logic, cliOutputs):
    import vtk

    volumeNode, segmentationNode, tumourId = case
    noModel = ccrcc.MODEL_NONE
    # The panel updates itself when the result lands in the parameter node: the output must be kept by then.
    parameterNode = logic.getParameterNode()
    keptWhenStored = []
    tag = parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda *unused: keptWhenStored.append(
        logic.lastOutputDir))

    first = logic.analyze(volumeNode, segmentationNode, tumourId, noModel, runner=FakeAnalyzeRunner(cliOutputs))
    parameterNode.RemoveObserver(tag)
    assert keptWhenStored and set(keptWhenStored) == {first.outputDir}
    assert logic.lastOutputDir == first.outputDir
    kept = sorted(path.name for path in first.outputDir.iterdir() if path.name != ".ccrcc-staging.lock")
    assert kept == sorted(ccrcc.reportFiles.ANALYSIS_FILES)
    assert not (first.outputDir.parent / "inputs").exists()  # the copies of the CT and mask are gone

    second = logic.analyze(volumeNode, segmentationNode, tumourId, noModel, runner=FakeAnalyzeRunner(cliOutputs))
    assert not first.outputDir.parent.exists() and logic.lastOutputDir == second.outputDir

    # A failed or cancelled analysis keeps the last successful one's folder (its result is still shown).
    with pytest.raises(ccrcc.AnalysisError, match="fake analysis failed"):
        logic.analyze(volumeNode, segmentationNode, tumourId, noModel, runner=FakeAnalyzeRunner(cliOutputs, exitCode=2))
    assert logic.analyze(volumeNode, segmentationNode, tumourId, noModel, runner=CapturingRunner()) is None
    assert logic.lastOutputDir == second.outputDir and second.outputDir.is_dir()

    logic.discardLastAnalysis()  # on scene close
    assert logic.lastOutputDir is None and not second.outputDir.parent.exists()


#
# Export report
#


class FakeReportRunner:
    """Writes what ``ccrcc-staging report RESULT_DIR --format …`` would, naming the case it read; records the
    command. Or fails (exit code 2 and the error line), or is cancelled."""

    def __init__(self, outcome="ok"):
        self.outcome = outcome
        self.args = None

    def run(self, args, env, onLine):
        self.args = list(args)
        resultDir = Path(args[args.index("report") + 1])
        if self.outcome == "cancel":
            (resultDir / "report.html").write_text("half a report")
            return None
        if self.outcome == "fail":
            onLine("error: The fake report could not be drawn.")
            return 2
        result = json.loads((resultDir / "result.json").read_text())
        caseName = "[case]" if "--no-identifiers" in args else result["case_id"]
        for fmt in args[args.index("--format") + 1].split(","):
            (resultDir / f"report.{fmt}").write_text(f"{fmt} report of {caseName}")
        return 0


def folderState(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


@pytest.fixture
def analysed(ccrcc, slicer, case, logic, cliOutputs):
    volumeNode, segmentationNode, tumourId = case
    volumeNode.SetName("Doe^Jane CT")
    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, ccrcc.MODEL_NONE,
                             runner=FakeAnalyzeRunner(cliOutputs, {"case_id": "Doe_Jane_CT"}))
    return analysis


def parameterNodeState(logic):
    parameterNode = logic.getParameterNode()
    parameters = {name: parameterNode.GetParameter(name) for name in parameterNode.GetParameterNames()}
    return parameterNode.GetMTime(), parameters


def test_exportReportWritesTheReportAndLeavesTheSceneAlone(ccrcc, slicer, logic, analysed, tmp_path):
    folder = tmp_path / "reports" / "case 1"  # created when missing
    sceneBefore, parametersBefore = sceneSnapshot(slicer.mrmlScene), parameterNodeState(logic)
    tableModified = analysed.featureTable.GetMTime()
    runner = FakeReportRunner()
    progress = []

    written = logic.exportReport(folder, runner=runner, onProgress=lambda *step: progress.append(step))

    expected = {"report.html", "report.pdf", *ccrcc.reportFiles.ANALYSIS_FILES}
    assert {path.name for path in written} == expected == set(folderState(folder))
    assert (folder / "report.html").read_text() == "html report of Doe_Jane_CT"
    assert json.loads((folder / "result.json").read_text()) == analysed.result
    for name in ("features.csv", "regions.nrrd", "ct_box.nrrd"):
        assert (folder / name).read_bytes() == (analysed.outputDir / name).read_bytes()
    # The report step ran on a staging folder inside the chosen one, which is gone again.
    assert runner.args[runner.args.index("report") + 1].startswith(str(folder / ccrcc.reportFiles.STAGING_PREFIX))
    assert runner.args[runner.args.index("--format") + 1] == "html,pdf" and "--no-identifiers" not in runner.args
    assert runner.args[:3] == logic.cliCommand()
    # Nothing in the scene changed: no node, segment, parameter or table.
    assert sceneSnapshot(slicer.mrmlScene) == sceneBefore
    assert parameterNodeState(logic) == parametersBefore
    assert analysed.featureTable.GetMTime() == tableModified
    assert logic.lastOutputDir == analysed.outputDir  # and the analysis stays available


def test_exportReportWithoutIdentifiersLeavesTheCaseNameOut(ccrcc, logic, analysed, tmp_path):
    runner = FakeReportRunner()
    logic.exportReport(tmp_path, formats=["html"], includeIdentifiers=False, runner=runner)

    assert "--no-identifiers" in runner.args and runner.args[runner.args.index("--format") + 1] == "html"
    assert set(folderState(tmp_path)) == {"report.html", *ccrcc.reportFiles.ANALYSIS_FILES}
    exported = json.loads((tmp_path / "result.json").read_text())
    assert exported["case_id"] == PLACEHOLDER
    for name in ("result.json", "features.csv", "report.html"):
        assert "Doe_Jane" not in (tmp_path / name).read_text(), name
    with open(tmp_path / "features.csv", newline="") as file:
        header, values = list(csv.reader(file))
    with open(analysed.outputDir / "features.csv", newline="") as file:
        originalHeader, originalValues = list(csv.reader(file))
    assert header == originalHeader
    assert [value for column, value in zip(header, values) if column != "case_id"] == \
        [value for column, value in zip(originalHeader, originalValues) if column != "case_id"]
    assert exported["regions"] == analysed.result["regions"]


def test_exportReportRefusesToReplaceAnotherCasesReport(ccrcc, logic, analysed, tmp_path):
    other = {**analysed.result, "case_id": "Other_Patient"}
    (tmp_path / "result.json").write_text(json.dumps(other))
    (tmp_path / "report.html").write_text("the other patient's report")
    (tmp_path / "report.pdf").write_text("the other patient's PDF")
    before = folderState(tmp_path)

    conflict = logic.reportConflict(tmp_path)
    assert "Other_Patient" in conflict and "report.html" in conflict
    with pytest.raises(ccrcc.ReportExistsError, match="Other_Patient"):
        logic.exportReport(tmp_path, runner=NeverRunner())
    assert folderState(tmp_path) == before

    # Report files without a result are someone else's too.
    (tmp_path / "result.json").unlink()
    assert "another analysis" in logic.reportConflict(tmp_path)
    with pytest.raises(ccrcc.ReportExistsError):
        logic.exportReport(tmp_path, runner=NeverRunner())

    # Once the user agreed: replaced, and the other case's PDF does not stay beside an HTML-only export.
    logic.exportReport(tmp_path, formats=("html",), overwrite=True, runner=FakeReportRunner())
    assert set(folderState(tmp_path)) == {"report.html", *ccrcc.reportFiles.ANALYSIS_FILES}
    assert (tmp_path / "report.html").read_text() == "html report of Doe_Jane_CT"


def test_reExportingTheSameCaseReplacesItsReport(ccrcc, logic, analysed, tmp_path):
    (tmp_path / "notes.txt").write_text("the user's own file")
    logic.exportReport(tmp_path, runner=FakeReportRunner())
    assert logic.reportConflict(tmp_path) is None
    logic.exportReport(tmp_path, formats=("pdf",), runner=FakeReportRunner())
    assert set(folderState(tmp_path)) == {"notes.txt", "report.pdf", *ccrcc.reportFiles.ANALYSIS_FILES}


def test_aFailedOrCancelledExportLeavesTheFolderAsItWas(ccrcc, logic, analysed, tmp_path):
    (tmp_path / "notes.txt").write_text("the user's own file")
    before = folderState(tmp_path)

    with pytest.raises(ccrcc.AnalysisError) as raised:
        logic.exportReport(tmp_path, runner=FakeReportRunner("fail"))
    assert str(raised.value) == "The fake report could not be drawn."
    assert logic.exportReport(tmp_path, runner=FakeReportRunner("cancel")) is None
    assert folderState(tmp_path) == before and sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    with pytest.raises(ccrcc.AnalysisError, match="Unknown report format"):
        logic.exportReport(tmp_path, formats=("docx",), runner=NeverRunner())


def test_thereIsNoReportWithoutAnAnalysis(ccrcc, slicer, logic, tmp_path):
    with pytest.raises(ccrcc.AnalysisError, match="analyse the case first"):
        logic.exportReport(tmp_path, runner=NeverRunner())
    assert list(tmp_path.iterdir()) == []


def test_exportReportWithTheRealReportCommand(ccrcc, logic, request, tmp_path):
    request.getfixturevalue("analysed")

    written = logic.exportReport(tmp_path, runner=ccrcc.CliRunner())

    assert {"report.html", "report.pdf", *ccrcc.reportFiles.ANALYSIS_FILES} <= {path.name for path in written}
    assert "Doe_Jane_CT" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert not any(path.name.startswith(ccrcc.reportFiles.STAGING_PREFIX) for path in tmp_path.iterdir())


def test_theBundledModelPredicts(ccrcc, slicer, case, logic):
    """The real CLI with the bundled demonstration model."""
    modelDir = ccrcc.bundledModelDir()
    if not (modelDir / "manifest.json").is_file():
        pytest.skip(f"the bundled model is not built yet ({modelDir / 'manifest.json'} is absent; "
                    "make demo-model builds it)")
    volumeNode, segmentationNode, tumourId = case
    modelInfo = ccrcc.readModelInfo(modelDir)

    analysis = logic.analyze(volumeNode, segmentationNode, tumourId, runner=ccrcc.CliRunner())

    result = analysis.result
    assert result["model"]["id"] == modelInfo.id == ccrcc.BUNDLED_MODEL_ID and result["model"]["demonstration"]
    assert "t_stage_group" in result or "prediction_withheld" in result
    assert result["settings"]["margin_mm"] == modelInfo.marginMm
    stored = json.loads(logic.getParameterNode().GetParameter(ccrcc.RESULT_PARAMETER))
    assert stored == result
    summary = ccrcc.resultSummary(stored)
    assert summary["notice"] == ccrcc.DEMONSTRATION_MODEL_NOTICE
    assert (summary["tStage"] is not None) == ("t_stage_group" in result)
    assert f"Peritumoral {modelInfo.marginMm:g} mm" in segmentsByName(segmentationNode)
