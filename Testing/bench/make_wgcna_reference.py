"""Reference values for ``CCRCCStagingLib.radiogenomics.wgcna`` from R's WGCNA package.

    .venv/bin/python Testing/bench/make_wgcna_reference.py     # rewrite Testing/data/wgcna_reference/

NEEDS R (``Rscript`` on PATH) with the WGCNA package; the committed references were made with R 4.2.2 and WGCNA
1.72-1 (Debian's r-cran-wgcna). The tests do not need R: they regenerate every input from the parameters stored
here (``planted_cohort`` and seeded NumPy generators, below) and compare with R's stored outputs.

R gets exactly the matrices Python uses, as float64 binary files in a temporary folder
(``make_wgcna_reference.R``), and runs ``pickSoftThreshold`` (unsigned and signed), ``adjacency``,
``TOMsimilarity``, ``TOMsimilarityFromExpr``, ``moduleEigengenes``, ``mergeCloseModules``, ``scaleFreeFitIndex``,
``corPvalueStudent`` and ``labels2colors``. Only R's outputs are stored, with full precision (JSON floats round-trip
exactly); :func:`python_values` computes the same quantities in Python, and the script prints how far they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REFERENCE_DIR = HERE.parent / "data" / "wgcna_reference"
R_SCRIPT = HERE / "make_wgcna_reference.R"
#: Label alphabet of the stored merged labels: one character per gene (label < 62).
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: The data sets (samples × genes). "planted": ``planted_cohort`` (no decoy gene sets, they do not touch the
#: expression); "global_factor": one factor loading on nearly every gene (see :func:`global_factor`).
CASES: dict[str, dict] = {
    "cohort400": {"kind": "planted", "n_genes": 400, "n_samples": 50, "module_sizes": [120, 80, 60, 40],
                  "correlated_module": 2, "seed": 1},
    "one_module": {"kind": "planted", "n_genes": 400, "n_samples": 40, "module_sizes": [380],
                   "correlated_module": 1, "seed": 3},
    "global_factor": {"kind": "global_factor", "n_genes": 300, "n_samples": 40, "seed": 2},
}
#: The case every function is checked on; the others only go through ``pickSoftThreshold``.
FULL_CASE = "cohort400"
#: Genes whose TOM / adjacency block is stored (evenly spaced, so every module is in it).
N_BLOCK = 40
#: mergeCloseModules cut heights: WGCNA's usual 0.25 (merges only the modules sharing a driver), and 0.9 and 0.95
#: where independent modules' chance eigengene correlations (r ≈ 0.1 with 50 samples) merge them too, iteratively
#: (8 modules → 4 and → 2).
MERGE_HEIGHTS = (0.25, 0.9, 0.95)
#: The connectivity vectors given to ``scaleFreeFitIndex`` (seeded; see :func:`connectivity_vectors`).
K_VECTORS = ("power_law", "left_skewed", "integer_on_breaks", "cohort400_power6")
#: ``corPvalueStudent`` inputs: correlations (±1 and 0 included) and sample counts.
P_SEED, P_SAMPLES = 13, (5, 50, 400)
MAX_LABEL = 40


def global_factor(n_genes: int, n_samples: int, seed: int) -> np.ndarray:
    """One factor with loadings piled up near 0.97 (0.97 − exponential): connectivity skewed to the left, so the
    scale-free fit at low powers has a *positive* slope and a high R²."""
    rng = np.random.default_rng(seed)
    factor = rng.standard_normal(n_samples)
    loadings = np.clip(0.97 - rng.exponential(0.12, n_genes), 0.05, None)
    return np.outer(factor, loadings) + rng.standard_normal((n_samples, n_genes)) * np.sqrt(1 - loadings**2)


def make_case(name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(samples × genes expression, planted module labels or None) of a data set in :data:`CASES`."""
    from CCRCCStagingLib.synthetic.expression import planted_cohort

    spec = dict(CASES[name])
    if spec.pop("kind") == "global_factor":
        return global_factor(**spec), None
    spec["module_sizes"] = tuple(spec["module_sizes"])
    cohort = planted_cohort(n_decoy_sets=0, **spec)
    return np.ascontiguousarray(cohort.expression.T.to_numpy(float)), cohort.truth.to_numpy(int)


def split_labels(truth: np.ndarray) -> np.ndarray:
    """Modules for ``mergeCloseModules`` where several share a driver: planted module 1 dealt round-robin into
    labels 1, 5, 6 and module 2 into 2, 7; modules 3, 4 as planted; the first 20 grey genes form module 8 (a
    random eigengene, nothing to merge with); the rest stay grey."""
    labels = truth.copy()
    for module, parts in ((1, (1, 5, 6)), (2, (2, 7))):
        genes = np.flatnonzero(truth == module)
        labels[genes] = np.resize(parts, len(genes))
    labels[np.flatnonzero(truth == 0)[:20]] = 8
    return labels


def block_genes(n_genes: int) -> np.ndarray:
    return np.linspace(0, n_genes - 1, N_BLOCK).round().astype(int)


def connectivity_vectors() -> dict[str, np.ndarray]:
    """A heavy-tailed (power-law) one, a left-skewed one (positive slope), integers 0–10 that fall exactly on the
    10 bins' breaks (tests right-closed bins), and the planted cohort's unsigned connectivity at power 6."""
    from CCRCCStagingLib.radiogenomics import wgcna

    x, _ = make_case(FULL_CASE)
    cohort_k = wgcna.adjacency(wgcna.correlation(x), 6).sum(axis=0) - 1.0
    return {
        "power_law": (np.random.default_rng(10).pareto(1.5, 2000) + 1) * 2,
        "left_skewed": 100.0 - np.random.default_rng(11).gamma(1.5, 8.0, 1000).clip(None, 99),
        "integer_on_breaks": np.random.default_rng(12).integers(0, 11, 500).astype(float),
        "cohort400_power6": cohort_k,
    }


def p_value_correlations() -> np.ndarray:
    return np.concatenate([np.linspace(-1, 1, 41), np.random.default_rng(P_SEED).uniform(-1, 1, 20)])


def upper(block: np.ndarray) -> np.ndarray:
    """Strictly upper triangle, row by row (the blocks are symmetric with a known diagonal)."""
    return block[np.triu_indices(len(block), 1)]


def encode(labels: np.ndarray) -> str:
    return "".join(ALPHABET[v] for v in labels)


def decode(text: str) -> np.ndarray:
    return np.array([ALPHABET.index(ch) for ch in text], dtype=np.int64)


def python_values(name: str) -> dict:
    """What the Python module gives on a case, laid out as the stored R values (see :func:`read_r`)."""
    from CCRCCStagingLib.radiogenomics import wgcna

    x, truth = make_case(name)
    out: dict = {"sft": {}}
    for network_type in ("unsigned", "signed"):
        power, table, _ = wgcna.pick_soft_threshold(x, network_type=network_type)
        out["sft"][network_type] = {
            "chosen_power": power, "power": [row.power for row in table],
            "signed_r_sq": [row.signed_r2 for row in table], "slope": [row.slope for row in table],
            "mean_k": [row.mean_connectivity for row in table], "median_k": [row.median_connectivity for row in table],
        }
    if name != FULL_CASE:
        return out
    sub = block_genes(x.shape[1])
    adjacency = wgcna.adjacency(wgcna.correlation(x), 6)
    out["adjacency"] = {"block_upper": upper(adjacency[np.ix_(sub, sub)]), "row_sums": adjacency.sum(axis=1)}
    tom = wgcna.topological_overlap(adjacency)
    out["tom"] = {"block_upper": upper(tom[np.ix_(sub, sub)]), "row_sums": tom.sum(axis=1)}
    vectors, explained = wgcna.eigengenes(x, truth)
    out["eigengenes"] = {"labels": sorted(vectors), "vectors": [vectors[m] for m in sorted(vectors)],
                         "var_explained": [explained[m] for m in sorted(vectors)]}
    out["merged"] = {str(h): wgcna.merge_close_modules(x, split_labels(truth), h) for h in MERGE_HEIGHTS}
    return out


def write_inputs(folder: Path) -> None:
    """Every case's matrix (column-major samples × genes = NumPy's genes × samples rows) and the generic inputs."""
    rows = ["name,n_samples,n_genes,full"]
    for name in CASES:
        x, truth = make_case(name)
        x.T.astype(np.float64).tofile(folder / f"{name}_expr.f64")
        rows.append(f"{name},{x.shape[0]},{x.shape[1]},{'TRUE' if name == FULL_CASE else 'FALSE'}")
        if name == FULL_CASE:
            truth.astype(np.int32).tofile(folder / f"{name}_labels.i32")
            split_labels(truth).astype(np.int32).tofile(folder / f"{name}_split.i32")
            (block_genes(x.shape[1]) + 1).astype(np.int32).tofile(folder / "sub.i32")
    (folder / "cases.csv").write_text("\n".join(rows) + "\n")
    vectors = connectivity_vectors()
    for j, key in enumerate(K_VECTORS, start=1):
        vectors[key].astype(np.float64).tofile(folder / f"k_{j}.f64")
    p_value_correlations().tofile(folder / "cor.f64")
    np.array(P_SAMPLES, np.int32).tofile(folder / "nsamples.i32")
    np.array(MERGE_HEIGHTS, np.float64).tofile(folder / "merge_heights.f64")
    (folder / "generic.csv").write_text(f"n_k,max_label\n{len(K_VECTORS)},{MAX_LABEL}\n")


def read_r(folder: Path, name: str) -> dict:
    """R's outputs of one case, as JSON-ready lists."""
    def f64(suffix: str) -> np.ndarray:
        return np.fromfile(folder / f"{name}_{suffix}.f64", dtype=np.float64)

    out: dict = {"sft": {}}
    for network_type in ("unsigned", "signed"):
        table = f64(f"sft_{network_type}").reshape(7, -1)  # R's column-major fitIndices: one row per column
        estimate = float(f64(f"sft_{network_type}_power")[0])
        out["sft"][network_type] = {
            "power_estimate": None if np.isnan(estimate) else estimate, "power": table[0].tolist(),
            "sft_r_sq": table[1].tolist(), "slope": table[2].tolist(), "mean_k": table[4].tolist(),
            "median_k": table[5].tolist(),
        }
    if name != FULL_CASE:
        return out
    for key, stem in (("adjacency", "adj"), ("tom", "tom"), ("tom_from_expr", "tomexpr")):
        block = f64(f"{stem}_sub").reshape(N_BLOCK, N_BLOCK).T
        out[key] = {"block_upper": upper(block).tolist(), "row_sums": f64(f"{stem}_rowsums").tolist()}
    _, truth = make_case(name)
    labels = sorted(set(truth.tolist()))
    out["eigengenes"] = {"labels": labels, "vectors": f64("me").reshape(len(labels), -1).tolist(),
                         "var_explained": f64("varexpl").tolist()}
    out["merged"] = {str(h): encode(np.fromfile(folder / f"{name}_merged_{h:g}.i32", dtype=np.int32))
                     for h in MERGE_HEIGHTS}
    return out


def read_generic(folder: Path) -> dict:
    fits = {key: np.fromfile(folder / f"sffi_{j}.f64", dtype=np.float64).tolist()
            for j, key in enumerate(K_VECTORS, start=1)}
    p = np.fromfile(folder / "pvalues.f64", dtype=np.float64).reshape(len(P_SAMPLES), -1)
    return {
        "scale_free_fit_index": {key: {"r_sq": v[0], "slope": v[1]} for key, v in fits.items()},
        "cor_p_value_student": {str(n): row.tolist() for n, row in zip(P_SAMPLES, p)},
        "labels2colors": (folder / "colours.txt").read_text().split(),
    }


def r_versions() -> str:
    command = 'cat(R.version$major, ".", R.version$minor, " / WGCNA ", format(packageVersion("WGCNA")), sep="")'
    return subprocess.run(["Rscript", "-e", f"suppressMessages(library(WGCNA)); {command}"],
                          check=True, capture_output=True, text=True).stdout.strip()


def relative_difference(python, r) -> float:
    """max |python − r| / max(|r|, 1e-300), NaN-free inputs."""
    python, r = np.asarray(python, float), np.asarray(r, float)
    return float(np.max(np.abs(python - r) / np.maximum(np.abs(r), 1e-300)))


def summarise(name: str, doc: dict) -> None:
    """Print how far Python is from R on a case (the tests hold the tolerances)."""
    py = python_values(name)
    for network_type, ref in doc["r"]["sft"].items():
        mine = py["sft"][network_type]
        r_signed = -np.sign(ref["slope"]) * np.asarray(ref["sft_r_sq"])
        diffs = [relative_difference(mine[k], ref[k]) for k in ("slope", "mean_k", "median_k")]
        print(f"{name} {network_type}: signed R² {relative_difference(mine['signed_r_sq'], r_signed):.1e}, "
              f"slope/mean/median {max(diffs):.1e}; power: R {ref['power_estimate']}, Python {mine['chosen_power']}")
    if name != FULL_CASE:
        return
    for key, py_key in (("adjacency", "adjacency"), ("tom", "tom"), ("tom_from_expr", "tom")):
        print(f"{name} {key}: block {relative_difference(py[py_key]['block_upper'], doc['r'][key]['block_upper']):.1e}"
              f", row sums {relative_difference(py[py_key]['row_sums'], doc['r'][key]['row_sums']):.1e}")
    correlations = [abs(np.corrcoef(a, b)[0, 1]) for a, b in zip(py["eigengenes"]["vectors"],
                                                                  doc["r"]["eigengenes"]["vectors"])]
    print(f"{name} eigengenes: 1 − |r| {1 - min(correlations):.1e}, varExplained "
          f"{relative_difference(py['eigengenes']['var_explained'], doc['r']['eigengenes']['var_explained']):.1e}")
    for h, text in doc["r"]["merged"].items():
        r_labels, mine = decode(text), py["merged"][h]
        pairs = set(zip(r_labels.tolist(), mine.tolist()))
        print(f"{name} merge {h}: R {len(set(r_labels))} groups, Python {len(set(mine))}, "
              f"same partition {len(pairs) == len(set(r_labels)) == len(set(mine))}")


def make_references() -> None:
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    versions = r_versions()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_inputs(folder)
        subprocess.run(["Rscript", str(R_SCRIPT), str(folder)], check=True)
        for name, spec in CASES.items():
            doc = {"r_wgcna": versions, "case": name, "data": spec, "r": read_r(folder, name)}
            if name == FULL_CASE:
                doc["block_genes"] = block_genes(spec["n_genes"]).tolist()
            (REFERENCE_DIR / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
            summarise(name, doc)
        doc = {"r_wgcna": versions, "k_vectors": list(K_VECTORS), "p_seed": P_SEED, "p_samples": list(P_SAMPLES),
               "r": read_generic(folder)}
        (REFERENCE_DIR / "generic.json").write_text(json.dumps(doc, indent=1) + "\n")


def main() -> int:
    sys.path.insert(0, str(HERE.parents[1]))  # the project, when run as a script
    make_references()
    return 0


if __name__ == "__main__":
    sys.exit(main())
