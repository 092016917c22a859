"""Over-representation statistics checked against independent oracles: exact hypergeometric sums in integers,
Fisher's exact test, and statsmodels' Benjamini–Hochberg; GMT reading and its errors."""

from __future__ import annotations

from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from CCRCCStagingLib.radiogenomics.enrichment import (
    GeneSetCollection, benjamini_hochberg, hypergeometric_p, over_representation, parse_collection_argument, read_gmt,
)
from CCRCCStagingLib.core.errors import GeneSetError


def _exact_upper_tail(k: int, background: int, set_size: int, query: int) -> float:
    """P(X ≥ k) as an exact fraction of binomial coefficients."""
    total = sum(comb(set_size, i) * comb(background - set_size, query - i) for i in range(k, min(set_size, query) + 1))
    return float(Fraction(total, comb(background, query)))


@pytest.mark.parametrize("k, background, set_size, query", [
    (0, 50, 10, 8), (1, 50, 10, 8), (3, 50, 10, 8), (8, 50, 10, 8), (5, 200, 20, 30), (12, 2000, 40, 150),
    (30, 2000, 50, 150),
])
def test_hypergeometric_p_equals_exact_sum_and_one_sided_fisher(k, background, set_size, query) -> None:
    got = hypergeometric_p(np.array([k]), background, np.array([set_size]), query)[0]
    assert got == pytest.approx(_exact_upper_tail(k, background, set_size, query), rel=1e-9, abs=1e-300)
    table = [[k, set_size - k], [query - k, background - set_size - query + k]]
    assert got == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-9)


def test_benjamini_hochberg_equals_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for p in (rng.uniform(size=25), np.concatenate([rng.uniform(0, 1e-4, 5), rng.uniform(size=40)]),
              np.array([0.01, 0.01, 0.03, 1.0, 1.0]), np.array([0.2])):
        np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    assert benjamini_hochberg(np.array([])).size == 0


def _collection() -> GeneSetCollection:
    terms = {
        "HIT": ("planted", frozenset({"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "OUTSIDE"})),
        "MISS": ("no query gene", frozenset({f"M{i}" for i in range(12)})),
        "TINY": ("below min size", frozenset({"A", "B"})),
    }
    return GeneSetCollection("toy", terms)


def test_over_representation_by_hand() -> None:
    background = {*"ABCDEFGHIJ", *(f"M{i}" for i in range(12)), *(f"N{i}" for i in range(78))}  # 100 genes
    query = {"A", "B", "C", "D", "N1", "N2", "NOT_IN_BACKGROUND"}

    table = over_representation(query, _collection(), background, min_set_size=10, max_set_size=500)

    assert list(table["term"]) == ["HIT", "MISS"]  # TINY (2 genes) is not tested
    hit = table.iloc[0]
    # Set and query restricted to the background: 10 of the set's 11 genes, 6 of the 7 query genes.
    assert (hit.overlap, hit.set_size, hit.query_size, hit.background_size) == (4, 10, 6, 100)
    assert hit.p_value == pytest.approx(_exact_upper_tail(4, 100, 10, 6), rel=1e-12)
    assert hit.fold_enrichment == pytest.approx(4 / (10 * 6 / 100))
    assert hit.genes == "A;B;C;D"
    assert table.iloc[1].p_value == 1.0
    np.testing.assert_allclose(table["p_adjusted"], multipletests(table["p_value"], method="fdr_bh")[1])


def test_gmt_reading_normalises_ids_and_names_collections(tmp_path: Path) -> None:
    path = tmp_path / "c2.cp.kegg.gmt"
    path.write_text("KEGG_X\thttp://x\ttp53\tENSG00000141510.17\tEGFR|1956\n\nKEGG_Y\t\tA\tB\n")
    collection = read_gmt(path)
    assert collection.name == "c2.cp.kegg"
    assert collection.terms["KEGG_X"][1] == {"TP53", "ENSG00000141510", "EGFR"}
    assert parse_collection_argument(f"KEGG={path}") == ("KEGG", path)
    assert parse_collection_argument(str(path)) == ("c2.cp.kegg", path)


@pytest.mark.parametrize("text, message", [
    ("TERM only\n", "tabs"),
    ("T\tdesc\tA\nT\tdesc\tB\n", "appears twice"),
    ("\n\n", "no gene sets"),
])
def test_malformed_gmt_files_are_refused_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.gmt"
    path.write_text(text)
    with pytest.raises(GeneSetError, match=message):
        read_gmt(path)


def test_missing_gmt_file_is_a_gene_set_error(tmp_path: Path) -> None:
    with pytest.raises(GeneSetError, match="does not exist"):
        read_gmt(tmp_path / "absent.gmt")


def test_bh_scope_and_background_settings_of_module_enrichment() -> None:
    import pandas as pd

    from CCRCCStagingLib.radiogenomics.analysis import RadiogenomicsSettings, enrich_modules

    genes = pd.DataFrame({"gene": [*"ABCDEFGHIJ", *(f"M{i}" for i in range(12)), *(f"N{i}" for i in range(78))]})
    genes["label"] = [1 if g in {"A", "B", "C", "D", "N1", "N2"} else 0 for g in genes["gene"]]
    modules = pd.DataFrame({"module": ["turquoise", "grey"], "label": [1, 0], "rank": [1.0, np.nan]})
    collection = _collection()

    tested = enrich_modules(modules, genes, [collection], RadiogenomicsSettings(background="analysed"))
    hit = enrich_modules(modules, genes, [collection], RadiogenomicsSettings(background="analysed", bh_scope="hit"))
    annotated = enrich_modules(modules, genes, [collection], RadiogenomicsSettings())

    assert list(tested["term"]) == ["HIT", "MISS"] and list(hit["term"]) == ["HIT"]
    assert hit["p_adjusted"].iloc[0] == pytest.approx(hit["p_value"].iloc[0])  # one term: BH changes nothing
    assert tested["p_adjusted"].iloc[0] == pytest.approx(2 * tested["p_value"].iloc[0])
    assert set(tested["module"]) == {"turquoise"}  # grey is never annotated
    # 'annotated': the background is the analysed genes found in the collection (22 here, not 100).
    assert annotated["background_size"].iloc[0] == 22 and tested["background_size"].iloc[0] == 100
