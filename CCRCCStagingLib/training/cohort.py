"""``ccrcc-staging extract``: every region of every case of a cohort, in parallel, cached and resumable.

Two passes, so that habitats mean the same in every patient:
1. the training cases give a bounded voxel sample each (equal per case) and one population GMM is fit on them;
2. every case (all splits) is analysed with that frozen model.
Each case's result is cached under a key made of its input files (path, size, modification time), the settings and
the habitat model, so a re-run, or a run resumed after a crash or Ctrl-C, only computes what changed. A case that
fails gets an ``error`` instead of features; the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..case.habitats import HabitatModel
from ..case.loading import load_case
from ..case.pipeline import analyze_case, resample_case
from ..core.errors import CCRCCStagingError, ManifestError, SettingsError
from ..core.files import atomic_path, csv_raw_frame, csv_safe_frame, output_lock
from ..core.processes import Task, run_parallel
from ..core.settings import Settings
from .manifest import CohortCase, read_manifest

#: Columns of a features table that are not features.
META_COLUMNS = (
    "case_id", "t_stage", "group", "split", "batch", "os_time", "os_event", "error", "habitats_k", "tumour_volume_ml",
)
#: ``<region>_<image type>_<class>_<feature>``: how feature columns are recognised.
FEATURE_COLUMN = re.compile(r"^(whole|peri|sub\d+)_[^_]+_[^_]+_[^_]+$")


@dataclass(frozen=True)
class ExtractionSummary:
    features_csv: Path
    habitat_model_json: Path
    n_cases: int
    n_failed: int
    n_from_cache: int


def habitat_model_path(features_csv: Path) -> Path:
    """Where the population habitat model is stored: beside the features table."""
    return features_csv.with_name(features_csv.stem + ".habitats.json")


def settings_path(features_csv: Path) -> Path:
    """Where the extraction settings are stored: beside the features table (a trained model carries them)."""
    return features_csv.with_name(features_csv.stem + ".settings.json")


def extraction_digest(settings: Settings, habitat_model: dict[str, Any]) -> str:
    """One digest of what made a features table: the extraction settings and the habitat model. A model accepts
    only features whose digest is its own (``evaluate``)."""
    text = json.dumps({"settings": settings.digest(), "habitats": habitat_model}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def features_digest(features_csv: Path) -> str:
    """The extraction digest of a features table, from the settings and habitat model written beside it."""
    try:
        settings = Settings.from_dict(json.loads(settings_path(features_csv).read_text()))
        habitat_model = json.loads(habitat_model_path(features_csv).read_text())
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ManifestError(
            f"The settings or habitat model beside {features_csv} cannot be read ({error}); extract the cohort again "
            "with 'ccrcc-staging extract'."
        ) from None
    return extraction_digest(settings, habitat_model)


def repeat_features_path(features_csv: Path) -> Path:
    """Where the features of repeated delineations (``mask_repeat``) go, for the ICC filter."""
    return features_csv.with_name(features_csv.stem + ".repeat.csv")


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a features table, in table order."""
    return [column for column in table.columns if FEATURE_COLUMN.match(column)]


def _file_identity(path: Path) -> list[Any]:
    """What identifies an input for caching: path, size and modification time (of every file of a folder)."""
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in paths if p.exists()]


def _cache_key(case: CohortCase, mask: Path, *parts: str) -> str:
    identity = [_file_identity(case.image), _file_identity(mask), case.label, case.segment, *parts]
    return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:24]


class _Cache:
    """One JSON file per case and key; absent when no cache folder was given."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, case_id: str, key: str) -> Path | None:
        if self.folder is None:
            return None
        safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)
        return self.folder / f"{kind}-{safe_id}-{key}.json"

    @staticmethod
    def load(path: Path | None) -> Any:
        if path is None or not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is recomputed

    @staticmethod
    def store(path: Path | None, value: Any) -> None:
        if path is not None:
            with atomic_path(path) as temporary:
                temporary.write_text(json.dumps(value))


def mask_volume_ml(mask: sitk.Image) -> float:
    """Tumour volume as drawn (voxel count × voxel volume on the CT grid): the volume-only baseline's input."""
    return float(sitk.GetArrayViewFromImage(mask).sum()) * float(np.prod(mask.GetSpacing())) / 1000.0


def _case_seed(seed: int, case_id: str) -> int:
    """A per-case seed that does not depend on the order cases are processed in."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{case_id}".encode()).digest()[:8], "little")


def _voxel_sample_task(
    case: CohortCase, settings: Settings, n: int, cache_path: Path | None
) -> tuple[str, list[list[float]]]:
    cached = _Cache.load(cache_path)
    if cached is not None:
        return case.case_id, cached
    try:
        loaded = load_case(case.image, case.mask, label=case.label, segment=case.segment)
        resampled = resample_case(loaded.image.image, loaded.mask, settings)
    except CCRCCStagingError:
        return case.case_id, None  # not cached: a fixed file is read again next time
    model = HabitatModel.from_settings(settings.habitats)
    rng = np.random.default_rng(_case_seed(settings.habitats.seed, case.case_id))
    sample = model.sample_voxels(resampled.habitat_input(), n, rng).tolist()
    _Cache.store(cache_path, sample)
    return case.case_id, sample


def _features_task(
    case: CohortCase, mask: Path, settings: Settings, habitat_model: dict, cache_path: Path | None
) -> dict[str, Any]:
    """One case's row: meta columns, then features; ``error`` set instead of features when the case fails."""
    meta: dict[str, Any] = {
        "case_id": case.case_id, "t_stage": case.t_stage, "group": case.group, "split": case.split,
        "os_time": case.os_time, "os_event": case.os_event,
        **({"batch": case.batch} if case.batch is not None else {}),
    }
    cached = _Cache.load(cache_path)
    if cached is not None:
        # The cache holds what the images give; what the manifest says now (T stage, split, follow-up) wins.
        cached.pop("batch", None)
        return {**cached, **meta, "from_cache": True}
    row: dict[str, Any] = {**meta, "error": ""}
    try:
        loaded = load_case(case.image, mask, label=case.label, segment=case.segment)
        analysis = analyze_case(loaded.image.image, loaded.mask, settings, HabitatModel.from_dict(habitat_model))
        row.update(habitats_k=analysis.regions.habitats_k, tumour_volume_ml=mask_volume_ml(loaded.mask))
        row.update(analysis.features)
        if analysis.warnings:
            row["warnings"] = analysis.warnings
    except CCRCCStagingError as error:
        row["error"] = str(error)
    except Exception as error:  # noqa: BLE001 - one broken case must not end a cohort run; it is reported
        row["error"] = f"internal error ({type(error).__name__}): {error}"
    _Cache.store(cache_path, row)
    return {**row, "from_cache": False}


def fit_population_habitats(
    cases: list[CohortCase], settings: Settings, cache: _Cache, jobs: int, scheduler: str | None, show_progress: bool
) -> HabitatModel:
    """The population GMM, fit on an equal voxel sample of every training case."""
    training = [case for case in cases if case.split == "train"]
    if not training:
        raise ManifestError("The manifest has no 'train' case: the population habitat model is fit on the training split.")
    model = HabitatModel.from_settings(settings.habitats)
    per_case = model.voxels_per_case(len(training))
    tasks = [
        Task(_voxel_sample_task, case, settings, per_case,
              cache.path("sample", case.case_id, _cache_key(case, case.mask, settings.digest(), str(per_case))))
        for case in training
    ]
    samples = dict(run_parallel(tasks, jobs, scheduler, "habitat sample", show_progress))
    # A training case that cannot be read gives no sample; its own row says why (the features step fails on it).
    usable = [c for c in training if samples.get(c.case_id) is not None]
    if not usable:
        raise ManifestError("No training case could be read: the population habitat model needs at least one.")
    # Completion order varies between runs; the fit must not.
    return model.fit_sample(np.concatenate([np.asarray(samples[c.case_id], dtype=float) for c in usable]))


def extract_cohort(
    manifest: Path,
    out_csv: Path,
    settings: Settings,
    *,
    jobs: int = 1,
    cache_dir: Path | None = None,
    scheduler: str | None = None,
    show_progress: bool = True,
    habitat_model: dict[str, Any] | None = None,
) -> ExtractionSummary:
    """Features of every region of every case; writes the table, the habitat model and repeat features.

    ``habitat_model``: a trained model's population GMM, applied unchanged (an external cohort, any splits); without
    it the GMM is fit on the manifest's training split."""
    if jobs < 1:
        raise SettingsError(f"--jobs must be at least 1, got {jobs}.")
    cases = read_manifest(manifest)
    cache = _Cache(cache_dir)
    if habitat_model is None:
        habitat_model = fit_population_habitats(cases, settings, cache, jobs, scheduler, show_progress).to_dict()
    model_data = habitat_model
    model_digest = hashlib.sha256(json.dumps(model_data, sort_keys=True).encode()).hexdigest()
    with output_lock(out_csv.parent, f".{out_csv.name}.lock"):
        _write_side_files(out_csv, model_data, settings)
        return _extract_rows(cases, out_csv, settings, model_data, model_digest, cache, jobs, scheduler, show_progress)


def _write_side_files(out_csv: Path, model_data: dict[str, Any], settings: Settings) -> None:
    with atomic_path(habitat_model_path(out_csv)) as path:
        path.write_text(json.dumps(model_data, indent=1) + "\n")
    with atomic_path(settings_path(out_csv)) as path:
        path.write_text(json.dumps(settings.to_dict(), indent=1, default=str) + "\n")


def _extract_rows(
    cases: list[CohortCase], out_csv: Path, settings: Settings, model_data: dict[str, Any], model_digest: str,
    cache: _Cache, jobs: int, scheduler: str | None, show_progress: bool,
) -> ExtractionSummary:
    def tasks_for(pairs: list[tuple[CohortCase, Path]]) -> list[Task]:
        return [
            Task(_features_task, case, mask, settings, model_data,
                  cache.path("features", case.case_id, _cache_key(case, mask, settings.digest(), model_digest)))
            for case, mask in pairs
        ]

    rows = list(run_parallel(tasks_for([(c, c.mask) for c in cases]), jobs, scheduler, "extract", show_progress))
    _write_table(rows, [c.case_id for c in cases], out_csv)
    repeats = [(c, c.mask_repeat) for c in cases if c.mask_repeat is not None]
    if repeats:
        repeat_rows = list(run_parallel(tasks_for(repeats), jobs, scheduler, "extract repeats", show_progress))
        _write_table(repeat_rows, [c.case_id for c, _ in repeats], repeat_features_path(out_csv))
    return ExtractionSummary(
        features_csv=out_csv,
        habitat_model_json=habitat_model_path(out_csv),
        n_cases=len(rows),
        n_failed=sum(1 for row in rows if row["error"]),
        n_from_cache=sum(1 for row in rows if row["from_cache"]),
    )


def _write_table(rows: list[dict[str, Any]], order: list[str], out_csv: Path) -> None:
    """Rows in manifest order, meta columns first, warnings joined into one column."""
    by_id = {row["case_id"]: row for row in rows}
    records = []
    for case_id in order:
        row = {k: v for k, v in by_id[case_id].items() if k != "from_cache"}
        row["warnings"] = " | ".join(row.get("warnings", []))
        records.append(row)
    table = pd.DataFrame.from_records(records)
    meta = [c for c in (*META_COLUMNS, "warnings") if c in table.columns]
    table = table[meta + [c for c in table.columns if c not in meta]]
    with atomic_path(out_csv) as path:
        csv_safe_frame(table).to_csv(path, index=False, float_format="%.17g")


def read_features(path: Path) -> pd.DataFrame:
    """A features table as written by :func:`extract_cohort`."""
    try:
        table = pd.read_csv(path, keep_default_na=True, dtype={"case_id": str, "error": str, "warnings": str, "batch": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ManifestError(f"Cannot read the features table {path}: {error}") from error
    missing = [column for column in ("case_id", "group", "split", "error") if column not in table.columns]
    if missing:
        raise ManifestError(f"{path} is not a features table from 'ccrcc-staging extract' (no {missing}).")
    table["error"] = table["error"].fillna("")
    return csv_raw_frame(table)
