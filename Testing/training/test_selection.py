"""Tests of CCRCCStagingLib.training.selection against brute-force references and hand computations."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LassoCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from CCRCCStagingLib.core.errors import CCRCCStagingError, SettingsError
from CCRCCStagingLib.training.selection import (
    ICCFilter,
    LassoSelector,
    MRMRSelector,
    SpearmanRedundancyFilter,
    intraclass_correlation,
    make_selection_pipeline,
)


# --------------------------------------------------------------------------- brute-force references


def _reference_spearman_filter(X: np.ndarray, threshold: float) -> list[bool]:
    """Plain loops over pairs with scipy's pairwise spearmanr: keep a column unless it duplicates a kept one."""
    n_columns = X.shape[1]
    keep = [bool(np.ptp(X[:, j]) > 0) for j in range(n_columns)]
    for j in range(n_columns):
        if not keep[j]:
            continue
        for k in range(j + 1, n_columns):
            if keep[k] and abs(spearmanr(X[:, j], X[:, k]).statistic) > threshold:
                keep[k] = False
    return keep


def _reference_bins(column: np.ndarray, n_bins: int) -> list[int]:
    """Equal-frequency bins from average ranks written out by definition (O(n^2))."""
    n = len(column)
    bins = []
    for value in column:
        below = sum(1 for other in column if other < value)
        equal = sum(1 for other in column if other == value)
        average_rank = below + (equal + 1) / 2
        bins.append(math.floor((average_rank - 1) * n_bins / n))
    return bins


def _reference_entropy(values: list) -> float:
    n = len(values)
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return -sum(c / n * math.log(c / n) for c in counts.values())


def _reference_mi(a: list, b: list) -> float:
    """MI = H(A) + H(B) - H(A, B), a different formula from the library's."""
    return _reference_entropy(a) + _reference_entropy(b) - _reference_entropy(list(zip(a, b)))


def _reference_mrmr(X: np.ndarray, y: np.ndarray, k: int, n_bins: int, criterion: str) -> tuple[list[int], list[float]]:
    """Greedy mRMR recomputing every mean redundancy from scratch at every step."""
    columns = [_reference_bins(X[:, j], n_bins) for j in range(X.shape[1])]
    labels = list(y)
    relevance = [_reference_mi(column, labels) for column in columns]
    selected: list[int] = []
    while len(selected) < min(k, len(columns)):
        scores = {}
        for j in range(len(columns)):
            if j in selected:
                continue
            if not selected:
                scores[j] = relevance[j]
                continue
            redundancy = sum(_reference_mi(columns[j], columns[s]) for s in selected) / len(selected)
            scores[j] = relevance[j] - redundancy if criterion == "MID" else relevance[j] / (redundancy + 1e-12)
        best = max(scores.values())
        selected.append(min(j for j, s in scores.items() if abs(s - best) <= 1e-12 + 1e-9 * abs(best)))
    return selected, relevance


def _planted_data(seed: int, n: int = 97, p: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus two relevant columns (3, 7), a near copy of column 3 (12) and a tied 3-level column (20)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    X = rng.normal(size=(n, p))
    X[:, 3] += 2.5 * y
    X[:, 7] += 1.5 * y
    X[:, 12] = X[:, 3] + 0.05 * rng.normal(size=n)
    X[:, 20] = rng.integers(0, 3, size=n)
    return X, y


# --------------------------------------------------------------------------- scikit-learn conventions


@parametrize_with_checks([SpearmanRedundancyFilter(), MRMRSelector(n_features=2)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- Spearman filter


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spearman_filter_matches_pairwise_reference(seed):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(60, 6))
    # Correlated groups of varying strength so that some pairs are above 0.9 and some below.
    X = np.hstack([base, base + rng.normal(scale=[0.1, 0.3, 0.5, 0.2, 0.6, 0.05], size=(60, 6)), rng.normal(size=(60, 8))])
    X = X[:, rng.permutation(X.shape[1])]
    got = SpearmanRedundancyFilter(threshold=0.9).fit(X).support_
    expected = _reference_spearman_filter(X, 0.9)
    assert got.tolist() == expected
    assert 0 < got.sum() < X.shape[1]


def test_spearman_filter_chain_keeps_both_ends():
    rng = np.random.default_rng(5)
    a = rng.normal(size=500)
    b = a + 0.3 * rng.normal(size=500)
    c = b + 0.3 * rng.normal(size=500)
    X = np.column_stack([a, b, c])
    rho = spearmanr(X).statistic
    assert rho[0, 1] > 0.93 and rho[1, 2] > 0.93 and rho[0, 2] < 0.93  # premise of the test
    assert SpearmanRedundancyFilter(threshold=0.93).fit(X).support_.tolist() == [True, False, True]


def test_spearman_filter_monotone_negative_and_constant_columns():
    x = np.linspace(-2, 2, 40)
    noise = np.random.default_rng(0).normal(size=40)
    X = np.column_stack([np.full(40, 3.0), x, np.exp(x), -x, noise])
    selector = SpearmanRedundancyFilter().fit(X)
    assert selector.support_.tolist() == [False, True, False, False, True]
    assert selector.constant_.tolist() == [True, False, False, False, False]


def test_spearman_filter_pandas_names_and_output():
    rng = np.random.default_rng(1)
    x = rng.normal(size=30)
    df = pd.DataFrame({"a": x, "b": 2 * x + 1, "c": rng.normal(size=30)})
    selector = SpearmanRedundancyFilter().set_output(transform="pandas").fit(df)
    out = selector.transform(df)
    assert list(out.columns) == ["a", "c"] == list(selector.get_feature_names_out())
    assert out.index.equals(df.index)


def test_spearman_filter_rejects_bad_threshold():
    with pytest.raises(SettingsError):
        SpearmanRedundancyFilter(threshold=1.5).fit(np.eye(3))


# --------------------------------------------------------------------------- mRMR


@pytest.mark.parametrize("n_bins", [3, 10])
@pytest.mark.parametrize("criterion", ["MID", "MIQ"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mrmr_matches_brute_force(seed, criterion, n_bins):
    X, y = _planted_data(seed)  # 97 cases: bin edges fall between ranks, so the binning rule matters
    selector = MRMRSelector(n_features=10, n_bins=n_bins, criterion=criterion).fit(X, y)
    expected_order, expected_relevance = _reference_mrmr(X, y, 10, n_bins, criterion)
    assert selector.ranking_.tolist() == expected_order
    np.testing.assert_allclose(selector.relevance_, expected_relevance, rtol=1e-10, atol=1e-12)


def test_mrmr_finds_planted_features_and_skips_redundant_copy():
    X, y = _planted_data(0)
    selector = MRMRSelector(n_features=5).fit(X, y)
    ranking = selector.ranking_.tolist()
    relevance_order = np.argsort(-selector.relevance_, kind="stable").tolist()
    assert set(relevance_order[:2]) == {3, 12}  # the near copy is as relevant as the original ...
    assert ranking[0] in (3, 12) and 7 in ranking[:3]  # ... but redundancy keeps it out of the next picks
    assert ({3, 12} - {ranking[0]}).isdisjoint(ranking[:3])


def test_mrmr_default_bins_do_not_favour_few_level_noise():
    # Paper-sized training set with 20 five-level noise columns (0-19) and 10 informative ones (20-29).
    # With 10 bins the upward bias of pairwise MI makes the redundancy penalty prefer the few-level noise
    # columns; the default of 3 bins must not (see MRMRSelector's docstring).
    rng = np.random.default_rng(11)
    y = (rng.random(148) < 0.36).astype(int)
    X = rng.normal(size=(148, 200))
    X[:, :20] = np.round(rng.normal(size=(148, 20)))
    X[:, 20:30] += y[:, None] * np.linspace(0.5, 1.0, 10)
    ranking = MRMRSelector(n_features=25).fit(X, y).ranking_
    assert (ranking < 20).sum() <= 5
    assert ((ranking >= 20) & (ranking < 30)).sum() >= 7


def test_mrmr_ties_go_to_first_column():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 20)
    signal = y + 0.3 * rng.normal(size=40)
    X = np.column_stack([rng.normal(size=40), signal, signal, rng.normal(size=40)])
    assert MRMRSelector(n_features=1).fit(X, y).ranking_.tolist() == [1]


def test_mrmr_keeps_everything_when_asked_for_more_than_given():
    X, y = _planted_data(1)
    selector = MRMRSelector(n_features=25).fit(X[:, :6], y)
    assert sorted(selector.ranking_.tolist()) == list(range(6))
    assert selector.get_support().all()


def test_mrmr_pandas_output_keeps_input_order():
    X, y = _planted_data(2)
    df = pd.DataFrame(X, columns=[f"feature_{j}" for j in range(X.shape[1])])
    selector = MRMRSelector(n_features=4).set_output(transform="pandas").fit(df, y)
    names = [f"feature_{j}" for j in sorted(selector.ranking_)]
    assert list(selector.transform(df).columns) == names == list(selector.get_feature_names_out())


@pytest.mark.parametrize("settings", [{"n_features": 0}, {"n_bins": 1}, {"criterion": "FCQ"}])
def test_mrmr_rejects_bad_settings(settings):
    X, y = _planted_data(0)
    with pytest.raises(SettingsError):
        MRMRSelector(**settings).fit(X, y)


def test_mrmr_is_fast_on_paper_sized_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(148, 1093))
    y = (rng.random(148) < 0.36).astype(int)
    start = time.perf_counter()
    MRMRSelector(n_features=25).fit(X, y)
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- LASSO


def _lasso_data(seed: int = 0, n: int = 120, p: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n) > 0.3).astype(int)
    return StandardScaler().fit_transform(X), y


def test_lasso_selector_is_lassocv_with_seeded_stratified_folds():
    X, y = _lasso_data()
    selector = LassoSelector(cv=10, random_state=0).fit(X, y)
    direct = LassoCV(cv=StratifiedKFold(10, shuffle=True, random_state=0), max_iter=10_000).fit(X, y)
    assert selector.alpha_ == pytest.approx(direct.alpha_)
    np.testing.assert_allclose(selector.coef_, direct.coef_)
    np.testing.assert_allclose(selector.mse_path_, direct.mse_path_)
    assert selector.mse_path_.shape == (100, 10) and selector.coef_path_.shape == (20, 100)
    assert selector.support_.tolist() == (direct.coef_ != 0).tolist()
    np.testing.assert_allclose(selector.radscore(X), direct.predict(X))
    assert selector.fallback_alpha_ is None


def test_lasso_selector_finds_informative_features_and_path_agrees():
    X, y = _lasso_data(1)
    selector = LassoSelector().fit(X, y)
    assert {0, 1} <= set(np.flatnonzero(selector.support_))
    assert selector.coef_[0] > 0 > selector.coef_[1]
    at_alpha = np.argmin(np.abs(selector.alphas_ - selector.alpha_))
    np.testing.assert_allclose(selector.coef_path_[:, at_alpha], selector.coef_, atol=1e-3)


def test_lasso_selector_pandas_names():
    X, y = _lasso_data(2)
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    selector = LassoSelector().set_output(transform="pandas").fit(df, y)
    assert list(selector.transform(df).columns) == [f"f{j}" for j in np.flatnonzero(selector.coef_)]


@pytest.mark.parametrize("seed", [0, 2])
def test_lasso_selector_falls_back_to_first_feature_on_path(seed):
    # Pure noise with these seeds: cross-validation picks the largest penalty, which zeroes everything.
    # With seed 2 coordinate descent leaves ~1e-17 residue at that penalty, which must not count.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 8))
    y = np.r_[np.ones(20), np.zeros(40)]
    with pytest.warns(UserWarning, match="kept no feature"):
        selector = LassoSelector().fit(X, y)
    assert selector.alpha_ == selector.alphas_[0]
    assert selector.fallback_alpha_ == selector.alphas_[1]
    # The first feature to enter the LASSO path is the one with the largest |centred X_j . centred y|.
    first_in = int(np.argmax(np.abs((X - X.mean(axis=0)).T @ (y - y.mean()))))
    assert np.flatnonzero(selector.support_).tolist() == [first_in]
    np.testing.assert_allclose(selector.radscore(X), selector.intercept_ + X[:, first_in] * selector.coef_[first_in])


def test_lasso_selector_user_errors():
    X, y = _lasso_data()
    with pytest.raises(SettingsError, match="at least 10 cases"):
        LassoSelector(cv=10).fit(X[:30], np.r_[np.ones(5), np.zeros(25)])
    with pytest.raises(CCRCCStagingError, match="only class"):
        LassoSelector(cv=2).fit(X, np.zeros(len(y)))
    with pytest.raises(CCRCCStagingError, match="coded 0/1"):
        LassoSelector(cv=2).fit(X, y + 1)
    with pytest.raises(SettingsError):
        LassoSelector(cv=1).fit(X, y)


# --------------------------------------------------------------------------- ICC


def test_icc_matches_shrout_fleiss_published_example():
    # Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; ICC(2,1) = .29, ICC(3,1) = .71.
    ratings = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float
    )[:, :, None]
    assert intraclass_correlation(ratings, "ICC2")[0] == pytest.approx(0.29, abs=0.005)
    assert intraclass_correlation(ratings, "ICC3")[0] == pytest.approx(0.71, abs=0.005)


def test_icc_two_raters_by_hand():
    # Reader B = reader A + 1 on every case. By hand: MSR = 10/3, MSC = 2, MSE = 0, so
    # ICC(3,1) = 1 (perfect consistency) and ICC(2,1) = (10/3) / (10/3 + 2 * 2 / 4) = 10/13.
    ratings = np.array([[1, 2], [2, 3], [3, 4], [4, 5]], dtype=float)[:, :, None]
    assert intraclass_correlation(ratings, "ICC3")[0] == pytest.approx(1.0)
    assert intraclass_correlation(ratings, "ICC2")[0] == pytest.approx(10 / 13)


def test_icc_vectorised_over_features_equals_loop_formula():
    rng = np.random.default_rng(4)
    ratings = rng.normal(size=(12, 2, 5)) + rng.normal(size=(12, 1, 5)) * np.array([0.1, 0.5, 1, 2, 4])
    got = intraclass_correlation(ratings, "ICC2")
    for f in range(5):
        x = ratings[:, :, f]
        n, k = x.shape
        grand = x.mean()
        msr = k * sum((x[i].mean() - grand) ** 2 for i in range(n)) / (n - 1)
        msc = n * sum((x[:, j].mean() - grand) ** 2 for j in range(k)) / (k - 1)
        sse = sum((x[i, j] - x[i].mean() - x[:, j].mean() + grand) ** 2 for i in range(n) for j in range(k))
        mse = sse / ((n - 1) * (k - 1))
        assert got[f] == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n))


def test_icc_filter_keeps_reproducible_features():
    rng = np.random.default_rng(6)
    truth = rng.normal(size=(30, 3))
    first = pd.DataFrame(truth + [0.05, 2.0, 0.0] * rng.normal(size=(30, 3)), columns=["stable", "noisy", "flat"])
    second = pd.DataFrame(truth + [0.05, 2.0, 0.0] * rng.normal(size=(30, 3)), columns=["stable", "noisy", "flat"])
    first["flat"] = second["flat"] = 1.0
    selector = ICCFilter(threshold=0.75).fit(first, second)
    assert selector.icc_[0] > 0.75 > selector.icc_[1] and np.isnan(selector.icc_[2])
    assert list(selector.get_feature_names_out()) == ["stable"]
    with pytest.raises(CCRCCStagingError, match="same cases"):
        ICCFilter().fit(first, second[["noisy", "stable", "flat"]])


# --------------------------------------------------------------------------- pipeline


def test_selection_pipeline_paper_defaults_and_names():
    pipeline = make_selection_pipeline()
    assert [name for name, _ in pipeline.steps] == ["zscore", "spearman", "mrmr", "lasso"]
    assert pipeline.named_steps["spearman"].threshold == 0.9
    assert pipeline.named_steps["mrmr"].n_features == 25
    assert pipeline.named_steps["lasso"].cv == 10

    rng = np.random.default_rng(7)
    n, p = 148, 80
    y = (rng.random(n) < 0.36).astype(int)
    X = pd.DataFrame(rng.normal(size=(n, p)) * rng.uniform(1, 100, size=p), columns=[f"r{j}" for j in range(p)])
    X["r0"] = 50 * (rng.normal(size=n) + 1.5 * y)  # strongly informative, on its own scale
    X["r1"] = X["r0"] * 3 + 1  # perfectly redundant with r0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback or convergence warning on this well-posed problem
        pipeline.set_output(transform="pandas").fit(X, y)
    out = pipeline.transform(X)
    assert "r0" in out.columns and "r1" not in out.columns
    assert pipeline.named_steps["lasso"].n_features_in_ == 25
    assert list(out.columns) == list(pipeline.get_feature_names_out())
