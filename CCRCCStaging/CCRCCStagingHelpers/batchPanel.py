"""The panel's Batch section (Slicer only): choose a folder or the scene's CT/segmentation pairs, run every case in the
background with progress (all cases, this case) and Cancel, the table of cases, a click on a row to show that case,
and Export all reports.

The batch uses the model chosen in "Model and settings"; it runs in the module session's one run slot, so an analysis,
a report and a batch never run at once.
"""

from pathlib import Path

from . import ReportExistsError
from .batch import DASHBOARD_FILE, BackgroundBatch, isFinished
from .results import MODEL_NONE
from .slicerApp import _, qt, slicer

#: QSettings keys: the last batch folder, and where the last batch export went.
BATCH_FOLDER_SETTING = "CCRCCStaging/batchFolder"
BATCH_EXPORT_SETTING = "CCRCCStaging/batchExportFolder"


class BatchPanel:
    """The Batch section of ``ui``; ``panel`` is the module panel (its parameter node holds the model choice)."""

    def __init__(self, ui, logic, session, panel):
        self.ui, self.logic, self.session, self.panel = ui, logic, session, panel
        self._running = None
        ui.batchRunButton.connect("clicked(bool)", self.onRunButton)
        ui.batchCancelButton.connect("clicked(bool)", self.onCancelButton)
        ui.batchExportButton.connect("clicked(bool)", self.onExportButton)
        ui.batchFolderRadioButton.connect("toggled(bool)", self.updateButtons)
        ui.batchFolderPathLineEdit.connect("currentPathChanged(QString)", self.updateButtons)
        ui.batchTableView.connect("clicked(QModelIndex)", self.onRowClicked)
        if qt is not None:
            ui.batchFolderPathLineEdit.currentPath = qt.QSettings().value(BATCH_FOLDER_SETTING, "")
        self._setRunning(False)

    @property
    def fromFolder(self):
        return bool(self.ui.batchFolderRadioButton.checked)

    def updateButtons(self, *unused):
        parameterNode = self.panel.parameterNode
        noModel = parameterNode is None or parameterNode.modelChoice == MODEL_NONE
        ready = (not self.fromFolder or bool(self.ui.batchFolderPathLineEdit.currentPath)) and not noModel
        self.ui.batchFolderLabel.visible = self.ui.batchFolderPathLineEdit.visible = self.fromFolder
        self.ui.batchRunButton.enabled = ready and not self.session.running
        self.ui.batchRunButton.toolTip = (
            _("A batch predicts the T stage: choose the bundled model or a model folder in Model and settings")
            if noModel else _("Analyse every case one after another, one table row per case"))
        batch = self.logic.batch
        self.ui.batchExportButton.enabled = bool(batch and batch.finishedRows()) and not self.session.running

    def _setRunning(self, running):
        self._running = running
        self.ui.batchCancelButton.enabled = running
        for bar in (self.ui.batchProgressBar, self.ui.batchCaseProgressBar):
            bar.visible = running
            bar.value = 0
        self.ui.batchFolderRadioButton.enabled = self.ui.batchSceneRadioButton.enabled = not running
        self.ui.batchFolderPathLineEdit.enabled = not running
        self.updateButtons()

    def onProgress(self, overall, case, message):
        self.ui.batchProgressBar.value = int(round(100 * overall))
        self.ui.batchCaseProgressBar.value = int(round(100 * case))
        self.ui.batchStatusLabel.text = message

    #
    # Run and cancel
    #

    def onRunButton(self):
        parameterNode = self.panel.parameterNode
        with slicer.util.tryWithErrorDisplay(_("The batch could not be started."), waitCursor=False):
            self.logic.ensureDependencies(self.panel.requirementsPath)
            model = self.logic.modelDirectory(parameterNode.modelChoice, parameterNode.modelPath)
            folder = self.ui.batchFolderPathLineEdit.currentPath if self.fromFolder else None
            if folder and qt is not None:
                qt.QSettings().setValue(BATCH_FOLDER_SETTING, folder)
            batch = self.logic.prepareBatch(folder, model=model or MODEL_NONE)
            self.ui.batchTableView.setMRMLTableNode(batch.tableNode)
            run = BackgroundBatch(self.logic, batch, self._startStep, self._batchEnded, self.onProgress)
            self._setRunning(True)
            self.ui.batchStatusLabel.text = _("Looking for cases…")
            try:
                run.begin()
            except BaseException:
                self._setRunning(False)
                raise
            self.panel.updateGUIFromParameterNode()

    def _startStep(self, task, onDone):
        try:
            self.session.start(task, onDone)
        except BaseException:
            task.discard()
            raise

    def _batchEnded(self, error):
        self._setRunning(False)
        self.panel.updateGUIFromParameterNode()
        batch = self.logic.batch
        if error is not None:
            self.ui.batchStatusLabel.text = _("The batch could not run.")
            slicer.util.errorDisplay(str(error), windowTitle=_("CCRCC Staging"))
            return
        rows = batch.rows if batch else []
        done = sum(isFinished(row) for row in rows)
        failed = sum(row["status"] == "failed" for row in rows)
        text = _("{done} of {total} cases done, {failed} failed.").format(done=done, total=len(rows), failed=failed)
        if batch and batch.cancelled:
            text = _("Cancelled: ") + text + " " + _("Run the batch again to finish the rest.")
        if batch and batch.skipped:
            text += " " + _("Left out: {skipped}.").format(skipped="; ".join(batch.skipped[:5]))
        self.ui.batchStatusLabel.text = text

    def onCancelButton(self):
        if self.logic.batch is not None:
            self.ui.batchStatusLabel.text = _("Cancelling…")
            self.logic.batch.cancel()
        self.session.cancel()

    #
    # A row: show that case
    #

    def onRowClicked(self, index):
        batch = self.logic.batch
        caseId = index.sibling(index.row(), 0).data() if batch else None
        if not caseId or self.session.running or not any(row["case_id"] == caseId for row in batch.rows):
            return
        with slicer.util.tryWithErrorDisplay(_("The case could not be shown."), waitCursor=False):
            _analysis, (volumeNode, segmentationNode, segmentId) = self.logic.loadBatchCase(caseId)
            self.panel.showCase(volumeNode, segmentationNode, segmentId)
            self.panel.updateGUIFromParameterNode()
            self.ui.batchStatusLabel.text = _("Showing {case}.").format(case=caseId)

    #
    # Export all reports
    #

    def onExportButton(self):
        settings = qt.QSettings()
        folder = qt.QFileDialog.getExistingDirectory(
            slicer.util.mainWindow(), _("Folder for the batch's reports"), settings.value(BATCH_EXPORT_SETTING, ""))
        if not folder:
            return
        settings.setValue(BATCH_EXPORT_SETTING, folder)
        with slicer.util.tryWithErrorDisplay(_("The reports could not be exported."), waitCursor=False):
            # "Case name in report" applies as to one report (predict's --no-identifiers when unticked).
            options = {"includeIdentifiers": self.panel.parameterNode.reportIncludeIdentifiers,
                       "onProgress": self.panel.onProgress}
            try:
                task = self.logic.prepareBatchExport(folder, **options)
            except ReportExistsError as conflict:
                if not slicer.util.confirmOkCancelDisplay(str(conflict) + "\n\n" + _("Replace them?"),
                                                          windowTitle=_("CCRCC Staging")):
                    self.ui.batchStatusLabel.text = _("The reports were not exported.")
                    return
                task = self.logic.prepareBatchExport(folder, overwrite=True, **options)
            self.panel.startTask(task, lambda written: self._exportDone(written, folder))

    def _exportDone(self, written, folder):
        self.updateButtons()
        if written is None:
            self.ui.batchStatusLabel.text = _("Cancelled; the folder was not changed.")
            return
        self.ui.batchStatusLabel.text = _("Reports written to {folder}.").format(folder=folder)
        dashboard = Path(folder) / DASHBOARD_FILE
        if dashboard.is_file() and slicer.util.confirmYesNoDisplay(
                _("The reports and the dashboard were written to {folder}. Open the dashboard now?").format(
                    folder=folder), windowTitle=_("CCRCC Staging")):
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(dashboard)))
