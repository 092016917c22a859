"""What a features table lacks, region by region: the cases whose region could not be analysed (an empty habitat,
say), whose features training then imputes with the training split's medians. The report lists them, so that an
imputed region is reported as failed rather than passing silently as a measured one."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .cohort import feature_columns


def region_failures(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per region, the cases of ``table`` with that region's features missing (not finite): all of them (``failed``:
    every feature of the region is imputed) or some (``partly_imputed``), and the reasons the extraction wrote into
    the ``warnings`` column (reason → number of cases). Regions missing in no case are left out."""
    notes = table["warnings"].fillna("").astype(str) if "warnings" in table else pd.Series("", index=table.index)
    by_region: dict[str, list[str]] = {}
    for column in feature_columns(table):
        by_region.setdefault(column.split("_", 1)[0], []).append(column)
    found = {}
    for region, columns in by_region.items():
        missing = ~np.isfinite(table[columns].to_numpy(dtype=float))
        failed, partly = missing.all(axis=1), missing.any(axis=1) & ~missing.all(axis=1)
        if failed.any() or partly.any():
            reasons = Counter(reason for note in notes[failed] for reason in _region_reasons(note, region))
            found[region] = {"failed": table.loc[failed, "case_id"].astype(str).tolist(),
                             "partly_imputed": table.loc[partly, "case_id"].astype(str).tolist(),
                             "reasons": dict(reasons.most_common())}
    return found


def _region_reasons(note: str, region: str) -> list[str]:
    """The reasons a case's warnings give for ``region``: the case pipeline writes "No features for region <name>:
    <reason>" (``case.pipeline.extract_region_features``) and the features table joins a case's warnings with " | "."""
    prefix = f"No features for region {region}: "
    return [part.strip()[len(prefix):] for part in note.split(" | ") if part.strip().startswith(prefix)]
