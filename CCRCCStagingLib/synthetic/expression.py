"""Synthetic expression data with known answers, for testing and benchmarking the radiogenomics step.

Each planted module is a set of genes driven by one hidden factor per sample (gene = loading · factor + noise,
loadings 0.6–0.9, a fifth of them negative, which an unsigned network joins); one module's factor is
correlated with a synthetic Radscore; the remaining genes are independent noise. The gene sets hold one set
drawn mostly from the Radscore module, one from another module, and random decoys of assorted sizes. Genes
get realistic log2 means and spreads so that the variability filter has something to rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Term of the gene set planted in the module correlated with the Radscore.
PLANTED_TERM = "PLANTED_RADSCORE_MODULE_SET"
OTHER_TERM = "PLANTED_OTHER_MODULE_SET"


@dataclass
class PlantedCohort:
    """Expression (genes × samples), Radscores per case, gene sets, and the truth."""

    expression: pd.DataFrame
    radscores: pd.Series
    gene_sets: dict[str, list[str]]
    #: Planted module of every gene (1, 2, … in the order of ``module_sizes``; 0 for noise genes).
    truth: pd.Series
    #: Planted module whose factor drives the Radscore.
    correlated_module: int

    def write(self, folder: Path) -> dict[str, Path]:
        """Write ``expression.tsv``, ``radscores.csv``, ``gene_sets.gmt`` and ``truth.csv`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = {name: folder / name for name in ("expression.tsv", "radscores.csv", "gene_sets.gmt", "truth.csv")}
        self.expression.to_csv(paths["expression.tsv"], sep="\t", index_label="gene", float_format="%.5f")
        self.radscores.rename_axis("case_id").rename("radscore").to_csv(paths["radscores.csv"])
        paths["gene_sets.gmt"].write_text(
            "".join(f"{term}\tsynthetic\t" + "\t".join(genes) + "\n" for term, genes in self.gene_sets.items())
        )
        self.truth.rename_axis("gene").rename("planted_module").to_csv(paths["truth.csv"])
        return paths


def planted_cohort(
    n_genes: int = 2000,
    n_samples: int = 120,
    module_sizes: tuple[int, ...] = (400, 300, 250, 200, 150),
    correlated_module: int = 3,
    radscore_correlation: float = 0.6,
    n_decoy_sets: int = 100,
    seed: int = 0,
) -> PlantedCohort:
    """A cohort whose module ``correlated_module`` (1-based) drives the Radscore with correlation
    ``radscore_correlation`` and holds the planted gene set :data:`PLANTED_TERM`."""
    if sum(module_sizes) > n_genes:
        raise ValueError("the planted modules need more genes than n_genes")
    if not 1 <= correlated_module <= len(module_sizes):
        raise ValueError(f"correlated_module must be one of the {len(module_sizes)} planted modules")
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n_samples, len(module_sizes)))
    values = rng.standard_normal((n_samples, n_genes))
    truth = np.zeros(n_genes, int)
    order = rng.permutation(n_genes)  # modules are scattered over the gene list, not in blocks
    start = 0
    for module, size in enumerate(module_sizes, start=1):
        genes = order[start:start + size]
        start += size
        truth[genes] = module
        loadings = rng.uniform(0.6, 0.9, size) * np.where(rng.random(size) < 0.2, -1.0, 1.0)
        values[:, genes] = factors[:, [module - 1]] * loadings + rng.standard_normal((n_samples, size)) * np.sqrt(
            1 - loadings**2
        )
    values = values * rng.uniform(0.5, 2.0, n_genes) + rng.uniform(2.0, 12.0, n_genes)
    names = [f"GENE{i:05d}" for i in range(1, n_genes + 1)]
    samples = [f"CASE{i:04d}" for i in range(1, n_samples + 1)]
    noise = rng.standard_normal(n_samples)
    radscore = radscore_correlation * factors[:, correlated_module - 1] + np.sqrt(1 - radscore_correlation**2) * noise
    gene_sets = _gene_sets(names, truth, correlated_module, n_decoy_sets, rng)
    return PlantedCohort(
        expression=pd.DataFrame(values.T, index=names, columns=samples),
        radscores=pd.Series(radscore, index=samples),
        gene_sets=gene_sets,
        truth=pd.Series(truth, index=names),
        correlated_module=correlated_module,
    )


def _gene_sets(
    names: list[str], truth: np.ndarray, correlated: int, n_decoys: int, rng: np.random.Generator
) -> dict[str, list[str]]:
    def drawn(module: int, inside: int, outside: int) -> list[str]:
        members = rng.choice(np.flatnonzero(truth == module), inside, replace=False)
        others = rng.choice(np.flatnonzero(truth != module), outside, replace=False)
        return sorted(names[i] for i in np.concatenate([members, others]))

    sets = {PLANTED_TERM: drawn(correlated, 60, 20)}
    if truth.max() > 1:
        sets[OTHER_TERM] = drawn(1 if correlated != 1 else 2, 60, 20)
    for number in range(1, n_decoys + 1):
        size = int(rng.integers(12, 300))
        sets[f"DECOY_{number:03d}"] = sorted(names[i] for i in rng.choice(len(names), size, replace=False))
    return sets
