"""Reference labels for ``CCRCCStagingLib.radiogenomics.treecut.cutree_hybrid`` from R's ``dynamicTreeCut::cutreeHybrid``.

    .venv/bin/python Testing/bench/make_treecut_reference.py            # rewrite Testing/data/treecut_reference/
    .venv/bin/python Testing/bench/make_treecut_reference.py --bench    # time 5000 genes, Python vs R (writes nothing)

NEEDS R (``Rscript`` on PATH) with the dynamicTreeCut package; the committed references were made with R 4.2.2 and
dynamicTreeCut 1.63.1 (Debian's r-cran-dynamictreecut). The tests do not need R: they regenerate each data set
from the parameters stored here (seeded NumPy generators, below), and compare with R's stored labels.

Each data set is generated in Python, clustered with SciPy average linkage, and R is given exactly that tree
(the merge order and the order of the two children matter) with the same dissimilarity matrix, through binary
files in a temporary folder (``make_treecut_reference.R``). R is only a black-box oracle here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform

HERE = Path(__file__).resolve().parent
REFERENCE_DIR = HERE.parent / "data" / "treecut_reference"
R_SCRIPT = HERE / "make_treecut_reference.R"
#: Label alphabet of the stored labels: one character per object (label < 62).
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: The data sets: generator name and its keyword arguments.
CASES: dict[str, dict] = {
    "modules600": {"kind": "modules", "seed": 1, "n_samples": 60, "module_sizes": [150, 110, 80, 60, 40, 30],
                   "n_noise": 130, "loading": [0.4, 0.85]},
    "modules1000_weak": {"kind": "modules", "seed": 2, "n_samples": 40, "module_sizes": [220, 160, 120, 90, 60, 45, 35],
                         "n_noise": 270, "loading": [0.3, 0.75]},
    "modules1500": {"kind": "modules", "seed": 3, "n_samples": 100, "module_sizes": [400, 300, 200, 150, 100, 80],
                    "n_noise": 270, "loading": [0.45, 0.9]},
    "blobs500": {"kind": "blobs", "seed": 4, "dim": 5, "sizes": [120, 90, 70, 60, 45, 35, 25], "n_noise": 55},
    "blobs300_int": {"kind": "blobs", "seed": 5, "dim": 3, "sizes": [80, 60, 50, 40, 30], "n_noise": 40,
                     "integer": True},
}


def planted_modules(seed: int, n_samples: int, module_sizes: list[int], n_noise: int,
                    loading: list[float]) -> np.ndarray:
    """WGCNA-style dissimilarity 1 − TOM of genes in planted co-expression modules plus pure-noise genes.

    Each module has a random eigengene; a gene is ``eigengene × loading + noise`` (loading uniform in ``loading``,
    random sign, unit variance). Unsigned adjacency |cor|^6, unsigned TOM, diagonal 0."""
    rng = np.random.default_rng(seed)
    n_genes = sum(module_sizes) + n_noise
    x = rng.standard_normal((n_samples, n_genes))
    columns = rng.permutation(n_genes)  # modules scattered over the columns
    start = 0
    for size in module_sizes:
        idx = columns[start:start + size]
        start += size
        eigengene = rng.standard_normal(n_samples)
        load = rng.uniform(*loading, size=size) * rng.choice([-1.0, 1.0], size=size)
        x[:, idx] = np.outer(eigengene, load) + rng.standard_normal((n_samples, size)) * np.sqrt(1 - load**2)
    adjacency = np.abs(np.corrcoef(x, rowvar=False)) ** 6
    np.fill_diagonal(adjacency, 0.0)
    k = adjacency.sum(axis=1)
    tom = (adjacency @ adjacency + adjacency) / (np.minimum.outer(k, k) + 1.0 - adjacency)
    np.fill_diagonal(tom, 1.0)
    return 1.0 - tom


def euclidean_blobs(seed: int, dim: int, sizes: list[int], n_noise: int, integer: bool = False) -> np.ndarray:
    """Euclidean distances of Gaussian blobs plus uniform background points; ``integer`` rounds the coordinates
    (many tied distances and merge heights)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(len(sizes), dim))
    points = np.vstack([c + rng.normal(size=(s, dim)) for c, s in zip(centres, sizes)]
                       + [rng.uniform(-15, 15, size=(n_noise, dim))])
    if integer:
        points = np.round(points)
    return squareform(pdist(points))


def make_case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(SciPy average linkage, square dissimilarity matrix) of a data set in :data:`CASES`."""
    spec = dict(CASES[name])
    kind = spec.pop("kind")
    dist = planted_modules(**spec) if kind == "modules" else euclidean_blobs(**spec)
    np.fill_diagonal(dist, 0.0)
    return linkage(squareform(dist, checks=False), method="average"), dist


def configurations(name: str) -> list[dict]:
    """The parameter sets checked on a data set: deepSplit 0–4 × pamRespectsDendro × minClusterSize, and a few
    without the PAM stage or with a given cut height / maxPamDist."""
    configs = [{"deep_split": ds, "pam_respects_dendro": prd, "min_cluster_size": mcs}
               for ds in range(5) for prd in (False, True) for mcs in (20, 30, 100)]
    configs += [{"deep_split": ds, "pam_respects_dendro": False, "min_cluster_size": 30, "pam_stage": False}
                for ds in (0, 2, 4)]
    configs += [{"deep_split": 2, "pam_respects_dendro": prd, "min_cluster_size": 20, "cut_height": ch}
                for prd in (False, True) for ch in ("q90", "above_top")]
    configs += [{"deep_split": 1, "pam_respects_dendro": False, "min_cluster_size": 20, "max_pam_dist": "q50"}]
    return configs


def resolve(config: dict, tree: np.ndarray) -> dict:
    """Heights given as "qNN" (a quantile of the merge heights) or "above_top" → numbers."""
    out = dict(config)
    for key in ("cut_height", "max_pam_dist"):
        value = out.get(key)
        if value == "above_top":
            out[key] = float(tree[:, 2].max() * 1.1)
        elif isinstance(value, str):
            out[key] = float(np.quantile(tree[:, 2], int(value[1:]) / 100))
    return out


def encode(labels: np.ndarray) -> str:
    """One character per object."""
    if labels.max() >= len(ALPHABET):
        raise ValueError("too many clusters for the label alphabet")
    return "".join(ALPHABET[v] for v in labels)


def decode(text: str) -> np.ndarray:
    return np.array([ALPHABET.index(ch) for ch in text], dtype=np.int64)


def write_tree(folder: Path, name: str, tree: np.ndarray, dist: np.ndarray) -> None:
    """The tree as R's hclust merge/height (column-major int32 / float64) and the dissimilarities (float64)."""
    from CCRCCStagingLib.radiogenomics.treecut import linkage_to_r_merge

    linkage_to_r_merge(tree).astype(np.int32).T.tofile(folder / f"{name}_merge.i32")
    tree[:, 2].astype(np.float64).tofile(folder / f"{name}_height.f64")
    dist.astype(np.float64).tofile(folder / f"{name}_diss.f64")


def run_r(folder: Path, rows: list[dict]) -> list[dict]:
    """Run the R script on the configurations in ``rows`` (each with "case"); labels and seconds per row."""
    columns = ["case", "deep_split", "pam_respects_dendro", "min_cluster_size", "pam_stage", "cut_height",
               "max_pam_dist"]
    lines = [",".join(columns)]
    for row in rows:
        values = [row["case"], row["deep_split"], str(row["pam_respects_dendro"]).upper(), row["min_cluster_size"],
                  str(row.get("pam_stage", True)).upper(), row.get("cut_height", "NA"), row.get("max_pam_dist", "NA")]
        lines.append(",".join(repr(v) if isinstance(v, float) else str(v) for v in values))
    (folder / "configs.csv").write_text("\n".join(lines) + "\n")
    subprocess.run(["Rscript", str(R_SCRIPT), str(folder)], check=True)
    seconds = json.loads((folder / "seconds.json").read_text())
    results = []
    for i, row in enumerate(rows, start=1):
        labels = np.fromfile(folder / f"labels_{i}.i32", dtype=np.int32).astype(np.int64)
        results.append({"labels": labels, "seconds": float(seconds[i - 1])})
    return results


def r_versions() -> str:
    command = 'cat(R.version$major, ".", R.version$minor, "/", format(packageVersion("dynamicTreeCut")), sep="")'
    return subprocess.run(["Rscript", "-e", f"suppressMessages(library(dynamicTreeCut)); {command}"],
                          check=True, capture_output=True, text=True).stdout.strip()


def make_references() -> None:
    """Write one JSON file per data set: its generator parameters and, per configuration, R's labels."""
    from CCRCCStagingLib.radiogenomics.treecut import cutree_hybrid

    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    versions = r_versions()
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in CASES.items():
            tree, dist = make_case(name)
            write_tree(Path(tmp), name, tree, dist)
            configs = [resolve(c, tree) for c in configurations(name)]
            results = run_r(Path(tmp), [{"case": name, **c} for c in configs])
            labelings = list(dict.fromkeys(encode(r["labels"]) for r in results))  # distinct ones, stored once
            doc = {"r_dynamicTreeCut": versions, "case": name, "data": spec, "n": len(dist),
                   "labelings": labelings,
                   "results": [{"params": c, "labeling": labelings.index(encode(r["labels"]))}
                               for c, r in zip(configs, results)]}
            (REFERENCE_DIR / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
            same = sum(np.array_equal(cutree_hybrid(tree, dist, **c), r["labels"]) for c, r in zip(configs, results))
            print(f"{name}: n={len(dist)}, {len(configs)} configurations, {len(labelings)} distinct labelings; "
                  f"cutree_hybrid equals R in {same}/{len(configs)}")


def bench(n_genes: int = 5000, n_samples: int = 500) -> None:
    """Time cutree_hybrid and R's cutreeHybrid on the same 5000-gene tree with WGCNA's usual settings."""
    from CCRCCStagingLib.radiogenomics.treecut import cutree_hybrid

    sizes = [int(s * n_genes / 2000) for s in (400, 320, 250, 200, 150)]
    dist = planted_modules(7, n_samples, sizes, n_genes - sum(sizes), [0.5, 0.9])
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    params = {"deep_split": 2, "pam_respects_dendro": False, "min_cluster_size": 100}
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        labels = cutree_hybrid(tree, dist, **params)
        times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), "bench", tree, dist)
        r = run_r(Path(tmp), [{"case": "bench", **params}])[0]
    print(f"{n_genes} genes: Python {min(times):.3f} s (best of 3), R cutreeHybrid {r['seconds']:.3f} s; "
          f"labels identical: {bool(np.array_equal(labels, r['labels']))}; modules: {labels.max()}, "
          f"grey: {int(np.sum(labels == 0))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="time 5000 genes against R instead")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parents[1]))  # the project, when run as a script
    bench() if args.bench else make_references()
    return 0


if __name__ == "__main__":
    sys.exit(main())
