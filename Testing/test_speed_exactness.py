"""What makes extraction fast does not change a value: the 1 mm box with its small margin, regions sharing filtered
images, the mesh-based shape coefficients and worker processes are held to the reference path (whole-volume
resampling + PyRadiomics ``execute()`` per region), also when the tumour touches the image's border. No timing here:
speed is measured by ``Testing/bench/bench_speed.py``."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import _cshape, imageoperations
from scipy import ndimage

from CCRCCStagingLib import features
from CCRCCStagingLib.features import ExtractionSpec, _MeshCoefficients
from CCRCCStagingLib.phantoms import make_phantom
from CCRCCStagingLib.pipeline import analyze_case, extract_region_features
from CCRCCStagingLib.regions import grid_around_mask, margin_voxels, resample_mask
from CCRCCStagingLib.settings import HabitatSettings, Settings
from reference_path import reference_features

SETTINGS = Settings(habitats=HabitatSettings(k=2))
SPEC = ExtractionSpec.from_params(SETTINGS.pyradiomics_params())


def _relative(value: float, expected: float) -> float:
    if value == expected or (np.isnan(value) and np.isnan(expected)):
        return 0.0
    return abs(value - expected) / max(abs(expected), 1e-12)


def _assert_equal_to_reference(values: dict[str, float], expected: dict[str, float]) -> None:
    assert set(values) <= set(expected), sorted(set(values) - set(expected))[:5]
    worst = max(values, key=lambda name: _relative(values[name], expected[name]))
    assert _relative(values[worst], expected[worst]) <= 1e-6, f"{worst}: {values[worst]} vs {expected[worst]}"


def _border_phantom() -> tuple[sitk.Image, sitk.Image]:
    """A phantom cut so that the tumour touches the image's low z face and its high x face."""
    phantom = make_phantom("high", seed=7, tumour_diameter_mm=20.0)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(phantom.mask)
    x0, y0, z0, sx, sy, sz = stats.GetBoundingBox(1)
    size = list(phantom.image.GetSize())
    index = [0, 0, z0 + 3]
    extent = [x0 + sx - 3, size[1], size[2] - (z0 + 3)]
    return (sitk.RegionOfInterest(phantom.image, extent, index), sitk.RegionOfInterest(phantom.mask, extent, index))


@pytest.fixture(scope="module", params=["centred", "touching the border"])
def case(request):
    if request.param == "centred":
        phantom = make_phantom("low", seed=3, tumour_diameter_mm=22.0)
        image, mask = phantom.image, phantom.mask
    else:
        image, mask = _border_phantom()
    analysis = analyze_case(image, mask, SETTINGS)
    return request.param, image, analysis, reference_features(image, analysis.regions, SETTINGS)


def test_full_extraction_equals_the_reference_path(case) -> None:
    name, _, analysis, expected = case
    regions = analysis.regions
    if name == "touching the border":
        assert regions.box.clamped_low[2] and regions.box.clamped_high[0], "the tumour should touch the border"
    assert len(expected) == 4 * 1130
    assert set(analysis.features) == set(expected)
    _assert_equal_to_reference(analysis.features, expected)
    # Everything but the mesh surface area (summed in another order) is the very same number.
    differing = {n for n in expected if analysis.features[n] != expected[n] and not np.isnan(expected[n])}
    assert {n.split("_", 1)[1] for n in differing} <= {
        "original_shape_SurfaceArea", "original_shape_SurfaceVolumeRatio", "original_shape_Sphericity",
    }


def test_targeted_extraction_equals_the_reference_path_and_full_extraction(case) -> None:
    _, _, analysis, expected = case
    rng = np.random.default_rng(1)
    names = sorted(expected)
    wanted = [str(n) for n in rng.choice(names, size=40, replace=False)]
    wanted += [f"{region}_original_shape_Maximum3DDiameter" for region in ("whole", "sub1", "sub2", "peri")]
    wanted += ["sub2_log-sigma-3-0-mm-3D_glszm_ZoneEntropy", "peri_wavelet-HHH_glcm_Idmn"]

    targeted, warnings = extract_region_features(analysis.regions, SPEC, wanted)

    assert not warnings
    assert set(targeted) == set(wanted)
    _assert_equal_to_reference(targeted, expected)
    assert all(targeted[n] == analysis.features[n] for n in wanted)


def test_regions_with_the_same_crop_share_their_filtered_images(case, monkeypatch) -> None:
    _, _, analysis, expected = case
    regions = analysis.regions
    calls = []
    original = imageoperations.getLoGImage

    def counting(image, mask, **kwargs):
        calls.append(kwargs["sigma"])
        yield from original(image, mask, **kwargs)

    monkeypatch.setattr(imageoperations, "getLoGImage", counting)
    wanted = [f"{region}_log-sigma-1-0-mm-3D_firstorder_Mean" for region in regions.masks()]
    values, _ = extract_region_features(regions, SPEC, wanted)

    # PyRadiomics' crop of each region: its bounding box ± padDistance, clipped to the box (itself clipped to the CT).
    pad = SPEC.settings["padDistance"]
    crops = set()
    for mask in regions.masks().values():
        where = np.nonzero(mask)
        crops.add(tuple(
            (max(int(w.min()) - pad, 0), min(int(w.max()) + pad, n - 1))
            for w, n in zip(where, mask.shape)
        ))
    assert len(calls) == len(crops)
    _assert_equal_to_reference(values, expected)


def test_two_regions_with_one_crop_compute_each_filtered_image_once(case, monkeypatch) -> None:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    _, _, analysis, _ = case
    regions = analysis.regions
    tumour = regions.tumour
    speckled = tumour & (np.indices(tumour.shape).sum(axis=0) % 3 != 0)
    voxels = np.argwhere(tumour)
    for axis in range(3):  # keep the tumour's extreme voxels, so the bounding box (and PyRadiomics' crop) is the same
        speckled[tuple(voxels[voxels[:, axis].argmin()])] = True
        speckled[tuple(voxels[voxels[:, axis].argmax()])] = True
    masks = {"whole": regions.region_image(tumour), "speckled": regions.region_image(speckled)}
    calls = []
    original = imageoperations.getWaveletImage

    def counting(image, mask, **kwargs):
        calls.append(image.GetSize())
        yield from original(image, mask, **kwargs)

    monkeypatch.setattr(imageoperations, "getWaveletImage", counting)
    request = features.build_request(["wavelet-LHL_glszm_ZoneEntropy", "wavelet-HHH_firstorder_Mean"])
    values, failures = features.extract_regions(regions.image, masks, SPEC, {"whole": request, "speckled": request})

    assert not failures and len(calls) == 1
    extractor = RadiomicsFeatureExtractor(dict(SETTINGS.pyradiomics_params()))
    for name, mask in masks.items():
        expected = extractor.execute(regions.image, mask)
        assert values[name] == {k: float(expected[k]) for k in values[name]}, name


def test_worker_processes_give_the_same_values_in_the_same_order(case) -> None:
    _, _, analysis, _ = case
    wanted = [n for n in analysis.features if n.startswith(("sub1_", "peri_")) and "glcm" not in n]
    serial, _ = extract_region_features(analysis.regions, SPEC, wanted, workers=1)
    parallel, _ = extract_region_features(analysis.regions, SPEC, wanted, workers=2)
    assert list(parallel.items()) == list(serial.items())


def _random_mask(rng: np.random.Generator, kind: int) -> np.ndarray:
    shape = tuple(int(n) for n in rng.integers(2, 20, 3))
    if kind == 0:
        mask = rng.random(shape) < rng.uniform(0.05, 0.9)
    elif kind == 1:
        mask = ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5
    else:
        mask = np.zeros(shape, bool)
        mask[tuple(int(rng.integers(0, n)) for n in shape)] = True
    return np.pad(mask, 1)


def test_mesh_coefficients_equal_pyradiomics_c_code() -> None:
    rng = np.random.default_rng(0)
    for trial in range(150):
        mask = _random_mask(rng, trial % 3)
        unit = trial % 2 == 0
        spacing = np.ones(3) if unit else rng.choice([0.5, 0.78, 1.25, 2.5, 3.3], 3)
        area, volume, diameters = _cshape.calculate_coefficients(mask, spacing)
        fast_area, fast_volume, fast_diameters = _MeshCoefficients.calculate_coefficients(mask, spacing)
        assert tuple(fast_diameters[i] for i in range(4)) == diameters, (trial, spacing)
        assert fast_area == pytest.approx(area, rel=1e-12, abs=0)
        if unit:
            assert fast_volume == volume
        else:
            assert fast_volume == pytest.approx(volume, rel=1e-12, abs=1e-12)


def test_mask_resampling_does_not_depend_on_the_box_and_follows_itk_except_at_exact_ties() -> None:
    phantom = make_phantom("low", seed=4, tumour_diameter_mm=18.0)
    spacing = (1.0, 1.0, 1.0)
    small = grid_around_mask(phantom.mask, spacing, margin_voxels(3.0, spacing, 5))
    large = grid_around_mask(phantom.mask, spacing, 40)
    small_mask = sitk.GetArrayFromImage(resample_mask(phantom.mask, small))
    large_mask = sitk.GetArrayFromImage(resample_mask(phantom.mask, large))
    start = np.array(small.offset[::-1]) - np.array(large.offset[::-1])
    window = large_mask[tuple(slice(s, s + n) for s, n in zip(start, small_mask.shape))]
    np.testing.assert_array_equal(small_mask, window)
    assert small_mask.sum() == large_mask.sum() > 0

    itk = sitk.GetArrayFromImage(
        sitk.Resample(phantom.mask, large.empty_image(), sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    )
    grid = large.empty_image()
    for index in np.argwhere(itk != large_mask):
        point = grid.TransformIndexToPhysicalPoint([int(i) for i in index[::-1]])
        continuous = np.array(phantom.mask.TransformPhysicalPointToContinuousIndex(point))
        assert np.min(np.abs(continuous + 0.5 - np.round(continuous + 0.5))) < 1e-6, "differs away from a tie"


def test_default_workers_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(features.WORKERS_ENV, raising=False)
    assert features.default_workers() == 1
    monkeypatch.setenv(features.WORKERS_ENV, "2")
    assert features.default_workers() == 2
