"""The module's batch: every case of a folder (or the CT/segmentation pairs of the scene) through the warm worker, one
after another, into a table node with one row per case; a case loaded back with its habitats and shell; all reports
exported with the dashboard.

Nothing is re-implemented here: the batch runs ``ccrcc-staging predict``'s own steps (``CCRCCStagingLib.commands.
predict``), one request each: ``predict-list`` finds the cases by the library's naming rules (or reads a manifest),
``predict-case`` analyses one case into ``<batch>/out/cases/<case>`` exactly as ``predict`` does (the same folder,
resume key and row; a failing case is a row with status failed and its one-sentence reason), and ``predict-summary``
renders the reports, ``predictions.csv`` and the ``index.html`` dashboard of the finished cases. Scene pairs are first
written as ``images/<case>.nrrd`` + ``masks/<case>.nrrd`` (the library's first naming rule) and then run the same way.

Each step is a task (``command``, ``addLine``, ``finish``, ``discard``) as the analysis is: ``BackgroundBatch`` runs
them one after another through the module session (Cancel stops the current case and the rest; finished cases stay),
``CCRCCStagingLogic.runBatch`` blocking (the Python console, the tests).
"""

import json
import re
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

from . import AnalysisError, ReportExistsError, segments
from .export import publish
from .runner import CliOutput
from .slicerApp import slicer, vtk

BATCH_TABLE_NAME = "CCRCC batch"
#: ``predict``'s steps (``CCRCCStagingLib.commands.predict.STEP_COMMANDS``; a test checks) and what they print.
STEP_LIST, STEP_CASE, STEP_SUMMARY = "predict-list", "predict-case", "predict-summary"
CASES_LINE, ROW_LINE = "cases: ", "row: "
#: What an export writes (``predict``'s layout): the case folders, then the table and the dashboard.
CASES_DIR, PREDICTIONS_FILE, DASHBOARD_FILE = "cases", "predictions.csv", "index.html"
EXPORTED = (CASES_DIR, PREDICTIONS_FILE, DASHBOARD_FILE)
EXPORT_STAGING_PREFIX = ".ccrcc-batch-"
#: In a case folder: ``predict``'s resume key (it names the batch's temporary inputs; not exported).
KEY_FILE = ".predict-key.json"
STATUS_PENDING, STATUS_RUNNING, STATUS_FAILED = "pending", "running", "failed"
STATUS_NOT_RUN = "not run (cancelled)"
#: (column name, key of predictions.csv's row, numeric) of the table node, in order.
TABLE_COLUMNS = (
    ("Case", "case_id", False), ("Status", "status", False), ("T stage", "t_stage_group", False),
    ("P(T3–T4)", "probability_high", True), ("Radscore", "radscore", True), ("Risk group", "risk_group", False),
    ("Warnings", "warnings", False), ("Reason", "error", False),
)
GROUP_TEXT = {"low": "T1–T2", "high": "T3–T4"}
#: Nodes a batch case was loaded into carry the case ID (selecting the row again reuses them).
CASE_ATTRIBUTE = "CCRCCStaging.batchCase"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TUMOUR_NAME = re.compile(r"tumou?r", re.IGNORECASE)


def isFinished(row):
    return str(row.get("status", "")).startswith("done")


class Batch:
    """One batch: its input (a folder or manifest; scene pairs written as a folder), its working folder (``out/cases/
    <case>`` as ``predict`` lays it out), the cases and one row per case (``predictions.csv``'s), shown in
    ``tableNode``. ``cancel`` (any thread) stops the running case and leaves the rest unrun."""

    def __init__(self, source, workDir, modelOptions, title, sceneCases=None, skipped=()):
        self.source, self.workDir = Path(source), Path(workDir)
        self.modelOptions, self.title = list(modelOptions), title
        self.sceneCases = dict(sceneCases or {})  # case ID → (volume, segmentation node IDs, segment ID)
        self._sceneSkipped = list(skipped)
        self.cases, self.rows, self.skipped = None, [], list(skipped)
        self.tableNode = None
        self._cancelled, self._runner = False, None
        self._lock = threading.Lock()

    @property
    def outDir(self):
        return self.workDir / "out"

    def caseDir(self, caseId):
        return self.outDir / CASES_DIR / caseId

    @property
    def cancelled(self):
        return self._cancelled

    def cancel(self):
        """Stop the running case (its whole process tree) and run no other."""
        with self._lock:
            self._cancelled = True
            runner = self._runner
        if runner is not None:
            runner.cancel()

    def useRunner(self, runner):
        """``runner`` runs the next step; cancelled at once when the batch was."""
        with self._lock:
            self._runner = runner
            cancelled = self._cancelled
        if cancelled:
            runner.cancel()

    def setCases(self, cases, skipped):
        self.cases = list(cases)
        self.skipped = self._sceneSkipped + list(skipped)
        self.rows = [{"case_id": case["case_id"], "status": STATUS_PENDING} for case in self.cases]
        if self.tableNode is not None:
            fillBatchTable(self.tableNode, self.rows)

    def pendingIndexes(self):
        return [index for index, row in enumerate(self.rows) if row["status"] == STATUS_PENDING]

    def setRow(self, index, row):
        self.rows[index] = dict(row)
        if self.tableNode is not None:
            setTableRow(self.tableNode, index, self.rows[index])

    def setStatus(self, index, status):
        self.setRow(index, {"case_id": self.rows[index]["case_id"], "status": status})

    def markNotRun(self):
        for index, row in enumerate(self.rows):
            if row["status"] in (STATUS_PENDING, STATUS_RUNNING):
                self.setStatus(index, STATUS_NOT_RUN)

    def finishedRows(self):
        return [row for row in self.rows if isFinished(row)]

    def case(self, caseId):
        for case, row in zip(self.cases or [], self.rows):
            if case["case_id"] == caseId:
                return case, row
        raise AnalysisError(f"The batch has no case {caseId}.")

    def discard(self):
        shutil.rmtree(self.workDir, ignore_errors=True)


def failedRow(caseId, reason):
    """A case that could not be analysed, as ``predict`` records it: its one-sentence reason."""
    lines = str(reason).strip().splitlines()
    return {"case_id": caseId, "status": STATUS_FAILED, "error": lines[0] if lines else STATUS_FAILED}


#
# The table node
#


def fillBatchTable(tableNode, rows):
    """One row per case, the columns of TABLE_COLUMNS (numbers as numbers: the table sorts them as such)."""
    with slicer.util.NodeModify(tableNode):
        tableNode.RemoveAllColumns()
        for name, _key, numeric in TABLE_COLUMNS:
            column = vtk.vtkDoubleArray() if numeric else vtk.vtkStringArray()
            column.SetName(name)
            column.SetNumberOfValues(len(rows))
            tableNode.AddColumn(column)
        for index, row in enumerate(rows):
            setTableRow(tableNode, index, row)
        tableNode.SetLocked(True)  # results: not edited in the table view


def setTableRow(tableNode, index, row):
    table = tableNode.GetTable()
    for name, key, numeric in TABLE_COLUMNS:
        table.GetColumnByName(name).SetValue(index, _cellValue(key, row.get(key), numeric))
    table.Modified()
    tableNode.Modified()


def _cellValue(key, value, numeric):
    if numeric:
        try:
            return float(value) if value not in (None, "") else float("nan")
        except (TypeError, ValueError):
            return float("nan")
    if key == "t_stage_group":
        return GROUP_TEXT.get(value, value or "")
    return "" if value is None else str(value)


def tableRows(tableNode):
    """The table node's rows as dictionaries keyed by column name (the tests and the console)."""
    table = tableNode.GetTable()
    rows = []
    for index in range(table.GetNumberOfRows()):
        rows.append({name: table.GetColumnByName(name).GetValue(index) for name, _key, _numeric in TABLE_COLUMNS})
    return rows


#
# Scene pairs
#


def scenePairs(scene):
    """The CT/segmentation pairs of the scene: each segmentation with its CT and one tumour segment — its only segment
    of the radiologist's, or the one named Tumour/Tumor. The CT is the segmentation's reference volume (the source
    volume chosen in Segment Editor) or, for a segmentation loaded from a file, the one CT on the grid it was drawn on.
    Returns ([(case ID, volume node, segmentation node, segment ID)], [why a segmentation was left out])."""
    pairs, skipped, used = [], [], set()
    volumes = [node for node in scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
               if not node.IsA("vtkMRMLLabelMapVolumeNode") and node.GetImageData()]
    for segmentationNode in scene.GetNodesByClass("vtkMRMLSegmentationNode"):
        name = segmentationNode.GetName()
        volumeNode = referenceVolume(segmentationNode, volumes)
        if volumeNode is None:
            skipped.append(f"{name}: no CT is set as its reference geometry (Segment Editor: choose the source volume)")
            continue
        segmentation = segmentationNode.GetSegmentation()
        own = [segmentId for segmentId in segmentation.GetSegmentIDs()
               if not segmentation.GetSegment(segmentId).HasTag(segments.GENERATED_TAG)]
        named = [segmentId for segmentId in own if _TUMOUR_NAME.search(segmentation.GetSegment(segmentId).GetName())]
        chosen = own if len(own) == 1 else named
        if len(chosen) != 1:
            skipped.append(f"{name}: {len(own)} segments; name the tumour's segment Tumour (exactly one)")
            continue
        caseId = uniqueCaseId(volumeNode.GetName(), used)
        pairs.append((caseId, volumeNode, segmentationNode, chosen[0]))
    return pairs, skipped


def referenceVolume(segmentationNode, volumes):
    """The CT of a segmentation: its reference volume, else the only one of ``volumes`` on the grid stored with the
    segmentation (a ``.seg.nrrd`` keeps the geometry it was drawn on, not which node), else None."""
    volumeNode = segmentationNode.GetNodeReference(segmentationNode.GetReferenceImageGeometryReferenceRole())
    if volumeNode is not None:
        return volumeNode if volumeNode in volumes else None
    stored = _geometryNumbers(segmentationNode.GetSegmentation().GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()))
    matching = []
    for candidate in volumes:
        ijkToRas = vtk.vtkMatrix4x4()
        candidate.GetIJKToRASMatrix(ijkToRas)
        geometry = _geometryNumbers(slicer.vtkSegmentationConverter.SerializeImageGeometry(
            ijkToRas, candidate.GetImageData().GetExtent()))
        if stored and len(stored) == len(geometry) and all(abs(a - b) <= 1e-4 for a, b in zip(stored, geometry)):
            matching.append(candidate)
    return matching[0] if len(matching) == 1 else None


def _geometryNumbers(text):
    try:
        return [float(value) for value in (text or "").split(";") if value.strip()]
    except ValueError:
        return []


def uniqueCaseId(name, used):
    """A case ID from a node name: letters, digits and ``._-`` (a folder name), not used before."""
    base = _UNSAFE.sub("_", name or "").strip("._")[:100] or "case"
    caseId, count = base, 1
    while caseId.lower() in used:
        count += 1
        caseId = f"{base}_{count}"
    used.add(caseId.lower())
    return caseId


def writeScenePairs(pairs, inputDir):
    """Each pair as ``images/<case>.nrrd`` + ``masks/<case>.nrrd`` (the segment on the CT's grid)."""
    for folder in ("images", "masks"):
        (inputDir / folder).mkdir(parents=True, exist_ok=True)
    for caseId, volumeNode, segmentationNode, segmentId in pairs:
        segments.checkInputs(volumeNode, segmentationNode, segmentId)
        written = inputDir / f".{caseId}"
        imagePath, maskPath = segments.writeInputs(volumeNode, segmentationNode, segmentId, written)
        imagePath.replace(inputDir / "images" / f"{caseId}.nrrd")
        maskPath.replace(inputDir / "masks" / f"{caseId}.nrrd")
        shutil.rmtree(written, ignore_errors=True)


#
# The steps, as tasks
#


class CaseListTask:
    """``predict-list``: the cases of the batch's input, into its rows (all pending)."""

    def __init__(self, batch, cliCommand, environment):
        self.batch = batch
        self.command = [*cliCommand, STEP_LIST, str(batch.source), *batch.modelOptions]
        self.environment = environment
        self._output = CliOutput(None, task="search for cases")
        self._found = None

    def addLine(self, line):
        if line.startswith(CASES_LINE):
            self._found = json.loads(line[len(CASES_LINE):])
        else:
            self._output.addLine(line)

    def finish(self, exitCode):
        if exitCode is None:
            return None
        if exitCode != 0:
            raise self._output.failure(exitCode)
        if self._found is None:
            raise AnalysisError("The search for cases ended without listing them; its output is in the Python console.")
        self.batch.setCases(self._found["cases"], self._found.get("skipped", []))
        return self.batch

    def discard(self):
        pass


class CaseTask:
    """``predict-case``: one case of the batch into its folder; ``finish`` records its row (failed, with the
    reason, when the step itself failed) and returns it, or None when cancelled."""

    def __init__(self, batch, index, cliCommand, environment, onProgress=None):
        self.batch, self.index = batch, index
        case = batch.cases[index]
        self.caseId = case["case_id"]
        # Options as --key=value and the case's names after "--": a case id, file name or segment starting with "-"
        # (a folder named "-rf", a segment "-1") is then never read as an option.
        options = [f"--{key}={case[key]}" for key in ("label", "segment", "batch") if case.get(key) is not None]
        self.command = [*cliCommand, STEP_CASE, f"--out={batch.caseDir(self.caseId)}", *batch.modelOptions, *options,
                        "--", self.caseId, case["image"], case["mask"]]
        self.environment = environment
        self._output = CliOutput(onProgress)
        self._row = None
        batch.setStatus(index, STATUS_RUNNING)

    def addLine(self, line):
        if line.startswith(ROW_LINE):
            self._row = json.loads(line[len(ROW_LINE):])
        else:
            self._output.addLine(line)

    def finish(self, exitCode):
        if exitCode is None:
            self.batch.setStatus(self.index, STATUS_NOT_RUN)
            return None
        if exitCode != 0:
            row = failedRow(self.caseId, self._output.failure(exitCode))
        elif self._row is None:
            row = failedRow(self.caseId, "The analysis ended without its result.")
        else:
            row = self._row
        self.batch.setRow(self.index, row)
        return self.batch.rows[self.index]

    def fail(self, error):
        """The step could not run (the worker did not start …): the case fails with that reason."""
        self.batch.setRow(self.index, failedRow(self.caseId, error))

    def discard(self):
        pass


def exportConflict(folder):
    """A sentence when ``folder`` already holds a batch export (which a new one would replace), else None."""
    present = [name for name in EXPORTED if (Path(folder) / name).exists()]
    if not present:
        return None
    return f"The folder {folder} already holds {', '.join(present)} of a batch export."


class BatchExportTask:
    """``predict-summary`` in a staging folder inside ``folder`` (the finished cases' folders copied there): the
    reports, ``predictions.csv`` and ``index.html``; ``finish`` moves them in, so that nothing half-written ever sits
    under a final name, and a failed or cancelled export leaves the folder as it was."""

    def __init__(self, batch, folder, formats, includeIdentifiers, overwrite, cliCommand, environment,
                 onProgress=None):
        finished = batch.finishedRows()
        if not finished:
            raise AnalysisError("No case of the batch has finished: there is nothing to export.")
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise AnalysisError(f"Cannot create the folder {folder} ({error.strerror}).") from error
        conflict = exportConflict(self.folder)
        if conflict and not overwrite:
            raise ReportExistsError(f"{conflict} Choose another folder, or agree to replace them.")
        try:
            self.stagingDir = Path(tempfile.mkdtemp(prefix=EXPORT_STAGING_PREFIX, dir=self.folder))
        except OSError as error:
            raise AnalysisError(f"Cannot write into {folder} ({error.strerror}); choose another one.") from error
        self.rowsFile = batch.workDir / f"export-{uuid.uuid4().hex}.json"
        try:
            for row in finished:
                shutil.copytree(batch.caseDir(row["case_id"]), self.stagingDir / CASES_DIR / row["case_id"],
                                ignore=shutil.ignore_patterns(KEY_FILE))
            self.rowsFile.write_text(json.dumps({"rows": batch.rows, "skipped": batch.skipped}), encoding="utf-8")
        except BaseException:
            self.discard()
            raise
        self.command = [*cliCommand, STEP_SUMMARY, str(self.stagingDir), "--rows", str(self.rowsFile), "--report",
                        ",".join(formats) or "none", f"--title={batch.title}", *batch.modelOptions]
        if not includeIdentifiers:
            self.command.append("--no-identifiers")
        self.environment = environment
        self._output = CliOutput(onProgress, task="export")

    def addLine(self, line):
        self._output.addLine(line)

    def finish(self, exitCode):
        if exitCode is None:
            return None
        if exitCode != 0:
            raise self._output.failure(exitCode)
        missing = [name for name in EXPORTED if not (self.stagingDir / name).exists()]
        if missing:
            raise AnalysisError(f"The export ended without writing {', '.join(missing)}.")
        return publish(self.stagingDir, self.folder)

    def discard(self):
        shutil.rmtree(self.stagingDir, ignore_errors=True)
        self.rowsFile.unlink(missing_ok=True)


#
# Running the batch in the background
#


class BackgroundBatch:
    """Runs the batch's steps one after another with ``start(task, onDone)`` (``ModuleSession.start``: each in the
    background, its end on the GUI thread). ``onProgress(overall, case, message)`` with fractions of the batch and of
    the running case; ``onEnd(error)`` once: None when every case ran (failed ones included) or the batch was
    cancelled (``batch.cancelled``), else the error that stopped it (the cases could not be listed)."""

    def __init__(self, logic, batch, start, onEnd, onProgress=None, onCaseDone=None):
        self.logic, self.batch, self._start = logic, batch, start
        self._onEnd, self._onProgress, self._onCaseDone = onEnd, onProgress, onCaseDone
        self._toRun, self._position = [], 0

    def begin(self):
        if self.batch.cases is None:
            self._start(self.logic.batchListTask(self.batch), self._listed)
        else:
            self._runCases()

    def _listed(self, outcome, error):
        if error is not None or outcome is None:
            if outcome is None and error is None:
                self.batch.cancel()
            self._onEnd(error)
            return
        self._runCases()

    def _runCases(self):
        self._toRun, self._position = self.batch.pendingIndexes(), 0
        self._next()

    def _next(self):
        if self.batch.cancelled or self._position >= len(self._toRun):
            if self.batch.cancelled:
                self.batch.markNotRun()
            self._onEnd(None)
            return
        index = self._toRun[self._position]
        task = self.logic.batchCaseTask(self.batch, index, onProgress=self._caseProgress)
        self._caseProgress(0.0, f"starting {task.caseId}")
        self._start(task, lambda outcome, error: self._caseDone(task, outcome, error))

    def _caseProgress(self, fraction, message):
        if self._onProgress and self._toRun:
            index = self._toRun[min(self._position, len(self._toRun) - 1)]
            caseId = self.batch.rows[index]["case_id"]
            self._onProgress((self._position + fraction) / len(self._toRun), fraction,
                             f"Case {self._position + 1} of {len(self._toRun)} ({caseId}): {message}")

    def _caseDone(self, task, outcome, error):
        if outcome is None and error is None:  # Cancel: this case and the rest are not run
            self.batch.cancel()
        elif error is not None:
            task.fail(error)
        if self._onCaseDone and not self.batch.cancelled:
            self._onCaseDone(task.index)
        self._position += 1
        self._next()


#
# Loading a case of the batch into the scene
#


def loadCaseNodes(case, caseDir, regionsImage, result):
    """The CT and a segmentation with the tumour of a case from a folder (nodes tagged with the case ID, reused when
    the row is selected again). The CT is read from its file; when that is not a single readable file (a DICOM series
    folder), the analysis' CT box is shown. The tumour is the mask's label (or every labelled voxel); a mask Slicer
    cannot read as a labelmap (DICOM RTSTRUCT/SEG) is shown as the union of the habitats."""
    caseId = case["case_id"]
    volumeNode = _taggedNode("vtkMRMLScalarVolumeNode", caseId)
    if volumeNode is None:
        volumeNode = _readNode("vtkMRMLScalarVolumeNode", Path(case["image"])) or \
            _readNode("vtkMRMLScalarVolumeNode", Path(caseDir) / "ct_box.nrrd")
        if volumeNode is None:
            raise AnalysisError(f"The CT of {caseId} cannot be read.")
        volumeNode.SetName(caseId)
        volumeNode.SetAttribute(CASE_ATTRIBUTE, caseId)
    segmentationNode = _taggedNode("vtkMRMLSegmentationNode", caseId)
    if segmentationNode is None:
        tumour = _tumourLabelmap(case, regionsImage, result)
        segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{caseId} segmentation")
        segmentationNode.SetAttribute(CASE_ATTRIBUTE, caseId)
        segmentationNode.CreateDefaultDisplayNodes()
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        segmentationNode.SetSourceRepresentationToBinaryLabelmap()
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(tumour, segmentationNode):
            raise AnalysisError(f"The tumour of {caseId} could not be shown.")
    segmentation = segmentationNode.GetSegmentation()
    own = [segmentId for segmentId in segmentation.GetSegmentIDs()
           if not segmentation.GetSegment(segmentId).HasTag(segments.GENERATED_TAG)]
    if own:
        segmentation.GetSegment(own[0]).SetName("Tumour")
    return volumeNode, segmentationNode, own[0] if own else ""


def _taggedNode(className, caseId):
    for node in slicer.mrmlScene.GetNodesByClass(className):
        if node.GetAttribute(CASE_ATTRIBUTE) == caseId and not node.IsA("vtkMRMLLabelMapVolumeNode"):
            return node
    return None


def _readNode(className, path):
    """A node of the scene read from ``path`` by Slicer's volume reader (with its storage node), or None."""
    if not path.is_file():
        return None
    node = slicer.mrmlScene.AddNewNodeByClass(className)
    storageNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storageNode.SetFileName(str(path))
    if not storageNode.ReadData(node) or not node.GetImageData():
        slicer.mrmlScene.RemoveNode(node)
        slicer.mrmlScene.RemoveNode(storageNode)
        return None
    node.SetAndObserveStorageNodeID(storageNode.GetID())
    node.CreateDefaultDisplayNodes()
    return node


def _tumourLabelmap(case, regionsImage, result):
    """A labelmap node (outside the scene) with 1 on the tumour."""
    labelNode = slicer.vtkMRMLLabelMapVolumeNode()
    storageNode = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storageNode.SetFileName(case["mask"])
    label = int(case["label"]) if case.get("label") else None
    if Path(case["mask"]).is_file() and not case["mask"].lower().endswith((".seg.nrrd", ".dcm")) \
            and storageNode.ReadData(labelNode) and labelNode.GetImageData():
        image = labelNode.GetImageData()
        low, high = (label, label) if label is not None else (1, float("inf"))
    else:  # the union of the habitats, on the regions' grid
        habitats = [values["label"] for region, values in result["regions"].items() if region.startswith("sub")]
        image = regionsImage
        low, high = min(habitats), max(habitats)
        ijkToRas = vtk.vtkMatrix4x4()
        regionsImage.GetImageToWorldMatrix(ijkToRas)
        labelNode.SetIJKToRASMatrix(ijkToRas)
    threshold = vtk.vtkImageThreshold()
    threshold.SetInputData(image)
    threshold.ThresholdBetween(low, min(high, 1e30))
    threshold.SetInValue(1)
    threshold.SetOutValue(0)
    threshold.SetOutputScalarTypeToUnsignedChar()
    threshold.Update()
    binary = vtk.vtkImageData()
    binary.DeepCopy(threshold.GetOutput())
    binary.SetOrigin(0, 0, 0)
    binary.SetSpacing(1, 1, 1)
    labelNode.SetAndObserveImageData(binary)
    return labelNode
