"""The cohort manifest: one CSV row per case (``case_id, image, mask, [label|segment], t_stage, split,
[os_time, os_event], [mask_repeat], [batch]``), with paths relative to the manifest's folder. ``batch`` names the
scanner or centre for ComBat harmonisation (``train --combat``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..case.inputs import cell, read_case_table
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
    table = read_case_table(path, REQUIRED_COLUMNS)
    base = path.parent
    return [_case(row, base, index + 2) for index, row in table.iterrows()]


def _case(row: pd.Series, base: Path, line: int) -> CohortCase:
    def optional(column: str) -> str | None:
        return cell(row, column)

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
