"""Calibration and decision curves checked against independent implementations: scikit-learn's
``calibration_curve``, statsmodels' logistic GLM (slope; intercept with the linear predictor as offset), a Wilson
interval by hand, and the dcurves package's net benefit (Vickers' decision-curve analysis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve

from CCRCCStagingLib.training.calibration import (
    DECISION_THRESHOLDS,
    calibration_slope_intercept,
    logit,
    net_benefit,
    reliability_curve,
    wilson_interval,
)


def _cohort(n: int = 400, slope: float = 1.0, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from true risks; predictions = the risks miscalibrated by a known slope and shift."""
    rng = np.random.default_rng(seed)
    true_lp = rng.normal(-0.5, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_lp))).astype(int)
    predicted = 1 / (1 + np.exp(-(true_lp - shift) / slope))
    return y, predicted


@pytest.mark.parametrize(("slope", "shift"), [(1.0, 0.0), (0.5, 0.0), (2.0, 0.7)])
def test_calibration_slope_and_intercept_equal_statsmodels(slope: float, shift: float) -> None:
    import statsmodels.api as sm

    y, p = _cohort(slope=slope, shift=shift)
    lp = logit(p)
    fitted = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    in_the_large = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()

    got_slope, got_intercept = calibration_slope_intercept(y, p)

    assert got_slope == pytest.approx(fitted.params[1], rel=1e-8)
    assert got_intercept == pytest.approx(in_the_large.params[0], rel=1e-8, abs=1e-10)
    assert got_slope == pytest.approx(slope, rel=0.35)  # and the planted miscalibration is recovered


def test_reliability_points_are_scikit_learns_with_wilson_intervals() -> None:
    y, p = _cohort(seed=3)
    curve = reliability_curve(y, p, n_bins=10)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(curve["observed"], observed, rtol=1e-12)
    np.testing.assert_allclose(curve["predicted"], predicted, rtol=1e-12)
    assert sum(curve["n"]) == len(y)
    # Wilson's interval by its textbook formula, for 7 of 20.
    low, high = wilson_interval(np.array([7]), np.array([20]))
    z, phat, n = 1.959963984540054, 0.35, 20
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    assert (low[0], high[0]) == pytest.approx((centre - half, centre + half), rel=1e-12)


def test_net_benefit_equals_dcurves() -> None:
    dcurves = pytest.importorskip("dcurves")
    y, p = _cohort(seed=5)
    frame = pd.DataFrame({"outcome": y, "model": p})
    thresholds = DECISION_THRESHOLDS[:-1]  # dcurves stops before 1
    reference = dcurves.dca(data=frame, outcome="outcome", modelnames=["model"], thresholds=thresholds)

    ours = net_benefit(y, p, thresholds)

    for column, name in (("model", "model"), ("treat_all", "all"), ("treat_none", "none")):
        expected = reference[reference["model"] == name].sort_values("threshold")["net_benefit"].to_numpy()
        np.testing.assert_allclose(ours[column], expected, rtol=1e-9, atol=1e-12, err_msg=column)
