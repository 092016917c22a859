"""One case, from image + mask to regions and features: the paper's "VOI segmentation and feature extraction".

image + mask ──► 1 mm box around the tumour ──► regions (whole, peri, sub1…subK) ──► PyRadiomics features
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from . import features as feature_extraction
from .checks import intensity_warning, small_tumour_warning
from ..core.errors import RegionError
from .habitats import HabitatInput, HabitatModel
from .regions import PERI_LABEL, margin_voxels, peritumoral_shell, shell_missing_fraction
from .resampling import GridBox, RegionInput, RegionSampler
from ..core.settings import Settings

#: ``progress(fraction, message)``: called as the analysis advances (fraction in 0..1).
Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    """Default progress callback: says nothing."""


@dataclass
class ResampledCase:
    """The case on its 1 mm box around the tumour, and how PyRadiomics would load each region."""

    sampler: RegionSampler
    image: sitk.Image  # the CT on the box, in the pixel type of the interpolation setting
    tumour: np.ndarray  # bool, z, y, x: the whole region's voxels

    @property
    def box(self) -> GridBox:
        return self.sampler.box

    def habitat_input(self) -> HabitatInput:
        """What the habitat step clusters: the resampled HU inside the tumour."""
        return HabitatInput(sitk.GetArrayFromImage(self.image).astype(np.float32), self.tumour)


@dataclass
class CaseRegions:
    """The case on its 1 mm box and every region built there."""

    resampled: ResampledCase
    peri: np.ndarray  # bool
    habitats: np.ndarray  # uint8, 0 outside the tumour, k inside for habitat k
    habitat_model: HabitatModel
    peri_missing_fraction: float

    @property
    def box(self) -> GridBox:
        return self.resampled.box

    @property
    def image(self) -> sitk.Image:
        return self.resampled.image

    @property
    def tumour(self) -> np.ndarray:
        return self.resampled.tumour

    @property
    def habitats_k(self) -> int:
        return int(self.habitat_model.k_)

    def masks(self) -> dict[str, np.ndarray]:
        """Every region by name, in the order the paper lists them: whole, sub1…subK, peri."""
        regions = {"whole": self.tumour}
        for k in range(1, self.habitats_k + 1):
            regions[f"sub{k}"] = self.habitats == k
        regions["peri"] = self.peri
        return regions

    def labelmap(self) -> sitk.Image:
        """Habitats (label k) and the shell (label :data:`PERI_LABEL`) in one uint8 image with the box's geometry."""
        labels = self.habitats.copy()
        labels[self.peri] = PERI_LABEL
        return self._on_box(labels)

    def _on_box(self, array: np.ndarray) -> sitk.Image:
        return self.box.put(array)

    def resampling_summary(self) -> dict[str, str | int]:
        """How the CT was resampled, for ``result.json``: the setting, the pixel type of the resampled CT, and how
        many regions were resampled from the whole CT because their grid holds B-spline ties."""
        sampler = self.resampled.sampler
        return {
            "interpolation": sampler.interpolation,
            "pixel_type": sitk.GetPixelIDValueAsString(sampler.pixel_id),
            "whole_ct_resamplings": sampler.tie_fallbacks,
        }

    def region_input(self, name: str) -> RegionInput:
        """A region as PyRadiomics loads it from the CT and that region's mask (``whole``: the mask as given;
        the others: their label in :meth:`labelmap`)."""
        sampler = self.resampled.sampler
        return sampler.whole if name == "whole" else sampler.region(self.masks()[name])

    def region_label(self, name: str) -> int | None:
        """The label a region has in :meth:`labelmap` (``whole`` is the union of the habitats and has none)."""
        if name == "peri":
            return PERI_LABEL
        if name.startswith("sub"):
            return int(name[3:])
        return None


@dataclass
class CaseAnalysis:
    """Everything computed for one case (the model outputs are added by later steps)."""

    regions: CaseRegions
    features: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def region_summary(self) -> dict[str, dict[str, float | int]]:
        """``{region: {"voxels", "volume_ml", ["label"]}}`` for ``result.json``."""
        voxel_ml = float(np.prod(self.regions.box.spacing)) / 1000.0
        summary = {}
        for name, region in self.regions.masks().items():
            voxels = int(region.sum())
            entry: dict[str, float | int] = {"voxels": voxels, "volume_ml": round(voxels * voxel_ml, 6)}
            label = self.regions.region_label(name)
            if label is not None:
                entry["label"] = label
            summary[name] = entry
        return summary


class _Timer:
    """Records how long each step takes."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)


def resample_case(image: sitk.Image, mask: sitk.Image, settings: Settings) -> ResampledCase:
    """The case on a box of PyRadiomics' resampling grid around the tumour (the regions are built there)."""
    spec_settings = feature_extraction.ExtractionSpec.from_params(settings.pyradiomics_params()).settings
    spacing = settings.resampled_spacing
    margin = margin_voxels(settings.margin_mm, spacing, int(spec_settings.get("padDistance", 5)))
    sampler = RegionSampler(image, mask, spec_settings, settings.interpolation, margin)
    tumour = sampler.tumour_on_box()
    if not tumour.any():
        raise RegionError(
            f"The tumour vanishes when resampled to {spacing[0]:g} mm voxels: it is too small to analyse."
        )
    return ResampledCase(sampler, sampler.box_image(), tumour)


def build_regions(
    resampled: ResampledCase, settings: Settings, habitat_model: HabitatModel | None = None
) -> tuple[CaseRegions, list[str]]:
    """The shell and the habitats on the resampled case.

    ``habitat_model``: a fitted population model to apply; without one, habitats are fit on this case alone."""
    box, tumour = resampled.box, resampled.tumour
    peri = peritumoral_shell(tumour, tuple(reversed(box.spacing)), settings.margin_mm)
    warnings = intensity_warning(sitk.GetArrayViewFromImage(resampled.image)) + small_tumour_warning(int(tumour.sum()))
    missing = shell_missing_fraction(tumour, box, settings.margin_mm)
    if missing > 0:
        warnings.append(
            f"The tumour touches the edge of the scan: {missing:.0%} of the {settings.margin_mm:g} mm peritumoral "
            "shell lies outside the image and is missing."
        )
    habitat_input = resampled.habitat_input()
    if habitat_model is None:
        habitat_model = HabitatModel.from_settings(settings.habitats).fit([habitat_input])
    habitats = habitat_model.predict(habitat_input)
    return CaseRegions(resampled, peri, habitats, habitat_model, missing), warnings


def extract_region_features(
    regions: CaseRegions,
    spec: feature_extraction.ExtractionSpec,
    wanted: Iterable[str] | None = None,
    progress: Progress = _no_progress,
    workers: int | None = None,
) -> tuple[dict[str, float], list[str]]:
    """Features of every region (``wanted=None``) or only the named ``<region>_<feature>`` ones.

    All regions go through one :func:`features.extract_regions` call, so regions with the same PyRadiomics crop share
    their filtered images; the values are those of PyRadiomics ``execute()`` on each region alone. ``workers``: worker
    processes for the extraction (``None``: :func:`features.default_workers`, 1 unless ``CCRCC_FEATURE_WORKERS`` says
    otherwise); the values do not depend on it."""
    requests = _requests_by_region(wanted)
    names = [name for name in regions.masks() if requests is None or name in requests]
    inputs, empty = _region_inputs(regions, names)
    region_values, failures = feature_extraction.extract_regions(
        inputs,
        spec,
        None if requests is None else {name: requests[name] for name in names},
        progress,
        feature_extraction.default_workers() if workers is None else workers,
    )
    failures.update(empty)
    values: dict[str, float] = {}
    warnings = []
    for name in names:
        if name in failures:
            warnings.append(f"No features for region {name}: {failures[name]}")
            continue
        values.update({feature_extraction.region_feature_name(name, k): v for k, v in region_values[name].items()})
    return values, warnings


def _region_inputs(regions: CaseRegions, names: list[str]) -> tuple[dict[str, RegionInput], dict[str, RegionError]]:
    """Each region as PyRadiomics loads it, or why it cannot be (an empty habitat)."""
    inputs, failures = {}, {}
    for name in names:
        try:
            inputs[name] = regions.region_input(name)
        except RegionError as error:
            failures[name] = error
    return inputs, failures


def _requests_by_region(wanted: Iterable[str] | None) -> dict[str, feature_extraction.FeatureRequest] | None:
    if wanted is None:
        return None
    by_region: dict[str, list[str]] = {}
    for name in wanted:
        region, feature = feature_extraction.split_region_feature_name(name)
        by_region.setdefault(region, []).append(feature)
    return {region: feature_extraction.build_request(names) for region, names in by_region.items()}


def analyze_case(
    image: sitk.Image,
    mask: sitk.Image,
    settings: Settings,
    habitat_model: HabitatModel | None = None,
    wanted: Iterable[str] | None = None,
    progress: Progress = _no_progress,
    workers: int | None = None,
) -> CaseAnalysis:
    """Regions and features of one case; ``mask`` is a 0/1 image on the image's grid; ``workers`` as in
    :func:`extract_region_features`."""
    timer = _Timer()
    progress(0.0, "resampling and building regions")
    with timer.step("resampling"):
        resampled = resample_case(image, mask, settings)
    with timer.step("regions"):
        regions, warnings = build_regions(resampled, settings, habitat_model)
    spec = feature_extraction.ExtractionSpec.from_params(settings.pyradiomics_params())

    def extraction_progress(fraction: float, message: str) -> None:
        progress(0.2 + 0.8 * fraction, message)

    with timer.step("features"):
        values, feature_warnings = extract_region_features(regions, spec, wanted, extraction_progress, workers)
    progress(1.0, "done")
    return CaseAnalysis(regions, values, warnings + feature_warnings, timer.timings)
