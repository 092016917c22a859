"""Hybrid dynamic tree cut (Langfelder, Zhang & Horvath 2008, Bioinformatics 24:719), as R's
``dynamicTreeCut::cutreeHybrid`` and WGCNA's ``cutreeDynamic(method = "hybrid")`` compute it.

The cut has two stages. The tree stage walks the dendrogram bottom-up and grows *basic branches*: a branch that
joins another is absorbed when it is too small, too loose (its core scatter is too high) or too close to the rest
(its gap is too small); two branches that both pass stay apart under a *composite* branch. Basic branches that
were never absorbed and still pass the tests at the end are the clusters. The PAM-like stage then gives each
object left over (and each absorbed-for-size "small cluster" as a whole) to the cluster with the smallest mean
distance, if that distance is below the cluster's diameter or below ``max_pam_dist``.

The labels equal R's ``cutreeHybrid(dendro, distM, ...)$labels`` (dynamicTreeCut 1.63.1, ``useMedoids = FALSE``,
no external split functions) when R is given the same tree: the merge order and the order of the two children in
each merge matter (a branch's core is the objects that joined it first; ties in branch size go to the first
child). ``linkage_to_r_merge`` gives the tree as R's ``hclust$merge`` for such comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Maximum core scatter for deepSplit 0..4, as a fraction of the (reference-truncated) height range.
_MAX_CORE_SCATTER = (0.64, 0.73, 0.82, 0.91, 0.95)


@dataclass(frozen=True)
class _Criteria:
    """Absolute thresholds (in dendrogram heights) of the tree stage, plus what the PAM stage needs."""

    min_size: int
    cut_height: float
    max_scatter: float  # a branch whose core scatter is above this is too loose to be a cluster
    min_gap: float  # ... and one whose merge height minus its core scatter is below this is too close to the rest
    min_split_height: float  # merges below this height never separate two clusters
    max_pam_dist: float


@dataclass
class _Branch:
    """A basic branch (its objects, in the order they joined) or a composite one (the basic branches under it)."""

    basic: bool
    members: list[int] = field(default_factory=list)  # basic: objects in joining order (the core is a prefix)
    basics: list[int] = field(default_factory=list)  # composite: ids of the basic branches below it
    size: int = 0
    top: bool = True  # basic and not absorbed into another branch: a cluster candidate
    small: bool = False  # absorbed only because it was too small (or too low): a "small cluster" for the PAM stage
    attach: float | None = None  # height at which it joined another branch


def linkage_to_r_merge(linkage: np.ndarray) -> np.ndarray:
    """SciPy linkage → R ``hclust$merge`` (-i for object i, 1-based; +j for the j-th merge), children kept in order."""
    n = linkage.shape[0] + 1
    children = linkage[:, :2].astype(np.int64)
    return np.where(children < n, -(children + 1), children - n + 1)


def _core_scatter(dist: np.ndarray, members: list[int], min_size: int) -> float:
    """Mean distance within the branch's core: its first base + sqrt(extra) objects, base = min_size / 2 + 1."""
    base = min_size / 2 + 1
    k = int(base + np.sqrt(len(members) - base)) if base < len(members) else len(members)
    core = members[:k]
    return float(np.mean(dist[np.ix_(core, core)].sum(axis=0) / (k - 1)))


def _failure(branch: _Branch, height: float, dist: np.ndarray, c: _Criteria) -> bool | None:
    """None when a basic branch merging at ``height`` may stand as a cluster; else whether it failed on size alone."""
    scatter = _core_scatter(dist, branch.members, c.min_size)
    loose, close = scatter > c.max_scatter, height - scatter < c.min_gap
    if branch.size < c.min_size or loose or close or height < c.min_split_height:
        return not (loose or close)
    return None


def _tree_stage(children: np.ndarray, heights: np.ndarray, dist: np.ndarray,
                c: _Criteria) -> tuple[list[_Branch], np.ndarray]:
    """Walk the merges below the cut; return the branches and, per object, the composite branch it hangs on (-1)."""
    n = len(heights) + 1
    branches: list[_Branch] = []
    node_branch = np.full(n - 1, -1)  # merge index -> branch holding that subtree
    on_branch = np.full(n, -1)

    def add(into: int, obj: int) -> None:  # a single object joins a branch
        branch = branches[into]
        branch.size += 1
        if branch.basic:
            branch.members.append(obj)
        else:
            on_branch[obj] = into

    for i, (a, b) in enumerate(children):
        h = heights[i]
        if h > c.cut_height:
            continue
        if a < n and b < n:  # two objects start a new basic branch
            branches.append(_Branch(basic=True, members=[int(a), int(b)], size=2))
            node_branch[i] = len(branches) - 1
        elif a < n or b < n:
            obj, sub = (a, b) if a < n else (b, a)
            node_branch[i] = node_branch[sub - n]
            add(node_branch[i], int(obj))
        else:
            first, second = node_branch[a - n], node_branch[b - n]
            small, large = (first, second) if branches[first].size <= branches[second].size else (second, first)
            node_branch[i] = _join(branches, small, large, h, dist, c, on_branch)
    return branches, on_branch


def _join(branches: list[_Branch], small: int, large: int, h: float, dist: np.ndarray, c: _Criteria,
          on_branch: np.ndarray) -> int:
    """Two branches meet at height h: absorb the smaller if it fails (else the larger if it fails), or keep both
    under a new composite branch. Returns the id of the branch that now holds the subtree."""
    for loser, winner in ((small, large), (large, small)):
        fail = _failure(branches[loser], h, dist, c) if branches[loser].basic else None
        if fail is not None:
            lost, won = branches[loser], branches[winner]
            lost.top, lost.small, lost.attach = False, fail, h
            won.size += lost.size
            if won.basic:
                won.members.extend(lost.members)
            else:
                on_branch[lost.members] = winner
            return winner
    # Both stand. R extends an existing composite instead when the PAM stage ignores the dendrogram; the clusters
    # and labels are the same either way, so a new composite always records the structure.
    for k in (small, large):
        branches[k].attach = h
    basics = [k for k in (small, large) if branches[k].basic]
    basics += [j for k in (small, large) if not branches[k].basic for j in branches[k].basics]
    branches.append(_Branch(basic=False, basics=basics, size=branches[small].size + branches[large].size))
    return len(branches) - 1


def _tree_clusters(branches: list[_Branch], dist: np.ndarray, c: _Criteria,
                   n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tree-stage labels (clusters numbered in branch order), small-cluster ids per object, and label per branch.

    A cluster is a basic branch never absorbed that is big, tight and separated enough at the height where it
    joined the rest (the cut height if it never did)."""
    labels, small = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    branch_label = np.zeros(len(branches), dtype=np.int64)
    for i, b in enumerate(branches):  # later branches overwrite: an object's small cluster is the last it was in
        if b.small:
            small[b.members] = i + 1
    for i, b in enumerate(branches):
        if b.basic and b.top:
            scatter = _core_scatter(dist, b.members, c.min_size)
            attach = c.cut_height if b.attach is None else b.attach
            if b.size >= c.min_size and scatter < c.max_scatter and attach - scatter > c.min_gap:
                branch_label[i] = branch_label.max() + 1
                labels[b.members] = branch_label[i]
                small[b.members] = 0
    return labels, small, branch_label


def _clusters_below(branches: list[_Branch], branch_label: np.ndarray) -> np.ndarray:
    """(branches + 1) × clusters: which clusters lie below each composite branch; the last row (index -1) is for
    objects that hang on no composite branch, which may join none."""
    below = np.zeros((len(branches) + 1, branch_label.max()), dtype=bool)
    for i, b in enumerate(branches):
        ids = branch_label[b.basics]
        below[i, ids[ids > 0] - 1] = True
    return below


def _pam_stage(dist: np.ndarray, labels: np.ndarray, small: np.ndarray, allowed: np.ndarray,
               c: _Criteria) -> np.ndarray:
    """Give each small cluster (as a whole), then each object still unlabelled, to the nearest cluster by mean
    distance, if that distance is below the cluster's diameter or below ``max_pam_dist``.

    ``allowed`` (objects × clusters) says which clusters an object may join: all, or those below the composite
    branch it hangs on when the PAM stage respects the dendrogram. Distances are to the tree-stage clusters only,
    so the order of assignment does not matter."""
    k = int(labels.max())
    onehot = np.zeros((len(labels), k))  # sums over each cluster's objects as one matrix product, divided after
    labelled = np.flatnonzero(labels > 0)  # (as R's mean does, so that exact ties stay exact)
    onehot[labelled, labels[labelled] - 1] = 1.0
    sizes = onehot.sum(axis=0)
    sums = dist @ onehot  # objects × clusters, without copying rows of dist
    # per cluster: the largest mean distance of a member to the other members
    diameter = np.array([sums[labels == j + 1, j].max() / (sizes[j] - 1) if sizes[j] > 1 else 0.0 for j in range(k)])

    def nearest(means: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the nearest allowed cluster (first of ties, as R's which.min) and whether it may take it."""
        means = np.where(mask, means, np.inf)
        best = np.argmin(means, axis=1)
        d = means[np.arange(len(best)), best]
        return best + 1, mask.any(axis=1) & ((d < diameter[best]) | (d < c.max_pam_dist))

    out = labels.copy()
    groups = [np.flatnonzero(small == s) for s in np.unique(small[small > 0])]
    groups = [g for g in groups if allowed[g[0]].any()]  # all objects of a small cluster hang on the same branch
    if groups:
        # R's order: mean over the small cluster's rows first, then over each cluster's objects
        means = np.vstack([(dist[g].mean(axis=0) @ onehot) / sizes for g in groups])
        best, ok = nearest(means, allowed[[g[0] for g in groups]])
        for g, b, y in zip(groups, best, ok):
            out[g] = b if y else -1  # -1: decided, stays unassigned (not reconsidered object by object)
    rest = np.flatnonzero((out == 0) & allowed.any(axis=1))
    best, ok = nearest(sums[rest] / sizes, allowed[rest])
    out[rest[ok]] = best[ok]
    return np.maximum(out, 0)


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 1, 2, … by decreasing size (ties: the earlier label first); 0 stays 0."""
    sizes = np.bincount(labels)[1:]
    order = np.argsort(-sizes, kind="stable") + 1
    new = np.zeros(len(sizes) + 1, dtype=np.int64)
    new[order] = np.arange(1, len(sizes) + 1)
    return new[labels]


def cutree_hybrid(linkage: np.ndarray, distances: np.ndarray, *, min_cluster_size: int = 20, deep_split: int = 1,
                  pam_respects_dendro: bool = True, cut_height: float | None = None, pam_stage: bool = True,
                  max_pam_dist: float | None = None, max_core_scatter: float | None = None,
                  min_gap: float | None = None, min_split_height: float = 0.0,
                  respect_small_clusters: bool = True) -> np.ndarray:
    """Hybrid dynamic tree cut of a SciPy ``linkage`` of the square dissimilarity matrix ``distances``.

    Returns an int label per object: 0 = unassigned ("grey"), 1 = the largest cluster, 2 = the next, …, equal to
    R's ``cutreeHybrid`` for the same tree. Defaults are R's: ``cut_height`` 99% of the height range above the
    5% quantile merge height (clipped to the top merge when given); ``max_core_scatter`` and ``min_gap`` (fractions
    of that range) from ``deep_split`` 0–4; ``max_pam_dist`` = cut height. WGCNA's usual call is
    ``deep_split=2, pam_respects_dendro=False, min_cluster_size=30`` (or 100).
    """
    linkage, dist = np.asarray(linkage, dtype=float), np.asarray(distances, dtype=float)
    if linkage.ndim != 2 or linkage.shape[1] != 4 or linkage.shape[0] < 1:
        raise ValueError(f"linkage must be a SciPy linkage matrix (n - 1 rows, 4 columns), got shape {linkage.shape}")
    n = linkage.shape[0] + 1
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"distances must be a square n × n matrix, got shape {dist.shape}")
    if dist.shape[0] != n:
        raise ValueError(f"distances is {dist.shape[0]} × {dist.shape[0]} but the linkage has {n} objects")
    if int(min_cluster_size) != min_cluster_size or min_cluster_size < 1:
        raise ValueError(f"min_cluster_size must be an integer ≥ 1, got {min_cluster_size!r}")
    if deep_split not in range(5) or isinstance(deep_split, bool):
        raise ValueError(f"deep_split must be an integer from 0 to 4, got {deep_split!r}")
    if np.any(np.diff(linkage[:, 2]) < 0):
        raise ValueError("linkage heights must be non-decreasing (e.g. average linkage), as SciPy orders merges")
    if np.any(np.diagonal(dist) != 0):  # R treats the diagonal as 0
        dist = dist.copy()
        np.fill_diagonal(dist, 0.0)

    heights = linkage[:, 2]
    ref = heights[max(round((n - 1) * 0.05), 1) - 1]  # the 5% quantile merge: the bottom of the height range
    top = heights.max()
    cut = 0.99 * (top - ref) + ref if cut_height is None else min(cut_height, top)
    if np.sum(heights <= cut) < min_cluster_size:  # too few merges below the cut for any cluster
        return np.zeros(n, dtype=np.int64)
    if np.ptp(heights) <= 1e-12 * abs(top):  # all objects equidistant: no structure. (R may split such a tree
        return np.zeros(n, dtype=np.int64)  # by rounding noise, as the thresholds then collapse onto one height.)
    scatter = _MAX_CORE_SCATTER[deep_split] if max_core_scatter is None else max_core_scatter
    gap = (1 - _MAX_CORE_SCATTER[deep_split]) * 3 / 4 if min_gap is None else min_gap
    c = _Criteria(min_size=int(min_cluster_size), cut_height=cut, max_scatter=ref + scatter * (cut - ref),
                  min_gap=gap * (cut - ref), min_split_height=ref + min_split_height * (cut - ref),
                  max_pam_dist=cut if max_pam_dist is None else max_pam_dist)

    branches, on_branch = _tree_stage(linkage[:, :2].astype(np.int64), heights, dist, c)

    labels, small, branch_label = _tree_clusters(branches, dist, c, n)
    if not respect_small_clusters:
        small[:] = 0
    if pam_stage and labels.max() > 0 and np.any(labels == 0):
        allowed = np.ones((n, labels.max()), dtype=bool)
        if pam_respects_dendro:  # only the clusters below the composite branch the object hangs on
            allowed = _clusters_below(branches, branch_label)[on_branch]
        labels = _pam_stage(dist, labels, small, allowed, c)
    return _by_size(labels)
