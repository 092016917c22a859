"""``ccrcc-staging radiogenomics``: gene co-expression modules against the Radscore, and what the modules do.

The paper's radiogenomics step (Huang et al. 2026, "Radiogenomics analysis" and Fig. 6): WGCNA on the
expression of the cases that have a Radscore, module eigengenes correlated with the Radscore, and GO/KEGG
over-representation of the most correlated modules' genes. Data flow, one way:

expression table + Radscores → paired samples → gene filter → network → modules → module–Radscore table →
enrichment of the top modules → CSV tables, summary JSON and an HTML report.

Everything runs offline: gene sets come from GMT files the user supplies (MSigDB's GO and KEGG collections,
for instance).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import enrichment

from . import expression

from . import wgcna
from ..core.errors import GeneSetError, SettingsError
from ..core.files import atomic_path, csv_safe_frame, prepare_output_dir
from .treecut import cutree_hybrid

MATCHING_FILE = "matching.csv"
SOFT_THRESHOLD_FILE = "soft_threshold.csv"
MODULES_FILE = "modules.csv"
GENES_FILE = "genes.csv"
EIGENGENES_FILE = "eigengenes.csv"
ENRICHMENT_FILE = "enrichment.csv"
SUMMARY_FILE = "radiogenomics_summary.json"
REPORT_FILE = "radiogenomics_report.html"
OUTPUT_FILES = (MATCHING_FILE, SOFT_THRESHOLD_FILE, MODULES_FILE, GENES_FILE, EIGENGENES_FILE, ENRICHMENT_FILE,
                SUMMARY_FILE, REPORT_FILE)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RadiogenomicsSettings:
    """Every choice of the step. Defaults: the paper where it says (power chosen by scale-free fit — it used 5 —,
    average linkage, modules of ≥ 100 genes), WGCNA's tutorial and clusterProfiler where it does not."""

    #: Soft-threshold power; ``None`` picks it by the scale-free fit (``pickSoftThreshold``).
    power: float | None = None
    candidate_powers: tuple[float, ...] = wgcna.DEFAULT_POWERS
    #: Signed scale-free R² the chosen power must reach (WGCNA's ``RsquaredCut``).
    scale_free_r2: float = 0.85
    #: ``unsigned`` (WGCNA's default and step-by-step tutorial) or ``signed``.
    network_type: str = "unsigned"
    min_module_size: int = 100
    #: Dynamic tree cut sensitivity 0–4 and PAM stage as in WGCNA's tutorial (``deepSplit = 2``,
    #: ``pamRespectsDendro = FALSE``).
    deep_split: int = 2
    pam_respects_dendro: bool = False
    #: Modules whose eigengenes correlate above 1 − this are merged (tutorial 0.25; 0 = no merging). The paper
    #: does not say whether it merged.
    merge_cut_height: float = 0.25
    #: Most variable genes kept (0 = all): memory and time grow with genes².
    top_genes: int = 5000
    variability: str = "mad"
    #: ``auto`` applies log2(x + 1) to tables that look unlogged; ``yes``/``no`` force it.
    log2: str = "auto"
    #: How many of the most Radscore-correlated modules are annotated (the paper: two, pink and turquoise).
    enrich_modules: int = 2
    #: Terms listed per module and collection in the report (the paper: top 3 KEGG pathways).
    top_terms: int = 3
    min_set_size: int = 10
    max_set_size: int = 500
    #: Enrichment background: ``annotated`` = analysed genes found in the collection (clusterProfiler's
    #: universe), ``analysed`` = every analysed gene.
    background: str = "annotated"
    #: Terms counted in the BH adjustment: ``tested`` = every term in the size range (conservative) or
    #: ``hit`` = only terms with at least one module gene (clusterProfiler and gseapy).
    bh_scope: str = "tested"
    #: Refuse to build a network whose estimated peak memory exceeds this.
    max_memory_gb: float = 8.0

    def __post_init__(self) -> None:
        choices = {
            "network_type": ("unsigned", "signed"), "variability": ("mad", "variance"),
            "log2": ("auto", "yes", "no"), "background": ("annotated", "analysed"), "bh_scope": ("tested", "hit"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}.")
        if self.power is not None and not 0 < self.power <= 50:
            raise SettingsError(f"Soft-threshold power {self.power} is invalid: use 'auto' or a number in (0, 50].")
        if self.min_module_size < 2:
            raise SettingsError("The minimum module size must be at least 2 genes.")
        if self.deep_split not in range(5):
            raise SettingsError(f"deep_split must be 0, 1, 2, 3 or 4, not {self.deep_split}.")
        if not 0 <= self.merge_cut_height < 1:
            raise SettingsError("The merge cut height must be in [0, 1) (0 merges nothing).")
        if self.top_genes < 0 or self.enrich_modules < 0 or self.top_terms < 1:
            raise SettingsError("top_genes and enrich_modules must be ≥ 0 and top_terms ≥ 1.")
        if not 1 <= self.min_set_size <= self.max_set_size:
            raise SettingsError("Gene-set sizes must satisfy 1 ≤ min_set_size ≤ max_set_size.")


@dataclass
class Network:
    """What WGCNA found on the paired samples."""

    genes: list[str]
    power: float
    power_reason: str
    soft_threshold: list[wgcna.ScaleFreeFit]
    tree: np.ndarray
    unmerged_labels: np.ndarray
    labels: np.ndarray
    eigengenes: dict[int, np.ndarray]
    variance_explained: dict[int, float]


def build_network(samples_by_genes: np.ndarray, genes: list[str], settings: RadiogenomicsSettings,
                  progress: Progress) -> Network:
    """Soft threshold → adjacency → TOM → gene tree → dynamic tree cut → merged modules → eigengenes."""
    needed = wgcna.peak_memory_bytes(len(genes)) / 1e9
    if needed > settings.max_memory_gb:
        raise SettingsError(
            f"{len(genes)} genes need about {needed:.1f} GB (limit {settings.max_memory_gb:g} GB): keep fewer genes "
            "with --top-genes, or raise --max-memory-gb."
        )
    if len(genes) < settings.min_module_size:
        raise SettingsError(
            f"Only {len(genes)} genes are left after filtering, fewer than the minimum module size "
            f"{settings.min_module_size}: use a larger table or a smaller --min-module-size."
        )
    progress(0.15, f"correlations of {len(genes)} genes")
    correlations = wgcna.correlation(samples_by_genes)
    progress(0.25, "soft-threshold power")
    power, table, reason = wgcna.pick_soft_threshold(
        samples_by_genes, settings.candidate_powers, settings.network_type, settings.scale_free_r2, correlations
    )
    if settings.power is not None:
        power, reason = settings.power, "given"
    progress(0.4, f"adjacency (power {power:g}) and topological overlap")
    adjacency = wgcna.adjacency(correlations, power, settings.network_type)
    del correlations
    tom = wgcna.topological_overlap(adjacency)
    progress(0.6, "gene tree and dynamic tree cut")
    tree = wgcna.gene_tree(tom)  # tom now holds 1 − TOM
    unmerged = cutree_hybrid(
        tree, tom, min_cluster_size=settings.min_module_size, deep_split=settings.deep_split,
        pam_respects_dendro=settings.pam_respects_dendro,
    )
    del tom
    progress(0.7, "merging close modules and eigengenes")
    labels = wgcna.merge_close_modules(samples_by_genes, unmerged, settings.merge_cut_height)
    vectors, explained = wgcna.eigengenes(samples_by_genes, labels)
    return Network(genes, float(power), reason, table, tree, unmerged, labels, vectors, explained)


def module_table(network: Network, radscore: np.ndarray) -> pd.DataFrame:
    """One row per module (grey included): size, colour, eigengene–Radscore r and p, BH-adjusted p over the
    modules, variance explained; ranked by p with grey never ranked."""
    rows = []
    correlations = wgcna.trait_correlations(network.eigengenes, radscore)
    adjusted = dict(zip(
        [c.label for c in correlations if c.label != 0],
        enrichment.benjamini_hochberg(np.array([c.p for c in correlations if c.label != 0])),
    ))
    rank = 0
    for row in correlations:
        rank += row.label != 0
        rows.append({
            "module": wgcna.module_colour(row.label), "label": row.label,
            "size": int((network.labels == row.label).sum()), "r": row.r, "p_value": row.p,
            "p_adjusted": adjusted.get(row.label, np.nan), "rank": rank if row.label != 0 else np.nan,
            "variance_explained": network.variance_explained[row.label],
        })
    return pd.DataFrame(rows)


def gene_table(network: Network, samples_by_genes: np.ndarray, radscore: np.ndarray) -> pd.DataFrame:
    """Per gene: module, membership kME (correlation with its own module's eigengene) and gene significance
    (correlation with the Radscore) with its p-value."""
    labels = sorted(network.eigengenes)
    memberships = wgcna.gene_correlations(samples_by_genes, np.column_stack([network.eigengenes[m] for m in labels]))
    own = memberships[np.arange(len(network.genes)), [labels.index(m) for m in network.labels]]
    significance = wgcna.gene_correlations(samples_by_genes, radscore[:, None])[:, 0]
    return pd.DataFrame({
        "gene": network.genes, "module": [wgcna.module_colour(m) for m in network.labels],
        "label": network.labels, "unmerged_label": network.unmerged_labels, "kME": own,
        "gene_significance_r": significance,
        "gene_significance_p": wgcna.correlation_p_values(significance, samples_by_genes.shape[0]),
    })


def enrich_modules(
    modules: pd.DataFrame, genes: pd.DataFrame, collections: Sequence[enrichment.GeneSetCollection],
    settings: RadiogenomicsSettings,
) -> pd.DataFrame:
    """Over-representation of the genes of the ``enrich_modules`` best-ranked modules in every collection."""
    analysed = set(genes["gene"])
    chosen = modules[modules["label"] != 0].sort_values("rank").head(settings.enrich_modules)
    tables = []
    for module in chosen.itertuples():
        query = set(genes.loc[genes["label"] == module.label, "gene"])
        for collection in collections:
            background = analysed & collection.genes if settings.background == "annotated" else analysed
            table = enrichment.over_representation(
                query, collection, background, settings.min_set_size, settings.max_set_size
            )
            if settings.bh_scope == "hit":
                table = table[table["overlap"] > 0].copy()
                table["p_adjusted"] = enrichment.benjamini_hochberg(table["p_value"].to_numpy())
            table.insert(0, "module", module.module)
            tables.append(table)
    columns = ["module", *enrichment.RESULT_COLUMNS]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)


def check_identifiers(genes: list[str], collections: Sequence[enrichment.GeneSetCollection]) -> list[str]:
    """Refuse gene sets that share no gene with the expression table (different id types); note weak overlaps."""
    notes = []
    for collection in collections:
        found = len(set(genes) & collection.genes)
        if found == 0:
            raise GeneSetError(
                f"No gene of {collection.name} is among the analysed genes (e.g. table {genes[:2]}, sets "
                f"{sorted(collection.genes)[:2]}): use gene sets with the same identifier type (symbols, Entrez or "
                "Ensembl) as the expression table."
            )
        if found < 0.2 * len(genes):
            notes.append(f"only {found} of {len(genes)} analysed genes are annotated in {collection.name}")
    return notes


@dataclass
class RadiogenomicsResult:
    """What the step computed: the summary (also written as JSON), the network and the per-gene table."""

    summary: dict[str, Any]
    network: Network
    genes: pd.DataFrame


def run_radiogenomics(
    expression_path: Path,
    radscore_path: Path,
    gene_set_arguments: Sequence[str],
    out_dir: Path,
    settings: RadiogenomicsSettings = RadiogenomicsSettings(),
    sample_map_path: Path | None = None,
    overwrite: bool = False,
    progress: Progress = lambda fraction, message: None,
) -> RadiogenomicsResult:
    """The whole step; writes the tables and the summary into ``out_dir`` and returns them with the network (the
    command renders the report from them)."""
    prepare_output_dir(out_dir, overwrite, OUTPUT_FILES)
    progress(0.0, "reading inputs")
    collections = [enrichment.read_gmt(path, name) for name, path in map(enrichment.parse_collection_argument,
                                                                         gene_set_arguments)]
    table = expression.read_expression(expression_path, settings.log2)
    radscores = expression.read_radscores(radscore_path)
    sample_map = expression.read_sample_map(sample_map_path) if sample_map_path else None
    match = expression.match_samples(radscores, list(table.values.columns), sample_map)
    paired, radscore = expression.paired_expression(table.values, match)
    selected, gene_notes = expression.select_genes(paired, settings.top_genes, settings.variability)
    genes = list(selected.columns)
    notes = [*table.notes, *gene_notes, *check_identifiers(genes, collections)]
    values = selected.to_numpy(float)
    network = build_network(values, genes, settings, progress)
    progress(0.8, "module–Radscore correlations and enrichment")
    modules = module_table(network, radscore)
    gene_rows = gene_table(network, values, radscore)
    enriched = enrich_modules(modules, gene_rows, collections, settings)
    summary = _summary(settings, match, network, modules, enriched, collections, notes, len(table.values))
    progress(0.9, "writing tables")
    _write_tables(out_dir, match, network, modules, gene_rows, enriched)
    with atomic_path(out_dir / SUMMARY_FILE) as path:
        path.write_text(json.dumps(summary, indent=1, default=_json_default) + "\n")
    return RadiogenomicsResult(summary, network, gene_rows)


def _write_tables(out_dir: Path, match: expression.SampleMatch, network: Network, modules: pd.DataFrame,
                  genes: pd.DataFrame, enriched: pd.DataFrame) -> None:
    matching = pd.concat([match.pairs.assign(reason=""), match.unmatched.assign(sample_id="", rule="unmatched")],
                         ignore_index=True)[["case_id", "sample_id", "rule", "reason", "radscore"]]
    eigengene_table = pd.DataFrame({f"ME{wgcna.module_colour(m)}": v for m, v in sorted(network.eigengenes.items())})
    eigengene_table.insert(0, "sample_id", match.pairs["sample_id"].to_numpy())
    eigengene_table.insert(0, "case_id", match.pairs["case_id"].to_numpy())
    soft = pd.DataFrame([asdict(row) for row in network.soft_threshold])
    for name, frame in ((MATCHING_FILE, matching), (SOFT_THRESHOLD_FILE, soft), (MODULES_FILE, modules),
                        (GENES_FILE, genes), (EIGENGENES_FILE, eigengene_table), (ENRICHMENT_FILE, enriched)):
        with atomic_path(out_dir / name) as path:
            csv_safe_frame(frame).to_csv(path, index=False)


def _summary(settings: RadiogenomicsSettings, match: expression.SampleMatch, network: Network,
             modules: pd.DataFrame, enriched: pd.DataFrame, collections: Sequence[enrichment.GeneSetCollection],
             notes: list[str], n_table_genes: int) -> dict[str, Any]:
    from ..core.provenance import software_versions

    top_terms = (
        enriched.sort_values("p_value", kind="stable").groupby(["module", "collection"], sort=False)
        .head(settings.top_terms)
    )
    return {
        "title": "CCRCCStaging radiogenomics",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "software": software_versions(),
        "samples": {"paired": match.n_matched, "unmatched": match.unmatched.to_dict("records")},
        "genes": {"in_table": n_table_genes, "analysed": len(network.genes)},
        "notes": notes,
        "power": {"value": network.power, "reason": network.power_reason,
                  "table": [asdict(row) for row in network.soft_threshold]},
        "modules": _records(modules),
        "collections": [{"name": c.name, "terms": len(c.terms)} for c in collections],
        "top_terms": _records(top_terms),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values (JSON has no NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
