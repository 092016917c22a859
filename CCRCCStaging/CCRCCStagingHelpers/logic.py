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
from . import batch as batchSteps
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
        #: The last batch (its table node, rows and case folders), kept until the next batch or scene close.
        self.batch = None

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

    #
    # Many cases: the batch
    #

    def prepareBatch(self, folder=None, model=MODEL_BUNDLED, scenePairs=None):
        """A batch of the cases of ``folder`` (a folder of cases by the library's naming rules, or a manifest CSV),
        or else of ``scenePairs`` — ``[(case ID, CT volume, segmentation, segment ID)]``, by default those of
        ``batch.scenePairs`` (each segmentation with its reference CT and one tumour segment) —, which are written to
        files first. The same folder again reuses the earlier batch's finished cases (``predict``'s resume key).
        Its table node holds one row per case once the cases are listed. Raises AnalysisError with a sentence."""
        modelOptions = self._batchModelOptions(model)
        if folder is not None:
            folder = Path(folder)
            if not folder.exists():
                raise AnalysisError(f"{folder} does not exist: choose a folder of cases or a manifest.")
            previous, workDir = self.batch, None
            if previous and previous.source == folder.resolve() and not previous.sceneCases:
                workDir = previous.workDir  # kept: its finished cases are not computed again
                self.batch = None
                previous.cancel()
            batch = batchSteps.Batch(folder.resolve(), workDir or tempfile.mkdtemp(prefix="CCRCCStaging-batch-"),
                                     modelOptions, f"CCRCCStaging predictions: {folder.name}")
            if previous and workDir:
                batch.tableNode = previous.tableNode
        else:
            skipped = []
            if scenePairs is None:
                scenePairs, skipped = batchSteps.scenePairs(slicer.mrmlScene)
            if not scenePairs:
                raise AnalysisError("No CT with its tumour segmentation in the scene" +
                                    (f" ({'; '.join(skipped)})." if skipped else "."))
            workDir = Path(tempfile.mkdtemp(prefix="CCRCCStaging-batch-"))
            try:
                batchSteps.writeScenePairs(scenePairs, workDir / "inputs")
            except BaseException:
                shutil.rmtree(workDir, ignore_errors=True)
                raise
            sceneCases = {caseId: (volume.GetID(), segmentation.GetID(), segmentId)
                          for caseId, volume, segmentation, segmentId in scenePairs}
            batch = batchSteps.Batch(workDir / "inputs", workDir, modelOptions, "CCRCCStaging predictions: scene",
                                     sceneCases, skipped)
        tableNode = batch.tableNode or self._batchTableNode()
        self.discardBatch()
        batch.tableNode = tableNode
        batchSteps.fillBatchTable(tableNode, [])
        self.batch = batch
        return batch

    def _batchModelOptions(self, model):
        if model is None or model == MODEL_NONE:
            raise AnalysisError("A batch predicts the T stage of every case: choose the bundled model or a model "
                                "folder.")
        return self._modelOptions(model, None, None)

    def _batchTableNode(self):
        tableNode = self.batch.tableNode if self.batch else None
        if tableNode is None or not slicer.mrmlScene.IsNodePresent(tableNode):
            tableNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", batchSteps.BATCH_TABLE_NAME)
        return tableNode

    def discardBatch(self):
        """Delete the last batch's working folder (scene close, a new batch); its table node stays in the scene."""
        if self.batch is not None:
            self.batch.cancel()
            self.batch.discard()
            self.batch = None

    def batchListTask(self, batch):
        return batchSteps.CaseListTask(batch, self.cliCommand(), self.cliEnvironment())

    def batchCaseTask(self, batch, index, onProgress=None):
        return batchSteps.CaseTask(batch, index, self.cliCommand(), self.cliEnvironment(), onProgress)

    def runBatch(self, batch, onProgress=None, onCaseDone=None):
        """Every pending case of ``batch``, one after another through the warm worker, blocking: its rows (in the
        table node). ``batch.cancel()`` from another thread (or a callback) stops the running case and the rest
        (their status: not run). ``onProgress(overall, case, message)``; ``onCaseDone(index)`` after each case. Raises
        AnalysisError when the cases cannot be listed (the input or the model is unusable)."""
        if batch.cases is None and not self._runBatchStep(batch, self.batchListTask(batch)):
            batch.markNotRun()
            return batch.rows
        toRun = batch.pendingIndexes()
        for position, index in enumerate(toRun):
            if batch.cancelled:
                break
            caseId = batch.rows[index]["case_id"]

            def caseProgress(fraction, message, position=position, caseId=caseId):
                if onProgress:
                    onProgress((position + fraction) / len(toRun), fraction,
                               f"Case {position + 1} of {len(toRun)} ({caseId}): {message}")

            task = self.batchCaseTask(batch, index, caseProgress)
            try:
                self._runBatchStep(batch, task)
            except AnalysisError as error:  # the step could not run (the worker did not start …): this case fails
                task.fail(error)
            if onCaseDone and not batch.cancelled:
                onCaseDone(index)
        if batch.cancelled:
            batch.markNotRun()
        return batch.rows

    def _runBatchStep(self, batch, task):
        runner = self.newRunner()
        batch.useRunner(runner)
        return self.runTask(task, runner)

    def prepareBatchExport(self, folder, formats=("html", "pdf"), includeIdentifiers=True, onProgress=None,
                           overwrite=False, batch=None):
        """The task of ``exportBatch`` (the finished cases copied to its staging folder)."""
        batch = batch or self.batch
        if batch is None:
            raise AnalysisError("There is no batch to export: run a batch first.")
        return batchSteps.BatchExportTask(batch, folder, formats, includeIdentifiers, overwrite, self.cliCommand(),
                                          self.cliEnvironment(), onProgress)

    def exportBatch(self, folder, formats=("html", "pdf"), includeIdentifiers=True, runner=None, onProgress=None,
                    overwrite=False, batch=None):
        """Write every finished case's report with ``predictions.csv`` and the ``index.html`` dashboard to ``folder``
        (as ``ccrcc-staging predict`` lays them out: ``cases/<case>/``), all at once when everything is written.
        Raises ReportExistsError when ``folder`` holds an earlier batch export (unless ``overwrite``); returns the
        written paths, or None if ``runner`` was cancelled (the folder is then as it was)."""
        return self.runTask(self.prepareBatchExport(folder, formats, includeIdentifiers, onProgress, overwrite, batch),
                            runner)

    def loadBatchCase(self, caseId, batch=None):
        """Show a finished case of the batch as Analyze shows one: its CT and segmentation (the scene's own nodes for
        scene pairs; read from the case's files otherwise) with the habitats and the shell, its result in the Results
        section and as the analysis Export report writes. Returns (AnalysisResult, (volume, segmentation, segment
        ID)). The radiologist's segments are never changed."""
        batch = batch or self.batch
        if batch is None:
            raise AnalysisError("There is no batch: run a batch first.")
        case, row = batch.case(caseId)
        if not batchSteps.isFinished(row):
            raise AnalysisError(f"{caseId} has no result ({row['status']}{': ' + row['error'] if row.get('error') else ''}).")
        caseDir = batch.caseDir(caseId)
        result = json.loads((caseDir / reportFiles.RESULT_FILE).read_text(encoding="utf-8"))
        features = readFeatureRows(caseDir / reportFiles.FEATURES_FILE, result)
        regionsImage = segments.readRegions(caseDir / "regions.nrrd")
        if caseId in batch.sceneCases:
            volumeId, segmentationId, segmentId = batch.sceneCases[caseId]
            volumeNode, segmentationNode = (slicer.mrmlScene.GetNodeByID(volumeId),
                                            slicer.mrmlScene.GetNodeByID(segmentationId))
            if volumeNode is None or segmentationNode is None:
                raise AnalysisError(f"The CT or the segmentation of {caseId} was removed from the scene.")
        else:
            volumeNode, segmentationNode, segmentId = batchSteps.loadCaseNodes(case, caseDir, regionsImage, result)
        with slicer.util.NodeModify(segmentationNode):
            segmentIds = segments.replaceGeneratedSegments(segmentationNode, regionsImage, result,
                                                           volumeNode.GetParentTransformNode())
        workDir = Path(tempfile.mkdtemp(prefix="CCRCCStaging-"))
        shutil.copytree(caseDir, workDir / "out", ignore=shutil.ignore_patterns(batchSteps.KEY_FILE))
        self.keepAnalysis(workDir)
        featureTable = self.storeResult(result, features)
        return AnalysisResult(result, segmentIds, featureTable, workDir / "out"), (volumeNode, segmentationNode,
                                                                                   segmentId)

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
