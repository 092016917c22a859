"""``predictions.csv``: every case's predicted probability, threshold and group for every model, beside its true
group, split, Radscore and risk group — the table a paper's supplement and an external check need."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.files import atomic_path, csv_safe_frame

PREDICTIONS = "predictions.csv"


def predictions_table(
    table: pd.DataFrame,
    probabilities: Mapping[str, tuple[np.ndarray, float]],
    radscores: np.ndarray,
    radscore_cutoff: float,
) -> pd.DataFrame:
    """One row per case: ``case_id, split, group``, then per model ``<model>_probability``, ``<model>_threshold``
    and ``<model>_predicted`` (``high`` when the probability reaches the threshold), then ``radscore, risk``.
    ``probabilities``: model name (``mix_svm``) → (P(T3–T4) per case, its threshold)."""
    rows = pd.DataFrame({
        "case_id": table["case_id"].astype(str).to_numpy(),
        "split": table["split"].to_numpy(),
        "group": table["group"].to_numpy(),
    })
    for name, (probability, threshold) in probabilities.items():
        rows[f"{name}_probability"] = probability
        rows[f"{name}_threshold"] = threshold
        rows[f"{name}_predicted"] = np.where(probability >= threshold, "high", "low")
    rows["radscore"] = radscores
    rows["risk"] = np.where(radscores >= radscore_cutoff, "high", "low")
    return rows


def write_predictions(rows: pd.DataFrame, path: Path) -> None:
    """The table as CSV (cells neutralised, full float precision)."""
    with atomic_path(path) as temporary:
        csv_safe_frame(rows).to_csv(temporary, index=False, float_format="%.17g")
