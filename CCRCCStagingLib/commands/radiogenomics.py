"""``radiogenomics``: compute the network, modules and enrichment, then render the report."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.files import output_lock
from ..radiogenomics.analysis import REPORT_FILE, RadiogenomicsSettings, run_radiogenomics
from ..reports.radiogenomics import render_radiogenomics_report
from .common import progress


def radiogenomics(
    expression_path: Path, radscore_path: Path, gene_set_arguments: Sequence[str], out_dir: Path,
    settings: RadiogenomicsSettings = RadiogenomicsSettings(), **options: Any,
) -> dict[str, Any]:
    """The step and its report in ``out_dir`` (locked while written); returns the summary (``options``: those of
    ``run_radiogenomics``)."""
    with output_lock(out_dir):
        result = run_radiogenomics(expression_path, radscore_path, gene_set_arguments, out_dir, settings, **options)
        render_radiogenomics_report(result.summary, result.network, result.genes, out_dir / REPORT_FILE)
    return result.summary


def run_command(args: argparse.Namespace) -> int:
    """``radiogenomics``: WGCNA modules of the expression table against the Radscore, and their enrichment."""
    settings = RadiogenomicsSettings(
        power=args.power, network_type=args.network, min_module_size=args.min_module_size,
        deep_split=args.deep_split, merge_cut_height=args.merge_cut_height, top_genes=args.top_genes,
        variability=args.variability, log2=args.log2, enrich_modules=args.enrich_modules, top_terms=args.top_terms,
        min_set_size=args.min_set_size, max_set_size=args.max_set_size, background=args.background,
        bh_scope=args.bh_scope, max_memory_gb=args.max_memory_gb,
    )
    out_dir = Path(args.out)
    summary = radiogenomics(
        Path(args.expression), Path(args.radscore), args.gene_sets, out_dir, settings,
        sample_map_path=Path(args.sample_map) if args.sample_map else None, overwrite=args.overwrite,
        progress=progress,
    )
    print(f"{summary['samples']['paired']} cases, {summary['genes']['analysed']} genes, power "
          f"{summary['power']['value']:g}, {sum(m['label'] != 0 for m in summary['modules'])} modules")
    for module in [m for m in summary["modules"] if m["label"] != 0][:settings.enrich_modules]:
        print(f"  {module['module']}: {module['size']} genes, r = {module['r']:.3f}, p = {module['p_value']:.3g}")
        for term in [t for t in summary["top_terms"] if t["module"] == module["module"]][:3]:
            print(f"    {term['collection']}: {term['term']} (p = {term['p_value']:.3g}, BH {term['p_adjusted']:.3g})")
    print(f"report: {out_dir / REPORT_FILE}")
    return 0
