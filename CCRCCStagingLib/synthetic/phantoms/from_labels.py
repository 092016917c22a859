"""synthesize_ct_from_labels: a synthetic CT on the grid of an existing kidney/tumour label image (e.g. KiTS19
segmentations, which may only be used in tests: CC BY-NC-SA) — the same body, kidney, tumour and scanner models as
:func:`~.generator.make_phantom`, painted where the labels are instead of where the draws put them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ...core.errors import ImageFormatError, MaskError, SettingsError
from .anatomy import BodyFrame, body_plane, fit_body
from .assumptions import GENERATIVE_ASSUMPTIONS, PhantomAssumptions, check_stage, draw_case_parameters
from .fields import signed_distance, smooth_noise
from .geometry import grow, union_box
from .rendering import pad_for, render, scanner_for
from .tumour import paint_labelled_tumour

_INTEGER_PIXEL_IDS = {
    sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32, sitk.sitkInt32,
    sitk.sitkUInt64, sitk.sitkInt64,
}


def _physical_plane(
    labels: sitk.Image, slice_axis: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Physical x and y (mm) of the voxels of the middle plane across ``slice_axis`` (numpy axis)."""
    direction = np.array(labels.GetDirection()).reshape(3, 3)
    spacing = np.array(labels.GetSpacing())
    origin = np.array(labels.GetOrigin())
    plane_axes = [a for a in range(3) if a != slice_axis]
    i0 = np.arange(shape[plane_axes[0]], dtype=np.float64)[:, None]
    i1 = np.arange(shape[plane_axes[1]], dtype=np.float64)[None, :]
    mid = (shape[slice_axis] - 1) / 2.0
    out = []
    for row in (0, 1):
        value = origin[row] + direction[row, 2 - slice_axis] * spacing[2 - slice_axis] * mid
        value = value + direction[row, 2 - plane_axes[0]] * spacing[2 - plane_axes[0]] * i0
        value = value + direction[row, 2 - plane_axes[1]] * spacing[2 - plane_axes[1]] * i1
        out.append(value.astype(np.float32))
    return out[0], out[1]


def _box_corners_xy(labels: sitk.Image, box: tuple[slice, ...]) -> np.ndarray:
    """Physical (x, y) of the 8 corners of a numpy-index box."""
    corners = []
    for a in (box[0].start, box[0].stop - 1):
        for b in (box[1].start, box[1].stop - 1):
            for c in (box[2].start, box[2].stop - 1):
                p = labels.TransformContinuousIndexToPhysicalPoint((float(c), float(b), float(a)))
                corners.append(p[:2])
    return np.array(corners)


def _body_frame_for_labels(
    px: np.ndarray, py: np.ndarray, label_corners_xy: np.ndarray, anat: dict[str, float]
) -> BodyFrame:
    """Body centred in the field of view (as scanners centre patients), ~84 % × 64 % of it, enlarged so that the
    labelled organs and their perirenal fat lie in the visceral cavity; the spine sits between the kidneys when
    both are labelled (the labels span > 120 mm left–right), behind the organs' antero-posterior middle."""
    margin = anat["perirenal_fat"] + 5.0
    corners = np.concatenate([label_corners_xy + np.array([sx, sy]) * margin for sx in (-1, 1) for sy in (-1, 1)])
    cx, cy = 0.5 * float(px.min() + px.max()), 0.5 * float(py.min() + py.max())
    lx, ly = label_corners_xy[:, 0], label_corners_xy[:, 1]
    spine_x = 0.5 * float(lx.min() + lx.max()) if np.ptp(lx) > 120.0 else cx
    spine_y = 0.5 * float(ly.min() + ly.max()) + 5.0
    frame = BodyFrame(cx, cy, 0.42 * float(np.ptp(px)), 0.32 * float(np.ptp(py)), anat["subcutaneous_fat"],
                      anat["muscle_wall"], spine_x, spine_y)
    return fit_body(frame, corners)


def _validate_labels(labels: object, kidney_label: int, tumour_label: int) -> None:
    """A 3-D scalar integer image and two different positive labels, else a user error that says what to do."""
    if not isinstance(labels, sitk.Image):
        raise ImageFormatError(f"The label image must be a SimpleITK.Image, not {type(labels).__name__}.")
    if labels.GetDimension() != 3 or labels.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFormatError(
            f"The label image must be a 3-D scalar volume; it has dimension {labels.GetDimension()} and "
            f"{labels.GetNumberOfComponentsPerPixel()} component(s) per voxel."
        )
    if labels.GetPixelID() not in _INTEGER_PIXEL_IDS:
        raise ImageFormatError(
            f"The label image must hold integer labels, not {labels.GetPixelIDTypeAsString()}; "
            "cast it to an integer type first."
        )
    if kidney_label == tumour_label or min(kidney_label, tumour_label) < 1:
        raise SettingsError(
            f"kidney_label ({kidney_label}) and tumour_label ({tumour_label}) must be two different positive labels."
        )


@dataclass(frozen=True)
class _LabelGrid:
    """The label image's voxel grid in numpy order, and which index axis runs superior–inferior."""

    shape: tuple[int, int, int]
    spacing_np: tuple[float, float, float]
    slice_axis: int

    @classmethod
    def of(cls, labels: sitk.Image) -> _LabelGrid:
        """The grid of ``labels``; the slice axis is the index axis closest to the physical z axis."""
        direction = np.array(labels.GetDirection()).reshape(3, 3)
        shape = tuple(int(n) for n in reversed(labels.GetSize()))
        spacing_np = tuple(float(s) for s in reversed(labels.GetSpacing()))
        return cls(shape, spacing_np, 2 - int(np.argmax(np.abs(direction[2, :]))))


def _label_boxes(
    arr: np.ndarray, kidney_label: int, tumour_label: int
) -> tuple[tuple[slice, ...] | None, tuple[slice, ...]]:
    """``(kidney box or None, tumour box)`` of the label array; a missing tumour is a :class:`MaskError`."""
    objects = ndimage.find_objects(arr, max_label=max(kidney_label, tumour_label))
    tumour_box = objects[tumour_label - 1]
    if tumour_box is None:
        raise MaskError(
            f"The label image has no voxel with the tumour label {tumour_label}; "
            f"labels present start with {sorted(set(np.unique(arr[::4, ::4, ::4]).tolist()))[:6]}."
        )
    return objects[kidney_label - 1], tumour_box


def synthesize_ct_from_labels(
    labels: sitk.Image,
    *,
    kidney_label: int = 1,
    tumour_label: int = 2,
    seed: int = 0,
    stage: str | None = None,
    assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS,
) -> sitk.Image:
    """A synthetic parenchymal-phase CT (int16 HU) on the grid of a kidney/tumour label image.

    Body (air, subcutaneous fat, muscle, viscera, spine, aorta, IVC) as a slice-invariant plane centred in the field
    of view and enlarged to hold the labels; perirenal fat within a few mm of kidney and tumour; renal cortex and
    medulla where ``label == kidney_label`` (cortex by depth below the organ surface); a heterogeneous tumour where
    ``label == tumour_label`` (smooth texture, necrotic core by depth below the tumour surface); then PSF blur and
    correlated noise. Works on any direction/spacing (e.g. KiTS19: slice axis first in the NIfTI, 0.5–5 mm).

    ``stage``: ``"low"``/``"high"`` draws the tumour's texture, necrosis and (high) peritumoral fat infiltration
    from that phenotype; ``None`` uses the low-stage texture/necrosis with no infiltration (stage-neutral).
    Labels other than the two given are treated as background.
    """
    _validate_labels(labels, kidney_label, tumour_label)
    pheno_stage = "low" if stage is None else check_stage(stage)
    rng = np.random.default_rng(seed)
    arr = sitk.GetArrayViewFromImage(labels)
    kidney_box, tumour_box = _label_boxes(arr, kidney_label, tumour_label)
    hu, anat, scan, d = draw_case_parameters(assumptions, pheno_stage, rng)
    if stage is None:
        d["infiltration"] = 0.0  # stage-neutral: the low-stage tumour without the T3 sign outside it
    grid = _LabelGrid.of(labels)
    scanner = scanner_for(grid.spacing_np, grid.slice_axis, scan)

    label_box = union_box(kidney_box, tumour_box)
    plane_truth = _labelled_body_plane(labels, grid, label_box, anat, hu, rng)

    # The 3-D box: labelled organs + perirenal fat (+ PSF context).
    grow_vox = tuple(int(math.ceil((anat["perirenal_fat"] + 2.0) / s)) for s in grid.spacing_np)
    box_inner = grow(label_box, grow_vox, grid.shape)
    box_outer = grow(box_inner, pad_for(scanner), grid.shape)
    lab = arr[box_outer]
    tumour = lab == tumour_label
    truth, perirenal_zone = _organs_on_box(plane_truth, lab == kidney_label, tumour, box_outer, grid, anat, hu, rng)
    paint_labelled_tumour(truth, tumour, perirenal_zone, box_outer, tumour_box, grid.spacing_np, d, hu, rng)

    out = render(grid.shape, grid.slice_axis, plane_truth, box_outer, box_inner, truth, scanner, rng)
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(labels)
    return image


def _labelled_body_plane(
    labels: sitk.Image, grid: _LabelGrid, label_box: tuple[slice, ...], anat: dict[str, float],
    hu: dict[str, float], rng: np.random.Generator,
) -> np.ndarray:
    """Truth HU of the body plane, centred in the field of view and large enough for the labelled organs and their
    fat."""
    px, py = _physical_plane(labels, grid.slice_axis, grid.shape)
    frame = _body_frame_for_labels(px, py, _box_corners_xy(labels, label_box), anat)
    plane_spacing = tuple(grid.spacing_np[a] for a in range(3) if a != grid.slice_axis)
    plane_truth, _ = body_plane(px, py, frame, hu, plane_spacing, rng)
    return plane_truth


def _organs_on_box(
    plane_truth: np.ndarray, kidney: np.ndarray, tumour: np.ndarray, box_outer: tuple[slice, ...],
    grid: _LabelGrid, anat: dict[str, float], hu: dict[str, float], rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(truth, perirenal fat zone)`` on the box: the body plane broadcast along the slice axis, perirenal fat
    within ``perirenal_fat`` mm of kidney or tumour, cortex and (by depth below the organ surface, patchy pyramids)
    medulla where the kidney label is. The tumour is painted afterwards."""
    box_shape = tuple(s.stop - s.start for s in box_outer)
    organ = kidney | tumour
    plane_box = tuple(s for a, s in enumerate(box_outer) if a != grid.slice_axis)
    truth = np.broadcast_to(np.expand_dims(plane_truth[plane_box], grid.slice_axis), box_shape).copy()

    organ_sd = signed_distance(organ, grid.spacing_np, 2.0)
    perirenal_zone = (organ_sd <= anat["perirenal_fat"]) & ~organ
    truth[perirenal_zone] = hu["fat"]
    depth = -organ_sd
    pyramids = smooth_noise(box_shape, grid.spacing_np, 5.0, rng)
    truth[kidney] = hu["cortex"]
    truth[kidney & (depth > anat["cortex_thickness"]) & (pyramids < 0.6)] = hu["medulla"]
    return truth, perirenal_zone
