"""Over-representation analysis of a gene list against local gene-set files (GMT), offline.

The test is the one-sided hypergeometric test of GO/KEGG enrichment tools (clusterProfiler's ``enricher``,
DAVID, gseapy's ``enrich``): with M background genes of which n are in the set, and a query of N genes of which
k are in the set, p = P(X ≥ k) for X ~ Hypergeometric(M, n, N). p-values are adjusted by Benjamini–Hochberg
within each collection (one GMT file: GO BP, GO CC, GO MF and KEGG are corrected separately, as enrichGO does
per ontology). Both come from SciPy; the project tests them against statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ..core.errors import GeneSetError
from .expression import normalise_gene_id

RESULT_COLUMNS = [
    "collection", "term", "description", "overlap", "set_size", "query_size", "background_size",
    "fold_enrichment", "p_value", "p_adjusted", "genes",
]


@dataclass(frozen=True)
class GeneSetCollection:
    """The gene sets of one GMT file: term → (description, normalised gene ids)."""

    name: str
    terms: dict[str, tuple[str, frozenset[str]]]

    @property
    def genes(self) -> frozenset[str]:
        """Every gene annotated to at least one term."""
        return frozenset().union(*(genes for _, genes in self.terms.values()))


def parse_collection_argument(argument: str) -> tuple[str, Path]:
    """``LABEL=PATH`` names a collection (e.g. ``KEGG=c2.cp.kegg.gmt``); a plain path is named by its file name."""
    label, separator, path = argument.partition("=")
    if separator and label and not Path(argument).exists():
        return label, Path(path)
    path = Path(argument)
    return path.name.removesuffix(".gz").removesuffix(".gmt"), path


def read_gmt(path: Path, name: str | None = None) -> GeneSetCollection:
    """Read a GMT file: one set per line, ``term <tab> description <tab> gene <tab> gene …``.

    Gene ids are normalised like the expression table's; a term listed twice is an error (its genes would be
    ambiguous).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise GeneSetError(f"Gene-set file {path} does not exist: give GMT files such as MSigDB's c5.go.bp.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise GeneSetError(f"Cannot read gene-set file {path} as GMT text: {error}.") from None
    terms: dict[str, tuple[str, frozenset[str]]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) < 3 or not fields[0].strip():
            raise GeneSetError(
                f"{path}, line {number}: a GMT line is 'term<TAB>description<TAB>gene<TAB>…' with tabs; this one "
                f"has {len(fields)} field(s)."
            )
        term = fields[0].strip()
        if term in terms:
            raise GeneSetError(f"{path}, line {number}: term {term!r} appears twice; keep one line per term.")
        genes = frozenset(normalise_gene_id(g) for g in fields[2:] if g.strip())
        terms[term] = (fields[1].strip(), genes)
    if not terms:
        raise GeneSetError(f"{path} holds no gene sets.")
    return GeneSetCollection(name or path.name.removesuffix(".gmt"), terms)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (SciPy's ``false_discovery_control``); empty in, empty out."""
    p_values = np.asarray(p_values, float)
    return stats.false_discovery_control(p_values, method="bh") if p_values.size else p_values


def hypergeometric_p(overlap: np.ndarray, background: int, set_sizes: np.ndarray, query: int) -> np.ndarray:
    """P(X ≥ overlap) for X ~ Hypergeometric(background, set size, query size), element-wise."""
    return stats.hypergeom.sf(np.asarray(overlap) - 1, background, np.asarray(set_sizes), query)


def over_representation(
    query: set[str] | frozenset[str],
    collection: GeneSetCollection,
    background: set[str] | frozenset[str],
    min_set_size: int = 10,
    max_set_size: int = 500,
) -> pd.DataFrame:
    """Enrichment of ``query`` in every term of ``collection``, sorted by p-value.

    Sets and query are first restricted to ``background``; terms whose restricted size lies outside
    [``min_set_size``, ``max_set_size``] are not tested (clusterProfiler's defaults 10 and 500: tiny sets give
    unstable p-values, huge ones say little). Every tested term counts in the BH adjustment, hits or not.
    """
    genes = sorted(background)
    position = {g: i for i, g in enumerate(genes)}
    names = list(collection.terms)
    rows, cols = [], []
    for row, term in enumerate(names):
        members = [position[g] for g in collection.terms[term][1] if g in position]
        rows.extend([row] * len(members))
        cols.extend(members)
    membership = sparse.csr_matrix((np.ones(len(rows), np.int32), (rows, cols)), shape=(len(names), len(genes)))
    in_query = np.zeros(len(genes), np.int32)
    in_query[[position[g] for g in query if g in position]] = 1
    set_sizes = np.asarray(membership.sum(axis=1)).ravel()
    overlaps = membership @ in_query
    tested = np.flatnonzero((set_sizes >= min_set_size) & (set_sizes <= max_set_size))
    query_size = int(in_query.sum())
    p_values = hypergeometric_p(overlaps[tested], len(genes), set_sizes[tested], query_size)
    expected = set_sizes[tested] * query_size / max(len(genes), 1)
    table = pd.DataFrame({
        "collection": collection.name,
        "term": [names[i] for i in tested],
        "description": [collection.terms[names[i]][0] for i in tested],
        "overlap": overlaps[tested],
        "set_size": set_sizes[tested],
        "query_size": query_size,
        "background_size": len(genes),
        "fold_enrichment": np.divide(overlaps[tested], expected, out=np.zeros(len(tested)), where=expected > 0),
        "p_value": p_values,
        "p_adjusted": benjamini_hochberg(p_values),
    }, columns=RESULT_COLUMNS[:-1])
    query_positions = np.flatnonzero(in_query)
    table["genes"] = [
        ";".join(genes[j] for j in np.intersect1d(membership[i].indices, query_positions)) for i in tested
    ]
    return table.sort_values(["p_value", "term"], kind="stable").reset_index(drop=True)
