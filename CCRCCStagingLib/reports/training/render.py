"""The training report's entry point and its first sections: header, cohort (with the cases whose region failed and
was imputed) and feature selection (per region, with the LASSO tuning and coefficient profiles of the paper's
Fig. 3A-H); and the last one, the warnings raised during the run, counted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kit import (
    MISSING, header_row, is_number, new_figure, page, plot_text, provenance_footer, row, sentence, table, write_page,
)
from .calibration import calibration_section, decision_curve_section
from .checklist import CHECKLIST_FILE, write_checklist
from .figures import FIGURES_DIR, FigureFiles, lasso_name
from .names import (
    DEFAULT_TITLE, GROUP_COLOURS, T_STAGE_NAMES, Summary, classifier_name, fmt_coefficient, ordered, ordered_splits,
    region_label, region_name, split_name,
)
from .outcome import radscore_section, survival_section
from .performance import MetricsIndex, performance_section

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def render_training_report(summary: Summary, out_path: Path, figures_dir: Path | None = None) -> None:
    """Write the training ``summary`` as one self-contained HTML file at ``out_path``; with ``figures_dir``, every
    figure also as SVG and PDF in that folder (named as in the paper: :mod:`.figures`).

    ``summary`` is the JSON-ready dict of ``ccrcc-staging train`` or ``evaluate`` (keys ``title``, ``created``,
    ``software``, ``settings``, ``cohort``, ``regions``, ``mix_subregion``, ``selection``, ``metrics``, ``roc``,
    ``calibration``, ``optimism``, ``radscore``, ``survival``, ``deployed``, ``warnings``, ``kind``); any of them may
    be missing. The whole page is built in memory first and then written to a temporary file beside ``out_path`` that
    replaces it in one step, so a reader never sees a half-written report and a failure leaves an earlier report
    untouched; so is each figure file.
    """
    figures = FigureFiles(None if figures_dir is None else Path(figures_dir))
    write_page(_report_html(summary, figures), Path(out_path))
    figures.remove_stale()


def write_training_report(summary: Summary, out_path: Path) -> None:
    """The report as the commands write it: the page at ``out_path``, its figures as SVG and PDF in ``figures/``
    beside it, and the TRIPOD+AI and CLEAR checklist pre-filled from the run beside it."""
    out_path = Path(out_path)
    render_training_report(summary, out_path, out_path.parent / FIGURES_DIR)
    write_checklist(summary, out_path.parent / CHECKLIST_FILE)


def _report_html(summary: Summary, figures: FigureFiles) -> str:
    title = str(summary.get("title") or DEFAULT_TITLE)
    metrics = MetricsIndex.from_records(summary.get("metrics") or [])
    regions = _ordered_regions(summary, metrics)
    sections = (
        ("cohort", "Cohort", _cohort_section(summary)),
        ("selection", "Feature selection", _selection_section(summary, regions, figures)),
        ("performance", "Model performance", performance_section(summary, regions, metrics, figures)),
        ("calibration", "Calibration", calibration_section(summary, regions, figures)),
        ("decision-curves", "Decision curves", decision_curve_section(summary, figures)),
        ("radscore", "Radscore and risk groups", radscore_section(summary, figures)),
        ("survival", "Survival by Radscore risk group", survival_section(summary, figures)),
        ("warnings", "Warnings", _warnings_section(summary)),
    )
    return page(title, _header(summary, title), sections, provenance_footer(summary))


def _ordered_regions(summary: Summary, metrics: MetricsIndex) -> list[str]:
    """``summary["regions"]`` in its order, then any region that has results but is not listed there.

    Regions that only carry the volume baseline are not added: the baseline does not depend on a region.
    """
    found = [*(summary.get("selection") or {}), *(summary.get("roc") or {}), *metrics.model_regions()]
    return ordered(found, summary.get("regions") or [])


def _header(summary: Summary, title: str) -> str:
    created = summary.get("created")
    run = "Evaluation" if summary.get("kind") == "evaluation" else "Training run"
    lines = [f"{run} of {escape(_display_datetime(created))}" if created else f"{run} (date not recorded)"]
    evaluation = summary.get("evaluation") or {}
    if evaluation.get("model_id"):
        lines.append(f"model {escape(str(evaluation['model_id']))} on {escape(str(evaluation.get('features', '?')))}")
    deployed = summary.get("deployed") or {}
    if deployed.get("classifier"):
        region = deployed.get("region")
        where = f" on {escape(region_label(summary, region))}" if region else ""
        lines.append(f"deployed model: {escape(classifier_name(deployed['classifier']))}{where}")
    return (
        f"<header><h1>{escape(title)}</h1><p class=\"meta\">{' · '.join(lines)}</p>"
        '<p class="disclaimer">Research software — not for clinical use.</p></header>\n'
    )


def _display_datetime(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


def _cohort_section(summary: Summary) -> str:
    cohort = summary.get("cohort") or {}
    region_failures = cohort.get("region_failures") or {}
    return (_cohort_table(cohort.get("by_split") or {}) + _failed_cases(cohort.get("failed_cases") or [], region_failures)
            + _region_failures(region_failures))


def _cohort_table(by_split: Mapping[str, Mapping[str, int]]) -> str:
    if not by_split:
        return sentence("The cohort sizes were not recorded.")
    rows = [_cohort_row(split_name(split), by_split[split]) for split in ordered_splits(by_split)]
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


def _failed_cases(failed: Sequence[Mapping[str, str]], region_failures: Mapping[str, Any]) -> str:
    if not failed:
        return sentence("No case failed as a whole; some lost a region (below)." if region_failures else "No case failed.")
    rows = (
        f'<tr><td>{escape(str(case.get("case_id", "")))}</td>'
        f'<td class="text">{escape(str(case.get("error", "")))}</td></tr>'
        for case in failed
    )
    caption = "1 case failed and was left out" if len(failed) == 1 else f"{len(failed)} cases failed and were left out"
    return table(header_row("Case", "Error"), rows, caption=caption)


def _region_failures(region_failures: Mapping[str, Mapping[str, Any]]) -> str:
    """Per region, the cases whose region failed (every feature imputed with the training median) or lost some
    features (those imputed), with the reasons recorded at extraction."""
    if not region_failures:
        return ""
    rows = []
    for region, failures in region_failures.items():
        failed, partly = list(failures.get("failed") or []), list(failures.get("partly_imputed") or [])
        reasons = "; ".join(f"{reason} ({count})" for reason, count in (failures.get("reasons") or {}).items())
        shown = ", ".join(failed[:10]) + (f" and {len(failed) - 10} more" if len(failed) > 10 else "")
        rows.append(row(escape(region_name(region)), str(len(failed)), str(len(partly)), escape(reasons or MISSING),
                        escape(shown or MISSING), text_columns=(3, 4)))
    header = header_row("Region", "Failed (all features imputed)", "Some features imputed", "Reasons", "Failed cases")
    return sentence(
        "A region that could not be analysed in a case (an empty habitat, say) leaves its features missing; training "
        "imputes them with the training split's median, so these cases are scored on imputed values for that region."
    ) + table(header, rows, caption="Cases with a failed or incomplete region")


def _warnings_section(summary: Summary) -> str:
    if "warnings" not in summary:
        return sentence("Warnings were not recorded for this run.")
    counts = summary.get("warnings") or {}
    during = "evaluation" if summary.get("kind") == "evaluation" else "training"
    if not counts:
        return sentence(f"No warning was raised during {during}.")
    items = []
    for key, count in counts.items():
        category, _, message = str(key).partition(": ")
        items.append(f"<li><strong>{escape(category)} × {int(count)}</strong>: {escape(message)}</li>")
    total = sum(int(count) for count in counts.values())
    intro = sentence(f"{total} warnings of {len(counts)} kinds were raised during {during}, each kind once below with "
                     "its count.")
    return f'{intro}<ul class="warnings">{"".join(items)}</ul>'


def _selection_section(summary: Summary, regions: Sequence[str], figures: FigureFiles) -> str:
    selection = summary.get("selection") or {}
    if not selection:
        if summary.get("kind") == "evaluation":
            return sentence("An evaluation applies the trained model's feature selection unchanged: it is in the "
                            "model's training report.")
        return sentence("No feature selection results were recorded.")
    intro = sentence(
        "Per region: z-scored features → Spearman redundancy filter → mRMR → LASSO tuned by cross-validation "
        "(α is scikit-learn's name for the paper's λ; logarithms are natural)."
    )
    parts = [intro, _harmonisation_sentence(summary.get("harmonisation")), _selection_counts_table(selection, regions)]
    for region in regions:
        parts.append(f"<h3>{escape(region_label(summary, region))}</h3>")
        if region in selection:
            parts.append(_region_selection(region, selection[region], figures))
        else:
            parts.append(sentence("No feature selection was recorded for this region."))
    return "".join(parts)


def _harmonisation_sentence(harmonisation: Mapping[str, Any] | None) -> str:
    if not harmonisation:
        return ""
    batches = ", ".join(str(b) for b in harmonisation.get("batches") or [])
    return sentence(
        f"Before selection, {harmonisation.get('features_harmonised', MISSING)} features were harmonised across the "
        f"batches {batches} with ComBat fitted on the training split (shape features and features missing in some "
        "case left as they are)."
    )


def _selection_counts_table(selection: Mapping[str, Any], regions: Sequence[str]) -> str:
    header = header_row("Region", "Input", "After Spearman", "After mRMR", "After LASSO", "Chosen α")
    rows = []
    for region in (r for r in regions if r in selection):
        stages = selection[region]
        counts = (stages.get("n_input"), stages.get("n_after_spearman"), stages.get("n_after_mrmr"))
        cells = [str(count) if is_number(count) else MISSING for count in counts]
        cells.append(str(len(stages.get("selected") or [])))
        cells.append(fmt_coefficient((stages.get("lasso") or {}).get("alpha")))
        rows.append(f"<tr><td>{escape(region_name(region))}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return table(header, rows, caption="Number of features after each selection stage")


def _region_selection(region: str, stages: Mapping[str, Any], figures: FigureFiles) -> str:
    lasso = stages.get("lasso") or {}
    selected = list(stages.get("selected") or [])
    parts = [_selected_features_table(selected, lasso)]
    if _has_lasso_path(lasso):
        parts.append(
            figures.html(
                _lasso_figure(lasso, selected),
                lasso_name(region),
                alt=f"LASSO tuning and coefficient profiles of {region_name(region)}",
                caption=(
                    f"{region_name(region)}: left, cross-validated MSE (mean ± SD over folds) against log(α); "
                    "right, coefficient profiles (selected features in colour, the others grey). "
                    "The dashed line marks the chosen α."
                ),
            )
        )
    else:
        parts.append(sentence("The LASSO path was not recorded for this region."))
    return "".join(parts)


def _selected_features_table(selected: Sequence[str], lasso: Mapping[str, Any]) -> str:
    if not selected:
        return sentence("LASSO kept no feature in this region.")
    coefficients = lasso.get("coef") or {}

    def magnitude(feature: str) -> float:
        value = coefficients.get(feature)
        return abs(value) if is_number(value) else 0.0

    # Largest effect first: readers look for the features that drive the model.
    ordered = sorted(selected, key=magnitude, reverse=True)
    rows = [
        f'<tr><td class="text">{escape(feature)}</td><td>{fmt_coefficient(coefficients.get(feature))}</td></tr>'
        for feature in ordered
    ]
    rows.append(f"<tr><td><em>Intercept</em></td><td>{fmt_coefficient(lasso.get('intercept'))}</td></tr>")
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
        color=GROUP_COLOURS["high"],
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
