"""``CCRCCStagingLib.radiogenomics.wgcna`` against R's WGCNA package (stored outputs; R is not needed here).

The inputs are regenerated from the seeds and parameters in ``Testing/bench/make_wgcna_reference.py``, which also
made the references (R 4.2.2, WGCNA 1.72-1) under ``Testing/data/wgcna_reference/``. Where the maths is the same the
tolerance is 1e-10 relative (measured differences are 1e-13 or less: summation order and BLAS rounding only).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from CCRCCStagingLib.radiogenomics import wgcna

from conftest import load_bench_script

HERE = Path(__file__).resolve().parents[1]
REFERENCE_DIR = HERE / "data" / "wgcna_reference"
RTOL = 1e-10


ref = load_bench_script("make_wgcna_reference")


@functools.cache
def reference(name: str) -> dict:
    return json.loads((REFERENCE_DIR / f"{name}.json").read_text())


@functools.cache
def python(name: str) -> dict:
    return ref.python_values(name)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renaming the modules, with grey (0) staying grey (adjusted Rand index 1 and grey kept)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist())) and all((x == 0) == (y == 0) for x, y in pairs)


@pytest.mark.parametrize("name", [*ref.CASES, "generic"])
def test_references_match_the_generators(name: str) -> None:
    doc = reference(name)
    assert doc["r_wgcna"].endswith("WGCNA 1.72.1")
    if name == "generic":
        assert (doc["k_vectors"], doc["p_seed"], doc["p_samples"]) == (list(ref.K_VECTORS), ref.P_SEED,
                                                                       list(ref.P_SAMPLES))
    else:
        assert doc["data"] == ref.CASES[name], "generator parameters changed: regenerate the references"


# ------------------------------------------------------------------------------------------- pickSoftThreshold


@pytest.mark.parametrize("network_type", ["unsigned", "signed"])
@pytest.mark.parametrize("name", list(ref.CASES))
def test_soft_threshold_table_equals_r(name: str, network_type: str) -> None:
    r = reference(name)["r"]["sft"][network_type]
    mine = python(name)["sft"][network_type]
    assert mine["power"] == r["power"] == list(map(float, wgcna.DEFAULT_POWERS))
    # R's SFT.R.sq is the plain R²; the table here carries the signed index −sign(slope)·R² of the WGCNA tutorial.
    np.testing.assert_allclose(mine["signed_r_sq"], -np.sign(r["slope"]) * np.asarray(r["sft_r_sq"]), rtol=RTOL)
    for key in ("slope", "mean_k", "median_k"):
        np.testing.assert_allclose(mine[key], r[key], rtol=RTOL, err_msg=key)


@pytest.mark.parametrize("network_type", ["unsigned", "signed"])
@pytest.mark.parametrize("name", list(ref.CASES))
def test_chosen_power_follows_r_on_the_signed_fit_index(name: str, network_type: str) -> None:
    r = reference(name)["r"]["sft"][network_type]
    powers, r_sq, slopes = np.array(r["power"]), np.array(r["sft_r_sq"]), np.array(r["slope"])
    # R's powerEstimate: the lowest power whose (unsigned) R² exceeds 0.85, NA if none.
    reaching = powers[r_sq > 0.85]
    assert r["power_estimate"] == (reaching[0] if len(reaching) else None)
    # Python: the same on the signed index (a positive slope is not a scale-free fit), else the FAQ's table.
    signed_reaching = powers[-np.sign(slopes) * r_sq > 0.85]
    n_samples = ref.CASES[name]["n_samples"]
    expected = signed_reaching[0] if len(signed_reaching) else wgcna.faq_power(n_samples, network_type)
    assert python(name)["sft"][network_type]["chosen_power"] == expected


def test_the_signed_index_differs_from_r_only_where_the_slope_is_positive() -> None:
    """The cases cover all three outcomes: same power as R, R's NA (FAQ power here), and R's power 1 with a
    positive slope (global factor: R² 0.93, slope +12), which the signed index rejects."""
    outcomes = {}
    for name in ref.CASES:
        for network_type in ("unsigned", "signed"):
            r = reference(name)["r"]["sft"][network_type]
            chosen = python(name)["sft"][network_type]["chosen_power"]
            if r["power_estimate"] is None:
                outcomes[name, network_type] = "R NA"
            elif chosen == r["power_estimate"]:
                outcomes[name, network_type] = "same"
            else:
                assert r["slope"][r["power"].index(r["power_estimate"])] > 0
                outcomes[name, network_type] = "positive slope"
    assert outcomes[ref.FULL_CASE, "unsigned"] == outcomes[ref.FULL_CASE, "signed"] == "same"
    assert outcomes["one_module", "unsigned"] == "R NA"
    assert outcomes["global_factor", "unsigned"] == "positive slope"


@pytest.mark.parametrize("key", ref.K_VECTORS)
def test_scale_free_fit_index_equals_r(key: str) -> None:
    r = reference("generic")["r"]["scale_free_fit_index"][key]
    r_sq, slope = wgcna.scale_free_fit_index(ref.connectivity_vectors()[key])
    assert r_sq == pytest.approx(r["r_sq"], rel=RTOL)
    assert slope == pytest.approx(r["slope"], rel=RTOL)


# ------------------------------------------------------------------------------------------- adjacency and TOM


@pytest.mark.parametrize("r_key, key", [("adjacency", "adjacency"), ("tom", "tom"), ("tom_from_expr", "tom")])
def test_adjacency_and_topological_overlap_equal_r(r_key: str, key: str) -> None:
    """adjacency(power 6, unsigned); TOMsimilarity(adj, "unsigned") and TOMsimilarityFromExpr give the same TOM."""
    doc = reference(ref.FULL_CASE)
    assert doc["block_genes"] == ref.block_genes(ref.CASES[ref.FULL_CASE]["n_genes"]).tolist()
    mine, r = python(ref.FULL_CASE)[key], doc["r"][r_key]
    # Small adjacencies (|r|^6 of |r| ≈ 0.01) carry 6× the relative rounding of r: 3e-13 measured.
    np.testing.assert_allclose(mine["block_upper"], r["block_upper"], rtol=RTOL)
    np.testing.assert_allclose(mine["row_sums"], r["row_sums"], rtol=RTOL)


# ------------------------------------------------------------------------------------------- eigengenes, merging


def test_eigengenes_equal_r_up_to_scale() -> None:
    """R returns the unit-norm singular vector (SD 1/√(n−1)); here SD 1 (population), i.e. R's vector × √n."""
    r = reference(ref.FULL_CASE)["r"]["eigengenes"]
    mine = python(ref.FULL_CASE)["eigengenes"]
    assert mine["labels"] == r["labels"] == [0, 1, 2, 3, 4]
    n_samples = ref.CASES[ref.FULL_CASE]["n_samples"]
    for label, vector, r_vector in zip(r["labels"], mine["vectors"], r["vectors"]):
        assert np.corrcoef(vector, r_vector)[0, 1] == pytest.approx(1.0, abs=1e-12), label  # same sign too
        np.testing.assert_allclose(vector, np.asarray(r_vector) * np.sqrt(n_samples), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(mine["var_explained"], r["var_explained"], rtol=RTOL)


@pytest.mark.parametrize("height", ref.MERGE_HEIGHTS)
def test_merged_modules_equal_r(height: float) -> None:
    r_labels = ref.decode(reference(ref.FULL_CASE)["r"]["merged"][str(height)])
    mine = python(ref.FULL_CASE)["merged"][str(height)]
    assert same_partition(mine, r_labels)


def test_modules_sharing_a_driver_are_merged_and_no_others() -> None:
    _, truth = ref.make_case(ref.FULL_CASE)
    merged = python(ref.FULL_CASE)["merged"]["0.25"]
    assert same_partition(merged, np.where(ref.split_labels(truth) == 8, 8, truth))


# ------------------------------------------------------------------------------------------- p-values, colours


@pytest.mark.parametrize("n_samples", ref.P_SAMPLES)
def test_correlation_p_values_equal_r(n_samples: int) -> None:
    """Including r = ±1 (p = 0) and p down to 1e-245 (t tails: R's pt and SciPy agree to 1e-13)."""
    r = np.array(reference("generic")["r"]["cor_p_value_student"][str(n_samples)])
    p = wgcna.correlation_p_values(ref.p_value_correlations(), n_samples)
    np.testing.assert_array_equal(p == 0, r == 0)
    np.testing.assert_allclose(p, r, rtol=RTOL, atol=0)


def test_module_colours_equal_r_through_its_first_34() -> None:
    """R's standardColors() has 435 names; past the 34 this module lists, R goes on with names such as "sienna3"
    that matplotlib cannot draw, so here they are "module<N>" (the report colours those by number)."""
    r = reference("generic")["r"]["labels2colors"]
    assert len(r) == ref.MAX_LABEL + 1
    n = len(wgcna.MODULE_COLOURS)
    assert [wgcna.module_colour(label) for label in range(n + 1)] == r[: n + 1]
    assert [wgcna.module_colour(label) for label in range(n + 1, ref.MAX_LABEL + 1)] == [
        f"module{label}" for label in range(n + 1, ref.MAX_LABEL + 1)]
    assert r[n + 1] == "sienna3"
