"""CCRCC Staging: the 3D Slicer module of CCRCCStaging.

An adapter between MRML and the ``CCRCCStagingLib`` command line: it writes the CT and the radiologist's tumour
segment to a temporary folder, runs ``python -m CCRCCStagingLib.cli analyze`` in a child process (so that
Slicer's window never freezes), and turns the outputs back into segments, a table and the parameter node; the
report is rendered the same way (``… report``). Everything scientific happens in the library. Running the CLI and
reading its outputs are in the ``CCRCCStagingHelpers`` package beside this file.

The file imports without Slicer (only the standard library at import time) so that it can be checked by
plain Python, and its Logic runs on the ``slicer-core`` wheel's MRML outside the application (the tests).
"""

import importlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

# The helpers are found beside this file: Slicer puts its module folders on sys.path; plain Python (the tests,
# which load this file by path) may not.
_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODULE_DIR not in sys.path:
    sys.path.insert(0, _MODULE_DIR)

from CCRCCStagingHelpers import AnalysisError, ReportExistsError  # noqa: E402, F401 (ReportExistsError: for callers)
from CCRCCStagingHelpers import export as reportFiles  # noqa: E402
from CCRCCStagingHelpers.results import (  # noqa: E402
    BUNDLED_MODEL_ID,
    DEMONSTRATION_MODEL_NOTICE,
    MODEL_BUNDLED,
    MODEL_CHOICES,
    MODEL_FOLDER,
    MODEL_MANIFEST,
    MODEL_NONE,
    readFeatureRows,
    readModelInfo,
    regionColor,
    regionDisplayName,
    resultMarginMm,
    resultSummary,
)
from CCRCCStagingHelpers.runner import CliOutput, CliRunner, QtCliRunner  # noqa: E402

try:  # MRML: the application's, or the slicer-core wheel's outside it
    import slicer
    import vtk
except ImportError:  # plain Python (static checks): nothing below runs without MRML
    slicer = vtk = None

try:  # the Slicer application
    import qt
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
    from slicer.i18n import tr as _
    from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

    IN_SLICER_APP = True
except ImportError:  # outside the application only the Logic is used
    IN_SLICER_APP = False
    qt = None
    from CCRCCStagingHelpers.outsideSlicer import (  # noqa: F401
        Choice,
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
        VTKObservationMixin,
        WithinRange,
        _,
        parameterNodeWrapper,
        vtkMRMLScalarVolumeNode,
        vtkMRMLSegmentationNode,
        vtkMRMLTableNode,
    )


CITATION = (
    "Huang J-L, Liu Q, Wang C-L, et al. CT-based subregional and peritumoral radiomics for predicting "
    "pathological T stage of clear cell renal cell carcinoma. Insights Imaging 2026;17:50. "
    "doi:10.1186/s13244-026-02226-3"
)
CLINICAL_USE_NOTICE = "Research and demonstration use only, not for clinical use."

#: Segment tags: which segments this module made (and may replace), and which region each one shows.
GENERATED_TAG = "CCRCCStaging.generated"
REGION_TAG = "CCRCCStaging.region"

#: Parameter-node entries the Logic writes; CCRCCStagingParameterNode declares them under the same names.
RESULT_PARAMETER = "resultJson"
FEATURE_TABLE_PARAMETER = "featureTable"

#: Region settings of an analysis without a model (with a model they are the model's).
DEFAULT_MARGIN_MM = 3.0
DEFAULT_HABITATS = "auto"
HABITAT_CHOICES = ("auto", "2", "3", "4")
#: QSettings key of the folder the last report was exported to.
REPORT_FOLDER_SETTING = "CCRCCStaging/reportFolder"


#
# CCRCCStaging
#


class CCRCCStaging(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CCRCC Staging")
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["CCRCCStaging developers"]
        self.parent.helpText = _(
            "Predicts the pathological T stage group (T1–T2 or T3–T4) of a clear cell renal cell carcinoma "
            "from a CT and the radiologist's tumour segmentation: the tumour is split into Gaussian-mixture "
            "habitats, a peritumoral shell is added, and radiomics features of these regions feed the model. "
            "The habitats and the shell are added as segments to the tumour's segmentation; Export report writes "
            "an HTML and PDF report of the case.<br><br>"
            "Method: {citation}<br><br><b>{notice}</b> The bundled model is a demonstration model trained on "
            "synthetic data; train your own with <code>ccrcc-staging train</code> and choose its folder as the "
            "model."
        ).format(citation=CITATION, notice=CLINICAL_USE_NOTICE)
        self.parent.acknowledgementText = _(
            "Implements the method of {citation}. Features are computed with PyRadiomics."
        ).format(citation=CITATION)
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data and bundled resources
#


def libraryRoot():
    """The folder holding ``CCRCCStagingLib/`` and the shared ``Resources/``: beside this file in the installed
    extension, one level up in a source checkout."""
    moduleDir = Path(__file__).resolve().parent
    for candidate in (moduleDir, moduleDir.parent):
        if (candidate / "CCRCCStagingLib" / "__init__.py").is_file():
            return candidate
    raise AnalysisError(f"CCRCCStagingLib was not found beside {moduleDir}; reinstall the CCRCCStaging extension.")


def bundledModelDir():
    """The bundled demonstration model's folder (it may be absent from a build without it)."""
    return libraryRoot() / "Resources" / "Models" / BUNDLED_MODEL_ID


SAMPLE_FILES = (("ccrcc_sample_ct.nrrd", "VolumeFile"), ("ccrcc_sample_tumour.seg.nrrd", "SegmentationFile"))


def registerSampleData():
    """Register "CCRCC sample" (a CT and its tumour segmentation, shipped in Resources/Sample) with SampleData."""
    import hashlib

    import SampleData

    sampleDir = libraryRoot() / "Resources" / "Sample"
    paths = [sampleDir / fileName for fileName, _fileType in SAMPLE_FILES]
    if not all(path.is_file() for path in paths):
        logging.warning(f"CCRCC sample data not found in {sampleDir}")
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="CCRCC Staging",
        sampleName="CCRCC sample",
        thumbnailFileName=str(Path(__file__).resolve().parent / "Resources" / "Icons" / "CCRCCStaging.png"),
        # Local files: SampleData copies them into its cache. The checksums make it copy them again when an
        # update of the extension ships different files under the same names.
        uris=[path.as_uri() for path in paths],
        fileNames=[path.name for path in paths],
        nodeNames=["CCRCC sample CT", "CCRCC sample tumour"],
        loadFileType=[fileType for _fileName, fileType in SAMPLE_FILES],
        checksums=["SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest() for path in paths],
    )


#
# CCRCCStagingParameterNode
#


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
def _signalsBlocked(*widgets):
    blocked = [widget.blockSignals(True) for widget in widgets]
    try:
        yield
    finally:
        for widget, wasBlocked in zip(widgets, blocked):
            widget.blockSignals(wasBlocked)


#
# CCRCCStagingWidget
#


class CCRCCStagingWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._runner = None
        self._regionToolTips = ("", "")

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CCRCCStaging.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = CCRCCStagingLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # Synced by hand: the segment selector and the path line edit have no parameterNodeWrapper connector, the
        # model combo box shows words rather than its choices, and margin and habitats show the model's values
        # (read-only) while a model is used.
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentSelectionChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentSelectionChanged)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChoiceChanged)
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathChanged)
        self.ui.marginSpinBox.connect("valueChanged(double)", self.onMarginChanged)
        self.ui.habitatsComboBox.connect("currentIndexChanged(int)", self.onHabitatsChanged)
        self.ui.analyzeButton.connect("clicked(bool)", self.onAnalyzeButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.showFeatureTableButton.connect("clicked(bool)", self.onShowFeatureTableButton)
        self.ui.exportReportButton.connect("clicked(bool)", self.onExportReportButton)
        # showHabitats is bound to the check box; this applies it to the segments.
        self.ui.showHabitatsCheckBox.connect("toggled(bool)", self.onShowHabitatsToggled)

        self.ui.clinicalUseLabel.text = CLINICAL_USE_NOTICE
        self._regionToolTips = (self.ui.marginSpinBox.toolTip, self.ui.habitatsComboBox.toolTip)
        self._setRunning(False)
        self.initializeParameterNode()

    def cleanup(self):
        if self._runner:
            self._runner.cancel()
        self.removeObservers()
        if self.logic:
            self.logic.discardLastAnalysis()

    def onReload(self):
        # Slicer's Reload re-reads this file only; the helpers are reloaded first so that their edits count too.
        # The package first: the submodules take AnalysisError from it.
        importlib.reload(sys.modules["CCRCCStagingHelpers"])
        for name in sorted(name for name in sys.modules if name.startswith("CCRCCStagingHelpers.")):
            importlib.reload(sys.modules[name])
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        if self._runner:
            self._runner.cancel()
        self.logic.discardLastAnalysis()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

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
        with _signalsBlocked(self.ui.segmentSelector, self.ui.modelPathLineEdit, self.ui.modelComboBox):
            self.ui.segmentSelector.setCurrentNode(parameterNode.segmentationNode)
            self.ui.segmentSelector.setCurrentSegmentID(parameterNode.segmentId)
            self.ui.modelPathLineEdit.currentPath = parameterNode.modelPath
            self.ui.modelComboBox.currentIndex = MODEL_CHOICES.index(parameterNode.modelChoice)
        modelProblem = self._showModel(parameterNode, result)

        canAnalyze = bool(parameterNode.inputVolume and parameterNode.segmentationNode and parameterNode.segmentId)
        self.ui.analyzeButton.enabled = canAnalyze and not modelProblem and not self._runner
        if modelProblem:
            self.ui.analyzeButton.toolTip = modelProblem
        elif canAnalyze:
            self.ui.analyzeButton.toolTip = _("Build the habitats and the shell, extract features and predict the "
                                              "T stage group")
        else:
            self.ui.analyzeButton.toolTip = _("Select the CT and the tumour segment")
        self._showResult(result)

    def _showModel(self, parameterNode, result):
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
        combo = self.ui.habitatsComboBox
        with _signalsBlocked(self.ui.marginSpinBox, combo):
            self.ui.marginSpinBox.value = marginMm
            # A model's K beyond the panel's choices is shown as an extra item, removed again without a model.
            for index in reversed(range(combo.count)):
                if combo.itemText(index) not in (*HABITAT_CHOICES, habitats):
                    combo.removeItem(index)
            if combo.findText(habitats) < 0:
                combo.addItem(habitats)
            combo.currentIndex = combo.findText(habitats)
        for widget, toolTip in zip((self.ui.marginSpinBox, combo), self._regionToolTips):
            widget.enabled = choice == MODEL_NONE
            widget.toolTip = toolTip if choice == MODEL_NONE else _("Set by the model; choose the model None to "
                                                                   "change it.")
        return problem

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
        self.ui.exportReportButton.enabled = canExport and not self._runner
        self.ui.exportReportButton.toolTip = (
            _("Write an HTML and PDF report of this analysis to a folder you choose") if canExport
            else _("Analyse the case first: a report is made from an analysis of this session"))

    def onSegmentSelectionChanged(self, *unused):
        if self._parameterNode:
            segmentationNode = self.ui.segmentSelector.currentNode()
            segmentId = self.ui.segmentSelector.currentSegmentID() or ""
            # Both set before the GUI is updated from them: a half-updated pair would reset the selector.
            with slicer.util.NodeModify(self._parameterNode.parameterNode):
                self._parameterNode.segmentationNode = segmentationNode
                self._parameterNode.segmentId = segmentId

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

    def _setRunning(self, running):
        self.ui.cancelButton.enabled = running
        self.ui.progressBar.visible = running
        self.ui.progressBar.value = 0
        self.ui.inputsCollapsibleButton.enabled = not running
        self.ui.settingsCollapsibleButton.enabled = not running
        self.ui.analyzeButton.enabled = not running
        self.ui.exportReportButton.enabled = not running
        if running:
            self.ui.statusLabel.text = _("Starting…")

    def _onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message

    def _runInBackground(self, work):
        """``work(runner)`` with the progress bar and the Cancel button; the runner keeps the window responsive."""
        self._runner = self.logic.defaultRunner()
        self._setRunning(True)
        try:
            return work(self._runner)
        finally:
            self._runner = None
            self._setRunning(False)
            self.updateGUIFromParameterNode()

    def onAnalyzeButton(self):
        parameterNode = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Analysis failed."), waitCursor=False):
            self.logic.ensureDependencies(self.resourcePath("requirements.txt"))
            model = self.logic.modelDirectory(parameterNode.modelChoice, parameterNode.modelPath)
            # Margin and habitats only without a model: a model brings its own (the CLI refuses others).
            regionOptions = ({"marginMm": parameterNode.marginMm, "habitats": parameterNode.habitats}
                             if parameterNode.modelChoice == MODEL_NONE else {})
            analysis = self._runInBackground(lambda runner: self.logic.analyze(
                parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId,
                model=model or MODEL_NONE, runner=runner, onProgress=self._onProgress, **regionOptions))
            if analysis is None:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
                return
            self.ui.statusLabel.text = _("Done.")
            self.logic.showResults(parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId)
            self.logic.setGeneratedSegmentsVisible(parameterNode.segmentationNode, parameterNode.showHabitats)

    def onExportReportButton(self):
        settings = qt.QSettings()
        folder = qt.QFileDialog.getExistingDirectory(
            slicer.util.mainWindow(), _("Folder for the report"), settings.value(REPORT_FOLDER_SETTING, ""))
        if not folder:
            return
        settings.setValue(REPORT_FOLDER_SETTING, folder)
        includeIdentifiers = self._parameterNode.reportIncludeIdentifiers
        with slicer.util.tryWithErrorDisplay(_("The report could not be exported."), waitCursor=False):
            self.logic.ensureDependencies(self.resourcePath("requirements.txt"))
            conflict = self.logic.reportConflict(folder, includeIdentifiers)
            if conflict and not slicer.util.confirmOkCancelDisplay(
                    conflict + "\n\n" + _("Replace these files with the report of this case?"),
                    windowTitle=_("CCRCC Staging")):
                self.ui.statusLabel.text = _("The report was not exported.")
                return
            written = self._runInBackground(lambda runner: self.logic.exportReport(
                folder, includeIdentifiers=includeIdentifiers, runner=runner, onProgress=self._onProgress,
                overwrite=bool(conflict)))
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
        if self._runner:
            self.ui.statusLabel.text = _("Cancelling…")
            self._runner.cancel()

    def onShowFeatureTableButton(self):
        tableNode = self._parameterNode.featureTable
        layoutManager = slicer.app.layoutManager()
        layoutManager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(tableNode.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()


#
# CCRCCStagingLogic
#


@dataclass
class AnalysisResult:
    result: dict  # result.json as the CLI wrote it
    segmentIds: dict  # region name ("sub1", "peri", …) → ID of its segment in the segmentation
    featureTable: object  # vtkMRMLTableNode
    outputDir: Path  # the CLI's output folder, kept until the next analysis (Logic.lastOutputDir)


class CCRCCStagingLogic(ScriptedLoadableModuleLogic):
    """Runs the analysis on MRML nodes and exports its report; no widgets. From Slicer's Python console::

        logic = slicer.util.getModuleLogic("CCRCCStaging")
        analysis = logic.analyze(getNode("CT"), getNode("Segmentation"), "Segment_1")  # the bundled model
        logic.exportReport("/path/to/folder")
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        # The temporary folder of the last successful analysis (its "out" folder feeds exportReport).
        self._lastWorkDir = None

    @property
    def lastOutputDir(self):
        """The output folder of the last successful analysis (result.json, features.csv, regions.nrrd,
        ct_box.nrrd), or None. Kept until the next successful analysis or discardLastAnalysis (scene close)."""
        return self._lastWorkDir / "out" if self._lastWorkDir else None

    def discardLastAnalysis(self):
        """Delete the last analysis' output folder (the scene keeps its segments, table and result)."""
        if self._lastWorkDir:
            shutil.rmtree(self._lastWorkDir, ignore_errors=True)
            self._lastWorkDir = None

    def modelDirectory(self, modelChoice, modelPath=""):
        """The model folder of a panel choice: the bundled one, the user's folder, or None without a model."""
        if modelChoice == MODEL_BUNDLED:
            return bundledModelDir()
        if modelChoice == MODEL_FOLDER:
            if not modelPath:
                raise AnalysisError("Choose the model folder (written by 'ccrcc-staging train').")
            return Path(modelPath)
        if modelChoice == MODEL_NONE:
            return None
        raise ValueError(f"unknown model choice {modelChoice!r}")

    def modelInfo(self, modelChoice, modelPath=""):
        """The model of a panel choice as the panel shows it (ID, the margin and habitats it was trained with), or
        None without a model. Raises AnalysisError with a sentence when that model cannot be used."""
        modelDir = self.modelDirectory(modelChoice, modelPath)
        if modelDir is None:
            return None
        if modelChoice == MODEL_BUNDLED:
            self._checkBundledModel(modelDir)
        return readModelInfo(modelDir)

    @staticmethod
    def _checkBundledModel(modelDir):
        if not (modelDir / MODEL_MANIFEST).is_file():
            raise AnalysisError(
                f"The bundled model is missing from this installation ({modelDir}). Reinstall the CCRCCStaging "
                "extension, choose a model folder, or analyse without a model.")

    def analyze(self, volumeNode, segmentationNode, segmentId, model=MODEL_BUNDLED, marginMm=None, habitats=None,
                runner=None, onProgress=None):
        """Habitats, peritumoral shell, features and (with a model) prediction for one tumour segment.

        ``model``: ``"bundled"`` (the demonstration model shipped with the extension), a model folder, or
        ``"none"``/None for regions and features only. ``marginMm`` (default 3) and ``habitats`` ("auto", default,
        or a count) only without a model: a model brings the settings it was trained with.

        Adds the segments "Peritumoral <margin> mm" and "Habitat 1" … "Habitat K" to ``segmentationNode``,
        replacing those of an earlier run; never changes any other segment. Fills the feature table and writes
        the result to the parameter node. Returns an AnalysisResult, or None if ``runner`` was cancelled (the
        scene is then as it was). Raises AnalysisError, scene unchanged, when the analysis cannot be done.
        ``onProgress(fraction, message)`` follows the CLI's progress.
        """
        self._checkInputs(volumeNode, segmentationNode, segmentId)
        modelOptions = self._modelOptions(model, marginMm, habitats)
        runner = runner or self.defaultRunner()
        workDir = Path(tempfile.mkdtemp(prefix="CCRCCStaging-"))
        succeeded = False
        try:
            imagePath, maskPath = self._writeInputs(volumeNode, segmentationNode, segmentId, workDir / "inputs")
            outDir = workDir / "out"
            # The report is made on Export report, from the kept output folder.
            command = [*self.cliCommand(), "analyze", str(imagePath), str(maskPath), "--out", str(outDir),
                       "--label", "1", "--report", "none", *modelOptions]
            output = CliOutput(onProgress)
            exitCode = runner.run(command, self.cliEnvironment(), output.addLine)
            if exitCode is None:
                return None
            if exitCode != 0:
                raise output.failure(exitCode)
            # Read everything before touching the scene, so that a broken output leaves it unchanged.
            result = json.loads((outDir / "result.json").read_text(encoding="utf-8"))
            features = readFeatureRows(outDir / "features.csv", result)
            regionsImage = self._readRegions(outDir / "regions.nrrd")
            if not slicer.mrmlScene.IsNodePresent(segmentationNode):
                raise AnalysisError("The segmentation was removed during the analysis; nothing was added.")
            with slicer.util.NodeModify(segmentationNode):
                segmentIds = self._replaceGeneratedSegments(
                    segmentationNode, regionsImage, result, volumeNode.GetParentTransformNode())
            # This is now the last analysis: its outputs are kept for the report (before the result is stored, so
            # that the panel, updated from the parameter node, offers the export). The CT and mask copies go.
            succeeded = True
            shutil.rmtree(workDir / "inputs", ignore_errors=True)
            self.discardLastAnalysis()
            self._lastWorkDir = workDir
            featureTable = self._storeResult(result, features)
            return AnalysisResult(result, segmentIds, featureTable, outDir)
        finally:
            if not succeeded:
                shutil.rmtree(workDir, ignore_errors=True)

    @staticmethod
    def _modelOptions(model, marginMm, habitats):
        """The CLI options choosing the model; margin and habitats only without one (a model brings its own, and
        the CLI refuses others)."""
        if model is None or model == MODEL_NONE:
            marginMm = DEFAULT_MARGIN_MM if marginMm is None else float(marginMm)
            habitats = DEFAULT_HABITATS if habitats is None else str(habitats)
            return ["--no-model", "--habitats", habitats, "--margin-mm", f"{marginMm:g}"]
        if marginMm is not None or habitats is not None:
            raise AnalysisError("The margin and the habitat count are set by the model (those it was trained with): "
                                "leave them out, or analyse without a model.")
        if model == MODEL_BUNDLED:
            CCRCCStagingLogic._checkBundledModel(bundledModelDir())
            return []  # the CLI's default
        if not Path(model).is_dir():
            raise AnalysisError(f"The model folder {model} does not exist.")
        return ["--model", str(Path(model).resolve())]

    def reportConflict(self, targetFolder, includeIdentifiers=True):
        """Why exporting the last analysis' report to ``targetFolder`` would replace another case's files (a
        sentence to show before asking), or None."""
        return reportFiles.reportConflict(targetFolder, self._lastResult(), includeIdentifiers)

    def exportReport(self, targetFolder, formats=("html", "pdf"), includeIdentifiers=True, runner=None,
                     onProgress=None, overwrite=False):
        """Write the report of the last successful analysis to ``targetFolder``: report.html / report.pdf (per
        ``formats``) with result.json, features.csv, regions.nrrd and ct_box.nrrd, rendered by ``ccrcc-staging
        report`` in a child process (``runner``, as for analyze). Without identifiers, the case ID is left out of
        the report and of the exported result.json and features.csv.

        Never touches the scene. Raises ReportExistsError when the folder holds another case's report or analysis
        files, unless ``overwrite``; AnalysisError when there is nothing to report or the report step fails (the
        folder is then as it was). Returns the written paths, or None if ``runner`` was cancelled."""
        self._lastResult()  # there is one
        runner = runner or self.defaultRunner()

        def render(stagingDir, formats, includeIdentifiers):
            command = [*self.cliCommand(), "report", str(stagingDir), "--format", ",".join(formats)]
            if not includeIdentifiers:
                command.append("--no-identifiers")
            output = CliOutput(onProgress, task="report")
            exitCode = runner.run(command, self.cliEnvironment(), output.addLine)
            if exitCode not in (0, None):
                raise output.failure(exitCode)
            return None if exitCode is None else True

        return reportFiles.exportReport(self.lastOutputDir, targetFolder, formats, includeIdentifiers, overwrite,
                                        render)

    def _lastResult(self):
        outputDir = self.lastOutputDir
        if not outputDir or not (outputDir / reportFiles.RESULT_FILE).is_file():
            raise AnalysisError("There is no analysis to report: analyse the case first (a report is made from an "
                                "analysis of this session).")
        return json.loads((outputDir / reportFiles.RESULT_FILE).read_text(encoding="utf-8"))

    def defaultRunner(self):
        return QtCliRunner() if IN_SLICER_APP else CliRunner()

    def cliCommand(self):
        """``python -m CCRCCStagingLib.cli`` with the Python that has Slicer's packages (PythonSlicer in Slicer)."""
        if IN_SLICER_APP:
            python = shutil.which("PythonSlicer")
            if not python:
                raise AnalysisError("PythonSlicer was not found next to Slicer; reinstall Slicer.")
        else:
            python = sys.executable
        return [python, "-m", "CCRCCStagingLib.cli"]

    def cliEnvironment(self):
        if IN_SLICER_APP:
            # The environment Slicer started with (as slicer.util.launchConsoleProcess uses), and every folder
            # Slicer imports from: the child then finds what Slicer finds, such as the PyRadiomics that the
            # SlicerRadiomics extension keeps in its own folder.
            env = dict(slicer.util.startupEnvironment())
            searchPath = [str(libraryRoot()), *(path for path in sys.path if path and os.path.isdir(path))]
        else:
            env = dict(os.environ)
            searchPath = [str(libraryRoot()), env.get("PYTHONPATH")]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, searchPath))
        # Progress arrives as it is printed, and non-ASCII output cannot fail on a Windows code page.
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        return env

    @staticmethod
    def _checkInputs(volumeNode, segmentationNode, segmentId):
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

    @staticmethod
    def _writeInputs(volumeNode, segmentationNode, segmentId, inputDir):
        """The CT and the segment resampled onto the CT's own grid, as NRRD files the CLI reads in one space."""
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
            storageNode.SetUseCompression(False)  # a temporary file: writing fast matters more than size
            if not storageNode.WriteData(node):
                raise AnalysisError(f"Could not write {path.name} to the temporary folder {inputDir}.")
        return imagePath, maskPath

    @staticmethod
    def _readRegions(path):
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

    def _replaceGeneratedSegments(self, segmentationNode, regionsImage, result, volumeTransformNode):
        segmentation = segmentationNode.GetSegmentation()
        previousIds = self.generatedSegmentIds(segmentationNode)
        regionsByLabel = {values["label"]: region for region, values in result["regions"].items() if "label" in values}
        # Entry i names the segment of label i+1; empty entries (labels between K and the shell's) are skipped.
        segmentIdsArray = vtk.vtkStringArray()
        segmentIds = {}
        for label in range(1, max(regionsByLabel) + 1):
            region = regionsByLabel.get(label)
            segmentId = segmentation.GenerateUniqueSegmentID(f"CCRCCStaging_{region}") if region else ""
            segmentIdsArray.InsertNextValue(segmentId)
            if region:
                segmentIds[region] = segmentId
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
        # Removed only now that the new ones are in: a failed import keeps the previous run's segments.
        for segmentId in previousIds:
            segmentation.RemoveSegment(segmentId)
        return segmentIds

    def _storeResult(self, result, features):
        parameterNode = self.getParameterNode()
        tableNode = parameterNode.GetNodeReference(FEATURE_TABLE_PARAMETER)
        if not tableNode:
            tableNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "CCRCC features")
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
        with slicer.util.NodeModify(parameterNode):
            parameterNode.SetParameter(RESULT_PARAMETER, json.dumps(result))
            # As parameterNodeWrapper stores a node: an empty parameter marks it set, the reference holds it.
            parameterNode.SetParameter(FEATURE_TABLE_PARAMETER, "")
            parameterNode.SetNodeReferenceID(FEATURE_TABLE_PARAMETER, tableNode.GetID())
        return tableNode

    @staticmethod
    def generatedSegmentIds(segmentationNode):
        segmentation = segmentationNode.GetSegmentation()
        return [segmentId for segmentId in segmentation.GetSegmentIDs()
                if segmentation.GetSegment(segmentId).HasTag(GENERATED_TAG)]

    def setGeneratedSegmentsVisible(self, segmentationNode, visible):
        displayNode = segmentationNode.GetDisplayNode()
        if not displayNode:
            return
        for segmentId in self.generatedSegmentIds(segmentationNode):
            displayNode.SetSegmentVisibility(segmentId, visible)

    @staticmethod
    def showResults(volumeNode, segmentationNode, segmentId):
        """The CT in the slice views with the segments drawn as fill and outline, centred on the tumour."""
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=False)
        displayNode = segmentationNode.GetDisplayNode()
        displayNode.SetVisibility(True)
        displayNode.SetVisibility2DFill(True)
        displayNode.SetVisibility2DOutline(True)
        center = segmentationNode.GetSegmentCenterRAS(segmentId)
        slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, *center, slicer.vtkMRMLSliceNode.CenteredJumpSlice)

    def ensureDependencies(self, requirementsPath):
        """Installs what the library needs into Slicer's Python on first use, after asking (never replacing
        Slicer's numpy, SimpleITK or VTK); PyRadiomics must come from the SlicerRadiomics extension."""
        from CCRCCStagingHelpers.dependencies import ensureDependencies

        ensureDependencies(requirementsPath)


#
# CCRCCStagingTest
#


class CCRCCStagingTest(ScriptedLoadableModuleTest):
    """The whole flow on the sample data, in Slicer: Reload and Test, or
    ``Slicer --python-code "import CCRCCStaging; CCRCCStaging.CCRCCStagingTest().runTest()"``."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_bundledModelPredictsAndTheReportIsExported()
        self.setUp()
        self.test_regionsOnlyWithoutAModel()
        self.setUp()
        self.test_errorLeavesSceneUnchanged()

    def _loadSample(self):
        import SampleData

        registerSampleData()
        volumeNode, segmentationNode = SampleData.downloadSamples("CCRCC sample")
        segmentId = segmentationNode.GetSegmentation().GetNthSegmentID(0)
        return volumeNode, segmentationNode, segmentId

    def _panel(self):
        """The module panel and its Logic (the one whose last analysis the Export report button uses)."""
        slicer.util.selectModule("CCRCCStaging")
        widget = slicer.util.getModuleWidget("CCRCCStaging")
        # In testing mode nothing is installed, but a missing package is named here rather than in a CLI traceback.
        widget.logic.ensureDependencies(Path(__file__).resolve().parent / "Resources" / "requirements.txt")
        return widget, widget.logic

    def _segmentNames(self, segmentationNode):
        segmentation = segmentationNode.GetSegmentation()
        return sorted(segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs())

    def test_bundledModelPredictsAndTheReportIsExported(self):
        self.delayDisplay("Loading the CCRCC sample")
        volumeNode, segmentationNode, tumourId = self._loadSample()
        tumourName = segmentationNode.GetSegmentation().GetSegment(tumourId).GetName()
        tumourBefore = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode).copy()
        widget, logic = self._panel()
        self.assertTrue((bundledModelDir() / MODEL_MANIFEST).is_file(), "the bundled model is not installed")
        modelInfo = readModelInfo(bundledModelDir())

        self.delayDisplay("Analysing with the bundled model (twice: the second run must replace the first one's "
                          "segments)")
        for run in range(2):
            analysis = logic.analyze(volumeNode, segmentationNode, tumourId, runner=QtCliRunner())
            result = analysis.result
            self.assertEqual(self._segmentNames(segmentationNode), sorted(
                [tumourName, f"Peritumoral {modelInfo.marginMm:g} mm",
                 *(f"Habitat {habitat}" for habitat in range(1, result["habitats_k"] + 1))]))
        self.assertTrue((slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
                         == tumourBefore).all())
        self.assertEqual(result["settings"]["margin_mm"], modelInfo.marginMm)
        self.assertTrue(result["model"]["demonstration"])
        self.assertTrue("t_stage_group" in result or "prediction_withheld" in result)
        self.assertGreater(analysis.featureTable.GetNumberOfRows(), 0)
        self.assertEqual(json.loads(logic.getParameterNode().GetParameter(RESULT_PARAMETER)), result)

        self.delayDisplay("The prediction in the module panel, with the demonstration-model notice")
        summary = resultSummary(result)
        if "t_stage_group" in result:
            self.assertEqual(widget.ui.tStageValueLabel.text, summary["tStage"])
            self.assertEqual(widget.ui.radscoreValueLabel.text, summary["radscore"])
        else:
            self.assertTrue(widget.ui.noPredictionLabel.text.startswith("Prediction withheld: "))
        self.assertFalse(widget.ui.demonstrationModelLabel.isHidden())
        self.assertEqual(widget.ui.demonstrationModelLabel.text, DEMONSTRATION_MODEL_NOTICE)
        self.assertEqual(widget.ui.habitatCountValueLabel.text, str(result["habitats_k"]))
        # Margin and habitats are the model's, shown read-only.
        self.assertFalse(widget.ui.marginSpinBox.enabled)
        self.assertAlmostEqual(widget.ui.marginSpinBox.value, modelInfo.marginMm)
        self.assertEqual(widget.ui.habitatsComboBox.currentText, modelInfo.habitats)
        self.assertTrue(widget.ui.exportReportButton.enabled)

        self.delayDisplay("Exporting the report")
        nodesBefore = slicer.mrmlScene.GetNumberOfNodes()
        folder = Path(tempfile.mkdtemp(prefix="CCRCCStagingTest-"))
        try:
            written = logic.exportReport(folder, runner=QtCliRunner())
            self.assertEqual(sorted(path.name for path in written if path.name in {
                "report.html", "report.pdf", *reportFiles.ANALYSIS_FILES}), sorted(
                ["report.html", "report.pdf", *reportFiles.ANALYSIS_FILES]))
            self.assertGreater((folder / "report.html").stat().st_size, 0)
            self.assertEqual((folder / "report.pdf").read_bytes()[:5], b"%PDF-")
            self.assertEqual(json.loads((folder / "result.json").read_text(encoding="utf-8")), result)
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), nodesBefore)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

        logic.showResults(volumeNode, segmentationNode, tumourId)
        logic.setGeneratedSegmentsVisible(segmentationNode, False)
        self.assertFalse(segmentationNode.GetDisplayNode().GetSegmentVisibility(analysis.segmentIds["peri"]))
        self.delayDisplay("Test passed")

    def test_regionsOnlyWithoutAModel(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        tumourName = segmentationNode.GetSegmentation().GetSegment(tumourId).GetName()
        widget, logic = self._panel()
        analysis = logic.analyze(volumeNode, segmentationNode, tumourId, model=MODEL_NONE, marginMm=2.0,
                                 habitats="3", runner=QtCliRunner())
        self.assertEqual(analysis.result["habitats_k"], 3)
        self.assertNotIn("model", analysis.result)
        self.assertEqual(self._segmentNames(segmentationNode), sorted(
            [tumourName, "Peritumoral 2 mm", "Habitat 1", "Habitat 2", "Habitat 3"]))
        self.assertEqual(widget.ui.noPredictionLabel.text, resultSummary(analysis.result)["noPrediction"])
        self.assertTrue(widget.ui.demonstrationModelLabel.isHidden())
        self.delayDisplay("Test passed")

    def test_errorLeavesSceneUnchanged(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        emptyId = segmentationNode.GetSegmentation().AddEmptySegment("", "Empty")
        segmentIdsBefore = list(segmentationNode.GetSegmentation().GetSegmentIDs())
        with self.assertRaises(AnalysisError) as raised:
            CCRCCStagingLogic().analyze(volumeNode, segmentationNode, emptyId, model=MODEL_NONE, runner=QtCliRunner())
        self.assertNotIn("\n", str(raised.exception))  # the CLI's one sentence
        self.assertEqual(list(segmentationNode.GetSegmentation().GetSegmentIDs()), segmentIdsBefore)
        self.delayDisplay("Test passed")
