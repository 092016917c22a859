"""CCRCC Staging: the 3D Slicer module of CCRCCStaging.

An adapter between MRML and the ``CCRCCStagingLib`` command line: it writes the CT and the radiologist's tumour
segment to a temporary folder, runs ``python -m CCRCCStagingLib.cli analyze`` in a child process (so that
Slicer's window never freezes), and turns the outputs back into segments, a table and the parameter node.
Everything scientific happens in the library.

The file imports without Slicer (only the standard library at import time) so that it can be checked by
plain Python, and its Logic runs on the ``slicer-core`` wheel's MRML outside the application (the tests).
"""

import collections
import importlib.metadata
import importlib.util
import json
import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

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
except ImportError:
    # Outside the application only the Logic is used. These stand-ins let the GUI classes be defined
    # (never instantiated) and give the Logic the same parameter node as Slicer's base class would.
    IN_SLICER_APP = False
    qt = None
    vtkMRMLScalarVolumeNode = vtkMRMLSegmentationNode = vtkMRMLTableNode = "vtkMRMLNode"

    def _(text):
        return text

    def parameterNodeWrapper(classtype):
        return classtype

    def Choice(choices):
        return choices

    def WithinRange(minimum, maximum):
        return (minimum, maximum)

    class _ApplicationOnly:
        """Base of the module, widget and test classes, which are defined here but used only in Slicer."""

    ScriptedLoadableModule = ScriptedLoadableModuleWidget = ScriptedLoadableModuleTest = _ApplicationOnly
    VTKObservationMixin = object

    class ScriptedLoadableModuleLogic:
        """What the Logic needs of Slicer's base class: the module's singleton parameter node."""

        def __init__(self):
            self.moduleName = type(self).__name__[: -len("Logic")]

        def getParameterNode(self):
            parameterNode = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if not parameterNode:
                parameterNode = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
                parameterNode.UnRegister(None)
                parameterNode.SetSingletonTag(self.moduleName)
                parameterNode.SetAttribute("ModuleName", self.moduleName)
                parameterNode.SetName(self.moduleName)
                parameterNode = slicer.mrmlScene.AddNode(parameterNode)
            return parameterNode


CITATION = (
    "Huang J-L, Liu Q, Wang C-L, et al. CT-based subregional and peritumoral radiomics for predicting "
    "pathological T stage of clear cell renal cell carcinoma. Insights Imaging 2026;17:50. "
    "doi:10.1186/s13244-026-02226-3"
)
CLINICAL_USE_NOTICE = "Research and demonstration use only, not for clinical use."
DEMONSTRATION_MODEL_NOTICE = "Demonstration model, not for clinical use."

#: Segment tags: which segments this module made (and may replace), and which region each one shows.
GENERATED_TAG = "CCRCCStaging.generated"
REGION_TAG = "CCRCCStaging.region"

#: Parameter-node entries the Logic writes; CCRCCStagingParameterNode declares them under the same names.
RESULT_PARAMETER = "resultJson"
FEATURE_TABLE_PARAMETER = "featureTable"

#: The CLI's exit code for a user mistake; it then prints one line ``error: <sentence>``.
EXIT_USER_ERROR = 2

# Okabe-Ito colours: told apart by colour-blind readers too, and fixed so that Habitat k looks the same in
# every case. The shell gets the yellow that none of the habitats uses.
HABITAT_COLORS = ((0.90, 0.62, 0.00), (0.34, 0.71, 0.91), (0.00, 0.62, 0.45), (0.80, 0.47, 0.65))
PERITUMORAL_COLOR = (0.94, 0.89, 0.26)

_PROGRESS_LINE = re.compile(r"^progress:\s*([0-9.]+)\s*(.*)$")
# "error: …" from the CLI, "ccrcc-staging analyze: error: …" from argparse.
_ERROR_LINE = re.compile(r"(?:^|: )error: (.*)$")
_HABITAT_REGION = re.compile(r"^sub(\d+)$")


class AnalysisError(Exception):
    """The analysis could not be done. The message is a sentence for the user (the CLI's own for a user mistake)."""


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
            "The habitats and the shell are added as segments to the tumour's segmentation.<br><br>"
            "Method: {citation}<br><br><b>{notice}</b> The bundled model is a demonstration model trained on "
            "synthetic data; train your own with <code>ccrcc-staging train</code>."
        ).format(citation=CITATION, notice=CLINICAL_USE_NOTICE)
        self.parent.acknowledgementText = _(
            "Implements the method of {citation}. Features are computed with PyRadiomics."
        ).format(citation=CITATION)
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data
#


def libraryRoot():
    """The folder holding ``CCRCCStagingLib/`` and the shared ``Resources/``: beside this file in the installed
    extension, one level up in a source checkout."""
    moduleDir = Path(__file__).resolve().parent
    for candidate in (moduleDir, moduleDir.parent):
        if (candidate / "CCRCCStagingLib" / "__init__.py").is_file():
            return candidate
    raise AnalysisError(f"CCRCCStagingLib was not found beside {moduleDir}; reinstall the CCRCCStaging extension.")


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
    modelPath - a model folder; empty for the bundled model.
    marginMm - width of the peritumoral shell.
    habitats - "auto" (2-4 by BIC) or a fixed count.
    showHabitats - whether the generated segments are shown.
    resultJson, featureTable - the last analysis (written by the Logic).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentationNode: vtkMRMLSegmentationNode
    segmentId: str = ""
    modelPath: str = ""
    marginMm: Annotated[float, WithinRange(0.5, 20.0)] = 3.0
    habitats: Annotated[str, Choice(["auto", "2", "3", "4"])] = "auto"
    showHabitats: bool = True
    resultJson: str = ""
    featureTable: vtkMRMLTableNode


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

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CCRCCStaging.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = CCRCCStagingLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # The segment selector and the path line edit have no parameterNodeWrapper connector: synced by hand.
        self.ui.segmentSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSegmentSelectionChanged)
        self.ui.segmentSelector.connect("currentSegmentChanged(QString)", self.onSegmentSelectionChanged)
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.onModelPathChanged)
        self.ui.analyzeButton.connect("clicked(bool)", self.onAnalyzeButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.showFeatureTableButton.connect("clicked(bool)", self.onShowFeatureTableButton)
        # showHabitats is bound to the check box; this applies it to the segments.
        self.ui.showHabitatsCheckBox.connect("toggled(bool)", self.onShowHabitatsToggled)

        self.ui.clinicalUseLabel.text = CLINICAL_USE_NOTICE
        self._setRunning(False)
        self.initializeParameterNode()

    def cleanup(self):
        if self._runner:
            self._runner.cancel()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        if self._runner:
            self._runner.cancel()
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
        wasBlocked = self.ui.segmentSelector.blockSignals(True)
        self.ui.segmentSelector.setCurrentNode(parameterNode.segmentationNode)
        self.ui.segmentSelector.setCurrentSegmentID(parameterNode.segmentId)
        self.ui.segmentSelector.blockSignals(wasBlocked)
        wasBlocked = self.ui.modelPathLineEdit.blockSignals(True)
        self.ui.modelPathLineEdit.currentPath = parameterNode.modelPath
        self.ui.modelPathLineEdit.blockSignals(wasBlocked)

        canAnalyze = bool(parameterNode.inputVolume and parameterNode.segmentationNode and parameterNode.segmentId)
        self.ui.analyzeButton.enabled = canAnalyze and not self._runner
        self.ui.analyzeButton.toolTip = (
            _("Build the habitats and the shell, extract features and predict the T stage group")
            if canAnalyze else _("Select the CT and the tumour segment"))

        self._showResult(json.loads(parameterNode.resultJson) if parameterNode.resultJson else None)

    def _showResult(self, result):
        self.ui.resultsCollapsibleButton.enabled = result is not None
        summary = resultSummary(result) if result else {}
        rows = (
            (self.ui.tStageLabel, self.ui.tStageValueLabel, summary.get("tStage")),
            (self.ui.radscoreLabel, self.ui.radscoreValueLabel, summary.get("radscore")),
            (self.ui.habitatCountLabel, self.ui.habitatCountValueLabel, summary.get("habitats")),
            (self.ui.regionVolumesLabel, self.ui.regionVolumesValueLabel, summary.get("volumes")),
            (self.ui.warningsLabel, self.ui.warningsValueLabel, summary.get("warnings")),
        )
        for nameLabel, valueLabel, text in rows:
            nameLabel.visible = valueLabel.visible = text is not None
            valueLabel.text = text or ""
        # A result without a model (none bundled or chosen yet) has regions and features but no prediction.
        self.ui.noPredictionLabel.visible = result is not None and summary.get("tStage") is None
        self.ui.demonstrationModelLabel.visible = summary.get("notice") is not None
        self.ui.demonstrationModelLabel.text = summary.get("notice") or ""
        self.ui.showFeatureTableButton.enabled = bool(self._parameterNode and self._parameterNode.featureTable)

    def onSegmentSelectionChanged(self, *unused):
        if self._parameterNode:
            segmentationNode = self.ui.segmentSelector.currentNode()
            segmentId = self.ui.segmentSelector.currentSegmentID() or ""
            # Both set before the GUI is updated from them: a half-updated pair would reset the selector.
            with slicer.util.NodeModify(self._parameterNode.parameterNode):
                self._parameterNode.segmentationNode = segmentationNode
                self._parameterNode.segmentId = segmentId

    def onModelPathChanged(self, path):
        if self._parameterNode:
            self._parameterNode.modelPath = path

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
        if running:
            self.ui.statusLabel.text = _("Starting…")

    def _onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message

    def onAnalyzeButton(self):
        parameterNode = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Analysis failed."), waitCursor=False):
            self.logic.ensureDependencies(self.resourcePath("requirements.txt"))
            self._runner = self.logic.defaultRunner()
            self._setRunning(True)
            try:
                analysis = self.logic.analyze(
                    parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId,
                    marginMm=parameterNode.marginMm, habitats=parameterNode.habitats,
                    modelPath=parameterNode.modelPath or None, runner=self._runner, onProgress=self._onProgress)
            finally:
                self._runner = None
                self._setRunning(False)
                self.updateGUIFromParameterNode()
            if analysis is None:
                self.ui.statusLabel.text = _("Cancelled; nothing was changed.")
                return
            self.ui.statusLabel.text = _("Done.")
            self.logic.showResults(parameterNode.inputVolume, parameterNode.segmentationNode, parameterNode.segmentId)
            self.logic.setGeneratedSegmentsVisible(parameterNode.segmentationNode, parameterNode.showHabitats)

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


def resultSummary(result):
    """Texts for the Results panel from a ``result.json`` dict; None for what the result does not hold.

    The prediction keys (``t_stage_group``, ``radscore``, ``model`` …) are present only when a model was used.
    """
    summary = {"tStage": None, "radscore": None, "notice": None}
    if "t_stage_group" in result:
        group = {"low": "T1–T2", "high": "T3–T4"}[result["t_stage_group"]]
        summary["tStage"] = (f"{group} (P(T3–T4) = {result['probability_high']:.2f}, "
                             f"threshold {result['threshold']:.2f})")
    if "radscore" in result:
        summary["radscore"] = (f"{result['radscore']:.3f} (cutoff {result['radscore_cutoff']:.3f}): "
                               f"{result['risk_group']}-risk group")
    if "model" in result and result["model"].get("demonstration", True):
        # Unless a model says it is not a demonstration model, the notice is shown.
        summary["notice"] = DEMONSTRATION_MODEL_NOTICE
    summary["habitats"] = str(result["habitats_k"])
    marginMm = result.get("settings", {}).get("margin_mm", 3.0)
    summary["volumes"] = ", ".join(
        f"{regionDisplayName(region, marginMm)} {values['volume_ml']:.2f} mL"
        for region, values in sorted(result["regions"].items(), key=lambda item: _regionOrder(item[0])))
    summary["warnings"] = "\n".join(result["warnings"]) if result.get("warnings") else None
    return summary


def regionDisplayName(region, marginMm):
    """The segment name of a library region: ``whole`` → Tumour, ``subK`` → Habitat K, ``peri`` → Peritumoral 3 mm."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return f"Habitat {habitat.group(1)}"
    return {"whole": "Tumour", "peri": f"Peritumoral {marginMm:g} mm"}.get(region, region)


def regionColor(region):
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return HABITAT_COLORS[(int(habitat.group(1)) - 1) % len(HABITAT_COLORS)]
    return PERITUMORAL_COLOR


def _regionOrder(region):
    """whole, sub1, sub2, …, peri, then anything else."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return (1, int(habitat.group(1)), region)
    return ({"whole": 0, "peri": 2}.get(region, 3), 0, region)


#
# Running the CLI
#


class CliRunner:
    """Runs a command as a child process and hands each line of its output (stdout and stderr merged) to
    ``onLine``. ``run`` blocks until the process ends and returns its exit code, or None if ``cancel`` was
    called. The output is read on a thread, so a chatty child can never block on a full pipe, and ``cancel``
    may be called from ``onLine`` or from a GUI slot while ``run`` waits."""

    def __init__(self):
        self._process = None
        self._cancelled = False

    def run(self, args, env, onLine):
        self._cancelled = False
        self._process = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace",
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console window on Windows
        lines = queue.Queue()
        threading.Thread(target=self._readLines, args=(self._process.stdout, lines), daemon=True).start()
        self._deliverLines(lines, onLine)
        exitCode = self._process.wait()
        return None if self._cancelled else exitCode

    def cancel(self):
        self._cancelled = True
        if self._process and self._process.poll() is None:
            self._process.terminate()

    @staticmethod
    def _readLines(stream, lines):
        for line in stream:
            lines.put(line.rstrip("\r\n"))
        lines.put(None)

    def _deliverLines(self, lines, onLine):
        for line in iter(lines.get, None):
            onLine(line)


class QtCliRunner(CliRunner):
    """The same, but it waits in a local Qt event loop, so that Slicer's window keeps repainting and the
    Cancel button stays clickable while the analysis runs."""

    def _deliverLines(self, lines, onLine):
        loop = qt.QEventLoop()
        timer = qt.QTimer()
        timer.setInterval(50)

        def deliver():
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    return
                if line is None:
                    timer.stop()
                    loop.quit()
                    return
                onLine(line)

        timer.connect("timeout()", deliver)
        timer.start()
        loop.exec_()


class _CliOutput:
    """Reads the CLI's output: progress lines for the progress bar, the one-line error sentence, and the last
    lines for a report when the CLI fails in a way it did not foresee."""

    def __init__(self, onProgress):
        self._onProgress = onProgress
        self._errorSentence = None
        self._lastLines = collections.deque(maxlen=20)

    def addLine(self, line):
        progress = _PROGRESS_LINE.match(line)
        if progress:
            if self._onProgress:
                self._onProgress(min(max(float(progress.group(1)), 0.0), 1.0), progress.group(2))
            return
        error = _ERROR_LINE.search(line)
        if error:
            self._errorSentence = error.group(1).strip()
        self._lastLines.append(line)
        logging.info(f"ccrcc-staging: {line}")

    def failure(self, exitCode):
        if exitCode == EXIT_USER_ERROR and self._errorSentence:
            return AnalysisError(self._errorSentence)
        return AnalysisError(
            f"The analysis stopped unexpectedly (exit code {exitCode}). Last output:\n" + "\n".join(self._lastLines))


#
# CCRCCStagingLogic
#


@dataclass
class AnalysisResult:
    result: dict  # result.json as the CLI wrote it
    segmentIds: dict  # region name ("sub1", "peri", …) → ID of its segment in the segmentation
    featureTable: object  # vtkMRMLTableNode


class CCRCCStagingLogic(ScriptedLoadableModuleLogic):
    """Runs the analysis on MRML nodes; no widgets. From Slicer's Python console::

        logic = slicer.util.getModuleLogic("CCRCCStaging")
        analysis = logic.analyze(getNode("CT"), getNode("Segmentation"), "Segment_1")
    """

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)

    def analyze(self, volumeNode, segmentationNode, segmentId, marginMm=3.0, habitats="auto", modelPath=None,
                runner=None, onProgress=None):
        """Habitats, peritumoral shell, features and (with a model) prediction for one tumour segment.

        Adds the segments "Peritumoral <margin> mm" and "Habitat 1" … "Habitat K" to ``segmentationNode``,
        replacing those of an earlier run; never changes any other segment. Fills the feature table and writes
        the result to the parameter node. Returns an AnalysisResult, or None if ``runner`` was cancelled (the
        scene is then as it was). Raises AnalysisError, scene unchanged, when the analysis cannot be done.
        ``onProgress(fraction, message)`` follows the CLI's progress.
        """
        self._checkInputs(volumeNode, segmentationNode, segmentId)
        runner = runner or self.defaultRunner()
        workDir = Path(tempfile.mkdtemp(prefix="CCRCCStaging-"))
        try:
            imagePath, maskPath = self._writeInputs(volumeNode, segmentationNode, segmentId, workDir)
            outDir = workDir / "out"
            command = [*self.cliCommand(), "analyze", str(imagePath), str(maskPath), "--out", str(outDir),
                       "--label", "1", "--habitats", str(habitats), "--margin-mm", f"{marginMm:g}"]
            if modelPath:
                command += ["--model", str(modelPath)]
            output = _CliOutput(onProgress)
            exitCode = runner.run(command, self.cliEnvironment(), output.addLine)
            if exitCode is None:
                return None
            if exitCode != 0:
                raise output.failure(exitCode)
            # Read everything before touching the scene, so that a broken output leaves it unchanged.
            result = json.loads((outDir / "result.json").read_text(encoding="utf-8"))
            features = self._readFeatures(outDir / "features.csv", result)
            regionsImage = self._readRegions(outDir / "regions.nrrd")
            if not slicer.mrmlScene.IsNodePresent(segmentationNode):
                raise AnalysisError("The segmentation was removed during the analysis; nothing was added.")
            with slicer.util.NodeModify(segmentationNode):
                segmentIds = self._replaceGeneratedSegments(
                    segmentationNode, regionsImage, result, marginMm, volumeNode.GetParentTransformNode())
            featureTable = self._storeResult(result, features)
            return AnalysisResult(result, segmentIds, featureTable)
        finally:
            shutil.rmtree(workDir, ignore_errors=True)

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
    def _writeInputs(volumeNode, segmentationNode, segmentId, workDir):
        """The CT and the segment resampled onto the CT's own grid, as NRRD files the CLI reads in one space."""
        # Named after the volume: the CLI takes the case ID in result.json from the image's file name.
        caseId = re.sub(r"[^\w.-]+", "_", volumeNode.GetName() or "").strip("._") or "image"
        (workDir / "image").mkdir()
        imagePath, maskPath = workDir / "image" / f"{caseId}.nrrd", workDir / "mask.nrrd"
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
                raise AnalysisError(f"Could not write {path.name} to the temporary folder {workDir}.")
        return imagePath, maskPath

    @staticmethod
    def _readFeatures(path, result):
        """(region, feature, value) rows from features.csv, whose columns are ``<region>_<feature>``."""
        import csv

        with open(path, newline="", encoding="utf-8") as file:
            header, values = list(csv.reader(file))[:2]
        rows = []
        for column, value in zip(header, values):
            region, _separator, feature = column.partition("_")
            if region in result["regions"]:  # skips identifiers such as case_id
                rows.append((region, feature, float(value) if value else float("nan")))
        return rows

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

    def _replaceGeneratedSegments(self, segmentationNode, regionsImage, result, marginMm, volumeTransformNode):
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
            segment.SetName(regionDisplayName(region, marginMm))
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
        """Installs what the library needs into Slicer's Python on first use, after asking. Slicer's own numpy,
        SimpleITK and VTK are pinned so pip cannot replace them. PyRadiomics comes from the SlicerRadiomics
        extension: it has no wheel for Slicer's Python and building it needs a compiler."""
        with tempfile.TemporaryDirectory(prefix="CCRCCStaging-") as folder:
            constraintsPath = Path(folder) / "slicer-constraints.txt"
            constraintsPath.write_text("".join(f"{name}=={version}\n" for name, version in _installedCorePackages()))
            try:
                from slicer import packaging  # Slicer >= 5.11: asks, shows progress, offers a restart
            except ImportError:
                missing = _missingRequirements(requirementsPath)
                if missing and slicer.util.confirmOkCancelDisplay(
                        _("CCRCC Staging needs these Python packages, which will be installed now:\n\n{packages}")
                        .format(packages="\n".join(missing)), windowTitle=_("CCRCC Staging")):
                    slicer.util.pip_install(["-c", str(constraintsPath), *missing])
                elif missing:
                    raise AnalysisError("The analysis needs Python packages that were not installed: "
                                        + ", ".join(missing) + ".")
            else:
                packaging.pip_ensure(packaging.load_requirements(requirementsPath),
                                     constraints=constraintsPath, requester="CCRCC Staging")
        if importlib.util.find_spec("radiomics") is None:
            raise AnalysisError("PyRadiomics is missing from Slicer's Python. Install the SlicerRadiomics extension "
                                "with the Extensions Manager, restart Slicer and analyse again.")


def _installedCorePackages():
    for name in ("numpy", "SimpleITK", "vtk"):
        try:
            yield name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # e.g. VTK, which Slicer does not install with pip
            continue


def _missingRequirements(requirementsPath):
    """Lines of requirements.txt whose distribution is not installed (Slicer < 5.11, without slicer.packaging)."""
    missing = []
    for line in Path(requirementsPath).read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


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
        self.test_analyzeSampleCase()
        self.setUp()
        self.test_errorLeavesSceneUnchanged()

    def _loadSample(self):
        import SampleData

        registerSampleData()
        volumeNode, segmentationNode = SampleData.downloadSamples("CCRCC sample")
        segmentId = segmentationNode.GetSegmentation().GetNthSegmentID(0)
        return volumeNode, segmentationNode, segmentId

    def test_analyzeSampleCase(self):
        self.delayDisplay("Loading the CCRCC sample")
        volumeNode, segmentationNode, tumourId = self._loadSample()
        segmentation = segmentationNode.GetSegmentation()
        tumourBefore = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode).copy()
        logic = CCRCCStagingLogic()
        # In testing mode nothing is installed, but a missing package is named here rather than in a CLI traceback.
        logic.ensureDependencies(Path(__file__).resolve().parent / "Resources" / "requirements.txt")

        self.delayDisplay("Analysing (twice: the second run must replace the first one's segments)")
        for run in range(2):
            analysis = logic.analyze(volumeNode, segmentationNode, tumourId, runner=QtCliRunner())
            k = analysis.result["habitats_k"]
            names = sorted(segmentation.GetSegment(segmentId).GetName() for segmentId in segmentation.GetSegmentIDs())
            expected = sorted([segmentation.GetSegment(tumourId).GetName(), "Peritumoral 3 mm",
                               *(f"Habitat {habitat}" for habitat in range(1, k + 1))])
            self.assertEqual(names, expected)
        self.assertTrue((slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, tumourId, volumeNode)
                         == tumourBefore).all())
        self.assertGreater(analysis.featureTable.GetNumberOfRows(), 0)
        self.assertEqual(json.loads(logic.getParameterNode().GetParameter(RESULT_PARAMETER)), analysis.result)

        self.delayDisplay("Showing the result in the module panel")
        slicer.util.selectModule("CCRCCStaging")
        widget = slicer.util.getModuleWidget("CCRCCStaging")
        summary = resultSummary(analysis.result)
        self.assertEqual(widget.ui.habitatCountValueLabel.text, str(k))
        if summary["tStage"] is not None:  # a bundled model exists
            self.assertEqual(widget.ui.tStageValueLabel.text, summary["tStage"])
            self.assertEqual(widget.ui.demonstrationModelLabel.isHidden(), summary["notice"] is None)
        else:
            self.assertFalse(widget.ui.noPredictionLabel.isHidden())
        logic.showResults(volumeNode, segmentationNode, tumourId)
        logic.setGeneratedSegmentsVisible(segmentationNode, False)
        self.assertFalse(segmentationNode.GetDisplayNode().GetSegmentVisibility(analysis.segmentIds["peri"]))
        self.delayDisplay("Test passed")

    def test_errorLeavesSceneUnchanged(self):
        volumeNode, segmentationNode, tumourId = self._loadSample()
        emptyId = segmentationNode.GetSegmentation().AddEmptySegment("", "Empty")
        segmentIdsBefore = list(segmentationNode.GetSegmentation().GetSegmentIDs())
        with self.assertRaises(AnalysisError) as raised:
            CCRCCStagingLogic().analyze(volumeNode, segmentationNode, emptyId, runner=QtCliRunner())
        self.assertNotIn("\n", str(raised.exception))  # the CLI's one sentence
        self.assertEqual(list(segmentationNode.GetSegmentation().GetSegmentIDs()), segmentIdsBefore)
        self.delayDisplay("Test passed")
