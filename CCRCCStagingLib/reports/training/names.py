"""Names, order and colours of the training report's regions, classifiers, splits and groups, shared by its
sections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ...core.palette import HIGH_GROUP_COLOUR, LOW_GROUP_COLOUR
from ..kit import MISSING, is_number

#: The training summary (JSON-ready dict of ``ccrcc-staging train``); every part of it may be missing.
Summary = Mapping[str, Any]

BASELINE_CLASSIFIER = "volume_only"
MIX_REGION = "mix"
TRAIN_SPLIT = "train"
DEFAULT_TITLE = "CCRCCStaging training report"

# Row order of the paper's Table 2 (LR, Naive Bayes, SVM, RF, LightGBM, MLP); the baseline comes last.
CLASSIFIER_NAMES = {
    "lr": "LR",
    "nb": "Naive Bayes",
    "svm": "SVM",
    "rf": "RF",
    "lightgbm": "LightGBM",
    "mlp": "MLP",
    BASELINE_CLASSIFIER: "Tumour volume only",
}
SPLIT_NAMES = {
    "train": "Training set",
    "internal_test": "Internal test set",
    "external": "External validation set",
}
T_STAGE_NAMES = {"low": "Low T stage (T1–T2)", "high": "High T stage (T3–T4)"}
RISK_NAMES = {"low": "Low risk", "high": "High risk"}

# The same colour for the same classifier or group in every figure, so readers can compare panels.
CLASSIFIER_COLOURS = {
    "lr": "#1f77b4",
    "nb": "#ff7f0e",
    "svm": "#2ca02c",
    "rf": "#9467bd",
    "lightgbm": "#8c564b",
    "mlp": "#e377c2",
}
GROUP_COLOURS = {"low": LOW_GROUP_COLOUR, "high": HIGH_GROUP_COLOUR}
OTHER_COLOUR = "#7f7f7f"


def fmt_coefficient(value: Any) -> str:
    """Four significant digits: LASSO coefficients span several orders of magnitude."""
    return f"{value:.4g}" if is_number(value) else MISSING


def region_name(region: str) -> str:
    return f"VOI_{region}"


def classifier_name(classifier: str) -> str:
    return CLASSIFIER_NAMES.get(classifier, classifier)


def split_name(split: str) -> str:
    return SPLIT_NAMES.get(split, split.replace("_", " ").capitalize() + " set")


def ordered(keys: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """The distinct ``keys``: those in ``preferred`` in its order, then the others in first-seen order."""
    present = list(dict.fromkeys(keys))
    return [key for key in preferred if key in present] + [key for key in present if key not in preferred]


def ordered_splits(splits: Iterable[str]) -> list[str]:
    return ordered(splits, SPLIT_NAMES)


def ordered_classifiers(classifiers: Iterable[str]) -> list[str]:
    """Models in the paper's order, without the baseline (callers add it where it belongs)."""
    return [c for c in ordered(classifiers, CLASSIFIER_NAMES) if c != BASELINE_CLASSIFIER]


def region_label(summary: Summary, region: str) -> str:
    """The region's display name; the combined region also names what it combines."""
    if region == MIX_REGION and summary.get("mix_subregion"):
        return f"{region_name(region)} ({region_name(summary['mix_subregion'])} + {region_name('peri')})"
    return region_name(region)
