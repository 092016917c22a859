"""Kaplan-Meier curves per risk group and the log-rank test, computed by ``lifelines``, returned as plain data.

The paper relates the Radscore risk groups (Youden cutoff) to overall survival with KM curves and a
log-rank test. All survival mathematics is lifelines'; this module only validates inputs and repackages
the results so that plotting and reporting code needs no lifelines objects.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from ..core.errors import CCRCCStagingError


@dataclass(frozen=True)
class KaplanMeierCurve:
    """The KM estimate of one group: survival (with pointwise CI) at every time in ``timeline``.

    ``timeline`` starts at 0 and holds every distinct observed time of the group; the curve is a step
    function, constant until the next time. The CI is lifelines' exponential Greenwood interval. ``at_risk[i]`` is
    the number of subjects whose time is ≥ ``timeline[i]``: the number at risk at any time t is that of the first
    timeline point ≥ t (no subject's time lies in between), and 0 after the last.
    """

    group: Hashable
    timeline: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    n_subjects: int
    n_events: int
    at_risk: np.ndarray


@dataclass(frozen=True)
class SurvivalComparison:
    """KM curves of every group (in sorted group order) and the log-rank test across them."""

    curves: tuple[KaplanMeierCurve, ...]
    logrank_statistic: float
    logrank_p_value: float
    degrees_of_freedom: int


def _check_inputs(time, event, group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    durations = np.asarray(time, dtype=np.float64).ravel()
    observed = np.asarray(event).ravel()
    groups = np.asarray(group).ravel()
    if not len(durations) == len(observed) == len(groups):
        raise CCRCCStagingError(
            f"Survival times, event flags and groups differ in length: {len(durations)}, {len(observed)}, {len(groups)}."
        )
    if not (np.isfinite(durations).all() and (durations >= 0).all()):
        raise CCRCCStagingError("Survival times must be finite and not negative.")
    if not np.isin(observed, (0, 1)).all():
        raise CCRCCStagingError("Event flags must be 0 (censored) or 1 (death observed).")
    return durations, observed.astype(bool), groups


def _kaplan_meier(durations: np.ndarray, observed: np.ndarray, group: Hashable, alpha: float) -> KaplanMeierCurve:
    # lifelines' alpha is 1 - confidence level.
    fitter = KaplanMeierFitter(alpha=1.0 - alpha).fit(durations, event_observed=observed)
    interval = fitter.confidence_interval_survival_function_.to_numpy()
    return KaplanMeierCurve(
        group=group,
        timeline=fitter.timeline.copy(),
        survival=fitter.survival_function_.iloc[:, 0].to_numpy(),
        ci_lower=interval[:, 0],
        ci_upper=interval[:, 1],
        n_subjects=int(len(durations)),
        n_events=int(observed.sum()),
        at_risk=(durations[None, :] >= fitter.timeline[:, None]).sum(axis=1),
    )


def compare_survival(time, event, group, alpha: float = 0.95) -> SurvivalComparison:
    """KM curve of each group and the log-rank test of equal survival across the groups.

    ``time`` is follow-up (any unit), ``event`` 1 for death and 0 for censored, ``group`` any labels (e.g.
    "high"/"low" risk). ``alpha`` is the confidence level of the KM bands (0.95 = 95 %). Two groups give the
    ordinary two-sample log-rank test (1 degree of freedom); more give the k-sample test.
    """
    durations, observed, groups = _check_inputs(time, event, group)
    labels = np.unique(groups)
    if len(labels) < 2:
        raise CCRCCStagingError(
            f"The log-rank test needs at least two groups; all {len(groups)} subjects are in group {labels.tolist()}."
        )
    # tolist() gives plain Python labels whatever the array's dtype (object arrays come from pandas).
    curves = tuple(
        _kaplan_meier(durations[groups == label], observed[groups == label], label, alpha) for label in labels.tolist()
    )
    result = multivariate_logrank_test(durations, groups, event_observed=observed)
    return SurvivalComparison(
        curves=curves,
        logrank_statistic=float(result.test_statistic),
        logrank_p_value=float(result.p_value),
        degrees_of_freedom=int(result.degrees_of_freedom),
    )
