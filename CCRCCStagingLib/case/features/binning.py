"""One discretisation per derived image and region: every texture class (and first order) discretises the same grey
levels in the same mask with the same settings; the first computes it, the others get a copy."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import numpy as np

BINNING: contextvars.ContextVar[BinningMemo | None] = contextvars.ContextVar("ccrcc_binning", default=None)
_SHARED_BINNING_CLASSES: dict[type, type] = {}


class BinningMemo:
    """PyRadiomics' ``_applyBinning`` result for one derived image and region: every texture class (and first order)
    discretises the same gray levels in the same mask with the same settings; the first one computes it, the others
    get a copy (checked: same input values, mask and settings, else it is computed again)."""

    def __init__(self) -> None:
        self._entry: tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray, dict[str, Any]] | None = None

    def apply(self, instance: Any, matrix: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        entry = self._entry
        if (
            entry is not None
            and entry[2] == instance.settings
            and np.array_equal(entry[1], instance.maskArray)
            and np.array_equal(entry[0], matrix)
        ):
            instance.coefficients.update({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entry[4].items()})
            return entry[3].copy()
        before = dict(instance.coefficients)
        binned = compute(matrix)
        added = {k: v for k, v in instance.coefficients.items() if k not in before or before[k] is not v}
        self._entry = (
            matrix.copy(), instance.maskArray.copy(), dict(instance.settings), binned.copy(),
            {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in added.items()},
        )
        return binned


def with_shared_binning(feature_class: type) -> type:
    """The PyRadiomics feature class with its ``_applyBinning`` going through the memo of the current call."""
    if feature_class not in _SHARED_BINNING_CLASSES:

        def _applyBinning(self: Any, matrix: np.ndarray) -> np.ndarray:  # noqa: N802 - PyRadiomics' name
            compute = super(subclass, self)._applyBinning
            memo = BINNING.get()
            return compute(matrix) if memo is None else memo.apply(self, matrix, compute)

        subclass = type(
            feature_class.__name__,
            (feature_class,),
            {"_applyBinning": _applyBinning, "__module__": feature_class.__module__, "__doc__": feature_class.__doc__},
        )
        _SHARED_BINNING_CLASSES[feature_class] = subclass
    return _SHARED_BINNING_CLASSES[feature_class]
