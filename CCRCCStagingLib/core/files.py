"""The files of an analysis folder and how they are written: one place for the names, and atomic writes so that an
interrupted run never leaves a partial file under a final name. Light to import (the report and the Slicer module
use it without the pipeline)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

RESULT_FILE = "result.json"
FEATURES_FILE = "features.csv"
REGIONS_FILE = "regions.nrrd"
#: The resampled CT in the regions' box (int16 HU): what the report draws the overlays on.
CT_BOX_FILE = "ct_box.nrrd"
REPORT_HTML_FILE = "report.html"
REPORT_PDF_FILE = "report.pdf"
DICOM_SEG_FILE = "regions.seg.dcm"
#: What ``analyze`` writes: everything the report and the DICOM SEG are made from.
ANALYSIS_FILES = (RESULT_FILE, FEATURES_FILE, REGIONS_FILE, CT_BOX_FILE)
#: Files that mark a folder as holding a case's results (never overwritten without being asked).
OUTPUT_FILES = (*ANALYSIS_FILES, REPORT_HTML_FILE, REPORT_PDF_FILE, DICOM_SEG_FILE)
#: Where ``ccrcc-staging demo`` writes by default (replaced on every run).
DEMO_OUT = "ccrcc-demo-output"


def prepare_output_dir(out_dir: Path, overwrite: bool, marker_files: tuple[str, ...] = OUTPUT_FILES) -> None:
    """Create the output folder; refuse one that already holds any of ``marker_files`` unless ``overwrite``."""
    existing = [name for name in marker_files if (out_dir / name).exists()]
    if existing and not overwrite:
        raise OutputError(
            f"{out_dir} already holds results ({', '.join(existing)}); choose another folder or pass --overwrite."
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the output folder {out_dir}: {error.strerror}.") from error
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"The output folder {out_dir} is not writable; choose another one with --out.")


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only once writing succeeded."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes owner-only files
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_atomically(target: Path, data: bytes) -> None:
    """Write bytes to ``target`` through :func:`atomic_path`."""
    with atomic_path(target) as path:
        path.write_bytes(data)
