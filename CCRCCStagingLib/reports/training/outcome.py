"""The training report's outcome sections: the Radscore with its Youden cutoff, the risk groups and the per-split
waterfall (the paper's Fig. 5C-E), and Kaplan-Meier curves of the risk groups (Fig. 5B) with the number at risk at
regular times under each plot, in the figure and as a table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from ..kit import fmt, fmt_p, header_row, is_number, new_figure, plot_text, row, sentence, table
from .figures import WATERFALL_NAME, FigureFiles, kaplan_meier_name
from .names import (
    GROUP_COLOURS, OTHER_COLOUR, RISK_NAMES, T_STAGE_NAMES, Summary, fmt_coefficient, ordered_splits, region_label,
    split_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The unit of follow-up: the manifest's ``os_time`` is in days (``training.manifest``).
TIME_UNIT = "days"


def radscore_section(summary: Summary, figures: FigureFiles) -> str:
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
        figures.html(
            _waterfall_figure(by_split, splits, cutoff),
            WATERFALL_NAME,
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


def survival_section(summary: Summary, figures: FigureFiles) -> str:
    survival = summary.get("survival") or {}
    if not survival:
        return sentence("No survival data were provided, so no Kaplan–Meier analysis was run.")
    parts = []
    for entry_key, entry in survival.items():
        curves = [curve for curve in entry.get("curves") or [] if _has_km_curve(curve)]
        name = survival_entry_name(entry_key)
        title = f"{name}: log-rank {fmt_p(entry.get('logrank_p'))}"
        if not curves:
            parts.append(sentence(f"{title}; no Kaplan–Meier curve was recorded."))
            continue
        times = at_risk_times(curves)
        parts.append(
            figures.html(
                _km_figure(title, curves, times),
                kaplan_meier_name(entry_key),
                alt=f"Kaplan–Meier curves of {name}",
                caption=(
                    f"{name}: Kaplan–Meier estimate per Radscore risk group with 95% confidence band, time in "
                    f"{TIME_UNIT}; log-rank χ² = {fmt(entry.get('logrank_statistic'), 2)}, "
                    f"{fmt_p(entry.get('logrank_p'))}."
                ),
            )
        )
        parts.append(_at_risk_table(name, curves, times))
    return "".join(parts)


def survival_entry_name(entry_key: str) -> str:
    """The reader's name of a survival entry: ``all`` (every usable case) or a split."""
    return "All cases" if entry_key == "all" else split_name(entry_key)


def _has_km_curve(curve: Mapping[str, Any]) -> bool:
    timeline = curve.get("timeline") or []
    return bool(timeline) and len(timeline) == len(curve.get("survival") or [])


def _has_at_risk(curve: Mapping[str, Any]) -> bool:
    return len(curve.get("at_risk") or []) == len(curve["timeline"])


def at_risk_times(curves: Sequence[Mapping[str, Any]]) -> list[float]:
    """Regular times from 0 to the last follow-up (matplotlib's choice of round steps): the x ticks of the plot and
    the columns of the number-at-risk table."""
    from matplotlib.ticker import MaxNLocator

    end = max(max(curve["timeline"]) for curve in curves)
    if end <= 0:
        return [0.0]
    return [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(0, end) if 0 <= t <= end]


def number_at_risk(curve: Mapping[str, Any], time: float) -> int:
    """Cases of the group still followed at ``time`` (time ≥ it): the count at the first timeline point ≥ ``time``, as no
    case's time lies between two timeline points; 0 after the last."""
    index = next((i for i, t in enumerate(curve["timeline"]) if t >= time), None)
    return 0 if index is None else int(curve["at_risk"][index])


def _at_risk_table(name: str, curves: Sequence[Mapping[str, Any]], times: Sequence[float]) -> str:
    if not all(_has_at_risk(curve) for curve in curves):
        return sentence("The number at risk was not recorded for these curves.")
    header = header_row(f"Time ({TIME_UNIT})", *(fmt_time(t) for t in times))
    rows = [row(escape(_group_name(curve)), *(str(number_at_risk(curve, t)) for t in times)) for curve in curves]
    return table(header, rows, caption=f"{name}: number at risk")


def fmt_time(time: float) -> str:
    """A tick time: whole numbers without decimals (the steps are round)."""
    return fmt(int(time)) if float(time).is_integer() else fmt(time, 1)


def _group_name(curve: Mapping[str, Any]) -> str:
    group = str(curve.get("group"))
    return RISK_NAMES.get(group, group)


def _km_figure(title: str, curves: Sequence[Mapping[str, Any]], times: Sequence[float]) -> Figure:
    with_table = all(_has_at_risk(curve) for curve in curves)
    table_height = 0.24 * len(curves) + 0.35
    figure = new_figure(6.4, 4.4 + (table_height if with_table else 0.0))
    if with_table:
        axes, risk_axes = figure.subplots(2, 1, height_ratios=[4.4, table_height])
    else:
        axes = figure.add_subplot()
    for curve in curves:
        colour = GROUP_COLOURS.get(str(curve.get("group")), OTHER_COLOUR)
        label = f"{_group_name(curve)} (n = {curve.get('n', '?')}, {curve.get('events', '?')} events)"
        timeline = curve["timeline"]
        axes.step(timeline, curve["survival"], where="post", color=colour, linewidth=1.5, label=plot_text(label))
        lower, upper = curve.get("ci_lower") or [], curve.get("ci_upper") or []
        if len(lower) == len(upper) == len(timeline):
            axes.fill_between(timeline, lower, upper, step="post", color=colour, alpha=0.18, linewidth=0)
    axes.set(ylim=(0, 1.02), xlabel=f"Time ({TIME_UNIT})", ylabel="Survival probability", xticks=list(times))
    axes.set_xticklabels([fmt_time(t) for t in times])
    axes.set_title(plot_text(title), fontsize=10)
    axes.legend(loc="lower left", fontsize=8, frameon=False)
    if with_table:
        _draw_at_risk(risk_axes, curves, times, axes.get_xlim())
    return figure


def _draw_at_risk(
    axes: Axes, curves: Sequence[Mapping[str, Any]], times: Sequence[float], xlim: tuple[float, float]
) -> None:
    """The number-at-risk rows under the plot, one per group named in its colour, at the plot's time ticks, as
    journals print them."""
    axes.set(xlim=xlim, ylim=(len(curves) - 0.5, -0.5), xticks=[], yticks=list(range(len(curves))))
    axes.set_yticklabels([plot_text(_group_name(curve)) for curve in curves], fontsize=8)
    for label, curve in zip(axes.get_yticklabels(), curves):
        label.set_color(GROUP_COLOURS.get(str(curve.get("group")), OTHER_COLOUR))
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title("Number at risk", fontsize=8, loc="left")
    for line, curve in enumerate(curves):
        for time in times:
            axes.text(time, line, str(number_at_risk(curve, time)), fontsize=8, ha="center", va="center")
