"""The module's Logic: the analysis and the report export on MRML nodes, no widgets.

Each is a task (``prepareAnalysis`` → ``AnalysisTask``, ``prepareReport`` → ``export.ReportTask``) that the panel runs
in the background (``background.RunSlot``) and that ``analyze`` / ``exportReport`` run blocking (the Python console,
the tests). The command runs in the warm worker (``worker``) unless a runner is given or ``useWorker`` is off, then
in a process of its own (``runner.CliRunner``).
"""

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import AnalysisError, segments
from . import export as reportFiles
from .dependencies import ensureDependencies
from .resources import bundledModelDir, libraryRoot
from .results import MODEL_BUNDLED, MODEL_FOLDER, MODEL_MANIFEST, MODEL_NONE, readFeatureRows, readModelInfo
from .runner import PROGRESS_ENV, CliOutput, CliRunner
from .slicerApp import IN_SLICER_APP, ScriptedLoadableModuleLogic, slicer
from .worker import WorkerClient, WorkerRunner

#: Parameter-node entries the Logic writes; CCRCCStagingParameterNode declares them under the same names.
RESULT_PARAMETER = "resultJson"
FEATURE_TABLE_PARAMETER = "featureTable"
#: Region settings of an analysis without a model (with a model they are the model's).
DEFAULT_MARGIN_MM = 3.0
DEFAULT_HABITATS = "auto"


@dataclass
class AnalysisResult:
    result: dict  # result.json as the CLI wrote it
    segmentIds: dict  # region name ("sub1", "peri", …) → ID of its segment in the segmentation
    featureTable: object  # vtkMRMLTableNode
    outputDir: Path  # the CLI's output folder, kept until the next analysis (Logic.lastOutputDir)


class AnalysisTask:
    """One analysis between writing its inputs and changing the scene: ``command`` (``analyze`` on the written CT
    and mask), ``addLine`` for its output, ``finish(exitCode)`` on the GUI thread, ``discard``."""

    def __init__(self, logic, nodes, workDir, modelOptions, onProgress):
        self._logic, self.nodes, self.workDir = logic, nodes, workDir
        self._kept = False
        try:
            imagePath, maskPath = segments.writeInputs(*nodes, workDir / "inputs")
        except BaseException:
            self.discard()
            raise
        self.outputDir = workDir / "out"
        # The report is made on Export report, from the kept output folder.
        self.command = [*logic.cliCommand(), "analyze", str(imagePath), str(maskPath), "--out", str(self.outputDir),
                        "--label", "1", "--report", "none", *modelOptions]
        self.environment = logic.cliEnvironment()
        self._output = CliOutput(onProgress)

    def addLine(self, line):
        self._output.addLine(line)

    def finish(self, exitCode):
        """The analysis into the scene: its segments, the feature table and the result; None when cancelled (None).
        Everything is read before the scene is touched, so that a broken output leaves it unchanged."""
        if exitCode is None:
            return None
        if exitCode != 0:
            raise self._output.failure(exitCode)
        volumeNode, segmentationNode, _segmentId = self.nodes
        result = json.loads((self.outputDir / "result.json").read_text(encoding="utf-8"))
        features = readFeatureRows(self.outputDir / "features.csv", result)
        regionsImage = segments.readRegions(self.outputDir / "regions.nrrd")
        if not slicer.mrmlScene.IsNodePresent(segmentationNode) or not slicer.mrmlScene.IsNodePresent(volumeNode):
            raise AnalysisError("The CT or the segmentation was removed during the analysis; nothing was added.")
        with slicer.util.NodeModify(segmentationNode):
            segmentIds = segments.replaceGeneratedSegments(
                segmentationNode, regionsImage, result, volumeNode.GetParentTransformNode())
        # This is now the last analysis: its outputs are kept for the report (before the result is stored, so that
        # the panel, updated from the parameter node, offers the export). The CT and mask copies go.
        self._kept = True
        shutil.rmtree(self.workDir / "inputs", ignore_errors=True)
        self._logic.keepAnalysis(self.workDir)
        featureTable = self._logic.storeResult(result, features)
        return AnalysisResult(result, segmentIds, featureTable, self.outputDir)

    def discard(self):
        if not self._kept:
            shutil.rmtree(self.workDir, ignore_errors=True)


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
        #: Run commands in the warm worker (else in a process of their own each).
        self.useWorker = True
        self._worker = None

    #
    # Running commands
    #

    def newRunner(self):
        """A runner for one run: through the warm worker (started by its first request), or a process of its own."""
        if not self.useWorker:
            return CliRunner()
        if self._worker is None:
            self._worker = WorkerClient(self.cliCommand())
        return WorkerRunner(self._worker)

    @property
    def worker(self):
        """The warm worker's client (None before the first run through it)."""
        return self._worker

    def runTask(self, task, runner=None):
        """Run a task blocking; its outcome (None when ``runner`` was cancelled)."""
        runner = runner or self.newRunner()
        try:
            return task.finish(runner.run(task.command, task.environment, task.addLine))
        finally:
            task.discard()

    def shutdown(self):
        """Stop the warm worker (Reload, application quit); the next run starts a new one."""
        if self._worker is not None:
            self._worker.stop()

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
        # Progress arrives as it is printed, as lines the runners read, and non-ASCII output cannot fail on a Windows
        # code page.
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        env[PROGRESS_ENV] = "lines"
        return env

    def ensureDependencies(self, requirementsPath, prompt=True):
        """Installs what the library needs into Slicer's Python on first use, after asking (never replacing
        Slicer's numpy, SimpleITK or VTK); PyRadiomics must come from the SlicerRadiomics extension."""
        ensureDependencies(requirementsPath, prompt=prompt)

    #
    # The analysis
    #

    def prepareAnalysis(self, volumeNode, segmentationNode, segmentId, model=MODEL_BUNDLED, marginMm=None,
                        habitats=None, onProgress=None):
        """The task of ``analyze`` (its inputs written); raises AnalysisError, nothing written, when it cannot run."""
        segments.checkInputs(volumeNode, segmentationNode, segmentId)
        modelOptions = self._modelOptions(model, marginMm, habitats)
        workDir = Path(tempfile.mkdtemp(prefix="CCRCCStaging-"))
        return AnalysisTask(self, (volumeNode, segmentationNode, segmentId), workDir, modelOptions, onProgress)

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
        task = self.prepareAnalysis(volumeNode, segmentationNode, segmentId, model, marginMm, habitats, onProgress)
        return self.runTask(task, runner)

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
            checkBundledModel(bundledModelDir())
            return []  # the CLI's default
        if not Path(model).is_dir():
            raise AnalysisError(f"The model folder {model} does not exist.")
        return ["--model", str(Path(model).resolve())]

    @property
    def lastOutputDir(self):
        """The output folder of the last successful analysis (result.json, features.csv, regions.nrrd,
        ct_box.nrrd), or None. Kept until the next successful analysis or discardLastAnalysis (scene close)."""
        return self._lastWorkDir / "out" if self._lastWorkDir else None

    def keepAnalysis(self, workDir):
        """``workDir`` holds the last successful analysis from now on (the previous one is deleted)."""
        self.discardLastAnalysis()
        self._lastWorkDir = workDir

    def discardLastAnalysis(self):
        """Delete the last analysis' output folder (the scene keeps its segments, table and result)."""
        if self._lastWorkDir:
            shutil.rmtree(self._lastWorkDir, ignore_errors=True)
            self._lastWorkDir = None

    def storeResult(self, result, features):
        """The features into the module's table node and the result into the parameter node; returns the table."""
        parameterNode = self.getParameterNode()
        tableNode = parameterNode.GetNodeReference(FEATURE_TABLE_PARAMETER)
        if not tableNode:
            tableNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "CCRCC features")
        segments.fillFeatureTable(tableNode, features)
        with slicer.util.NodeModify(parameterNode):
            parameterNode.SetParameter(RESULT_PARAMETER, json.dumps(result))
            # As parameterNodeWrapper stores a node: an empty parameter marks it set, the reference holds it.
            parameterNode.SetParameter(FEATURE_TABLE_PARAMETER, "")
            parameterNode.SetNodeReferenceID(FEATURE_TABLE_PARAMETER, tableNode.GetID())
        return tableNode

    generatedSegmentIds = staticmethod(segments.generatedSegmentIds)
    setGeneratedSegmentsVisible = staticmethod(segments.setGeneratedSegmentsVisible)
    showResults = staticmethod(segments.showResults)

    #
    # Models
    #

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
            checkBundledModel(modelDir)
        return readModelInfo(modelDir)

    #
    # The report
    #

    def reportConflict(self, targetFolder, includeIdentifiers=True):
        """Why exporting the last analysis' report to ``targetFolder`` would replace another case's files (a
        sentence to show before asking), or None."""
        return reportFiles.reportConflict(targetFolder, self._lastResult(), includeIdentifiers)

    def prepareReport(self, targetFolder, formats=("html", "pdf"), includeIdentifiers=True, onProgress=None,
                      overwrite=False):
        """The task of ``exportReport`` (its staging folder made); raises as ``exportReport``."""
        self._lastResult()  # there is one
        return reportFiles.ReportTask(self.lastOutputDir, targetFolder, formats, includeIdentifiers, overwrite,
                                      self.cliCommand(), self.cliEnvironment(), onProgress)

    def exportReport(self, targetFolder, formats=("html", "pdf"), includeIdentifiers=True, runner=None,
                     onProgress=None, overwrite=False):
        """Write the report of the last successful analysis to ``targetFolder``: report.html / report.pdf (per
        ``formats``) with result.json, features.csv, regions.nrrd and ct_box.nrrd, rendered by ``ccrcc-staging
        report`` (``runner``, as for analyze). Without identifiers, the case ID is left out of the report and of the
        exported result.json and features.csv.

        Never touches the scene. Raises ReportExistsError when the folder holds another case's report or analysis
        files, unless ``overwrite``; AnalysisError when there is nothing to report or the report step fails (the
        folder is then as it was). Returns the written paths, or None if ``runner`` was cancelled."""
        task = self.prepareReport(targetFolder, formats, includeIdentifiers, onProgress, overwrite)
        return self.runTask(task, runner)

    def _lastResult(self):
        outputDir = self.lastOutputDir
        if not outputDir or not (outputDir / reportFiles.RESULT_FILE).is_file():
            raise AnalysisError("There is no analysis to report: analyse the case first (a report is made from an "
                                "analysis of this session).")
        return json.loads((outputDir / reportFiles.RESULT_FILE).read_text(encoding="utf-8"))


def checkBundledModel(modelDir):
    if not (Path(modelDir) / MODEL_MANIFEST).is_file():
        raise AnalysisError(
            f"The bundled model is missing from this installation ({modelDir}). Reinstall the CCRCCStaging "
            "extension, choose a model folder, or analyse without a model.")
