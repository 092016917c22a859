"""The case grid and the regions built on it: the tumour resampled to 1 mm, and the peritumoral shell.

Order as in the paper: the CT is resampled to isotropic voxels first (B-spline for the image, nearest neighbour
for the mask), then the regions are built on that grid.

The 1 mm grid is the one PyRadiomics itself resamples to (``imageoperations.resampleImage``): anchored at the
corner of the original image, so that every region's PyRadiomics crop is a sub-box of it. Only a box around the
tumour is ever resampled, from a source crop large enough that the values inside equal a whole-volume resampling
(see :data:`BSPLINE_EXACT_MARGIN`). PyRadiomics does not resample the box again (its spacing already is the
resampled spacing): it only crops each region's bounding box ± ``padDistance`` from it, so the box needs no more
margin than that (see :func:`margin_voxels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

#: Voxels of margin that make a cropped cubic B-spline resampling equal to the whole-volume one. The B-spline
#: prefilter is a recursive filter with pole z = sqrt(3) - 2: a crop edge d voxels away changes the coefficients by
#: |z|^d relative (|z|^24 ~ 2e-14), far below the 1e-6 the features are held to.
BSPLINE_EXACT_MARGIN = 24

#: Label of the peritumoral shell in ``regions.nrrd``; habitat k has label k (1 <= k <= 9).
PERI_LABEL = 10


@dataclass(frozen=True)
class GridBox:
    """A box of an image grid: geometry of its own, plus its index offset in the full anchored grid."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, ...]
    size: tuple[int, int, int]  # x, y, z (SimpleITK order)
    offset: tuple[int, int, int]  # index of the box's first voxel in the full anchored grid
    clamped_low: tuple[bool, bool, bool]  # the box stops at the image's edge on the low side of this axis
    clamped_high: tuple[bool, bool, bool]

    def empty_image(self, pixel_type: int = sitk.sitkUInt8) -> sitk.Image:
        """A zero image with this geometry."""
        image = sitk.Image([int(s) for s in self.size], pixel_type)
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(self.direction)
        return image


def _anchored_axes(image: sitk.Image, spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per axis: spacing ratio, continuous index of new voxel 0, and the last valid new index (PyRadiomics' arithmetic)."""
    old = np.array(image.GetSpacing(), dtype=float)
    new = np.array(spacing, dtype=float)
    ratio = old / new
    first_index = 0.5 * (new - old) / old
    max_upper = np.ceil(np.array(image.GetSize()) * ratio) - 1
    return ratio, first_index, max_upper


def _box(image: sitk.Image, spacing: tuple[float, ...], lower: np.ndarray, upper: np.ndarray) -> GridBox:
    ratio, first_index, max_upper = _anchored_axes(image, spacing)
    clamped_low = lower <= 0
    clamped_high = upper >= max_upper
    lower = np.maximum(lower, 0)
    upper = np.minimum(upper, max_upper)
    origin = image.TransformContinuousIndexToPhysicalPoint((first_index + lower / ratio).tolist())
    return GridBox(
        origin=tuple(origin),
        spacing=tuple(float(s) for s in spacing),
        direction=tuple(image.GetDirection()),
        size=tuple(int(s) for s in upper - lower + 1),
        offset=tuple(int(v) for v in lower),
        clamped_low=tuple(bool(c) for c in clamped_low),
        clamped_high=tuple(bool(c) for c in clamped_high),
    )


def full_grid(image: sitk.Image, spacing: tuple[float, ...]) -> GridBox:
    """The whole anchored grid at ``spacing`` covering the image (what a whole-volume resampling produces)."""
    _, _, max_upper = _anchored_axes(image, spacing)
    return _box(image, spacing, np.zeros(3), max_upper)


def grid_around_mask(mask: sitk.Image, spacing: tuple[float, ...], margin_voxels: int) -> GridBox:
    """The box of the anchored grid around the mask's foreground plus ``margin_voxels`` new voxels, clipped to the
    image. The bounds follow PyRadiomics' rounding, so the box holds every voxel PyRadiomics' own crop would."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    bbox = np.array(stats.GetBoundingBox(1), dtype=float)  # x0, y0, z0, sx, sy, sz
    ratio, _, _ = _anchored_axes(mask, spacing)
    lower = np.floor((bbox[:3] - 0.5) * ratio - margin_voxels)
    upper = np.ceil((bbox[:3] + bbox[3:] - 0.5) * ratio + margin_voxels)
    return _box(mask, spacing, lower, upper)


def _source_crop(image: sitk.Image, box: GridBox, margin: int) -> sitk.Image:
    """The part of ``image`` that the box's interpolation reads, plus ``margin`` source voxels on every side."""
    corners = [
        image.TransformPhysicalPointToContinuousIndex(
            box.empty_image().TransformIndexToPhysicalPoint([int(c * (s - 1)) for c, s in zip(corner, box.size)])
        )
        for corner in np.ndindex(2, 2, 2)
    ]
    low = np.floor(np.min(corners, axis=0)).astype(int) - margin
    high = np.ceil(np.max(corners, axis=0)).astype(int) + margin
    low = np.maximum(low, 0)
    high = np.minimum(high, np.array(image.GetSize()) - 1)
    return sitk.RegionOfInterest(image, (high - low + 1).tolist(), low.tolist())


def resample_image(image: sitk.Image, box: GridBox) -> sitk.Image:
    """Cubic B-spline resampling of the image onto the box, as float32 (HU between samples are kept, not truncated).

    Only the source voxels the box needs (plus :data:`BSPLINE_EXACT_MARGIN`) are read, so the values equal a
    whole-volume resampling onto the same grid."""
    source = _source_crop(image, box, BSPLINE_EXACT_MARGIN)
    return sitk.Resample(source, box.empty_image(), sitk.Transform(), sitk.sitkBSpline, 0.0, sitk.sitkFloat32)


def resample_mask(mask: sitk.Image, box: GridBox) -> sitk.Image:
    """Nearest-neighbour resampling of a 0/1 mask onto the box.

    On a box of the mask's own anchored grid (what :func:`grid_around_mask` gives) every new voxel takes the source
    voxel whose centre is nearest, found per axis in exact arithmetic; a new voxel centre exactly halfway between two
    source centres takes the higher index, as ITK rounds. So the result does not depend on the box's extent (ITK's
    own transform arithmetic breaks such ties by rounding noise of the box's origin). Any other box: ITK resamples."""
    indices = _nearest_source_indices(mask, box)
    if indices is None:
        source = _source_crop(mask, box, 1)
        return sitk.Resample(source, box.empty_image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    source = sitk.GetArrayViewFromImage(mask)
    inside = [(index >= 0) & (index < n) for index, n in zip(indices, source.shape)]
    array = np.zeros(tuple(len(index) for index in indices), np.uint8)
    array[np.ix_(*inside)] = source[np.ix_(*[index[ok] for index, ok in zip(indices, inside)])]
    resampled = sitk.GetImageFromArray(array)
    resampled.CopyInformation(box.empty_image())
    return resampled


def _nearest_source_indices(mask: sitk.Image, box: GridBox) -> list[np.ndarray] | None:
    """Per axis (z, y, x) the source index nearest to each of the box's voxel centres, or ``None`` when the box is not
    a box of the mask's anchored grid."""
    ratio, first_index, _ = _anchored_axes(mask, box.spacing)
    origin_index = np.array(mask.TransformPhysicalPointToContinuousIndex(box.origin))
    if not (
        np.allclose(box.direction, mask.GetDirection(), rtol=0, atol=1e-9)
        and np.allclose(origin_index, first_index + np.array(box.offset) / ratio, rtol=0, atol=1e-6)
    ):
        return None
    indices = []
    for axis in (2, 1, 0):
        # New voxel j lies at source continuous index (j + 1/2) new/old - 1/2; the nearest index, ties up, is
        # floor((j + 1/2) new/old) = floor((2j + 1) new / (2 old)), computed on the exact values of the two floats.
        step = Fraction(box.spacing[axis]) / Fraction(mask.GetSpacing()[axis])
        start = box.offset[axis]
        indices.append(
            np.array(
                [(2 * j + 1) * step.numerator // (2 * step.denominator) for j in range(start, start + box.size[axis])],
                dtype=np.int64,
            )
        )
    return indices


def peritumoral_shell(
    tumour: np.ndarray, spacing_zyx: tuple[float, float, float], margin_mm: float
) -> np.ndarray:
    """Voxels outside the tumour whose Euclidean distance (voxel centre to nearest tumour voxel centre, in mm)
    is > 0 and <= ``margin_mm``. ``tumour`` is a z, y, x boolean array; work on a crop, never a whole CT."""
    distance = ndimage.distance_transform_edt(~tumour, sampling=spacing_zyx)
    # A tolerance keeps voxels at exactly the margin (e.g. 3 voxels away on a 1 mm grid) despite rounding.
    return (distance > 0) & (distance <= margin_mm + 1e-6)


def shell_missing_fraction(
    tumour: np.ndarray, box: GridBox, margin_mm: float
) -> float:
    """Fraction of the shell that falls outside the image because the tumour is close to its edge."""
    spacing_zyx = tuple(reversed(box.spacing))
    # Pad only the sides where the box was clipped by the image edge, by the margin in voxels.
    pad = []
    for axis_xyz in (2, 1, 0):
        width = math.ceil(margin_mm / box.spacing[axis_xyz])
        pad.append((width if box.clamped_low[axis_xyz] else 0, width if box.clamped_high[axis_xyz] else 0))
    if not any(any(p) for p in pad):
        return 0.0
    padded = np.pad(tumour, pad)
    shell = peritumoral_shell(padded, spacing_zyx, margin_mm)
    inside = np.zeros_like(shell)
    inside[tuple(slice(lo, lo + n) for (lo, _), n in zip(pad, tumour.shape))] = True
    total = int(shell.sum())
    return float((shell & ~inside).sum() / total) if total else 0.0


def margin_voxels(margin_mm: float, spacing: tuple[float, ...], pad_distance: int) -> int:
    """Box margin around the tumour: the shell plus PyRadiomics' own crop padding (padDistance + 1 for its
    rounding), so that every region's PyRadiomics crop lies in the box (or stops at the image's edge where the box
    does). PyRadiomics only crops the box, it does not resample it again, so no B-spline margin is needed here: the
    exactness of the box's values comes from the source crop of :func:`resample_image`."""
    return math.ceil(margin_mm / min(spacing)) + pad_distance + 1
