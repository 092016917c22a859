"""Overall survival of a synthetic patient: a Weibull event time by stage, administrative censoring."""

from __future__ import annotations

import math

import numpy as np

from .assumptions import GENERATIVE_ASSUMPTIONS, PhantomAssumptions, check_stage


def simulate_survival(
    stage: str, rng: np.random.Generator | int, *, assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS
) -> tuple[int, int]:
    """Overall survival of one synthetic patient: ``(os_time_days, os_event)``.

    Event time T ~ Weibull(shape k, scale λ_stage) with λ set so that the 5-year OS is 0.88 for T1–T2 and 0.55 for
    T3–T4 (:class:`SurvivalModel`); administrative censoring C ~ Uniform(180, 3650) days (staggered accrual up
    to a fixed cut-off). Returns (min(T, C) rounded to whole days ≥ 1, 1 if death observed else 0).
    """
    stage = check_stage(stage)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    model = assumptions.survival
    scale = model.weibull_scale_days(stage)
    event_time = scale * (-math.log(1.0 - rng.random())) ** (1.0 / model.weibull_shape)
    censor_time = model.follow_up_days.draw(rng)
    observed = event_time <= censor_time
    return max(1, int(round(min(event_time, censor_time)))), int(observed)
