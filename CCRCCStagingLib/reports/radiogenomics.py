"""The HTML report of ``ccrcc-staging radiogenomics``, laid out like the paper's Fig. 6: soft-threshold choice,
gene dendrogram with module colours (6A), module–Radscore correlations (6B), GO/KEGG enrichment of the most
correlated modules (6C–F). One self-contained file built with the report kit (:mod:`.kit`); the tables are also CSV
files. It takes plain data (the run's summary and the :class:`ModuleTree` of the network), so that presentation
never reaches back into the computation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ..core.palette import HIGH_GROUP_COLOUR, module_colour
from .kit import (
    MISSING, TEXT_COLOUR, figure_html, fmt, fmt_p, header_row, new_figure, page, plot_text, provenance_footer, row,
    sentence, swatch, table, write_page,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Summary = Mapping[str, Any]
#: Bars and lines that are not highlighted.
_GREY = "#8a929c"


class ModuleTree(Protocol):
    """What the report draws of a WGCNA network (``radiogenomics.analysis.Network`` is one): the average-linkage gene
    tree (a SciPy linkage matrix over 1 − TOM) and each gene's module label before and after merging (0: none)."""

    tree: np.ndarray
    unmerged_labels: np.ndarray
    labels: np.ndarray
# R colour names matplotlib does not know.
_EXTRA_COLOURS = {"grey60": "#999999"}


def colour_rgb(name: str) -> tuple[float, float, float]:
    """RGB of a WGCNA module colour; modules past R's palette get a tab20 colour by number."""
    from matplotlib import colormaps, colors

    if name.startswith("module") and name[6:].isdigit():
        return colormaps["tab20"](int(name[6:]) % 20)[:3]
    return colors.to_rgb(_EXTRA_COLOURS.get(name, name))


def render_radiogenomics_report(summary: Summary, network: ModuleTree, genes: pd.DataFrame, out_path: Path) -> None:
    """Write the report of one run to ``out_path`` (atomically). ``genes`` (the per-gene table) is written as CSV
    by the analysis and not repeated here."""
    sections = (
        ("inputs", "Samples and genes", _inputs_section(summary)),
        ("power", "Soft-threshold power", _power_section(summary)),
        ("modules", "Gene modules", _modules_section(network)),
        ("radscore", "Module–Radscore correlation", _correlation_section(summary)),
        ("enrichment", "GO and KEGG enrichment", _enrichment_section(summary)),
    )
    header = (
        f"<header><h1>{escape(summary['title'])}</h1><p class=\"meta\">Run of {escape(summary['created'])} · "
        f"{summary['samples']['paired']} cases · {summary['genes']['analysed']} genes</p>"
        '<p class="disclaimer">Research software — associations, not mechanisms; not for clinical use.</p></header>\n'
    )
    write_page(page(summary["title"], header, sections, provenance_footer(summary)), out_path)


def _inputs_section(summary: Summary) -> str:
    samples, genes = summary["samples"], summary["genes"]
    lines = [
        f"{samples['paired']} cases paired with an expression sample; {len(samples['unmatched'])} without one.",
        f"{genes['analysed']} of {genes['in_table']} genes analysed.",
        *[note[0].upper() + note[1:] + "." for note in summary["notes"]],
    ]
    html = "".join(sentence(line) for line in lines)
    if samples["unmatched"]:
        rows = (row(escape(r["case_id"]), escape(r["reason"]), text_columns=(1,)) for r in samples["unmatched"])
        html += table(header_row("Case", "Why unmatched"), rows, caption="Cases without expression")
    return html


def _power_section(summary: Summary) -> str:
    power = summary["power"]
    rows = (
        row(f"{fit['power']:g}", fmt(fit["signed_r2"]), fmt(fit["slope"], 2), fmt(fit["mean_connectivity"], 1))
        for fit in power["table"]
    )
    return (
        sentence(f"Power {power['value']:g}: {power['reason']}.")
        + figure_html(_power_figure(power, summary["settings"]["scale_free_r2"]), "Scale-free fit by power",
                      "Scale-free topology fit (signed R²) and mean connectivity by soft-threshold power.")
        + table(header_row("Power", "Signed R²", "Slope", "Mean connectivity"), rows,
                caption="pickSoftThreshold table")
    )


def _power_figure(power: Mapping[str, Any], r2_cut: float) -> Figure:
    figure = new_figure(8.5, 3.2)
    fit_axes, connectivity_axes = figure.subplots(1, 2)
    powers = [row["power"] for row in power["table"]]
    for axes, key, label in ((fit_axes, "signed_r2", "Scale-free fit, signed R²"),
                             (connectivity_axes, "mean_connectivity", "Mean connectivity")):
        values = [row[key] for row in power["table"]]
        axes.plot(powers, values, color=_GREY, linewidth=0.8)
        for x, y in zip(powers, values):
            axes.text(x, y, f"{x:g}", ha="center", va="center", fontsize=8,
                      color=HIGH_GROUP_COLOUR if x == power["value"] else TEXT_COLOUR)
        axes.set_xlabel("Soft-threshold power")
        axes.set_ylabel(label)
    fit_axes.axhline(r2_cut, color=HIGH_GROUP_COLOUR, linewidth=0.8, linestyle="--")
    connectivity_axes.set_yscale("log")
    return figure


def _modules_section(network: ModuleTree) -> str:
    sizes = pd.Series(network.labels).value_counts()
    summary = ", ".join(f"{module_colour(m)} {sizes[m]}" for m in sorted(sizes.index) if m != 0)
    return (
        sentence(f"{len(sizes) - (0 in sizes.index)} modules ({summary}); {int(sizes.get(0, 0))} genes in no module "
                 "(grey).")
        + figure_html(_dendrogram_figure(network), "Gene dendrogram with module colours",
                      "Average-linkage clustering of 1 − TOM with the modules of the dynamic tree cut and after "
                      "merging close modules (as the paper's Fig. 6A).")
    )


def dendrogram_segments(tree: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Leaf order and the ⊓-shaped line of every merge as (n − 1) × 4 × 2 points, leaves at x = 0, 1, ….

    Iterative, unlike SciPy's ``dendrogram``, which recurses once per tree level and overflows Python's stack on
    gene trees (thousands of levels)."""
    from scipy.cluster import hierarchy

    n = len(tree) + 1
    order = hierarchy.leaves_list(tree)
    x = np.empty(2 * n - 1)
    x[order] = np.arange(n)
    y = np.zeros(2 * n - 1)
    left, right = tree[:, 0].astype(int), tree[:, 1].astype(int)
    for merge in range(n - 1):  # children always come before their parent in a linkage matrix
        x[n + merge] = (x[left[merge]] + x[right[merge]]) / 2
        y[n + merge] = tree[merge, 2]
    height = tree[:, 2]
    segments = np.stack([
        np.column_stack([x[left], y[left]]), np.column_stack([x[left], height]),
        np.column_stack([x[right], height]), np.column_stack([x[right], y[right]]),
    ], axis=1)
    return order, segments


def _dendrogram_figure(network: ModuleTree) -> Figure:
    from matplotlib.collections import LineCollection

    order, segments = dendrogram_segments(network.tree)
    n = len(order)
    figure = new_figure(9.0, 4.2)
    tree_axes, colour_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
    tree_axes.add_collection(LineCollection(segments, colors=TEXT_COLOUR, linewidths=0.3))
    tree_axes.set_xlim(-0.5, n - 0.5)
    tree_axes.set_ylim(min(network.tree[:, 2].min(), 1.0) - 0.01, max(1.0, network.tree[:, 2].max()))
    tree_axes.set_ylabel("1 − TOM")
    tree_axes.set_xticks([])
    rows = [[colour_rgb(module_colour(m)) for m in labels[order]] for labels in (network.unmerged_labels,
                                                                                  network.labels)]
    colour_axes.imshow(np.array(rows), aspect="auto", interpolation="nearest", extent=(-0.5, n - 0.5, 2, 0))
    colour_axes.set_yticks([0.5, 1.5], ["Dynamic tree cut", "Merged"], fontsize=8)
    colour_axes.set_xticks([])
    return figure


def _correlation_section(summary: Summary) -> str:
    modules = summary["modules"]
    rows = (
        row(_swatch(m["module"]) + escape(m["module"]), str(m["size"]), fmt(m["r"]), fmt_p(m["p_value"]),
            fmt_p(m["p_adjusted"]) if m["label"] else MISSING, fmt(m["variance_explained"], 2))
        for m in modules
    )
    return (
        figure_html(_heatmap_figure(modules), "Module–Radscore correlation heatmap",
                    "Pearson correlation of each module eigengene with the Radscore, with its p-value (Fig. 6B).")
        + table(header_row("Module", "Genes", "r", "p", "p (BH over modules)", "Variance explained"), rows,
                caption="Modules ranked by their correlation with the Radscore (grey: genes in no module)")
    )


def _swatch(module: str) -> str:
    red, green, blue = (int(round(255 * c)) for c in colour_rgb(module))
    return swatch(f"rgb({red},{green},{blue})")


def _heatmap_figure(modules: Sequence[Mapping[str, Any]]) -> Figure:
    figure = new_figure(4.2, 0.9 + 0.32 * len(modules))
    axes = figure.subplots()
    r = np.array([[m["r"]] for m in modules])
    limit = max(0.3, float(np.nanmax(np.abs(r))))
    image = axes.imshow(r, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for position, module in enumerate(modules):
        dark = abs(module["r"]) > 0.6 * limit  # white text on the saturated end of the colour map
        axes.text(0, position, f"{module['r']:.2f} ({fmt_p(module['p_value'])})", ha="center", va="center", fontsize=8,
                  color="white" if dark else TEXT_COLOUR)
    axes.set_yticks(range(len(modules)), [plot_text(f"ME{m['module']}") for m in modules], fontsize=8)
    axes.set_xticks([0], ["Radscore"])
    figure.colorbar(image, ax=axes, label="r")
    return figure


def _enrichment_section(summary: Summary) -> str:
    terms = pd.DataFrame(summary["top_terms"])
    if terms.empty:
        return sentence("No module was annotated (no gene set in the size range, or --enrich-modules 0).")
    html = sentence(
        f"Over-representation (hypergeometric test, Benjamini–Hochberg within each collection) of the "
        f"{summary['settings']['enrich_modules']} modules most correlated with the Radscore; top "
        f"{summary['settings']['top_terms']} terms per collection. Full results in enrichment.csv."
    )
    for module, rows in terms.groupby("module", sort=False):
        html += f"<h3>{_swatch(module)}{escape(module)} module</h3>"
        html += figure_html(_enrichment_figure(rows), f"Top terms of the {module} module",
                            "Bars: −log10 p; labels: genes of the module in the term / term size.")
        body = (
            row(escape(r.collection), escape(r.term), f"{r.overlap}/{r.set_size}", fmt(r.fold_enrichment, 1),
                fmt_p(r.p_value), fmt_p(r.p_adjusted), text_columns=(0, 1))
            for r in rows.itertuples()
        )
        html += table(header_row("Collection", "Term", "Genes", "Fold", "p", "p (BH)"), body)
    return html


def _enrichment_figure(rows: pd.DataFrame) -> Figure:
    figure = new_figure(8.5, 0.8 + 0.3 * len(rows))
    axes = figure.subplots()
    labels = [plot_text(f"{r.collection}: {r.term}")[:70] for r in rows.itertuples()]
    values = -np.log10(np.maximum(rows["p_value"].to_numpy(float), 1e-300))
    positions = np.arange(len(rows))[::-1]
    axes.barh(positions, values, color=[HIGH_GROUP_COLOUR if p < 0.05 else _GREY for p in rows["p_adjusted"]])
    for y, value, r in zip(positions, values, rows.itertuples()):
        axes.text(value, y, f" {r.overlap}/{r.set_size}", va="center", fontsize=7)
    axes.set_yticks(positions, labels, fontsize=7)
    axes.set_xlabel("−log10 p (red: BH-adjusted p < 0.05)")
    return figure
