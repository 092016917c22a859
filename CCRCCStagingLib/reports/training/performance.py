"""Model performance in the training report: the paper's Table 2 (one table per split) and Table 3 (the combined
region on the held-out splits side by side), each with the tumour-volume-only baseline, and the ROC curves. Beside the
paper's columns: each model's decision threshold, its confusion counts at that threshold, and the DeLong p-values
against the volume baseline and against the deployed model on the same cases; under the training table, the deployed
model's optimism-corrected training AUC."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from ..kit import MISSING, fmt, fmt_p, grouped_header, header_row, is_number, new_figure, plot_text, sentence, table
from .figures import FigureFiles, roc_name
from .names import (
    BASELINE_CLASSIFIER, CLASSIFIER_COLOURS, CLASSIFIER_NAMES, MIX_REGION, TRAIN_SPLIT, Summary, classifier_name,
    ordered_classifiers, ordered_splits, region_label, region_name, split_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_METRIC_KEYS = ("accuracy", "precision", "recall", "f1")
_CONFUSION_KEYS = ("tp", "fp", "tn", "fn")
# Per model and split; the threshold is the model's own (fixed on the training split), so it gets one column per row.
_METRIC_HEADERS = ("TP / FP / TN / FN", "Accuracy", "Precision", "Recall", "F1-score", "AUC (95% CI)", "p vs volume",
                   "p vs deployed")
#: Why Table 2 is empty: in an evaluation of the deployed model only, by design (the research models score every region).
_NO_REGION_TABLES = {
    False: "No per-region results were recorded.",
    True: "The deployed model alone was evaluated (its combined region, below); --trust-research-models scores every "
          "region's models too.",
}
_FLAG_HTML = '<span class="flag" title="AUC does not exceed the tumour-volume-only baseline">≤ volume</span>'


@dataclass(frozen=True)
class MetricsIndex:
    """The metric records by (region, classifier, split)."""

    rows: Mapping[tuple[str, str, str], Mapping[str, Any]]

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> MetricsIndex:
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
        return ordered_splits(s for r, c, s in self.rows if r == region and c != BASELINE_CLASSIFIER)

    def classifiers(self, region: str) -> list[str]:
        return ordered_classifiers(c for r, c, _ in self.rows if r == region)


def performance_section(summary: Summary, regions: Sequence[str], metrics: MetricsIndex, figures: FigureFiles) -> str:
    if not metrics.rows:
        return sentence("No model performance was recorded.")
    # As in the paper, the combined region's held-out results get their own table (Table 3); its training
    # results join the other regions' in the training table, which keeps Table 3 narrow enough to print.
    mix_held_out = [split for split in metrics.splits(MIX_REGION) if split != TRAIN_SPLIT]
    split_tables = []
    for split in ordered_splits(s for region in regions for s in metrics.splits(region)):
        in_table = [r for r in regions if not (r == MIX_REGION and split in mix_held_out)]
        if any(split in metrics.splits(r) for r in in_table):
            split_tables.append(_single_region_table(summary, in_table, split, metrics))
            if split == TRAIN_SPLIT:
                split_tables.append(optimism_note(summary))
    parts = [
        sentence(
            "Threshold: the model's decision threshold on P(T3–T4), fixed on the training split (Youden point of "
            "out-of-fold predictions); TP / FP / TN / FN: cases at that threshold; AUC with its 95% DeLong "
            "confidence interval; p: DeLong test of the model's AUC against the tumour-volume-only baseline and "
            "against the deployed model on the same cases. The shaded, italic row is the baseline; “≤ volume” marks "
            "a model whose AUC does not exceed it."
        ),
        "<h3>Per region and split (layout of Table 2)</h3>",
        *(split_tables or [sentence(_NO_REGION_TABLES[summary.get("kind") == "evaluation"])]),
        f"<h3>Combined region, held-out splits (layout of Table 3): {escape(region_label(summary, MIX_REGION))}</h3>",
        _mix_table(summary, mix_held_out, metrics)
        if mix_held_out
        else sentence("The combined region was not evaluated on a held-out split."),
        "<h3>ROC curves</h3>",
        _roc_figures(summary, regions, figures),
    ]
    return "".join(parts)


def optimism_note(summary: Summary) -> str:
    """The deployed model's optimism-corrected training AUC (Harrell's bootstrap), or nothing when not computed."""
    optimism = summary.get("optimism") or {}
    if not (is_number(optimism.get("corrected_auc")) and optimism.get("bootstraps")):
        return ""
    deployed = summary.get("deployed") or {}
    model = f"{classifier_name(str(deployed.get('classifier', '')))} on {region_label(summary, MIX_REGION)}"
    source = "At training, the" if summary.get("kind") == "evaluation" else "The"
    return sentence(
        f"{source} deployed model ({model}) has a training AUC of {fmt(optimism.get('apparent_auc'))} in-sample, "
        f"which is optimistic: corrected for optimism by the bootstrap ({optimism['bootstraps']} bootstrap samples"
        f"{_skipped_bootstraps(optimism)}, the whole modelling, selection included, refitted on each; optimism "
        f"{fmt(optimism.get('optimism'))}), it is {fmt(optimism['corrected_auc'])}. Judge the model by this value and by "
        "the held-out splits."
    )


def _skipped_bootstraps(optimism: Mapping[str, Any]) -> str:
    """How many of the drawn samples could not be used, when some could not (they are not silently left out)."""
    drawn, used = optimism.get("bootstraps_drawn"), optimism["bootstraps"]
    if not (is_number(drawn) and drawn > used):
        return ""
    return (f" of the {drawn} drawn; {drawn - used} had too few cases of one T-stage group for the LASSO's "
            "cross-validation and were skipped")


def _metric_cells(row: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> str:
    """The cells of one model on one split after its threshold: confusion counts, the paper's five metrics (the AUC
    flagged when it does not beat the baseline) and the two DeLong p-values."""
    if row is None:
        return f"<td>{MISSING}</td>" * len(_METRIC_HEADERS)
    counts = [row.get(key) for key in _CONFUSION_KEYS]
    confusion = " / ".join(str(c) for c in counts) if all(is_number(c) for c in counts) else MISSING
    cells = "".join(f"<td>{fmt(row.get(key))}</td>" for key in _METRIC_KEYS)
    auc = f"{fmt(row.get('auc'))} ({fmt(row.get('auc_ci_lower'))}–{fmt(row.get('auc_ci_upper'))})"
    flag = _FLAG_HTML if baseline is not None and _not_above(row, baseline) else ""
    p_values = "".join(f"<td>{_p_cell(row.get(key))}</td>" for key in ("p_vs_volume", "p_vs_deployed"))
    return f"<td>{confusion}</td>{cells}<td>{auc}{flag}</td>{p_values}"


def _p_cell(p: Any) -> str:
    return fmt_p(p) if is_number(p) else MISSING


def _threshold_cell(row: Mapping[str, Any] | None) -> str:
    return f"<td>{fmt((row or {}).get('threshold'))}</td>"


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
    return f"{escape(classifier_name(classifier))}{badge}"


def split_caption(summary: Summary, split: str) -> str:
    """The split's name with its case count and high-stage count, when recorded."""
    counts = ((summary.get("cohort") or {}).get("by_split") or {}).get(split) or {}
    if is_number(counts.get("n")) and is_number(counts.get("n_high")):
        return f"{split_name(split)} (n = {counts['n']}, {counts['n_high']} high T stage)"
    return split_name(split)


def _single_region_table(summary: Summary, regions: Sequence[str], split: str, metrics: MetricsIndex) -> str:
    width = 2 + len(_METRIC_HEADERS)
    rows = []
    for region in regions:
        rows.append(f'<tr class="group"><th colspan="{width}">{escape(region_name(region))}</th></tr>')
        classifiers = [c for c in metrics.classifiers(region) if metrics.get(region, c, split) is not None]
        if not classifiers:
            rows.append(f'<tr><td colspan="{width}" class="text">No models of this region on this split.</td></tr>')
            continue
        baseline = metrics.baseline(region, split)
        for classifier in classifiers:
            row = metrics.get(region, classifier, split)
            rows.append(f"<tr><td>{_model_label(summary, region, classifier)}</td>{_threshold_cell(row)}"
                        f"{_metric_cells(row, baseline)}</tr>")
        rows.append(_baseline_row(None if baseline is None else _threshold_cell(baseline) + _metric_cells(baseline, None),
                                  width))
    header = header_row("Model", "Threshold", *_METRIC_HEADERS)
    return table(header, rows, caption=split_caption(summary, split), css_class="performance")


def _baseline_row(cells: str | None, width: int) -> str:
    """The volume-only row; present even when training did not record it, so that its absence shows."""
    name = escape(CLASSIFIER_NAMES[BASELINE_CLASSIFIER])
    if cells is None:
        return f'<tr class="baseline"><td>{name}</td><td colspan="{width - 1}" class="text">not recorded</td></tr>'
    return f'<tr class="baseline"><td>{name}</td>{cells}</tr>'


def _mix_table(summary: Summary, splits: Sequence[str], metrics: MetricsIndex) -> str:
    width = 2 + len(_METRIC_HEADERS) * len(splits)
    header = grouped_header(("Model", "Threshold"), [split_caption(summary, s) for s in splits], _METRIC_HEADERS)
    baselines = {split: metrics.baseline(MIX_REGION, split) for split in splits}

    def cells(rows: Mapping[str, Mapping[str, Any] | None], flag_against: Mapping[str, Any]) -> str:
        threshold = _threshold_cell(next((row for row in rows.values() if row is not None), None))
        return threshold + "".join(_metric_cells(rows[split], flag_against.get(split)) for split in splits)

    rows = [
        f"<tr><td>{_model_label(summary, MIX_REGION, classifier)}</td>"
        + cells({split: metrics.get(MIX_REGION, classifier, split) for split in splits}, baselines)
        + "</tr>"
        for classifier in metrics.classifiers(MIX_REGION)
    ]
    recorded = any(baseline is not None for baseline in baselines.values())
    rows.append(_baseline_row(cells(baselines, {}) if recorded else None, width))
    caption = f"{region_name(MIX_REGION)}: held-out splits side by side"
    return table(header, rows, caption=caption, css_class="performance")


def _roc_figures(summary: Summary, regions: Sequence[str], figures: FigureFiles) -> str:
    roc = summary.get("roc") or {}
    if not roc:
        return sentence("No ROC curves were recorded.")
    parts = []
    for region in regions:
        curves = roc.get(region) or {}
        splits = ordered_splits(s for by_split in curves.values() for s in by_split)
        if not splits:
            parts.append(sentence(f"No ROC curves were recorded for {region_name(region)}."))
            continue
        parts.append(
            figures.html(
                _roc_figure(region, curves, _baseline_curves(roc, region), splits),
                roc_name(region),
                alt=f"ROC curves of {region_name(region)}",
                caption=f"{region_label(summary, region)}: ROC curves per split; dashed black, tumour volume only.",
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
        for classifier in ordered_classifiers(curves):
            curve = (curves[classifier] or {}).get(split)
            if curve:
                _plot_roc(axes, curve, classifier_name(classifier), CLASSIFIER_COLOURS.get(classifier), "-")
        if baseline.get(split):
            _plot_roc(axes, baseline[split], CLASSIFIER_NAMES[BASELINE_CLASSIFIER], "black", "--")
        axes.plot([0, 1], [0, 1], color="#b0b4b8", linestyle=":", linewidth=0.8)
        axes.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal", xlabel="1 − specificity", ylabel="Sensitivity")
        axes.set_title(plot_text(f"{region_name(region)} — {split_name(split)}"), fontsize=9)
        axes.legend(loc="lower right", fontsize=6.5, frameon=False)
    return figure


def _plot_roc(axes: Axes, curve: Mapping[str, Any], name: str, colour: str | None, style: str) -> None:
    label = f"{name} (AUC {fmt(curve.get('auc'))})"
    axes.plot(curve.get("fpr") or [], curve.get("tpr") or [], color=colour, linestyle=style, linewidth=1.3, label=label)
