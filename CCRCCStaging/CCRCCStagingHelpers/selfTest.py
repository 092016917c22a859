"""The module's self-test in Slicer (Reload and Test, ``ctest``, or ``Slicer --testing --python-code "import
CCRCCStaging; CCRCCStaging.CCRCCStagingTest().runTest()"``): the whole flow on the sample case, through the panel
and the warm worker as a user runs it.

Dependencies in testing mode: Slicer's confirmation dialogs answer "no" there (5.6–5.10) and ``pip_ensure`` skips
installs (5.12), so the test does not go through them. It installs what is unmet beforehand, without asking
(``dependencies.ensureDependencies(prompt=False)``; outside testing mode it asks), unless
``CCRCC_SELFTEST_NO_INSTALL=1``. When something is still missing — no network, PyRadiomics absent — the tests that
run the CLI are skipped and the test says exactly what was missing; the tests that need no CLI still run.
"""

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from . import AnalysisError
from .dependencies import ensureDependencies, readRequirements, unmetRequirements
from .export import ANALYSIS_FILES
from .resources import SAMPLE_NAME, bundledModelDir, requirementsPath, sampleDataSource
from .results import DEMONSTRATION_MODEL_NOTICE, MODEL_MANIFEST, MODEL_NONE, readModelInfo, resultSummary
from .runner import groupAliveById
from .slicerApp import slicer
from .worker import STARTING_MESSAGE

#: Set to 1: the self-test installs nothing (it skips what needs missing packages).
NO_INSTALL_VARIABLE = "CCRCC_SELFTEST_NO_INSTALL"
RUN_TIMEOUT_S = 600


def prepareDependencies():
    """None when the CLI's dependencies are there (installed now if needed), else the sentence saying what is
    missing."""
    if os.environ.get(NO_INSTALL_VARIABLE) == "1":
        unmet = unmetRequirements(readRequirements(requirementsPath()))
        if unmet:
            return "not installed (" + NO_INSTALL_VARIABLE + "=1): " + "; ".join(item.describe() for item in unmet)
    try:
        ensureDependencies(requirementsPath(), prompt=not slicer.app.testingEnabled())
    except AnalysisError as error:
        return str(error)
    except Exception as error:  # pip failed (offline, no wheel …)
        unmet = unmetRequirements(readRequirements(requirementsPath()))
        return (f"pip could not install them ({error}): " + "; ".join(item.describe() for item in unmet))
    return None


def waitUntil(condition, what, timeout=RUN_TIMEOUT_S):
    """Let Slicer run (events processed) until ``condition()``; the runs end through the panel's timer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        slicer.app.processEvents()
        time.sleep(0.01)


class SelfTest:
    """The cases; ``test`` is the ``ScriptedLoadableModuleTest`` (its assertions and ``delayDisplay``)."""

    def __init__(self, test):
        self.test = test

    def runAll(self):
        self.setUp()
        self.test_theSampleLoadsAndThePanelStartsEmpty()
        missing = prepareDependencies()
        if missing:
            message = ("CCRCCStagingTest skipped the analysis and report tests, which run the CCRCCStagingLib "
                       f"command line: {missing}")
            logging.warning(message)
            self.test.delayDisplay(message)
            return
        self.setUp()
        self.test_bundledModelPredictsThroughThePanelAndTheReportIsExported()
        self.setUp()
        self.test_regionsOnlyWithoutAModel()
        self.setUp()
        self.test_errorLeavesSceneUnchangedAndTheWorkerAlive()
        self.setUp()
        self.test_cancelStopsTheWorkersProcessTree()
        self.setUp()
        self.test_closingTheSceneCancelsTheRun()
        self.setUp()
        self.test_theScenesPairRunsAsABatchAndItsRowShowsTheCase()

    def setUp(self):
        slicer.mrmlScene.Clear()

    def _loadSample(self):
        import SampleData

        SampleData.SampleDataLogic.registerCustomSampleDataSource(**sampleDataSource())
        volumeNode, segmentationNode = SampleData.downloadSamples(SAMPLE_NAME)
        segmentId = segmentationNode.GetSegmentation().GetNthSegmentID(0)
        return volumeNode, segmentationNode, segmentId

    def _panel(self, volumeNode=None, segmentationNode=None, segmentId=""):
        """The module's widget, its panel showing these inputs."""
        slicer.util.selectModule("CCRCCStaging")
        widget = slicer.util.getModuleWidget("CCRCCStaging")
        parameterNode = widget.panel._parameterNode
        with slicer.util.NodeModify(parameterNode.parameterNode):
            parameterNode.inputVolume = volumeNode
            parameterNode.segmentationNode = segmentationNode
            parameterNode.segmentId = segmentId
        return widget

    def _segmentNames(self, segmentationNode):
        segmentation = segmentationNode.GetSegmentation()
        return sorted(segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs())

    def _analyzeThroughThePanel(self, widget):
        widget.panel.onAnalyzeButton()
        self.test.assertTrue(widget.session.running, widget.ui.statusLabel.text)
        waitUntil(lambda: not widget.session.running, "the analysis")

    def test_theSampleLoadsAndThePanelStartsEmpty(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        self.test.assertFalse(widget.session.running)
        self.test.assertFalse(widget.ui.exportReportButton.enabled)
        self.test.assertFalse(widget.ui.cancelButton.enabled)
        self.test.assertEqual(widget.ui.clinicalUseLabel.text, "Research and demonstration use only, not for "
                                                                "clinical use.")

    def test_bundledModelPredictsThroughThePanelAndTheReportIsExported(self):
        self.test.delayDisplay("Analysing the CCRCC sample with the bundled model, twice (the second run replaces "
                               "the first one's segments, through the same warm worker)")
        volumeNode, segmentationNode, tumourId = self._loadSample()
        tumourName = segmentationNode.GetSegmentation().GetSegment(tumourId).GetName()
        tumourBefore = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode).copy()
        self.test.assertTrue((bundledModelDir() / MODEL_MANIFEST).is_file(), "the bundled model is not installed")
        modelInfo = readModelInfo(bundledModelDir())
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        logic = widget.logic
        for _run in range(2):
            self._analyzeThroughThePanel(widget)
            self.test.assertEqual(widget.ui.statusLabel.text, "Done.")
            result = json.loads(logic.getParameterNode().GetParameter("resultJson"))
            self.test.assertEqual(self._segmentNames(segmentationNode), sorted(
                [tumourName, f"Peritumoral {modelInfo.marginMm:g} mm",
                 *(f"Habitat {habitat}" for habitat in range(1, result["habitats_k"] + 1))]))
        self.test.assertEqual(logic.worker.started, 1)
        self.test.assertTrue((slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
                              == tumourBefore).all())
        self.test.assertEqual(result["settings"]["margin_mm"], modelInfo.marginMm)
        self.test.assertTrue(result["model"]["demonstration"])
        self._checkThePanelShows(widget, result, modelInfo)
        self._exportTheReport(logic, result)

    def _checkThePanelShows(self, widget, result, modelInfo):
        summary = resultSummary(result)
        if "t_stage_group" in result:
            self.test.assertEqual(widget.ui.tStageValueLabel.text, summary["tStage"])
            self.test.assertEqual(widget.ui.radscoreValueLabel.text, summary["radscore"])
        else:
            self.test.assertTrue(widget.ui.noPredictionLabel.text.startswith("Prediction withheld: "))
        self.test.assertFalse(widget.ui.demonstrationModelLabel.isHidden())
        self.test.assertEqual(widget.ui.demonstrationModelLabel.text, DEMONSTRATION_MODEL_NOTICE)
        self.test.assertEqual(widget.ui.habitatCountValueLabel.text, str(result["habitats_k"]))
        # Margin and habitats are the model's, shown read-only.
        self.test.assertFalse(widget.ui.marginSpinBox.enabled)
        self.test.assertAlmostEqual(widget.ui.marginSpinBox.value, modelInfo.marginMm)
        self.test.assertEqual(widget.ui.habitatsComboBox.currentText, modelInfo.habitats)
        self.test.assertTrue(widget.ui.exportReportButton.enabled)

    def _exportTheReport(self, logic, result):
        self.test.delayDisplay("Exporting the report")
        nodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        folder = Path(tempfile.mkdtemp(prefix="CCRCCStagingTest-"))
        try:
            written = logic.exportReport(folder)
            expected = sorted(["report.html", "report.pdf", *ANALYSIS_FILES])
            self.test.assertEqual(sorted(path.name for path in written if path.name in expected), expected)
            self.test.assertEqual((folder / "report.pdf").read_bytes()[:5], b"%PDF-")
            self.test.assertEqual(json.loads((folder / "result.json").read_text(encoding="utf-8")), result)
            self.test.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodesBefore)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def test_regionsOnlyWithoutAModel(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        tumourName = segmentationNode.GetSegmentation().GetSegment(tumourId).GetName()
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        analysis = widget.logic.analyze(volumeNode, segmentationNode, tumourId, model=MODEL_NONE, marginMm=2.0,
                                        habitats="3")
        self.test.assertEqual(analysis.result["habitats_k"], 3)
        self.test.assertNotIn("model", analysis.result)
        self.test.assertEqual(self._segmentNames(segmentationNode), sorted(
            [tumourName, "Peritumoral 2 mm", "Habitat 1", "Habitat 2", "Habitat 3"]))
        self.test.assertEqual(widget.ui.noPredictionLabel.text, resultSummary(analysis.result)["noPrediction"])
        self.test.assertTrue(widget.ui.demonstrationModelLabel.isHidden())

    def test_errorLeavesSceneUnchangedAndTheWorkerAlive(self):
        volumeNode, segmentationNode, _tumourId = self._loadSample()
        logic = self._panel().logic
        emptyId = segmentationNode.GetSegmentation().AddEmptySegment("", "Empty")
        segmentIdsBefore = list(segmentationNode.GetSegmentation().GetSegmentIDs())
        with self.test.assertRaises(AnalysisError) as raised:
            logic.analyze(volumeNode, segmentationNode, emptyId, model=MODEL_NONE)
        self.test.assertNotIn("\n", str(raised.exception))  # the CLI's one sentence
        self.test.assertEqual(list(segmentationNode.GetSegmentation().GetSegmentIDs()), segmentIdsBefore)
        self.test.assertIsNotNone(logic.worker.pid)  # a failed request does not end the worker

    def test_cancelStopsTheWorkersProcessTree(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        segmentIdsBefore = list(segmentationNode.GetSegmentation().GetSegmentIDs())
        widget.panel.onAnalyzeButton()
        # Cancelled as soon as the analysis itself reports progress (the worker may be starting first).
        waitUntil(lambda: widget.ui.statusLabel.text not in ("Starting…", STARTING_MESSAGE), "progress")
        workerPid = widget.logic.worker.pid
        start = time.monotonic()
        widget.panel.onCancelButton()
        self.test.assertLess(time.monotonic() - start, 1.5)
        self.test.assertFalse(widget.session.running)
        self.test.assertEqual(widget.ui.statusLabel.text, "Cancelled; nothing was changed.")
        self.test.assertFalse(groupAliveById(workerPid))
        self.test.assertEqual(list(segmentationNode.GetSegmentation().GetSegmentIDs()), segmentIdsBefore)
        self._analyzeThroughThePanel(widget)  # a new worker
        self.test.assertNotEqual(widget.logic.worker.pid, workerPid)

    def test_closingTheSceneCancelsTheRun(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        widget.panel.onAnalyzeButton()
        self.test.assertTrue(widget.session.running)
        slicer.mrmlScene.Clear()  # StartCloseEvent: the widget cancels the run
        self.test.assertFalse(widget.session.running)
        self.test.assertIsNone(widget.logic.lastOutputDir)
        self.test.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"), 0)

    def test_theScenesPairRunsAsABatchAndItsRowShowsTheCase(self):
        self.test.delayDisplay("The sample as a batch of the scene's pairs, its row shown, all reports exported")
        volumeNode, segmentationNode, tumourId = self._loadSample()
        tumourBefore = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode).copy()
        widget = self._panel(volumeNode, segmentationNode, tumourId)
        batchPanel = widget.panel.batchPanel
        widget.ui.batchSceneRadioButton.checked = True
        batchPanel.onRunButton()
        self.test.assertTrue(widget.session.running, widget.ui.batchStatusLabel.text)
        waitUntil(lambda: not batchPanel._running, "the batch")
        batch = widget.logic.batch
        self.test.assertEqual([row["status"] for row in batch.rows], ["done"], widget.ui.batchStatusLabel.text)
        self.test.assertEqual(batch.tableNode.GetNumberOfRows(), 1)
        _analysis, nodes = widget.logic.loadBatchCase(batch.rows[0]["case_id"])
        self.test.assertEqual(nodes, (volumeNode, segmentationNode, tumourId))
        self.test.assertEqual(len(widget.logic.generatedSegmentIds(segmentationNode)),
                              batch.rows[0]["habitats_k"] + 1)
        self.test.assertTrue((slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
                              == tumourBefore).all())
        folder = Path(tempfile.mkdtemp(prefix="CCRCCStagingTest-"))
        try:
            written = widget.logic.exportBatch(folder)
            self.test.assertEqual(sorted(path.name for path in written), ["cases", "index.html", "predictions.csv"])
            caseFolder = folder / "cases" / batch.rows[0]["case_id"]
            self.test.assertEqual((caseFolder / "report.pdf").read_bytes()[:5], b"%PDF-")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
