"""Tests of CCRCCStagingLib.training.survival on hand-checkable data and against lifelines' own tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy.stats import chi2

from CCRCCStagingLib.core.errors import CCRCCStagingError
from CCRCCStagingLib.training.survival import compare_survival

# Group "high": deaths at 1, 2, 3, 6; censored at 2 and 5. Group "low": deaths at 4, 7, 8; censored at 2, 4, 9.
TIME = [1, 2, 2, 3, 5, 6, 2, 4, 4, 7, 8, 9]
EVENT = [1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0]
GROUP = ["high"] * 6 + ["low"] * 6


def _hand_logrank(time, event, group, first_group) -> float:
    """(O - E)^2 / V of the first group, summed over distinct death times (hypergeometric variance)."""
    time, event, in_first = np.asarray(time), np.asarray(event), np.asarray(group) == first_group
    observed = expected = variance = 0.0
    for t in sorted(set(time[event == 1].tolist())):
        at_risk = time >= t
        n, n1 = at_risk.sum(), (at_risk & in_first).sum()
        d = ((time == t) & (event == 1)).sum()
        d1 = ((time == t) & (event == 1) & in_first).sum()
        observed += d1
        expected += d * n1 / n
        variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1) if n > 1 else 0.0
    return (observed - expected) ** 2 / variance


def test_kaplan_meier_equals_hand_products():
    result = compare_survival(TIME, EVENT, GROUP)
    high, low = result.curves
    assert (high.group, low.group) == ("high", "low")
    # high: 6 at risk at t=1 (1 death), 5 at t=2 (1 death; the censoring at 2 counts as still at risk),
    # 3 at t=3 (1 death), 1 at t=6 (1 death).
    np.testing.assert_allclose(high.timeline, [0, 1, 2, 3, 5, 6])
    np.testing.assert_allclose(high.survival, [1, 5 / 6, 5 / 6 * 4 / 5, 5 / 6 * 4 / 5 * 2 / 3, 5 / 6 * 4 / 5 * 2 / 3, 0])
    # low: 5 at risk at t=4 (1 death), 3 at t=7, 2 at t=8.
    np.testing.assert_allclose(low.timeline, [0, 2, 4, 7, 8, 9])
    np.testing.assert_allclose(low.survival, [1, 1, 4 / 5, 4 / 5 * 2 / 3, 4 / 5 * 2 / 3 * 1 / 2, 4 / 5 * 2 / 3 * 1 / 2])
    assert (high.n_subjects, high.n_events, low.n_subjects, low.n_events) == (6, 4, 6, 3)
    for curve in result.curves:
        assert np.all(curve.ci_lower <= curve.survival + 1e-12) and np.all(curve.survival <= curve.ci_upper + 1e-12)
        first_death = np.argmax(curve.survival < 1)
        assert curve.ci_lower[first_death] < curve.survival[first_death] < curve.ci_upper[first_death]


def test_number_at_risk_equals_a_hand_count_and_lifelines_event_table():
    """External yardsticks: the hand count of the toy data, and the ``at_risk`` column of lifelines' own event table
    (fitted here on each group independently of the library's call)."""
    result = compare_survival(TIME, EVENT, GROUP)
    high, low = result.curves
    # high: times 1, 2, 2, 3, 5, 6 → still followed at 0, 1, 2, 3, 5, 6: 6, 6, 5, 3, 2, 1.
    np.testing.assert_array_equal(high.at_risk, [6, 6, 5, 3, 2, 1])
    # low: times 2, 4, 4, 7, 8, 9 → at 0, 2, 4, 7, 8, 9: 6, 6, 5, 3, 2, 1.
    np.testing.assert_array_equal(low.at_risk, [6, 6, 5, 3, 2, 1])
    time, event, group = np.asarray(TIME), np.asarray(EVENT), np.asarray(GROUP)
    for curve in result.curves:
        chosen = group == curve.group
        table = KaplanMeierFitter().fit(time[chosen], event[chosen]).event_table
        np.testing.assert_array_equal(curve.at_risk, table["at_risk"].reindex(curve.timeline).to_numpy())


def test_logrank_equals_hand_formula_and_lifelines_two_sample_test():
    result = compare_survival(TIME, EVENT, GROUP)
    statistic = _hand_logrank(TIME, EVENT, GROUP, "high")
    assert result.logrank_statistic == pytest.approx(statistic)
    assert result.logrank_p_value == pytest.approx(chi2.sf(statistic, 1))
    assert result.degrees_of_freedom == 1
    direct = logrank_test(TIME[:6], TIME[6:], EVENT[:6], EVENT[6:])
    assert result.logrank_statistic == pytest.approx(direct.test_statistic)
    assert result.logrank_p_value == pytest.approx(direct.p_value)


def test_three_groups_and_pandas_inputs():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"months": rng.exponential(24, 30).round(1), "dead": rng.integers(0, 2, 30), "risk": ["a", "b", "c"] * 10}
    )
    result = compare_survival(frame["months"], frame["dead"], frame["risk"], alpha=0.9)
    assert [curve.group for curve in result.curves] == ["a", "b", "c"]
    assert result.degrees_of_freedom == 2
    assert sum(curve.n_subjects for curve in result.curves) == 30
    assert 0.0 <= result.logrank_p_value <= 1.0


def test_narrower_band_at_lower_confidence():
    wide = compare_survival(TIME, EVENT, GROUP, alpha=0.95).curves[0]
    narrow = compare_survival(TIME, EVENT, GROUP, alpha=0.80).curves[0]
    assert narrow.ci_lower[1] > wide.ci_lower[1] and narrow.ci_upper[1] < wide.ci_upper[1]


@pytest.mark.parametrize(
    "time, event, group, message",
    [
        ([1, 2, 3], [1, 0, 1], ["a", "a", "a"], "two groups"),
        ([1, -2, 3], [1, 0, 1], ["a", "b", "a"], "negative"),
        ([1, 2, 3], [1, 2, 1], ["a", "b", "a"], "0 \\(censored\\)"),
        ([1, 2], [1, 0, 1], ["a", "b", "a"], "differ in length"),
    ],
)
def test_user_errors(time, event, group, message):
    with pytest.raises(CCRCCStagingError, match=message):
        compare_survival(time, event, group)
