"""Calibration and clinical usefulness in the training report: Brier score, calibration slope and intercept of every
model on every split, the deployed model's reliability curve per split, and the decision curves of the deployed model
and the volume baseline against treating all and treating none. The numbers come from the summary as computed by
``training.calibration``; nothing is recomputed here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..kit import fmt, grouped_header, is_number, new_figure, plot_text, row, sentence, table
from .figures import DECISION_CURVE_NAME, RELIABILITY_NAME, FigureFiles
from .names import (
    BASELINE_CLASSIFIER, CLASSIFIER_COLOURS, CLASSIFIER_NAMES, MIX_REGION, OTHER_COLOUR, Summary, classifier_name,
    ordered, ordered_classifiers, ordered_splits, region_label, region_name, split_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_CALIBRATION_KEYS = ("brier", "calibration_slope", "calibration_intercept")
_CALIBRATION_HEADERS = ("Brier", "Slope", "Intercept")
#: Threshold probabilities at which the decision-curve table gives the net benefit.
TABLE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def deployed_key(summary: Summary) -> tuple[str, str]:
    """(region, classifier) of the deployed model."""
    deployed = summary.get("deployed") or {}
    return str(deployed.get("region") or MIX_REGION), str(deployed.get("classifier") or "svm")


def _by_split(summary: Summary, region: str, classifier: str) -> Mapping[str, Any]:
    return ((summary.get("calibration") or {}).get(region) or {}).get(classifier) or {}


def _baseline_by_split(summary: Summary) -> Mapping[str, Any]:
    """The volume baseline's calibration by split: recorded under every region (it does not depend on one), so the
    combined region's or else the first found."""
    calibration = summary.get("calibration") or {}
    for region in [MIX_REGION, *calibration]:
        found = (calibration.get(region) or {}).get(BASELINE_CLASSIFIER)
        if found:
            return found
    return {}


def calibration_section(summary: Summary, regions: Sequence[str], figures: FigureFiles) -> str:
    calibration = summary.get("calibration") or {}
    if not calibration:
        return sentence("No calibration was recorded.")
    splits = ordered_splits(s for by_model in calibration.values() for by_split in by_model.values() for s in by_split)
    intro = sentence(
        "Brier score: mean squared difference between P(T3–T4) and the outcome (lower is better). Calibration slope "
        "(ideal 1; below 1, predictions too extreme) and intercept with the slope fixed at 1 (calibration-in-the-large, "
        "ideal 0), from a logistic recalibration on the logit of P(T3–T4). Reliability: cases in equal-size groups by "
        "predicted probability, the observed fraction of T3–T4 in each with its 95% Wilson interval."
    )
    return intro + _calibration_table(summary, ordered(calibration, regions), splits) + _reliability(summary, figures)


def _calibration_table(summary: Summary, regions: Sequence[str], splits: Sequence[str]) -> str:
    header = grouped_header(("Model",), [split_name(s) for s in splits], _CALIBRATION_HEADERS)
    width = 1 + len(splits) * len(_CALIBRATION_HEADERS)
    rows = []
    for region in regions:
        classifiers = ordered_classifiers(_model_names(summary, region))
        if classifiers:
            rows.append(f'<tr class="group"><th colspan="{width}">{escape(region_name(region))}</th></tr>')
        rows.extend(row(escape(classifier_name(c)), *_cells(_by_split(summary, region, c), splits)) for c in classifiers)
    baseline = _baseline_by_split(summary)
    if baseline:
        rows.append(row(escape(CLASSIFIER_NAMES[BASELINE_CLASSIFIER]), *_cells(baseline, splits), css_class="baseline"))
    return table(header, rows, caption="Calibration of every model per split", css_class="performance")


def _model_names(summary: Summary, region: str) -> list[str]:
    return list((summary.get("calibration") or {}).get(region) or {})


def _cells(by_split: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    return [fmt((by_split.get(split) or {}).get(key)) for split in splits for key in _CALIBRATION_KEYS]


def _reliability(summary: Summary, figures: FigureFiles) -> str:
    region, classifier = deployed_key(summary)
    by_split = {s: c for s, c in _by_split(summary, region, classifier).items() if _has_points(c.get("reliability"))}
    if not by_split:
        return sentence("No reliability curve of the deployed model was recorded.")
    model = f"{classifier_name(classifier)} on {region_label(summary, region)}"
    return figures.html(
        _reliability_figure(by_split, classifier),
        RELIABILITY_NAME,
        alt=f"Reliability curves of the deployed model ({model})",
        caption=(f"Deployed model ({model}): observed fraction of T3–T4 against mean predicted probability per group "
                 "of cases, with 95% Wilson intervals; dashed, perfect calibration."),
    )


def _has_points(curve: Mapping[str, Any] | None) -> bool:
    curve = curve or {}
    keys = ("predicted", "observed", "lower", "upper")
    return bool(curve.get("predicted")) and len({len(curve.get(key) or []) for key in keys}) == 1


def _reliability_figure(by_split: Mapping[str, Mapping[str, Any]], classifier: str) -> Figure:
    splits = ordered_splits(by_split)
    figure = new_figure(3.6 * len(splits), 4.0)
    for axes, split in zip(figure.subplots(1, len(splits), squeeze=False)[0], splits):
        calibration = by_split[split]
        curve = calibration["reliability"]
        # max(0, …): at an observed 0 or 1 the Wilson bound equals it up to rounding, which matplotlib refuses.
        below = [max(0.0, o - lo) for o, lo in zip(curve["observed"], curve["lower"])]
        above = [max(0.0, hi - o) for o, hi in zip(curve["observed"], curve["upper"])]
        axes.plot([0, 1], [0, 1], color="#9aa0a6", linestyle="--", linewidth=1)
        axes.errorbar(curve["predicted"], curve["observed"], yerr=[below, above], fmt="o", markersize=4, capsize=3,
                      color=CLASSIFIER_COLOURS.get(classifier), ecolor="#555555", elinewidth=0.9)
        axes.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="Predicted P(T3–T4)", ylabel="Observed fraction T3–T4")
        axes.set_title(plot_text(split_name(split)), fontsize=9)
        values = [fmt(calibration.get(key)) for key in _CALIBRATION_KEYS]
        axes.text(0.97, 0.03, "Brier {}\nslope {}\nintercept {}".format(*values), transform=axes.transAxes,
                  ha="right", va="bottom", fontsize=7.5)
    return figure


def decision_curve_section(summary: Summary, figures: FigureFiles) -> str:
    region, classifier = deployed_key(summary)
    model = _by_split(summary, region, classifier)
    baseline = _baseline_by_split(summary)
    splits = [s for s in ordered_splits(model) if _has_curve((model.get(s) or {}).get("decision_curve"))]
    if not splits:
        return sentence("No decision curve of the deployed model was recorded.")
    name = f"{classifier_name(classifier)} on {region_label(summary, region)}"
    curves = {s: (model[s]["decision_curve"], (baseline.get(s) or {}).get("decision_curve")) for s in splits}
    intro = sentence(
        "Net benefit = TP/n − FP/n × t/(1 − t) at threshold probability t (Vickers & Elkin 2006): the deployed model "
        "and the tumour-volume-only baseline against treating every case as T3–T4 (treat all) and none (treat none). "
        "A model is useful at the thresholds where its curve lies above all three others."
    )
    figure = figures.html(
        _decision_figure(curves, classifier), DECISION_CURVE_NAME, alt=f"Decision curves of the deployed model ({name})",
        caption=f"Decision curves per split: deployed model ({name}), volume baseline, treat all, treat none.",
    )
    return intro + figure + _decision_table(curves)


def _has_curve(curve: Mapping[str, Any] | None) -> bool:
    curve = curve or {}
    return bool(curve.get("threshold")) and len({len(curve.get(k) or []) for k in ("threshold", "model", "treat_all")}) == 1


def _decision_figure(curves: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]], classifier: str) -> Figure:
    figure = new_figure(max(4.0 * len(curves), 6.0), 4.2)
    axes_row = figure.subplots(1, len(curves), squeeze=False)[0]
    for axes, (split, (model, baseline)) in zip(axes_row, curves.items()):
        _plot_decision(axes, model, baseline, classifier)
        axes.set_title(plot_text(split_name(split)), fontsize=9)
    # One legend for all panels, below them: inside a panel it would hide the curves where they matter.
    figure.legend(*axes_row[0].get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=8,
                  frameon=False)
    return figure


def _plot_decision(axes: Axes, model: Mapping[str, Any], baseline: Mapping[str, Any] | None, classifier: str) -> None:
    thresholds = model["threshold"]
    axes.plot(thresholds, model["treat_all"], color=OTHER_COLOUR, linewidth=1, label="Treat all")
    axes.axhline(0.0, color="black", linewidth=0.8, label="Treat none")
    if _has_curve(baseline):
        axes.plot(thresholds, baseline["model"], color="black", linestyle="--", linewidth=1.2,
                  label=CLASSIFIER_NAMES[BASELINE_CLASSIFIER])
    axes.plot(thresholds, model["model"], color=CLASSIFIER_COLOURS.get(classifier), linewidth=1.6,
              label=f"{classifier_name(classifier)} (deployed)")
    top = max([0.0, *model["model"], *model["treat_all"]])
    axes.set(xlim=(0, 1), ylim=(-0.05, top + 0.05), xlabel="Threshold probability", ylabel="Net benefit")


def _decision_table(curves: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> str:
    """Net benefit at round thresholds, the splits side by side (treat none is 0 everywhere, so not a column)."""
    columns = ("Deployed model", CLASSIFIER_NAMES[BASELINE_CLASSIFIER], "Treat all")
    header = grouped_header(("Threshold",), [split_name(s) for s in curves], columns)
    rows = []
    for threshold in TABLE_THRESHOLDS:
        cells = [fmt(threshold, 2)]
        for model, baseline in curves.values():
            index = _index_of(model["threshold"], threshold)
            values = (None, None, None) if index is None else (
                model["model"][index], baseline["model"][index] if _has_curve(baseline) else None,
                model["treat_all"][index])
            cells.extend(fmt(value) for value in values)
        rows.append(row(*cells))
    return table(header, rows, caption="Net benefit at selected thresholds (treat none: 0)", css_class="performance")


def _index_of(thresholds: Sequence[Any], value: float) -> int | None:
    return next((i for i, t in enumerate(thresholds) if is_number(t) and abs(t - value) < 1e-9), None)

