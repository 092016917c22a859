"""Is a predicted probability what it says? Calibration and clinical usefulness of a model on one split.

- Reliability curve: cases grouped by predicted probability (equal-size groups, scikit-learn's
  ``calibration_curve(strategy="quantile")``), observed fraction of T3–T4 per group with a Wilson 95 % interval.
- Brier score (scikit-learn).
- Calibration intercept and slope (Cox 1958; TRIPOD): the logistic recalibration ``logit P(y) = a + b·logit(p)``
  gives the slope ``b`` (1 = ideal; < 1: predictions too extreme); calibration-in-the-large is ``a`` with ``b`` fixed
  at 1 (0 = ideal). Fitted by Newton–Raphson here (no penalty), checked against statsmodels' GLM in the tests.
- Decision curve (Vickers & Elkin 2006): net benefit ``TP/n − FP/n · t/(1 − t)`` at threshold probabilities ``t``
  against treating all and treating none; checked against the dcurves package in the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.metrics import brier_score_loss

#: Probabilities are kept away from 0 and 1 before the logit (a perfectly separated training split gives 0 and 1).
EPSILON = 1e-6
#: Threshold probabilities of the decision curve.
DECISION_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def logistic_fit(y: np.ndarray, x: np.ndarray | None, offset: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Maximum-likelihood coefficients of ``logit P(y) = c0 + c1·x + offset`` (``x=None``: intercept only), by
    Newton–Raphson; ``nan`` where the fit does not exist (one class only, or separation)."""
    design = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    coefficients = np.zeros(design.shape[1])
    for _ in range(iterations):
        eta = design @ coefficients + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        weight = mu * (1 - mu)
        hessian = design.T @ (design * weight[:, None])
        if not np.all(np.isfinite(hessian)) or np.linalg.cond(hessian) > 1e12:
            return np.full(design.shape[1], np.nan)
        step = np.linalg.solve(hessian, design.T @ (y - mu))
        coefficients += step
        if np.max(np.abs(step)) < 1e-10:
            return coefficients
    return np.full(design.shape[1], np.nan)


def calibration_slope_intercept(y_true, probability) -> tuple[float, float]:
    """(calibration slope, calibration-in-the-large): 1 and 0 for a perfectly calibrated model."""
    y = np.asarray(y_true, dtype=float)
    lp = logit(probability)
    _, slope = logistic_fit(y, lp, np.zeros(len(y)))
    (intercept,) = logistic_fit(y, None, lp)
    return float(slope), float(intercept)


def wilson_interval(successes: np.ndarray, totals: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of binomial proportions."""
    z = norm.ppf(0.5 + level / 2)
    totals = np.asarray(totals, dtype=float)
    p = np.asarray(successes, dtype=float) / totals
    centre = (p + z * z / (2 * totals)) / (1 + z * z / totals)
    half = z * np.sqrt(p * (1 - p) / totals + z * z / (4 * totals * totals)) / (1 + z * z / totals)
    return centre - half, centre + half


def reliability_curve(y_true, probability, n_bins: int = 10) -> dict[str, list[float]]:
    """Observed fraction of T3–T4 against mean predicted probability in groups of equal size, with Wilson CIs.

    The groups are scikit-learn's ``calibration_curve(strategy="quantile")`` groups, counted here so that each
    point carries its case count and interval (the tests hold the points to scikit-learn's)."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probability, dtype=float)
    bins = max(1, min(n_bins, len(y) // 5))
    edges = np.percentile(p, np.linspace(0, 1, bins + 1) * 100)
    groups = np.searchsorted(edges[1:-1], p)  # scikit-learn's own assignment
    totals = np.bincount(groups, minlength=bins)
    events = np.bincount(groups, weights=y, minlength=bins)
    sums = np.bincount(groups, weights=p, minlength=bins)
    kept = totals > 0
    lower, upper = wilson_interval(events[kept], totals[kept])
    return {"predicted": (sums[kept] / totals[kept]).tolist(), "observed": (events[kept] / totals[kept]).tolist(),
            "lower": lower.tolist(), "upper": upper.tolist(), "n": totals[kept].astype(int).tolist()}


def net_benefit(y_true, probability, thresholds: np.ndarray = DECISION_THRESHOLDS) -> dict[str, list[float]]:
    """Decision curve: the model's net benefit, treating all, treating none, at each threshold probability."""
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(probability, dtype=float)
    n = len(y)
    odds = thresholds / (1 - thresholds)
    treated = p[None, :] >= thresholds[:, None]
    true_positive = (treated & y[None, :]).sum(axis=1) / n
    false_positive = (treated & ~y[None, :]).sum(axis=1) / n
    prevalence = y.mean()
    return {
        "threshold": thresholds.tolist(),
        "model": (true_positive - false_positive * odds).tolist(),
        "treat_all": (prevalence - (1 - prevalence) * odds).tolist(),
        "treat_none": [0.0] * len(thresholds),
    }


def calibration_summary(y_true, probability) -> dict[str, Any]:
    """Everything above for one model on one split."""
    y = np.asarray(y_true, dtype=int)
    slope, intercept = calibration_slope_intercept(y, probability)
    return {
        "brier": float(brier_score_loss(y, probability)),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "reliability": reliability_curve(y, probability),
        "decision_curve": net_benefit(y, probability),
    }
