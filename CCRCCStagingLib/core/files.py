"""The files of an analysis folder and how they are written: one place for the names, and atomic writes so that an
interrupted run never leaves a partial file under a final name. Light to import (the report and the Slicer module
use it without the pipeline)."""

from __future__ import annotations

import errno
import os
import shutil
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


#: Folders nothing is ever written into (a mistyped --out must not scatter results through the system).
SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/run", "/sbin", "/sys",
                  "/usr", "/var", "/System", "/Library", "/Applications")
#: The lock file held while a command writes into an output folder.
LOCK_FILE = ".ccrcc-staging.lock"


def prepare_output_dir(out_dir: Path, overwrite: bool, marker_files: tuple[str, ...] = OUTPUT_FILES) -> None:
    """Create the output folder; refuse a system folder, and one that already holds any of ``marker_files`` unless
    ``overwrite`` — then the previous run's files (``marker_files``: what this tool writes, nothing else) are removed
    first, so that no file of the earlier case is left beside the new results."""
    _refuse_system_folder(out_dir)
    existing = [name for name in marker_files if (out_dir / name).exists()]
    if existing and not overwrite:
        raise OutputError(
            f"{out_dir} already holds results ({', '.join(existing)}); choose another folder or pass --overwrite."
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in existing:
            (out_dir / name).unlink()
    except OSError as error:
        raise OutputError(f"Cannot prepare the output folder {out_dir}: {error.strerror}.") from None
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"The output folder {out_dir} is not writable; choose another one with --out.")


def require_empty_or_overwrite(folder: Path, overwrite: bool) -> None:
    """Refuse a folder that already holds anything (its lock file aside) unless ``overwrite``: a new model must not be
    mixed with an old one's files."""
    _refuse_system_folder(folder)
    if folder.is_dir() and not overwrite and any(entry.name != LOCK_FILE for entry in folder.iterdir()):
        raise OutputError(f"{folder} is not empty; choose a new folder, or pass --overwrite to replace the model in it.")


def _refuse_system_folder(out_dir: Path) -> None:
    resolved = Path(os.path.abspath(out_dir))
    if resolved == Path(resolved.anchor) or any(
        resolved == Path(folder) or Path(folder) in resolved.parents for folder in SYSTEM_FOLDERS if os.name != "nt"
    ) or _in_windows_system_folder(resolved):
        raise OutputError(f"{out_dir} is a system folder; write the results into a folder of your own with --out.")


def _in_windows_system_folder(path: Path) -> bool:
    if os.name != "nt":
        return False
    system = [Path(os.environ[name]) for name in ("SystemRoot", "ProgramFiles", "ProgramFiles(x86)") if name in os.environ]
    return any(path == folder or folder in path.parents for folder in system)


@contextmanager
def output_lock(out_dir: Path, lock_name: str = LOCK_FILE) -> Iterator[None]:
    """Hold the folder's lock while writing into it: a second run into the same folder is refused instead of
    silently replacing the first one's files (released on every exit, and by the system if the process dies)."""
    _refuse_system_folder(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        handle = open(out_dir / lock_name, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
    except OSError as error:
        if out_dir.exists() and not out_dir.is_dir():
            reason = f"{out_dir} is a file, not a folder; choose a folder for the results with --out."
        else:
            reason = f"Cannot create the output folder {out_dir}: {error.strerror}; choose another one with --out."
        raise OutputError(reason) from None
    try:
        if not _try_lock(handle):
            raise OutputError(
                f"Another ccrcc-staging run is writing into {out_dir}; wait for it to finish or choose another folder."
            )
        yield
    finally:
        handle.close()


def _try_lock(handle) -> bool:
    if os.name == "nt":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


@contextmanager
def output_folder(out_dir: Path, overwrite: bool, marker_files: tuple[str, ...] = OUTPUT_FILES) -> Iterator[Path]:
    """Lock the output folder, then prepare it (:func:`prepare_output_dir`): what every command that writes results
    into a folder holds while it writes."""
    _refuse_system_folder(out_dir)
    with output_lock(out_dir):
        prepare_output_dir(out_dir, overwrite, marker_files)
        yield out_dir


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only once writing succeeded. A write that fails (a full
    disk, a vanished folder) ends in one :class:`OutputError` sentence, and the temporary file is removed on every
    exit path."""
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    except OSError as error:
        raise _write_error(target, error) from None
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes owner-only files
        os.replace(temporary, target)
    except OSError as error:
        raise _write_error(target, error) from None
    except RuntimeError as error:  # SimpleITK's writers report I/O failures as RuntimeError
        raise _write_error(target, error) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _write_error(target: Path, error: Exception) -> OutputError:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputError(f"The disk holding {target.parent} is full: free some space and run again.")
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        free = None
    if free is not None and free < (1 << 20):
        return OutputError(f"The disk holding {target.parent} is full: free some space and run again.")
    lines = str(error).strip().splitlines() or ["unknown reason"]
    reason = error.strerror if isinstance(error, OSError) and error.strerror else lines[-1]
    return OutputError(f"Cannot write {target}: {reason}.")


def write_atomically(target: Path, data: bytes) -> None:
    """Write bytes to ``target`` through :func:`atomic_path`."""
    with atomic_path(target) as path:
        path.write_bytes(data)


#: A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV-injection rule).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A CSV cell as written: text a spreadsheet would run as a formula (a case id like ``=HYPERLINK(…)``) gets a
    leading apostrophe; numbers and other text are unchanged. JSON outputs keep the raw value."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_raw(value: object) -> object:
    """The inverse of :func:`csv_safe`, for this tool's own CSVs read back (``train`` reading ``extract``'s table)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def csv_safe_frame(frame):
    """A pandas table with every text cell made safe (:func:`csv_safe`); numeric columns untouched."""
    safe = frame.copy()
    for column in safe.columns[safe.dtypes == object]:
        safe[column] = safe[column].map(csv_safe)
    safe.columns = [csv_safe(str(column)) for column in safe.columns]
    return safe


def csv_raw_frame(frame):
    """A table read back from this tool's CSV with :func:`csv_raw` applied to its text cells."""
    raw = frame.copy()
    for column in raw.columns[raw.dtypes == object]:
        raw[column] = raw[column].map(csv_raw)
    return raw


def gzip_is_complete(path: Path) -> bool:
    """True when the gzip file decompresses to its end (a copy cut short does not: readers such as pandas would
    silently return what they got so far). The data are streamed, never held."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error):
        return False
    return True
