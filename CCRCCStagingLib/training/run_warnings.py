"""Warnings raised while models are trained or evaluated, counted by message for the report: a ConvergenceWarning raised
128 times is one line with its count in the report, not 128 lines on the terminal that nobody reads."""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

#: Longer messages are cut here: a message quoting a whole array would swamp the report.
MAX_MESSAGE_CHARS = 300


#: A number standing alone in a message (not the digit of a name such as "sub1"): 23, 0.08837, 8.297762e-04.
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)(?!\.\d)")


def warning_key(warning: warnings.WarningMessage) -> str:
    """``"<Category>: <first line of the message>"`` with its numbers written "…": the key under which a warning is
    counted. Without the numbers, a LASSO that did not converge is one kind of warning, whatever its duality gap."""
    lines = str(warning.message).strip().splitlines() or [""]
    return f"{warning.category.__name__}: {_NUMBER.sub('…', lines[0])[:MAX_MESSAGE_CHARS]}"


@contextmanager
def counted_warnings() -> Iterator[dict[str, int]]:
    """Record every warning raised inside the block into the yielded dict, filled when the block ends: message key →
    count, the most frequent first. Every occurrence counts ("always"): Python's default filter would show a warning
    once per place in the code, and the count is what tells a reader how often a fit did not converge."""
    counts: dict[str, int] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield counts
        finally:
            counts.update(Counter(warning_key(warning) for warning in caught).most_common())
