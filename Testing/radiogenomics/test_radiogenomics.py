"""Radiogenomics: expression input and sample pairing, the WGCNA building blocks against their definitions, and
the whole step on generated data with planted modules, one driving the Radscore and holding a planted gene set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score

from CCRCCStagingLib.radiogenomics import wgcna
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.cli.parser import build_parser
from CCRCCStagingLib.core.errors import ExpressionDataError, GeneSetError, SampleMatchError, SettingsError
from CCRCCStagingLib.radiogenomics.expression import (
    match_samples, normalise_gene_id, paired_expression, read_expression, read_radscores, select_genes,
)
from CCRCCStagingLib.synthetic.expression import OTHER_TERM, PLANTED_TERM, planted_cohort
from CCRCCStagingLib.commands.radiogenomics import radiogenomics
from CCRCCStagingLib.radiogenomics.analysis import RadiogenomicsSettings, run_radiogenomics

# ----------------------------------------------------------------------------------------- expression input


@pytest.mark.parametrize("raw, normal", [
    ("TP53|7157", "TP53"), ("?|100130426", "100130426"), ("ENSG00000141510.17", "ENSG00000141510"),
    (" egfr ", "EGFR"), ("ENSG00000141510", "ENSG00000141510"), ("HLA-A", "HLA-A"),
])
def test_gene_ids_are_normalised(raw: str, normal: str) -> None:
    assert normalise_gene_id(raw) == normal


def test_expression_table_unlogged_values_duplicates_and_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "expr.csv"
    path.write_text("gene,gene_name,S1,S2,S3\nENSG1.1,A,100,200,300\nENSG1.2,A,1,2,3\nENSG2,B,0,1000,5\n")
    table = read_expression(path)
    assert table.log2_applied
    assert list(table.values.index) == ["ENSG1", "ENSG2"]  # the duplicate with the higher mean is kept
    np.testing.assert_allclose(table.values.loc["ENSG1"], np.log2([101, 201, 301]))
    assert any("gene_name" in note for note in table.notes)
    assert not read_expression(path, log2="no").log2_applied


@pytest.mark.parametrize("content, message", [
    ("gene\tS1\nA\tx\n", "no numeric expression values"),
    ("gene\tS1\tS2\nA\t-1\t500\n", "negative values"),
])
def test_bad_expression_tables_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "expr.tsv"
    path.write_text(content)
    with pytest.raises(ExpressionDataError, match=message):
        read_expression(path, log2="yes" if "negative" in message else "auto")


def test_missing_expression_table() -> None:
    with pytest.raises(ExpressionDataError, match="does not exist"):
        read_expression(Path("/nonexistent/expr.tsv"))


def test_tcga_barcodes_pair_tumour_samples_only() -> None:
    radscores = pd.Series({"TCGA-B0-5399": 0.1, "TCGA-A3-3306": 0.2, "TCGA-CJ-4634": 0.3, "case_7": 0.4,
                           "TCGA-XX-0000": 0.5})
    samples = ["TCGA-B0-5399-11A-01R-1277-07", "TCGA-B0-5399-01A-01R-1277-07", "TCGA-A3-3306-01B-01R",
               "TCGA-A3-3306-01A-01R", "TCGA-CJ-4634-11A-01R", "CASE_7"]
    match = match_samples(radscores, samples)
    pairs = dict(zip(match.pairs["case_id"], match.pairs["sample_id"]))
    assert pairs == {"TCGA-B0-5399": "TCGA-B0-5399-01A-01R-1277-07", "TCGA-A3-3306": "TCGA-A3-3306-01A-01R",
                     "case_7": "CASE_7"}
    reasons = dict(zip(match.unmatched["case_id"], match.unmatched["reason"]))
    assert "non-tumour" in reasons["TCGA-CJ-4634"] and "no sample" in reasons["TCGA-XX-0000"]


def test_sample_map_wins_and_too_few_pairs_is_an_error() -> None:
    radscores = pd.Series({f"c{i}": float(i) for i in range(20)})
    samples = [f"s{i}" for i in range(20)]
    match = match_samples(radscores, samples, {f"c{i}": f"s{i}" for i in range(10)})
    assert match.n_matched == 10 and set(match.unmatched["reason"]) == {"not in the sample map"}
    with pytest.raises(SampleMatchError, match="at least 15"):
        paired_expression(pd.DataFrame(np.zeros((3, 20)), columns=samples), match)


def test_radscore_table_needs_its_columns_and_unique_cases(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("case,score\na,1\n")
    with pytest.raises(SampleMatchError, match="case_id and radscore"):
        read_radscores(path)
    path.write_text("case_id,radscore\na,1\na,2\n")
    with pytest.raises(SampleMatchError, match="more than once"):
        read_radscores(path)


def test_gene_selection_drops_constant_and_missing_genes_and_keeps_the_most_variable() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.standard_normal((30, 5)) * [1, 5, 3, 1, 1], columns=list("ABCDE"))
    table["E"] = 2.0
    table.loc[0, "D"] = np.nan
    kept, notes = select_genes(table, top_genes=2)
    assert list(kept.columns) == ["B", "C"]
    assert len(notes) == 3


# ------------------------------------------------------------------------------------------- WGCNA blocks


def test_topological_overlap_equals_its_definition() -> None:
    rng = np.random.default_rng(1)
    r = wgcna.correlation(rng.standard_normal((40, 12)))
    a = wgcna.adjacency(r, 6)
    expected = np.ones_like(a)
    n = len(a)
    for i in range(n):
        for j in range(n):
            if i != j:
                shared = sum(a[i, u] * a[u, j] for u in range(n) if u not in (i, j))
                k_i, k_j = a[i].sum() - a[i, i], a[j].sum() - a[j, j]
                expected[i, j] = (shared + a[i, j]) / (min(k_i, k_j) + 1 - a[i, j])
    np.testing.assert_allclose(wgcna.topological_overlap(a.copy()), expected, rtol=1e-12)


def test_correlations_and_p_values_equal_scipy() -> None:
    rng = np.random.default_rng(2)
    values = rng.standard_normal((25, 4))
    np.testing.assert_allclose(wgcna.correlation(values), np.corrcoef(values.T), atol=1e-12)
    vector = values[:, 0] * 0.5 + rng.standard_normal(25)
    r = wgcna.gene_correlations(values, vector[:, None])[:, 0]
    p = wgcna.correlation_p_values(r, 25)
    for i in range(4):
        reference = stats.pearsonr(values[:, i], vector)
        assert r[i] == pytest.approx(reference.statistic, abs=1e-12)
        assert p[i] == pytest.approx(reference.pvalue, rel=1e-9)


def test_eigengene_is_the_first_principal_component_signed_with_the_average() -> None:
    rng = np.random.default_rng(3)
    factor = rng.standard_normal(60)
    values = np.column_stack([factor * 0.8 + rng.standard_normal(60) * 0.6 for _ in range(10)])
    vectors, explained = wgcna.eigengenes(values, np.ones(10, int))
    assert np.corrcoef(vectors[1], factor)[0, 1] > 0.95
    assert vectors[1].mean() == pytest.approx(0, abs=1e-12) and vectors[1].std() == pytest.approx(1)
    assert 0.5 < explained[1] < 1
    standardised = (values - values.mean(axis=0)) / values.std(axis=0)
    u, singular, _ = np.linalg.svd(standardised, full_matrices=False)
    np.testing.assert_allclose(np.abs(vectors[1]), np.abs(u[:, 0] / u[:, 0].std()), rtol=1e-8)
    assert explained[1] == pytest.approx(singular[0] ** 2 / np.sum(singular**2), rel=1e-10)


def test_modules_with_the_same_driver_are_merged() -> None:
    rng = np.random.default_rng(4)
    f1, f2 = rng.standard_normal((2, 80))
    block = lambda f: np.column_stack([f * 0.8 + rng.standard_normal(80) * 0.6 for _ in range(15)])  # noqa: E731
    values = np.hstack([block(f1), block(f1), block(f2)])
    labels = np.repeat([1, 2, 3], 15)
    merged = wgcna.merge_close_modules(values, labels, cut_height=0.25)
    assert len(set(merged[:30])) == 1 and merged[0] == 1 and set(merged[30:]) == {2}
    np.testing.assert_array_equal(wgcna.merge_close_modules(values, labels, 0.0), labels)


def test_soft_threshold_takes_the_lowest_power_reaching_the_cut_else_the_faq_table() -> None:
    cohort = planted_cohort(n_genes=600, n_samples=60, module_sizes=(200, 150), correlated_module=1, seed=5)
    values = cohort.expression.T.to_numpy()
    power, table, reason = wgcna.pick_soft_threshold(values, r2_cut=0.5)
    assert power == min(row.power for row in table if row.signed_r2 >= 0.5) and "lowest" in reason
    power, _, reason = wgcna.pick_soft_threshold(values, r2_cut=1.01)
    assert power == 6 and "FAQ" in reason
    assert [wgcna.faq_power(n, "unsigned") for n in (10, 25, 35, 100)] == [9, 8, 7, 6]


def test_scale_free_fit_of_a_power_law_is_near_perfect() -> None:
    connectivity = (np.random.default_rng(6).pareto(1.5, 20000) + 1) * 2
    r2, slope = wgcna.scale_free_fit_index(np.clip(connectivity, 0, 60))
    assert slope < 0 and r2 > 0.7


def test_module_colours_follow_r() -> None:
    assert [wgcna.module_colour(i) for i in (0, 1, 2, 8)] == ["grey", "turquoise", "blue", "pink"]
    np.testing.assert_array_equal(wgcna.labels_by_size(np.array([5, 5, 0, 2, 2, 2])), [2, 2, 0, 1, 1, 1])


# ---------------------------------------------------------------------------------------------- whole step


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiogenomics")
    cohort = planted_cohort(seed=0)
    paths = cohort.write(folder / "data")
    summary = radiogenomics(paths["expression.tsv"], paths["radscores.csv"], [f"SYN={paths['gene_sets.gmt']}"],
                            folder / "out")
    return cohort, summary, folder / "out"


def test_planted_modules_are_recovered(planted_run) -> None:
    cohort, _, out = planted_run
    genes = pd.read_csv(out / "genes.csv").set_index("gene")
    truth = cohort.truth.loc[genes.index]
    score = adjusted_rand_score(truth, genes["label"])
    print(f"adjusted Rand index, all genes: {score:.3f}; planted genes only: "
          f"{adjusted_rand_score(truth[truth > 0], genes['label'][truth > 0]):.3f}")
    assert score > 0.8
    # Every planted module is the majority of exactly one found module; noise genes end grey.
    crosstab = pd.crosstab(truth, genes["module"])
    assert (crosstab.loc[0, "grey"] / crosstab.loc[0].sum()) > 0.95
    assert sorted(crosstab.drop(columns="grey").idxmax(axis=0)) == [1, 2, 3, 4, 5]


def test_the_radscore_module_ranks_first_and_its_planted_set_is_the_top_term(planted_run) -> None:
    cohort, summary, out = planted_run
    modules = pd.read_csv(out / "modules.csv")
    first = modules[modules["rank"] == 1].iloc[0]
    genes = pd.read_csv(out / "genes.csv")
    members = genes.loc[genes["module"] == first["module"], "gene"]
    assert (cohort.truth.loc[members] == cohort.correlated_module).mean() > 0.95
    assert first["r"] > 0.4 and first["p_value"] < 1e-6
    enrichment = pd.read_csv(out / "enrichment.csv")
    top = enrichment[enrichment["module"] == first["module"]].sort_values("p_value").iloc[0]
    assert top["term"] == PLANTED_TERM and top["p_adjusted"] < 1e-10
    second = modules[modules["rank"] == 2].iloc[0]
    assert second["p_value"] > 0.01  # no other module is driven by the Radscore
    assert summary["top_terms"][0]["term"] == PLANTED_TERM
    assert OTHER_TERM not in set(enrichment.loc[enrichment["module"] == first["module"]].head(3)["term"])


def test_outputs_are_complete_and_json_is_strict(planted_run) -> None:
    _, summary, out = planted_run
    for name in ("matching.csv", "soft_threshold.csv", "modules.csv", "genes.csv", "eigengenes.csv",
                 "enrichment.csv", "radiogenomics_summary.json", "radiogenomics_report.html"):
        assert (out / name).stat().st_size > 0, name
    json.loads((out / "radiogenomics_summary.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    html = (out / "radiogenomics_report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and PLANTED_TERM in html
    eigengenes = pd.read_csv(out / "eigengenes.csv")
    assert len(eigengenes) == summary["samples"]["paired"] == 120


def test_cli_runs_the_step_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    paths = planted_cohort(n_genes=900, n_samples=60, module_sizes=(250, 200, 150), correlated_module=2,
                           n_decoy_sets=20, seed=7).write(tmp_path / "data")
    arguments = ["radiogenomics", "--expression", str(paths["expression.tsv"]), "--radscore",
                 str(paths["radscores.csv"]), "--gene-sets", str(paths["gene_sets.gmt"]), "--out", str(tmp_path / "out")]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert PLANTED_TERM in printed and "report:" in printed
    assert main(arguments) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cli_defaults_equal_the_library_defaults() -> None:
    args = build_parser().parse_args(["radiogenomics", "--expression", "e", "--radscore", "r", "--gene-sets", "g",
                                      "--out", "o"])
    defaults = RadiogenomicsSettings()
    for name in ("min_module_size", "deep_split", "merge_cut_height", "top_genes", "variability", "log2",
                 "enrich_modules", "top_terms", "min_set_size", "max_set_size", "background", "bh_scope",
                 "max_memory_gb", "power"):
        assert getattr(args, name) == getattr(defaults, name), name
    assert args.network == defaults.network_type


def test_gene_sets_with_other_identifiers_are_refused(tmp_path: Path, capsys) -> None:
    paths = planted_cohort(n_genes=600, n_samples=30, module_sizes=(150,), correlated_module=1,
                           n_decoy_sets=3, seed=8).write(tmp_path)
    other_ids = tmp_path / "entrez.gmt"
    other_ids.write_text("SET\tdesc\t" + "\t".join(str(1000 + i) for i in range(50)) + "\n")
    with pytest.raises(GeneSetError, match="identifier type"):
        run_radiogenomics(paths["expression.tsv"], paths["radscores.csv"], [str(other_ids)], tmp_path / "out")
    assert main(["radiogenomics", "--expression", str(paths["expression.tsv"]), "--radscore",
                 str(paths["radscores.csv"]), "--gene-sets", str(other_ids), "--out", str(tmp_path / "o")]) == 2
    messages = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("progress:")]
    assert len(messages) == 1 and messages[0].startswith("error: No gene of entrez")


def test_network_too_large_for_the_memory_limit_is_refused(tmp_path: Path) -> None:
    paths = planted_cohort(n_genes=600, n_samples=30, module_sizes=(150,), correlated_module=1,
                           n_decoy_sets=3, seed=9).write(tmp_path)
    with pytest.raises(SettingsError, match="--top-genes"):
        run_radiogenomics(paths["expression.tsv"], paths["radscores.csv"], [str(paths["gene_sets.gmt"])],
                          tmp_path / "out", RadiogenomicsSettings(max_memory_gb=0.001))


@pytest.mark.parametrize("settings", [dict(network_type="bogus"), dict(deep_split=7), dict(power=-1),
                                      dict(min_set_size=20, max_set_size=10), dict(merge_cut_height=1.5)])
def test_invalid_settings_are_refused(settings) -> None:
    with pytest.raises(SettingsError):
        RadiogenomicsSettings(**settings)


def test_dendrogram_lines_match_scipy_and_survive_deep_trees() -> None:
    from scipy.cluster import hierarchy

    from CCRCCStagingLib.reports.radiogenomics import dendrogram_segments

    tree = hierarchy.linkage(np.random.default_rng(10).standard_normal((30, 3)), method="average")
    order, segments = dendrogram_segments(tree)
    reference = hierarchy.dendrogram(tree, no_plot=True)
    np.testing.assert_array_equal(order, reference["leaves"])
    ours = sorted(tuple(np.round(s[:, 0] * 10 + 5, 9)) + tuple(np.round(s[:, 1], 9)) for s in segments)
    theirs = sorted(tuple(np.round(ic, 9)) + tuple(np.round(dc, 9)) for ic, dc in zip(reference["icoord"],
                                                                                       reference["dcoord"]))
    np.testing.assert_allclose(ours, theirs)
    chain = np.array([[0, 1, 1.0, 2]] + [[i, 4000 + i - 1, float(i), i + 1] for i in range(2, 4001)])
    assert dendrogram_segments(chain)[1].shape == (4000, 4, 2)  # a 4000-level chain: SciPy's recursion fails


def test_tcga_shaped_input_gives_the_same_modules_as_the_plain_one(tmp_path: Path) -> None:
    """TCGA conventions end to end: SYMBOL|ENTREZ gene ids, unlogged values, sample barcodes with normal-tissue
    samples beside the tumours, participant ids in the Radscore table; the result equals the plain run."""
    cohort = planted_cohort(n_genes=900, n_samples=60, module_sizes=(250, 200, 150), correlated_module=2,
                            n_decoy_sets=20, seed=11)
    plain = cohort.write(tmp_path / "plain")
    participants = [f"TCGA-B0-{i:04d}" for i in range(len(cohort.radscores))]
    tumour = cohort.expression.copy()
    tumour.columns = [f"{p}-01A-01R-1277-07" for p in participants]
    normal = pd.DataFrame(np.random.default_rng(0).normal(8, 1, tumour.shape), index=tumour.index,
                          columns=[f"{p}-11A-01R-1277-07" for p in participants])
    # Unlogged, as counts or TPM (shifted to stay positive; correlations and MAD ignore the shift).
    table = np.exp2(pd.concat([normal, tumour], axis=1) + 10) - 1
    table.index = [f"{gene}|{1000 + i}" for i, gene in enumerate(table.index)]
    table.to_csv(tmp_path / "tcga.tsv", sep="\t", index_label="gene_id")
    pd.DataFrame({"case_id": participants, "radscore": cohort.radscores.to_numpy()}).to_csv(tmp_path / "r.csv",
                                                                                           index=False)
    gmt = [f"SYN={plain['gene_sets.gmt']}"]
    run_radiogenomics(plain["expression.tsv"], plain["radscores.csv"], gmt, tmp_path / "plain_out")
    summary = run_radiogenomics(tmp_path / "tcga.tsv", tmp_path / "r.csv", gmt, tmp_path / "tcga_out").summary

    assert summary["samples"]["paired"] == 60 and any("log2" in note for note in summary["notes"]), summary["notes"]
    matching = pd.read_csv(tmp_path / "tcga_out" / "matching.csv")
    assert matching["sample_id"].str.contains("-01A-").all() and set(matching["rule"]) == {"TCGA barcode"}
    for name in ("modules.csv", "enrichment.csv"):
        expected, got = pd.read_csv(tmp_path / "plain_out" / name), pd.read_csv(tmp_path / "tcga_out" / name)
        pd.testing.assert_frame_equal(got, expected, rtol=1e-5, atol=1e-8)  # the TSV keeps 5 decimals
