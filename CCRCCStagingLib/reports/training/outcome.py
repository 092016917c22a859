"""The training report's outcome sections: the Radscore with its Youden cutoff, the risk groups and the per-split
waterfall (the paper's Fig. 5C-E), and Kaplan-Meier curves of the risk groups (Fig. 5B)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..kit import figure_html, fmt, fmt_p, header_row, is_number, new_figure, plot_text, sentence, table
from .names import (
    GROUP_COLOURS, OTHER_COLOUR, RISK_NAMES, T_STAGE_NAMES, Summary, fmt_coefficient, ordered_splits, region_label,
    split_name,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def radscore_section(summary: Summary) -> str:
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
        f"<p>Youden cutoff: <strong>{fmt_coefficient(cutoff)}</strong>. Cases with Radscore ≥ cutoff are "
        "high risk, the others low risk.</p>"
    )
    if not scores:
        parts.append(sentence("No per-case Radscores were recorded."))
        return "".join(parts)
    by_split: dict[str, list[Mapping[str, Any]]] = {}
    for score in scores:
        by_split.setdefault(str(score.get("split")), []).append(score)
    splits = ordered_splits(by_split)
    parts.append(_risk_table(by_split, splits))
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
    lines = [f"Radscore = {fmt_coefficient(radscore.get('intercept'))}"]
    for feature, coefficient in coefficients.items():
        negative = is_number(coefficient) and coefficient < 0
        magnitude = fmt_coefficient(abs(coefficient) if negative else coefficient)
        lines.append(f"         {'−' if negative else '+'} {magnitude} × z({escape(feature)})")
    region = radscore.get("region")
    source = f" of {escape(region_label(summary, region))}" if region else ""
    return (
        f"<p>The Radscore is the LASSO linear predictor{source}, with {len(coefficients)} terms; "
        "z(·) is the feature z-scored with the training mean and SD.</p>"
        f'<div class="formula">{"<br>".join(lines)}</div>'
    )


def _risk_table(by_split: Mapping[str, Sequence[Mapping[str, Any]]], splits: Sequence[str]) -> str:
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
            f"<tr><td>{escape(split_name(split))}</td><td>{len(scores)}</td><td>{len(high)}</td>"
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
            color=[GROUP_COLOURS.get(s.get("group"), OTHER_COLOUR) for s in ordered],
            linewidth=0,
        )
        axes.axhline(0.0, color="black", linewidth=0.8)
        axes.set(xticks=[], xlabel="Cases sorted by Radscore")
        axes.set_title(plot_text(f"{split_name(split)} (n = {len(ordered)})"), fontsize=9)
    axes_row[0].set_ylabel("Radscore − cutoff")
    handles = [Patch(color=GROUP_COLOURS[group], label=T_STAGE_NAMES[group]) for group in ("low", "high")]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return figure


def survival_section(summary: Summary) -> str:
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
        colour = GROUP_COLOURS.get(group, OTHER_COLOUR)
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
