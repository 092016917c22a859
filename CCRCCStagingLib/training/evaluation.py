"""``evaluate``: another cohort (an external one, say) scored with a trained model folder, unchanged.

By default only the deployed model is used, read the safe way (JSON + NumPy, every value checked, no code from the
folder): its probability, threshold, Radscore and risk group for every case — the very numbers ``analyze`` gives —
and its metrics per split. The research pipelines of every region × classifier are a pickle, and unpickling runs
code from the file: they are loaded only with ``trust_research_models=True`` (``--trust-research-models``), for a
folder you trained yourself.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ManifestError
from ..core.files import atomic_path, csv_safe_frame, output_folder
from ..core.provenance import software_versions
from ..core.settings import Settings
from ..model import bundle
from ..model.bundle import DeployedModel, load_deployed_model
from . import bundle_writer
from .assessment import VOLUME_BASELINE, Assessment
from .cohort import extraction_digest, features_digest, read_features
from .manifest import SPLITS
from .predictions import PREDICTIONS, predictions_table, write_predictions
from .run_warnings import counted_warnings
from .train import (
    VOLUME_COLUMN,
    cohort_summary,
    evaluation_summary,
    labels,
    research_predictions,
    survival_summary,
    usable_cases,
)

#: ``evaluate``'s summary and report file names in its output folder.
EVALUATION_SUMMARY = "evaluation_summary.json"
EVALUATION_REPORT = "evaluation_report.html"
#: What ``evaluate`` writes (replaced with ``--overwrite``, refused otherwise).
EVALUATION_FILES = (EVALUATION_SUMMARY, EVALUATION_REPORT, bundle.METRICS, bundle.RADSCORES, PREDICTIONS)


def evaluate(
    model_dir: Path, features_csv: Path, out_dir: Path, trust_research_models: bool = False, overwrite: bool = False
) -> dict[str, Any]:
    """Score the cohort of ``features_csv``; write the summary and tables into ``out_dir`` and return the summary (the
    command renders the report)."""
    with output_folder(out_dir, overwrite, EVALUATION_FILES):
        return _evaluate_into(model_dir, features_csv, out_dir, trust_research_models)


def _evaluate_into(model_dir: Path, features_csv: Path, out_dir: Path, trust_research_models: bool) -> dict[str, Any]:
    table = read_features(features_csv)
    model = load_deployed_model(model_dir)
    _require_same_extraction(model, features_csv)
    with counted_warnings() as counts:
        if trust_research_models:
            result = bundle_writer.load_research_models(model_dir, trusted=trust_research_models)
            _require_columns(table, result.columns["mix"], features_csv)
            summary = {**result.summary, **evaluation_summary(result, table)}
            predictions = research_predictions(result, table)
        else:
            _require_columns(table, model.features, features_csv)
            summary = deployed_evaluation_summary(model, table)
            predictions = deployed_predictions(model, table)
    summary.update(_evaluation_identity(model, features_csv), warnings=counts,
                   cohort=cohort_summary(*usable_cases(table)))
    with atomic_path(out_dir / EVALUATION_SUMMARY) as path:
        path.write_text(json.dumps(summary, default=str) + "\n")
    with atomic_path(out_dir / bundle.METRICS) as path:
        csv_safe_frame(pd.DataFrame(summary["metrics"])).to_csv(path, index=False)
    with atomic_path(out_dir / bundle.RADSCORES) as path:
        bundle_writer.write_radscores_csv(summary, path)
    write_predictions(predictions, out_dir / PREDICTIONS)
    return summary


def _evaluation_identity(model: DeployedModel, features_csv: Path) -> dict[str, Any]:
    """What the report's header says: an evaluation (not a training run) of which model, on which table, when, with
    which software (the training run's own date and versions would mislabel it)."""
    model_id = str(model.description["id"])
    return {
        "kind": "evaluation",
        "title": f"CCRCCStaging evaluation of model {model_id} on {features_csv.name}",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "evaluation": {"model_id": model_id, "features": features_csv.name},
        "software": software_versions(),
        "settings": model.extraction_settings,
    }


def _require_same_extraction(model: DeployedModel, features_csv: Path) -> None:
    """Features made with another habitat model or other settings would be scored silently wrong: refused."""
    expected = extraction_digest(Settings.from_dict(model.extraction_settings), model.habitat_model)
    if features_digest(features_csv) != expected:
        raise ManifestError(
            f"{features_csv} was extracted with another habitat model or other settings than the model "
            f"{model.description['id']}; extract the cohort again with 'ccrcc-staging extract MANIFEST --model "
            f"{model.model_dir} --out …'."
        )


def _require_columns(table: pd.DataFrame, columns: list[str], features_csv: Path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ManifestError(f"{features_csv} lacks {len(missing)} feature(s) the model needs, e.g. {missing[:3]}.")


def deployed_predictions(model: DeployedModel, table: pd.DataFrame) -> pd.DataFrame:
    """The deployed model on every usable case: the very numbers ``analyze --model`` gives for that case."""
    table, _ = usable_cases(table)
    batches = [None if pd.isna(b) else str(b) for b in table["batch"]] if "batch" in table else [None] * len(table)
    predictions = [model.predict({name: float(row[name]) for name in model.features}, batch)
                   for (_, row), batch in zip(table.iterrows(), batches)]
    probability = np.array([p.probability_high for p in predictions])
    name = f"mix_{model.description['classifier']}"
    threshold = float(model.description["threshold"])
    scores = np.array([p.radscore for p in predictions])
    return predictions_table(table, {name: (probability, threshold)}, scores, float(model.description["radscore"]["cutoff"]))


def deployed_evaluation_summary(model: DeployedModel, table: pd.DataFrame) -> dict[str, Any]:
    """Metrics, ROC, calibration, Radscore and survival of the deployed model on every split present in ``table``."""
    rows = deployed_predictions(model, table)
    table, _ = usable_cases(table)
    classifier = model.description["classifier"]
    probability = rows[f"mix_{classifier}_probability"].to_numpy()
    scores = rows["radscore"].to_numpy()
    assessment = Assessment()
    for split in [s for s in SPLITS if (table["split"] == s).any()]:
        selector = (table["split"] == split).to_numpy()
        y = labels(table[selector])
        if len(set(y)) == 2:  # AUC needs both groups
            key = ("mix", classifier)
            models = {key: (probability[selector], float(model.description["threshold"]))}
            volume = model.volume_probability(table.loc[selector, VOLUME_COLUMN]) if VOLUME_COLUMN in table else None
            if volume is not None:
                models[("mix", VOLUME_BASELINE)] = (volume, float(model.description["volume_baseline"]["threshold"]))
            assessment.add_split(split, y, models, baseline=volume, deployed=key,
                                 curves=(key, ("mix", VOLUME_BASELINE)))
    cutoff = float(model.description["radscore"]["cutoff"])
    return {
        "deployed": {"region": "mix", "classifier": classifier, "model": model.identity()},
        **assessment.to_dict(),
        "radscore": {
            "region": "mix",
            "intercept": float(model.description["radscore"]["intercept"]),
            "coefficients": dict(zip(model.features, model.arrays["radscore_coef"].tolist())),
            "cutoff": cutoff,
            "scores": [
                {"case_id": str(c), "split": s, "radscore": float(v), "group": g, "risk": "high" if v >= cutoff else "low"}
                for c, s, v, g in zip(table["case_id"], table["split"], scores, table["group"])
            ],
        },
        "survival": survival_summary(table, scores >= cutoff),
    }
