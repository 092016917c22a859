"""What to extract: PyRadiomics' parameters parsed once, feature names and requests, and which feature classes a
derived image needs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...core.errors import SettingsError

#: {image type name (``original``, ``log-sigma-1-0-mm-3D``, ``wavelet-LLH``) → {feature class → feature names}}.
FeatureRequest = dict[str, dict[str, set[str]]]

#: PyRadiomics image types whose derived image names are fixed words.
_FIXED_IMAGE_NAMES = {
    "Original": "original",
    "Square": "square",
    "SquareRoot": "squareroot",
    "Logarithm": "logarithm",
    "Exponential": "exponential",
    "Gradient": "gradient",
}
#: PyRadiomics image types whose derived images share a name prefix.
_PREFIX_IMAGE_NAMES = {"LoG": "log-sigma-", "Wavelet": "wavelet", "LBP2D": "lbp-2D", "LBP3D": "lbp-3D"}
#: Image types whose PyRadiomics filter reads only the image, never the mask: regions with the same crop share them.
MASK_FREE_IMAGE_TYPES = {"Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient"}


@dataclass(frozen=True)
class ExtractionSpec:
    """What PyRadiomics computes, as parsed from a parameter file: settings, image types, feature classes."""

    settings: dict[str, Any]
    image_types: dict[str, dict[str, Any]]
    feature_classes: dict[str, list[str] | None]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExtractionSpec:
        """Parse (and validate, through PyRadiomics' own schema) a parameter-file dictionary."""
        from radiomics.featureextractor import RadiomicsFeatureExtractor

        quiet_pyradiomics()
        try:
            extractor = RadiomicsFeatureExtractor(dict(params))
        except Exception as error:  # PyRadiomics raises plain exceptions for schema errors
            raise SettingsError(f"The PyRadiomics parameters are invalid: {error}") from error
        return cls(dict(extractor.settings), dict(extractor.enabledImagetypes), dict(extractor.enabledFeatures))


#: Environment variable: worker processes for one case's extraction when the caller does not say (default 1).
WORKERS_ENV = "CCRCC_FEATURE_WORKERS"


def default_workers() -> int:
    """Worker processes for one case's extraction: ``$CCRCC_FEATURE_WORKERS`` or 1.

    One process is the right default inside a cohort run (its cases already use every core) and inside Slicer; a
    single case run from the command line on an idle machine can use 2."""
    try:
        return max(int(os.environ.get(WORKERS_ENV, "1")), 1)
    except ValueError:
        raise SettingsError(f"{WORKERS_ENV} must be a whole number of worker processes.") from None


def quiet_pyradiomics() -> None:
    """PyRadiomics logs every step at INFO and some expected situations as warnings; we report our own."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def region_feature_name(region: str, name: str) -> str:
    """``peri`` + ``wavelet-LLH_glcm_Idmn`` → ``peri_wavelet-LLH_glcm_Idmn``."""
    return f"{region}_{name}"


def split_region_feature_name(name: str) -> tuple[str, str]:
    """``peri_wavelet-LLH_glcm_Idmn`` → (``peri``, ``wavelet-LLH_glcm_Idmn``)."""
    region, _, feature = name.partition("_")
    if not feature:
        raise SettingsError(f"'{name}' is not a region feature name like 'peri_original_firstorder_Mean'.")
    return region, feature


def build_request(names: Iterable[str]) -> FeatureRequest:
    """Group PyRadiomics feature names (``<image type>_<class>_<feature>``) by image type and class."""
    request: FeatureRequest = {}
    for name in names:
        parts = name.split("_")
        if len(parts) != 3:
            raise SettingsError(f"'{name}' is not a PyRadiomics feature name like 'wavelet-LLH_glcm_Idmn'.")
        image_type, feature_class, feature = parts
        request.setdefault(image_type, {}).setdefault(feature_class, set()).add(feature)
    return request


def log_name(sigma: float) -> str:
    """The image type name PyRadiomics gives a LoG image (its own formula)."""
    return "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")


def type_requested(image_type: str, request: FeatureRequest) -> bool:
    if image_type in _FIXED_IMAGE_NAMES:
        return _FIXED_IMAGE_NAMES[image_type] in request
    prefix = _PREFIX_IMAGE_NAMES.get(image_type)
    return prefix is None or any(name.startswith(prefix) for name in request)


def classes_for(
    image_name: str, spec: ExtractionSpec, request: FeatureRequest | None, shape: bool
) -> dict[str, list[str] | None]:
    """Feature classes (with feature lists, ``None`` = the class's defaults) to compute on one derived image."""
    enabled = {
        name: features
        for name, features in spec.feature_classes.items()
        if name.startswith("shape") == shape and name != "shape2D"
    }
    if request is None:
        return enabled
    wanted = request.get(image_name, {})
    return {name: sorted(wanted[name]) for name in enabled if name in wanted}
