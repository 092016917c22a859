"""The model folder, written: the deployable model (JSON + NumPy arrays from a fitted pipeline), the research
pipelines, the training tables and the manifest that ``model.bundle`` verifies."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelBundleError
from ..core.files import csv_safe, csv_safe_frame, prepare_output_dir
from ..model.bundle import (
    ARRAYS,
    DEPLOY_FILES,
    DEPLOYABLE,
    FORMAT,
    FORMAT_VERSION,
    HABITATS,
    MANIFEST,
    METRICS,
    MODEL,
    MODEL_CARD,
    RADSCORES,
    REPORT,
    RESEARCH,
    SUMMARY,
    sha256,
    verify,
)
from .predictions import PREDICTIONS, write_predictions

#: Writes a report of the training summary to a path (the command passes the training report's renderer).
ReportWriter = Callable[[dict[str, Any], Path], None]


#: Every file this tool writes into a model folder: what the manifest signs (never a stranger's file left in the
#: folder), and what ``--overwrite`` replaces.
MODEL_FOLDER_FILES = (
    MODEL, ARRAYS, HABITATS, SUMMARY, REPORT, MODEL_CARD, METRICS, RADSCORES, PREDICTIONS, RESEARCH, MANIFEST
)


def write_manifest(model_dir: Path) -> str:
    """Record the SHA-256 of the model files of the folder (:data:`MODEL_FOLDER_FILES`, those present); return the
    manifest's own digest (the model's sha256)."""
    files = [model_dir / name for name in MODEL_FOLDER_FILES if name != MANIFEST and (model_dir / name).is_file()]
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "written_by": f"ccrcc-staging {_package_version()}",
        "files": {p.relative_to(model_dir).as_posix(): sha256(p) for p in files},
    }
    (model_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return sha256(model_dir / MANIFEST)


def _package_version() -> str:
    try:
        return metadata.version("ccrcc-staging")
    except metadata.PackageNotFoundError:
        return "unknown"


def deployed_arrays(pipeline: Any, columns: list[str], features: list[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON description and the arrays of a fitted deploy pipeline (impute → zscore → … → classifier)."""
    index = [columns.index(name) for name in features]
    zscore = pipeline.named_steps["zscore"]
    lasso = pipeline.named_steps["lasso"]
    classifier = pipeline.named_steps["classifier"]
    arrays = {
        "zscore_mean": np.asarray(zscore.mean_)[index],
        "zscore_scale": np.asarray(zscore.scale_)[index],
        "radscore_coef": lasso.coef_[lasso.support_],
    }
    description: dict[str, Any] = {"radscore": {"intercept": float(lasso.intercept_)}}
    if hasattr(classifier, "svc_"):
        svc = classifier.svc_
        arrays["support_vectors"] = np.asarray(svc.support_vectors_)
        arrays["dual_coef"] = np.asarray(svc.dual_coef_)[0]
        description.update(
            classifier="svm", svm_gamma=float(svc._gamma), svm_intercept=float(svc.intercept_[0]),
            platt=[classifier.platt_a_, classifier.platt_b_],
        )
    elif hasattr(classifier, "coef_") and classifier.coef_.ndim == 2:
        arrays["lr_coef"] = np.asarray(classifier.coef_)[0]
        description.update(classifier="lr", lr_intercept=float(classifier.intercept_[0]))
    else:
        raise ModelBundleError(f"Only {list(DEPLOYABLE)} can be deployed as a safe model; choose one with --deploy.")
    return description, arrays


def copy_deployable(model_dir: Path, target: Path) -> str:
    """Copy the files a shipped bundle needs (no research pickle) and write its manifest; return its sha256."""
    verify(model_dir, DEPLOY_FILES)
    prepare_output_dir(target, overwrite=True, marker_files=MODEL_FOLDER_FILES)  # only this tool's files replaced
    for name in (*DEPLOY_FILES, SUMMARY, REPORT, MODEL_CARD, METRICS):
        if (model_dir / name).exists():
            shutil.copy2(model_dir / name, target / name)
    return write_manifest(target)


def write_model_dir(
    model_dir: Path,
    *,
    model_id: str,
    deploy_pipeline: Any,
    columns: list[str],
    features: list[str],
    threshold: float,
    radscore_cutoff: float,
    habitat_model: dict[str, Any],
    extraction_settings: dict[str, Any],
    card: dict[str, Any],
    summary: dict[str, Any],
    research: Any,
    report: ReportWriter | None = None,
    predictions: Any = None,
) -> str:
    """Write a complete model folder and its manifest; return the model's sha256 (the manifest's digest).
    ``report(summary, path)`` writes the training report, before the manifest so that it is listed."""
    import joblib

    model_dir.mkdir(parents=True, exist_ok=True)
    description, arrays = deployed_arrays(deploy_pipeline, columns, features)
    description["radscore"]["cutoff"] = float(radscore_cutoff)
    description.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        id=model_id,
        features=features,
        threshold=float(threshold),
        extraction_settings=extraction_settings,
        card=card,
        training_feature_mean=dict(zip(features, arrays["zscore_mean"].tolist())),
        training_feature_sd=dict(zip(features, arrays["zscore_scale"].tolist())),
        training_radscores=[s["radscore"] for s in summary["radscore"]["scores"] if s["split"] == "train"],
        **_volume_baseline(research),
        **_harmonisation(research, features),
    )
    (model_dir / MODEL).write_text(json.dumps(description, indent=1, default=str) + "\n")
    np.savez(model_dir / ARRAYS, **arrays)
    (model_dir / HABITATS).write_text(json.dumps(habitat_model, indent=1) + "\n")
    (model_dir / SUMMARY).write_text(json.dumps(summary, default=str) + "\n")
    _write_metrics_csv(summary["metrics"], model_dir / METRICS)
    write_radscores_csv(summary, model_dir / RADSCORES)
    (model_dir / RESEARCH).parent.mkdir(exist_ok=True)
    joblib.dump(research, model_dir / RESEARCH)
    if predictions is not None:
        write_predictions(predictions, model_dir / PREDICTIONS)
    if report is not None:
        report(summary, model_dir / REPORT)
    return write_manifest(model_dir)


def _volume_baseline(research: Any) -> dict[str, Any]:
    """The tumour-volume-only baseline (logistic regression on log(1 + volume)) as three numbers, so that even the
    safe deployed model can be compared with it on another cohort."""
    model = getattr(research, "models", {}).get(("all", "volume_only"))
    if model is None:
        return {}
    logistic = model.pipeline.named_steps["classifier"]
    return {"volume_baseline": {"intercept": float(logistic.intercept_[0]), "coefficient": float(logistic.coef_[0][0]),
                                "threshold": float(model.threshold)}}


def _harmonisation(research: Any, features: list[str]) -> dict[str, Any]:
    """The ComBat parameters of the deployed features (a new case is harmonised with them before it is scored)."""
    harmonisation = getattr(research, "harmonisation", None)
    return {} if harmonisation is None else {"harmonisation": harmonisation.for_features(features)}


def load_research_models(model_dir: Path, *, trusted: bool) -> Any:
    """The research pipelines of every region × classifier, for ``evaluate --trust-research-models`` on a folder you
    trained yourself. ``trusted`` must be the user's explicit choice: a model folder is untrusted input."""
    if not trusted:
        raise ModelBundleError(
            f"{model_dir / RESEARCH} is a pickle, which can run code when loaded; it is read only with "
            "--trust-research-models, for a model folder you trained yourself."
        )
    import joblib

    verify(model_dir, (RESEARCH, SUMMARY))
    # Unpickling runs code from the file: reached only through the explicit trust option above, after the manifest's
    # checksums matched; analyze, predict and the Slicer module never call this.
    return joblib.load(model_dir / RESEARCH)


def write_radscores_csv(summary: dict[str, Any], path: Path) -> None:
    """One row per case: case_id, split, radscore, risk (by the training Youden cutoff) and T-stage group."""
    import pandas as pd

    columns = ["case_id", "split", "radscore", "risk", "group"]
    csv_safe_frame(pd.DataFrame(summary["radscore"]["scores"], columns=columns)).to_csv(path, index=False)


def _write_metrics_csv(metrics: list[dict[str, Any]], path: Path) -> None:
    """The paper's Table 2/3 numbers as CSV: one row per region × classifier × split."""
    import csv

    columns = list(dict.fromkeys(key for row in metrics for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: csv_safe(value) for key, value in row.items()} for row in metrics)
