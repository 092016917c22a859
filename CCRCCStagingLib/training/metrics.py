"""Discrimination statistics of the paper's Tables 2 and 3: AUC with DeLong CI, threshold metrics, Youden cutoff.

Labels are 0/1 with 1 = high T stage (T3-T4); scores are any values where higher means more likely high
stage (probabilities, decision values or a Radscore).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import norm, rankdata
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_curve,
)

from ..core.errors import CCRCCStagingError


class DeLongTestResult(NamedTuple):
    """Two-sided DeLong test of two correlated AUCs on the same cases."""

    auc_a: float
    auc_b: float
    z: float
    p_value: float


def _labels_and_scores(y_true, *scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels as booleans and scores as a (n_scores, n_cases) float array, after checking them."""
    y = np.asarray(y_true).ravel()
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise CCRCCStagingError(f"Labels must be coded 0/1 (1 = high T stage); got values {values.tolist()}.")
    matrix = np.asarray([np.asarray(score, dtype=np.float64).ravel() for score in scores])
    if matrix.shape[1] != len(y):
        raise CCRCCStagingError(f"There are {len(y)} labels but {matrix.shape[1]} scores.")
    if not np.isfinite(matrix).all():
        raise CCRCCStagingError("Scores contain NaN or infinite values.")
    return y.astype(bool), matrix


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix by the fast midrank algorithm of Sun & Xu (2014).

    ``scores`` has shape (n_scores, n_cases). The structural components V10 (per positive) and V01 (per
    negative) come from midranks within the positives, within the negatives and overall, in O(n log n).
    """
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos < 2 or n_neg < 2:
        raise CCRCCStagingError(
            f"The DeLong AUC variance needs at least 2 cases of each class; got {n_pos} high and {n_neg} low T stage."
        )
    positives, negatives = scores[:, y], scores[:, ~y]
    ranks_pos = rankdata(positives, axis=1)
    ranks_neg = rankdata(negatives, axis=1)
    ranks_all = rankdata(np.hstack([positives, negatives]), axis=1)
    aucs = (ranks_all[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    v10 = (ranks_all[:, :n_pos] - ranks_pos) / n_neg
    v01 = 1.0 - (ranks_all[:, n_pos:] - ranks_neg) / n_pos
    covariance = np.atleast_2d(np.cov(v10)) / n_pos + np.atleast_2d(np.cov(v01)) / n_neg
    return aucs, covariance


def delong_auc_ci(y_true, score, alpha: float = 0.95) -> tuple[float, float, float]:
    """AUC and its DeLong confidence interval ``(auc, lower, upper)``.

    ``alpha`` is the confidence level (0.95 gives a 95 % CI). The interval is the normal (Wald) interval
    ``auc ± z * SE`` on the AUC scale, clipped to [0, 1] as pROC does; with perfect separation the DeLong
    variance is 0 and the interval collapses to the AUC.
    """
    y, scores = _labels_and_scores(y_true, score)
    aucs, covariance = _delong_components(y, scores)
    auc, half_width = float(aucs[0]), float(norm.ppf(0.5 + alpha / 2) * np.sqrt(covariance[0, 0]))
    return auc, max(0.0, auc - half_width), min(1.0, auc + half_width)


def delong_test(y_true, score_a, score_b) -> DeLongTestResult:
    """Compare the AUCs of two scores on the same cases (DeLong et al. 1988), two-sided.

    E.g. "does the radiomics model beat the volume-only model?". If the difference has zero variance (the
    two scores rank the cases identically) the p-value is 1 when the AUCs are equal and 0 otherwise.
    """
    y, scores = _labels_and_scores(y_true, score_a, score_b)
    aucs, covariance = _delong_components(y, scores)
    difference = aucs[0] - aucs[1]
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    if variance <= 0:
        z, p_value = (0.0, 1.0) if difference == 0 else (np.copysign(np.inf, difference), 0.0)
    else:
        z = difference / np.sqrt(variance)
        p_value = 2 * norm.sf(abs(z))
    return DeLongTestResult(float(aucs[0]), float(aucs[1]), float(z), float(p_value))


def classification_metrics(y_true, prob, threshold: float, alpha: float = 0.95) -> dict[str, float | int]:
    """The paper's Table 2/3 columns for one model on one data set.

    A case is predicted high T stage when ``prob >= threshold`` (the same convention as ``roc_curve``, so a
    cutoff from :func:`youden_cutoff` reproduces its ROC point). Precision and F1 are 0 when nothing is
    predicted positive. Keys: n, n_pos, auc, auc_ci_lower, auc_ci_upper, accuracy, precision, recall, f1.
    """
    y, scores = _labels_and_scores(y_true, prob)
    predicted = scores[0] >= threshold
    auc, lower, upper = delong_auc_ci(y, scores[0], alpha=alpha)
    return {
        "n": int(len(y)),
        "n_pos": int(y.sum()),
        "auc": auc,
        "auc_ci_lower": lower,
        "auc_ci_upper": upper,
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "tp": int((predicted & y).sum()),
        "fp": int((predicted & ~y).sum()),
        "tn": int((~predicted & ~y).sum()),
        "fn": int((~predicted & y).sum()),
    }


def youden_cutoff(y_true, score) -> float:
    """The score threshold maximising Youden's J = TPR - FPR on these cases (predict positive if score >= it).

    Candidates are ``roc_curve``'s thresholds (observed score values) except the first, which is ``inf``.
    Ties go to the first candidate, i.e. the highest threshold (fewest cases called high stage). J is
    compared in exact integer arithmetic (TP * n_neg - FP * n_pos) so that ties are real ties.
    """
    y, scores = _labels_and_scores(y_true, score)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise CCRCCStagingError("The Youden cutoff needs cases of both T-stage groups.")
    fpr, tpr, thresholds = roc_curve(y, scores[0], drop_intermediate=False)
    true_pos = np.rint(tpr[1:] * n_pos).astype(np.int64)
    false_pos = np.rint(fpr[1:] * n_neg).astype(np.int64)
    return float(thresholds[1:][np.argmax(true_pos * n_neg - false_pos * n_pos)])
