"""The module's batch on slicer-core's MRML with the real warm worker: cases in (a folder of small phantoms written as
files, and the CT/segmentation pairs of the scene), one table row per case out, a failing case reported while the
others complete, Cancel mid-batch (the rest not run, no process left, the finished case kept and reused), a row
loading its case with the habitats and shell, and Export all reports.

The reference for the rows is external to the module: the library's command line, ``ccrcc-staging predict``, run as
its own process on the same files (for scene pairs: on the same arrays written by SimpleITK, not by the module).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
import SimpleITK as sitk
from slicer_harness import REPO_ROOT, MrmlApplication, addCase, moduleNames, phantomCase

# slicer-core's VTK (not in the environments of `make test-slicer-pythons`, which stand in for Slicer's Python only).
vtk = pytest.importorskip("vtk", reason="the batch tests need slicer-core's VTK and MRML")

SHAPE = (20, 40, 40)
SPACING = (0.7, 0.8, 2.5)
SCENE_SPACING = (0.75, 0.5, 2.5)
SEEDS = (1, 2, 3)
#: The numbers compared with the command line's (predictions.csv rounds them to 6 decimals).
TOLERANCE = 1e-6


class FakeTimer:
    """The GUI's poll timer (the test polls by hand)."""

    def start(self):
        pass

    def stop(self):
        pass


def tree(pid):
    """The process and its descendants, captured while they run."""
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def running(processes):
    """Those still running (ended ones, zombies included, do not count: this container's init reaps no orphan)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def writeCase(folder, seed, imageName, maskName):
    image, mask = phantomCase(shape=SHAPE, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for array, name in ((image, imageName), (mask, maskName)):
        written = sitk.GetImageFromArray(array)
        written.SetSpacing(SPACING)
        sitk.WriteImage(written, str(folder / name))


def cliPredict(source, out):
    """``ccrcc-staging predict`` in a process of its own: its predictions.csv rows by case."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run([sys.executable, "-m", "CCRCCStagingLib.cli", "predict", str(source), "--out", str(out),
                                "--report", "none"], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    with (out / "predictions.csv").open(newline="") as handle:
        return {row["case_id"]: row for row in csv.DictReader(handle)}


def assertRowMatches(tableRow, cliRow):
    """A table row holds what predict's row holds for the same case."""
    assert tableRow["Case"] == cliRow["case_id"]
    assert tableRow["Status"] == cliRow["status"]
    assert tableRow["T stage"] == {"low": "T1–T2", "high": "T3–T4", "": ""}[cliRow["t_stage_group"]]
    for column, key in (("P(T3–T4)", "probability_high"), ("Radscore", "radscore")):
        if cliRow[key] == "":
            assert np.isnan(tableRow[column])
        else:
            assert tableRow[column] == pytest.approx(float(cliRow[key]), abs=TOLERANCE)
    assert tableRow["Risk group"] == cliRow["risk_group"]
    assert tableRow["Warnings"] == cliRow["warnings"]
    assert tableRow["Reason"] == cliRow["error"]


@pytest.fixture(scope="module")
def ccrcc():
    return moduleNames()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """``cases``: three phantoms and a broken case, one folder per case (the library's second naming rule);
    ``images``: the same three phantoms as images/ + masks/ (the first rule)."""
    root = tmp_path_factory.mktemp("batch")
    for seed in SEEDS:
        writeCase(root / "cases" / f"c{seed}", seed, "ct.nrrd", "mask.nrrd")
        writeCase(root / "images", seed, f"c{seed}.nrrd", f"c{seed}-mask.nrrd")
        (root / "images" / "masks").mkdir(exist_ok=True)
        (root / "images" / "images").mkdir(exist_ok=True)
        (root / "images" / f"c{seed}.nrrd").replace(root / "images" / "images" / f"c{seed}.nrrd")
        (root / "images" / f"c{seed}-mask.nrrd").replace(root / "images" / "masks" / f"c{seed}.nrrd")
    (root / "cases" / "broken").mkdir()
    (root / "cases" / "broken" / "image.nrrd").write_bytes(b"NRRD0004\ntype: short\n")  # a truncated header
    (root / "cases" / "broken" / "mask.nrrd").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def reference(folders, tmp_path_factory):
    """The command line's rows for the folder of cases (the external reference)."""
    return cliPredict(folders / "cases", tmp_path_factory.mktemp("cli") / "out")


@pytest.fixture(scope="module")
def mrml(ccrcc):
    application = MrmlApplication()
    import slicer

    logic = ccrcc.CCRCCStagingLogic()
    yield slicer, logic
    logic.shutdown()
    logic.discardBatch()
    logic.discardLastAnalysis()
    application.close()


@pytest.fixture(scope="module")
def folderBatch(mrml, folders):
    """The folder of cases run as a batch (blocking, as from the Python console), with what it reported."""
    slicer, logic = mrml
    progress, caseDone = [], []
    batch = logic.prepareBatch(folders / "cases")
    start = time.monotonic()
    logic.runBatch(batch, onProgress=lambda *step: progress.append(step), onCaseDone=caseDone.append)
    return batch, progress, caseDone, time.monotonic() - start


def test_aFolderBatchGivesOneRowPerCaseAsPredictDoes(ccrcc, mrml, folderBatch, reference):
    """Rows against the command line's ``predict`` on the same files (external reference), including the failing
    case, which is reported with predict's one-sentence reason while the other cases complete."""
    slicer, logic = mrml
    batch, progress, caseDone, seconds = folderBatch
    rows = ccrcc.tableRows(batch.tableNode)
    assert [row["Case"] for row in rows] == ["broken", "c1", "c2", "c3"] == sorted(reference)
    for row in rows:
        assertRowMatches(row, reference[row["Case"]])
    assert [row["Status"] for row in rows] == ["failed", "done", "done", "done"]
    assert rows[0]["Reason"].startswith("The image") and "\n" not in rows[0]["Reason"]
    assert batch.tableNode.GetName() == ccrcc.BATCH_TABLE_NAME and batch.tableNode.GetLocked()
    # Progress per case and overall, the overall never going back; every case reported done.
    overall = [step[0] for step in progress]
    assert overall == sorted(overall) and overall[-1] == pytest.approx(1.0)
    assert {step[1] for step in progress} >= {0.0, 1.0}
    assert any(message.startswith("Case 2 of 4 (c1): ") for _overall, _case, message in progress)
    assert caseDone == [0, 1, 2, 3]
    # One warm worker for the whole batch; predict's folder layout.
    assert logic.worker.started == 1
    assert all((batch.caseDir(f"c{seed}") / "result.json").is_file() for seed in SEEDS)
    assert seconds < 60


def test_aRowLoadsItsCaseWithTheHabitatsAndTheShell(ccrcc, mrml, folderBatch, folders):
    slicer, logic = mrml
    analysis, (volumeNode, segmentationNode, tumourId) = logic.loadBatchCase("c2")
    assert volumeNode.GetName() == "c2" and volumeNode.GetAttribute(ccrcc.CASE_ATTRIBUTE) == "c2"
    assert slicer.util.arrayFromVolume(volumeNode).shape == SHAPE
    segmentation = segmentationNode.GetSegmentation()
    names = [segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs()]
    assert names[0] == "Tumour" and set(names[1:]) == {"Habitat 1", "Habitat 2", "Peritumoral 3 mm"}
    _image, mask = phantomCase(shape=SHAPE, seed=2)
    tumour = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
    assert tumour.sum() == mask.sum()
    # As Analyze leaves it: the result in the parameter node, the case as the last analysis (Export report).
    assert analysis.result["case_id"] == "c2" and logic.lastOutputDir == analysis.outputDir
    assert (logic.lastOutputDir / "regions.nrrd").is_file()
    assert logic.getParameterNode().GetParameter(ccrcc.RESULT_PARAMETER)
    # Selected again: the same nodes, the generated segments replaced, not added twice.
    nodes = slicer.mrmlScene.GetNumberOfNodes()
    _analysis, again = logic.loadBatchCase("c2")
    assert again[:2] == (volumeNode, segmentationNode) and slicer.mrmlScene.GetNumberOfNodes() == nodes
    assert segmentation.GetNumberOfSegments() == 4
    with pytest.raises(ccrcc.AnalysisError, match="broken has no result"):
        logic.loadBatchCase("broken")


def test_aCaseWhoseFilesSlicerCannotReadIsShownFromItsAnalysis(ccrcc, mrml, folderBatch, tmp_path):
    """A DICOM series folder as CT and an RTSTRUCT as mask (here: paths that are not single readable files): the
    analysis' CT box and the union of the habitats are shown instead."""
    slicer, logic = mrml
    batch = folderBatch[0]
    index = [case["case_id"] for case in batch.cases].index("c3")
    original = batch.cases[index]
    batch.cases[index] = {**original, "image": str(tmp_path / "series"), "mask": str(tmp_path / "rtstruct.dcm")}
    try:
        analysis, (volumeNode, segmentationNode, tumourId) = logic.loadBatchCase("c3")
    finally:
        batch.cases[index] = original
    box = sitk.ReadImage(str(batch.caseDir("c3") / "ct_box.nrrd"))
    assert slicer.util.arrayFromVolume(volumeNode).shape == sitk.GetArrayFromImage(box).shape
    regions = sitk.GetArrayFromImage(sitk.ReadImage(str(batch.caseDir("c3") / "regions.nrrd")))
    habitats = regions[(regions >= 1) & (regions <= analysis.result["habitats_k"])].size
    tumour = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
    assert segmentationNode.GetSegmentation().GetSegment(tumourId).GetName() == "Tumour"
    assert habitats > 0 and tumour.sum() == pytest.approx(habitats, rel=0.05)  # on the CT box's grid


def test_exportAllReportsWritesPredictLayoutAtOnce(ccrcc, mrml, folderBatch, reference, tmp_path):
    _slicer, logic = mrml
    # A cancelled export leaves the folder as it was.
    runner = logic.newRunner()
    runner.cancel()
    (tmp_path / "cancelled").mkdir()
    assert logic.exportBatch(tmp_path / "cancelled", formats=("html",), runner=runner) is None
    assert list((tmp_path / "cancelled").iterdir()) == []

    folder = tmp_path / "export"
    written = logic.exportBatch(folder, formats=("html",))
    assert sorted(path.name for path in written) == ["cases", "index.html", "predictions.csv"]
    assert sorted(path.name for path in folder.iterdir()) == ["cases", "index.html", "predictions.csv"]
    with (folder / "predictions.csv").open(newline="") as handle:
        exported = {row["case_id"]: row for row in csv.DictReader(handle)}
    assert list(exported) == ["broken", "c1", "c2", "c3"]
    for caseId, row in exported.items():
        expected = reference[caseId]
        for key in ("status", "t_stage_group", "risk_group", "warnings", "error", "habitats_k", "tumour_volume_ml"):
            assert row[key] == expected[key], (caseId, key)
        for key in ("probability_high", "radscore"):
            assert row[key] == expected[key] or float(row[key]) == pytest.approx(float(expected[key]), abs=TOLERANCE)
    for seed in SEEDS:
        assert exported[f"c{seed}"]["report"] == f"cases/c{seed}/report.html"
        assert (folder / "cases" / f"c{seed}" / "report.html").is_file()
        assert not (folder / "cases" / f"c{seed}" / ccrcc.KEY_FILE).exists()
    assert exported["broken"]["report"] == "" and not (folder / "cases" / "broken").exists()
    dashboard = (folder / "index.html").read_text(encoding="utf-8")
    assert "cases/c1/report.html" in dashboard and "broken" in dashboard

    with pytest.raises(ccrcc.ReportExistsError, match="already holds"):
        logic.exportBatch(folder, formats=("html",))
    assert logic.exportBatch(folder, formats=("html",), overwrite=True)
    assert sorted(path.name for path in folder.iterdir()) == ["cases", "index.html", "predictions.csv"]


def test_cancelMidBatchLeavesTheRestUnrunAndNoProcess(ccrcc, mrml, folders, reference):
    """Through the module session as the panel runs it (in the background, polled): Cancel during the second case
    stops it and the third; the first case is kept, and running the batch again computes only the other two."""
    slicer, logic = mrml
    session = ccrcc.ModuleSession(logic, FakeTimer())
    batch = logic.prepareBatch(folders / "images")
    progress, ended, captured = [], [], {}

    def onProgress(overall, case, message):
        progress.append((overall, case, message))
        if message.startswith("Case 2 of 3") and case > 0 and "processes" not in captured:
            captured["processes"] = tree(logic.worker.pid)
            session.cancel()

    run = ccrcc.BackgroundBatch(logic, batch, session.start, ended.append, onProgress)
    run.begin()
    deadline = time.monotonic() + 120
    while not ended:
        assert time.monotonic() < deadline
        session.poll()
        time.sleep(0.01)
    assert ended == [None] and batch.cancelled and not session.running
    assert [row["status"] for row in batch.rows] == ["done", ccrcc.STATUS_NOT_RUN, ccrcc.STATUS_NOT_RUN]
    assert [row["Status"] for row in ccrcc.tableRows(batch.tableNode)] == [row["status"] for row in batch.rows]
    assert running(captured["processes"]) == [] and logic.worker.pid is None
    assert not batch.caseDir("c3").exists() and not (batch.caseDir("c2") / ccrcc.KEY_FILE).exists()
    assert (batch.caseDir("c1") / ccrcc.KEY_FILE).is_file()

    # Run again: the finished case comes from the earlier run, the others are computed (values as predict's).
    again = logic.prepareBatch(folders / "images")
    assert again.workDir == batch.workDir and again.tableNode is batch.tableNode
    logic.runBatch(again)
    rows = ccrcc.tableRows(again.tableNode)
    assert [row["Status"] for row in rows] == ["done (earlier run)", "done", "done"]
    for row in rows:
        assertRowMatches({**row, "Status": "done"}, reference[row["Case"]])


def test_theScenesPairsRunAsABatchAndARowShowsItsCase(ccrcc, mrml, tmp_path):
    """Pairs loaded in the scene (each segmentation with its reference CT and one tumour segment), against predict on
    the same arrays written by SimpleITK (external reference); segmentations without a CT or with several unnamed
    segments are left out with the reason; the radiologist's segment is never changed."""
    slicer, logic = mrml
    for className in ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode"):  # the cases shown by earlier tests
        for node in list(slicer.mrmlScene.GetNodesByClass(className)):
            if node.GetAttribute(ccrcc.CASE_ATTRIBUTE):
                slicer.mrmlScene.RemoveNode(node)
    # The RAS grid of a plain LPS file (what the reference writes), with spacings exact in binary: Slicer's matrix
    # arithmetic turns 0.7 mm into 0.7000000000000001 mm in the written file, and the library's resampled grid (ceil of
    # size x spacing) can then differ by a voxel from the reference's, which moves the Radscore in the second decimal.
    origins = {4: (10.0, -20.0, 30.0), 5: (10.0, -20.0, 45.0)}  # RAS; two grids: each segmentation finds its CT
    pairs = []
    for seed, name in ((4, "Doe^Jane"), (5, "Doe^Jane")):
        ijkToRas = vtk.vtkMatrix4x4()
        for axis, (spacing, sign, origin) in enumerate(zip(SCENE_SPACING, (-1, -1, 1), origins[seed])):
            ijkToRas.SetElement(axis, axis, sign * spacing)
            ijkToRas.SetElement(axis, 3, origin)
        image, mask = phantomCase(shape=SHAPE, seed=seed)
        volumeNode, segmentationNode, tumourId = addCase(slicer, image, mask, ijkToRas, segmentName="Mass")
        volumeNode.SetName(name)
        pairs.append((volumeNode, segmentationNode, tumourId, mask))
    # Loaded from a .seg.nrrd, a segmentation knows the grid it was drawn on, not the node: found by that grid.
    pairs[0][1].RemoveNodeReferenceIDs(pairs[0][1].GetReferenceImageGeometryReferenceRole())
    orphan = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Orphan")
    orphan.GetSegmentation().AddEmptySegment("", "Tumour")
    twoSegments = pairs[1][1]
    twoSegments.GetSegmentation().AddEmptySegment("", "Kidney")  # and "Mass": which is the tumour? left out
    found, skipped = ccrcc.scenePairs(slicer.mrmlScene)
    assert [caseId for caseId, *_nodes in found] == ["Doe_Jane"] and len(skipped) == 2
    twoSegments.GetSegmentation().GetSegment(pairs[1][2]).SetName("Tumour")  # named: now it is found
    found, skipped = ccrcc.scenePairs(slicer.mrmlScene)
    assert [caseId for caseId, *_nodes in found] == ["Doe_Jane", "Doe_Jane_2"] and skipped == [
        "Orphan: no CT is set as its reference geometry (Segment Editor: choose the source volume)"]
    before = [slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId, volume).copy()
              for volume, node, segmentId, _mask in pairs]

    batch = logic.prepareBatch(None)
    logic.runBatch(batch)

    reference = tmp_path / "reference"
    for (caseId, *_nodes), seed in zip(found, (4, 5)):
        image, mask = phantomCase(shape=SHAPE, seed=seed)
        for array, sub in ((image, "images"), (mask, "masks")):
            written = sitk.GetImageFromArray(array)
            written.SetSpacing(SCENE_SPACING)
            right, anterior, superior = origins[seed]
            written.SetOrigin((-right, -anterior, superior))
            (reference / sub).mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(written, str(reference / sub / f"{caseId}.nrrd"))
    expected = cliPredict(reference, tmp_path / "cli")
    rows = ccrcc.tableRows(batch.tableNode)
    assert [row["Case"] for row in rows] == ["Doe_Jane", "Doe_Jane_2"]
    for row in rows:
        assertRowMatches(row, expected[row["Case"]])
    assert batch.skipped == skipped

    # A row: the scene's own nodes get the habitats and the shell; no node is added but the feature table's.
    volumes = slicer.mrmlScene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetNumberOfItems()
    _analysis, (volumeNode, segmentationNode, segmentId) = logic.loadBatchCase("Doe_Jane_2")
    assert (volumeNode, segmentationNode, segmentId) == pairs[1][:3]
    assert slicer.mrmlScene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetNumberOfItems() == volumes
    assert len(logic.generatedSegmentIds(segmentationNode)) == 3 and logic.generatedSegmentIds(pairs[0][1]) == []
    for (volume, node, tumourId, _mask), original in zip(pairs, before):
        assert np.array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, tumourId, volume), original)
    assert segmentationNode.GetSegmentation().GetSegment(segmentId).GetName() == "Tumour"
    assert segmentationNode.GetSegmentation().GetSegment(
        segmentationNode.GetSegmentation().GetSegmentIDs()[1]).GetName() == "Kidney"


def test_aBatchNeedsAModelAndAnExistingFolder(ccrcc, mrml, tmp_path):
    slicer, logic = mrml
    with pytest.raises(ccrcc.AnalysisError, match="choose the bundled model or a model folder"):
        logic.prepareBatch(tmp_path, model=ccrcc.MODEL_NONE)
    with pytest.raises(ccrcc.AnalysisError, match="does not exist"):
        logic.prepareBatch(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    batch = logic.prepareBatch(tmp_path / "empty")
    with pytest.raises(ccrcc.AnalysisError, match="No case found"):
        logic.runBatch(batch)


def test_theBatchStepsAreNamedAlikeEverywhere(ccrcc):
    from CCRCCStagingLib import cli
    from CCRCCStagingLib.commands import predict, serve

    names = (ccrcc.STEP_LIST, ccrcc.STEP_CASE, ccrcc.STEP_SUMMARY)
    assert names == predict.STEP_COMMANDS == serve.BATCH_STEPS == cli.BATCH_STEPS
    assert set(names) <= set(serve.SERVED_COMMANDS)
    assert (ccrcc.CASES_LINE, ccrcc.ROW_LINE) == (predict.CASES_LINE, predict.ROW_LINE)
    assert (ccrcc.PREDICTIONS_FILE, ccrcc.DASHBOARD_FILE, ccrcc.KEY_FILE, ccrcc.CASES_DIR) == (
        predict.PREDICTIONS_FILE, predict.DASHBOARD_FILE, predict.KEY_FILE, predict.CASES_DIR)


def test_aCaseWhoseNamesStartWithADashIsNotReadAsAnOption(tmp_path):
    """A case folder named "-rf" (a valid case id) or a segment "-1": the step's command, parsed by the library's own
    parser of the batch steps, gives back the names as they are (found by a hostile-input run: argparse refused it)."""
    from CCRCCStagingHelpers import batch as batchSteps

    from CCRCCStagingLib.commands.predict import build_steps_parser

    batch = batchSteps.Batch(tmp_path / "cases", tmp_path / "work", ["--model", str(tmp_path / "model")], "-title")
    batch.setCases([{"case_id": "-rf", "image": "-rf/image.nrrd", "mask": "-rf/mask.nrrd", "segment": "-1"}], [])
    task = batchSteps.CaseTask(batch, 0, ["ccrcc-staging"], {})
    parsed = build_steps_parser().parse_args(task.command[1:])
    assert (parsed.case_id, parsed.image, parsed.mask, parsed.segment) == ("-rf", "-rf/image.nrrd", "-rf/mask.nrrd",
                                                                           "-1")
    assert parsed.out == str(batch.caseDir("-rf"))
