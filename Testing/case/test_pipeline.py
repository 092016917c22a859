"""One case end to end in the library: regions partition correctly, targeted extraction equals full extraction,
habitats are deterministic. (Equality with PyRadiomics: ``test_pyradiomics_equality.py``.)"""

from __future__ import annotations

import numpy as np
import pytest

from CCRCCStagingLib.case.features import ExtractionSpec
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from CCRCCStagingLib.case.habitats import HabitatModel
from CCRCCStagingLib.case.pipeline import analyze_case, build_regions, extract_region_features, resample_case
from CCRCCStagingLib.core.settings import HabitatSettings, Settings

SETTINGS = Settings(habitats=HabitatSettings(k=2))


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("high", seed=11, tumour_diameter_mm=24.0)


@pytest.fixture(scope="module")
def analysis(phantom):
    return analyze_case(phantom.image, phantom.mask, SETTINGS)


def test_regions_partition_the_tumour_and_the_shell_lies_outside(analysis) -> None:
    regions = analysis.regions
    masks = regions.masks()
    habitats = [masks[f"sub{k}"] for k in range(1, regions.habitats_k + 1)]
    np.testing.assert_array_equal(np.sum(habitats, axis=0), regions.tumour.astype(int))
    assert not (regions.peri & regions.tumour).any()
    assert all(h.any() for h in habitats)
    summary = analysis.region_summary()
    assert summary["whole"]["voxels"] == sum(summary[f"sub{k}"]["voxels"] for k in (1, 2))
    assert summary["peri"]["label"] == 10 and summary["sub1"]["label"] == 1


def test_targeted_extraction_equals_full_extraction_over_all_image_types(analysis) -> None:
    rng = np.random.default_rng(0)
    names = sorted(analysis.features)
    by_image_type: dict[str, list[str]] = {}
    for name in names:
        by_image_type.setdefault(name.split("_")[1].split("-")[0], []).append(name)
    assert set(by_image_type) == {"original", "wavelet", "log"}
    wanted = [str(n) for group in by_image_type.values() for n in rng.choice(group, size=8, replace=False)]
    wanted.append("peri_original_shape_Sphericity")

    spec = ExtractionSpec.from_params(SETTINGS.pyradiomics_params())
    targeted, warnings = extract_region_features(analysis.regions, spec, wanted)

    assert not warnings
    assert sorted(targeted) == sorted(set(wanted))
    for name in wanted:
        assert targeted[name] == analysis.features[name], name


def test_habitat_labels_are_deterministic_for_a_fixed_seed(phantom) -> None:
    settings = Settings(habitats=HabitatSettings(seed=5))
    first, _ = build_regions(resample_case(phantom.image, phantom.mask, settings), settings)
    second, _ = build_regions(resample_case(phantom.image, phantom.mask, settings), settings)
    np.testing.assert_array_equal(first.habitats, second.habitats)
    assert first.habitat_model.bic_ == second.habitat_model.bic_


def test_population_model_applied_to_a_case_gives_the_same_labels_twice(phantom) -> None:
    training = [make_phantom(stage, seed=s, tumour_diameter_mm=20.0) for stage, s in (("low", 21), ("high", 22))]
    inputs = [resample_case(case.image, case.mask, SETTINGS).habitat_input() for case in training]
    population = HabitatModel(k=2, seed=0).fit(inputs)

    resampled = resample_case(phantom.image, phantom.mask, SETTINGS)
    once, _ = build_regions(resampled, SETTINGS, habitat_model=population)
    twice, _ = build_regions(resampled, SETTINGS, habitat_model=population)
    np.testing.assert_array_equal(once.habitats, twice.habitats)
    assert once.habitat_model is population


def test_a_habitat_the_population_model_never_assigns_is_reported_not_fatal(phantom) -> None:
    """Found on real CTs (IBSI's sarcomas, darker than a kidney tumour): a population GMM can leave a habitat empty
    in a case. That region has no features (a warning); the others are computed."""
    resampled = resample_case(phantom.image, phantom.mask, SETTINGS)
    population = HabitatModel(k=2, seed=0).fit([resampled.habitat_input()])
    regions, _ = build_regions(resampled, SETTINGS, habitat_model=population)
    regions.habitats[regions.habitats == 1] = 2  # as if no voxel of this case fell in sub1
    wanted = ["sub1_original_firstorder_Mean", "sub2_original_firstorder_Mean", "peri_original_firstorder_Mean"]

    values, warnings = extract_region_features(regions, ExtractionSpec.from_params(SETTINGS.pyradiomics_params()), wanted)

    assert set(values) == {"sub2_original_firstorder_Mean", "peri_original_firstorder_Mean"}
    assert any("No features for region sub1" in warning and "empty" in warning for warning in warnings)
