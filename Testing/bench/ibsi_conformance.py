"""IBSI 1 conformance table for the project's PyRadiomics-equivalent feature extractor.

    .venv/bin/python Testing/bench/ibsi_conformance.py                          # the project's extractor (default)
    .venv/bin/python Testing/bench/ibsi_conformance.py --extractor pyradiomics  # PyRadiomics' own execute()
    .venv/bin/python Testing/bench/ibsi_conformance.py --out DIR --data ../shared/data/ibsi

It runs the extractor on the IBSI 1 digital phantom and on the IBSI 1 CT phantom in every image-processing
configuration PyRadiomics can express, maps PyRadiomics feature names to IBSI features (family, aggregation, tag), and
writes ``ibsi_conformance.csv`` and ``ibsi_conformance.md`` (default ``Testing/ibsi``): one row per (data set or
configuration, IBSI feature) with the IBSI reference value ± tolerance, the PyRadiomics feature, the extractor's value
and a status:

- ``pass``: within the IBSI tolerance. IBSI rounded every contributed value to 3 significant digits before building
  the consensus (https://ibsi.readthedocs.io/en/latest/ chapter "Benchmarks"), so a value passes when either it or its
  3-significant-digit rounding lies within reference ± tolerance (the digital phantom's tolerances are 0).
- ``known PyRadiomics deviation``: outside the tolerance for a documented reason (column ``reason``, link in
  ``source``), and the value checked again with the deviation undone (``checked_value``, ``check``): kurtosis − 3, the
  PCA axis lengths × √(N/(N−1)), IBSI-style resampling (the same extractor re-run on an image and mask resampled the
  IBSI way, see below), the fixed-bin-width offset by arithmetic where that is exact (joint average, sum average,
  autocorrelation) and otherwise by PyRadiomics itself with IBSI's bin edges (its ``getBinEdges`` replaced, as its FAQ
  suggests; that one check does not use the extractor under test). The undo steps are tried fewest first, preferring
  agreement without the 3-digit rounding, and a row names only the deviations its agreeing check needed. "value agrees
  after …" means the undone value is within the IBSI tolerance; a documented deviation that cannot be undone would read
  "not checkable" (none does in the committed table).
- ``not computed``: PyRadiomics has no such feature, aggregation or processing step (reason and link given).
- ``FAIL``: none of the above. The committed table has none; ``Testing/case/test_ibsi_conformance.py`` keeps it so.

Data and references (``../shared/data/ibsi``, see its README): IBSI 1 reference values
(``reference/ibsi_1_reference_values_*.csv``); configurations in the IBSI reference manual chapter 5,
https://arxiv.org/abs/1612.07003 and https://ibsi.readthedocs.io/en/latest/05_Reference_data_sets.html.

Configurations (PyRadiomics parameter dictionaries: :func:`run_params`, printed in the .md):

- digital phantom: no processing; ``binWidth`` 1 (IBSI: FBS 1 leaves the phantom's grey levels 1…6 as they are).
- A (2D, no interpolation, resegmentation [−500, 400] HU, FBS 25 HU): ``force2D`` (slice dimension 0), absolute
  ``resegmentRange`` [−500, 400], ``binWidth`` 25. Exact: −500 is a multiple of 25 and the ROI holds −500 HU, so
  PyRadiomics' bin edges equal IBSI's.
- B (2D, bilinear to 2 × 2 mm in-plane, rounding, bilinear mask ≥ 0.5, [−500, 400], FBN 32):
  ``resampledPixelSpacing`` [2, 2, 0], ``interpolator`` sitkLinear, ``force2D``, ``resegmentRange`` [−500, 400],
  ``binCount`` 32. Approximated: PyRadiomics' resampling (below).
- C (3D, trilinear to 2 mm, rounding, trilinear mask ≥ 0.5, [−1000, 400], FBS 25): ``resampledPixelSpacing``
  [2, 2, 2], sitkLinear, ``resegmentRange`` [−1000, 400], ``binWidth`` 25. Approximated: resampling, and the bins
  start at the multiple of 25 below the ROI minimum instead of at −1000.
- D (3D, trilinear to 2 mm, 3σ outlier filtering, FBN 32): as C with ``resegmentMode`` sigma, ``resegmentRange``
  [−3, 3], ``binCount`` 32. Approximated: resampling.
- E (3D, tricubic spline to 2 mm, [−1000, 400] then 3σ, FBN 32): sitkBSpline (cubic B-spline), ``binCount`` 32 and
  one absolute ``resegmentRange``: PyRadiomics applies one resegmentation mode at a time, so — as PyRadiomics' FAQ
  does for E — the range [−1000, 400] followed by 3σ is computed from the data (mean ± 3 SD of the resampled ROI
  voxels within [−1000, 400], clipped to [−1000, 400]) and passed as an absolute range. Approximated: resampling.

Aggregations: PyRadiomics computes GLCM and GLRLM features per direction and averages them (IBSI "3D, averaged";
with ``force2D`` the in-plane matrices of all slices are pooled per direction: IBSI "2.5D, direction-merged");
``weightingNorm: no_weighting`` sums the directional matrices first (IBSI "3D, merged" / "2.5D, merged"), which is a
second run. GLSZM, NGTDM and GLDM are one matrix (IBSI 3D, or 2.5D with ``force2D``). PyRadiomics has no slice-by-slice
features, so IBSI's 2D aggregations are not computed. Everything else is the PyRadiomics default: ``distances`` [1]
(Chebyshev distance 1), symmetrical GLCM, ``gldm_a`` 0 (NGLDM coarseness α = 0), ``voxelArrayShift`` 0 (IBSI's energy),
``resegmentShape`` False (shape on IBSI's morphological mask, the other classes on the resegmented intensity mask),
``padDistance`` 5 (only the crop margin; it changes no value of the Original image), image type Original only.

Deviation classes (each row's ``reason`` and ``source`` say which applies):

- kurtosis: PyRadiomics' Kurtosis is not IBSI's excess kurtosis (+3).
  https://pyradiomics.readthedocs.io/en/latest/features.html#radiomics.firstorder.RadiomicsFirstOrder.getKurtosisFeatureValue
  and https://pyradiomics.readthedocs.io/en/latest/faq.html#does-pyradiomics-adhere-to-ibsi-definitions-of-features
- resampling: PyRadiomics aligns the resampling grid to the corner of the origin voxel (IBSI centres it), does not
  round interpolated intensities, and resamples the mask by nearest neighbour (IBSI: (tri)linear with a 0.5
  partial-volume threshold). Same FAQ entry and
  https://pyradiomics.readthedocs.io/en/latest/customization.html#radiomics-settings-label
- fixed bin width: PyRadiomics' bins start at a multiple of the bin width (the ROI minimum always falls in bin 1);
  IBSI's start at the resegmentation minimum. Same FAQ entry and
  https://pyradiomics.readthedocs.io/en/latest/radiomics.html#radiomics.imageoperations.getBinEdges
- combined resegmentation (configuration E): one resegmentation mode at a time (same FAQ entry).
- PCA axes: PyRadiomics' Major/Minor/LeastAxisLength use the covariance of the voxel centres with 1/N
  (``radiomics/shape.py``: coordinates divided by sqrt(Np)); the IBSI reference values were made with the sample
  covariance 1/(N−1), which only shows on the 74-voxel digital phantom. Not in PyRadiomics' list of IBSI
  differences; found by this table. https://github.com/AIM-Harvard/pyradiomics/blob/master/radiomics/shape.py and
  https://ibsi.readthedocs.io/en/latest/03_Image_features.html#major-axis-length

IBSI-style resampling, used only to check the resampling deviation: a grid of ceil(n·s/s') voxels centred on the
original grid, the image interpolated (linear, or cubic B-spline for E) with nearest-boundary extrapolation and rounded
to the nearest integer, the mask interpolated linearly as a float and thresholded at 0.5; the extractor then runs on
that image and mask with the same configuration minus ``resampledPixelSpacing``. The .md compares this emulation's
diagnostics (grid size, ROI voxel counts, ROI intensities) with IBSI's diagnostic reference values.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import sys
import time
from collections import Counter
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "ibsi"
DEFAULT_OUT = REPO_ROOT / "Testing" / "ibsi"
CSV_NAME = "ibsi_conformance.csv"
MD_NAME = "ibsi_conformance.md"

#: ``extract(image, mask, params, label) -> {PyRadiomics feature name: value}`` (no diagnostics).
Extractor = Callable[..., dict[str, float]]

PASS = "pass"
DEVIATION = "known PyRadiomics deviation"
NOT_COMPUTED = "not computed"
FAIL = "FAIL"
STATUSES = (PASS, DEVIATION, NOT_COMPUTED, FAIL)

COLUMNS = (
    "dataset", "family", "feature", "tag", "consensus", "reference", "tolerance", "pyradiomics_feature",
    "pyradiomics_run", "value", "status", "checked_value", "check", "reason", "note", "source",
)

# --- Sources ----------------------------------------------------------------------------------------------------------

IBSI_MANUAL = "https://arxiv.org/abs/1612.07003"
IBSI_CONFIGS = "https://ibsi.readthedocs.io/en/latest/05_Reference_data_sets.html"
IBSI_PCA = "https://ibsi.readthedocs.io/en/latest/03_Image_features.html#major-axis-length"
PYRAD_FAQ = (
    "https://pyradiomics.readthedocs.io/en/latest/faq.html#does-pyradiomics-adhere-to-ibsi-definitions-of-features"
)
PYRAD_FEATURES = "https://pyradiomics.readthedocs.io/en/latest/features.html"
PYRAD_KURTOSIS = PYRAD_FEATURES + "#radiomics.firstorder.RadiomicsFirstOrder.getKurtosisFeatureValue"
PYRAD_FIRSTORDER = PYRAD_FEATURES + "#radiomics-firstorder-label"
PYRAD_SHAPE = PYRAD_FEATURES + "#radiomics-shape-label"
PYRAD_BIN_EDGES = "https://pyradiomics.readthedocs.io/en/latest/radiomics.html#radiomics.imageoperations.getBinEdges"
PYRAD_SETTINGS = "https://pyradiomics.readthedocs.io/en/latest/customization.html#radiomics-settings-label"
PYRAD_REMOVED = "https://pyradiomics.readthedocs.io/en/latest/removedfeatures.html"
PYRAD_SHAPE_SOURCE = "https://github.com/AIM-Harvard/pyradiomics/blob/master/radiomics/shape.py"

# --- IBSI feature → PyRadiomics feature ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """The PyRadiomics feature that computes an IBSI feature; ``note`` when it is not the same-named one."""

    feature_class: str
    name: str
    note: str = ""
    source: str = ""


_SUM_VARIANCE = "PyRadiomics removed Sum variance as identical to Cluster tendency (symmetrical GLCM)"
_DISSIMILARITY = "PyRadiomics removed Dissimilarity as identical to Difference average"
_NGLDM_GLNN = "PyRadiomics removed GLDM GrayLevelNonUniformityNormalized as identical to first-order Uniformity"

#: IBSI tag without its aggregation suffix → PyRadiomics feature.
MAPPING: dict[str, Mapping] = {
    # Morphology (IBSI: always 3D, on the morphological mask = PyRadiomics' shape mask, resegmentShape False)
    "morph_volume": Mapping("shape", "MeshVolume"),
    "morph_vol_approx": Mapping("shape", "VoxelVolume"),
    "morph_area_mesh": Mapping("shape", "SurfaceArea"),
    "morph_av": Mapping("shape", "SurfaceVolumeRatio"),
    "morph_comp_1": Mapping("shape", "Compactness1"),
    "morph_comp_2": Mapping("shape", "Compactness2"),
    "morph_sph_dispr": Mapping("shape", "SphericalDisproportion"),
    "morph_sphericity": Mapping("shape", "Sphericity"),
    "morph_diam": Mapping("shape", "Maximum3DDiameter"),
    "morph_pca_maj_axis": Mapping("shape", "MajorAxisLength"),
    "morph_pca_min_axis": Mapping("shape", "MinorAxisLength"),
    "morph_pca_least_axis": Mapping("shape", "LeastAxisLength"),
    "morph_pca_elongation": Mapping("shape", "Elongation"),
    "morph_pca_flatness": Mapping("shape", "Flatness"),
    # Intensity-based statistics (original intensities in the intensity mask)
    "stat_mean": Mapping("firstorder", "Mean"),
    "stat_var": Mapping("firstorder", "Variance"),
    "stat_skew": Mapping("firstorder", "Skewness"),
    "stat_kurt": Mapping("firstorder", "Kurtosis"),
    "stat_median": Mapping("firstorder", "Median"),
    "stat_min": Mapping("firstorder", "Minimum"),
    "stat_p10": Mapping("firstorder", "10Percentile"),
    "stat_p90": Mapping("firstorder", "90Percentile"),
    "stat_max": Mapping("firstorder", "Maximum"),
    "stat_iqr": Mapping("firstorder", "InterquartileRange"),
    "stat_range": Mapping("firstorder", "Range"),
    "stat_mad": Mapping("firstorder", "MeanAbsoluteDeviation"),
    "stat_rmad": Mapping("firstorder", "RobustMeanAbsoluteDeviation"),
    "stat_energy": Mapping("firstorder", "Energy"),
    "stat_rms": Mapping("firstorder", "RootMeanSquared"),
    # Intensity histogram: PyRadiomics' only first-order features on the discretised intensities
    "ih_entropy": Mapping("firstorder", "Entropy"),
    "ih_uniformity": Mapping("firstorder", "Uniformity"),
    # Grey level co-occurrence matrix
    "cm_joint_max": Mapping("glcm", "MaximumProbability"),
    "cm_joint_avg": Mapping("glcm", "JointAverage"),
    "cm_joint_var": Mapping("glcm", "SumSquares"),
    "cm_joint_entr": Mapping("glcm", "JointEntropy"),
    "cm_diff_avg": Mapping("glcm", "DifferenceAverage"),
    "cm_diff_var": Mapping("glcm", "DifferenceVariance"),
    "cm_diff_entr": Mapping("glcm", "DifferenceEntropy"),
    "cm_sum_avg": Mapping("glcm", "SumAverage"),
    "cm_sum_var": Mapping("glcm", "ClusterTendency", _SUM_VARIANCE,
                          PYRAD_REMOVED + "#radiomics-excluded-sumvariance-label"),
    "cm_sum_entr": Mapping("glcm", "SumEntropy"),
    "cm_energy": Mapping("glcm", "JointEnergy"),
    "cm_contrast": Mapping("glcm", "Contrast"),
    "cm_dissimilarity": Mapping("glcm", "DifferenceAverage", _DISSIMILARITY,
                                PYRAD_REMOVED + "#radiomics-excluded-dissimilarity-label"),
    "cm_inv_diff": Mapping("glcm", "Id"),
    "cm_inv_diff_norm": Mapping("glcm", "Idn"),
    "cm_inv_diff_mom": Mapping("glcm", "Idm"),
    "cm_inv_diff_mom_norm": Mapping("glcm", "Idmn"),
    "cm_inv_var": Mapping("glcm", "InverseVariance"),
    "cm_corr": Mapping("glcm", "Correlation"),
    "cm_auto_corr": Mapping("glcm", "Autocorrelation"),
    "cm_clust_tend": Mapping("glcm", "ClusterTendency"),
    "cm_clust_shade": Mapping("glcm", "ClusterShade"),
    "cm_clust_prom": Mapping("glcm", "ClusterProminence"),
    "cm_info_corr1": Mapping("glcm", "Imc1"),
    "cm_info_corr2": Mapping("glcm", "Imc2"),
    # Grey level run length matrix
    "rlm_sre": Mapping("glrlm", "ShortRunEmphasis"),
    "rlm_lre": Mapping("glrlm", "LongRunEmphasis"),
    "rlm_lgre": Mapping("glrlm", "LowGrayLevelRunEmphasis"),
    "rlm_hgre": Mapping("glrlm", "HighGrayLevelRunEmphasis"),
    "rlm_srlge": Mapping("glrlm", "ShortRunLowGrayLevelEmphasis"),
    "rlm_srhge": Mapping("glrlm", "ShortRunHighGrayLevelEmphasis"),
    "rlm_lrlge": Mapping("glrlm", "LongRunLowGrayLevelEmphasis"),
    "rlm_lrhge": Mapping("glrlm", "LongRunHighGrayLevelEmphasis"),
    "rlm_glnu": Mapping("glrlm", "GrayLevelNonUniformity"),
    "rlm_glnu_norm": Mapping("glrlm", "GrayLevelNonUniformityNormalized"),
    "rlm_rlnu": Mapping("glrlm", "RunLengthNonUniformity"),
    "rlm_rlnu_norm": Mapping("glrlm", "RunLengthNonUniformityNormalized"),
    "rlm_r_perc": Mapping("glrlm", "RunPercentage"),
    "rlm_gl_var": Mapping("glrlm", "GrayLevelVariance"),
    "rlm_rl_var": Mapping("glrlm", "RunVariance"),
    "rlm_rl_entr": Mapping("glrlm", "RunEntropy"),
    # Grey level size zone matrix
    "szm_sze": Mapping("glszm", "SmallAreaEmphasis"),
    "szm_lze": Mapping("glszm", "LargeAreaEmphasis"),
    "szm_lgze": Mapping("glszm", "LowGrayLevelZoneEmphasis"),
    "szm_hgze": Mapping("glszm", "HighGrayLevelZoneEmphasis"),
    "szm_szlge": Mapping("glszm", "SmallAreaLowGrayLevelEmphasis"),
    "szm_szhge": Mapping("glszm", "SmallAreaHighGrayLevelEmphasis"),
    "szm_lzlge": Mapping("glszm", "LargeAreaLowGrayLevelEmphasis"),
    "szm_lzhge": Mapping("glszm", "LargeAreaHighGrayLevelEmphasis"),
    "szm_glnu": Mapping("glszm", "GrayLevelNonUniformity"),
    "szm_glnu_norm": Mapping("glszm", "GrayLevelNonUniformityNormalized"),
    "szm_zsnu": Mapping("glszm", "SizeZoneNonUniformity"),
    "szm_zsnu_norm": Mapping("glszm", "SizeZoneNonUniformityNormalized"),
    "szm_z_perc": Mapping("glszm", "ZonePercentage"),
    "szm_gl_var": Mapping("glszm", "GrayLevelVariance"),
    "szm_zs_var": Mapping("glszm", "ZoneVariance"),
    "szm_zs_entr": Mapping("glszm", "ZoneEntropy"),
    # Neighbourhood grey tone difference matrix
    "ngt_coarseness": Mapping("ngtdm", "Coarseness"),
    "ngt_contrast": Mapping("ngtdm", "Contrast"),
    "ngt_busyness": Mapping("ngtdm", "Busyness"),
    "ngt_complexity": Mapping("ngtdm", "Complexity"),
    "ngt_strength": Mapping("ngtdm", "Strength"),
    # Neighbouring grey level dependence matrix = PyRadiomics GLDM (distance 1, alpha 0)
    "ngl_lde": Mapping("gldm", "SmallDependenceEmphasis"),
    "ngl_hde": Mapping("gldm", "LargeDependenceEmphasis"),
    "ngl_lgce": Mapping("gldm", "LowGrayLevelEmphasis"),
    "ngl_hgce": Mapping("gldm", "HighGrayLevelEmphasis"),
    "ngl_ldlge": Mapping("gldm", "SmallDependenceLowGrayLevelEmphasis"),
    "ngl_ldhge": Mapping("gldm", "SmallDependenceHighGrayLevelEmphasis"),
    "ngl_hdlge": Mapping("gldm", "LargeDependenceLowGrayLevelEmphasis"),
    "ngl_hdhge": Mapping("gldm", "LargeDependenceHighGrayLevelEmphasis"),
    "ngl_glnu": Mapping("gldm", "GrayLevelNonUniformity"),
    "ngl_glnu_norm": Mapping("firstorder", "Uniformity", _NGLDM_GLNN,
                             PYRAD_REMOVED + "#radiomics-excluded-gldm-glnn-label"),
    "ngl_dcnu": Mapping("gldm", "DependenceNonUniformity"),
    "ngl_dcnu_norm": Mapping("gldm", "DependenceNonUniformityNormalized"),
    "ngl_gl_var": Mapping("gldm", "GrayLevelVariance"),
    "ngl_dc_var": Mapping("gldm", "DependenceVariance"),
    "ngl_dc_entr": Mapping("gldm", "DependenceEntropy"),
}

#: Why an IBSI feature has no PyRadiomics counterpart: (tag prefix, reason, source); the first match wins.
NOT_COMPUTED_REASONS: tuple[tuple[str, str, str], ...] = (
    ("dzm_", "PyRadiomics has no grey level distance zone matrix (GLDZM)", PYRAD_FEATURES),
    ("ivh_", "PyRadiomics has no intensity-volume histogram features", PYRAD_FEATURES),
    ("loc_", "PyRadiomics has no local intensity (peak) features", PYRAD_FEATURES),
    ("ih_", "PyRadiomics' first-order features use the original intensities; of IBSI's intensity-histogram family "
            "(discretised intensities) it has only Entropy and Uniformity", PYRAD_FIRSTORDER),
    ("stat_", "PyRadiomics has no such first-order feature", PYRAD_FIRSTORDER),
    ("morph_", "PyRadiomics' shape class has no such feature", PYRAD_SHAPE),
    ("ngl_dc_perc", "PyRadiomics removed Dependence percentage: with its GLDM definition it is always 1",
     PYRAD_REMOVED + "#radiomics-excluded-gldm-dependence-percentage-label"),
    ("ngl_", "PyRadiomics' GLDM has no such feature", PYRAD_FEATURES + "#radiomics-gldm-label"),
)
SLICE_WISE_REASON = "no slice-by-slice (2D) features: PyRadiomics' force2D pools all slices' matrices (IBSI 2.5D)"
DIAGNOSTIC_REASON = "processing diagnostic, not a feature (the extractor returns feature values only)"

#: IBSI tag suffix (aggregation) → extraction run; None: PyRadiomics has no such aggregation.
AGGREGATIONS: dict[str, str | None] = {
    "_3D_avg": "3D", "_3D_comb": "3D merged", "_3D": "3D",
    "_2_5D_avg": "2.5D", "_2_5D_comb": "2.5D merged", "_2_5D": "2.5D",
    "_2D_avg": None, "_2D_comb": None, "_2D": None,
}
RUN_LABELS = {
    "3D": "3D averaged",
    "3D merged": "3D merged (weightingNorm no_weighting)",
    "2.5D": "2.5D (force2D)",
    "2.5D merged": "2.5D merged (force2D, weightingNorm no_weighting)",
}
#: The classes with directional matrices: the only ones the merged runs need.
MERGEABLE_CLASSES = ("glcm", "glrlm")

#: Texture features that depend on the absolute discretised grey level i (not only on differences i − j): a shift of
#: every bin index by k (PyRadiomics' fixed-bin-width start) changes them. Others (contrast, entropies, variances,
#: cluster features, correlation, ...) are invariant under the shift.
GREY_LEVEL_DEPENDENT = {
    "cm_joint_avg", "cm_sum_avg", "cm_auto_corr", "cm_inv_diff_norm", "cm_inv_diff_mom_norm",
    "rlm_lgre", "rlm_hgre", "rlm_srlge", "rlm_srhge", "rlm_lrlge", "rlm_lrhge",
    "szm_lgze", "szm_hgze", "szm_szlge", "szm_szhge", "szm_lzlge", "szm_lzhge",
    "ngl_lgce", "ngl_hgce", "ngl_ldlge", "ngl_ldhge", "ngl_hdlge", "ngl_hdhge",
    "ngt_busyness",
}
#: PCA axis lengths: 4·sqrt(eigenvalue of the voxel-centre covariance).
PCA_AXES = {"morph_pca_maj_axis", "morph_pca_min_axis", "morph_pca_least_axis"}


def split_tag(tag: str) -> tuple[str, str]:
    """``cm_joint_max_3D_avg`` → (``cm_joint_max``, ``_3D_avg``); tags without an aggregation get ``""``."""
    for suffix in sorted(AGGREGATIONS, key=len, reverse=True):
        if tag.endswith(suffix):
            return tag[: -len(suffix)], suffix
    return tag, ""


# --- Reference values -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """One row of an IBSI 1 reference table."""

    dataset: str
    family: str
    feature: str
    consensus: str
    value: float | None
    tolerance: float | None
    tag: str


REFERENCE_FILES = (
    "ibsi_1_reference_values_digital_phantom.csv",
    "ibsi_1_reference_values_config_A.csv",
    "ibsi_1_reference_values_config_B.csv",
    "ibsi_1_reference_values_config_C.csv",
    "ibsi_1_reference_values_config_D.csv",
    "ibsi_1_reference_values_config_E.csv",
)


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


def read_references(reference_dir: Path) -> list[Reference]:
    """All reference rows, in the files' order (the files start with a UTF-8 byte order mark)."""
    rows = []
    for name in REFERENCE_FILES:
        with (reference_dir / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append(Reference(row["dataset"], row["family"], row["feature"], row["consensus"],
                                      _optional_float(row["reference value"]), _optional_float(row["tolerance"]),
                                      row["tag"]))
    return rows


# --- Configurations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resampling:
    """IBSI interpolation of a configuration: spacing (0 = keep) and the image interpolator."""

    spacing: tuple[float, float, float]
    interpolator: str  # SimpleITK interpolator name, used by PyRadiomics and by the IBSI-style emulation


@dataclass(frozen=True)
class Configuration:
    """One IBSI data set / configuration and how PyRadiomics expresses it."""

    dataset: str  # the reference tables' ``dataset`` value
    phantom: str  # "digital" or "ct"
    dimensions: tuple[str, ...]  # "3D" and/or "2.5D"; the first also gives morphology and statistics
    settings: dict[str, Any]  # PyRadiomics settings other than resampling, force2D, weightingNorm
    ibsi: str  # IBSI's settings, for the .md
    approximation: str  # how PyRadiomics differs from IBSI's processing, for the .md
    resampling: Resampling | None = None
    fbs_minimum: float | None = None  # IBSI's first fixed-bin-width edge (the resegmentation minimum)
    combined_range: tuple[float, float, float] | None = None  # (low, high, sigmas): range, then outlier filtering


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration(
        "digital phantom", "digital", ("3D", "2.5D"), {"binWidth": 1},
        "no interpolation, no resegmentation, no discretisation (FBS 1 equivalent); GLCM/NGTDM/NGLDM distance 1, "
        "NGLDM α 0",
        "exact: binWidth 1 keeps grey levels 1…6",
    ),
    Configuration(
        "configuration A", "ct", ("2.5D",),
        {"resegmentRange": [-500, 400], "resegmentMode": "absolute", "binWidth": 25},
        "2D, no interpolation, resegmentation [−500, 400] HU, FBS 25 HU",
        "exact: −500 is a multiple of 25 and the ROI holds −500 HU, so PyRadiomics' bin edges equal IBSI's; IBSI's "
        "2D (per-slice) aggregations are not computed",
        fbs_minimum=-500,
    ),
    Configuration(
        "configuration B", "ct", ("2.5D",),
        {"resegmentRange": [-500, 400], "resegmentMode": "absolute", "binCount": 32},
        "2D, bilinear interpolation to 2 × 2 mm in-plane, intensities rounded, bilinear mask ≥ 0.5, resegmentation "
        "[−500, 400] HU, FBN 32",
        "approximated: PyRadiomics' resampling (corner-aligned grid, no rounding, nearest-neighbour mask)",
        resampling=Resampling((2.0, 2.0, 0.0), "sitkLinear"),
    ),
    Configuration(
        "configuration C", "ct", ("3D",),
        {"resegmentRange": [-1000, 400], "resegmentMode": "absolute", "binWidth": 25},
        "3D, trilinear interpolation to 2 mm, intensities rounded, trilinear mask ≥ 0.5, resegmentation "
        "[−1000, 400] HU, FBS 25 HU (IVH: FBS 2.5 HU)",
        "approximated: PyRadiomics' resampling, and fixed-bin-width bins start at the multiple of 25 HU below the ROI "
        "minimum instead of at −1000 HU",
        resampling=Resampling((2.0, 2.0, 2.0), "sitkLinear"), fbs_minimum=-1000,
    ),
    Configuration(
        "configuration D", "ct", ("3D",),
        {"resegmentRange": [-3, 3], "resegmentMode": "sigma", "binCount": 32},
        "3D, trilinear interpolation to 2 mm, intensities rounded, trilinear mask ≥ 0.5, outlier filtering 3σ, FBN 32",
        "approximated: PyRadiomics' resampling",
        resampling=Resampling((2.0, 2.0, 2.0), "sitkLinear"),
    ),
    Configuration(
        "configuration E", "ct", ("3D",),
        {"resegmentMode": "absolute", "binCount": 32},
        "3D, tricubic spline interpolation to 2 mm, intensities rounded, trilinear mask ≥ 0.5, resegmentation "
        "[−1000, 400] HU then outlier filtering 3σ, FBN 32 (IVH: 1000 bins)",
        "approximated: PyRadiomics' resampling (cubic B-spline for the tricubic spline), and range + 3σ "
        "resegmentation as one absolute range computed from the resampled data",
        resampling=Resampling((2.0, 2.0, 2.0), "sitkBSpline"), combined_range=(-1000.0, 400.0, 3.0),
    ),
)


# --- Extractors -------------------------------------------------------------------------------------------------------


def pyradiomics_extractor(
    image: sitk.Image, mask: sitk.Image, params: dict[str, Any], label: int = 1
) -> dict[str, float]:
    """PyRadiomics' own ``RadiomicsFeatureExtractor(params).execute``, feature values only."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    # PyRadiomics warns about every deprecated feature we enable on purpose and about fixed bin counts.
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    result = RadiomicsFeatureExtractor(params).execute(image, mask, label=label)
    return {name: float(value) for name, value in result.items() if not name.startswith("diagnostics_")}


def project_extractor() -> Extractor | None:
    """``CCRCCStagingLib.case.features.extract_as_pyradiomics``, or None while it does not exist (imported lazily: it is
    being written)."""
    try:
        from CCRCCStagingLib.case.features import extract_as_pyradiomics
    except ImportError:
        return None
    return extract_as_pyradiomics


def get_extractor(name: str) -> Extractor:
    """The extractor named on the command line."""
    if name == "pyradiomics":
        return pyradiomics_extractor
    extractor = project_extractor()
    if extractor is None:
        raise SystemExit("CCRCCStagingLib.case.features.extract_as_pyradiomics does not exist (yet); "
                         "run with --extractor pyradiomics")
    return extractor


# --- Parameters -------------------------------------------------------------------------------------------------------


def feature_lists() -> dict[str, list[str]]:
    """{PyRadiomics class: the features the mapping uses}; listing them by name also enables the deprecated
    Compactness1/2 and SphericalDisproportion, which 'all features' leaves out."""
    lists: dict[str, set[str]] = {}
    for mapping in MAPPING.values():
        lists.setdefault(mapping.feature_class, set()).add(mapping.name)
    return {feature_class: sorted(names) for feature_class, names in sorted(lists.items())}


def run_params(settings: dict[str, Any], run: str, primary: bool) -> dict[str, Any]:
    """The PyRadiomics parameter dictionary of one run: "3D", "3D merged", "2.5D" or "2.5D merged".

    The primary run (the configuration's first dimension) also computes shape; merged runs only GLCM and GLRLM,
    whose directional matrices ``weightingNorm: no_weighting`` sums before the features are computed."""
    setting = {"label": 1, "additionalInfo": False, **settings}
    if run.startswith("2.5D"):
        setting.update(force2D=True, force2Ddimension=0)
    classes = feature_lists()
    if run.endswith("merged"):
        setting["weightingNorm"] = "no_weighting"
        classes = {name: classes[name] for name in MERGEABLE_CLASSES}
    elif not primary:
        classes.pop("shape")
    return {"imageType": {"Original": {}}, "featureClass": classes, "setting": setting}


def runs_of(configuration: Configuration) -> list[tuple[str, bool]]:
    """(run, primary) for every run a configuration needs."""
    runs = []
    for index, dimension in enumerate(configuration.dimensions):
        runs += [(dimension, index == 0), (f"{dimension} merged", False)]
    return runs


def combined_range(image: sitk.Image, mask: sitk.Image, low: float, high: float, sigmas: float) -> list[float]:
    """IBSI's range resegmentation followed by outlier filtering as one absolute range: mean ± sigmas·SD (population,
    like PyRadiomics' sigma mode) of the ROI voxels within [low, high], clipped to [low, high]."""
    values = sitk.GetArrayViewFromImage(image)[sitk.GetArrayViewFromImage(mask) == 1].astype(float)
    values = values[(values >= low) & (values <= high)]
    mean, sd = float(values.mean()), float(values.std())
    return [max(low, mean - sigmas * sd), min(high, mean + sigmas * sd)]


def pyradiomics_resampled(image: sitk.Image, mask: sitk.Image, resampling: Resampling) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask as PyRadiomics resamples them (its own function), for the data-derived range of E."""
    from radiomics import imageoperations

    return imageoperations.resampleImage(image, mask, resampledPixelSpacing=list(resampling.spacing),
                                         interpolator=resampling.interpolator, label=1, padDistance=5)


def configured_settings(configuration: Configuration, image: sitk.Image, mask: sitk.Image) -> dict[str, Any]:
    """The configuration's PyRadiomics settings with its resampling; E's range is computed here from the data."""
    settings = dict(configuration.settings)
    if configuration.resampling is not None:
        settings.update(resampledPixelSpacing=list(configuration.resampling.spacing),
                        interpolator=configuration.resampling.interpolator, padDistance=5)
    if configuration.combined_range is not None:
        resampled_image, resampled_mask = (pyradiomics_resampled(image, mask, configuration.resampling)
                                           if configuration.resampling else (image, mask))
        settings["resegmentRange"] = combined_range(resampled_image, resampled_mask, *configuration.combined_range)
    return settings


def emulation_settings(configuration: Configuration, image: sitk.Image, mask: sitk.Image) -> dict[str, Any]:
    """Settings for the check run on IBSI-resampled data: no resampling; E's range from the IBSI-resampled data."""
    settings = dict(configuration.settings)
    if configuration.combined_range is not None:
        settings["resegmentRange"] = combined_range(image, mask, *configuration.combined_range)
    return settings


# --- IBSI-style resampling (only for checking the resampling deviation) -----------------------------------------------


def ibsi_grid(image: sitk.Image, spacing: Sequence[float]) -> tuple[list[int], list[float], list[float]]:
    """(size, spacing, origin) of IBSI's interpolation grid: ceil(n·s/s') voxels, centred on the original grid."""
    size = np.array(image.GetSize(), dtype=float)
    old = np.array(image.GetSpacing())
    new = np.where(np.array(spacing) == 0, old, np.array(spacing, dtype=float))
    new_size = np.ceil(np.round(size * old / new, 6)).astype(int)  # round first: 3·60/3 must stay 60
    offset = ((size - 1) * old - (new_size - 1) * new) / 2
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = np.array(image.GetOrigin()) + direction @ offset
    return new_size.tolist(), new.tolist(), origin.tolist()


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (not numpy's half-to-even)."""
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def ibsi_resample(image: sitk.Image, mask: sitk.Image, resampling: Resampling) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask resampled as IBSI prescribes: centred grid, nearest-boundary extrapolation, intensities rounded
    to integers; the mask interpolated linearly and kept where ≥ 0.5."""
    size, spacing, origin = ibsi_grid(image, resampling.spacing)
    direction = image.GetDirection()

    def resample(source: sitk.Image, interpolator: int) -> np.ndarray:
        resampled = sitk.Resample(sitk.Cast(source, sitk.sitkFloat64), size, sitk.Transform(), interpolator, origin,
                                  spacing, direction, 0.0, sitk.sitkFloat64, True)
        return sitk.GetArrayFromImage(resampled)

    def as_image(array: np.ndarray) -> sitk.Image:
        result = sitk.GetImageFromArray(array)
        result.SetOrigin(origin)
        result.SetSpacing(spacing)
        result.SetDirection(direction)
        return result

    intensities = _round_half_away(resample(image, getattr(sitk, resampling.interpolator)))
    inside = resample(mask, sitk.sitkLinear) >= 0.5
    return as_image(intensities.astype(np.float32)), as_image(inside.astype(np.uint8))


@dataclass(frozen=True)
class Diagnostic:
    """One emulated IBSI diagnostic against its reference (for the .md only)."""

    dataset: str
    feature: str
    value: float
    reference: float
    tolerance: float


def emulation_diagnostics(configuration: Configuration, image: sitk.Image, mask: sitk.Image,
                          references: list[Reference], settings: dict[str, Any]) -> list[Diagnostic]:
    """The IBSI-style resampling's interpolated image and ROI diagnostics next to IBSI's reference values: evidence
    that the emulation used for the resampling check is IBSI's."""
    array = sitk.GetArrayViewFromImage(image)
    roi = array[sitk.GetArrayViewFromImage(mask) == 1]
    low, high = _resegmented_bounds(roi, settings)
    intensity = roi[(roi >= low) & (roi <= high)]
    values = {
        "img_dim_x_interp_img": image.GetSize()[0], "img_dim_y_interp_img": image.GetSize()[1],
        "img_dim_z_interp_img": image.GetSize()[2],
        "int_mask_vox_count_interp_roi": roi.size, "int_mask_mean_int_interp_roi": roi.mean(),
        "int_mask_min_int_interp_roi": roi.min(), "int_mask_max_int_interp_roi": roi.max(),
        "int_mask_vox_count_reseg_roi": intensity.size, "int_mask_mean_int_reseg_roi": intensity.mean(),
        "int_mask_min_int_reseg_roi": intensity.min(), "int_mask_max_int_reseg_roi": intensity.max(),
    }
    by_tag = {row.tag: row for row in references if row.dataset == configuration.dataset}
    return [Diagnostic(configuration.dataset, f"{by_tag[tag].family}: {by_tag[tag].feature}", float(value),
                       by_tag[tag].value, by_tag[tag].tolerance)
            for tag, value in values.items() if tag in by_tag and by_tag[tag].value is not None]


def _resegmented_bounds(roi: np.ndarray, settings: dict[str, Any]) -> tuple[float, float]:
    """The absolute thresholds PyRadiomics' resegmentation uses for these settings."""
    bounds = settings.get("resegmentRange")
    if bounds is None:
        return -math.inf, math.inf
    if settings.get("resegmentMode", "absolute") == "sigma":
        mean, sd = float(roi.mean()), float(roi.std())
        return mean + bounds[0] * sd, mean + bounds[1] * sd
    return float(bounds[0]), float(bounds[1])


@contextmanager
def ibsi_bin_edges(minimum: float, width: float) -> Iterator[None]:
    """PyRadiomics' ``imageoperations.getBinEdges`` replaced by IBSI's fixed-bin-width edges, which start at the
    resegmentation minimum (``binImage`` looks the function up at call time). PyRadiomics' FAQ: the binning difference
    "cannot be corrected by customization settings alone and require[s] replacement by custom functions"."""
    from radiomics import imageoperations

    original = imageoperations.getBinEdges

    def edges(values: np.ndarray, **_: Any) -> np.ndarray:
        # numpy.digitize puts x in bin i when edges[i-1] <= x < edges[i]: i = floor((x - minimum) / width) + 1, IBSI's
        count = math.floor((float(np.max(values)) - minimum) / width) + 1
        return minimum + width * np.arange(count + 1, dtype=float)

    imageoperations.getBinEdges = edges
    try:
        yield
    finally:
        imageoperations.getBinEdges = original


# --- Running ----------------------------------------------------------------------------------------------------------


@dataclass
class Results:
    """Everything one configuration's runs produced."""

    configuration: Configuration
    values: dict[str, dict[str, float]]  # run → PyRadiomics values
    params: dict[str, dict[str, Any]]  # run → PyRadiomics parameters
    emulated: dict[str, dict[str, float]] = field(default_factory=dict)  # run → values on IBSI-resampled data
    emulated_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: run → PyRadiomics' values with IBSI's fixed-bin-width edges on the check data (configuration C only)
    ibsi_binned: dict[str, dict[str, float]] = field(default_factory=dict)
    spacing: tuple[float, ...] = ()  # voxel spacing the features were computed at (for N of the PCA check)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seconds: float = 0.0


def read_phantom(data_dir: Path, phantom: str) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask as stored (no cast: the CT is float32 HU, the digital phantom int16)."""
    folder = data_dir / ("digital_phantom" if phantom == "digital" else "ct_phantom/nifti")
    return sitk.ReadImage(str(folder / "phantom.nii.gz")), sitk.ReadImage(str(folder / "mask.nii.gz"))


def run_configuration(configuration: Configuration, image: sitk.Image, mask: sitk.Image, extractor: Extractor,
                      references: list[Reference]) -> Results:
    """All runs of one configuration, and for resampling configurations the same runs on IBSI-resampled data."""
    started = time.perf_counter()
    settings = configured_settings(configuration, image, mask)
    results = Results(configuration, {}, {})
    for run, primary in runs_of(configuration):
        results.params[run] = run_params(settings, run, primary)
        results.values[run] = extractor(image, mask, results.params[run], label=1)
    spacing = np.array(image.GetSpacing())
    check_image, check_mask, check = image, mask, results.values
    if configuration.resampling is not None:
        resampled = np.array(configuration.resampling.spacing)
        spacing = np.where(resampled == 0, spacing, resampled)
        check_image, check_mask = ibsi_resample(image, mask, configuration.resampling)
        check_settings = emulation_settings(configuration, check_image, check_mask)
        for run, primary in runs_of(configuration):
            results.emulated_params[run] = run_params(check_settings, run, primary)
            results.emulated[run] = extractor(check_image, check_mask, results.emulated_params[run], label=1)
        results.diagnostics = emulation_diagnostics(configuration, check_image, check_mask, references, check_settings)
        check = results.emulated
    if bin_shift(check[configuration.dimensions[0]], configuration):
        # Only to check the bin-start deviation where arithmetic cannot: PyRadiomics itself, not the extractor.
        with ibsi_bin_edges(configuration.fbs_minimum, configuration.settings["binWidth"]):
            for run in check:
                params = results.emulated_params.get(run) or results.params[run]
                results.ibsi_binned[run] = pyradiomics_extractor(check_image, check_mask, params, label=1)
    results.spacing = tuple(float(value) for value in spacing)
    results.seconds = time.perf_counter() - started
    return results


# --- Comparing --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deviation:
    """A documented PyRadiomics difference from IBSI: a short name, the reason, its source(s)."""

    name: str
    reason: str
    source: str


@dataclass
class Row:
    """One line of the conformance table."""

    reference: Reference
    pyradiomics_feature: str = ""
    pyradiomics_run: str = ""
    value: float | None = None
    status: str = NOT_COMPUTED
    checked_value: float | None = None
    check: str = ""
    reason: str = ""
    note: str = ""  # the mapping's remark when the PyRadiomics feature has another name
    source: str = ""
    deviations: list[Deviation] = field(default_factory=list)  # not written: for the .md's classes

    def as_dict(self) -> dict[str, str]:
        """The CSV row (floats as repr, so that the committed table holds the full value)."""
        ref = self.reference
        return {
            "dataset": ref.dataset, "family": ref.family, "feature": ref.feature, "tag": ref.tag,
            "consensus": ref.consensus, "reference": _text(ref.value), "tolerance": _text(ref.tolerance),
            "pyradiomics_feature": self.pyradiomics_feature, "pyradiomics_run": self.pyradiomics_run,
            "value": _text(self.value), "status": self.status, "checked_value": _text(self.checked_value),
            "check": self.check, "reason": self.reason, "note": self.note, "source": self.source,
        }


def _text(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def round_significant(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits, as IBSI rounded the contributed values."""
    return float(f"{value:.{digits}g}")


def within_tolerance(value: float | None, reference: float, tolerance: float, rounded: bool = True) -> bool:
    """IBSI's check: the value, or (``rounded``) its 3-significant-digit rounding, within reference ± tolerance (a
    relative 1e-9 slack absorbs the binary representation of decimal references such as 11.4 − 0.1)."""
    if value is None or not math.isfinite(value):
        return False
    slack = tolerance + 1e-9 * max(abs(reference), abs(tolerance)) + 1e-15
    candidates = (value, round_significant(value)) if rounded else (value,)
    return any(abs(candidate - reference) <= slack for candidate in candidates)


ROUNDED = "at 3 significant digits"


def _rounding_note(value: float | None, reference: Reference) -> str:
    """Says so when a value agrees only after IBSI's rounding to 3 significant digits."""
    return "" if within_tolerance(value, reference.value, reference.tolerance, rounded=False) else f" ({ROUNDED})"


KURTOSIS = Deviation("kurtosis", "PyRadiomics' Kurtosis is IBSI's excess kurtosis + 3", f"{PYRAD_KURTOSIS} {PYRAD_FAQ}")
RESAMPLING = Deviation(
    "resampling",
    "PyRadiomics' grid is aligned to the corner of the origin voxel (IBSI: centred), intensities are not rounded, the "
    "mask is resampled by nearest neighbour (IBSI: linear, ≥ 0.5)",
    f"{PYRAD_FAQ} {PYRAD_SETTINGS}",
)
COMBINED_RESEGMENTATION = Deviation(
    "combined resegmentation",
    "one resegmentation mode at a time: range + 3σ given as one absolute range computed from the data",
    PYRAD_FAQ,
)
BIN_START = Deviation(
    "fixed-bin-width start",
    "bins start at a multiple of the bin width, the ROI minimum in bin 1 (IBSI: at the resegmentation minimum)",
    f"{PYRAD_FAQ} {PYRAD_BIN_EDGES}",
)
PCA_COVARIANCE = Deviation(
    "PCA covariance",
    "PyRadiomics' axis lengths use the voxel-centre covariance with 1/N (shape.py divides by sqrt(Np)), IBSI's "
    "reference values 1/(N−1); not in PyRadiomics' own list of IBSI differences",
    f"{PYRAD_SHAPE_SOURCE} {IBSI_PCA}",
)
DEVIATIONS = (KURTOSIS, RESAMPLING, COMBINED_RESEGMENTATION, BIN_START, PCA_COVARIANCE)


def bin_shift(values: dict[str, float], configuration: Configuration) -> int:
    """How many bins IBSI's fixed-bin-width grey levels are above PyRadiomics' (0 without a fixed bin width)."""
    if configuration.fbs_minimum is None:
        return 0
    width = configuration.settings["binWidth"]
    return math.floor((values["original_firstorder_Minimum"] - configuration.fbs_minimum) / width)


def undo_bin_shift(base: str, value: float, run_values: dict[str, float], shift: int) -> float | None:
    """The feature with every grey level i → i + shift, where that is arithmetic on PyRadiomics' values; else None."""
    if shift == 0 or base not in GREY_LEVEL_DEPENDENT:
        return value
    if base == "cm_joint_avg":
        return value + shift
    if base == "cm_sum_avg":
        return value + 2 * shift
    if base == "cm_auto_corr":  # Σ(i+k)(j+k)p = Σijp + k(μx + μy) + k², μx = μy = joint average (symmetrical)
        return value + 2 * shift * run_values["original_glcm_JointAverage"] + shift**2
    return None


def voxel_count(run_values: dict[str, float], spacing: Sequence[float]) -> int:
    """Voxels in the morphological mask, from PyRadiomics' VoxelVolume."""
    return round(run_values["original_shape_VoxelVolume"] / float(np.prod(spacing)))


@dataclass
class Attempt:
    """One way of undoing deviations: the undone value (None if it cannot be), what was done, and why."""

    value: float | None
    steps: list[str]
    deviations: list[Deviation]
    unchecked: str = ""


def _undo(base: str, row: Row, run: str, results: Results, emulate: bool, pca: bool) -> Attempt:
    """Undo the deviations on one value: resampling (by taking the run on IBSI-resampled data), then the arithmetic
    ones (kurtosis, PCA covariance if ``pca``, the fixed-bin-width shift)."""
    configuration = results.configuration
    source, steps, deviations = results.values, [], []
    if emulate:
        source = results.emulated
        deviations.append(RESAMPLING)
        if configuration.combined_range is not None:
            deviations.append(COMBINED_RESEGMENTATION)
        steps.append("IBSI-style resampling")
    value = source[run].get(row.pyradiomics_feature)
    primary = source[configuration.dimensions[0]]  # shape and first order: the merged runs have neither
    if value is None:
        return Attempt(None, steps, deviations, "no value")
    if base == "stat_kurt":
        value -= 3
        steps.append("−3")
        deviations.append(KURTOSIS)
    if pca:
        n = voxel_count(primary, results.spacing)
        value *= math.sqrt(n / (n - 1))
        steps.append(f"×√(N/(N−1)), N = {n}")
        deviations.append(PCA_COVARIANCE)
    shift = bin_shift(primary, configuration)
    if shift and base in GREY_LEVEL_DEPENDENT:
        deviations.append(BIN_START)
        undone = undo_bin_shift(base, value, source[run], shift)
        if undone is not None:
            return Attempt(undone, [*steps, f"grey levels +{shift} bins"], deviations)
        if emulate and run in results.ibsi_binned:
            steps.append("IBSI's bin edges (PyRadiomics with its getBinEdges replaced, not the extractor under test)")
            return Attempt(results.ibsi_binned[run].get(row.pyradiomics_feature), steps, deviations)
        return Attempt(None, steps, deviations, f"grey levels shifted by {shift} bins; not arithmetic for this feature")
    return Attempt(value, steps, deviations)


def _attempts(base: str, row: Row, run: str, results: Results) -> list[Attempt]:
    """The ways to undo the deviations that may apply, fewest first (so that a row names only what it needs: the
    PCA correction, say, is invisible at the CT phantom's 46 000 voxels)."""
    emulations = (False, True) if results.configuration.resampling is not None else (False,)
    corrections = (False, True) if base in PCA_AXES else (False,)
    return [_undo(base, row, run, results, emulate, pca) for emulate in emulations for pca in corrections]


def classify(row: Row, base: str, run: str, results: Results) -> None:
    """Status of a row with a PyRadiomics value: pass, a documented deviation (checked where it can be undone) or
    FAIL."""
    ref = row.reference
    if ref.value is None:
        row.status, row.reason = NOT_COMPUTED, "IBSI has no reference value for this feature (not standardised)"
        return
    if within_tolerance(row.value, ref.value, ref.tolerance):
        row.status = PASS
        row.check = f"within tolerance {ROUNDED}" if _rounding_note(row.value, ref) else ""
        return
    attempts = [attempt for attempt in _attempts(base, row, run, results) if attempt.deviations]
    agreeing = [attempt for attempt in attempts if within_tolerance(attempt.value, ref.value, ref.tolerance)]
    if not attempts:
        row.status, row.reason = FAIL, "outside the IBSI tolerance; no documented PyRadiomics deviation applies"
        return
    # Prefer an explanation that needs no rounding to 3 significant digits, then the one undoing fewest deviations.
    agreeing.sort(key=lambda attempt: not within_tolerance(attempt.value, ref.value, ref.tolerance, rounded=False))
    attempt = agreeing[0] if agreeing else attempts[-1]
    row.checked_value, row.deviations = attempt.value, attempt.deviations
    row.reason = "; ".join(f"{deviation.name}: {deviation.reason}" for deviation in attempt.deviations)
    row.source = " ".join(dict.fromkeys(url for deviation in attempt.deviations for url in deviation.source.split()))
    if agreeing:
        row.status = DEVIATION
        row.check = f"deviation, value agrees after {', '.join(attempt.steps)}{_rounding_note(attempt.value, ref)}"
    elif attempt.unchecked and BIN_START in attempt.deviations:
        done = f" (after {', '.join(attempt.steps)})" if attempt.steps else ""
        row.status, row.check = DEVIATION, f"deviation, not checkable: {attempt.unchecked}{done}"
    else:
        row.status = FAIL
        row.check = f"value disagrees also after {', '.join(attempt.steps)}"


def not_computed(row: Row, base: str, suffix: str) -> None:
    """Reason and source for an IBSI feature PyRadiomics does not compute."""
    row.status = NOT_COMPUTED
    if row.reference.family.startswith("Diagnostics"):
        row.reason = DIAGNOSTIC_REASON
        return
    if suffix and AGGREGATIONS[suffix] is None:
        row.reason, row.source = SLICE_WISE_REASON, PYRAD_SETTINGS
        return
    for prefix, reason, source in NOT_COMPUTED_REASONS:
        if base.startswith(prefix):
            row.reason, row.source = reason, source
            return
    raise ValueError(f"no mapping and no reason for IBSI feature {row.reference.tag}")


def compare(reference: Reference, results: Results) -> Row:
    """One table row: the IBSI reference against the extractor's value."""
    row = Row(reference)
    base, suffix = split_tag(reference.tag)
    mapping = MAPPING.get(base)
    run = AGGREGATIONS.get(suffix) if suffix else results.configuration.dimensions[0]
    if reference.family.startswith("Diagnostics") or mapping is None or run is None:
        not_computed(row, base, suffix)
        return row
    row.pyradiomics_feature = f"original_{mapping.feature_class}_{mapping.name}"
    row.pyradiomics_run = RUN_LABELS[run]
    row.value = results.values[run].get(row.pyradiomics_feature)
    classify(row, base, run, results)
    if mapping.note:
        row.note = mapping.note
        row.source = f"{row.source} {mapping.source}".strip()
    return row


# --- The table --------------------------------------------------------------------------------------------------------


@dataclass
class Table:
    """The conformance table and what made it."""

    rows: list[Row]
    results: list[Results]
    extractor: str
    seconds: float

    def counts(self) -> dict[str, Counter]:
        """{dataset: Counter(status)}."""
        counts: dict[str, Counter] = {}
        for row in self.rows:
            counts.setdefault(row.reference.dataset, Counter())[row.status] += 1
        return counts


def build_table(data_dir: Path, extractor: Extractor, extractor_name: str,
                configurations: Iterable[Configuration] = CONFIGURATIONS) -> Table:
    """Run every configuration and compare every IBSI reference row."""
    started = time.perf_counter()
    references = read_references(data_dir / "reference")
    phantoms = {name: read_phantom(data_dir, name) for name in ("digital", "ct")}
    rows: list[Row] = []
    all_results = []
    for configuration in configurations:
        results = run_configuration(configuration, *phantoms[configuration.phantom], extractor, references)
        all_results.append(results)
        rows += [compare(reference, results) for reference in references if reference.dataset == configuration.dataset]
    return Table(rows, all_results, extractor_name, time.perf_counter() - started)


def write_csv(table: Table, path: Path) -> None:
    """The table as CSV (UTF-8, one row per data set / configuration and IBSI feature)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row.as_dict() for row in table.rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    """A written table, as rows of text."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _links(source: str) -> str:
    return " ".join(f"[{index}]({url})" for index, url in enumerate(source.split(), start=1))


def counts_markdown(table: Table) -> list[str]:
    """The status counts per data set / configuration."""
    lines = ["| data set / configuration | " + " | ".join(STATUSES) + " | total |",
             "|---|" + "---:|" * (len(STATUSES) + 1)]
    total: Counter = Counter()
    for dataset, counts in table.counts().items():
        total.update(counts)
        lines.append(f"| {dataset} | " + " | ".join(str(counts[status]) for status in STATUSES)
                     + f" | {sum(counts.values())} |")
    lines.append("| **all** | " + " | ".join(f"**{total[status]}**" for status in STATUSES)
                 + f" | **{sum(total.values())}** |")
    return lines


def configurations_markdown(table: Table) -> list[str]:
    """What each configuration is in IBSI's terms and in PyRadiomics' parameters."""
    lines = []
    for results in table.results:
        configuration = results.configuration
        lines += [f"### {configuration.dataset}", "", f"- IBSI: {configuration.ibsi}.",
                  f"- PyRadiomics: {configuration.approximation}.",
                  f"- Runs: {'; '.join(RUN_LABELS[run] for run in results.params)}.", ""]
        for run, params in results.params.items():
            setting = json.dumps(params["setting"], ensure_ascii=False)
            lines.append(f"  - `{RUN_LABELS[run]}`: classes {', '.join(params['featureClass'])}; "
                         f"setting `{setting}`")
        if results.emulated_params:
            setting = json.dumps(next(iter(results.emulated_params.values()))["setting"], ensure_ascii=False)
            lines.append(f"  - check runs on IBSI-resampled data: the same runs with setting `{setting}` "
                         "(plus force2D / weightingNorm as above)")
        lines.append("")
    return lines


def diagnostics_markdown(table: Table) -> list[str]:
    """The IBSI-style resampling emulation against IBSI's diagnostic reference values."""
    lines = ["| configuration | IBSI diagnostic | emulation | IBSI reference ± tolerance | within |",
             "|---|---|---:|---:|---|"]
    for results in table.results:
        for item in results.diagnostics:
            within = "yes" if within_tolerance(item.value, item.reference, item.tolerance) else "**no**"
            lines.append(f"| {item.dataset} | {item.feature} | {_number(item.value)} | "
                         f"{_number(item.reference)} ± {_number(item.tolerance)} | {within} |")
    return lines


def rows_markdown(table: Table) -> list[str]:
    """Every row, grouped by data set / configuration."""
    lines: list[str] = []
    dataset = None
    for row in table.rows:
        ref = row.reference
        if ref.dataset != dataset:
            dataset = ref.dataset
            lines += ["", f"### Rows: {dataset}", "",
                      "| family | IBSI feature (tag) | reference ± tol. | PyRadiomics feature (run) | value | status | "
                      "checked value | check / reason | source |",
                      "|---|---|---:|---|---:|---|---:|---|---|"]
        reference = "" if ref.value is None else f"{_number(ref.value)} ± {_number(ref.tolerance)}"
        feature = f"{row.pyradiomics_feature} ({row.pyradiomics_run})" if row.pyradiomics_feature else ""
        status = f"**{row.status}**" if row.status == FAIL else row.status
        reason = ", ".join(deviation.name for deviation in row.deviations) if row.deviations else row.reason
        note = "; ".join(part for part in (row.check, reason, row.note) if part)
        lines.append(f"| {_md_cell(ref.family)} | {_md_cell(ref.feature)} (`{ref.tag}`) | {reference} | {feature} | "
                     f"{_number(row.value)} | {status} | {_number(row.checked_value)} | {_md_cell(note)} | "
                     f"{_links(row.source)} |")
    return lines


def deviation_classes_markdown(table: Table) -> list[str]:
    """Each deviation class: how many rows it explains per data set, how they were checked, its source."""
    lines = ["| deviation | reason | rows (data set / configuration: count) | checked | source |",
             "|---|---|---|---|---|"]
    for deviation in DEVIATIONS:
        rows = [row for row in table.rows if deviation in row.deviations and row.status == DEVIATION]
        if not rows:
            continue
        per_dataset = Counter(row.reference.dataset for row in rows)
        checked = sum(row.check.startswith("deviation, value agrees") for row in rows)
        lines.append(f"| {deviation.name} | {_md_cell(deviation.reason)} | "
                     + ", ".join(f"{dataset}: {count}" for dataset, count in per_dataset.items())
                     + f" | {checked} of {len(rows)} agree after undoing | {_links(deviation.source)} |")
    return lines


def reasons_markdown(table: Table, status: str, attribute: str) -> list[str]:
    """The rows of one status grouped by a text attribute (reason or note), with count and source."""
    seen: Counter = Counter()
    for row in table.rows:
        text = getattr(row, attribute)
        if row.status == status and text:
            seen[(text, row.source if attribute == "reason" else row.source.split()[-1])] += 1
    lines = ["| reason | rows | source |", "|---|---:|---|"]
    lines += [f"| {_md_cell(text)} | {count} | {_links(source)} |" for (text, source), count in sorted(seen.items())]
    return lines


def notes_markdown(table: Table) -> list[str]:
    """The IBSI features computed by a differently named (mathematically identical) PyRadiomics feature."""
    seen: Counter = Counter()
    for row in table.rows:
        if row.note:
            seen[(row.note, row.source.split()[-1])] += 1
    lines = ["| mapping | rows | source |", "|---|---:|---|"]
    lines += [f"| {_md_cell(text)} | {count} | {_links(source)} |" for (text, source), count in sorted(seen.items())]
    return lines


def write_markdown(table: Table, path: Path) -> None:
    """The table as Markdown: counts, configurations, deviation classes, the emulation check, all rows."""
    import radiomics

    lines = [
        "# IBSI 1 conformance of the feature extractor",
        "",
        f"Made by `Testing/bench/ibsi_conformance.py --extractor {table.extractor}` (PyRadiomics "
        f"{radiomics.__version__}); see the script's docstring for the method. Reference values: IBSI 1 "
        f"([manual]({IBSI_MANUAL}), [configurations]({IBSI_CONFIGS})). Statuses: `pass` = within the IBSI tolerance "
        "(value or its 3-significant-digit rounding); `known PyRadiomics deviation` = outside it for a documented "
        "reason, with the value checked again after undoing the deviation where possible; `not computed` = no "
        "PyRadiomics feature / aggregation / processing step; `FAIL` = none of these.",
        "",
        "## Counts",
        "",
        *counts_markdown(table),
        "",
        f"{sum(ROUNDED in row.check for row in table.rows)} of the pass / deviation rows agree only {ROUNDED} (IBSI "
        "rounded every contributed value so before building the consensus; the digital phantom's tolerances are 0).",
        "",
        "## Configurations",
        "",
        "IBSI's 2D configurations (A, B) and the digital phantom are run with `force2D` (slice dimension 0, i.e. "
        "axial): PyRadiomics then pools each direction's in-plane matrices over all slices (IBSI *2.5D*). Its GLCM and "
        "GLRLM features are computed per direction and averaged (IBSI *averaged* / *direction-merged*); the *merged* "
        "aggregations come from a second run with `weightingNorm: no_weighting`, which sums the directional matrices "
        "first. IBSI's per-slice *2D* aggregations have no PyRadiomics counterpart. Every configuration uses image "
        "type Original only and the default `distances` [1], symmetrical GLCM, `gldm_a` 0, `voxelArrayShift` 0, "
        "`resegmentShape` False, label 1. Resampling configurations (B–E) are also run on an image and mask resampled "
        "the IBSI way by this script (centred grid, rounded intensities, linear mask ≥ 0.5), to check that the "
        "remaining differences are PyRadiomics' resampling.",
        "",
        *configurations_markdown(table),
        "## Deviation classes",
        "",
        "Rows with status `known PyRadiomics deviation`, by documented reason (a row can have several; the check "
        "undoes all of them together):",
        "",
        *deviation_classes_markdown(table),
        "",
        "## Not computed",
        "",
        *reasons_markdown(table, NOT_COMPUTED, "reason"),
        "",
        "## Features under another PyRadiomics name",
        "",
        *notes_markdown(table),
        "",
        "## IBSI-style resampling emulation against IBSI's diagnostics",
        "",
        "The check runs' input (image and mask resampled by this script the IBSI way) against IBSI's diagnostic "
        "reference values for the interpolated and resegmented ROI:",
        "",
        *diagnostics_markdown(table),
        "",
        "## All rows",
        *rows_markdown(table),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def print_counts(table: Table) -> None:
    """Counts per data set / configuration and status, and the run time."""
    width = max(len(dataset) for dataset in table.counts())
    print(f"{'':{width}}  " + "  ".join(f"{status:>27}" for status in STATUSES))
    for dataset, counts in table.counts().items():
        print(f"{dataset:{width}}  " + "  ".join(f"{counts[status]:>27}" for status in STATUSES))
    times = ", ".join(f"{results.configuration.dataset} {results.seconds:.1f} s" for results in table.results)
    print(f"extractor: {table.extractor}; {len(table.rows)} rows in {table.seconds:.1f} s ({times}; each including "
          "its check runs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default Testing/ibsi)")
    parser.add_argument("--extractor", choices=("project", "pyradiomics"), default="project",
                        help="project: CCRCCStagingLib.case.features.extract_as_pyradiomics (default); "
                             "pyradiomics: RadiomicsFeatureExtractor(params).execute")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the IBSI data folder (../shared/data/ibsi)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"IBSI data not found: {args.data}")
    table = build_table(args.data, get_extractor(args.extractor), args.extractor)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(table, args.out / CSV_NAME)
    write_markdown(table, args.out / MD_NAME)
    print_counts(table)
    failures = [row for row in table.rows if row.status == FAIL]
    for row in failures:
        print(f"FAIL {row.reference.dataset} {row.reference.tag}: {row.value} vs {row.reference.value} "
              f"± {row.reference.tolerance} ({row.check})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
