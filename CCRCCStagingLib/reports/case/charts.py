"""The case report's small charts: the probability gauge, the Radscore against the training cases, and the habitat
fractions bar."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...core.palette import HIGH_GROUP_COLOUR, LOW_GROUP_COLOUR, habitat_colour, rgb
from ...core.schema import CaseResult
from ..kit import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_INK = "#222222"


def _angle(p: float) -> float:
    """The gauge's angle (degrees) of a probability: 0 on the left, 1 on the right."""
    return 180.0 * (1.0 - min(max(p, 0.0), 1.0))


def gauge_figure(probability: float, threshold: float) -> Figure:
    """A half-dial from 0 to 1: the low side in blue, the high side (≥ threshold) in red, a needle at the probability
    and a tick at the threshold."""
    from matplotlib.patches import Wedge

    figure = new_figure(3.4, 2.0, False)
    axes = figure.add_axes([0.02, 0.02, 0.96, 0.96])
    axes.set_xlim(-1.25, 1.25)
    axes.set_ylim(-0.32, 1.2)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.add_patch(Wedge((0, 0), 1.0, _angle(threshold), 180.0, width=0.28, facecolor=LOW_GROUP_COLOUR, alpha=0.85))
    axes.add_patch(Wedge((0, 0), 1.0, 0.0, _angle(threshold), width=0.28, facecolor=HIGH_GROUP_COLOUR, alpha=0.85))
    _threshold_tick(axes, threshold)
    phi = math.radians(_angle(probability))
    axes.annotate("", xy=(0.9 * math.cos(phi), 0.9 * math.sin(phi)), xytext=(0, 0),
                  arrowprops=dict(arrowstyle="-|>", color=_INK, linewidth=2.0, mutation_scale=12))
    axes.add_patch(Wedge((0, 0), 0.07, 0, 360, facecolor=_INK))
    axes.text(-1.0 + 0.14, -0.1, "0", fontsize=7, ha="center", va="top")
    axes.text(1.0 - 0.14, -0.1, "1", fontsize=7, ha="center", va="top")
    axes.text(-0.86, -0.22, "T1–T2", fontsize=7.5, ha="center", va="top", color=LOW_GROUP_COLOUR, fontweight="bold")
    axes.text(0.86, -0.22, "T3–T4", fontsize=7.5, ha="center", va="top", color=HIGH_GROUP_COLOUR, fontweight="bold")
    axes.text(0, -0.14, f"P(T3–T4) = {probability:.2f}", fontsize=10, ha="center", va="top", fontweight="bold")
    return figure


def _threshold_tick(axes: Axes, threshold: float) -> None:
    theta = math.radians(_angle(threshold))
    cos, sin = math.cos(theta), math.sin(theta)
    axes.plot([0.66 * cos, 1.08 * cos], [0.66 * sin, 1.08 * sin], color="black", linewidth=1.6)
    align = "center" if abs(cos) < 0.3 else ("left" if cos > 0 else "right")
    axes.text(1.13 * cos, 1.13 * sin, f"threshold {threshold:.2f}", fontsize=7, ha=align, va="bottom")


def radscore_figure(score: float, cutoff: float, training: Iterable[float]) -> Figure:
    """The case's Radscore against the cutoff and the histogram of the training cases' Radscores."""
    import numpy as np

    values = np.array([v for v in training if math.isfinite(v)], dtype=float)
    figure = new_figure(4.6, 2.0, False)
    axes = figure.add_axes([0.1, 0.24, 0.86, 0.62])
    low = min([score, cutoff, *(values.tolist() or [score])])
    high = max([score, cutoff, *(values.tolist() or [score])])
    pad = 0.08 * (high - low or 1.0)
    low, high = low - pad, high + pad
    axes.axvspan(low, cutoff, color=LOW_GROUP_COLOUR, alpha=0.10, linewidth=0)
    axes.axvspan(cutoff, high, color=HIGH_GROUP_COLOUR, alpha=0.10, linewidth=0)
    if values.size:
        axes.hist(values, bins=min(25, max(5, values.size // 4)), range=(low, high), color="#8d96a3", edgecolor="white",
                  linewidth=0.5, label=f"training cases (n = {values.size})")
    axes.axvline(cutoff, color="black", linestyle="--", linewidth=1.0, label=f"cutoff {cutoff:.2f}")
    axes.axvline(score, color=HIGH_GROUP_COLOUR if score >= cutoff else LOW_GROUP_COLOUR, linewidth=2.2,
                 label=f"this case {score:.2f}")
    axes.set_xlim(low, high)
    axes.set_xlabel("Radscore", fontsize=7.5, labelpad=1)
    axes.set_ylabel("cases", fontsize=7.5)
    axes.tick_params(labelsize=7)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=6.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                handlelength=1.4, columnspacing=1.0)
    return figure


def _label_colour(background: str) -> str:
    """Black on light colours, white on the palette's dark ones (blue, wine, indigo)."""
    red, green, blue = rgb(background)
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.4 else "white"


def fractions_figure(result: CaseResult) -> Figure:
    """One horizontal bar: the tumour divided into its habitats, in the habitat colours."""
    habitats = result.habitat_labels
    whole = result.voxels("whole") or sum(result.voxels(f"sub{n}") for n, _ in habitats) or 1
    figure = new_figure(6.4, 0.75, False)
    axes = figure.add_axes([0.01, 0.08, 0.98, 0.84])
    start = 0.0
    for number, _ in habitats:
        fraction = result.voxels(f"sub{number}") / whole
        colour = habitat_colour(number)
        axes.barh(0, fraction, left=start, color=colour, edgecolor="white", height=0.8)
        if fraction > 0.06:
            axes.text(start + fraction / 2, 0, f"H{number} {100 * fraction:.0f}%", ha="center", va="center",
                      fontsize=8, color=_label_colour(colour), fontweight="bold")
        start += fraction
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.5, 0.5)
    axes.axis("off")
    return figure
