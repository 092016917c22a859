"""One self-contained HTML report of a ``ccrcc-staging train`` run, laid out like Huang et al. (2026).

The sections follow the paper: cohort; feature selection per region with the LASSO tuning and coefficient
profiles (Fig. 3A-H); model performance as Table 2 (one table per split) and Table 3 (the combined region
``mix`` on the held-out splits side by side) with ROC curves (Fig. 3I-L, 4C-D); the Radscore with its
Youden cutoff and the per-split waterfall of Fig. 5C-E; Kaplan-Meier curves of the risk groups (Fig. 5B);
settings and software.

Every table also shows a tumour-volume-only baseline, and a model whose AUC does not exceed it on the same
split is flagged: a radiomics model that cannot beat tumour size has learnt nothing a ruler would not give.

The page is one file: figures are PNGs embedded as base64 data URIs and nothing is loaded from elsewhere
(no scripts, web fonts or style sheets), so it opens offline, can be archived or mailed, and prints.

Every part of the summary is optional: a missing part renders as a sentence saying so, never as an error.
matplotlib (object API, Agg canvas) is imported inside the plotting functions so that importing this module
costs nothing at CLI start-up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .kit import (
    MISSING, figure_html, fmt, fmt_p, header_row, is_number, new_figure, page, plot_text, provenance_footer,
    sentence, table, write_page,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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
_CLASSIFIER_COLOURS = {
    "lr": "#1f77b4",
    "nb": "#ff7f0e",
    "svm": "#2ca02c",
    "rf": "#9467bd",
    "lightgbm": "#8c564b",
    "mlp": "#e377c2",
}
_GROUP_COLOURS = {"low": "#2f6db5", "high": "#c8352b"}
_OTHER_COLOUR = "#7f7f7f"
_METRIC_KEYS = ("accuracy", "precision", "recall", "f1")
_METRIC_HEADERS = ("Accuracy", "Precision", "Recall", "F1-score", "AUC (95% CI)")
_FLAG_HTML = '<span class="flag" title="AUC does not exceed the tumour-volume-only baseline">≤ volume</span>'




# ----------------------------------------------------------------------------------------------- entry point


def render_training_report(summary: Summary, out_path: Path) -> None:
    """Write the training ``summary`` as one self-contained HTML file at ``out_path``.

    ``summary`` is the JSON-ready dict of ``ccrcc-staging train`` (keys ``title``, ``created``, ``software``,
    ``settings``, ``cohort``, ``regions``, ``mix_subregion``, ``selection``, ``metrics``, ``roc``,
    ``radscore``, ``survival``, ``deployed``); any of them may be missing. The whole page is built in
    memory first and then written to a temporary file beside ``out_path`` that replaces it in one step, so
    a reader never sees a half-written report and a failure leaves an earlier report untouched.
    """
    write_page(_report_html(summary), Path(out_path))


def _report_html(summary: Summary) -> str:
    title = str(summary.get("title") or DEFAULT_TITLE)
    metrics = _MetricsIndex.from_records(summary.get("metrics") or [])
    regions = _ordered_regions(summary, metrics)
    sections = (
        ("cohort", "Cohort", _cohort_section(summary)),
        ("selection", "Feature selection", _selection_section(summary, regions)),
        ("performance", "Model performance", _performance_section(summary, regions, metrics)),
        ("radscore", "Radscore and risk groups", _radscore_section(summary)),
        ("survival", "Survival by Radscore risk group", _survival_section(summary)),
    )
    return page(title, _header(summary, title), sections, provenance_footer(summary))


# ------------------------------------------------------------------------------------------ small helpers


def _fmt_coefficient(value: Any) -> str:
    """Four significant digits: LASSO coefficients span several orders of magnitude."""
    return f"{value:.4g}" if is_number(value) else MISSING


def _region_name(region: str) -> str:
    return f"VOI_{region}"


def _classifier_name(classifier: str) -> str:
    return CLASSIFIER_NAMES.get(classifier, classifier)


def _split_name(split: str) -> str:
    return SPLIT_NAMES.get(split, split.replace("_", " ").capitalize() + " set")


def _ordered(keys: Iterable[str], preferred: Iterable[str]) -> list[str]:
    """The distinct ``keys``: those in ``preferred`` in its order, then the others in first-seen order."""
    present = list(dict.fromkeys(keys))
    return [key for key in preferred if key in present] + [key for key in present if key not in preferred]


def _ordered_splits(splits: Iterable[str]) -> list[str]:
    return _ordered(splits, SPLIT_NAMES)


def _ordered_classifiers(classifiers: Iterable[str]) -> list[str]:
    """Models in the paper's order, without the baseline (callers add it where it belongs)."""
    return [c for c in _ordered(classifiers, CLASSIFIER_NAMES) if c != BASELINE_CLASSIFIER]


def _ordered_regions(summary: Summary, metrics: _MetricsIndex) -> list[str]:
    """``summary["regions"]`` in its order, then any region that has results but is not listed there.

    Regions that only carry the volume baseline are not added: the baseline does not depend on a region.
    """
    found = [*(summary.get("selection") or {}), *(summary.get("roc") or {}), *metrics.model_regions()]
    return _ordered(found, summary.get("regions") or [])


# ------------------------------------------------------------------------------------------------- header


def _header(summary: Summary, title: str) -> str:
    created = summary.get("created")
    lines = [f"Training run of {escape(_display_datetime(created))}" if created else "Training run (date not recorded)"]
    deployed = summary.get("deployed") or {}
    if deployed.get("classifier"):
        region = deployed.get("region")
        where = f" on {escape(_region_label(summary, region))}" if region else ""
        lines.append(f"deployed model: {escape(_classifier_name(deployed['classifier']))}{where}")
    return (
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">{' · '.join(lines)}</p>"
        '<p class="disclaimer">Research software — not for clinical use.</p></header>\n'
    )


def _display_datetime(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


def _region_label(summary: Summary, region: str) -> str:
    """The region's display name; the combined region also names what it combines."""
    if region == MIX_REGION and summary.get("mix_subregion"):
        return f"{_region_name(region)} ({_region_name(summary['mix_subregion'])} + {_region_name('peri')})"
    return _region_name(region)


# ------------------------------------------------------------------------------------------------- cohort


def _cohort_section(summary: Summary) -> str:
    cohort = summary.get("cohort") or {}
    return _cohorttable(cohort.get("by_split") or {}) + _failed_cases(cohort.get("failed_cases") or [])


def _cohorttable(by_split: Mapping[str, Mapping[str, int]]) -> str:
    if not by_split:
        return sentence("The cohort sizes were not recorded.")
    rows = [_cohort_row(_split_name(split), by_split[split]) for split in _ordered_splits(by_split)]
    if len(by_split) > 1:
        totals = {key: sum(int(counts.get(key) or 0) for counts in by_split.values()) for key in ("n", "n_high")}
        rows.append(_cohort_row("Total", totals))
    header = header_row("Split", "Cases", T_STAGE_NAMES["high"], T_STAGE_NAMES["low"])
    return table(header, rows, caption="Cases per split")


def _cohort_row(label: str, counts: Mapping[str, int]) -> str:
    n, n_high = counts.get("n"), counts.get("n_high")
    if not (is_number(n) and is_number(n_high)):
        return f"<tr><td>{escape(label)}</td><td>{MISSING}</td><td>{MISSING}</td><td>{MISSING}</td></tr>"
    return (
        f"<tr><td>{escape(label)}</td><td>{n}</td><td>{_count_with_percent(n_high, n)}</td>"
        f"<td>{_count_with_percent(n - n_high, n)}</td></tr>"
    )


def _count_with_percent(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f}%)" if total else str(count)


def _failed_cases(failed: Sequence[Mapping[str, str]]) -> str:
    if not failed:
        return sentence("No case failed.")
    rows = (
        f'<tr><td>{escape(str(case.get("case_id", "")))}</td>'
        f'<td class="text">{escape(str(case.get("error", "")))}</td></tr>'
        for case in failed
    )
    caption = "1 case failed and was left out" if len(failed) == 1 else f"{len(failed)} cases failed and were left out"
    return table(header_row("Case", "Error"), rows, caption=caption)


# -------------------------------------------------------------------------------------- feature selection


def _selection_section(summary: Summary, regions: Sequence[str]) -> str:
    selection = summary.get("selection") or {}
    if not selection:
        return sentence("No feature selection results were recorded.")
    intro = sentence(
        "Per region: z-scored features → Spearman redundancy filter → mRMR → LASSO tuned by cross-validation "
        "(α is scikit-learn's name for the paper's λ; logarithms are natural)."
    )
    parts = [intro, _selection_countstable(selection, regions)]
    for region in regions:
        parts.append(f"<h3>{escape(_region_label(summary, region))}</h3>")
        if region in selection:
            parts.append(_region_selection(region, selection[region]))
        else:
            parts.append(sentence("No feature selection was recorded for this region."))
    return "".join(parts)


def _selection_countstable(selection: Mapping[str, Any], regions: Sequence[str]) -> str:
    header = header_row("Region", "Input", "After Spearman", "After mRMR", "After LASSO", "Chosen α")
    rows = []
    for region in (r for r in regions if r in selection):
        stages = selection[region]
        counts = (stages.get("n_input"), stages.get("n_after_spearman"), stages.get("n_after_mrmr"))
        cells = [str(count) if is_number(count) else MISSING for count in counts]
        cells.append(str(len(stages.get("selected") or [])))
        cells.append(_fmt_coefficient((stages.get("lasso") or {}).get("alpha")))
        rows.append(f"<tr><td>{escape(_region_name(region))}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return table(header, rows, caption="Number of features after each selection stage")


def _region_selection(region: str, stages: Mapping[str, Any]) -> str:
    lasso = stages.get("lasso") or {}
    selected = list(stages.get("selected") or [])
    parts = [_selected_featurestable(selected, lasso)]
    if _has_lasso_path(lasso):
        parts.append(
            figure_html(
                _lasso_figure(lasso, selected),
                alt=f"LASSO tuning and coefficient profiles of {_region_name(region)}",
                caption=(
                    f"{_region_name(region)}: left, cross-validated MSE (mean ± SD over folds) against log(α); "
                    "right, coefficient profiles (selected features in colour, the others grey). "
                    "The dashed line marks the chosen α."
                ),
            )
        )
    else:
        parts.append(sentence("The LASSO path was not recorded for this region."))
    return "".join(parts)


def _selected_featurestable(selected: Sequence[str], lasso: Mapping[str, Any]) -> str:
    if not selected:
        return sentence("LASSO kept no feature in this region.")
    coefficients = lasso.get("coef") or {}

    def magnitude(feature: str) -> float:
        value = coefficients.get(feature)
        return abs(value) if is_number(value) else 0.0

    # Largest effect first: readers look for the features that drive the model.
    ordered = sorted(selected, key=magnitude, reverse=True)
    rows = [
        f'<tr><td class="text">{escape(feature)}</td><td>{_fmt_coefficient(coefficients.get(feature))}</td></tr>'
        for feature in ordered
    ]
    rows.append(f"<tr><td><em>Intercept</em></td><td>{_fmt_coefficient(lasso.get('intercept'))}</td></tr>")
    header = header_row("Selected feature", "LASSO coefficient")
    return table(header, rows, caption=f"{len(selected)} selected features")


def _has_lasso_path(lasso: Mapping[str, Any]) -> bool:
    alphas = lasso.get("alphas") or []
    return (
        bool(alphas)
        and all(is_number(a) and a > 0 for a in alphas)
        and len(lasso.get("mse_mean") or []) == len(alphas)
        and is_number(lasso.get("alpha"))
        and lasso["alpha"] > 0
    )


def _lasso_figure(lasso: Mapping[str, Any], selected: Sequence[str]) -> Figure:
    from matplotlib import colormaps

    log_alphas = [math.log(alpha) for alpha in lasso["alphas"]]
    chosen = math.log(lasso["alpha"])
    figure = new_figure(10.0, 4.2 + 0.17 * math.ceil(len(selected) / 2))
    mse_axes, path_axes = figure.subplots(1, 2)

    mse_std = lasso.get("mse_std") or []
    mse_axes.errorbar(
        log_alphas,
        lasso["mse_mean"],
        yerr=mse_std if len(mse_std) == len(log_alphas) else None,
        fmt="o",
        markersize=3,
        color=_GROUP_COLOURS["high"],
        ecolor="#9aa0a6",
        elinewidth=0.8,
        capsize=2,
    )
    mse_axes.axvline(chosen, color="black", linestyle="--", linewidth=1)
    mse_axes.set(xlabel="log(α)", ylabel="Cross-validated MSE", title="LASSO tuning")

    # tab10 without its grey, then the same colours dashed and dotted: grey or pale colours would be
    # mistaken for the grey profiles of the features that LASSO dropped.
    palette = [colour for index, colour in enumerate(colormaps["tab10"].colors) if index != 7]
    style_of = {
        feature: {"color": palette[i % len(palette)], "linestyle": ("-", "--", ":")[i // len(palette) % 3]}
        for i, feature in enumerate(selected)
    }
    for feature, values in (lasso.get("coef_path") or {}).items():
        if len(values) != len(log_alphas):
            continue
        if feature in style_of:
            path_axes.plot(log_alphas, values, linewidth=1.4, label=plot_text(feature), **style_of[feature])
        else:
            path_axes.plot(log_alphas, values, linewidth=0.8, color="#c4c8cc")
    path_axes.axvline(chosen, color="black", linestyle="--", linewidth=1)
    path_axes.axhline(0.0, color="#666666", linewidth=0.6)
    path_axes.set(xlabel="log(α)", ylabel="Coefficient", title="Coefficient profiles")
    if path_axes.get_legend_handles_labels()[0]:
        figure.legend(loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    return figure


# ------------------------------------------------------------------------------------------ performance


@dataclass(frozen=True)
class _MetricsIndex:
    """The metric records by (region, classifier, split)."""

    rows: Mapping[tuple[str, str, str], Mapping[str, Any]]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> _MetricsIndex:
        return cls({(str(r.get("region")), str(r.get("classifier")), str(r.get("split"))): r for r in records})

    def get(self, region: str, classifier: str, split: str) -> Mapping[str, Any] | None:
        return self.rows.get((region, classifier, split))

    def baseline(self, region: str, split: str) -> Mapping[str, Any] | None:
        """The volume-only result of ``split``: the region's own, else the one recorded under any region.

        Tumour volume does not depend on the radiomics region, so training may record it once.
        """
        own = self.get(region, BASELINE_CLASSIFIER, split)
        if own is not None:
            return own
        return next((row for (_, c, s), row in self.rows.items() if c == BASELINE_CLASSIFIER and s == split), None)

    def model_regions(self) -> list[str]:
        return [region for region, classifier, _ in self.rows if classifier != BASELINE_CLASSIFIER]

    def splits(self, region: str) -> list[str]:
        return _ordered_splits(s for r, c, s in self.rows if r == region and c != BASELINE_CLASSIFIER)

    def classifiers(self, region: str) -> list[str]:
        return _ordered_classifiers(c for r, c, _ in self.rows if r == region)


def _performance_section(summary: Summary, regions: Sequence[str], metrics: _MetricsIndex) -> str:
    if not metrics.rows:
        return sentence("No model performance was recorded.")
    # As in the paper, the combined region's held-out results get their own table (Table 3); its training
    # results join the other regions' in the training table, which keeps Table 3 narrow enough to print.
    mix_held_out = [split for split in metrics.splits(MIX_REGION) if split != TRAIN_SPLIT]
    split_tables = []
    for split in _ordered_splits(s for region in regions for s in metrics.splits(region)):
        in_table = [r for r in regions if not (r == MIX_REGION and split in mix_held_out)]
        if any(split in metrics.splits(r) for r in in_table):
            split_tables.append(_single_regiontable(summary, in_table, split, metrics))
    parts = [
        sentence(
            "AUC with its 95% confidence interval. The shaded, italic row is the tumour-volume-only baseline "
            "on the same cases; “≤ volume” marks a model whose AUC does not exceed it."
        ),
        "<h3>Per region and split (layout of Table 2)</h3>",
        *(split_tables or [sentence("No per-region results were recorded.")]),
        f"<h3>Combined region, held-out splits (layout of Table 3): {escape(_region_label(summary, MIX_REGION))}</h3>",
        _mixtable(summary, mix_held_out, metrics)
        if mix_held_out
        else sentence("The combined region was not evaluated on a held-out split."),
        "<h3>ROC curves</h3>",
        _roc_figures(summary, regions),
    ]
    return "".join(parts)


def _metric_cells(row: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> str:
    """The five metric cells of one model on one split, the AUC flagged when it does not beat the baseline."""
    if row is None:
        return f"<td>{MISSING}</td>" * len(_METRIC_HEADERS)
    cells = "".join(f"<td>{fmt(row.get(key))}</td>" for key in _METRIC_KEYS)
    auc = f"{fmt(row.get('auc'))} ({fmt(row.get('auc_ci_lower'))}–{fmt(row.get('auc_ci_upper'))})"
    flag = _FLAG_HTML if baseline is not None and _not_above(row, baseline) else ""
    return f"{cells}<td>{auc}{flag}</td>"


def _not_above(row: Mapping[str, Any], baseline: Mapping[str, Any]) -> bool:
    auc, baseline_auc = row.get("auc"), baseline.get("auc")
    return is_number(auc) and is_number(baseline_auc) and auc <= baseline_auc


def _model_label(summary: Summary, region: str, classifier: str) -> str:
    deployed = summary.get("deployed") or {}
    badge = (
        '<span class="deployed">deployed</span>'
        if deployed.get("region") == region and deployed.get("classifier") == classifier
        else ""
    )
    return f"{escape(_classifier_name(classifier))}{badge}"


def _split_caption(summary: Summary, split: str) -> str:
    counts = ((summary.get("cohort") or {}).get("by_split") or {}).get(split) or {}
    if is_number(counts.get("n")) and is_number(counts.get("n_high")):
        return f"{_split_name(split)} (n = {counts['n']}, {counts['n_high']} high T stage)"
    return _split_name(split)


def _single_regiontable(summary: Summary, regions: Sequence[str], split: str, metrics: _MetricsIndex) -> str:
    width = 1 + len(_METRIC_HEADERS)
    rows = []
    for region in regions:
        rows.append(f'<tr class="group"><th colspan="{width}">{escape(_region_name(region))}</th></tr>')
        classifiers = [c for c in metrics.classifiers(region) if metrics.get(region, c, split) is not None]
        if not classifiers:
            rows.append(f'<tr><td colspan="{width}" class="text">No models of this region on this split.</td></tr>')
            continue
        baseline = metrics.baseline(region, split)
        rows.extend(
            f"<tr><td>{_model_label(summary, region, classifier)}</td>"
            f"{_metric_cells(metrics.get(region, classifier, split), baseline)}</tr>"
            for classifier in classifiers
        )
        rows.append(_baseline_row(_metric_cells(baseline, None) if baseline is not None else None, width))
    header = header_row("Model", *_METRIC_HEADERS)
    return table(header, rows, caption=_split_caption(summary, split), css_class="performance")


def _baseline_row(cells: str | None, width: int) -> str:
    """The volume-only row; present even when training did not record it, so that its absence shows."""
    name = escape(CLASSIFIER_NAMES[BASELINE_CLASSIFIER])
    if cells is None:
        return f'<tr class="baseline"><td>{name}</td><td colspan="{width - 1}" class="text">not recorded</td></tr>'
    return f'<tr class="baseline"><td>{name}</td>{cells}</tr>'


def _mixtable(summary: Summary, splits: Sequence[str], metrics: _MetricsIndex) -> str:
    width = 1 + len(_METRIC_HEADERS) * len(splits)
    header = (
        '<tr><th rowspan="2">Model</th>'
        + "".join(f'<th colspan="{len(_METRIC_HEADERS)}">{escape(_split_caption(summary, s))}</th>' for s in splits)
        + "</tr><tr>"
        + "".join(f"<th>{escape(h)}</th>" for _ in splits for h in _METRIC_HEADERS)
        + "</tr>"
    )
    baselines = {split: metrics.baseline(MIX_REGION, split) for split in splits}
    rows = [
        f"<tr><td>{_model_label(summary, MIX_REGION, classifier)}</td>"
        + "".join(_metric_cells(metrics.get(MIX_REGION, classifier, split), baselines[split]) for split in splits)
        + "</tr>"
        for classifier in metrics.classifiers(MIX_REGION)
    ]
    recorded = any(baseline is not None for baseline in baselines.values())
    baseline_cells = "".join(_metric_cells(baselines[split], None) for split in splits) if recorded else None
    rows.append(_baseline_row(baseline_cells, width))
    caption = f"{_region_name(MIX_REGION)}: held-out splits side by side"
    return table(header, rows, caption=caption, css_class="performance")


def _roc_figures(summary: Summary, regions: Sequence[str]) -> str:
    roc = summary.get("roc") or {}
    if not roc:
        return sentence("No ROC curves were recorded.")
    parts = []
    for region in regions:
        curves = roc.get(region) or {}
        splits = _ordered_splits(s for by_split in curves.values() for s in by_split)
        if not splits:
            parts.append(sentence(f"No ROC curves were recorded for {_region_name(region)}."))
            continue
        parts.append(
            figure_html(
                _roc_figure(region, curves, _baseline_curves(roc, region), splits),
                alt=f"ROC curves of {_region_name(region)}",
                caption=f"{_region_label(summary, region)}: ROC curves per split; dashed black, tumour volume only.",
            )
        )
    return "".join(parts)


def _baseline_curves(roc: Mapping[str, Any], region: str) -> Mapping[str, Any]:
    """The volume-only curves by split: the region's own, else those recorded under any region."""
    own = (roc.get(region) or {}).get(BASELINE_CLASSIFIER)
    if own:
        return own
    return next((curves[BASELINE_CLASSIFIER] for curves in roc.values() if curves.get(BASELINE_CLASSIFIER)), {})


def _roc_figure(region: str, curves: Mapping[str, Any], baseline: Mapping[str, Any], splits: Sequence[str]) -> Figure:
    figure = new_figure(4.0 * len(splits), 4.3)
    for axes, split in zip(figure.subplots(1, len(splits), squeeze=False)[0], splits):
        for classifier in _ordered_classifiers(curves):
            curve = (curves[classifier] or {}).get(split)
            if curve:
                _plot_roc(axes, curve, _classifier_name(classifier), _CLASSIFIER_COLOURS.get(classifier), "-")
        if baseline.get(split):
            _plot_roc(axes, baseline[split], CLASSIFIER_NAMES[BASELINE_CLASSIFIER], "black", "--")
        axes.plot([0, 1], [0, 1], color="#b0b4b8", linestyle=":", linewidth=0.8)
        axes.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal", xlabel="1 − specificity", ylabel="Sensitivity")
        axes.set_title(plot_text(f"{_region_name(region)} — {_split_name(split)}"), fontsize=9)
        axes.legend(loc="lower right", fontsize=6.5, frameon=False)
    return figure


def _plot_roc(axes: Axes, curve: Mapping[str, Any], name: str, colour: str | None, style: str) -> None:
    label = f"{name} (AUC {fmt(curve.get('auc'))})"
    axes.plot(curve.get("fpr") or [], curve.get("tpr") or [], color=colour, linestyle=style, linewidth=1.3, label=label)


# ---------------------------------------------------------------------------------------------- radscore


def _radscore_section(summary: Summary) -> str:
    radscore = summary.get("radscore") or {}
    if not radscore:
        return sentence("No Radscore was recorded.")
    parts = [_radscore_formula(summary, radscore)]
    cutoff = radscore.get("cutoff")
    scores = [s for s in radscore.get("scores") or [] if is_number(s.get("radscore"))]
    if not is_number(cutoff):
        parts.append(sentence("The Youden cutoff was not recorded."))
        return "".join(parts)
    parts.append(
        f"<p>Youden cutoff: <strong>{_fmt_coefficient(cutoff)}</strong>. Cases with Radscore ≥ cutoff are "
        "high risk, the others low risk.</p>"
    )
    if not scores:
        parts.append(sentence("No per-case Radscores were recorded."))
        return "".join(parts)
    by_split: dict[str, list[Mapping[str, Any]]] = {}
    for score in scores:
        by_split.setdefault(str(score.get("split")), []).append(score)
    splits = _ordered_splits(by_split)
    parts.append(_risktable(by_split, splits))
    parts.append(
        figure_html(
            _waterfall_figure(by_split, splits, cutoff),
            alt="Radscore minus cutoff per case, sorted, per split",
            caption="Radscore minus the cutoff per case, sorted, coloured by the true T-stage group (Fig. 5C–E).",
        )
    )
    return "".join(parts)


def _radscore_formula(summary: Summary, radscore: Mapping[str, Any]) -> str:
    coefficients = radscore.get("coefficients") or {}
    lines = [f"Radscore = {_fmt_coefficient(radscore.get('intercept'))}"]
    for feature, coefficient in coefficients.items():
        negative = is_number(coefficient) and coefficient < 0
        magnitude = _fmt_coefficient(abs(coefficient) if negative else coefficient)
        lines.append(f"         {'−' if negative else '+'} {magnitude} × z({escape(feature)})")
    region = radscore.get("region")
    source = f" of {escape(_region_label(summary, region))}" if region else ""
    return (
        f"<p>The Radscore is the LASSO linear predictor{source}, with {len(coefficients)} terms; "
        "z(·) is the feature z-scored with the training mean and SD.</p>"
        f'<div class="formula">{"<br>".join(lines)}</div>'
    )


def _risktable(by_split: Mapping[str, Sequence[Mapping[str, Any]]], splits: Sequence[str]) -> str:
    header = header_row("Split", "Cases", "High T stage", "High risk", "Sensitivity", "Specificity")
    rows = []
    for split in splits:
        scores = by_split[split]
        high = [s for s in scores if s.get("group") == "high"]
        low = [s for s in scores if s.get("group") == "low"]
        sensitivity = sum(s.get("risk") == "high" for s in high) / len(high) if high else None
        specificity = sum(s.get("risk") == "low" for s in low) / len(low) if low else None
        n_high_risk = sum(s.get("risk") == "high" for s in scores)
        rows.append(
            f"<tr><td>{escape(_split_name(split))}</td><td>{len(scores)}</td><td>{len(high)}</td>"
            f"<td>{n_high_risk}</td><td>{fmt(sensitivity)}</td><td>{fmt(specificity)}</td></tr>"
        )
    return table(header, rows, caption="Risk groups at the cutoff against the true T stage")


def _waterfall_figure(
    by_split: Mapping[str, Sequence[Mapping[str, Any]]], splits: Sequence[str], cutoff: float
) -> Figure:
    from matplotlib.patches import Patch

    figure = new_figure(max(4.2 * len(splits), 6.0), 3.8)
    axes_row = figure.subplots(1, len(splits), squeeze=False, sharey=True)[0]
    for axes, split in zip(axes_row, splits):
        ordered = sorted(by_split[split], key=lambda s: s["radscore"])
        axes.bar(
            range(len(ordered)),
            [s["radscore"] - cutoff for s in ordered],
            width=1.0,
            color=[_GROUP_COLOURS.get(s.get("group"), _OTHER_COLOUR) for s in ordered],
            linewidth=0,
        )
        axes.axhline(0.0, color="black", linewidth=0.8)
        axes.set(xticks=[], xlabel="Cases sorted by Radscore")
        axes.set_title(plot_text(f"{_split_name(split)} (n = {len(ordered)})"), fontsize=9)
    axes_row[0].set_ylabel("Radscore − cutoff")
    handles = [Patch(color=_GROUP_COLOURS[group], label=T_STAGE_NAMES[group]) for group in ("low", "high")]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return figure


# ---------------------------------------------------------------------------------------------- survival


def _survival_section(summary: Summary) -> str:
    survival = summary.get("survival") or {}
    if not survival:
        return sentence("No survival data were provided, so no Kaplan–Meier analysis was run.")
    parts = []
    for name, entry in survival.items():
        curves = [curve for curve in entry.get("curves") or [] if _has_km_curve(curve)]
        title = f"{name}: log-rank {fmt_p(entry.get('logrank_p'))}"
        if not curves:
            parts.append(sentence(f"{title}; no Kaplan–Meier curve was recorded."))
            continue
        parts.append(
            figure_html(
                _km_figure(title, curves),
                alt=f"Kaplan–Meier curves of {name}",
                caption=(
                    f"{name}: Kaplan–Meier estimate per Radscore risk group with 95% confidence band; "
                    f"log-rank χ² = {fmt(entry.get('logrank_statistic'), 2)}, {fmt_p(entry.get('logrank_p'))}."
                ),
            )
        )
    return "".join(parts)


def _has_km_curve(curve: Mapping[str, Any]) -> bool:
    timeline = curve.get("timeline") or []
    return bool(timeline) and len(timeline) == len(curve.get("survival") or [])


def _km_figure(title: str, curves: Sequence[Mapping[str, Any]]) -> Figure:
    figure = new_figure(6.4, 4.4)
    axes = figure.add_subplot()
    for curve in curves:
        group = str(curve.get("group"))
        colour = _GROUP_COLOURS.get(group, _OTHER_COLOUR)
        label = f"{RISK_NAMES.get(group, group)} (n = {curve.get('n', '?')}, {curve.get('events', '?')} events)"
        timeline = curve["timeline"]
        axes.step(timeline, curve["survival"], where="post", color=colour, linewidth=1.5, label=plot_text(label))
        lower, upper = curve.get("ci_lower") or [], curve.get("ci_upper") or []
        if len(lower) == len(upper) == len(timeline):
            axes.fill_between(timeline, lower, upper, step="post", color=colour, alpha=0.18, linewidth=0)
    axes.set(ylim=(0, 1.02), xlabel="Time", ylabel="Survival probability")
    axes.set_title(plot_text(title), fontsize=10)
    axes.legend(loc="lower left", fontsize=8, frameon=False)
    return figure


# ------------------------------------------------------------------------------------------------ footer


