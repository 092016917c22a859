"""The module panel (Slicer only): the parameter node, the widgets kept in step with it, and the buttons, which start
the Logic's tasks in the background (``background.ModuleSession``) and show their progress and outcome.

``CCRCCStagingParameterNode`` is defined outside the application too (with stand-ins), so that its declarations can
be checked against the ``.ui`` without Slicer.
"""

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from . import AnalysisError
from . import export as reportFiles
from .batchPanel import BatchPanel
from .logic import DEFAULT_HABITATS, DEFAULT_MARGIN_MM
from .results import DEMONSTRATION_MODEL_NOTICE, MODEL_BUNDLED, MODEL_CHOICES, MODEL_FOLDER, MODEL_NONE, resultSummary
from .slicerApp import (
    Choice,
    VTKObservationMixin,
    WithinRange,
    _,
    parameterNodeWrapper,
    qt,
    slicer,
    vtk,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLTableNode,
)

HABITAT_CHOICES = ("auto", "2", "3", "4")
CLINICAL_USE_NOTICE = "Research and demonstration use only, not for clinical use."
#: QSettings key of the folder the last report was exported to.
REPORT_FOLDER_SETTING = "CCRCCStaging/reportFolder"


@parameterNodeWrapper
class CCRCCStagingParameterNode:
    """
    inputVolume - the CT.
    segmentationNode, segmentId - the radiologist's tumour segment (synced by hand with the segment selector).
    modelChoice - "bundled" (default), "folder" (modelPath) or "none" (regions and features only).
    modelPath - the model folder the user picked.
    marginMm, habitats - width of the peritumoral shell and "auto" (2-4 by BIC) or a fixed habitat count, for an
        analysis without a model (a model brings its own; the panel then shows those).
    showHabitats - whether the generated segments are shown.
    reportIncludeIdentifiers - whether an exported report names the case.
    resultJson, featureTable - the last analysis (written by the Logic).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentId: str = ""
    modelChoice: Annotated[str, Choice(list(MODEL_CHOICES))] = MODEL_BUNDLED
    modelPath: str = ""
    marginMm: Annotated[float, WithinRange(0.5, 20.0)] = DEFAULT_MARGIN_MM
    habitats: Annotated[str, Choice(list(HABITAT_CHOICES))] = DEFAULT_HABITATS
    showHabitats: bool = True
    reportIncludeIdentifiers: bool = True
    resultJson: str = ""
    featureTable: vtkMRMLTableNode


@contextmanager
def signalsBlocked(*widgets):
    blocked = [widget.blockSignals(True) for widget in widgets]
    try:
        yield
    finally:
        for widget, wasBlocked in zip(widgets, blocked):
            widget.blockSignals(wasBlocked)


class CCRCCStagingPanel(VTKObservationMixin):
    """The widgets of ``ui`` (from CCRCCStaging.ui), the parameter node, and the Analyze / Cancel / Export buttons."""

    def __init__(self, ui, logic, session, requirementsPath):
        VTKObservationMixin.__init__(self)
        self.ui, self.logic, self.session = ui, logic, session
        self.requirementsPath = requirementsPath
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._regionToolTips = (ui.marginSpinBox.toolTip, ui.habitatsComboBox.toolTip)
        self._connect()
        ui.clinicalUseLabel.text = CLINICAL_USE_NOTICE
        self.batchPanel = BatchPanel(ui, logic, session, self)
        self._setRunning(False)

    @property
    def parameterNode(self):
        return self._parameterNode

    def _connect(self):
        # Synced by hand: the segment selector and the path line edit have no parameterNodeWrapper connector, the
        # model combo box shows words rather than its choices, and margin and habitats show the model's values
        # (read-only) while a model is used.
        ui = self.ui
        ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentSelectionChanged)
        ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentSelectionChanged)
        ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChoiceChanged)
        ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathChanged)
        ui.marginSpinBox.connect("valueChanged(double)", self.onMarginChanged)
        ui.habitatsComboBox.connect("currentIndexChanged(int)", self.onHabitatsChanged)
        ui.analyzeButton.connect("clicked(bool)", self.onAnalyzeButton)
        ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        ui.showFeatureTableButton.connect("clicked(bool)", self.onShowFeatureTableButton)
        ui.exportReportButton.connect("clicked(bool)", self.onExportReportButton)
        # showHabitats is bound to the check box; this applies it to the segments.
        ui.showHabitatsCheckBox.connect("toggled(bool)", self.onShowHabitatsToggled)

    #
    # The parameter node
    #

    def initializeParameterNode(self):
        self.setParameterNode(CCRCCStagingParameterNode(self.logic.getParameterNode()))
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUIFromParameterNode)
            self.updateGUIFromParameterNode()

    def updateGUIFromParameterNode(self, caller=None, event=None):
        parameterNode = self._parameterNode
        if not parameterNode:
            return
        result = json.loads(parameterNode.resultJson) if parameterNode.resultJson else None
        with signalsBlocked(self.ui.segmentSelector, self.ui.modelPathLineEdit, self.ui.modelComboBox):
            self.ui.segmentSelector.setCurrentNode(parameterNode.segmentationNode)
            self.ui.segmentSelector.setCurrentSegmentID(parameterNode.segmentId)
            self.ui.modelPathLineEdit.currentPath = parameterNode.modelPath
            self.ui.modelComboBox.currentIndex = MODEL_CHOICES.index(parameterNode.modelChoice)
        modelProblem = self._showModel(parameterNode)
        canAnalyze = bool(parameterNode.inputVolume and parameterNode.segmentationNode and parameterNode.segmentId)
        self.ui.analyzeButton.enabled = canAnalyze and not modelProblem and not self.session.running
        if modelProblem:
            self.ui.analyzeButton.toolTip = modelProblem
        elif canAnalyze:
            self.ui.analyzeButton.toolTip = _("Build the habitats and the shell, extract features and predict the "
                                              "T stage group")
        else:
            self.ui.analyzeButton.toolTip = _("Select the CT and the tumour segment")
        self._showResult(result)
        self.batchPanel.updateButtons()

    def _showModel(self, parameterNode):
        """The model row, and margin and habitats: the model's (read-only) with a model, the user's without.
        Returns why the chosen model cannot be used, or None."""
        choice = parameterNode.modelChoice
        self.ui.modelPathLabel.visible = self.ui.modelPathLineEdit.visible = choice == MODEL_FOLDER
        info, problem = None, None
        try:
            info = self.logic.modelInfo(choice, parameterNode.modelPath)
        except AnalysisError as error:
            problem = str(error)
        if choice == MODEL_NONE:
            self.ui.modelInfoLabel.text = _("Regions and features only: no T stage prediction.")
        elif problem:
            self.ui.modelInfoLabel.text = problem
        else:
            self.ui.modelInfoLabel.text = _("Model {id}: margin {margin:g} mm and habitats {habitats} are set by "
                                            "the model.").format(id=info.id, margin=info.marginMm,
                                                                 habitats=info.habitats)
            if info.demonstration:
                self.ui.modelInfoLabel.text += " " + DEMONSTRATION_MODEL_NOTICE
        marginMm, habitats = ((info.marginMm, info.habitats) if info
                              else (parameterNode.marginMm, parameterNode.habitats))
        self._showRegionSettings(choice == MODEL_NONE, marginMm, habitats)
        return problem

    def _showRegionSettings(self, editable, marginMm, habitats):
        combo = self.ui.habitatsComboBox
        with signalsBlocked(self.ui.marginSpinBox, combo):
            self.ui.marginSpinBox.value = marginMm
            # A model's K beyond the panel's choices is shown as an extra item, removed again without a model.
            for index in reversed(range(combo.count)):
                if combo.itemText(index) not in (*HABITAT_CHOICES, habitats):
                    combo.removeItem(index)
            if combo.findText(habitats) < 0:
                combo.addItem(habitats)
            combo.currentIndex = combo.findText(habitats)
        for widget, toolTip in zip((self.ui.marginSpinBox, combo), self._regionToolTips):
            widget.enabled = editable
            widget.toolTip = toolTip if editable else _("Set by the model; choose the model None to change it.")

    def _showResult(self, result):
        self.ui.resultsCollapsibleButton.enabled = result is not None
        summary = resultSummary(result) if result else {}
        rows = (
            (self.ui.resultModelLabel, self.ui.resultModelValueLabel, summary.get("model")),
            (self.ui.tStageLabel, self.ui.tStageValueLabel, summary.get("tStage")),
            (self.ui.radscoreLabel, self.ui.radscoreValueLabel, summary.get("radscore")),
            (self.ui.habitatCountLabel, self.ui.habitatCountValueLabel, summary.get("habitats")),
            (self.ui.regionVolumesLabel, self.ui.regionVolumesValueLabel, summary.get("volumes")),
            (self.ui.warningsLabel, self.ui.warningsValueLabel, summary.get("warnings")),
        )
        for nameLabel, valueLabel, text in rows:
            nameLabel.visible = valueLabel.visible = text is not None
            valueLabel.text = text or ""
        # Without a model, or with the prediction withheld (and why), instead of the T stage.
        self.ui.noPredictionLabel.visible = summary.get("noPrediction") is not None
        self.ui.noPredictionLabel.text = summary.get("noPrediction") or ""
        self.ui.demonstrationModelLabel.visible = summary.get("notice") is not None
        self.ui.demonstrationModelLabel.text = summary.get("notice") or ""
        self.ui.showFeatureTableButton.enabled = bool(self._parameterNode and self._parameterNode.featureTable)
        canExport = result is not None and self.logic.lastOutputDir is not None
        self.ui.exportReportButton.enabled = canExport and not self.session.running
        self.ui.exportReportButton.toolTip = (
            _("Write an HTML and PDF report of this analysis to a folder you choose") if canExport
            else _("Analyse the case first: a report is made from an analysis of this session"))

    def onSegmentSelectionChanged(self, *unused):
        if self._parameterNode:
            # Both set before the GUI is updated from them: a half-updated pair would reset the selector.
            with slicer.util.NodeModify(self._parameterNode.parameterNode):
                self._parameterNode.segmentationNode = self.ui.segmentSelector.currentNode()
                self._parameterNode.segmentId = self.ui.segmentSelector.currentSegmentID() or ""

    def onModelChoiceChanged(self, index):
        if self._parameterNode and 0 <= index < len(MODEL_CHOICES):
            self._parameterNode.modelChoice = MODEL_CHOICES[index]

    def onModelPathChanged(self, path):
        if self._parameterNode:
            self._parameterNode.modelPath = path

    def onMarginChanged(self, value):
        if self._parameterNode and self._parameterNode.modelChoice == MODEL_NONE:
            self._parameterNode.marginMm = value

    def onHabitatsChanged(self, index):
        if self._parameterNode and self._parameterNode.modelChoice == MODEL_NONE:
            self._parameterNode.habitats = self.ui.habitatsComboBox.itemText(index)

    def onShowHabitatsToggled(self, visible):
        if self._parameterNode and self._parameterNode.segmentationNode:
            self.logic.setGeneratedSegmentsVisible(self._parameterNode.segmentationNode, visible)

    #
    # Runs
    #

    def _setRunning(self, running):
        self.ui.cancelButton.enabled = running
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        self.ui.inputsCollapsibleButton.enabled = not running
        self.ui.settingsCollapsibleButton.enabled = not running
        self.ui.analyzeButton.enabled = not running
        self.ui.exportReportButton.enabled = not running
        self.ui.batchCollapsibleButton.enabled = not running
        if running:
            self.ui.statusLabel.text = _("Starting…")

    def onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message

    def startTask(self, task, onDone):
        """Run ``task`` in the background; ``onDone(outcome)`` when it succeeded, a message box when it failed."""
        def done(outcome, error):
            self._setRunning(False)
            self.updateGUIFromParameterNode()
            if error is not None:
                self.ui.statusLabel.text = _("Failed.")
                slicer.util.errorDisplay(str(error), windowTitle=_("CCRCC Staging"))
            else:
                onDone(outcome)

        try:
            self.session.start(task, done)
        except BaseException:
            task.discard()
            raise
        self._setRunning(True)

    def onAnalyzeButton(self):
        parameterNode = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Analysis failed."), waitCursor=False):
            self.logic.ensureDependencies(self.requirementsPath)
            model = self.logic.modelDirectory(parameterNode.modelChoice, parameterNode.modelPath)
            # Margin and habitats only without a model: a model brings its own (the CLI refuses others).
            regionOptions = ({"marginMm": parameterNode.marginMm, "habitats": parameterNode.habitats}
                             if parameterNode.modelChoice == MODEL_NONE else {})
            task = self.logic.prepareAnalysis(
                parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId,
                model=model or MODEL_NONE, onProgress=self.onProgress, **regionOptions)
            nodes = (parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId)
            self.startTask(task, lambda analysis: self._analysisDone(analysis, *nodes))

    def _analysisDone(self, analysis, volumeNode, segmentationNode, segmentId):
        if analysis is None:
            self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
            return
        self.ui.statusLabel.text = _("Done.")
        self.showCase(volumeNode, segmentationNode, segmentId)

    def showCase(self, volumeNode, segmentationNode, segmentId):
        """The case in the views, with the habitats and shell shown as the check box says (Analyze, a batch row)."""
        if self._parameterNode and segmentationNode is not self._parameterNode.segmentationNode:
            with slicer.util.NodeModify(self._parameterNode.parameterNode):
                self._parameterNode.inputVolume = volumeNode
                self._parameterNode.segmentationNode = segmentationNode
                self._parameterNode.segmentId = segmentId
        self.logic.showResults(volumeNode, segmentationNode, segmentId)
        showHabitats = self._parameterNode.showHabitats if self._parameterNode else True
        self.logic.setGeneratedSegmentsVisible(segmentationNode, showHabitats)

    def onExportReportButton(self):
        settings = qt.QSettings()
        folder = qt.QFileDialog.getExistingDirectory(
            slicer.util.mainWindow(), _("Folder for the report"), settings.value(REPORT_FOLDER_SETTING, ""))
        if not folder:
            return
        settings.setValue(REPORT_FOLDER_SETTING, folder)
        includeIdentifiers = self._parameterNode.reportIncludeIdentifiers
        with slicer.util.tryWithErrorDisplay(_("The report could not be exported."), waitCursor=False):
            self.logic.ensureDependencies(self.requirementsPath)
            conflict = self.logic.reportConflict(folder, includeIdentifiers)
            if conflict and not slicer.util.confirmOkCancelDisplay(
                    conflict + "\n\n" + _("Replace these files with the report of this case?"),
                    windowTitle=_("CCRCC Staging")):
                self.ui.statusLabel.text = _("The report was not exported.")
                return
            task = self.logic.prepareReport(folder, includeIdentifiers=includeIdentifiers,
                                            onProgress=self.onProgress, overwrite=bool(conflict))
            self.startTask(task, lambda written: self._reportDone(written, folder))

    def _reportDone(self, written, folder):
        if written is None:
            self.ui.statusLabel.text = _("Cancelled; the folder was not changed.")
            return
        self.ui.statusLabel.text = _("Report written to {folder}.").format(folder=folder)
        html = Path(folder) / reportFiles.REPORT_FORMATS["html"]
        if html.is_file() and slicer.util.confirmYesNoDisplay(
                _("The report was written to {folder}. Open it now?").format(folder=folder),
                windowTitle=_("CCRCC Staging")):
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(html)))

    def onCancelButton(self):
        if self.session.running:
            self.ui.statusLabel.text = _("Cancelling…")
            self.session.cancel()

    def onShowFeatureTableButton(self):
        tableNode = self._parameterNode.featureTable
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()
