"""The panel's run flow without the application: Analyze, progress, Cancel and the result shown, with the real Logic
on slicer-core's MRML and the real CLI, and stand-ins for the widgets, the parameter node wrapper and the timer. What
this cannot see (the .ui's widgets' own behaviour, parameterNodeWrapper's GUI connections, dialogs) is left to the
self-test in Slicer."""

from __future__ import annotations

import json
import time

import pytest

from slicer_harness import MrmlApplication, addCase, moduleNames, phantomCase, requireSlicerCore, sceneSnapshot


class FakeWidget:
    """Any widget of the .ui: the properties and calls the panel uses."""

    def __init__(self):
        self.text = self.toolTip = self.currentPath = ""
        self.enabled = self.visible = self.checked = True
        self.value = 0
        self.tableNode = None
        self.items = ["auto", "2", "3", "4"]
        self.currentIndex = 0
        self.node, self.segmentId = None, ""

    def connect(self, signal, slot):
        pass

    def blockSignals(self, blocked):
        return False

    def isHidden(self):
        return not self.visible

    def setCurrentNode(self, node):
        self.node = node

    def setCurrentSegmentID(self, segmentId):
        self.segmentId = segmentId

    def setMRMLTableNode(self, node):
        self.tableNode = node

    # Combo box
    @property
    def count(self):
        return len(self.items)

    def itemText(self, index):
        return self.items[index]

    def removeItem(self, index):
        del self.items[index]

    def addItem(self, text):
        self.items.append(text)

    def findText(self, text):
        return self.items.index(text) if text in self.items else -1


class FakeUi:
    def __init__(self):
        self.widgets = {}

    def __getattr__(self, name):
        return self.__dict__["widgets"].setdefault(name, FakeWidget())


class FakeParameterNode:
    """What parameterNodeWrapper gives the panel: typed attributes over the Logic's parameter node."""

    def __init__(self, logic, **values):
        self.__dict__.update(logic=logic, modelChoice="none", modelPath="", marginMm=3.0, habitats="2",
                             showHabitats=True, reportIncludeIdentifiers=True, **values)

    @property
    def resultJson(self):
        return self.logic.getParameterNode().GetParameter("resultJson")

    @property
    def parameterNode(self):
        return self.logic.getParameterNode()

    @property
    def featureTable(self):
        return self.logic.getParameterNode().GetNodeReference("featureTable")

    def connectGui(self, ui):
        return "tag"

    def disconnectGui(self, tag):
        pass

    def AddObserver(self, event, callback, priority=0.0):
        return 0

    def RemoveObserver(self, tag):
        pass


class FakeTimer:
    active = False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False


@pytest.fixture
def panel(monkeypatch):
    requireSlicerCore()
    names = moduleNames()
    application = MrmlApplication()
    import slicer

    image, mask = phantomCase()
    volumeNode, segmentationNode, tumourId = addCase(slicer, image, mask, None)
    logic = names.CCRCCStagingLogic()
    session = names.ModuleSession(logic, FakeTimer())
    panel = names.CCRCCStagingPanel(FakeUi(), logic, session, names.requirementsPath())
    # VTKObservationMixin is Slicer's; the stand-in parameter node needs no observer.
    monkeypatch.setattr(panel, "addObserver", lambda *args: None, raising=False)
    monkeypatch.setattr(panel, "removeObserver", lambda *args: None, raising=False)
    panel.setParameterNode(FakeParameterNode(logic, inputVolume=volumeNode, segmentationNode=segmentationNode,
                                             segmentId=tumourId))
    yield panel, session, slicer, (volumeNode, segmentationNode, tumourId)
    session.shutdown()
    logic.discardLastAnalysis()
    application.close()


def pollUntil(session, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        session.poll()
        time.sleep(0.01)


def test_analyzeRunsInTheBackgroundAndShowsTheResult(panel):
    panel, session, slicer, (volumeNode, segmentationNode, tumourId) = panel
    ui = panel.ui
    assert ui.analyzeButton.enabled and not ui.exportReportButton.enabled and not ui.cancelButton.enabled

    panel.onAnalyzeButton()
    assert session.running and ui.cancelButton.enabled and not ui.analyzeButton.enabled and ui.progressBar.visible
    pollUntil(session, lambda: not session.running)

    assert ui.statusLabel.text == "Done." and not ui.cancelButton.enabled and not ui.progressBar.visible
    result = json.loads(panel.logic.getParameterNode().GetParameter("resultJson"))
    assert ui.habitatCountValueLabel.text == str(result["habitats_k"]) == "2"
    assert ui.noPredictionLabel.text.startswith("No prediction") and ui.exportReportButton.enabled
    assert len(panel.logic.generatedSegmentIds(segmentationNode)) == 3
    assert panel.logic.worker.started == 1


def test_cancelLeavesTheSceneAsItWas(panel):
    panel, session, slicer, _nodes = panel
    before = sceneSnapshot(slicer.mrmlScene)
    panel.onAnalyzeButton()
    pollUntil(session, lambda: panel.ui.progressBar.value > 0 or panel.ui.statusLabel.text == "reading image and mask")
    panel.onCancelButton()
    assert not session.running and panel.ui.statusLabel.text == "Cancelled; nothing was changed."
    assert panel.ui.analyzeButton.enabled and not panel.ui.cancelButton.enabled
    assert sceneSnapshot(slicer.mrmlScene) == before and panel.logic.worker.pid is None


class FakeIndex:
    """What a click on a qMRMLTableView row hands over: the clicked cell, and its row's first cell (the case)."""

    def __init__(self, row, caseId):
        self._row, self._caseId = row, caseId

    def row(self):
        return self._row

    def sibling(self, row, column):
        return self

    def data(self):
        return self._caseId


def test_theBatchSectionRunsAFolderCancelsAndARowShowsItsCase(panel, tmp_path):
    """Run batch, Cancel during the first case (nothing finished, nothing left running), Run batch again to the end,
    then a click on a row shows that case; the table's rows are checked against predict in test_slicer_batch.py."""
    import SimpleITK as sitk

    panel, session, slicer, (volumeNode, segmentationNode, tumourId) = panel
    ui = panel.ui
    for seed in (1, 2):
        image, mask = phantomCase(shape=(20, 40, 40), seed=seed)
        for array, folder in ((image, "images"), (mask, "masks")):
            (tmp_path / "cases" / folder).mkdir(parents=True, exist_ok=True)
            written = sitk.GetImageFromArray(array)
            written.SetSpacing((0.7, 0.8, 2.5))
            sitk.WriteImage(written, str(tmp_path / "cases" / folder / f"c{seed}.nrrd"))
    ui.batchFolderPathLineEdit.currentPath = str(tmp_path / "cases")
    panel.batchPanel.updateButtons()
    assert not ui.batchRunButton.enabled and "choose the bundled model" in ui.batchRunButton.toolTip  # no model
    panel.parameterNode.modelChoice = "bundled"
    panel.updateGUIFromParameterNode()
    assert ui.batchRunButton.enabled and not ui.batchExportButton.enabled

    panel.batchPanel.onRunButton()
    assert session.running and ui.batchCancelButton.enabled and not ui.batchRunButton.enabled
    assert not ui.analyzeButton.enabled and ui.batchProgressBar.visible
    pollUntil(session, lambda: ui.batchCaseProgressBar.value > 0)
    assert ui.batchStatusLabel.text.startswith("Case 1 of 2 (c1): ")
    panel.batchPanel.onCancelButton()
    assert not session.running and not ui.batchCancelButton.enabled and panel.logic.worker.pid is None
    batch = panel.logic.batch
    assert [row["status"] for row in batch.rows] == ["not run (cancelled)"] * 2
    assert ui.batchStatusLabel.text.startswith("Cancelled: 0 of 2 cases done")
    assert not ui.batchExportButton.enabled

    panel.batchPanel.onRunButton()
    pollUntil(session, lambda: not panel.batchPanel._running)
    batch = panel.logic.batch
    assert [row["status"] for row in batch.rows] == ["done", "done"]
    assert ui.batchStatusLabel.text == "2 of 2 cases done, 0 failed." and ui.batchExportButton.enabled
    assert ui.batchTableView.tableNode is batch.tableNode and ui.analyzeButton.enabled

    panel.batchPanel.onRowClicked(FakeIndex(1, "c2"))
    assert ui.batchStatusLabel.text == "Showing c2."
    parameterNode = panel.parameterNode
    assert parameterNode.inputVolume.GetName() == "c2" and parameterNode.segmentationNode is not segmentationNode
    assert json.loads(parameterNode.resultJson)["case_id"] == "c2" and ui.exportReportButton.enabled
    assert len(panel.logic.generatedSegmentIds(parameterNode.segmentationNode)) == 3
    assert panel.logic.generatedSegmentIds(segmentationNode) == []  # the case loaded first is left alone
