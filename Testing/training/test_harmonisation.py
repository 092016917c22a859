"""ComBat: checked against the reference implementation (neuroCombat) on data with a planted scanner effect, and
for what it is for — the scanner effect removed, the T-stage difference kept, new cases harmonised unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from CCRCCStagingLib.core.errors import SettingsError
from CCRCCStagingLib.training.harmonisation import ComBat


def _planted(n_per_batch: int = 40, n_features: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three scanners with their own shift and scale per feature; T3–T4 cases higher in the first ten features."""
    rng = np.random.default_rng(seed)
    batches = np.repeat(["A", "B", "C"], n_per_batch)
    high = rng.random(len(batches)) < 0.4
    values = rng.normal(0, 1, (len(batches), n_features))
    values[:, :10] += 1.5 * high[:, None]
    for index, batch in enumerate("ABC"):
        rows = batches == batch
        values[rows] = values[rows] * (1 + 0.6 * index) + 3.0 * index * rng.normal(1, 0.2, n_features)
    return values, batches, high


def test_combat_equals_neurocombat() -> None:
    neurocombat = pytest.importorskip("neuroCombat")
    values, batches, _ = _planted()
    reference = neurocombat.neuroCombat(
        dat=pd.DataFrame(values.T), covars=pd.DataFrame({"batch": batches}), batch_col="batch"
    )["data"].T

    harmonised = ComBat().fit_transform(values, batches)

    # Both iterate the empirical-Bayes estimates to the same relative tolerance (1e-4): agreement to ~1e-7.
    np.testing.assert_allclose(harmonised, reference, rtol=1e-6, atol=1e-6)


def test_the_scanner_effect_goes_and_the_group_difference_stays() -> None:
    values, batches, high = _planted(seed=1)
    harmonised = ComBat().fit_transform(values, batches)

    def batch_spread(data: np.ndarray) -> float:
        means = np.array([data[batches == b].mean(axis=0) for b in "ABC"])
        return float(np.abs(means - means.mean(axis=0)).mean())

    assert batch_spread(values) > 1.0 and batch_spread(harmonised) < 0.1
    # The planted T-stage difference, 1.5 within-group SDs, is kept (in every batch's units before, pooled after).
    effect = (harmonised[high, :10].mean(axis=0) - harmonised[~high, :10].mean(axis=0)) / harmonised[~high, :10].std(axis=0)
    assert effect.mean() == pytest.approx(1.5, abs=0.3)


def test_new_cases_are_harmonised_with_the_training_estimates_unchanged() -> None:
    values, batches, _ = _planted(seed=2)
    train = np.arange(len(batches)) % 3 != 0
    combat = ComBat().fit(values[train], batches[train])
    gamma = combat.gamma_.copy()

    one_case = combat.transform(values[~train][:1], batches[~train][:1])
    together = combat.transform(values[~train], batches[~train])

    np.testing.assert_array_equal(one_case[0], together[0])  # a case alone gets what it gets in a cohort
    np.testing.assert_array_equal(combat.gamma_, gamma)
    with pytest.raises(SettingsError, match="not in the training data"):
        combat.transform(values[:1], ["scanner Z"])


# --- ComBat in the pipeline: train --combat, the model folder, evaluate and analyze ---------------------------------

FAST_COMBAT = dict(classifiers=("lr", "svm"), seed=0, optimism_bootstraps=0)


def _scanner_table(seed: int) -> pd.DataFrame:
    """The generated cohort read on three scanners that shift and stretch every intensity feature (not shape)."""
    from cohort_tables import features_table

    table = features_table(seed=seed).drop(columns="peri_original_shape_Sphericity")  # the signal only in intensities
    rng = np.random.default_rng(seed)
    table["batch"] = rng.choice(["scanner A", "scanner B", "scanner C"], size=len(table))
    columns = [c for c in table.columns if c.startswith(("whole_", "sub", "peri_")) and "_shape_" not in c]
    for index, scanner in enumerate(["scanner A", "scanner B", "scanner C"]):
        rows = table["batch"] == scanner
        table.loc[rows, columns] = table.loc[rows, columns] * (1 + 0.8 * index) + 4.0 * index
    return table


def _external_auc(summary: dict, classifier: str = "svm") -> float:
    return next(m["auc"] for m in summary["metrics"]
                if (m["region"], m["classifier"], m["split"]) == ("mix", classifier, "external"))


def test_combat_recovers_the_signal_a_scanner_effect_hides() -> None:
    """Brute-force yardstick: the planted T-stage signal is found again once the planted scanner effect is removed."""
    from CCRCCStagingLib.training.train import TrainingSettings, train_models

    table = _scanner_table(seed=11)
    plain = train_models(table, TrainingSettings(**FAST_COMBAT))
    harmonised = train_models(table, TrainingSettings(**FAST_COMBAT, combat=True))

    assert _external_auc(harmonised.summary) > 0.8
    assert _external_auc(harmonised.summary) > _external_auc(plain.summary) + 0.05
    assert harmonised.summary["harmonisation"]["batches"] == ["scanner A", "scanner B", "scanner C"]
    assert not any("_shape_" in c for c in harmonised.harmonisation.columns)


def test_the_deployed_model_harmonises_a_new_case_as_training_did(tmp_path) -> None:
    """Consistency (the project's two paths): the NumPy model folder, given the case's batch, gives the probabilities
    of the scikit-learn pipeline on the table harmonised by the fitted ComBat."""
    from cohort_tables import write_features_with_side_files

    from CCRCCStagingLib.model.bundle import load_deployed_model
    from CCRCCStagingLib.training.train import TrainingSettings, train

    table = _scanner_table(seed=12)
    result = train(write_features_with_side_files(tmp_path, table), tmp_path / "model",
                   TrainingSettings(**FAST_COMBAT, combat=True))
    model = load_deployed_model(tmp_path / "model")
    external = table[table["split"] == "external"]

    expected = result.deployed.probability(result.harmonise(external))
    got = [model.predict(row, row["batch"]).probability_high for row in external.to_dict("records")]

    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert model.batches == ["scanner A", "scanner B", "scanner C"]
    with pytest.raises(SettingsError, match="--batch"):
        model.predict(external.iloc[0].to_dict())
    with pytest.raises(SettingsError, match="'scanner Z' was not in its training data"):
        model.predict(external.iloc[0].to_dict(), "scanner Z")


def test_harmonised_models_refuse_cases_without_a_known_batch(tmp_path) -> None:
    from cohort_tables import write_features_with_side_files

    from CCRCCStagingLib.cli import main

    table = _scanner_table(seed=13)
    features = write_features_with_side_files(tmp_path, table)
    assert main(["train", str(features), "--out", str(tmp_path / "model"), "--combat", "--classifiers", "lr,svm",
                 "--optimism-bootstraps", "0"]) == 0
    no_batch = write_features_with_side_files(tmp_path, table.drop(columns="batch"), "no_batch.csv")

    assert main(["evaluate", str(tmp_path / "model"), str(no_batch), "--out", str(tmp_path / "ev")]) == 2
    assert not (tmp_path / "ev" / "predictions.csv").exists()
    # analyze refuses before reading anything (the files need not even exist).
    assert main(["analyze", "ct.nrrd", "mask.nrrd", "--model", str(tmp_path / "model"), "--out",
                 str(tmp_path / "case")]) == 2
    assert not (tmp_path / "case").exists()
    unlabelled = table.assign(batch=table["batch"].where(table.index % 7 != 0))
    assert main(["train", str(write_features_with_side_files(tmp_path, unlabelled, "gaps.csv")), "--out",
                 str(tmp_path / "model2"), "--combat"]) == 2


def test_a_tampered_harmonisation_is_refused(tmp_path) -> None:
    import json

    from cohort_tables import write_features_with_side_files

    from CCRCCStagingLib.core.errors import ModelBundleError
    from CCRCCStagingLib.model.bundle import MODEL, load_deployed_model
    from CCRCCStagingLib.model.validation import check_description
    from CCRCCStagingLib.training.train import TrainingSettings, train

    train(write_features_with_side_files(tmp_path, _scanner_table(seed=14)), tmp_path / "model",
          TrainingSettings(**FAST_COMBAT, combat=True))
    description = json.loads((tmp_path / "model" / MODEL).read_text())
    check_description(description, tmp_path / MODEL)  # as written: valid
    name = next(iter(description["harmonisation"]["features"]))
    for field, value in (("delta", [-1.0, 1.0, 1.0]), ("gamma", [0.0]), ("pooled_sd", 0.0)):
        broken = json.loads(json.dumps(description))
        broken["harmonisation"]["features"][name][field] = value
        with pytest.raises(ModelBundleError, match=f"harmonisation.features.{name}.{field}"):
            check_description(broken, tmp_path / MODEL)
    broken = json.loads(json.dumps(description))
    broken["harmonisation"]["features"]["peri_original_firstorder_NotInTheModel"] = {}
    with pytest.raises(ModelBundleError, match="model's own features"):
        check_description(broken, tmp_path / MODEL)
    assert load_deployed_model(tmp_path / "model").batches
