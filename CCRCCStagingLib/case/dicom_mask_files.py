"""Tumour masks that are DICOM objects — an RTSTRUCT (contours) or a DICOM SEG — found, read and tied to the CT.

The mask argument may be the object's file or a folder holding exactly one such object (the folder of the CT series
itself will do). A DICOM file is recognised by its 128-byte preamble and ``DICM``, and its kind by the SOP class in
its file meta information, read alone. Files are untrusted:

- in a folder, entries that are not regular files, hidden, or links leading out of the folder are never opened, and
  at most :data:`MAX_FOLDER_ENTRIES` entries are looked at;
- the object's file is at most :data:`MAX_DICOM_MASK_BYTES` (checked before it is read), and anything pydicom cannot
  parse becomes one sentence (:class:`InputFileError`) instead of a traceback;
- the mask must have been drawn in the CT series' frame of reference (``FrameOfReferenceUID``): another one is
  refused; when either side carries none (a CT given as NIfTI, a de-identified export) the mask is placed by its
  patient coordinates, with a warning.

pydicom is imported only when a mask turns out to be DICOM.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import GeometryError, InputFileError, MaskError
from .file_checks import deflated_dicom_exceeds, require_regular_file, stays_inside

RTSTRUCT = "RTSTRUCT"
SEG = "SEG"
#: SOP classes read as masks (RT Structure Set Storage, Segmentation Storage).
MASK_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.481.3": RTSTRUCT, "1.2.840.10008.5.1.4.1.1.66.4": SEG}
#: The largest RTSTRUCT or SEG file read: a whole-body structure set or a 2000-slice multi-organ SEG is far smaller.
MAX_DICOM_MASK_BYTES = 1 << 30
#: Entries of a mask folder looked at (a CT series folder of a few thousand slices with its RTSTRUCT fits).
MAX_FOLDER_ENTRIES = 100_000
#: Errors pydicom (and highdicom) raise on files that are damaged or not what they claim.
DAMAGED_FILE_ERRORS = (
    ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, EOFError, OSError, RuntimeError,
)


@dataclass(frozen=True)
class DicomMaskFile:
    """A DICOM mask object: its file and its kind (:data:`RTSTRUCT` or :data:`SEG`)."""

    path: Path
    kind: str


@dataclass(frozen=True)
class SeriesReference:
    """What ties a mask to its CT series: the frame of reference and the series (``None`` when not known)."""

    frame_of_reference_uid: str | None
    series_instance_uid: str | None


def find_dicom_mask(path: Path) -> DicomMaskFile | None:
    """The RTSTRUCT or SEG that ``path`` is (or, for a folder, holds); ``None`` for any other mask file."""
    if path.is_dir():
        return _mask_in_folder(path)
    require_regular_file(path, "mask")  # before any byte is read: a FIFO would block
    kind = dicom_mask_kind(path)
    return DicomMaskFile(path, kind) if kind else None


def dicom_mask_kind(path: Path) -> str | None:
    """:data:`RTSTRUCT` or :data:`SEG` when the file is such a DICOM object (by its file meta information)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(132)[128:] != b"DICM":
                return None
    except OSError:
        return None
    from pydicom.filereader import read_file_meta_info

    try:
        with dicom_readers_quiet():
            meta = read_file_meta_info(path)
        return MASK_SOP_CLASSES.get(str(meta.get("MediaStorageSOPClassUID", "")))
    except DAMAGED_FILE_ERRORS:
        return None  # not a readable DICOM object: the labelmap reader says what it is


def _mask_in_folder(folder: Path) -> DicomMaskFile:
    """The one RTSTRUCT or SEG among the regular files of ``folder`` (not its subfolders)."""
    found, links_out = [], 0
    with os.scandir(folder) as scan:
        for count, entry in enumerate(scan):
            if count >= MAX_FOLDER_ENTRIES:
                raise InputFileError(
                    f"The mask folder {folder} holds more than {MAX_FOLDER_ENTRIES:,} entries; give the RTSTRUCT or "
                    "DICOM SEG file itself."
                )
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not stays_inside(folder, path):
                links_out += 1
                continue
            if _is_regular_file(path) and (kind := dicom_mask_kind(path)):
                found.append(DicomMaskFile(path, kind))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputFileError(
            f"The mask folder {folder} holds no RTSTRUCT or DICOM SEG file"
            + (f" ({links_out} link(s) leading out of it were not followed)" if links_out else "")
            + "; give the mask file itself (a labelmap, .seg.nrrd, RTSTRUCT or DICOM SEG)."
        )
    names = ", ".join(sorted(f"{mask.path.name} ({mask.kind})" for mask in found)[:10])
    raise MaskError(f"The mask folder {folder} holds {len(found)} RTSTRUCT/SEG files ({names}); give the one to use.")


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


@contextmanager
def dicom_readers_quiet() -> Iterator[None]:
    """pydicom and highdicom warn about every odd value of a file (Python warnings; highdicom also logs, and with no
    handler of its own its records would reach stderr); what matters reaches the user as this project's own
    sentence, so neither is printed while a mask is read."""
    highdicom_log = logging.getLogger("highdicom")
    level = highdicom_log.level
    highdicom_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        highdicom_log.setLevel(level)


def read_dicom_dataset(mask: DicomMaskFile):
    """The whole DICOM object, read after its size was checked; a file pydicom cannot parse is refused."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    size = os.stat(mask.path).st_size
    if size > MAX_DICOM_MASK_BYTES:
        raise InputFileError(
            f"The {mask.kind} {mask.path} is {size:,} bytes, more than the {MAX_DICOM_MASK_BYTES:,} a tumour mask "
            "needs; give the structure set or segmentation of this case only."
        )
    try:
        _check_inflated_size(mask)
        with dicom_readers_quiet():
            dataset = pydicom.dcmread(mask.path)
        complete = _ends_with_file(dataset, mask.path, size)
    except (InvalidDicomError, *DAMAGED_FILE_ERRORS) as error:
        raise damaged(mask, error) from None
    if not complete:
        raise damaged(mask, ValueError("the file does not end where its last element does"))
    return dataset


#: The most a deflated RTSTRUCT or SEG may inflate to: pydicom inflates the whole data set in memory, and deflate
#: packs a thousand bytes of a repeated value into one (a 1 MB file would otherwise claim a GB).
MAX_INFLATED_BYTES = 256 << 20


def _check_inflated_size(mask: DicomMaskFile) -> None:
    """A deflated data set is inflated once, in chunks and without keeping them, before pydicom inflates it whole."""
    if deflated_dicom_exceeds(mask.path, MAX_INFLATED_BYTES):
        raise InputFileError(
            f"The {mask.kind} {mask.path} is deflated to {os.stat(mask.path).st_size:,} bytes from more than the "
            f"{MAX_INFLATED_BYTES:,} a tumour mask needs (a hostile or damaged file); export it again without deflate "
            "compression."
        )


#: The Sequence Delimitation Item (little endian) that ends an element of undefined length.
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
#: Deflated data sets: element offsets refer to the inflated stream, not to the file.
_DEFLATED = "1.2.840.10008.1.2.1.99"


def _ends_with_file(dataset, path: Path, size: int) -> bool:
    """pydicom stops without a word where a file cut short ends: the last element must end where the file does."""
    from pydicom.dataelem import RawDataElement

    if str(getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "")) == _DEFLATED:
        return True
    tags = sorted(dataset.keys())
    if not tags:
        return False
    element = dataset.get_item(tags[-1])
    raw = isinstance(element, RawDataElement)
    start = element.value_tell if raw else getattr(element, "file_tell", None)
    if start is None or not (raw or element.VR == "SQ"):
        return True  # built in memory, or a value pydicom parsed itself: nothing to compare with
    with open(path, "rb") as handle:
        handle.seek(max(start - 4, 0))
        declared = element.length if raw else int.from_bytes(handle.read(4), "little")
        if declared == 0xFFFFFFFF:
            handle.seek(max(size - len(_SEQUENCE_END), 0))
            return handle.read() == _SEQUENCE_END
    return start + declared == size


def damaged(mask: DicomMaskFile, error: BaseException) -> InputFileError:
    """The sentence for a DICOM mask object that cannot be parsed (the first line of the reason kept)."""
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return InputFileError(
        f"The {mask.kind} {mask.path} is damaged or truncated ({reason}); export it again from the planning or "
        "segmentation system."
    )


def series_reference(dicom_files: list[str]) -> SeriesReference | None:
    """The frame of reference and series of a CT read from DICOM files (``None`` for a CT from an image file)."""
    if not dicom_files:
        return None
    import pydicom

    try:
        with dicom_readers_quiet():
            first = pydicom.dcmread(
                dicom_files[0], stop_before_pixels=True, specific_tags=["FrameOfReferenceUID", "SeriesInstanceUID"]
            )
    except DAMAGED_FILE_ERRORS:
        return SeriesReference(None, None)
    return SeriesReference(uid_text(first.get("FrameOfReferenceUID")), uid_text(first.get("SeriesInstanceUID")))


def uid_text(value) -> str | None:
    """A UID (or any short text) from a file, stripped; ``None`` when absent or empty."""
    text = str(value or "").strip()
    return text or None


def shown(name: str) -> str:
    """A name from a file, quoted, without control characters and at most 64 characters long."""
    clean = re.sub(r"[\x00-\x1f\x7f]", "?", name)
    return repr(clean if len(clean) <= 64 else clean[:63] + "…")


def voxel_indices(points: np.ndarray, image: sitk.Image) -> np.ndarray:
    """Patient coordinates (mm, LPS as DICOM and ITK use them) → continuous voxel indices ``(i, j, k)``."""
    direction = np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    relative = points - np.array(image.GetOrigin(), dtype=np.float64)
    # physical = origin + direction · (spacing ⊙ index); the direction is orthonormal, so its transpose inverts it.
    return (relative @ direction) / np.array(image.GetSpacing(), dtype=np.float64)


def check_same_scan(
    what: str, mask_reference: SeriesReference, referenced_series: set[str], ct: SeriesReference | None
) -> list[str]:
    """Refuse a mask drawn in another frame of reference than the CT's; warnings when it cannot be checked, or when
    the mask names another series of the same frame of reference (a later series of one session: coordinates hold)."""
    if ct is None:
        return [
            f"The CT is not a DICOM series, so it cannot be checked that the {what} was drawn on it; it was placed by "
            "its patient coordinates. Give the CT series folder to have this checked."
        ]
    mask_for, ct_for = mask_reference.frame_of_reference_uid, ct.frame_of_reference_uid
    if not (mask_for and ct_for):
        return [
            f"The {what} or the CT series carries no FrameOfReferenceUID (de-identified?), so it cannot be checked "
            "that they belong together; the mask was placed by its patient coordinates."
        ]
    if mask_for != ct_for:
        raise GeometryError(
            f"The {what} was drawn in another frame of reference ({mask_for}) than the CT series ({ct_for}): it belongs "
            "to another scan. Give the CT series it was drawn on."
        )
    if referenced_series and ct.series_instance_uid and ct.series_instance_uid not in referenced_series:
        return [
            f"The {what} references another series than the CT given (same frame of reference, so its coordinates "
            "hold); check that this is the CT it was meant for."
        ]
    return []
