"""Warnings of a training or evaluation run, counted by message (every occurrence, not Python's once per place)."""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning

from CCRCCStagingLib.training.run_warnings import MAX_MESSAGE_CHARS, counted_warnings


def test_every_occurrence_is_counted_most_frequent_first() -> None:
    with counted_warnings() as counts:
        for _ in range(128):
            warnings.warn("lbfgs failed to converge", ConvergenceWarning)  # the same line: shown once by default
        warnings.warn("overflow encountered in exp", RuntimeWarning)
        warnings.warn("overflow encountered in exp", RuntimeWarning)
    assert counts == {"ConvergenceWarning: lbfgs failed to converge": 128, "RuntimeWarning: overflow encountered in exp": 2}
    assert list(counts) == ["ConvergenceWarning: lbfgs failed to converge", "RuntimeWarning: overflow encountered in exp"]


def test_the_first_line_of_a_long_message_is_kept_and_filters_are_restored() -> None:
    before = list(warnings.filters)
    with counted_warnings() as counts:
        warnings.warn("x" * 1000 + "\nsecond line", UserWarning)
    assert counts == {f"UserWarning: {'x' * MAX_MESSAGE_CHARS}": 1}
    assert warnings.filters == before


def test_messages_differing_only_in_their_numbers_are_one_kind() -> None:
    with counted_warnings() as counts:
        for gap in (8.297762e-04, 1.799575e-03):
            warnings.warn(f"Objective did not converge. Duality gap: {gap:e}, tolerance: 7.059e-04", ConvergenceWarning)
        warnings.warn("penalty 0.08837 kept no feature in sub1 (column 23, penalty -0.5). Kept 2.", UserWarning)
    assert counts == {"ConvergenceWarning: Objective did not converge. Duality gap: …, tolerance: …": 2,
                      "UserWarning: penalty … kept no feature in sub1 (column …, penalty …). Kept ….": 1}
