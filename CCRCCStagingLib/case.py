"""One case from files to files: what ``ccrcc-staging analyze`` and ``demo`` run, and what the Slicer module runs
in a background process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .bundle import DeployedModel, load_deployed_model
from .errors import SettingsError
from .habitats import HabitatModel
from .files import prepare_output_dir
from .io import load_case
from .pipeline import Progress, analyze_case
from .result import case_result, write_case_outputs
from .settings import RESOURCES_DIR, Settings

#: The model shipped with the project (a demonstration model trained on synthetic phantoms).
BUNDLED_MODEL_DIR = RESOURCES_DIR / "Models" / "ccrcc-demo-synthetic-v1"


def settings_for_model(model: DeployedModel, requested: Settings | None) -> Settings:
    """The model's own extraction settings; refuse requested ones that differ (features would not match)."""
    trained = Settings.from_dict(model.extraction_settings)
    if requested is not None and requested.digest() != trained.digest():
        raise SettingsError(
            f"The model {model.description['id']} was trained with other region or PyRadiomics settings "
            f"(margin {trained.margin_mm:g} mm, habitats K={trained.habitats.k or 'auto'}); drop those options, "
            "or analyse without a model (--no-model)."
        )
    return trained


def analyze(
    image_path: Path,
    mask_path: Path,
    out_dir: Path,
    settings: Settings | None,
    *,
    model_dir: Path | None = None,
    all_features: bool = False,
    label: int | None = None,
    segment: str | None = None,
    overwrite: bool = False,
    progress: Progress,
    workers: int | None = None,
) -> dict[str, Any]:
    """Read a CT and its tumour mask, build the regions, extract the features, predict with the model (if one is
    given), write the outputs; return the result.

    ``settings`` None means the model's settings (or the defaults without a model). Without a model the habitats
    are fit on the case itself and every feature is extracted. ``workers``: processes for the feature extraction
    (``None``: ``$CCRCC_FEATURE_WORKERS`` or 1); the values do not depend on it."""
    model = load_deployed_model(model_dir) if model_dir is not None else None
    if model is not None:
        settings = settings_for_model(model, settings)
    settings = settings or Settings()
    prepare_output_dir(out_dir, overwrite)
    start = time.perf_counter()
    progress(0.0, "reading image and mask")
    case = load_case(image_path, mask_path, label=label, segment=segment)
    read_seconds = time.perf_counter() - start
    habitat_model = HabitatModel.from_dict(model.habitat_model) if model is not None else None
    wanted = model.features if model is not None and not all_features else None
    analysis = analyze_case(
        case.image.image, case.mask, settings, habitat_model, wanted, progress=progress, workers=workers
    )
    analysis.timings_s = {"read": round(read_seconds, 4), **analysis.timings_s}
    result = case_result(case, analysis, settings)
    if model is not None:
        result.update(predict(model, analysis.features, result["warnings"]))
    write_case_outputs(out_dir, result, analysis)
    return result


def predict(model: DeployedModel, features: dict[str, float], warnings: list[str]) -> dict[str, Any]:
    """The model's outputs for ``result.json``; the prediction is withheld (with the reason) when a feature the
    model needs could not be computed for this case."""
    missing = [name for name in model.features if name not in features]
    if missing:
        reason = f"the model needs features this case could not give ({', '.join(missing[:3])}…)"
        warnings.append(f"Prediction withheld: {reason}.")
        return {"model": model.identity(), "prediction_withheld": reason}
    prediction = model.predict(features)
    if prediction.out_of_distribution:
        warnings.append(
            "This case lies outside the model's training data for "
            f"{', '.join(prediction.out_of_distribution)} (more than 4 SD from the training mean): "
            "treat the prediction with extra caution."
        )
    description = model.description
    return {
        "t_stage_group": prediction.t_stage_group,
        "probability_high": round(prediction.probability_high, 6),
        "threshold": round(prediction.threshold, 6),
        "radscore": round(prediction.radscore, 6),
        "radscore_cutoff": round(prediction.radscore_cutoff, 6),
        "risk_group": prediction.risk_group,
        "model": model.identity(),
        "model_features": [
            {
                "name": name,
                "value": features[name],
                "training_mean": description["training_feature_mean"][name],
                "training_sd": description["training_feature_sd"][name],
                "z": round(float(z), 6),
                "out_of_distribution": name in prediction.out_of_distribution,
            }
            for name, z in zip(model.features, model.z_scores(features))
        ],
        "radscore_training": description["training_radscores"],
        "model_card": model.card_text(),
    }
