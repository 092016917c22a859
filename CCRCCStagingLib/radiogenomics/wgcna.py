"""Weighted gene co-expression network analysis (WGCNA; Langfelder & Horvath 2008), the steps of the paper.

Pearson correlation → soft-threshold power chosen by the scale-free topology fit (``pickSoftThreshold``) →
adjacency → topological overlap (``TOMsimilarity``) → average-linkage hierarchical clustering of 1 − TOM →
dynamic tree cut (``cutreeDynamic``, hybrid method) → merging of modules with near-identical eigengenes
(``mergeCloseModules``) → module eigengenes → module–trait correlation. Each function follows its R
namesake's definition and defaults; the docstrings say where and why it differs.

Genes are columns and samples rows throughout (R's ``datExpr``). Memory grows with genes²: a few n × n
float64 matrices are alive at the peak (:func:`peak_memory_bytes`), 0.6 GB for 5000 genes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform
from threadpoolctl import threadpool_limits

# R's module colour names (``labels2colors``) live with the project's other colours; named here too, beside R's steps.
from ..core.palette import MODULE_COLOURS as MODULE_COLOURS, module_colour as module_colour

#: ``pickSoftThreshold``'s default candidate powers.
DEFAULT_POWERS = (*range(1, 11), *range(12, 21, 2))


def correlation(samples_by_genes: np.ndarray) -> np.ndarray:
    """Pearson correlation between genes (columns), float64, exact 1 on the diagonal."""
    standardised = _standardise(samples_by_genes)
    matrix = standardised.T @ standardised
    matrix /= samples_by_genes.shape[0]
    np.clip(matrix, -1.0, 1.0, out=matrix)
    np.fill_diagonal(matrix, 1.0)
    return matrix


def _standardise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, float)
    return (values - values.mean(axis=0)) / values.std(axis=0)


def _adjacency_base(correlations: np.ndarray, network_type: str) -> np.ndarray:
    """|r| (unsigned network) or (1 + r) / 2 (signed), the number raised to the soft-threshold power."""
    if network_type == "unsigned":
        return np.abs(correlations)
    if network_type == "signed":
        return (1.0 + correlations) / 2.0
    raise ValueError(f"network type must be 'unsigned' or 'signed', not {network_type!r}")


def adjacency(correlations: np.ndarray, power: float, network_type: str = "unsigned") -> np.ndarray:
    """Soft-thresholded adjacency a_ij = base_ij ** power (WGCNA ``adjacency``)."""
    base = _adjacency_base(correlations, network_type)
    np.power(base, power, out=base)
    return base


@dataclass(frozen=True)
class ScaleFreeFit:
    """One row of ``pickSoftThreshold``'s table."""

    power: float
    signed_r2: float  # −sign(slope) · R² of log10 p(k) on log10 k; R's SFT.R.sq column is the plain R²
    slope: float
    mean_connectivity: float
    median_connectivity: float


def scale_free_fit_index(connectivity: np.ndarray, n_breaks: int = 10) -> tuple[float, float]:
    """R² and slope of the scale-free fit (WGCNA ``scaleFreeFitIndex``): connectivity cut into ``n_breaks``
    equal-width bins as R's ``cut`` does, log10 of the mean connectivity per bin against log10 of the bin's
    frequency (+1e-9). Empty bins take the bin's midpoint and frequency 0, as in R."""
    k = np.asarray(connectivity, float)
    low, high = float(k.min()), float(k.max())
    breaks = np.linspace(low, high, n_breaks + 1)
    midpoints = (breaks[:-1] + breaks[1:]) / 2
    edges = breaks.copy()
    spread = (high - low) / 1000.0
    edges[0], edges[-1] = low - spread, high + spread  # R's cut() widens the outer breaks by 0.1 % of the range
    bins = np.clip(np.searchsorted(edges, k, side="left") - 1, 0, n_breaks - 1)  # right-closed (a, b]
    counts = np.bincount(bins, minlength=n_breaks)
    sums = np.bincount(bins, weights=k, minlength=n_breaks)
    mean_k = np.divide(sums, counts, out=midpoints.copy(), where=counts > 0)
    mean_k = np.where(mean_k == 0, midpoints, mean_k)
    log_k = np.log10(mean_k)
    log_p = np.log10(counts / len(k) + 1e-9)
    fit = stats.linregress(log_k, log_p)
    return float(fit.rvalue**2), float(fit.slope)


def pick_soft_threshold(
    samples_by_genes: np.ndarray,
    powers: tuple[float, ...] = DEFAULT_POWERS,
    network_type: str = "unsigned",
    r2_cut: float = 0.85,
    correlations: np.ndarray | None = None,
) -> tuple[float, list[ScaleFreeFit], str]:
    """The soft-threshold power: the lowest of ``powers`` whose signed scale-free R² reaches ``r2_cut``, with the
    whole table and how the power was chosen.

    R's ``powerEstimate`` takes the lowest power whose plain R² exceeds the cut, whatever the slope's sign; the
    signed index (the one the WGCNA tutorial plots) rejects a fit with a positive slope, which is the opposite of
    scale-free: on data with one factor loading on nearly every gene, R takes power 1 (R² 0.93, slope +12).

    When no power reaches the cut, R returns NA and leaves the choice to the user; here the WGCNA FAQ's table
    for that case is used (by sample count: unsigned 9/8/7/6 for <20/20–29/30–39/≥40 samples; signed twice
    that), and the reason says so.
    """
    if correlations is None:
        correlations = correlation(samples_by_genes)
    base = _adjacency_base(correlations, network_type)
    current = np.ones_like(base)
    table, done = [], 0
    for power in sorted(powers):
        if float(power).is_integer():
            # Integer powers by repeated multiplication: one n × n product per step instead of a pow().
            for _ in range(int(power) - done):
                current *= base
            done = int(power)
            values = current
        else:
            values = base**power
        connectivity = values.sum(axis=0) - 1.0
        r2, slope = scale_free_fit_index(connectivity)
        table.append(ScaleFreeFit(float(power), -np.sign(slope) * r2, slope, float(connectivity.mean()),
                                  float(np.median(connectivity))))
    reaching = [row.power for row in table if row.signed_r2 >= r2_cut]
    if reaching:
        return reaching[0], table, f"lowest power with scale-free fit R² ≥ {r2_cut}"
    fallback = faq_power(samples_by_genes.shape[0], network_type)
    return fallback, table, (
        f"no power reached scale-free fit R² ≥ {r2_cut}; WGCNA FAQ default for "
        f"{samples_by_genes.shape[0]} samples ({network_type} network)"
    )


def faq_power(n_samples: int, network_type: str) -> int:
    """The WGCNA FAQ's power for data without a scale-free fit."""
    unsigned = 9 if n_samples < 20 else 8 if n_samples < 30 else 7 if n_samples < 40 else 6
    return unsigned * (2 if network_type == "signed" else 1)


def topological_overlap(adjacency_matrix: np.ndarray) -> np.ndarray:
    """Unsigned topological overlap (``TOMsimilarity``): (Σ_u a_iu a_uj + a_ij) / (min(k_i, k_j) + 1 − a_ij),
    with a_ii = 0 in the sums and TOM_ii = 1. Overwrites and returns ``adjacency_matrix`` to bound memory."""
    a = adjacency_matrix
    np.fill_diagonal(a, 0.0)
    connectivity = a.sum(axis=0)
    overlap = a @ a
    overlap += a
    # The denominator is built in ``a``'s memory: a is no longer needed once it has been added above.
    np.subtract(1.0, a, out=a)
    a += np.minimum.outer(connectivity, connectivity)
    overlap /= a
    np.fill_diagonal(overlap, 1.0)
    return overlap


def peak_memory_bytes(n_genes: int) -> int:
    """Bytes of the largest arrays alive at once: correlation, adjacency, its square, the minimum of
    connectivities, and the condensed distances for the clustering."""
    return int(4.5 * n_genes * n_genes * 8)


def gene_tree(tom: np.ndarray) -> np.ndarray:
    """Average-linkage clustering of the genes on 1 − TOM (R's ``hclust(as.dist(dissTOM), "average")``)."""
    np.subtract(1.0, tom, out=tom)
    np.fill_diagonal(tom, 0.0)
    condensed = squareform(tom, checks=False)
    return hierarchy.linkage(condensed, method="average")


def labels_by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel modules 1, 2, … from the largest to the smallest (R's convention); 0 stays 0."""
    labels = np.asarray(labels, int)
    modules = [m for m in np.unique(labels) if m != 0]
    sizes = {m: int((labels == m).sum()) for m in modules}
    order = sorted(modules, key=lambda m: (-sizes[m], m))
    mapping = {old: new for new, old in enumerate(order, start=1)}
    return np.array([mapping.get(label, 0) for label in labels], int)


def eigengenes(samples_by_genes: np.ndarray, labels: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Module eigengenes (``moduleEigengenes``): the first principal component of each module's standardised
    expression, signed to agree with the module's average expression, scaled to mean 0 and SD 1 (R returns the
    unit-norm singular vector, SD 1/√(n−1): the same vector times a constant, so correlations are unchanged); and
    the share of the module's variance it explains. Grey (0) gets one too, as in R."""
    standardised = _standardise(samples_by_genes)
    vectors, explained = {}, {}
    # Many small BLAS calls: one thread. Two OpenBLAS threads slowed this 50-fold (0.14 s → 7 s, measured) when
    # the other core was busy; the large products elsewhere keep all threads.
    with threadpool_limits(limits=1, user_api="blas"):
        for label in np.unique(labels):
            vectors[int(label)], explained[int(label)] = _first_component(standardised[:, labels == label])
    return vectors, explained


def _first_component(block: np.ndarray) -> tuple[np.ndarray, float]:
    # The first left singular vector from the samples × samples Gram matrix: the same vector as an SVD of the
    # block, several times faster when a module (grey above all) has more genes than there are samples.
    gram = block @ block.T
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    vector = eigenvectors[:, -1] * np.sqrt(max(eigenvalues[-1], 0.0))
    if np.corrcoef(vector, block.mean(axis=1))[0, 1] < 0:
        vector = -vector
    return (vector - vector.mean()) / vector.std(), float(eigenvalues[-1] / np.trace(gram))


def merge_close_modules(samples_by_genes: np.ndarray, labels: np.ndarray, cut_height: float) -> np.ndarray:
    """Merge modules whose eigengenes correlate above 1 − ``cut_height`` (``mergeCloseModules``: average-linkage
    clustering of the eigengenes on 1 − r, cut at ``cut_height``, repeated until nothing merges). Returns labels
    ordered by size; ``cut_height`` 0 merges nothing."""
    labels = labels_by_size(labels)
    while cut_height > 0:
        modules = [m for m in np.unique(labels) if m != 0]
        if len(modules) < 2:
            break
        vectors, _ = eigengenes(samples_by_genes, labels)
        dissimilarity = 1.0 - np.corrcoef(np.array([vectors[m] for m in modules]))
        np.fill_diagonal(dissimilarity, 0.0)
        tree = hierarchy.linkage(squareform(np.clip(dissimilarity, 0, None), checks=False), method="average")
        groups = hierarchy.fcluster(tree, t=cut_height, criterion="distance")
        if len(set(groups)) == len(modules):
            break
        target = {m: min(mm for mm, g in zip(modules, groups) if g == group) for m, group in zip(modules, groups)}
        labels = labels_by_size(np.array([target.get(label, 0) for label in labels]))
    return labels


@dataclass(frozen=True)
class TraitCorrelation:
    """Pearson correlation of one module's eigengene with the trait, and its two-sided p-value
    (``corPvalueStudent``: Student's t with n − 2 degrees of freedom)."""

    label: int
    r: float
    p: float


def trait_correlations(vectors: dict[int, np.ndarray], trait: np.ndarray) -> list[TraitCorrelation]:
    """Correlation of every eigengene with the trait, most significant first (grey included, last on ties)."""
    rows = []
    for label, vector in vectors.items():
        result = stats.pearsonr(vector, trait)
        rows.append(TraitCorrelation(label, float(result.statistic), float(result.pvalue)))
    return sorted(rows, key=lambda row: (row.p, -abs(row.r), row.label == 0, row.label))


def gene_correlations(samples_by_genes: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Pearson r of every gene (column) with every vector (column): module membership kME or gene
    significance, genes × vectors."""
    return _standardise(samples_by_genes).T @ _standardise(vectors) / samples_by_genes.shape[0]


def correlation_p_values(r: np.ndarray, n_samples: int) -> np.ndarray:
    """Two-sided p of Pearson correlations from ``n_samples`` (``corPvalueStudent``)."""
    r = np.clip(np.asarray(r, float), -1.0, 1.0)
    with np.errstate(divide="ignore"):
        t = np.sqrt(n_samples - 2) * r / np.sqrt(1 - r**2)
    return 2 * stats.t.sf(np.abs(t), n_samples - 2)
