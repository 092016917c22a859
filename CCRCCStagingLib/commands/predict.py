"""``ccrcc-staging predict``: many cases at once, as they come from PACS or an archive.

Every case of a manifest or a folder (:mod:`CCRCCStagingLib.case.inputs`) is analysed as ``analyze`` does, into
``OUT/cases/<case>/``; then ``predictions.csv`` (one row per case) and the ``index.html`` dashboard are written.

- **Resumable.** A case folder counts as done when it holds the key of its inputs (paths, sizes and modification
  times of the CT and mask, the model's checksum, the options), written after its result and report: a run killed
  halfway, or stopped with Ctrl-C, computes only the missing cases when run again; changed inputs or another model
  are computed again. Failed cases are tried again (the file may have been fixed meanwhile).
- **A failing case does not stop the run**: its row says why (the same sentence ``analyze`` would print).
- **Parallel** with ``--jobs`` (one process per case; each case's extraction as ``analyze`` runs it).

The Slicer module runs the same batch one case per request of its warm worker, with the *steps* below
(:data:`STEP_COMMANDS`, not listed in ``--help``): ``predict-list`` (the cases of an input), ``predict-case`` (one
case into its folder, as ``predict`` does it) and ``predict-summary`` (the reports, ``predictions.csv`` and the
dashboard of finished cases). The cases and rows are printed as one JSON line each (:data:`CASES_LINE`,
:data:`ROW_LINE`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..case.file_checks import ReadLimits
from ..case.inputs import SAFE_CASE_ID, BatchInputs, CaseInput, find_batch_inputs
from ..core.errors import CCRCCStagingError, OutputError
from ..core.files import RESULT_FILE, atomic_path, csv_safe, output_lock
from ..core.processes import Task, run_parallel
from ..core.provenance import software_versions
from ..core.schema import CaseResult
from ..core.errors import SettingsError
from ..core.settings import BUNDLED_MODEL_DIR
from ..model.bundle import MANIFEST, load_deployed_model, sha256
from .analyze import analyze
from .common import progress, progress_mode

PREDICTIONS_FILE = "predictions.csv"
DASHBOARD_FILE = "index.html"
#: Marks a folder written by ``predict`` and names the input it was made from (another input is refused).
RUN_FILE = "predict_run.json"
CASES_DIR = "cases"
#: In a case folder, written last: the key of the inputs its results were made from.
KEY_FILE = ".predict-key.json"
#: Columns of ``predictions.csv`` (one schema for the file; the dashboard shows the same rows).
COLUMNS = (
    "case_id", "status", "t_stage_group", "probability_high", "threshold", "radscore", "radscore_cutoff", "risk_group",
    "tumour_volume_ml", "shell_volume_ml", "habitats_k", "n_warnings", "warnings", "error", "report",
)


@dataclass(frozen=True)
class PredictOptions:
    """What every case of a run shares (a case's own label, segment or batch from a manifest wins)."""

    model_dir: Path
    report: str
    include_identifiers: bool
    label: int | None = None
    segment: str | None = None
    batch: str | None = None
    max_voxels: int = ReadLimits().max_voxels


@dataclass
class BatchRun:
    """What a ``predict`` run computed: one row per case in input order, what the input left out, the model used."""

    rows: list[dict[str, Any]]
    skipped: list[str]
    model: dict[str, Any]


def predict_batch(source: Path, out_dir: Path, options: PredictOptions, jobs: int = 1) -> BatchRun:
    """Analyse every case of ``source`` into ``out_dir/cases`` (skipping those already done with the same inputs)."""
    inputs = find_batch_inputs(source)
    model = _require_usable_model(options, inputs)
    with output_lock(out_dir):
        _claim_folder(out_dir, source)
        tasks = [Task(predict_case, case, out_dir / CASES_DIR / case.case_id, options) for case in inputs.cases]
        rows: dict[str, dict] = {}
        lines = progress_mode() == "lines"
        for row in run_parallel(tasks, jobs, None, "cases", show_progress=progress_mode() == "bar"):
            rows[row["case_id"]] = row
            if lines:
                progress(len(rows) / len(tasks), f"{row['case_id']} {row['status']}")
    return BatchRun([rows[case.case_id] for case in inputs.cases], inputs.skipped, model)


def _require_usable_model(options: PredictOptions, inputs: BatchInputs) -> dict[str, Any]:
    """A model every case would fail with is refused before the first case: damaged, or harmonised without batches."""
    model = load_deployed_model(options.model_dir)
    if model.batches and options.batch is None and any(case.batch is None for case in inputs.cases):
        raise SettingsError(
            f"The model {model.description['id']} scores ComBat-harmonised features: give every case's scanner or "
            f"centre (one of {', '.join(model.batches)}) in a 'batch' column of the manifest, or --batch for all."
        )
    return model.identity()


def _claim_folder(out_dir: Path, source: Path) -> None:
    """Refuse a folder holding anything but an earlier run on the same input; mark it as this input's."""
    marker = out_dir / RUN_FILE
    here = {"input": str(source.resolve())}
    if marker.is_file():
        earlier = _read_json(marker)
        if not isinstance(earlier, dict) or earlier.get("input") != here["input"]:
            earlier = earlier if isinstance(earlier, dict) else {}
            raise OutputError(
                f"{out_dir} holds the predictions of another input ({earlier.get('input', 'unknown')}); choose "
                "another folder with --out."
            )
        return
    if any(entry.name not in (".ccrcc-staging.lock",) for entry in out_dir.iterdir()):
        raise OutputError(f"{out_dir} is not empty and was not written by 'predict'; choose an empty folder with --out.")
    with atomic_path(marker) as path:
        path.write_text(json.dumps(here) + "\n")


def predict_case(case: CaseInput, case_dir: Path, options: PredictOptions, progress: Any = None) -> dict[str, Any]:
    """One case, in a worker process: analysed and reported unless already done with the same key; its row.
    ``progress(fraction, message)`` follows the analysis (by default nothing is shown: a run shows cases done)."""
    if case_dir.is_symlink() or case_dir.parent.is_symlink():  # results written through it would land elsewhere
        return _failed(case, f"{case_dir} is a link (the output folder was tampered with); remove it and run again.")
    key = case_key(case, options)
    if _done(case_dir, key) and (earlier := _earlier_row(case, case_dir, options.report)) is not None:
        return earlier
    try:
        case_dir.parent.mkdir(parents=True, exist_ok=True)
        (case_dir / KEY_FILE).unlink(missing_ok=True)
        analyze(
            case.image, case.mask, case_dir, None, model_dir=options.model_dir,
            label=case.label if case.label is not None else options.label,
            segment=case.segment or options.segment, overwrite=True, progress=progress or _quiet,
            limits=ReadLimits(max_voxels=options.max_voxels), batch=case.batch or options.batch, case_id=case.case_id,
        )
        if options.report != "none":
            from ..reports.case.render import render_report

            render_report(case_dir, options.report, include_identifiers=options.include_identifiers)
        with atomic_path(case_dir / KEY_FILE) as path:
            path.write_text(json.dumps(key) + "\n")
        return case_row(case, case_dir, options.report)
    except CCRCCStagingError as error:
        return _failed(case, str(error))
    except Exception as error:  # noqa: BLE001 - one broken case must not end the run; its row says what happened
        return _failed(case, f"internal error ({type(error).__name__}): {error}")


def _earlier_row(case: CaseInput, case_dir: Path, report: str) -> dict[str, Any] | None:
    """The row of a case an earlier run finished; ``None`` when its result was damaged since (computed again)."""
    try:
        return {**case_row(case, case_dir, report), "status": "done (earlier run)"}
    except Exception:  # noqa: BLE001 - whatever a tampered result.json holds, the case is simply computed again
        return None


def _quiet(fraction: float, message: str) -> None:
    """Per-case progress is not shown in a batch (the run shows cases done)."""


def _failed(case: CaseInput, error: str) -> dict[str, Any]:
    return {"case_id": case.case_id, "status": "failed", "error": error.splitlines()[0] if error else "failed"}


def case_key(case: CaseInput, options: PredictOptions) -> dict[str, Any]:
    """What a case's results depend on: the inputs as they are now, the model, the options and the software."""
    return {
        "image": _fingerprint(case.image), "mask": _fingerprint(case.mask),
        "case": {k: str(v) for k, v in asdict(case).items()},
        "options": {k: str(v) for k, v in asdict(options).items()},
        "model": sha256(options.model_dir / MANIFEST) if (options.model_dir / MANIFEST).is_file() else None,
        "software": software_versions().get("ccrcc-staging", ""),
    }


def _fingerprint(path: Path) -> str:
    """Digest of the names, sizes and modification times of a file, or of every file in a folder (a DICOM series)."""
    digest = hashlib.sha256()
    try:
        files = [path] if not path.is_dir() else sorted(p for p in path.rglob("*") if p.is_file())
    except OSError:  # a name too long, a folder that cannot be listed: the analysis says so in the case's row
        files = []
    for file in files[:100_000]:
        try:
            info = file.stat()
        except OSError:
            continue
        digest.update(f"{file.relative_to(path.parent)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


#: The largest ``result.json``, key or run file read back from an output folder (they are a few kB to a few MB).
MAX_STATE_BYTES = 64 << 20
#: Opening a pipe without a writer returns at once instead of waiting (POSIX; Windows has no such files to fear).
_NONBLOCKING = getattr(os, "O_NONBLOCK", 0)


def _read_json(path: Path) -> Any:
    """A JSON file this command wrote, read back only when it is still a regular file of sane size (an output folder
    may have been tampered with: a pipe there would block, a huge file exhaust memory); ``None`` otherwise."""
    try:
        with open(path, "rb", opener=lambda name, flags: os.open(name, flags | _NONBLOCKING)) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STATE_BYTES:
                return None
            return json.loads(handle.read(MAX_STATE_BYTES + 1))
    except (OSError, ValueError):
        return None


def _done(case_dir: Path, key: dict[str, Any]) -> bool:
    return _read_json(case_dir / RESULT_FILE) is not None and _read_json(case_dir / KEY_FILE) == key


def case_row(case: CaseInput, case_dir: Path, report: str) -> dict[str, Any]:
    """The row of a finished case, read back from its ``result.json`` through the schema."""
    stored = _read_json(case_dir / RESULT_FILE)
    if not isinstance(stored, dict):
        raise OutputError(f"{case_dir / RESULT_FILE} is missing or damaged; run the case again.")
    result = CaseResult.from_dict(stored)
    prediction = result.prediction
    row: dict[str, Any] = {
        "case_id": case.case_id, "status": "done",
        "tumour_volume_ml": result.regions["whole"].volume_ml if "whole" in result.regions else None,
        "shell_volume_ml": result.regions["peri"].volume_ml if "peri" in result.regions else None,
        "habitats_k": result.habitats_k, "n_warnings": len(result.warnings), "warnings": " | ".join(result.warnings),
        "error": result.prediction_withheld or "",
        "report": f"{CASES_DIR}/{case.case_id}/report.html" if "html" in report else "",
    }
    if prediction is not None:
        row.update(t_stage_group=prediction.t_stage_group, probability_high=prediction.probability_high,
                   threshold=prediction.threshold, radscore=prediction.radscore,
                   radscore_cutoff=prediction.radscore_cutoff, risk_group=prediction.risk_group)
    return row


def write_predictions_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """``predictions.csv``: :data:`COLUMNS`, one row per case, formula-like text neutralised."""
    import csv

    with atomic_path(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({column: csv_safe(row.get(column, "")) for column in COLUMNS} for row in rows)


def run_predict(args: argparse.Namespace) -> int:
    """``predict``: every case of a manifest or folder, then ``predictions.csv`` and the ``index.html`` dashboard."""
    from ..reports.dashboard import render_dashboard

    out_dir = Path(args.out)
    options = PredictOptions(
        model_dir=Path(args.model) if args.model else BUNDLED_MODEL_DIR, report=args.report, include_identifiers=not args.no_identifiers,
        label=args.label, segment=args.segment, batch=args.batch, max_voxels=args.max_voxels,
    )
    run = predict_batch(Path(args.input), out_dir, options, jobs=args.jobs)
    rows = run.rows
    write_predictions_csv(rows, out_dir / PREDICTIONS_FILE)
    render_dashboard(rows, run.skipped, out_dir / DASHBOARD_FILE,
                     title=f"CCRCCStaging predictions: {Path(args.input).name}", model=run.model)
    for reason in run.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    failed = [row for row in rows if row["status"] == "failed"]
    print(f"{len(rows)} cases ({len(failed)} failed, {sum(r['status'].startswith('done (') for r in rows)} from an "
          f"earlier run) → {out_dir / PREDICTIONS_FILE}; dashboard {out_dir / DASHBOARD_FILE}")
    return 0



#
# The Slicer module's batch, step by step
#

#: The steps of a batch the Slicer module runs one request at a time in its warm worker (``serve``), also runnable as
#: ``ccrcc-staging predict-list …`` and so on (not listed in ``--help``).
STEP_COMMANDS = ("predict-list", "predict-case", "predict-summary")
#: ``predict-list`` prints the cases as one line ``cases: <JSON>``, ``predict-case`` the row as ``row: <JSON>``.
CASES_LINE = "cases: "
ROW_LINE = "row: "


def build_steps_parser() -> argparse.ArgumentParser:
    """The parser of :data:`STEP_COMMANDS` (handlers as ``build_parser``'s: ``module:function``)."""
    parser = argparse.ArgumentParser(prog="ccrcc-staging")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("predict-list", help="the cases of a manifest or folder, as one JSON line")
    listing.add_argument("input")
    listing.add_argument("--model")
    listing.set_defaults(handler="predict:run_predict_list")
    one = commands.add_parser("predict-case", help="one case into its folder, as predict does it; its row as JSON")
    for name in ("case_id", "image", "mask"):
        one.add_argument(name)
    one.add_argument("--out", required=True, help="the case's folder (OUT/cases/<case>)")
    one.add_argument("--model")
    one.add_argument("--label", type=int)
    one.add_argument("--segment")
    one.add_argument("--batch")
    one.add_argument("--max-voxels", type=int, default=ReadLimits().max_voxels)
    one.set_defaults(handler="predict:run_predict_case")
    summary = commands.add_parser("predict-summary", help="reports, predictions.csv and index.html of finished cases")
    summary.add_argument("out", help="a folder holding cases/<case> of every finished case")
    summary.add_argument("--rows", required=True, help="JSON: {'rows': [...], 'skipped': [...]} in case order")
    summary.add_argument("--model")
    summary.add_argument("--report", default="html", help="each case's report formats (html,pdf or none)")
    summary.add_argument("--title", default="CCRCCStaging predictions")
    summary.add_argument("--no-identifiers", action="store_true")
    summary.set_defaults(handler="predict:run_predict_summary")
    return parser


def _model_dir(args: argparse.Namespace) -> Path:
    return Path(args.model) if args.model else BUNDLED_MODEL_DIR


def run_predict_list(args: argparse.Namespace) -> int:
    """``predict-list``: the cases of the input (and what was left out, with the reason); a model every case would
    fail with is refused here, before the first case."""
    inputs = find_batch_inputs(Path(args.input))
    _require_usable_model(PredictOptions(_model_dir(args), "none", True), inputs)
    cases = [{key: (str(value) if value is not None else None) for key, value in asdict(case).items()}
             for case in inputs.cases]
    print(CASES_LINE + json.dumps({"cases": cases, "skipped": inputs.skipped}), flush=True)
    return 0


def run_predict_case(args: argparse.Namespace) -> int:
    """``predict-case``: one case as :func:`predict_batch` runs it (the same folder, key and row; a failing case is
    a row with status failed and exit code 0), with the analysis' progress."""
    case = CaseInput(args.case_id, Path(args.image), Path(args.mask), args.label, args.segment, args.batch)
    options = PredictOptions(_model_dir(args), "none", True, max_voxels=args.max_voxels)
    row = predict_case(case, Path(args.out), options, progress=progress)
    print(ROW_LINE + json.dumps(row, allow_nan=False, default=str), flush=True)
    return 0


def run_predict_summary(args: argparse.Namespace) -> int:
    """``predict-summary``: each finished case's report (in ``OUT/cases/<case>``), then ``predictions.csv`` and the
    ``index.html`` dashboard, as ``predict`` writes them."""
    from ..reports.case.render import render_report
    from ..reports.dashboard import render_dashboard

    out_dir = Path(args.out)
    given = json.loads(Path(args.rows).read_text(encoding="utf-8"))
    rows, formats = [dict(row) for row in given["rows"]], [f for f in args.report.split(",") if f and f != "none"]
    finished = [row for row in rows if str(row.get("status", "")).startswith("done")]
    for count, row in enumerate(finished):
        if not SAFE_CASE_ID.match(str(row["case_id"])):
            raise OutputError(f"{row['case_id']!r} is not a case folder name.")
        progress(count / max(len(finished), 1), f"report of {row['case_id']}")
        if formats:
            render_report(out_dir / CASES_DIR / row["case_id"], formats, include_identifiers=not args.no_identifiers)
        row["report"] = f"{CASES_DIR}/{row['case_id']}/report.html" if "html" in formats else ""
    progress(1.0, "dashboard")
    write_predictions_csv(rows, out_dir / PREDICTIONS_FILE)
    render_dashboard(rows, given.get("skipped", []), out_dir / DASHBOARD_FILE, title=args.title,
                     model=load_deployed_model(_model_dir(args)).identity())
    return 0
