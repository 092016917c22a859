"""A model folder is untrusted input: the strict schema of what it may hold.

Checksums prove only that a folder is what its manifest says, and whoever sends a folder can recompute them. So every
file the deployed model is read from is checked for what it must be — types, shapes, finite values, ranges — before
a number of it is used, and each failure is one sentence naming the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelBundleError, SettingsError
from ..core.settings import HabitatSettings, Settings

#: ``<region>_<image type>_<feature class>_<feature>``, e.g. ``peri_wavelet-LHL_glcm_Idmn``.
FEATURE_NAME = re.compile(r"^(whole|peri|sub[1-9])_[A-Za-z0-9.-]+_[A-Za-z0-9]+_[A-Za-z0-9]+$")
MAX_FEATURES = 1000
MAX_SUPPORT_VECTORS = 100_000
MAX_TRAINING_SCORES = 1_000_000
CLASSIFIERS = ("svm", "lr")


def invalid(path: Path, field: str, requirement: str) -> ModelBundleError:
    """The one-sentence error for a field that is not what it must be."""
    return ModelBundleError(
        f"{path} is not a valid model file: '{field}' must be {requirement}. Copy the model folder again or retrain it."
    )


def _number(value: Any, path: Path, field: str, low: float = -np.inf, high: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or not low <= value <= high:
        bounds = "" if (low, high) == (-np.inf, np.inf) else f" in [{low:g}, {high:g}]"
        raise invalid(path, field, f"a finite number{bounds}")
    return float(value)


def _text(value: Any, path: Path, field: str, longest: int = 10_000) -> str:
    if not isinstance(value, str) or len(value) > longest:
        raise invalid(path, field, f"text of at most {longest} characters")
    return value


def check_description(description: Any, path: Path) -> None:
    """``model.json``: the deployed model's description."""
    if not isinstance(description, Mapping):
        raise invalid(path, "(the file)", "a JSON object")
    _text(description.get("id"), path, "id", 200)
    if description.get("classifier") not in CLASSIFIERS:
        raise invalid(path, "classifier", f"one of {', '.join(CLASSIFIERS)}")
    features = description.get("features")
    if (
        not isinstance(features, list) or not 0 < len(features) <= MAX_FEATURES or len(set(map(str, features))) != len(features)
        or not all(isinstance(name, str) and FEATURE_NAME.match(name) for name in features)
    ):
        raise invalid(path, "features", f"a list of 1–{MAX_FEATURES} distinct names like 'peri_original_glcm_Idmn'")
    _number(description.get("threshold"), path, "threshold", 0.0, 1.0)
    radscore = description.get("radscore")
    if not isinstance(radscore, Mapping):
        raise invalid(path, "radscore", "an object with 'intercept' and 'cutoff'")
    _number(radscore.get("intercept"), path, "radscore.intercept")
    _number(radscore.get("cutoff"), path, "radscore.cutoff")
    _check_classifier_fields(description, path)
    _check_volume_baseline(description.get("volume_baseline"), path)
    _check_harmonisation(description.get("harmonisation"), features, path)
    _check_training_statistics(description, features, path)
    _check_card(description.get("card", {}), path)
    try:
        Settings.from_dict(description.get("extraction_settings"))
    except (SettingsError, KeyError, TypeError, ValueError, AttributeError) as error:
        detail = error if isinstance(error, SettingsError) else "missing or malformed fields"
        raise invalid(path, "extraction_settings", f"the settings of an analysis ({detail})") from None


def _check_classifier_fields(description: Mapping, path: Path) -> None:
    if description["classifier"] == "svm":
        _number(description.get("svm_gamma"), path, "svm_gamma", 1e-300)
        _number(description.get("svm_intercept"), path, "svm_intercept")
        platt = description.get("platt")
        if not isinstance(platt, list) or len(platt) != 2:
            raise invalid(path, "platt", "two numbers (the Platt calibration)")
        for index, value in enumerate(platt):
            _number(value, path, f"platt[{index}]")
    else:
        _number(description.get("lr_intercept"), path, "lr_intercept")


def _check_volume_baseline(baseline: Any, path: Path) -> None:
    """Optional (models from before it was stored have none)."""
    if baseline is None:
        return
    if not isinstance(baseline, Mapping):
        raise invalid(path, "volume_baseline", "an object with intercept, coefficient and threshold")
    _number(baseline.get("intercept"), path, "volume_baseline.intercept")
    _number(baseline.get("coefficient"), path, "volume_baseline.coefficient")
    _number(baseline.get("threshold"), path, "volume_baseline.threshold", 0.0, 1.0)


def _check_harmonisation(harmonisation: Any, features: list[str], path: Path) -> None:
    """Optional: the ComBat parameters of the harmonised features (one location and scale per batch)."""
    if harmonisation is None:
        return
    if not isinstance(harmonisation, Mapping):
        raise invalid(path, "harmonisation", "a ComBat object with 2–1000 distinct batch names")
    batches = harmonisation.get("batches")
    if (
        harmonisation.get("method") != "ComBat" or not isinstance(batches, list) or not 2 <= len(batches) <= 1000
        or not all(isinstance(b, str) and 0 < len(b) <= 200 for b in batches) or len(set(batches)) != len(batches)
    ):
        raise invalid(path, "harmonisation", "a ComBat object with 2–1000 distinct batch names")
    parameters = harmonisation.get("features")
    if not isinstance(parameters, Mapping) or not set(parameters) <= set(features):
        raise invalid(path, "harmonisation.features", "parameters of the model's own features")
    for name, p in parameters.items():
        field = f"harmonisation.features.{name}"
        if not isinstance(p, Mapping):
            raise invalid(path, field, "an object with grand_mean, pooled_sd, gamma and delta")
        _number(p.get("grand_mean"), path, f"{field}.grand_mean")
        _number(p.get("pooled_sd"), path, f"{field}.pooled_sd", 1e-300)
        for key, low in (("gamma", -np.inf), ("delta", 1e-300)):
            values = p.get(key)
            if not isinstance(values, list) or len(values) != len(batches):
                raise invalid(path, f"{field}.{key}", "one number per batch")
            for value in values:
                _number(value, path, f"{field}.{key}", low)


def _check_training_statistics(description: Mapping, features: list[str], path: Path) -> None:
    for field, low in (("training_feature_mean", -np.inf), ("training_feature_sd", 1e-300)):
        values = description.get(field)
        if not isinstance(values, Mapping) or set(values) != set(features):
            raise invalid(path, field, "one number per selected feature")
        for name, value in values.items():
            _number(value, path, f"{field}.{name}", low)
    scores = description.get("training_radscores", [])
    if not isinstance(scores, list) or len(scores) > MAX_TRAINING_SCORES:
        raise invalid(path, "training_radscores", "a list of numbers")
    for value in scores:
        _number(value, path, "training_radscores")


def _check_card(card: Any, path: Path) -> None:
    if not isinstance(card, Mapping):
        raise invalid(path, "card", "an object")
    for field in ("training_data", "intended_use"):
        _text(card.get(field, ""), path, f"card.{field}")
    if not isinstance(card.get("demonstration", False), bool):
        raise invalid(path, "card.demonstration", "true or false")


def check_arrays(arrays: Mapping[str, np.ndarray], description: Mapping, path: Path) -> None:
    """``model_arrays.npz``: every array the classifier needs, of its shape, finite."""
    n = len(description["features"])
    expected: dict[str, tuple[int | None, ...]] = {"zscore_mean": (n,), "zscore_scale": (n,), "radscore_coef": (n,)}
    if description["classifier"] == "svm":
        expected.update(support_vectors=(None, n), dual_coef=(None,))
    else:
        expected["lr_coef"] = (n,)
    for name, shape in expected.items():
        array = arrays.get(name)
        if (
            array is None or array.dtype.kind not in "fiu" or array.ndim != len(shape)
            or any(want is not None and got != want for got, want in zip(array.shape, shape))
            or not np.all(np.isfinite(array))
        ):
            raise invalid(path, name, f"a finite numeric array of shape {shape} ({n} features)".replace("None", "any"))
    if np.any(arrays["zscore_scale"] <= 0):
        raise invalid(path, "zscore_scale", "positive (training SDs)")
    if description["classifier"] == "svm":
        count = arrays["support_vectors"].shape[0]
        if not 0 < count <= MAX_SUPPORT_VECTORS or arrays["dual_coef"].shape[0] != count:
            raise invalid(path, "support_vectors/dual_coef", f"1–{MAX_SUPPORT_VECTORS} support vectors with one coefficient each")


def check_habitat_model(data: Any, path: Path) -> None:
    """``habitats.json``: a fitted population GMM (parameters, scaler, mixture, ordering)."""
    if not isinstance(data, Mapping):
        raise invalid(path, "(the file)", "a JSON object")
    params = data.get("params")
    try:
        settings = HabitatSettings(**{**params, "k_range": tuple(params["k_range"]), "features": tuple(params["features"])})
    except (SettingsError, KeyError, TypeError, ValueError) as error:
        detail = error if isinstance(error, SettingsError) else "missing or malformed fields"
        raise invalid(path, "params", f"habitat settings ({detail})") from None
    k, d = data.get("k"), len(settings.features)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 9:
        raise invalid(path, "k", "a whole number from 1 to 9")
    shapes = {"scaler_mean": (d,), "scaler_scale": (d,), "weights": (k,), "means": (k, d), "covariances": (k, d, d),
              "precisions_cholesky": (k, d, d), "order": (k,)}
    arrays = {}
    for name, shape in shapes.items():
        try:
            arrays[name] = np.asarray(data.get(name), dtype=float)
        except (TypeError, ValueError):
            raise invalid(path, name, f"numbers of shape {shape}") from None
        if arrays[name].shape != shape or not np.all(np.isfinite(arrays[name])):
            raise invalid(path, name, f"finite numbers of shape {shape}")
    _check_mixture(arrays, k, path)


def _check_mixture(arrays: dict[str, np.ndarray], k: int, path: Path) -> None:
    if np.any(arrays["scaler_scale"] <= 0):
        raise invalid(path, "scaler_scale", "positive")
    if np.any(arrays["weights"] < 0) or abs(arrays["weights"].sum() - 1.0) > 1e-6:
        raise invalid(path, "weights", "non-negative numbers that sum to 1")
    if np.any(arrays["order"] % 1) or sorted(arrays["order"].astype(int).tolist()) != list(range(1, k + 1)):
        raise invalid(path, "order", f"the habitat labels 1…{k} in some order")
    for index, covariance in enumerate(arrays["covariances"]):
        if not np.allclose(covariance, covariance.T) or np.any(np.linalg.eigvalsh(covariance) <= 0):
            raise invalid(path, f"covariances[{index}]", "symmetric positive definite")
