"""The cohort manifest: one CSV row per case (``case_id, image, mask, [label|segment], t_stage, split,
[os_time, os_event], [mask_repeat], [batch]``), with paths relative to the manifest's folder. ``batch`` names the
scanner or centre for ComBat harmonisation (``train --combat``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.errors import ManifestError

SPLITS = ("train", "internal_test", "external")
REQUIRED_COLUMNS = ("case_id", "image", "mask", "t_stage", "split")
#: "T1a", "t3", "1b", "pT2", "T4" …: the number decides the group.
_T_STAGE = re.compile(r"^\s*p?T?([1-4])[a-c]?\s*$", re.IGNORECASE)


def t_stage_group(value: object) -> str:
    """T1–T2 → ``low``, T3–T4 → ``high``; anything else is an error naming the value."""
    match = _T_STAGE.match(str(value))
    if not match:
        raise ManifestError(f"T stage '{value}' is not recognised; use T1–T4 with an optional a/b/c (e.g. 'T1a', '3').")
    return "low" if int(match.group(1)) <= 2 else "high"


@dataclass(frozen=True)
class CohortCase:
    """One row of the manifest, paths resolved."""

    case_id: str
    image: Path
    mask: Path
    label: int | None
    segment: str | None
    t_stage: str
    group: str  # "low" or "high"
    split: str
    os_time: float | None
    os_event: int | None
    mask_repeat: Path | None
    batch: str | None = None


def read_manifest(path: Path) -> list[CohortCase]:
    """Read and check a manifest; every problem is reported with its row."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ManifestError(f"Cannot read the manifest {path}: {error}") from error
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ManifestError(f"The manifest {path} lacks the column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}.")
    table["case_id"] = table["case_id"].str.strip()  # 'case1 ' and 'case1' are one case
    if (table["case_id"] == "").any():
        raise ManifestError(f"The manifest {path} has a row without case_id; give every case an id.")
    duplicated = sorted(set(table["case_id"][table["case_id"].duplicated()]))
    if duplicated:
        raise ManifestError(f"The manifest {path} repeats case_id {duplicated}; each case needs its own id.")
    base = path.parent
    return [_case(row, base, index + 2) for index, row in table.iterrows()]


def _case(row: pd.Series, base: Path, line: int) -> CohortCase:
    def optional(column: str) -> str | None:
        value = str(row.get(column, "")).strip()
        return value or None

    where = f"manifest line {line} (case {row['case_id']})"
    split = row["split"].strip()
    if split not in SPLITS:
        raise ManifestError(f"{where}: split '{split}' is not one of {list(SPLITS)}.")
    try:
        group = t_stage_group(row["t_stage"])
        label = int(optional("label")) if optional("label") else None
        os_time = float(optional("os_time")) if optional("os_time") else None
        os_event = int(float(optional("os_event"))) if optional("os_event") else None
    except ValueError as error:
        raise ManifestError(f"{where}: {error}") from error
    except ManifestError as error:
        raise ManifestError(f"{where}: {error}") from error
    if os_event not in (None, 0, 1):
        raise ManifestError(f"{where}: os_event must be 0 (censored) or 1 (death), got {os_event}.")
    if os_time is not None and not (0 <= os_time < float("inf")):
        raise ManifestError(f"{where}: os_time must be a number of days ≥ 0, got {optional('os_time')}.")
    repeat = optional("mask_repeat")
    return CohortCase(
        case_id=row["case_id"].strip(),
        image=base / row["image"].strip(),
        mask=base / row["mask"].strip(),
        label=label,
        segment=optional("segment"),
        t_stage=row["t_stage"].strip(),
        group=group,
        split=split,
        os_time=os_time,
        os_event=os_event,
        mask_repeat=base / repeat if repeat else None,
        batch=optional("batch"),
    )
