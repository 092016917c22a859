"""write_cohort: a synthetic cohort on disk (compressed NRRD + ``manifest.csv``), stage stratified over the paper's
splits, with each case's survival and every drawn parameter.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ...core.errors import OutputError, SettingsError
from .assumptions import GENERATIVE_ASSUMPTIONS, PhantomAssumptions
from .generator import make_phantom
from .result import Phantom
from .survival import simulate_survival

SPLIT_NAMES = ("train", "internal_test", "external")
#: The paper's split sizes 148 / 38 / 137 of 323 patients, as fractions.
PAPER_SPLITS = (148 / 323, 38 / 323, 137 / 323)


def write_cohort(
    n: int,
    out_dir: Path | str,
    *,
    seed: int = 0,
    fraction_high: float = 0.33,
    splits: tuple[float, float, float] = PAPER_SPLITS,
    spacing: tuple[float, float, float] = (0.78, 0.78, 1.25),
    overwrite: bool = False,
    assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS,
) -> Path:
    """Write a synthetic cohort and return the path of its ``manifest.csv``.

    Layout: ``images/<case_id>.nrrd`` (int16 HU), ``masks/<case_id>.nrrd`` (uint8 0/1), both compressed NRRD;
    ``manifest.csv`` with ``case_id,image,mask,t_stage,split,os_time,os_event`` (paths relative to the manifest's
    folder); ``phantom_parameters.csv`` with every drawn parameter per case (for the model card). Stage is
    stratified across splits (default fractions = the paper's 148 / 38 / 137). Deterministic for ``seed``.
    """
    split_fractions = _check_cohort_arguments(n, fraction_high, splits)
    out_dir = Path(out_dir)
    manifest = _prepare_folder(out_dir, overwrite)

    seed_seq = np.random.SeedSequence(int(seed))
    design = _cohort_design(int(n), float(fraction_high), split_fractions, np.random.default_rng(seed_seq.spawn(1)[0]))
    case_seeds = [int(s.generate_state(1, dtype=np.uint64)[0]) for s in seed_seq.spawn(len(design) + 1)[1:]]
    width = max(4, len(str(n)))
    rows, params = [], []
    for index, ((stage, split), case_seed) in enumerate(zip(design, case_seeds), start=1):
        case_id = f"syn{index:0{width}d}"
        phantom = make_phantom(stage, case_seed, spacing=spacing, assumptions=assumptions)
        os_time, os_event = simulate_survival(stage, np.random.default_rng([case_seed, 1]), assumptions=assumptions)
        image_rel, mask_rel = _write_case(out_dir, case_id, phantom)
        rows.append({"case_id": case_id, "image": image_rel, "mask": mask_rel, "t_stage": phantom.t_stage,
                     "split": split, "os_time": os_time, "os_event": os_event})
        params.append({"case_id": case_id, "split": split, **phantom.meta})
    _write_csv(manifest, rows)
    _write_csv(out_dir / "phantom_parameters.csv", params)
    return manifest


def _check_cohort_arguments(n: int, fraction_high: float, splits: tuple[float, float, float]) -> np.ndarray:
    """The split fractions (normalised), after checking that ``n`` and ``fraction_high`` make sense."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SettingsError(f"The number of cases must be a positive integer, not {n!r}.")
    try:
        fraction_ok = 0.0 <= float(fraction_high) <= 1.0
    except (TypeError, ValueError):
        fraction_ok = False
    if not fraction_ok:
        raise SettingsError(f"fraction_high must be a number between 0 and 1, not {fraction_high!r}.")
    return _check_splits(splits)


def _check_splits(splits: tuple[float, float, float]) -> np.ndarray:
    """Three non-negative fractions summing to 1 (±0.01), normalised to sum exactly to 1."""
    try:
        values = np.array([float(s) for s in splits], dtype=float)
    except (TypeError, ValueError):
        raise SettingsError(
            f"splits must be three fractions (train, internal_test, external), not {splits!r}."
        ) from None
    if values.shape != (3,) or np.any(values < 0) or not np.all(np.isfinite(values)) or abs(values.sum() - 1) > 0.01:
        raise SettingsError(
            f"splits must be three non-negative fractions (train, internal_test, external) summing to 1, "
            f"not {tuple(splits)!r}."
        )
    return values / values.sum()


def _prepare_folder(out_dir: Path, overwrite: bool) -> Path:
    """Create ``images/`` and ``masks/`` in ``out_dir`` and return the manifest's path; an existing manifest is kept
    unless ``overwrite``."""
    manifest = out_dir / "manifest.csv"
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"The output folder {out_dir} is a file; choose a folder.")
    if manifest.exists() and not overwrite:
        raise OutputError(f"{manifest} already exists; choose another folder or pass overwrite=True.")
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the cohort folders in {out_dir}: {error.strerror or error}.") from None
    return manifest


def _cohort_design(n: int, fraction_high: float, splits: np.ndarray, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(stage, split) per case: the stage mix is the same in every split (stratified), case order shuffled."""
    n_high = int(round(n * fraction_high))
    design = []
    for stage, count in (("high", n_high), ("low", n - n_high)):
        for split, k in zip(SPLIT_NAMES, _largest_remainder(count, splits)):
            design += [(stage, split)] * k
    order = rng.permutation(len(design))
    return [design[i] for i in order]


def _largest_remainder(total: int, fractions: np.ndarray) -> list[int]:
    """Integer counts summing to ``total`` that are closest to ``total × fractions``."""
    raw = total * fractions
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _write_case(out_dir: Path, case_id: str, phantom: Phantom) -> tuple[str, str]:
    """Write the case's CT and mask (compressed NRRD); their paths relative to ``out_dir``."""
    image_rel, mask_rel = f"images/{case_id}.nrrd", f"masks/{case_id}.nrrd"
    try:
        sitk.WriteImage(phantom.image, str(out_dir / image_rel), useCompression=True)
        sitk.WriteImage(phantom.mask, str(out_dir / mask_rel), useCompression=True)
    except RuntimeError as error:
        # SimpleITK's message ends with the reason after a C++ trace; only that last line helps the user.
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
        raise OutputError(f"Cannot write case {case_id} into {out_dir}: {reason}") from None
    return image_rel, mask_rel


def _write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as CSV; the columns are every key in order of first appearance."""
    fields = list(dict.fromkeys(k for row in rows for k in row))
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise OutputError(f"Cannot write {path}: {error.strerror or error}.") from None
