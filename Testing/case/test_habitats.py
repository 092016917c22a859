"""GMM habitats: determinism, ordering by HU, K by BIC, population model applied to new cases."""

from __future__ import annotations

import numpy as np
import pytest

from CCRCCStagingLib.case.habitats import HabitatInput, HabitatModel, voxel_features


def _two_compartment_case(seed: int, radius: int = 9, necrotic_radius: int = 5) -> HabitatInput:
    """A sphere with an enhancing rim (~150 HU) around a hypo-enhancing core (~30 HU), with noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices((26, 26, 26)) - 13
    distance = np.sqrt(x * x + y * y + z * z)
    tumour = distance <= radius
    image = np.where(distance <= necrotic_radius, 30.0, 150.0) + rng.normal(0, 12, tumour.shape)
    image[~tumour] = -90.0 + rng.normal(0, 10, (~tumour).sum())
    return HabitatInput(image.astype(np.float32), tumour)


def test_voxel_features_are_hu_local_mean_and_local_sd() -> None:
    case = HabitatInput(np.arange(27, dtype=np.float32).reshape(3, 3, 3), np.zeros((3, 3, 3), bool))
    case.tumour[1, 1, 1] = True
    rows = voxel_features(case, ("intensity", "local_mean", "local_std"), kernel_radius=1)
    cube = np.arange(27, dtype=np.float64)
    np.testing.assert_allclose(rows, [[13.0, cube.mean(), cube.std()]])


def test_labels_are_deterministic_for_a_seed_and_ordered_by_hu() -> None:
    case = _two_compartment_case(seed=1)
    first = HabitatModel(k=2, seed=7).fit([case]).predict(case)
    second = HabitatModel(k=2, seed=7).fit([case]).predict(case)
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first[case.tumour])) == {1, 2}
    assert (first[~case.tumour] == 0).all()
    assert case.image[first == 1].mean() > case.image[first == 2].mean() + 50  # sub1 is the enhancing habitat


def test_bic_curve_is_recorded_and_k_is_its_minimum() -> None:
    case = _two_compartment_case(seed=2)
    model = HabitatModel(k_range=(2, 4), seed=0).fit([case])
    assert sorted(model.bic_) == [2, 3, 4]
    assert model.k_ == min(model.bic_, key=model.bic_.get)
    fixed = HabitatModel(k=3, seed=0).fit([case])
    assert fixed.k_ == 3 and list(fixed.bic_) == [3]


def test_population_model_gives_the_same_labels_in_two_runs_and_means_the_same_in_new_cases() -> None:
    training = [_two_compartment_case(seed=s) for s in range(4)]
    model = HabitatModel(k=2, seed=0, sample_size=4000).fit(training)
    new_case = _two_compartment_case(seed=99, radius=11, necrotic_radius=4)

    once = model.predict(new_case)
    again = model.predict(new_case)

    np.testing.assert_array_equal(once, again)
    core = np.zeros_like(new_case.tumour)
    z, y, x = np.indices(core.shape) - 13
    core = np.sqrt(x * x + y * y + z * z) <= 2
    assert (once[core] == 2).mean() > 0.9  # the necrotic core is the low-HU habitat in an unseen case too


def test_sample_is_bounded_and_split_equally_between_cases() -> None:
    small, large = _two_compartment_case(seed=3, radius=5), _two_compartment_case(seed=4, radius=12)
    model = HabitatModel(k=2, sample_size=600, seed=0).fit([small, large])
    assert model.n_samples_ == 600
    assert min(small.tumour.sum(), 300) + min(large.tumour.sum(), 300) == 600


@pytest.mark.parametrize("features", [("intensity",), ("intensity", "local_entropy")])
def test_other_feature_sets_work(features: tuple[str, ...]) -> None:
    case = _two_compartment_case(seed=5)
    labels = HabitatModel(k=2, features=features, seed=0).fit([case]).predict(case)
    assert set(np.unique(labels[case.tumour])) == {1, 2}


def test_model_round_trips_through_plain_json_data() -> None:
    import json

    training = [_two_compartment_case(seed=s) for s in range(3)]
    model = HabitatModel(k_range=(2, 3), seed=0, sample_size=3000).fit(training)
    rebuilt = HabitatModel.from_dict(json.loads(json.dumps(model.to_dict())))
    case = _two_compartment_case(seed=42)
    np.testing.assert_array_equal(rebuilt.predict(case), model.predict(case))
    assert rebuilt.bic_ == pytest.approx(model.bic_)
