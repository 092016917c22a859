"""PyRadiomics extraction for one region, all features or only a requested list (targeted extraction).

:func:`extract` follows PyRadiomics' own ``RadiomicsFeatureExtractor.execute`` step by step (load/resample,
check the mask, shape, filtered images, crop, feature classes) with PyRadiomics' own building blocks, so its values
are PyRadiomics' values; given a list of feature names it builds only the filtered images and feature classes those
names need (one LoG sigma, no wavelet at all, …). Tests hold it to ``execute()`` and PyRadiomics' baseline CSVs.

Feature names are PyRadiomics' (``wavelet-LLH_glcm_Idmn``); with a region prefix they read
``peri_wavelet-LLH_glcm_Idmn`` (see :func:`region_feature_name`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import SimpleITK as sitk

from .errors import RegionError, SettingsError

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

        _quiet_pyradiomics()
        try:
            extractor = RadiomicsFeatureExtractor(dict(params))
        except Exception as error:  # PyRadiomics raises plain exceptions for schema errors
            raise SettingsError(f"The PyRadiomics parameters are invalid: {error}") from error
        return cls(dict(extractor.settings), dict(extractor.enabledImagetypes), dict(extractor.enabledFeatures))


def _quiet_pyradiomics() -> None:
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


def extract(
    image: sitk.Image, mask: sitk.Image, spec: ExtractionSpec, request: FeatureRequest | None = None
) -> dict[str, float]:
    """PyRadiomics features of the mask's label in the image: all enabled ones, or only those in ``request``.

    Mirrors ``RadiomicsFeatureExtractor.execute`` (segment-based) so the values are identical."""
    from radiomics import imageoperations
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    _quiet_pyradiomics()
    settings = dict(spec.settings)
    try:
        image, mask = RadiomicsFeatureExtractor.loadImage(image, mask, None, **settings)
        bounding_box, corrected = imageoperations.checkMask(image, mask, **settings)
    except (ValueError, AssertionError) as error:
        raise RegionError(f"PyRadiomics cannot use this region: {error}") from error
    if corrected is not None:
        mask = corrected
    shape_mask = mask
    if settings.get("resegmentRange") is not None:
        resegmented = imageoperations.resegmentMask(image, mask, **settings)
        bounding_box, _ = imageoperations.checkMask(image, resegmented, **settings)
        shape_mask = resegmented if settings.get("resegmentShape", False) else mask
        mask = resegmented

    values: dict[str, float] = {}
    shape_classes = _classes_for("original", spec, request, shape=True)
    if shape_classes:
        cropped_image, cropped_mask = imageoperations.cropToTumorMask(image, shape_mask, bounding_box)
        values.update(_compute_classes(cropped_image, cropped_mask, "original", shape_classes, settings))

    for image_type, custom in spec.image_types.items():
        arguments = {**settings, **custom}
        if request is not None:
            if not _type_requested(image_type, request):
                continue
            if image_type == "LoG":
                arguments["sigma"] = [s for s in custom.get("sigma", []) if _log_name(s) in request]
        generator = getattr(imageoperations, f"get{image_type}Image")
        for derived, name, derived_arguments in generator(image, mask, **arguments):
            classes = _classes_for(name, spec, request, shape=False)
            if not classes:
                continue
            cropped_image, cropped_mask = imageoperations.cropToTumorMask(derived, mask, bounding_box)
            values.update(_compute_classes(cropped_image, cropped_mask, name, classes, derived_arguments))
    return values


def _log_name(sigma: float) -> str:
    """The image type name PyRadiomics gives a LoG image (its own formula)."""
    return "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")


def _type_requested(image_type: str, request: FeatureRequest) -> bool:
    if image_type in _FIXED_IMAGE_NAMES:
        return _FIXED_IMAGE_NAMES[image_type] in request
    prefix = _PREFIX_IMAGE_NAMES.get(image_type)
    return prefix is None or any(name.startswith(prefix) for name in request)


def _classes_for(
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


def _compute_classes(
    image: sitk.Image,
    mask: sitk.Image,
    image_name: str,
    classes: dict[str, list[str] | None],
    arguments: dict[str, Any],
) -> dict[str, float]:
    from radiomics import getFeatureClasses

    values = {}
    for class_name, features in classes.items():
        feature_class = getFeatureClasses()[class_name](image, mask, **arguments)
        for feature in features or []:
            feature_class.enableFeatureByName(feature)
        for feature, value in feature_class.execute().items():
            values[f"{image_name}_{class_name}_{feature}"] = float(value)
    return values
