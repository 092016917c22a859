"""A CT from a folder of DICOM files: the series chosen, its slice positions checked, and read onto a uniform grid.

The folder is untrusted: before GDCM opens any file to sort out its series, links leading out of the folder and
entries that are not regular files (pipes, devices, sockets) are refused.

ITK reads a series with the spacing of its first two slices: a missing slice, uneven spacing or two slices at one
position would give a volume whose slices lie where they are not, with only a warning on stderr. Here every slice's
``ImagePositionPatient`` is read first and projected on the slice normal:

- two slices at the same position (a series mixing acquisitions): refused;
- gaps that differ by more than :data:`SPACING_TOLERANCE` of the median gap (a missing slice, a variable-spacing
  acquisition): the slices are interpolated linearly onto a uniform grid at the median gap, with a warning that is
  kept in ``result.json`` and shown in the report.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import InputFileError
from ..core.privacy import DICOM_IDENTIFIER_TAGS
from . import file_checks
from .file_checks import ReadLimits, native_stderr_silenced, stays_inside

#: DICOM tags kept from a series at analysis time (``result.json`` → ``inputs.dicom``): the patient and study data
#: the report shows with identifiers, and the UIDs that tie a later DICOM SEG export to the very series analysed.
DICOM_TAGS = {
    **DICOM_IDENTIFIER_TAGS,
    "0020|000d": "StudyInstanceUID",
    "0020|000e": "SeriesInstanceUID",
    "0008|0060": "Modality",
}
#: Slice gaps may differ from the median gap by this fraction before the series counts as uneven.
SPACING_TOLERANCE = 0.01


def choose_series(folder: Path) -> tuple[list[str], list[str]]:
    """The files of the folder's largest DICOM series, and a warning when there are several."""
    _require_plain_folder(folder)
    try:
        series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError:
        series_ids = ()
    if not series_ids:
        raise InputFileError(f"The folder {folder} holds no DICOM series; give a DICOM series folder or an image file.")
    files_by_series = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in series_ids}
    chosen = max(series_ids, key=lambda sid: len(files_by_series[sid]))
    warnings = []
    if len(series_ids) > 1:
        warnings.append(
            f"The folder {folder} holds {len(series_ids)} DICOM series; the largest ({len(files_by_series[chosen])} "
            "files) was used. Give a folder with one series to choose another."
        )
    return list(files_by_series[chosen]), warnings


def _require_plain_folder(folder: Path) -> None:
    """GDCM opens every file of the folder to find its series: links leading out of the folder, and pipes, devices
    or sockets (a reader can wait on them forever), are refused before it does."""
    refused = []
    with os.scandir(folder) as scan:
        for entry in scan:
            if entry.is_symlink() and not stays_inside(folder, Path(entry.path)):
                refused.append(entry.name)
                continue
            try:
                mode = os.stat(entry.path).st_mode
            except OSError:
                continue  # a dangling link: GDCM skips it too
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                refused.append(entry.name)
            elif stat.S_ISREG(mode) and _inflates_too_far(entry.path):
                raise InputFileError(
                    f"The DICOM file {entry.path} is deflated to {os.stat(entry.path).st_size:,} bytes from far more "
                    "than a CT slice holds (a hostile or damaged file); remove it from the folder or export the series "
                    "again without deflate compression."
                )
    if refused:
        shown = ", ".join(sorted(refused)[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise InputFileError(
            f"The DICOM folder {folder} holds links leading out of it or entries that are not files ({shown}); copy "
            "the series into a folder of its own (e.g. cp -L) and give that folder."
        )


def _inflates_too_far(path: str) -> bool:
    """A deflated file inflating beyond :data:`~file_checks.DICOM_MIN_INFLATED_BUDGET` and
    :data:`~file_checks.CT_MAX_EXPANSION` times its size (GDCM would inflate it whole before reading a tag)."""
    try:
        budget = max(file_checks.DICOM_MIN_INFLATED_BUDGET, int(file_checks.CT_MAX_EXPANSION * os.stat(path).st_size))
        return file_checks.deflated_dicom_exceeds(path, budget)
    except OSError:
        return False  # unreadable: GDCM skips it, and the series check says what is missing


def read_series(folder: Path, files: list[str], limits: ReadLimits) -> tuple[sitk.Image, dict[str, str], list[str]]:
    """The series as one volume on a uniform grid, its identifying tags, and warnings."""
    positions, size = _slice_positions(files, folder)
    if int(size[0]) * int(size[1]) * len(files) > limits.max_voxels:
        raise InputFileError(
            f"The DICOM series in {folder} holds {size[0]} × {size[1]} × {len(files)} voxels, more than the "
            f"{limits.max_voxels:,} allowed; raise the limit with --max-voxels if it really is that large."
        )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        with native_stderr_silenced():  # ITK's own non-uniform-sampling warning: said below, in a sentence
            image = reader.Execute()
    except RuntimeError as error:
        raise InputFileError(f"The DICOM series in {folder} cannot be read: {error}".strip()) from None
    tags = {
        name: reader.GetMetaData(0, tag).strip()
        for tag, name in DICOM_TAGS.items()
        if reader.HasMetaDataKey(0, tag) and reader.GetMetaData(0, tag).strip()
    }
    tags[FINGERPRINT] = fingerprint(files)
    image, warnings = _uniform_slices(image, positions, folder)
    return image, tags, warnings


#: The name under which a series' content digest is kept beside its tags.
FINGERPRINT = "Files SHA-256"


def fingerprint(files: list[str]) -> str:
    """SHA-256 of the series' files (names and bytes, in reading order): whether a folder still holds the series
    that was analysed, also when it carries no UIDs (de-identified exports often do not)."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(Path(name).name.encode() + b"\0")
        with open(name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _slice_positions(files: list[str], folder: Path) -> tuple[np.ndarray, tuple[int, ...]]:
    """Each file's position along the slice normal (in the reader's order), and the slice size."""
    reader = sitk.ImageFileReader()
    points, size, normal = [], None, None
    for name in files:
        reader.SetFileName(name)
        try:
            with native_stderr_silenced():
                reader.ReadImageInformation()
            position = [float(v) for v in reader.GetMetaData("0020|0032").split("\\")]
        except (RuntimeError, ValueError):
            raise InputFileError(
                f"The DICOM file {name} in {folder} has no readable image position (0020,0032); the series is "
                "damaged or not an image series."
            ) from None
        if normal is None:
            size = reader.GetSize()
            normal = np.array(reader.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
        points.append(position)
    return np.asarray(points) @ normal, tuple(int(n) for n in size[:2])


def _uniform_slices(image: sitk.Image, positions: np.ndarray, folder: Path) -> tuple[sitk.Image, list[str]]:
    """The volume as read when its slices are evenly spaced, else interpolated onto an even grid (with a warning)."""
    if len(positions) < 2:
        return image, []
    order = np.argsort(positions, kind="stable")
    gaps = np.diff(positions[order])
    median = float(np.median(gaps))
    if median <= 0 or np.any(gaps <= SPACING_TOLERANCE * median):
        raise InputFileError(
            f"The DICOM series in {folder} holds two slices at the same position: it mixes acquisitions or "
            "reconstructions. Export a single series and run again."
        )
    if np.all(np.abs(gaps - median) <= SPACING_TOLERANCE * median):
        return image, []
    resampled = _interpolate_slices(image, positions, order, median)
    missing = int(round((positions[order][-1] - positions[order][0]) / median)) + 1 - len(positions)
    return resampled, [
        f"The DICOM series in {folder} has uneven slice spacing (gaps {gaps.min():.3g}–{gaps.max():.3g} mm"
        + (f", about {missing} slice(s) missing" if missing > 0 else "")
        + f"); it was interpolated linearly onto a uniform {median:.3g} mm grid. Check that the series is complete."
    ]


def _interpolate_slices(image: sitk.Image, positions: np.ndarray, order: np.ndarray, spacing: float) -> sitk.Image:
    """Linear interpolation between the two nearest acquired slices at every position of a uniform grid."""
    array = sitk.GetArrayViewFromImage(image)  # z in the reader's order
    sorted_positions = positions[order]
    count = int(np.floor((sorted_positions[-1] - sorted_positions[0]) / spacing + 1e-6)) + 1
    targets = sorted_positions[0] + spacing * np.arange(count)
    upper = np.clip(np.searchsorted(sorted_positions, targets, side="right"), 1, len(order) - 1)
    lower = upper - 1
    weight = (targets - sorted_positions[lower]) / (sorted_positions[upper] - sorted_positions[lower])
    low_slices = array[order[lower]].astype(np.float64)
    high_slices = array[order[upper]].astype(np.float64)
    values = low_slices + weight[:, None, None] * (high_slices - low_slices)
    if np.issubdtype(array.dtype, np.integer):
        values = np.round(values)
    out = sitk.GetImageFromArray(values.astype(array.dtype))
    out.SetSpacing((*image.GetSpacing()[:2], spacing))
    out.SetDirection(image.GetDirection())
    # ITK's origin is the first file's position; the grid starts at the lowest slice along the normal.
    normal = np.array(image.GetDirection(), dtype=float).reshape(3, 3)[:, 2]
    out.SetOrigin(tuple(np.array(image.GetOrigin()) + normal * (sorted_positions[0] - positions[0])))
    return out
