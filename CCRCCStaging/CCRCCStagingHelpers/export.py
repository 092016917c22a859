"""The report folder the user picks: which files go there, whether it already holds another case's report, and
moving the finished files in at once.

The report is rendered by ``ccrcc-staging report`` (``ReportTask``, run like the analysis: in the background, or
blocking from the Logic) in a staging folder inside the chosen folder; only when it succeeded are the files moved
into place (``os.replace``, same file system), so a failed or cancelled export leaves
the folder as it was and the CLI never has to overwrite anything.
"""

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import AnalysisError, ReportExistsError
from .results import caseResult  # first: importing it makes CCRCCStagingLib importable in a source checkout

from CCRCCStagingLib.core.errors import CCRCCStagingError  # noqa: E402
from CCRCCStagingLib.core.privacy import PLACEHOLDER, remove_identifiers  # noqa: E402

from .runner import CliOutput  # noqa: E402

#: The analysis folder's files (CCRCCStagingLib.core.files.ANALYSIS_FILES; a test checks): the report's inputs, and the
#: machine-readable part of the exported report.
ANALYSIS_FILES = ("result.json", "features.csv", "regions.nrrd", "ct_box.nrrd")
RESULT_FILE = "result.json"
FEATURES_FILE = "features.csv"
#: What ``ccrcc-staging report`` writes, per format.
REPORT_FORMATS = {"html": "report.html", "pdf": "report.pdf"}
STAGING_PREFIX = ".ccrcc-report-"


def exportedResult(result, includeIdentifiers):
    """``result.json`` as exported. Without identifiers, what the library's one identifier removal removes
    (``CCRCCStagingLib.core.privacy``: the case ID, the CT's name in Slicer, which may be the patient's; the input
    paths; any other path) is replaced by its placeholder wherever it occurs, also inside warnings."""
    return result if includeIdentifiers else remove_identifiers(result)


def caseIdentity(result):
    """What tells two cases apart: the case ID, the CT's geometry and the tumour's voxel count. A re-analysis of
    the same case (other model or settings) has the same identity; another patient's CT does not."""
    typed = caseResult(result)
    geometry = typed.inputs.image_geometry
    return (typed.case_id, json.dumps(geometry.to_dict() if geometry else None, sort_keys=True),
            typed.voxels("whole"))


def reportConflict(folder, result, includeIdentifiers=True):
    """A sentence when ``folder`` already holds report or analysis files of another case (which an export would
    replace), else None. The same case's earlier export is replaced without asking."""
    folder = Path(folder)
    present = [name for name in (*REPORT_FORMATS.values(), *ANALYSIS_FILES) if (folder / name).exists()]
    if not present:
        return None
    try:
        existing = caseResult(json.loads((folder / RESULT_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, CCRCCStagingError):
        existing = None
    if existing is not None:
        if caseIdentity(existing) == caseIdentity(exportedResult(result, includeIdentifiers)):
            return None
        what = f'the report of another case ("{existing.case_id or "?"}")'
    else:
        what = "report files of another analysis"
    return f"The folder {folder} already holds {what}: {', '.join(present)}."


def copyAnalysisFiles(outputDir, targetDir):
    """Copy the analysis files into ``targetDir`` as they are (the report step reads them)."""
    for name in ANALYSIS_FILES:
        # With the file times: the report dates the analysis by result.json's.
        shutil.copy2(Path(outputDir) / name, Path(targetDir) / name)


def removeIdentifiers(folder, result):
    """Leave the case ID and the input paths out of the copied result.json and features.csv (after the report
    step, which reads the originals to leave them out of the report too)."""
    folder = Path(folder)
    (folder / RESULT_FILE).write_text(json.dumps(exportedResult(result, False), indent=2) + "\n", encoding="utf-8")
    features = folder / FEATURES_FILE
    features.write_text(_anonymisedFeatures(features.read_text(encoding="utf-8")), encoding="utf-8", newline="")


def _anonymisedFeatures(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if rows and "case_id" in rows[0]:
        column = rows[0].index("case_id")
        for row in rows[1:]:
            row[column] = PLACEHOLDER
    output = io.StringIO(newline="")
    csv.writer(output, lineterminator="\r\n").writerows(rows)  # as csv.DictWriter wrote it
    return output.getvalue()


def publish(stagingDir, folder):
    """Move everything from ``stagingDir`` into ``folder`` (replacing files of the same name); return the paths."""
    written = []
    for entry in sorted(Path(stagingDir).iterdir()):
        target = Path(folder) / entry.name
        if entry.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(entry, target)
        written.append(target)
    return written


class ReportTask:
    """Exporting the report of the analysis in ``outputDir`` to ``folder``, as a task (``background``): checks and
    the staging folder when made, the ``ccrcc-staging report`` command, and ``finish`` that moves the files in.

    Raises ReportExistsError when the folder holds another case's files (unless ``overwrite``), AnalysisError when
    the folder cannot be written or a format is unknown. ``finish(exitCode)`` returns the written paths, or None
    when the command was cancelled (None); the folder is changed only by a successful ``finish``."""

    def __init__(self, outputDir, folder, formats, includeIdentifiers, overwrite, cliCommand, environment,
                 onProgress=None):
        self.formats = tuple(formats)
        unknown = [fmt for fmt in self.formats if fmt not in REPORT_FORMATS]
        if unknown or not self.formats:
            raise AnalysisError(f"Unknown report format {unknown or self.formats}: use {', '.join(REPORT_FORMATS)}.")
        self.result = json.loads((Path(outputDir) / RESULT_FILE).read_text(encoding="utf-8"))
        self.folder, self.includeIdentifiers = Path(folder), includeIdentifiers
        self.stagingDir = _stagingFolder(self.folder, self.result, includeIdentifiers, overwrite)
        try:
            copyAnalysisFiles(outputDir, self.stagingDir)
        except BaseException:
            self.discard()
            raise
        self.command = [*cliCommand, "report", str(self.stagingDir), "--format", ",".join(self.formats)]
        if not includeIdentifiers:
            self.command.append("--no-identifiers")
        self.environment = environment
        self._output = CliOutput(onProgress, task="report")

    def addLine(self, line):
        self._output.addLine(line)

    def finish(self, exitCode):
        if exitCode is None:
            return None
        if exitCode != 0:
            raise self._output.failure(exitCode)
        missing = [REPORT_FORMATS[fmt] for fmt in self.formats if not (self.stagingDir / REPORT_FORMATS[fmt]).is_file()]
        if missing:
            raise AnalysisError(f"The report step ended without writing {', '.join(missing)}; its output is in the "
                                "Python console.")
        if not self.includeIdentifiers:
            removeIdentifiers(self.stagingDir, self.result)
        # The folder's earlier report files go (this case's, or another's the user agreed to replace), so that an
        # HTML-only export never sits beside another analysis' PDF.
        for name in (*REPORT_FORMATS.values(), *ANALYSIS_FILES):
            if (self.folder / name).is_file():
                (self.folder / name).unlink()
        return publish(self.stagingDir, self.folder)

    def discard(self):
        shutil.rmtree(self.stagingDir, ignore_errors=True)


def _stagingFolder(folder, result, includeIdentifiers, overwrite):
    """A new staging folder inside ``folder`` (created when missing), after the conflict check."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AnalysisError(f"Cannot create the report folder {folder} ({error.strerror}).") from error
    if not overwrite:
        conflict = reportConflict(folder, result, includeIdentifiers)
        if conflict:
            raise ReportExistsError(f"{conflict} Choose another folder, or agree to replace them.")
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    except OSError as error:
        raise AnalysisError(f"Cannot write into the report folder {folder} ({error.strerror}); choose another "
                            "one.") from error
