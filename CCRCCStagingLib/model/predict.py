"""A deployed model applied to one case: the settings its features must be extracted with, and its outputs as the
fields of the case result (group, probability, Radscore, the selected features against the training data)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import SettingsError
from ..core.settings import Settings
from .bundle import DeployedModel


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


def prediction_fields(
    model: DeployedModel, features: dict[str, float], warnings: list[str], batch: str | None = None
) -> dict[str, Any]:
    """The model's outputs for ``result.json``; the prediction is withheld (with the reason) when a feature the
    model needs could not be computed for this case. ``batch``: the case's scanner or centre, which a
    ComBat-harmonised model needs (its features are harmonised before they are z-scored)."""
    missing = [name for name in model.features if not np.isfinite(features.get(name, np.nan))]
    if missing:
        # PyRadiomics gives NaN where a feature is undefined (one grey level, a one-voxel region): as missing.
        reason = f"the model needs features this case could not give ({', '.join(missing[:3])}…)"
        warnings.append(f"Prediction withheld: {reason}.")
        return {"model": model.identity(), "prediction_withheld": reason}
    prediction = model.predict(features, batch)
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
            for name, z in zip(model.features, model.z_scores(model.harmonise(features, batch)))
        ],
        "radscore_training": description["training_radscores"],
        "model_card": model.card_text(),
        **({"harmonisation": {"method": "ComBat", "batch": str(batch)}} if model.batches else {}),
    }
