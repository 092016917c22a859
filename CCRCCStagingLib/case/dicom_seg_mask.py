"""A DICOM SEG's segment as the tumour mask.

The segment is chosen by number (``--label``) or by label (``--segment``, case ignored); a SEG with one segment
needs neither. BINARY and LABELMAP segmentations give the segment's voxels; a FRACTIONAL one is cut at
``--mask-threshold`` (0.5 when not given).

The header is checked before any pixel is decoded (untrusted file): at most :data:`MAX_SEG_FRAMES` frames and
:data:`MAX_SEGMENTS` segments, as many per-frame descriptions as frames, pixel data of exactly the length rows ×
columns × frames promise (uncompressed transfer syntaxes), and the volume the chosen segment's frames span —
missing slices included — within the mask's voxel budget (:meth:`ReadLimits.for_mask`). highdicom then decodes the
segment's frames into a volume with its patient geometry. When that volume lies on the CT's voxel lattice (a SEG
made on this series, the usual case) it is copied onto the CT grid voxel for voxel; on another grid it stays on its
own, as any mask does here (PyRadiomics builds its grid from the mask), with the loader's warning.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

from ..core.errors import GeometryError, InputFileError, MaskError
from .dicom_mask_files import (
    DAMAGED_FILE_ERRORS,
    DicomMaskFile,
    SeriesReference,
    check_same_scan,
    damaged,
    shown,
    uid_text,
    voxel_indices,
)
from .file_checks import ReadLimits

#: A 2000-slice CT with 50 segments on every slice; a claim beyond is a damaged or hostile header.
MAX_SEG_FRAMES = 100_000
MAX_SEGMENTS = 1_000
#: A segment has one frame per slice it covers; a SEG drawn on thinner slices of the same frame of reference may have
#: a few per CT slice, but not more than this.
FRAMES_PER_CT_SLICE = 4
#: Voxel indices closer than this to whole numbers count as on the CT's lattice.
LATTICE_TOLERANCE = 1e-3
#: Two frame positions closer than this (mm) along the normal are one slice.
SAME_POSITION_MM = 1e-3
DEFAULT_FRACTION = 0.5
SEGMENTATION_TYPES = ("BINARY", "FRACTIONAL", "LABELMAP")


def seg_mask(
    dataset, mask: DicomMaskFile, ct: sitk.Image, ct_reference: SeriesReference | None, segment: str | None,
    label: int | None, threshold: float | None, limits: ReadLimits,
) -> tuple[sitk.Image, str, list[str]]:
    """The chosen segment as a 0/1 mask (on the CT grid when it lies on its lattice), its description, warnings."""
    hd = _highdicom()
    try:
        kind = _check_header(dataset, mask, ct.GetSize()[2])
        if threshold is not None and kind != "FRACTIONAL":
            raise MaskError(f"--mask-threshold applies to a fractional SEG or a probability map; {mask.path} is {kind}.")
        number, name = choose_segment(dataset, mask, segment, label)
        what = f"DICOM SEG {mask.path.name}"
        reference = SeriesReference(uid_text(dataset.get("FrameOfReferenceUID")), None)
        warnings = check_same_scan(what, reference, _referenced_series(dataset), ct_reference)
        _check_volume_budget(dataset, mask, number, kind, limits)
        volume = hd.seg.Segmentation.from_dataset(dataset, copy=False).get_volume(segment_numbers=[number])
    except DAMAGED_FILE_ERRORS as error:
        raise damaged(mask, error) from None
    values = np.asarray(volume.array).reshape(volume.array.shape[:3])
    if kind == "FRACTIONAL":
        cut = DEFAULT_FRACTION if threshold is None else threshold
        binary, description = values >= cut, f"DICOM SEG segment {number} {shown(name)} (fraction ≥ {cut:g})"
    else:
        binary, description = values > 0, f"DICOM SEG segment {number} {shown(name)}"
    if not binary.any():
        raise MaskError(f"Segment {number} {shown(name)} of {mask.path} is empty: draw the tumour, then export again.")
    image = _image_from_affine(binary.astype(np.uint8), np.asarray(volume.affine, dtype=np.float64))
    return _onto_ct(image, ct, mask), description, warnings


def _highdicom():
    try:
        import highdicom as hd
    except ImportError:
        raise InputFileError(
            "Reading a DICOM SEG mask needs the highdicom package (pip install 'highdicom>=0.24,<1'; in 3D Slicer from "
            "5.12); or give the mask as a labelmap or .seg.nrrd."
        ) from None
    if not hasattr(hd.seg.Segmentation, "get_volume"):
        raise InputFileError(
            f"Reading a DICOM SEG mask needs highdicom 0.24 or later (this is {hd.__version__}); update it, or give "
            "the mask as a labelmap or .seg.nrrd."
        )
    return hd


def _referenced_series(dataset) -> set[str]:
    return {str(item.SeriesInstanceUID).strip() for item in dataset.get("ReferencedSeriesSequence") or []
            if uid_text(item.get("SeriesInstanceUID"))}


def _check_header(dataset, mask: DicomMaskFile, ct_slices: int) -> str:
    """The segmentation type, once frame count, per-frame descriptions, segments and pixel data length agree, and
    the frames are no more than the CT's slices allow (before the per-frame descriptions are parsed: a small deflated
    file describing 100,000 frames costs pydicom and highdicom GBs and a minute)."""
    kind = str(dataset.get("SegmentationType", "") or "").strip().upper()
    if kind not in SEGMENTATION_TYPES:
        raise InputFileError(f"The DICOM SEG {mask.path} has segmentation type {shown(kind)}; it is damaged.")
    frames, rows, columns = (int(dataset.get(key) or 0) for key in ("NumberOfFrames", "Rows", "Columns"))
    if not (0 < frames <= MAX_SEG_FRAMES and rows > 0 and columns > 0):
        raise InputFileError(
            f"The DICOM SEG {mask.path} claims {frames:,} frames of {rows} × {columns} pixels (at most "
            f"{MAX_SEG_FRAMES:,} frames are read); the file is damaged or not a tumour segmentation."
        )
    segments = len(dataset.get("SegmentSequence") or [])
    if not 0 < segments <= MAX_SEGMENTS:
        raise InputFileError(f"The DICOM SEG {mask.path} holds {segments:,} segments (1 to {MAX_SEGMENTS:,} are read).")
    most = segments * ct_slices * FRAMES_PER_CT_SLICE
    if frames > most:
        raise InputFileError(
            f"The DICOM SEG {mask.path} claims {frames:,} frames for {segments} segment(s) on a CT of {ct_slices} "
            f"slices (at most {most:,}: {FRAMES_PER_CT_SLICE} per slice and segment); give the SEG drawn on this CT."
        )
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != frames:
        raise InputFileError(
            f"The DICOM SEG {mask.path} claims {frames:,} frames but describes {len(per_frame):,}; it is damaged."
        )
    _check_pixel_length(dataset, mask, frames * rows * columns)
    return kind


def _check_pixel_length(dataset, mask: DicomMaskFile, pixels: int) -> None:
    """Uncompressed pixel data hold exactly what rows × columns × frames promise (bit-packed for BINARY)."""
    syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        return  # the decoder checks its own stream
    data = dataset.get("PixelData")
    expected = math.ceil(pixels * int(dataset.get("BitsAllocated") or 0) / 8)
    found = len(data) if data is not None else 0
    if not expected <= found <= expected + 1:  # one pad byte keeps the element's length even
        raise InputFileError(
            f"The DICOM SEG {mask.path} holds {found:,} bytes of pixel data where its frames and dimensions promise "
            f"{expected:,}: its header or data are damaged. Export it again."
        )


def choose_segment(dataset, mask: DicomMaskFile, segment: str | None, label: int | None) -> tuple[int, str]:
    """(number, label) of the segment chosen by number, by label or as the only one."""
    segments = [(int(item.SegmentNumber), str(item.get("SegmentLabel", "") or "").strip())
                for item in dataset.SegmentSequence]
    listed = ", ".join(f"{number} {shown(name)}" for number, name in segments[:30])
    if label is not None:
        matches = [s for s in segments if s[0] == label]
    elif segment is not None:
        matches = [s for s in segments if s[1].lower() == segment.strip().lower()]
    elif len(segments) == 1:
        return segments[0]
    else:
        raise MaskError(
            f"The DICOM SEG {mask.path} holds {len(segments)} segments ({listed}); choose the tumour with --segment "
            "LABEL or --label NUMBER."
        )
    if len(matches) != 1:
        asked = f"number {label}" if label is not None else shown(segment or "")
        raise MaskError(f"No single segment {asked} in the DICOM SEG {mask.path}; its segments are {listed}.")
    return matches[0]


def _check_volume_budget(dataset, mask: DicomMaskFile, number: int, kind: str, limits: ReadLimits) -> None:
    """The volume the segment's frames span (gaps filled, as the decoder fills them) fits the mask's voxel budget."""
    shared = (dataset.get("SharedFunctionalGroupsSequence") or [None])[0]
    positions, normal = [], None
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        if kind != "LABELMAP" and _frame_segment(frame, shared) != number:
            continue
        normal = normal if normal is not None else _frame_normal(frame, shared)
        positions.append([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient])
    if not positions:
        raise MaskError(f"Segment {number} of the DICOM SEG {mask.path} has no frame: it is empty.")
    levels = np.unique(np.round(np.asarray(positions) @ normal / SAME_POSITION_MM)) * SAME_POSITION_MM
    if not np.all(np.isfinite(levels)):
        raise InputFileError(f"The DICOM SEG {mask.path} has frame positions that are not finite numbers.")
    gaps = np.diff(levels)
    slices = 1 if len(levels) == 1 else int(round((levels[-1] - levels[0]) / gaps.min())) + 1
    voxels = slices * int(dataset.Rows) * int(dataset.Columns)
    if voxels > limits.max_voxels:
        raise InputFileError(
            f"Segment {number} of the DICOM SEG {mask.path} spans {slices:,} slices of {dataset.Rows} × "
            f"{dataset.Columns} pixels, more than the {limits.max_voxels:,} voxels a mask of this CT may hold; the "
            "file is damaged, or not on this CT."
        )


def _frame_segment(frame, shared) -> int | None:
    for group in (frame, shared):
        items = group.get("SegmentIdentificationSequence") if group is not None else None
        if items:
            return int(items[0].ReferencedSegmentNumber)
    return None


def _frame_normal(frame, shared) -> np.ndarray:
    for group in (frame, shared):
        items = group.get("PlaneOrientationSequence") if group is not None else None
        if items:
            cosines = np.array([float(v) for v in items[0].ImageOrientationPatient], dtype=np.float64)
            normal = np.cross(cosines[:3], cosines[3:])
            if np.all(np.isfinite(normal)) and np.linalg.norm(normal) > 0.5:
                return normal / np.linalg.norm(normal)
    raise ValueError("no usable Image Orientation (Patient)")


def _image_from_affine(array: np.ndarray, affine: np.ndarray) -> sitk.Image:
    """A (slices, rows, columns) array with highdicom's affine (index → patient mm, LPS) as an ITK image."""
    image = sitk.GetImageFromArray(array)  # ITK's x, y, z = the array's columns, rows, slices
    steps = affine[:3, :3][:, ::-1]  # per column, per row, per slice
    spacing = np.linalg.norm(steps, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (steps / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    return image


def _onto_ct(image: sitk.Image, ct: sitk.Image, mask: DicomMaskFile) -> sitk.Image:
    """The segment on the CT grid when its voxels are CT voxels (copied, nothing interpolated), else on its own."""
    inside = np.nonzero(sitk.GetArrayViewFromImage(image))  # (z, y, x)
    bounds = np.array([[axis.min(), axis.max()] for axis in reversed(inside)], dtype=np.float64)  # x, y, z
    corners = [[float(bounds[axis, pick[axis]]) for axis in range(3)] for pick in np.ndindex(2, 2, 2)]
    points = np.array([image.TransformContinuousIndexToPhysicalPoint(corner) for corner in corners])
    index = voxel_indices(points, ct)
    beyond = np.maximum(-0.5 - index, index - (np.array(ct.GetSize()) - 0.5))
    if np.any(beyond > LATTICE_TOLERANCE):
        raise GeometryError(
            f"The segment of the DICOM SEG {mask.path} reaches outside the CT: it was made on another series or a "
            "larger field of view. Give the CT series it was made on."
        )
    if not _on_lattice(image, ct):
        return image
    return sitk.Resample(image, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def _on_lattice(image: sitk.Image, ct: sitk.Image) -> bool:
    """Every voxel centre of ``image`` is a CT voxel centre (origin on the lattice, steps of ± one CT voxel)."""
    unit = np.vstack([np.zeros(3), np.eye(3)])
    points = np.array([image.TransformContinuousIndexToPhysicalPoint(list(map(float, u))) for u in unit])
    index = voxel_indices(points, ct)
    steps = index[1:] - index[0]
    whole = np.all(np.abs(index - np.round(index)) <= LATTICE_TOLERANCE)
    return bool(whole and np.allclose(np.abs(steps).sum(axis=1), 1.0, atol=LATTICE_TOLERANCE)
                and np.allclose(np.abs(steps).max(axis=1), 1.0, atol=LATTICE_TOLERANCE))
