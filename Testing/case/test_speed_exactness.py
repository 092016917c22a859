"""What makes extraction fast does not change a value: regions sharing filtered images, targeted extraction, the
mesh-based shape coefficients and worker processes. Equality with PyRadiomics itself is the subject of
``test_pyradiomics_equality.py``; here the reference is PyRadiomics' ``execute()`` on files where a value is
compared with PyRadiomics, and the project's own full extraction where a test checks consistency (said in the test).
No timing here: speed is measured by ``Testing/bench/bench_speed.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import _cshape, imageoperations
from scipy import ndimage

from CCRCCStagingLib.case import features
from CCRCCStagingLib.case.features import ExtractionSpec
from CCRCCStagingLib.case.features.shape import MeshCoefficients
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from CCRCCStagingLib.case.pipeline import analyze_case, extract_region_features
from CCRCCStagingLib.core.settings import HabitatSettings, Settings
from pyradiomics_reference import RELATIVE_TOLERANCE, compare, execute

SETTINGS = Settings(habitats=HabitatSettings(k=2))
SPEC = ExtractionSpec.from_params(SETTINGS.pyradiomics_params())


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    phantom = make_phantom("low", seed=3, tumour_diameter_mm=22.0)
    sitk.WriteImage(phantom.image, str(folder / "ct.nrrd"))
    analysis = analyze_case(phantom.image, phantom.mask, SETTINGS)
    return folder, analysis


def test_targeted_extraction_equals_full_extraction(case) -> None:
    """Consistency: the targeted path gives the very numbers of the full path."""
    _, analysis = case
    rng = np.random.default_rng(1)
    wanted = [str(n) for n in rng.choice(sorted(analysis.features), size=40, replace=False)]
    wanted += [f"{region}_original_shape_Maximum3DDiameter" for region in ("whole", "sub1", "sub2", "peri")]
    wanted += ["sub2_log-sigma-3-0-mm-3D_glszm_ZoneEntropy", "peri_wavelet-HHH_glcm_Idmn"]

    targeted, warnings = extract_region_features(analysis.regions, SPEC, wanted)

    assert not warnings
    assert set(targeted) == set(wanted)
    assert all(targeted[n] == analysis.features[n] for n in wanted)


def test_regions_with_the_same_grid_share_their_filtered_images(case, monkeypatch) -> None:
    """Consistency (values equal the full extraction) and the count of LoG filterings: one per distinct grid."""
    _, analysis = case
    regions = analysis.regions
    calls = []
    original = imageoperations.getLoGImage

    def counting(image, mask, **kwargs):
        calls.append(kwargs["sigma"])
        yield from original(image, mask, **kwargs)

    monkeypatch.setattr(imageoperations, "getLoGImage", counting)
    wanted = [f"{region}_log-sigma-1-0-mm-3D_firstorder_Mean" for region in regions.masks()]
    values, _ = extract_region_features(regions, SPEC, wanted)

    grids = {
        (image.GetOrigin(), image.GetSize())
        for image in (regions.region_input(name).image for name in regions.masks())
    }
    assert len(calls) == len(grids)
    assert all(values[name] == analysis.features[name] for name in wanted)


def test_two_regions_with_one_grid_compute_each_filtered_image_once(case, monkeypatch) -> None:
    """Two masks with the same bounding box on the box: one wavelet transform, and each region's values equal
    PyRadiomics' ``execute()`` on the CT file and that region's mask file."""
    folder, analysis = case
    regions = analysis.regions
    tumour = regions.tumour
    speckled = tumour & (np.indices(tumour.shape).sum(axis=0) % 3 != 0)
    voxels = np.argwhere(tumour)
    for axis in range(3):  # keep the tumour's extreme voxels, so the bounding box (and PyRadiomics' grid) is the same
        speckled[tuple(voxels[voxels[:, axis].argmin()])] = True
        speckled[tuple(voxels[voxels[:, axis].argmax()])] = True
    masks = {"full": tumour, "speckled": speckled}
    inputs = {name: regions.resampled.sampler.region(mask) for name, mask in masks.items()}
    calls = []
    original = imageoperations.getWaveletImage

    def counting(image, mask, **kwargs):
        calls.append(image.GetSize())
        yield from original(image, mask, **kwargs)

    monkeypatch.setattr(imageoperations, "getWaveletImage", counting)
    names = ["wavelet-LHL_glszm_ZoneEntropy", "wavelet-HHH_firstorder_Mean"]
    request = features.build_request(names)
    values, failures = features.extract_regions(inputs, SPEC, {"full": request, "speckled": request})

    assert not failures and len(calls) == 1
    for name, mask in masks.items():
        path = Path(folder) / f"{name}.nrrd"
        sitk.WriteImage(regions.box.put(mask.astype(np.uint8)), str(path))
        expected = execute(SETTINGS.pyradiomics_params(), Path(folder) / "ct.nrrd", path)
        count, worst, _ = compare(values[name], {k: expected[k] for k in names})
        assert count == 2 and worst <= RELATIVE_TOLERANCE


def test_worker_processes_give_the_same_values_in_the_same_order(case) -> None:
    """Consistency: worker processes change nothing, not even the order."""
    _, analysis = case
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
        fast_area, fast_volume, fast_diameters = MeshCoefficients.calculate_coefficients(mask, spacing)
        assert tuple(fast_diameters[i] for i in range(4)) == diameters, (trial, spacing)
        assert fast_area == pytest.approx(area, rel=1e-12, abs=0)
        if unit:
            assert fast_volume == volume
        else:
            assert fast_volume == pytest.approx(volume, rel=1e-12, abs=1e-12)


def test_default_workers_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(features.WORKERS_ENV, raising=False)
    assert features.default_workers() == 1
    monkeypatch.setenv(features.WORKERS_ENV, "2")
    assert features.default_workers() == 2
