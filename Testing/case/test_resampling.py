"""Each region's image and mask are what PyRadiomics' own ``loadImage`` makes of the CT and that mask — the same
grid (origin to the bit), the same pixel type, the same voxels — although the project resamples only a crop, once
per case. The yardstick is PyRadiomics' ``imageoperations.resampleImage`` / ``cropToTumorMask`` and ITK itself."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import imageoperations

from CCRCCStagingLib.core.errors import GeometryError
from CCRCCStagingLib.case.features import ExtractionSpec
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from CCRCCStagingLib.case.resampling import (
    TIE_TOLERANCE,
    RegionSampler,
    _resample_crop,
    cast_like_itk,
    pyradiomics_grid,
)
from CCRCCStagingLib.core.settings import Settings

SETTINGS = ExtractionSpec.from_params(Settings().pyradiomics_params()).settings
MARGIN = 9


def _oblique(image: sitk.Image, mask: sitk.Image, degrees: float) -> None:
    angle = np.radians(degrees)
    direction = (np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0)
    image.SetDirection(direction)
    mask.SetDirection(direction)


def _case(kind: str) -> tuple[sitk.Image, sitk.Image]:
    if kind == "one slice":  # the tumour spans one slice: PyRadiomics keeps that axis' spacing
        phantom = make_phantom("low", seed=2, spacing=(0.8, 0.8, 2.5), size=(120, 120, 30), tumour_diameter_mm=20.0)
        array = sitk.GetArrayFromImage(phantom.mask)
        middle = int(np.nonzero(array)[0].mean())
        array[np.arange(array.shape[0]) != middle] = 0
        mask = sitk.GetImageFromArray(array)
        mask.CopyInformation(phantom.mask)
        return phantom.image, mask
    spacing = {"0.7 oblique": (0.7, 0.7, 2.5), "1 mm CT": (1.0, 1.0, 1.0)}.get(kind, (0.8, 0.8, 1.5))
    if kind.startswith("1x1x5"):
        spacing = (1.0, 1.0, 5.0)
    size = (130, 130, 60 if kind == "1 mm CT" else 40)
    phantom = make_phantom("high", seed=6, spacing=spacing, size=size, tumour_diameter_mm=24.0)
    image, mask = phantom.image, phantom.mask
    if kind.endswith("oblique"):
        _oblique(image, mask, 20.0)
    if kind == "border":
        stats = sitk.LabelShapeStatisticsImageFilter()
        stats.Execute(mask)
        x0, _, z0, sx, _, _ = stats.GetBoundingBox(1)
        index, size = [x0 + 2, 0, 0], [image.GetSize()[0] - x0 - 2, image.GetSize()[1], z0 + 4]
        image, mask = (sitk.RegionOfInterest(i, size, index) for i in (image, mask))
    return image, mask


@pytest.mark.parametrize(
    "kind", ["0.8 mm", "0.7 oblique", "1x1x5", "1x1x5 oblique", "border", "1 mm CT", "one slice"]
)
def test_whole_region_equals_pyradiomics_load_image(kind: str) -> None:
    image, mask = _case(kind)
    expected_image, expected_mask = imageoperations.resampleImage(image, mask, **SETTINGS)

    whole = RegionSampler(image, mask, SETTINGS, "pyradiomics", MARGIN).whole

    for ours, theirs in ((whole.image, expected_image), (whole.mask, expected_mask)):
        assert ours.GetSize() == theirs.GetSize()
        assert ours.GetSpacing() == theirs.GetSpacing()
        assert ours.GetDirection() == theirs.GetDirection()
        assert ours.GetOrigin() == pytest.approx(theirs.GetOrigin(), abs=1e-9)
    assert whole.image.GetPixelID() == expected_image.GetPixelID() == image.GetPixelID()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(whole.image), sitk.GetArrayViewFromImage(expected_image))
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(whole.mask) != 0, sitk.GetArrayViewFromImage(expected_mask) != 0
    )


def test_the_grid_origin_is_pyradiomics_own_number() -> None:
    image, mask = _case("0.7 oblique")
    expected, _ = imageoperations.resampleImage(image, mask, **SETTINGS)
    assert pyradiomics_grid(image, mask, SETTINGS).box.origin == expected.GetOrigin()


def test_a_derived_region_equals_pyradiomics_loading_it_from_a_file_with_the_box_geometry(tmp_path) -> None:
    image, mask = _case("0.8 mm")
    sampler = RegionSampler(image, mask, SETTINGS, "pyradiomics", MARGIN)
    tumour = sampler.tumour_on_box()
    lower_half = tumour & (np.indices(tumour.shape)[0] < np.nonzero(tumour)[0].mean())
    sitk.WriteImage(sampler.box.put(lower_half.astype(np.uint8)), str(tmp_path / "region.nrrd"))
    expected_image, expected_mask = imageoperations.resampleImage(
        image, sitk.ReadImage(str(tmp_path / "region.nrrd")), **SETTINGS
    )

    region = sampler.region(lower_half)

    assert region.image.GetOrigin() == pytest.approx(expected_image.GetOrigin(), abs=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(region.image), sitk.GetArrayViewFromImage(expected_image))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(region.mask), sitk.GetArrayViewFromImage(expected_mask))


def test_ties_are_the_only_voxels_a_crop_would_truncate_differently_and_they_are_resolved() -> None:
    """1 × 1 × 5 mm: every fifth 1 mm slice lies on a CT slice, where B-spline returns the voxel's own integer ± the
    last bits. On an oblique grid the crop's own index arithmetic rounds differently, and truncating its doubles
    flips some of those ties (only ties); the sampler resamples such grids from the whole CT instead."""
    image, mask = _case("1x1x5 oblique")
    grid = pyradiomics_grid(image, mask, SETTINGS).box
    expected = sitk.GetArrayFromImage(
        sitk.Resample(image, grid.empty_image(), sitk.Transform(), sitk.sitkBSpline, 0.0, image.GetPixelID())
    )
    doubles = _resample_crop(image, grid, sitk.sitkBSpline)
    ties = np.abs(doubles - np.round(doubles)) <= TIE_TOLERANCE
    flipped = cast_like_itk(doubles, image.GetPixelID()) != expected

    assert ties.mean() > 0.15  # a fifth of the slices
    assert flipped.any() and not (flipped & ~ties).any()

    sampler = RegionSampler(image, mask, SETTINGS, "pyradiomics", MARGIN)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(sampler.whole.image), expected)
    assert sampler.tie_fallbacks == 1


@pytest.mark.parametrize("pixel_id", [sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkInt32, sitk.sitkFloat32])
def test_cast_like_itk_equals_itk_conversion(pixel_id: int) -> None:
    values = np.random.default_rng(0).normal(0, 3e4, (6, 7, 8))
    values[0, 0, :4] = [-0.999, 0.999, -1e12, 1e12]
    image = sitk.GetImageFromArray(values)
    converted = sitk.Resample(image, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0.0, pixel_id)
    np.testing.assert_array_equal(cast_like_itk(values, pixel_id), sitk.GetArrayViewFromImage(converted))


def test_float_interpolation_keeps_interpolated_hu() -> None:
    image, mask = _case("0.8 mm")
    as_float = sitk.Cast(image, sitk.sitkFloat32)
    expected, _ = imageoperations.resampleImage(as_float, mask, **SETTINGS)
    whole = RegionSampler(image, mask, SETTINGS, "float", MARGIN).whole
    assert whole.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(whole.image), sitk.GetArrayViewFromImage(expected))


def test_a_mask_reaching_outside_the_ct_is_refused_as_pyradiomics_refuses_it() -> None:
    image, mask = _case("0.8 mm")
    shifted = sitk.Image(mask)
    shifted.SetOrigin([o + 60.0 for o in mask.GetOrigin()])
    with pytest.raises(ValueError):
        imageoperations.resampleImage(image, shifted, **SETTINGS)
    with pytest.raises(GeometryError, match="outside the CT"):
        RegionSampler(image, shifted, SETTINGS, "pyradiomics", MARGIN)
