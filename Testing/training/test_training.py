"""Training on generated features tables with a known signal: selection, AUCs, no leakage, Radscore, survival."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cohort_tables import INFORMATIVE, features_table
from cohort_tables import write_features_with_side_files as _write_features
from sklearn.metrics import roc_auc_score

from CCRCCStagingLib.training.train import TrainingSettings, train_models

FAST = TrainingSettings(classifiers=("lr", "svm", "nb"), seed=0, optimism_bootstraps=3)


@pytest.fixture(scope="module")
def trained():
    return train_models(features_table(seed=1), FAST)


def _auc(summary, region, classifier, split):
    rows = [m for m in summary["metrics"] if (m["region"], m["classifier"], m["split"]) == (region, classifier, split)]
    assert len(rows) == 1
    return rows[0]["auc"]


def test_selection_keeps_the_informative_features_and_drops_copies(trained) -> None:
    selection = trained.summary["selection"]
    assert "sub1_original_firstorder_Mean" in selection["sub1"]["selected"]
    assert set(selection["peri"]["selected"]) >= {"peri_log-sigma-1-0-mm-3D_glcm_Idmn", "peri_original_shape_Sphericity"}
    assert selection["sub1"]["n_after_spearman"] <= selection["sub1"]["n_input"] - 5
    assert set(INFORMATIVE) <= set(selection["mix"]["selected"])


def test_held_out_aucs_are_high_and_mix_combines_sub1_with_peri(trained) -> None:
    assert trained.mix_subregion == "sub1"
    for split in ("internal_test", "external"):
        assert _auc(trained.summary, "mix", "svm", split) > 0.8
        assert _auc(trained.summary, "sub2", "lr", split) < 0.75  # sub2 carries no signal


def test_volume_baseline_equals_the_auc_of_volume_itself(trained) -> None:
    table = features_table(seed=1)
    external = table[table["split"] == "external"]
    direct = roc_auc_score(external["group"] == "high", external["tumour_volume_ml"])
    assert _auc(trained.summary, "mix", "volume_only", "external") == pytest.approx(direct, abs=1e-12)


def test_shuffled_labels_give_chance_level_on_held_out_cases() -> None:
    result = train_models(features_table(seed=2, shuffle_labels=True), FAST)
    held_out = [
        m["auc"] for m in result.summary["metrics"] if m["split"] != "train" and m["classifier"] != "volume_only"
    ]
    assert abs(np.mean(held_out) - 0.5) < 0.08


def test_radscore_cutoff_is_youden_on_training_and_risk_groups_follow_it(trained) -> None:
    radscore = trained.summary["radscore"]
    scores = radscore["scores"]
    assert all((s["risk"] == "high") == (s["radscore"] >= radscore["cutoff"]) for s in scores)
    train = [s for s in scores if s["split"] == "train"]
    y = np.array([s["group"] == "high" for s in train])
    values = np.array([s["radscore"] for s in train])
    youden = lambda c: (values[y] >= c).mean() - (values[~y] >= c).mean()  # noqa: E731
    assert youden(radscore["cutoff"]) == pytest.approx(max(youden(v) for v in values))
    assert set(radscore["coefficients"]) == set(trained.summary["selection"]["mix"]["selected"])


def test_survival_by_risk_group_is_reported(trained) -> None:
    survival = trained.summary["survival"]
    assert "all" in survival
    assert {c["group"] for c in survival["all"]["curves"]} == {"low", "high"}
    assert 0 <= survival["all"]["logrank_p"] <= 1


def test_model_folder_round_trip_and_numpy_evaluator_equals_sklearn(tmp_path) -> None:
    from CCRCCStagingLib.model.bundle import load_deployed_model
    from CCRCCStagingLib.training.train import train

    table = features_table(seed=3)
    features = _write_features(tmp_path, table)
    result = train(features, tmp_path / "model", FAST)

    model = load_deployed_model(tmp_path / "model")
    deployed = result.deployed
    external = table[table["split"] == "external"]
    expected = deployed.probability(external)
    rows = external.to_dict("records")
    got = [model.predict(row).probability_high for row in rows]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    expected_radscore = [s["radscore"] for s in result.summary["radscore"]["scores"] if s["split"] == "external"]
    got_radscore = [model.predict(row).radscore for row in rows]
    np.testing.assert_allclose(got_radscore, expected_radscore, rtol=1e-9, atol=1e-12)
    assert not (tmp_path / "model" / "training_report.html").exists()  # computation renders nothing
    assert (tmp_path / "model" / "metrics.csv").exists()
    radscores = pd.read_csv(tmp_path / "model" / "radscores.csv", dtype={"case_id": str})
    assert list(radscores.columns) == ["case_id", "split", "radscore", "risk", "group"]
    assert len(radscores) == len(table)
    external_scores = radscores.loc[radscores["split"] == "external", "radscore"]
    np.testing.assert_allclose(external_scores, expected_radscore, rtol=1e-12)


def test_evaluate_scores_another_cohort_with_the_trained_models(tmp_path) -> None:
    from CCRCCStagingLib.training.evaluation import evaluate
    from CCRCCStagingLib.training.train import train

    train(_write_features(tmp_path, features_table(seed=4)), tmp_path / "model", FAST)
    other = features_table(seed=5)
    other["split"] = "external"
    other_path = _write_features(tmp_path, other, "other.csv")

    summary = evaluate(tmp_path / "model", other_path, tmp_path / "evaluation", trust_research_models=True)

    assert _auc(summary, "mix", "svm", "external") > 0.8
    assert not (tmp_path / "evaluation" / "evaluation_report.html").exists()  # the command renders it
    radscores = pd.read_csv(tmp_path / "evaluation" / "radscores.csv", dtype={"case_id": str})
    assert sorted(radscores["case_id"]) == sorted(other["case_id"].astype(str))


def test_evaluate_by_default_scores_with_the_deployed_model_and_never_unpickles(tmp_path, monkeypatch) -> None:
    """The safe default: the deployed model's probabilities (those of ``analyze``), no pickle loaded."""
    import pickle

    from CCRCCStagingLib.model.bundle import load_deployed_model
    from CCRCCStagingLib.training.evaluation import evaluate
    from CCRCCStagingLib.training.train import train

    train(_write_features(tmp_path, features_table(seed=4)), tmp_path / "model", FAST)
    other = features_table(seed=5).assign(split="external")
    _write_features(tmp_path, other, "other.csv")

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    summary = evaluate(tmp_path / "model", tmp_path / "other.csv", tmp_path / "evaluation")

    model = load_deployed_model(tmp_path / "model")
    expected = [model.predict(row).radscore for row in other.to_dict("records")]
    scores = [s["radscore"] for s in summary["radscore"]["scores"]]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert [m["classifier"] for m in summary["metrics"]] == [model.description["classifier"], "volume_only"]
    deployed = summary["metrics"][0]
    assert 0 <= deployed["p_vs_volume"] <= 1 and deployed["tp"] + deployed["fn"] == deployed["n_pos"]
    calibration = summary["calibration"]["mix"][model.description["classifier"]]["external"]
    assert {"brier", "calibration_slope", "calibration_intercept", "reliability", "decision_curve"} <= set(calibration)
    assert _auc(summary, "mix", model.description["classifier"], "external") > 0.8


def test_optimism_bootstrap_says_how_many_samples_it_used(trained) -> None:
    """Consistency check: the samples used are counted against those drawn; a sample the LASSO's cross-validation
    cannot split (fewer cases of a group than folds) is skipped, and when every one is, no correction is claimed."""
    from dataclasses import replace

    from CCRCCStagingLib.training.cohort import feature_columns
    from CCRCCStagingLib.training.train import optimism_corrected_auc

    optimism = trained.summary["optimism"]
    assert optimism["bootstraps_drawn"] == 3 and 1 <= optimism["bootstraps"] <= 3
    assert optimism["corrected_auc"] == pytest.approx(optimism["apparent_auc"] - optimism["optimism"])
    table = features_table(seed=1)
    train = table[table["split"] == "train"]
    columns = [c for c in feature_columns(table) if c.startswith(("sub1_", "peri_"))]
    y = (train["group"] == "high").to_numpy().astype(int)
    folds = int(min(y.sum(), len(y) - y.sum()))  # as many folds as the smaller group has cases: samples often fall short
    settings = replace(FAST, lasso_cv=folds, optimism_bootstraps=6)
    # The samples the function draws, replayed: those with enough cases of each group for the folds are usable.
    rng = np.random.default_rng(settings.seed)
    usable = sum(min(np.bincount(y[rng.integers(0, len(y), len(y))], minlength=2)) >= folds for _ in range(6))
    assert 0 < usable < 6  # the case this test is about: some skipped, some used
    result = optimism_corrected_auc(train, columns, settings)
    assert (result["bootstraps"], result["bootstraps_drawn"]) == (usable, 6)


def test_the_research_pickle_is_never_loaded_without_the_explicit_trust(tmp_path) -> None:
    """Checked before any byte of the folder is read: the folder need not even exist."""
    from CCRCCStagingLib.core.errors import ModelBundleError
    from CCRCCStagingLib.training.bundle_writer import load_research_models

    with pytest.raises(ModelBundleError, match="--trust-research-models"):
        load_research_models(tmp_path / "someone-elses-model", trusted=False)
