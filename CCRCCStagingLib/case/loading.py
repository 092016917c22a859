"""Reading a case: the CT (NRRD, NIfTI, any SimpleITK format, or a DICOM series folder) and the tumour mask
(a labelmap, a Slicer ``.seg.nrrd`` with the segment picked by name or label value, or a DICOM RTSTRUCT or SEG —
:mod:`dicom_mask_files`, :mod:`rtstruct`, :mod:`dicom_seg_mask` — placed on the CT grid), checked and aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .checks import component_warning, require_finite, slice_thickness_warning
from ..core.errors import GeometryError, ImageFormatError, MaskError
from .dicom_mask_files import RTSTRUCT, dicom_readers_quiet, find_dicom_mask, read_dicom_dataset, series_reference
from .dicom_seg_mask import seg_mask
from .dicom_series import choose_series, read_series
from .file_checks import (
    MASK_MAX_EXPANSION,
    ReadLimits,
    check_header,
    check_payload,
    native_stderr_silenced,
    read_header,
    require_regular_file,
    unreadable,
)
from .resampling import check_roi_inside
from .rtstruct import rtstruct_mask

#: Image and mask grids are "the same" when they differ by less than this (relative to the voxel size).
GEOMETRY_TOLERANCE = 1e-4


@dataclass
class LoadedImage:
    """A 3-D scalar image and where it came from."""

    image: sitk.Image
    path: Path
    kind: str  # "file" or "dicom"
    dicom_files: list[str] = field(default_factory=list)
    dicom_tags: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadedCase:
    """A CT and its binary tumour mask on the CT's own grid."""

    image: LoadedImage
    mask: sitk.Image  # uint8, 0/1, on the mask file's own grid (PyRadiomics builds its grid from it); the CT's for DICOM
    mask_path: Path
    mask_description: str
    warnings: list[str] = field(default_factory=list)


def load_case(
    image_path: Path,
    mask_path: Path,
    label: int | None = None,
    segment: str | None = None,
    mask_threshold: float | None = None,
    limits: ReadLimits = ReadLimits(),
) -> LoadedCase:
    """Read, verify and check a CT and its tumour mask (the mask stays on its own grid, as PyRadiomics uses it)."""
    loaded = read_image(Path(image_path), limits)
    require_finite(loaded.image, f"The image {image_path}")
    mask, description, mask_warnings = _read_any_mask(
        Path(mask_path), loaded, label, segment, mask_threshold, limits.for_mask(loaded.image)
    )
    aligned, warnings = align_mask_to_image(loaded.image, mask)
    warnings += slice_thickness_warning(loaded.image) + component_warning(aligned)
    return LoadedCase(loaded, aligned, Path(mask_path), description, loaded.warnings + mask_warnings + warnings)


def _read_any_mask(
    path: Path, ct: LoadedImage, label: int | None, segment: str | None, threshold: float | None, limits: ReadLimits
) -> tuple[sitk.Image, str, list[str]]:
    """A labelmap or ``.seg.nrrd`` (:func:`read_mask`), or a DICOM RTSTRUCT or SEG (a file, or a folder holding one),
    which needs the CT: its grid to be placed on, its series to be checked against."""
    dicom_mask = find_dicom_mask(path)
    if dicom_mask is None:
        mask, description = read_mask(path, label=label, segment=segment, threshold=threshold, limits=limits)
        return mask, description, []
    dataset = read_dicom_dataset(dicom_mask)
    reference = series_reference(ct.dicom_files)
    with dicom_readers_quiet():  # values are parsed as they are reached
        if dicom_mask.kind != RTSTRUCT:
            return seg_mask(dataset, dicom_mask, ct.image, reference, segment, label, threshold, limits)
        if threshold is not None:
            raise MaskError(f"{dicom_mask.path} is an RTSTRUCT (contours, not probabilities); drop --mask-threshold.")
        return rtstruct_mask(dataset, dicom_mask, ct.image, reference, segment, label)


def read_image(path: Path, limits: ReadLimits = ReadLimits()) -> LoadedImage:
    """Read a CT from a file or a DICOM series folder, verified before trusted, and check it is a 3-D volume."""
    if path.is_dir():
        files, warnings = choose_series(path)
        image, tags, series_warnings = read_series(path, files, limits)
        loaded = LoadedImage(image, path, "dicom", files, tags, warnings + series_warnings)
    else:
        loaded = LoadedImage(_read_file(path, "image", limits), path, "file")
    require_scalar_volume(loaded.image, f"The image {path}")
    return loaded


def require_scalar_volume(image: sitk.Image, what: str) -> None:
    """Refuse 2-D, 4-D and multi-component (e.g. RGB) images with a sentence that says which it is."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFormatError(
            f"{what} has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or vector image); "
            "a grey-scale CT volume is needed."
        )
    if image.GetDimension() != 3:
        raise ImageFormatError(f"{what} is {image.GetDimension()}-D; a 3-D CT volume is needed.")


def _read_file(path: Path, what: str, limits: ReadLimits) -> sitk.Image:
    """An image file, read only after its header and payload were verified (:mod:`file_checks`)."""
    require_regular_file(path, what)
    header = read_header(path, what)
    if header.components == 1 and len(header.size) != 3:
        raise ImageFormatError(f"The {what} {path} is {len(header.size)}-D; a 3-D volume is needed.")
    check_header(header, path, what, limits)
    check_payload(path, header, what, limits)
    try:
        with native_stderr_silenced():
            return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise unreadable(path, what, error) from None


def read_mask(
    path: Path,
    label: int | None = None,
    segment: str | None = None,
    threshold: float | None = None,
    limits: ReadLimits = ReadLimits(max_expansion=MASK_MAX_EXPANSION),
) -> tuple[sitk.Image, str]:
    """Read a tumour mask as a 0/1 uint8 image and say which label or segment was taken; a probability map is used
    only with a ``threshold``."""
    image = _read_file(path, "mask", limits)
    segments = _slicer_segments(image)
    if segments:
        return _select_segment(image, segments, path, label, segment)
    if segment is not None:
        raise MaskError(f"The mask {path} is a labelmap without named segments; choose the tumour with --label.")
    require_scalar_volume(image, f"The mask {path}")
    if threshold is not None:
        return _threshold(image, path, threshold)
    return _select_label(image, path, label)


def _threshold(image: sitk.Image, path: Path, threshold: float) -> tuple[sitk.Image, str]:
    """A probability (or any intensity) map made binary: voxels ≥ ``threshold`` are the tumour."""
    binary = sitk.GetArrayViewFromImage(image) >= threshold
    if not binary.any():
        raise MaskError(f"No voxel of the mask {path} reaches {threshold:g}; give a lower --mask-threshold.")
    return _binary_like(image, binary), f"voxels ≥ {threshold:g}"


def _select_label(image: sitk.Image, path: Path, label: int | None) -> tuple[sitk.Image, str]:
    array = sitk.GetArrayViewFromImage(image)
    values = np.unique(array)
    if array.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise MaskError(f"The mask {path} holds NaN or infinite values; export it again.")
    if array.dtype.kind == "f" and np.any(values != np.round(values)):
        raise MaskError(
            f"The mask {path} holds fractional values ({values.min():g}…{values.max():g}): it looks like a "
            "probability map, not labels; give --mask-threshold 0.5 to take the voxels ≥ 0.5 as the tumour."
        )
    present = [int(v) for v in values if v != 0]
    if not present:
        raise MaskError(f"The mask {path} is empty: it labels no voxel. Draw the tumour, then run again.")
    if label is None:
        if len(present) > 1:
            raise MaskError(f"The mask {path} holds labels {present}; choose the tumour with --label (e.g. --label {present[-1]}).")
        label = present[0]
    elif label not in present:
        raise MaskError(f"Label {label} is not in the mask {path}; it holds labels {present}.")
    return _binary_like(image, array == label), f"label {label}"


def _slicer_segments(image: sitk.Image) -> list[dict[str, str | int]]:
    """The segments described in a Slicer ``.seg.nrrd`` header (empty for a plain labelmap)."""
    segments = []
    index = 0
    while image.HasMetaDataKey(f"Segment{index}_ID"):
        def meta(key: str, default: str = "") -> str:
            name = f"Segment{index}_{key}"
            return image.GetMetaData(name) if image.HasMetaDataKey(name) else default

        segments.append(
            {
                "id": meta("ID"),
                "name": meta("Name", meta("ID")),
                "label": int(meta("LabelValue", "1")),
                "layer": int(meta("Layer", "0")),
            }
        )
        index += 1
    return segments


def _select_segment(
    image: sitk.Image, segments: list[dict], path: Path, label: int | None, segment: str | None
) -> tuple[sitk.Image, str]:
    names = [s["name"] for s in segments]
    if segment is not None:
        matches = [s for s in segments if str(s["name"]).lower() == segment.lower() or s["id"] == segment]
        if not matches:
            raise MaskError(f"Segment '{segment}' is not in {path}; its segments are {names}.")
    elif label is not None:
        matches = [s for s in segments if s["label"] == label]
        if len(matches) != 1:
            raise MaskError(f"Label value {label} does not name one segment of {path}; choose by name: {names}.")
    elif len(segments) == 1:
        matches = segments
    else:
        raise MaskError(f"{path} holds several segments {names}; choose the tumour with --segment NAME.")
    chosen = matches[0]
    layer = _layer(image, int(chosen["layer"]), path)
    binary = sitk.GetArrayViewFromImage(layer) == chosen["label"]
    if not binary.any():
        raise MaskError(f"Segment '{chosen['name']}' of {path} is empty: draw the tumour, then run again.")
    return _binary_like(layer, binary), f"segment '{chosen['name']}'"


def _layer(image: sitk.Image, layer: int, path: Path) -> sitk.Image:
    if image.GetNumberOfComponentsPerPixel() == 1:
        return image
    if layer >= image.GetNumberOfComponentsPerPixel():
        raise MaskError(f"{path} names layer {layer}, which the file does not hold; re-save it from Slicer.")
    return sitk.VectorIndexSelectionCast(image, layer)


def _binary_like(reference: sitk.Image, binary: np.ndarray) -> sitk.Image:
    mask = sitk.GetImageFromArray(binary.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = GEOMETRY_TOLERANCE) -> bool:
    """True when two images share size, spacing, origin and direction within the tolerance."""
    spacing = np.array(a.GetSpacing())
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), rtol=tolerance, atol=0)
        and np.all(np.abs(np.subtract(a.GetOrigin(), b.GetOrigin())) <= tolerance * spacing.min() * 10)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance)
    )


def align_mask_to_image(image: sitk.Image, mask: sitk.Image) -> tuple[sitk.Image, list[str]]:
    """Check that the mask's tumour lies in the image's physical space and keep the mask on its own grid, as
    PyRadiomics does (it builds the resampling grid from the mask); warn when that grid is not the CT's lattice."""
    if mask.GetDimension() != image.GetDimension():
        raise GeometryError(f"The mask is {mask.GetDimension()}-D and the image {image.GetDimension()}-D.")
    try:
        check_roi_inside(image, mask)
    except GeometryError:
        raise GeometryError(
            "The mask's tumour lies outside the image, or partly outside: they do not share physical space. "
            "Check that the mask was drawn on this CT series."
        ) from None
    if same_grid(image, mask) or _same_lattice(image, mask):
        return mask, []
    return mask, [
        "The mask is on another grid than the CT (spacing "
        f"{' × '.join(f'{s:.3g}' for s in mask.GetSpacing())} mm); it is used on its own grid, as PyRadiomics does: "
        "the 1 mm grid is anchored at the mask's corner."
    ]


def _same_lattice(image: sitk.Image, mask: sitk.Image, tolerance: float = GEOMETRY_TOLERANCE) -> bool:
    """Same voxel lattice, another extent (a segmentation cropped to its extent, as Slicer saves them)."""
    if not (
        np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=tolerance, atol=0)
        and np.allclose(image.GetDirection(), mask.GetDirection(), atol=tolerance)
    ):
        return False
    index = np.array(image.TransformPhysicalPointToContinuousIndex(mask.GetOrigin()))
    return bool(np.all(np.abs(index - np.round(index)) <= tolerance * 10))


def write_segmentation(mask: sitk.Image, path: Path, name: str, color: tuple[float, float, float]) -> None:
    """Write a 0/1 mask as a one-segment Slicer ``.seg.nrrd`` (binary labelmap source representation)."""
    image = sitk.Cast(mask, sitk.sitkUInt8)
    extent = _extent(sitk.GetArrayViewFromImage(image))
    fields = {
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
        "Segment0_ID": name.replace(" ", "_"),
        "Segment0_Name": name,
        "Segment0_NameAutoGenerated": "0",
        "Segment0_Color": " ".join(f"{c:.6g}" for c in color),
        "Segment0_ColorAutoGenerated": "0",
        "Segment0_LabelValue": "1",
        "Segment0_Layer": "0",
        "Segment0_Extent": extent,
        "Segment0_Tags": "|",
    }
    for key, value in fields.items():
        image.SetMetaData(key, value)
    sitk.WriteImage(image, str(path), useCompression=True)


def _extent(array: np.ndarray) -> str:
    """Slicer's segment extent: first and last index of the foreground along x, y, z."""
    coords = np.nonzero(array)
    bounds = [(int(c.min()), int(c.max())) for c in reversed(coords)]
    return " ".join(f"{low} {high}" for low, high in bounds)
