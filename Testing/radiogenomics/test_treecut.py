"""``cutree_hybrid`` against R's ``dynamicTreeCut::cutreeHybrid`` (stored labels; R is not needed here).

The data sets are regenerated from the seeds and parameters in ``Testing/bench/make_treecut_reference.py``, which
also made the references (R 4.2.2, dynamicTreeCut 1.63.1) under ``Testing/data/treecut_reference/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import pdist, squareform

from CCRCCStagingLib.radiogenomics.treecut import cutree_hybrid, linkage_to_r_merge

from conftest import load_bench_script

HERE = Path(__file__).resolve().parents[1]
REFERENCES = sorted((HERE / "data" / "treecut_reference").glob("*.json"))


ref = load_bench_script("make_treecut_reference")


def test_references_cover_the_required_settings() -> None:
    params = [r["params"] for path in REFERENCES for r in json.loads(path.read_text())["results"]]
    assert len(REFERENCES) >= 4
    assert {p["deep_split"] for p in params} == {0, 1, 2, 3, 4}
    assert {p["pam_respects_dendro"] for p in params} == {False, True}
    assert {p["min_cluster_size"] for p in params} >= {20, 30, 100}
    assert any(p.get("pam_stage") is False for p in params)
    graded = [json.loads(path.read_text()) for path in REFERENCES]
    assert any(doc["data"]["kind"] == "modules" and "0" in labels for doc in graded for labels in doc["labelings"])


@pytest.mark.parametrize("path", REFERENCES, ids=lambda p: p.stem)
def test_labels_equal_r(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert doc["data"] == ref.CASES[doc["case"]], "generator parameters changed: regenerate the references"
    tree, dist = ref.make_case(doc["case"])
    assert len(dist) == doc["n"]
    differing = []
    for result in doc["results"]:
        expected = ref.decode(doc["labelings"][result["labeling"]])
        labels = cutree_hybrid(tree, dist, **result["params"])
        if not np.array_equal(labels, expected):
            differing.append((result["params"], int(np.sum(labels != expected))))
    assert not differing, f"labels differ from R in {len(differing)} configurations: {differing[:3]}"


def test_wgcna_settings_give_planted_modules() -> None:
    tree, dist = ref.make_case("modules1500")
    labels = cutree_hybrid(tree, dist, deep_split=2, pam_respects_dendro=False, min_cluster_size=100)
    sizes = np.bincount(labels)
    assert labels.max() >= 4 and sizes[0] > 0  # modules plus grey noise genes
    assert np.all(np.diff(sizes[1:]) <= 0)  # 1 = largest module


def test_identical_distances_give_no_cluster() -> None:
    for n, value in ((60, 0.3), (200, 0.7), (200, 1.0)):
        dist = np.full((n, n), value)
        np.fill_diagonal(dist, 0.0)
        tree = linkage(squareform(dist, checks=False), method="average")
        for deep_split in (0, 2, 4):
            assert not cutree_hybrid(tree, dist, min_cluster_size=10, deep_split=deep_split).any()


def test_tree_smaller_than_min_cluster_size_gives_no_cluster() -> None:
    points = np.random.default_rng(0).normal(size=(15, 2))
    labels = cutree_hybrid(linkage(pdist(points), method="average"), squareform(pdist(points)))
    assert labels.shape == (15,) and not labels.any()


@pytest.mark.parametrize("pam_respects_dendro", [False, True])
def test_two_separated_blobs_give_two_clusters(pam_respects_dendro: bool) -> None:
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(50, 2)) + 50.0])
    labels = cutree_hybrid(linkage(pdist(points), method="average"), squareform(pdist(points)), min_cluster_size=20,
                           pam_respects_dendro=pam_respects_dendro)
    np.testing.assert_array_equal(labels, np.r_[np.full(40, 2), np.full(50, 1)])


def test_nonzero_diagonal_is_ignored() -> None:
    tree, dist = ref.make_case("blobs300_int")
    shifted = dist + np.eye(len(dist))
    np.testing.assert_array_equal(cutree_hybrid(tree, shifted), cutree_hybrid(tree, dist))


def test_linkage_to_r_merge() -> None:
    tree = linkage(pdist(np.array([[0.0], [1.0], [10.0], [10.5]])), method="average")
    np.testing.assert_array_equal(linkage_to_r_merge(tree), [[-3, -4], [-1, -2], [1, 2]])


def test_invalid_input_is_refused() -> None:
    points = np.random.default_rng(0).normal(size=(30, 2))
    tree, dist = linkage(pdist(points), method="average"), squareform(pdist(points))
    cases = [
        ((tree[:, :3], dist), {}, "linkage"),
        ((tree, dist[:, :29]), {}, "square"),
        ((tree, dist[:29, :29]), {}, "29 × 29 but the linkage has 30"),
        ((tree, dist), {"min_cluster_size": 0}, "min_cluster_size"),
        ((tree, dist), {"deep_split": 5}, "deep_split"),
        ((tree, dist), {"deep_split": -1}, "deep_split"),
        ((tree[::-1], dist), {}, "non-decreasing"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            cutree_hybrid(*args, **kwargs)
