"""An RTSTRUCT's ROI as the tumour mask, rasterised onto the CT grid.

The ROI is chosen by name (``--segment``, a manifest's ``segment`` column; case and surrounding spaces ignored); a
structure set with one ROI needs no name. Only closed planar contours (``CLOSED_PLANAR``, ``CLOSEDPLANAR_XOR``)
outline a volume; points, open contours and surfaces are refused.

Every contour point goes from patient coordinates (mm) to a continuous CT voxel index. A contour must lie in one CT
slice plane (within :data:`PLANARITY_TOLERANCE` of a slice spacing: contours drawn on another orientation are
refused) and inside the CT (within :data:`EDGE_TOLERANCE` voxels of its outer faces). Contours are grouped by plane;
each CT slice takes the nearest plane — contours drawn on a series with other slice positions still land — with a
warning when planes lie between slices or CT slices inside the ROI got none. On a slice the plane's contours are
filled by the even-odd rule (:mod:`contour_fill`): an inner contour is a hole. A voxel is in the mask when its
centre is inside; on IBSI's CT phantom and sarcoma cases this gives the very masks MIRP made (Dice 1.0).

The file is untrusted: counts are checked before anything is allocated for them (:data:`MAX_ROIS`,
:data:`MAX_CONTOURS_PER_ROI`, :data:`MAX_POINTS_PER_CONTOUR`, :data:`MAX_POINTS_PER_ROI`), contour data are parsed
straight from their bytes (no Python object per value), and values that are not finite numbers are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..core.errors import GeometryError, InputFileError, MaskError
from .contour_fill import fill_even_odd, row_crossings
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

#: Limits of what one structure set may claim (real ones: tens to a few hundred ROIs; a tumour has tens to a few
#: hundred contours of hundreds to a few thousand points).
MAX_ROIS = 1_000
MAX_CONTOURS_PER_ROI = 20_000
MAX_POINTS_PER_CONTOUR = 100_000
MAX_POINTS_PER_ROI = 5_000_000
#: Edge–row crossings of one contour (a 512-row outline has about a thousand): the fill's work and memory.
MAX_CROSSINGS_PER_CONTOUR = 4_000_000
#: Edge–row crossings of all the ROI's contours together (a tumour's few hundred contours have tens of thousands; a
#: whole body a million): bounds the fill's time for a file of many small zigzag contours.
MAX_CROSSINGS_PER_ROI = 20_000_000
#: The longest a DS value may be (16 characters) and its separator: bytes per coordinate at most.
_BYTES_PER_VALUE = 17
#: A contour's points may stray this far (fraction of the slice spacing) from one CT slice plane.
PLANARITY_TOLERANCE = 0.1
#: Contours whose planes are closer than this (fraction of the slice spacing) are one plane.
PLANE_GROUPING = 0.05
#: A plane further than this (fraction of the slice spacing) from its CT slice is "between slices": warned.
OFF_SLICE_TOLERANCE = 0.25
#: Contours may reach this far (voxels) beyond the CT's outer voxel faces.
EDGE_TOLERANCE = 0.5
CLOSED_TYPES = ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR")
_CONTOUR_DATA = 0x30060050
_NAMES_SHOWN = 30


@dataclass(frozen=True)
class Roi:
    """One ROI of a structure set: its number (as written), name and frame of reference."""

    number: str
    name: str
    frame_of_reference_uid: str | None


def rtstruct_mask(
    dataset, mask: DicomMaskFile, ct: sitk.Image, ct_reference: SeriesReference | None, segment: str | None,
    label: int | None,
) -> tuple[sitk.Image, str, list[str]]:
    """The chosen ROI as a 0/1 mask on the CT grid, its description, and warnings."""
    if label is not None:
        raise MaskError(f"{mask.path} is an RTSTRUCT: its ROIs are chosen by name with --segment, not by --label.")
    try:
        roi = choose_roi(dataset, mask, segment)
        what = f"ROI {shown(roi.name)} of the RTSTRUCT {mask.path.name}"
        warnings = check_same_scan(what, SeriesReference(roi.frame_of_reference_uid, None),
                                   _referenced_series(dataset), ct_reference)
        contours = roi_contours(dataset, roi, mask)
    except DAMAGED_FILE_ERRORS as error:
        raise damaged(mask, error) from None
    array, raster_warnings = rasterise(contours, ct, shown(roi.name))
    if not array.any():
        raise MaskError(
            f"ROI {shown(roi.name)} of {mask.path} covers no voxel centre of the CT (contours smaller than a voxel); "
            "check that it outlines the tumour."
        )
    image = sitk.GetImageFromArray(array.astype(np.uint8))
    image.CopyInformation(ct)
    return image, f"RTSTRUCT ROI {shown(roi.name)}", warnings + raster_warnings


def choose_roi(dataset, mask: DicomMaskFile, segment: str | None) -> Roi:
    """The ROI named ``segment``, or the only one; a sentence listing the names otherwise."""
    items = dataset.get("StructureSetROISequence") or []
    if len(items) > MAX_ROIS:
        raise InputFileError(
            f"The RTSTRUCT {mask.path} holds {len(items):,} ROIs, more than the {MAX_ROIS:,} read; export the "
            "tumour's structure set on its own."
        )
    default_frame = _first_frame_of_reference(dataset)
    rois = [
        Roi(str(item.get("ROINumber", "")).strip(), str(item.get("ROIName", "") or "").strip(),
            uid_text(item.get("ReferencedFrameOfReferenceUID")) or default_frame)
        for item in items
    ]
    if not rois:
        raise MaskError(f"The RTSTRUCT {mask.path} holds no ROI; export the tumour contour with it.")
    names = _names(rois)
    if segment is None:
        if len(rois) == 1:
            return rois[0]
        raise MaskError(
            f"The RTSTRUCT {mask.path} holds {len(rois)} ROIs ({names}); pass --segment NAME (in a manifest, the "
            "segment column) to choose the tumour."
        )
    matches = [roi for roi in rois if roi.name.lower() == segment.strip().lower()]
    if not matches:
        raise MaskError(f"ROI {shown(segment)} is not in the RTSTRUCT {mask.path}; its ROIs are {names}.")
    if len(matches) > 1:
        raise MaskError(
            f"{len(matches)} ROIs of the RTSTRUCT {mask.path} are named {shown(segment)}; give them distinct names "
            "in the planning system and export again."
        )
    return matches[0]


def _names(rois: list[Roi]) -> str:
    names = ", ".join(shown(roi.name) for roi in rois[:_NAMES_SHOWN])
    return names + (f" and {len(rois) - _NAMES_SHOWN} more" if len(rois) > _NAMES_SHOWN else "")


def _first_frame_of_reference(dataset) -> str | None:
    frames = dataset.get("ReferencedFrameOfReferenceSequence") or []
    return uid_text(frames[0].get("FrameOfReferenceUID")) if frames else None


def _referenced_series(dataset) -> set[str]:
    """The series the structure set says it was drawn on."""
    series = set()
    for frame in dataset.get("ReferencedFrameOfReferenceSequence") or []:
        for study in frame.get("RTReferencedStudySequence") or []:
            for item in study.get("RTReferencedSeriesSequence") or []:
                if uid_text(item.get("SeriesInstanceUID")):
                    series.add(str(item.SeriesInstanceUID).strip())
    return series


def roi_contours(dataset, roi: Roi, mask: DicomMaskFile) -> list[np.ndarray]:
    """The ROI's contours as ``(N, 3)`` arrays of patient coordinates (mm), every count checked first."""
    where = f"ROI {shown(roi.name)} of the RTSTRUCT {mask.path}"
    item = next((c for c in dataset.get("ROIContourSequence") or []
                 if str(c.get("ReferencedROINumber", "")).strip() == roi.number), None)
    sequence = (item.get("ContourSequence") if item is not None else None) or []
    if not sequence:
        raise MaskError(f"{where} has no contours; draw the tumour, then export the structure set again.")
    if len(sequence) > MAX_CONTOURS_PER_ROI:
        raise InputFileError(f"{where} holds {len(sequence):,} contours, more than the {MAX_CONTOURS_PER_ROI:,} read.")
    contours, total = [], 0
    for contour in sequence:
        kind = str(contour.get("ContourGeometricType", "") or "").strip().upper()
        if kind not in CLOSED_TYPES:
            raise MaskError(
                f"{where} holds {shown(kind or 'untyped')} contours, but only closed planar contours (CLOSED_PLANAR) "
                "outline a tumour; export it as closed contours, a DICOM SEG or a labelmap."
            )
        points = _contour_points(contour, where)
        total += len(points)
        if total > MAX_POINTS_PER_ROI:
            raise InputFileError(f"{where} holds more than {MAX_POINTS_PER_ROI:,} contour points; it is not a tumour.")
        contours.append(points)
    return contours


def _contour_points(contour, where: str) -> np.ndarray:
    """One contour's points, parsed from the raw bytes of Contour Data once their count is known to be sane."""
    element = contour.get_item(_CONTOUR_DATA)
    raw = element.value if element is not None else None
    if raw is None:
        raise InputFileError(f"A contour of {where} has no Contour Data; export the structure set again.")
    if isinstance(raw, bytes):
        if len(raw) > MAX_POINTS_PER_CONTOUR * 3 * _BYTES_PER_VALUE:
            raise InputFileError(
                f"A contour of {where} holds more than {MAX_POINTS_PER_CONTOUR:,} points; it is not a tumour outline."
            )
        values = np.array(raw.split(b"\\"), dtype=np.float64)
    else:  # already parsed by pydicom (a dataset built in memory)
        values = np.array(list(raw) if hasattr(raw, "__iter__") else [raw], dtype=np.float64)
    claimed = contour.get("NumberOfContourPoints")
    if len(values) % 3 or (claimed is not None and int(claimed) * 3 != len(values)):
        raise InputFileError(
            f"A contour of {where} holds {len(values)} coordinates for {claimed} points; the file is damaged."
        )
    if len(values) > 3 * MAX_POINTS_PER_CONTOUR:
        raise InputFileError(
            f"A contour of {where} holds more than {MAX_POINTS_PER_CONTOUR:,} points; it is not a tumour outline."
        )
    if not np.all(np.isfinite(values)):
        raise InputFileError(f"A contour of {where} holds coordinates that are not finite numbers; the file is damaged.")
    return values.reshape(-1, 3)


def rasterise(contours: list[np.ndarray], ct: sitk.Image, name: str) -> tuple[np.ndarray, list[str]]:
    """The voxels of the CT grid (z, y, x) whose centres the contours enclose, and warnings on how they landed."""
    size = np.array(ct.GetSize())
    indices = [voxel_indices(points, ct) for points in contours]
    _check_inside(indices, ct, name)
    planes = _planes(indices, name)
    by_slice, warnings = _nearest_planes(planes, int(size[2]), float(ct.GetSpacing()[2]), name)
    crossings = sum(row_crossings(polygon, int(size[1])) for polygons in by_slice.values() for polygon in polygons)
    if crossings > MAX_CROSSINGS_PER_ROI:
        raise MaskError(
            f"The contours of ROI {name} cross the CT's pixel rows {crossings:,} times, more than the "
            f"{MAX_CROSSINGS_PER_ROI:,} of any tumour outline (a damaged or hostile file); export the contours again."
        )
    array = np.zeros(tuple(int(n) for n in size[::-1]), dtype=bool)
    for slice_index, polygons in by_slice.items():
        array[slice_index] = fill_even_odd(polygons, (int(size[1]), int(size[0])), MAX_CROSSINGS_PER_CONTOUR)
    return array, warnings


def _check_inside(indices: list[np.ndarray], ct: sitk.Image, name: str) -> None:
    """Refuse contours that reach outside the CT (beyond :data:`EDGE_TOLERANCE` voxels)."""
    size = np.array(ct.GetSize(), dtype=np.float64)
    low = np.min([points.min(axis=0) for points in indices], axis=0)
    high = np.max([points.max(axis=0) for points in indices], axis=0)
    beyond = np.maximum(-0.5 - low, high - (size - 0.5))
    if np.any(beyond > EDGE_TOLERANCE):
        distance = float(np.max(beyond * np.array(ct.GetSpacing())))
        shown_distance = f"{distance:.0f}" if distance < 1e6 else f"{distance:.1e}"  # not 300 digits of a hostile file
        raise GeometryError(
            f"The contours of ROI {name} reach {shown_distance} mm outside the CT: they were drawn on another series or "
            "a larger field of view. Give the CT series they were drawn on."
        )


def _planes(indices: list[np.ndarray], name: str) -> list[tuple[float, list[np.ndarray]]]:
    """Contours grouped by slice plane: (continuous slice index, in-plane polygons ``(i, j)``), in slice order."""
    spreads = [float(np.ptp(points[:, 2])) for points in indices]
    if max(spreads) > PLANARITY_TOLERANCE:
        raise GeometryError(
            f"The contours of ROI {name} are not parallel to the CT slices (one spans {max(spreads):.2g} slices): they "
            "were drawn on another orientation. Export the tumour as a DICOM SEG or labelmap on this CT."
        )
    order = sorted(range(len(indices)), key=lambda n: float(indices[n][:, 2].mean()))
    planes: list[tuple[list[float], list[np.ndarray]]] = []
    for n in order:
        level = float(indices[n][:, 2].mean())
        if not planes or level - planes[-1][0][-1] > PLANE_GROUPING:
            planes.append(([], []))
        planes[-1][0].append(level)
        planes[-1][1].append(indices[n][:, :2])
    return [(float(np.mean(levels)), polygons) for levels, polygons in planes]


def _nearest_planes(
    planes: list[tuple[float, list[np.ndarray]]], slices: int, spacing: float, name: str
) -> tuple[dict[int, list[np.ndarray]], list[str]]:
    """Each CT slice's nearest contour plane (within half a slice), and warnings on planes off the slices or missing."""
    best: dict[int, tuple[float, list[np.ndarray]]] = {}
    for level, polygons in planes:
        slice_index = int(np.clip(np.round(level), 0, slices - 1))
        offset = abs(level - slice_index)
        if slice_index not in best or offset < best[slice_index][0]:
            best[slice_index] = (offset, polygons)
    warnings = []
    worst = max(offset for offset, _ in best.values())
    if worst > OFF_SLICE_TOLERANCE:
        warnings.append(
            f"The contours of ROI {name} lie between the CT slices (up to {worst * spacing:.2g} mm from a slice "
            "centre): each slice took its nearest contour plane. Check that they were drawn on this series."
        )
    if len(planes) > len(best):
        warnings.append(
            f"ROI {name} has contours on {len(planes)} planes for {len(best)} CT slices (drawn on thinner slices?): "
            "each CT slice took its nearest plane."
        )
    missing = (max(best) - min(best) + 1) - len(best)
    if missing:
        warnings.append(
            f"{missing} CT slice(s) between the first and last contour of ROI {name} have no contour (drawn on "
            "thicker slices, or separate parts); they are not in the mask."
        )
    return {slice_index: polygons for slice_index, (_, polygons) in best.items()}, warnings
