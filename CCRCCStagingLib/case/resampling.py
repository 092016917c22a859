"""PyRadiomics' own preprocessing of a region, reproduced exactly and computed on a crop.

What ``RadiomicsFeatureExtractor.execute(image, mask)`` does before any filter (``loadImage``): with
``resampledPixelSpacing`` set it builds a grid from the **mask's** geometry — anchored at the mask's corner,
covering the mask's bounding box plus ``padDistance`` new voxels, clipped to the mask's extent — and resamples the
image onto it with the configured interpolator **in the image's own pixel type** (an int16 CT stays int16: B-spline
values are truncated towards zero), the mask by nearest neighbour. When the image spacing already equals the target
spacing it only crops to the bounding box ± ``padDistance``. Filters (LoG, wavelet) then run on that crop.

:func:`pyradiomics_grid` computes that grid with PyRadiomics' own arithmetic (the same floating-point operations,
so the same origin); :class:`ResampledSource` gives the image on it. It resamples from a crop of the CT (never the
whole volume) in double precision once per case and cuts every region's grid out of that box. Two things keep the
values equal to a whole-volume ITK resampling:

- the crop's margin (:data:`SOURCE_MARGIN`): the B-spline prefilter is a recursive filter with pole
  ``z = sqrt(3) - 2``; an edge ``d`` voxels away changes the coefficients by ``|z|^d`` relative, and at 48 voxels
  (``|z|^48 ~ 3e-28``) the recursion has converged to the same doubles;
- the cast: ITK clamps to the pixel type's range, then converts (integers: truncation towards zero). A grid point
  that coincides with a CT voxel centre interpolates the voxel's own integer value, give or take the last bit, and
  which way the truncation goes depends on ITK's exact arithmetic (the whole CT's coefficients, the grid origin's
  rounding). Such *ties* are detected (a double within :data:`TIE_TOLERANCE` of an integer) and, when a region's grid
  holds one, that region's image is resampled from the whole CT onto its own grid — PyRadiomics' very call. Ties
  happen only on grids whose points fall on CT voxel centres along all three axes (for example 1 × 1 × 5 mm CTs
  resampled to 1 mm) or in constant areas (padding outside the scan's field of view).

The ``float`` interpolation setting keeps interpolated HU as float32 (no truncation): the values are then those of
PyRadiomics on the CT cast to float32 first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..core.errors import GeometryError, RegionError, SettingsError
from ..core.settings import INTERPOLATION_MODES


#: Source voxels of margin around a crop before B-spline resampling (see the module docstring).
SOURCE_MARGIN = {sitk.sitkBSpline: 48, sitk.sitkLinear: 2, sitk.sitkNearestNeighbor: 2}

#: The 1 mm box around the tumour may hold at most this many voxels (400³: a 40 cm tumour with its margins; the box
#: is held in double precision, 0.5 GB at this size). Beyond it the geometry or resampledPixelSpacing is implausible.
MAX_BOX_VOXELS = 400**3

#: A resampled double this close to an integer is a tie: its truncation depends on the last bits of ITK's arithmetic.
TIE_TOLERANCE = 1e-9

_INTEGER_PIXEL_IDS = {
    sitk.sitkInt8: np.int8, sitk.sitkUInt8: np.uint8, sitk.sitkInt16: np.int16, sitk.sitkUInt16: np.uint16,
    sitk.sitkInt32: np.int32, sitk.sitkUInt32: np.uint32, sitk.sitkInt64: np.int64, sitk.sitkUInt64: np.uint64,
}
_FLOAT_PIXEL_IDS = {sitk.sitkFloat32: np.float32, sitk.sitkFloat64: np.float64}


@dataclass(frozen=True)
class GridBox:
    """A box of voxels with its own geometry (what an image on it would have)."""

    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: tuple[float, ...]
    size: tuple[int, int, int]  # x, y, z (SimpleITK order)
    #: The box stops at the edge of the scan on the low / high side of this axis (x, y, z).
    clamped_low: tuple[bool, bool, bool] = (False, False, False)
    clamped_high: tuple[bool, bool, bool] = (False, False, False)

    def empty_image(self, pixel_type: int = sitk.sitkUInt8) -> sitk.Image:
        """A zero image with this geometry."""
        image = sitk.Image([int(s) for s in self.size], pixel_type)
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(self.direction)
        return image

    def put(self, array: np.ndarray) -> sitk.Image:
        """A z, y, x array as an image with this geometry."""
        image = sitk.GetImageFromArray(array)
        image.SetOrigin(self.origin)
        image.SetSpacing(self.spacing)
        image.SetDirection(self.direction)
        return image

    def offset_in(self, outer: GridBox) -> tuple[int, int, int] | None:
        """Index (x, y, z) of this box's first voxel in ``outer`` when this box is a sub-box of ``outer``'s grid
        (same spacing and direction, origin on one of its voxels), else ``None``. The origin must agree to 1e-6
        voxel: the two grids then sample the same points up to rounding."""
        if self.spacing != outer.spacing or not np.allclose(self.direction, outer.direction, rtol=0, atol=1e-12):
            return None
        index = np.array(outer.empty_image().TransformPhysicalPointToContinuousIndex(self.origin))
        rounded = np.round(index)
        if np.any(np.abs(index - rounded) > 1e-6):
            return None
        start = rounded.astype(int)
        if np.any(start < 0) or np.any(start + np.array(self.size) > np.array(outer.size)):
            return None
        return tuple(int(v) for v in start)


@dataclass(frozen=True)
class RegionGrid:
    """Where PyRadiomics' ``loadImage`` puts one region: its grid, and whether the image is interpolated onto it
    (``False``: the grid is a crop of the image's own grid and the image is only cropped)."""

    box: GridBox
    interpolated: bool


def _box_from_bounds(
    reference: sitk.Image, spacing: np.ndarray, lower: np.ndarray, upper: np.ndarray, max_upper: np.ndarray
) -> GridBox:
    """The grid box between two index bounds of ``reference``'s anchored grid at ``spacing``, with PyRadiomics'
    floating-point arithmetic for the origin (``resampleImage``)."""
    reference_spacing = np.array(reference.GetSpacing())
    ratio = reference_spacing / spacing
    clamped_low = lower <= 0
    clamped_high = upper >= max_upper
    lower = np.where(lower < 0, 0, lower)
    upper = np.where(upper > max_upper, max_upper, upper)
    new_origin_index = np.array(0.5 * (spacing - reference_spacing) / reference_spacing)
    origin = reference.TransformContinuousIndexToPhysicalPoint(new_origin_index + lower / ratio)
    return GridBox(
        origin=tuple(origin),
        spacing=tuple(float(s) for s in spacing),
        direction=tuple(reference.GetDirection()),
        size=tuple(int(s) for s in np.array(upper - lower + 1, dtype="int")),
        clamped_low=tuple(bool(c) for c in clamped_low),
        clamped_high=tuple(bool(c) for c in clamped_high),
    )


def _bounding_box(mask: sitk.Image) -> np.ndarray:
    """Lower index and size (x, y, z, sx, sy, sz) of the mask's label 1."""
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    if 1 not in stats.GetLabels():
        raise RegionError("The region is empty: it holds no voxel.")
    return np.array(stats.GetBoundingBox(1))


def check_roi_inside(image: sitk.Image, mask: sitk.Image) -> np.ndarray:
    """PyRadiomics' ``_checkROI``: the region's bounding box must lie inside the image's physical space."""
    from radiomics import imageoperations

    try:
        return np.array(imageoperations._checkROI(image, mask, label=1))  # noqa: SLF001 - PyRadiomics' own check
    except ValueError as error:
        raise GeometryError(
            "The tumour mask reaches outside the CT's physical space: it was probably drawn on another series or "
            f"cropped differently. Check that the mask belongs to this CT ({str(error).splitlines()[0]})."
        ) from None


def target_spacing(settings: dict[str, Any]) -> np.ndarray | None:
    """``resampledPixelSpacing`` as an array, or ``None`` when PyRadiomics would not resample."""
    spacing = settings.get("resampledPixelSpacing")
    if spacing is None or settings.get("interpolator") is None:
        return None
    return np.array(spacing, dtype=float)


def pyradiomics_grid(image: sitk.Image, mask: sitk.Image, settings: dict[str, Any], pad: int | None = None) -> RegionGrid:
    """The grid PyRadiomics' ``loadImage`` resamples (or crops) ``image`` onto for the 0/1 ``mask``, with its own
    arithmetic. ``pad``: new voxels around the bounding box (default ``padDistance``); a larger pad gives a box of
    the same grid that holds the default one, with its upper side kept inside the image's physical extent."""
    spacing = target_spacing(settings)
    if spacing is None:
        raise SettingsError("The PyRadiomics parameters must set resampledPixelSpacing and an interpolator.")
    pad_distance = settings.get("padDistance", 5) if pad is None else pad
    bb = check_roi_inside(image, mask)
    mask_spacing = np.array(mask.GetSpacing())
    spacing = np.where(spacing == 0, mask_spacing, spacing)
    spacing = np.where(bb[3:] != 1, spacing, mask_spacing)  # no resampling along axes the region spans one slice of
    if np.allclose(np.array(image.GetSpacing()), spacing):
        return RegionGrid(_crop_box(image, mask, bb, pad_distance), interpolated=False)
    ratio = mask_spacing / spacing
    lower = np.floor((bb[:3] - 0.5) * ratio - pad_distance)
    upper = np.ceil((bb[:3] + bb[3:] - 0.5) * ratio + pad_distance)
    max_upper = np.ceil(np.array(mask.GetSize()) * ratio) - 1
    if pad is not None:
        # The last anchored voxel can reach past the scan's edge; a region there would be refused by PyRadiomics.
        max_upper = np.minimum(max_upper, np.floor(np.array(mask.GetSize()) * ratio + 1e-3 * ratio) - 1)
    return RegionGrid(_box_from_bounds(mask, spacing, lower, upper, max_upper), interpolated=True)


def _crop_box(image: sitk.Image, mask: sitk.Image, bb: np.ndarray, pad: int) -> GridBox:
    """PyRadiomics' crop-only branch: the mask's bounding box on the image's grid ± ``pad`` voxels."""
    if not _same_geometry(image, mask):
        mask = sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
        bb = _bounding_box(mask)
    size = np.array(image.GetSize())
    lower = bb[:3] - pad
    upper = bb[:3] + bb[3:] - 1 + pad
    return _box_from_bounds(image, np.array(image.GetSpacing()), lower.astype(float), upper.astype(float), size - 1)


def _same_geometry(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and a.GetOrigin() == b.GetOrigin()
        and a.GetSpacing() == b.GetSpacing()
        and a.GetDirection() == b.GetDirection()
    )


def mask_on_grid(mask: sitk.Image, grid: GridBox) -> np.ndarray:
    """The 0/1 mask on the grid (z, y, x, bool): nearest neighbour, as PyRadiomics resamples masks."""
    resampled = sitk.Resample(mask, grid.empty_image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID())
    return sitk.GetArrayViewFromImage(resampled) != 0


def interpolator_of(settings: dict[str, Any]) -> int:
    """The SimpleITK interpolator PyRadiomics uses for these settings (names such as ``sitkBSpline`` or numbers)."""
    interpolator = settings.get("interpolator", sitk.sitkBSpline)
    if isinstance(interpolator, str):
        interpolator = getattr(sitk, interpolator, sitk.sitkBSpline)  # PyRadiomics' own fallback
    return int(interpolator)


def output_pixel_id(image: sitk.Image, interpolation: str) -> int:
    """The pixel type of the resampled image: the CT's own (PyRadiomics) or float32."""
    if interpolation not in INTERPOLATION_MODES:
        raise SettingsError(f"Unknown interpolation '{interpolation}': use one of {', '.join(INTERPOLATION_MODES)}.")
    return image.GetPixelID() if interpolation == "pyradiomics" else sitk.sitkFloat32


def cast_like_itk(values: np.ndarray, pixel_id: int) -> np.ndarray:
    """Doubles converted as ITK's ``ResampleImageFilter`` converts them: clamped to the type's range, then
    truncated towards zero (integers) or rounded to the nearest float (float32)."""
    if pixel_id in _FLOAT_PIXEL_IDS:
        return values.astype(_FLOAT_PIXEL_IDS[pixel_id])
    if pixel_id not in _INTEGER_PIXEL_IDS:
        raise SettingsError(f"Unsupported CT pixel type ({sitk.GetPixelIDValueAsString(pixel_id)}).")
    dtype = _INTEGER_PIXEL_IDS[pixel_id]
    limits = np.iinfo(dtype)
    return np.trunc(np.clip(values, float(limits.min), float(limits.max))).astype(dtype)


class ResampledSource:
    """The CT resampled once, in double precision, onto a box around the tumour; the image of any region whose
    grid lies in that box is cut out of it, cast to the output pixel type, and checked for ties."""

    def __init__(self, image: sitk.Image, box: GridBox, settings: dict[str, Any], interpolation: str) -> None:
        self.image = image
        self.box = box
        self.interpolator = interpolator_of(settings)
        self.pixel_id = output_pixel_id(image, interpolation)
        self.values = _resample_crop(image, box, self.interpolator)
        self.fallbacks = 0  # regions resampled from the whole CT because of ties (reported in timings)

    def box_image(self) -> sitk.Image:
        """The whole box in the output pixel type (ties cast as they fall: this image feeds habitats and the
        report, never a feature)."""
        return self.box.put(cast_like_itk(self.values, self.pixel_id))

    def region_image(self, grid: GridBox) -> sitk.Image:
        """The image on a region's grid, equal to PyRadiomics' resampling onto that grid."""
        offset = grid.offset_in(self.box)
        if offset is None:
            values = _resample_crop(self.image, grid, self.interpolator)
        else:
            values = self.values[tuple(slice(o, o + n) for o, n in zip(reversed(offset), reversed(grid.size)))]
        if self._has_ties(values):
            self.fallbacks += 1
            return sitk.Resample(self.image, grid.empty_image(), sitk.Transform(), self.interpolator, 0.0, self.pixel_id)
        return grid.put(cast_like_itk(values, self.pixel_id))

    def _has_ties(self, values: np.ndarray) -> bool:
        if self.pixel_id not in _INTEGER_PIXEL_IDS or self.interpolator == sitk.sitkNearestNeighbor:
            return False
        tolerance = np.maximum(TIE_TOLERANCE, 1e-12 * np.abs(values))
        return bool(np.any(np.abs(values - np.round(values)) <= tolerance))


def _resample_crop(image: sitk.Image, grid: GridBox, interpolator: int) -> np.ndarray:
    """The image resampled onto the grid in double precision, reading only the source voxels the grid needs plus
    a margin; interpolators without an exact crop margin resample from the whole image."""
    margin = SOURCE_MARGIN.get(interpolator)
    source = image if margin is None else _source_crop(image, grid, margin)
    resampled = sitk.Resample(source, grid.empty_image(), sitk.Transform(), interpolator, 0.0, sitk.sitkFloat64)
    return sitk.GetArrayFromImage(resampled)


def _source_crop(image: sitk.Image, grid: GridBox, margin: int) -> sitk.Image:
    """The part of ``image`` that the grid's interpolation reads, plus ``margin`` source voxels on every side."""
    reference = grid.empty_image()
    corners = [
        image.TransformPhysicalPointToContinuousIndex(
            reference.TransformIndexToPhysicalPoint([int(c * (s - 1)) for c, s in zip(corner, grid.size)])
        )
        for corner in np.ndindex(2, 2, 2)
    ]
    low = np.floor(np.min(corners, axis=0)).astype(int) - margin
    high = np.ceil(np.max(corners, axis=0)).astype(int) + margin
    low = np.maximum(low, 0)
    high = np.minimum(high, np.array(image.GetSize()) - 1)
    if np.any(high < low):
        raise GeometryError("The region lies outside the CT: check that the mask belongs to this CT.")
    return sitk.RegionOfInterest(image, (high - low + 1).tolist(), low.tolist())


def crop_image(image: sitk.Image, grid: GridBox, pixel_id: int) -> sitk.Image:
    """PyRadiomics' crop-only branch: the image's own voxels on a box of its grid (cast for ``float``)."""
    index = np.round(image.TransformPhysicalPointToContinuousIndex(grid.origin)).astype(int)
    cropped = sitk.RegionOfInterest(image, list(grid.size), index.tolist())
    return cropped if cropped.GetPixelID() == pixel_id else sitk.Cast(cropped, pixel_id)


@dataclass
class RegionInput:
    """One region as PyRadiomics' ``loadImage`` leaves it: the image and the 0/1 mask on the region's own grid."""

    image: sitk.Image
    mask: sitk.Image  # uint8, 0/1, same geometry as ``image``


class RegionSampler:
    """Every region of one case as PyRadiomics would load it from the CT file and that region's mask.

    Built from the CT as read and the tumour mask as given: ``whole`` is the tumour on its PyRadiomics grid,
    ``box`` a larger box of the same grid (tumour + ``margin`` new voxels) on which the derived regions are built,
    and :meth:`region` gives any mask on the box its own PyRadiomics grid and image."""

    def __init__(
        self, image: sitk.Image, mask: sitk.Image, settings: dict[str, Any], interpolation: str, margin: int
    ) -> None:
        self.image = image
        self.settings = settings
        self.interpolation = interpolation
        self.pixel_id = output_pixel_id(image, interpolation)
        self.resampled = target_spacing(settings) is not None
        if not self.resampled:
            # No resampling (PyRadiomics' default): the regions live on the CT's own grid, uncropped.
            self.box = _image_box(image)
            self.source = None
            self.whole = RegionInput(_cast(image, self.pixel_id), mask)
            return
        whole_grid = pyradiomics_grid(image, mask, settings)
        self.box = pyradiomics_grid(image, mask, settings, pad=margin).box
        _check_box_budget(self.box)
        self.source = ResampledSource(image, self.box, settings, interpolation) if whole_grid.interpolated else None
        whole_mask = _mask_on(mask, whole_grid)
        self.whole = RegionInput(self.image_on(whole_grid.box), whole_grid.box.put(whole_mask.astype(np.uint8)))

    def image_on(self, grid: GridBox) -> sitk.Image:
        """The CT on a grid as PyRadiomics resamples (or crops) it."""
        if self.source is not None:
            return self.source.region_image(grid)
        return crop_image(self.image, grid, self.pixel_id)

    def box_image(self) -> sitk.Image:
        """The CT on the whole box (habitats and the report read it; features never do)."""
        if not self.resampled:
            return self.whole.image
        return self.source.box_image() if self.source is not None else crop_image(self.image, self.box, self.pixel_id)

    def tumour_on_box(self) -> np.ndarray:
        """The whole region's mask on the box (z, y, x, bool): the same voxels PyRadiomics' ``whole`` uses."""
        return _embed(self.whole.mask, self.box)

    def region(self, mask: np.ndarray) -> RegionInput:
        """A 0/1 mask on the box (z, y, x) as PyRadiomics loads it from a file with the box's geometry."""
        if not mask.any():
            raise RegionError("the region is empty (a habitat the model finds no voxel of in this tumour).")
        on_box = self.box.put(mask.astype(np.uint8))
        if not self.resampled:
            return RegionInput(self.whole.image, on_box)
        grid = pyradiomics_grid(self.image, on_box, self.settings)
        return RegionInput(self.image_on(grid.box), grid.box.put(_mask_on(on_box, grid).astype(np.uint8)))

    @property
    def tie_fallbacks(self) -> int:
        """Regions whose image was resampled from the whole CT because their grid held ties."""
        return 0 if self.source is None else self.source.fallbacks


def _check_box_budget(box: GridBox) -> None:
    """Refuse before allocating a box no real case needs (a tiny resampledPixelSpacing, an absurd voxel size)."""
    voxels = int(np.prod(box.size, dtype=np.int64))
    if voxels > MAX_BOX_VOXELS:
        raise SettingsError(
            f"The resampled box around the tumour would hold {' × '.join(map(str, box.size))} voxels at "
            f"{' × '.join(f'{s:g}' for s in box.spacing)} mm (more than {MAX_BOX_VOXELS:,}): the parameter file's "
            "resampledPixelSpacing or the image's voxel size is implausible; check both."
        )


def _image_box(image: sitk.Image) -> GridBox:
    return GridBox(
        tuple(image.GetOrigin()), tuple(image.GetSpacing()), tuple(image.GetDirection()), tuple(image.GetSize()),
        (True, True, True), (True, True, True),
    )


def _cast(image: sitk.Image, pixel_id: int) -> sitk.Image:
    return image if image.GetPixelID() == pixel_id else sitk.Cast(image, pixel_id)


def _mask_on(mask: sitk.Image, grid: RegionGrid) -> np.ndarray:
    """The mask on a region's grid; a box of the mask's own grid is cut out exactly, anything else resampled."""
    offset = grid.box.offset_in(_image_box(mask)) if mask.GetSpacing() == grid.box.spacing else None
    if offset is not None:
        array = sitk.GetArrayViewFromImage(mask)
        return array[tuple(slice(o, o + n) for o, n in zip(reversed(offset), reversed(grid.box.size)))] != 0
    if not grid.interpolated:
        mask = sitk.Resample(mask, grid.box.empty_image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        return sitk.GetArrayViewFromImage(mask) != 0
    return mask_on_grid(mask, grid.box)


def _embed(mask: sitk.Image, box: GridBox) -> np.ndarray:
    """A mask on a sub-box of ``box`` pasted into ``box`` (clipped to it); resampled when it is on another grid."""
    grid = GridBox(mask.GetOrigin(), mask.GetSpacing(), mask.GetDirection(), mask.GetSize())
    out = np.zeros(tuple(reversed(box.size)), bool)
    index = np.array(box.empty_image().TransformPhysicalPointToContinuousIndex(grid.origin))
    if grid.spacing != box.spacing or np.any(np.abs(index - np.round(index)) > 1e-6):
        return mask_on_grid(mask, box)
    start = np.round(index).astype(int)[::-1]
    array = sitk.GetArrayViewFromImage(mask) != 0
    source = tuple(slice(max(-s, 0), min(n, b - s)) for s, n, b in zip(start, array.shape, out.shape))
    target = tuple(slice(max(s, 0), min(s + n, b)) for s, n, b in zip(start, array.shape, out.shape))
    out[target] = array[source]
    return out
