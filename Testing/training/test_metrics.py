"""Tests of CCRCCStagingLib.training.metrics against brute-force DeLong, scikit-learn and hand-checkable cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from CCRCCStagingLib.core.errors import CCRCCStagingError
from CCRCCStagingLib.training.metrics import classification_metrics, delong_auc_ci, delong_test, youden_cutoff


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _brute_force_components(y, score) -> tuple[float, list[float], list[float]]:
    """DeLong et al. (1988) structural components by O(n_pos * n_neg) loops."""
    positives = [s for s, label in zip(score, y) if label == 1]
    negatives = [s for s, label in zip(score, y) if label == 0]
    v10 = [sum(_psi(x, z) for z in negatives) / len(negatives) for x in positives]
    v01 = [sum(_psi(x, z) for x in positives) / len(positives) for z in negatives]
    return sum(v10) / len(v10), v10, v01


def _brute_force_covariance(y, score_a, score_b) -> float:
    auc_a, v10_a, v01_a = _brute_force_components(y, score_a)
    auc_b, v10_b, v01_b = _brute_force_components(y, score_b)
    m, n = len(v10_a), len(v01_a)
    s10 = sum((a - auc_a) * (b - auc_b) for a, b in zip(v10_a, v10_b)) / (m - 1)
    s01 = sum((a - auc_a) * (b - auc_b) for a, b in zip(v01_a, v01_b)) / (n - 1)
    return s10 / m + s01 / n


def _random_case(seed: int, n: int = 50, tie_levels: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    y[:2], y[2:4] = 1, 0  # both classes present
    score = rng.normal(size=n) + y
    if tie_levels is not None:  # coarse scores exercise the midranks
        score = np.round(score * tie_levels / 4)
    return y, score


@pytest.mark.parametrize("seed, tie_levels", [(0, None), (1, None), (2, 3), (3, 8)])
def test_delong_ci_matches_brute_force_and_sklearn(seed, tie_levels):
    y, score = _random_case(seed, tie_levels=tie_levels)
    auc, lower, upper = delong_auc_ci(y, score)
    reference_auc = _brute_force_components(y, score)[0]
    se = math.sqrt(_brute_force_covariance(y, score, score))
    assert auc == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert auc == pytest.approx(reference_auc, abs=1e-12)
    assert lower == pytest.approx(max(0.0, reference_auc - 1.959963984540054 * se), abs=1e-10)
    assert upper == pytest.approx(min(1.0, reference_auc + 1.959963984540054 * se), abs=1e-10)


def test_delong_ci_level_changes_width():
    y, score = _random_case(4)
    _, lower_95, upper_95 = delong_auc_ci(y, score, alpha=0.95)
    _, lower_80, upper_80 = delong_auc_ci(y, score, alpha=0.80)
    assert (upper_80 - lower_80) / (upper_95 - lower_95) == pytest.approx(norm.ppf(0.9) / norm.ppf(0.975))


def test_delong_ci_sanity_check_from_methods_notes():
    # 12 high / 26 low T stage, AUC 0.86: 95 % CI about (0.72, 0.99). Scores: equal-variance binormal
    # quantiles with a shift chosen to give AUC 268/312 = 0.859; the interval depends on the score
    # distribution, hence the tolerance.
    positives = norm.ppf((np.arange(12) + 0.5) / 12) + 1.49
    negatives = norm.ppf((np.arange(26) + 0.5) / 26)
    y = np.r_[np.ones(12), np.zeros(26)]
    auc, lower, upper = delong_auc_ci(y, np.r_[positives, negatives])
    assert auc == pytest.approx(0.86, abs=0.005)
    assert lower == pytest.approx(0.72, abs=0.02)
    assert upper == pytest.approx(0.99, abs=0.02)


def test_delong_ci_perfect_separation_and_clipping():
    y = np.r_[np.ones(5), np.zeros(5)]
    assert delong_auc_ci(y, np.arange(10)[::-1]) == (1.0, 1.0, 1.0)
    auc, lower, upper = delong_auc_ci(y, np.r_[5, 6, 7, 8, 9, 0, 1, 2, 3, 9.5])
    assert auc == pytest.approx(0.8) and upper == 1.0 and lower < auc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    y, score_a = _random_case(seed, n=60)
    score_b = score_a + rng.normal(scale=1.0, size=60)  # correlated with a, weaker
    result = delong_test(y, score_a, score_b)
    var = (
        _brute_force_covariance(y, score_a, score_a)
        + _brute_force_covariance(y, score_b, score_b)
        - 2 * _brute_force_covariance(y, score_a, score_b)
    )
    auc_a, auc_b = roc_auc_score(y, score_a), roc_auc_score(y, score_b)
    z = (auc_a - auc_b) / math.sqrt(var)
    assert (result.auc_a, result.auc_b) == pytest.approx((auc_a, auc_b))
    assert result.z == pytest.approx(z)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)))


def test_delong_test_identical_rankings_and_strong_difference():
    y, score = _random_case(5, n=80)
    assert delong_test(y, score, np.exp(score)).p_value == 1.0  # same ranking, same AUC
    noise = np.random.default_rng(5).normal(size=80)
    assert delong_test(y, 5 * y + noise, noise).p_value < 1e-4


def test_user_errors():
    with pytest.raises(CCRCCStagingError, match="at least 2"):
        delong_auc_ci([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3])
    with pytest.raises(CCRCCStagingError, match="0/1"):
        delong_auc_ci([1, 2, 2, 1], [0.9, 0.1, 0.2, 0.3])
    with pytest.raises(CCRCCStagingError, match="NaN"):
        delong_auc_ci([1, 1, 0, 0], [0.9, np.nan, 0.2, 0.3])
    with pytest.raises(CCRCCStagingError, match="labels"):
        youden_cutoff([1, 1, 0], [0.9, 0.1, 0.2, 0.3])
    with pytest.raises(CCRCCStagingError, match="both"):
        youden_cutoff([1, 1, 1], [0.9, 0.1, 0.2])


def test_classification_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    prob = np.array([0.9, 0.6, 0.4, 0.7, 0.5, 0.3, 0.2, 0.1])
    metrics = classification_metrics(y, prob, threshold=0.5)
    # Predicted positive (prob >= 0.5): 0.9, 0.6 (TP), 0.7, 0.5 (FP); 0.4 is a FN. TP=2 FP=2 FN=1 TN=3.
    assert metrics["n"] == 8 and metrics["n_pos"] == 3
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["precision"] == pytest.approx(2 / 4)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert metrics["auc"] == pytest.approx(12 / 15)  # 12 of 15 positive-negative pairs ordered correctly
    assert (metrics["auc_ci_lower"], metrics["auc_ci_upper"]) == pytest.approx(delong_auc_ci(y, prob)[1:])
    assert classification_metrics(y, prob, threshold=0.95)["precision"] == 0.0  # nothing predicted positive


def _brute_force_youden(y, score) -> float:
    """Try every observed score as threshold (descending); keep the first with the largest TPR - FPR."""
    n_pos, n_neg = sum(y), len(y) - sum(y)
    best, best_j = None, -math.inf
    for t in sorted(set(score), reverse=True):
        tp = sum(1 for s, label in zip(score, y) if s >= t and label == 1)
        fp = sum(1 for s, label in zip(score, y) if s >= t and label == 0)
        j = tp * n_neg - fp * n_pos
        if j > best_j:
            best, best_j = t, j
    return best


@pytest.mark.parametrize("seed, tie_levels", [(0, None), (1, None), (2, 3), (3, 6)])
def test_youden_cutoff_matches_brute_force(seed, tie_levels):
    y, score = _random_case(seed, n=40, tie_levels=tie_levels)
    cutoff = youden_cutoff(y, score)
    assert np.isfinite(cutoff)
    assert cutoff == _brute_force_youden(y.tolist(), score.tolist())


def test_youden_cutoff_ties_go_to_highest_threshold():
    # Thresholds 0.8 (TPR 1/2, FPR 0) and 0.4 (TPR 1, FPR 1/2) both give J = 1/2; the first (0.8) wins.
    y = np.array([1, 0, 1, 0])
    score = np.array([0.8, 0.6, 0.4, 0.2])
    assert youden_cutoff(y, score) == 0.8
    assert youden_cutoff(y[::-1], score[::-1]) == 0.8  # not an artefact of row order
