"""Feature selection of the paper as scikit-learn transformers, each fitted on training data only.

Huang et al. (2026) select features per region in three stages after z-scoring: drop one feature of every
pair with Spearman |rho| > 0.9, keep the 25 best by mRMR on mutual information, and keep the features with
a non-zero coefficient in a LASSO tuned by 10-fold cross-validation. :func:`make_selection_pipeline` chains
them behind scikit-learn's ``StandardScaler``. :class:`ICCFilter` implements the earlier reliability step
(ICC > 0.75 between two delineations of the same cases).

Every selector is a ``SelectorMixin``: ``transform`` keeps the selected columns in their input order, and
``get_feature_names_out`` and ``set_output(transform="pandas")`` work as for scikit-learn's own selectors.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
import sklearn
from scipy.stats import rankdata
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import LassoCV, lasso_path
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..core.errors import CCRCCStagingError, SettingsError

# Scores closer than this are ties. Mathematically equal mutual informations can differ in the last bits
# depending on the order of summation; treating them as ties keeps "first column wins" exact.
_TIE_RTOL = 1e-9
_TIE_ATOL = 1e-12

# Keeps the mRMR quotient finite for a feature that shares no information with the selected ones.
_MIQ_EPSILON = 1e-12

# LassoCV takes the size of its penalty grid as ``alphas=int`` from scikit-learn 1.7 (1.9 removed ``n_alphas``);
# 1.6, the last for Python 3.9 (3D Slicer 5.6/5.8), only as ``n_alphas``.
_LASSO_GRID_SIZE = "alphas" if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) >= (1, 7) else "n_alphas"


def _spearman_matrix(X: np.ndarray) -> np.ndarray:
    """Spearman correlation of every pair of columns: Pearson correlation of average ranks."""
    ranks = rankdata(X, axis=0)
    return np.corrcoef(ranks.T).reshape(X.shape[1], X.shape[1])  # not rowvar=False: numpy < 2 ignores it for 1 row


class SpearmanRedundancyFilter(SelectorMixin, BaseEstimator):
    """Keep one feature of every pair whose absolute Spearman correlation exceeds ``threshold``.

    Rule (deterministic, independent of the label): columns are visited in input order; a column is kept
    unless its |rho| with an earlier *kept* column is > ``threshold``. So in a chain A~B, B~C (A and C not
    correlated) A and C are kept and B is dropped. Column order is used rather than a correlation-based
    order so that the outcome is easy to predict and to explain from the feature table.

    Constant columns (on the training data) are dropped: their correlation is undefined and they carry no
    information for any later step.

    Parameters
    ----------
    threshold:
        Pairs with |rho| strictly greater than this are redundant (paper: 0.9).

    Attributes
    ----------
    support_: boolean mask of kept input columns.
    constant_: boolean mask of the input columns dropped for being constant.
    """

    def __init__(self, threshold: float = 0.9) -> None:
        self.threshold = threshold

    def fit(self, X, y=None) -> SpearmanRedundancyFilter:
        """Find the redundant and constant columns of the training data ``X`` (``y`` is ignored)."""
        if not 0.0 < self.threshold <= 1.0:
            raise SettingsError(f"The Spearman threshold must lie in (0, 1]; got {self.threshold!r}.")
        X = validate_data(self, X, dtype=np.float64)
        self.constant_ = np.ptp(X, axis=0) == 0
        keep = ~self.constant_
        with np.errstate(invalid="ignore", divide="ignore"):  # constant columns give NaN rows; never kept
            abs_rho = np.abs(_spearman_matrix(X))
        for column in range(X.shape[1]):
            if keep[column]:
                # A view of the later columns: dropping here is what later iterations will see.
                keep[column + 1 :][abs_rho[column, column + 1 :] > self.threshold] = False
        self.support_ = keep
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


def _equal_frequency_bins(X: np.ndarray, n_bins: int) -> np.ndarray:
    """Discretise each column into ``n_bins`` bins of (nearly) equal counts.

    A value's bin is ``floor((average rank - 1) * n_bins / n)``; tied values share their average rank and so
    always share a bin, which keeps the binning deterministic and independent of row order.
    """
    n_samples = X.shape[0]
    ranks = rankdata(X, axis=0)
    return np.floor((ranks - 1.0) * n_bins / n_samples).astype(np.intp)


def _mutual_information(a: np.ndarray, B: np.ndarray, n_a: int, n_b: int) -> np.ndarray:
    """Plug-in mutual information (nats) between one discrete vector and every column of a discrete matrix.

    ``a`` holds codes in ``[0, n_a)`` and ``B`` codes in ``[0, n_b)``. All contingency tables are counted with
    one ``bincount`` by giving every (column, a, b) triple its own cell.
    """
    n_samples, n_columns = B.shape
    cells_per_column = n_a * n_b
    cell = np.arange(n_columns) * cells_per_column + a[:, None] * n_b + B
    joint = np.bincount(cell.ravel(), minlength=n_columns * cells_per_column).reshape(n_columns, n_a, n_b)
    joint = joint.astype(np.float64)
    marginal_a = joint.sum(axis=2, keepdims=True)
    marginal_b = joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = joint * np.log(joint * n_samples / (marginal_a * marginal_b))
    return np.where(joint > 0, terms, 0.0).sum(axis=(1, 2)) / n_samples


def _first_best(scores: np.ndarray) -> int:
    """Index of the first score tied (within floating-point noise) with the maximum."""
    best = np.max(scores)
    return int(np.flatnonzero(np.isclose(scores, best, rtol=_TIE_RTOL, atol=_TIE_ATOL))[0])


class _LabelledSelector(SelectorMixin, BaseEstimator):
    """A selector fitted with the label that keeps the columns flagged in ``support_``."""

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class MRMRSelector(_LabelledSelector):
    """Maximum relevance minimum redundancy selection with mutual information (Peng et al. 2005).

    Relevance is MI(feature; label); redundancy is the mean MI(feature; already selected features). Features
    are added greedily by ``relevance - redundancy`` (``criterion="MID"``, default) or
    ``relevance / redundancy`` (``"MIQ"``). Continuous features are discretised into ``n_bins``
    equal-frequency bins and MI is the plug-in estimate on the resulting contingency tables. Ties are broken
    by column order. If fewer than ``n_features`` columns are given, all are selected (still ranked).

    Parameters
    ----------
    n_features:
        Number of features to keep (paper: 25).
    n_bins:
        Equal-frequency bins per feature for the MI estimate. The default 3 (tertiles, like the 3-state
        discretisation of Peng et al.) is deliberate: the plug-in MI between two features is biased upwards
        by about (n_bins - 1)^2 / (2 n), which with 10 bins and ~150 training cases swamps the relevance term,
        so the redundancy penalty then favours noise features with few distinct values (in a simulation with
        148 cases, 300 features and 20 five-level noise features, 10 bins put all 20 of them in the top 25;
        3 bins put about 3 there and recovered more of the planted informative features).
    criterion:
        ``"MID"`` (difference) or ``"MIQ"`` (quotient).

    Attributes
    ----------
    ranking_: indices of the selected input columns in the order they were selected.
    relevance_: MI(feature; label) of every input column.
    support_: boolean mask of selected input columns.
    """

    def __init__(self, n_features: int = 25, n_bins: int = 3, criterion: Literal["MID", "MIQ"] = "MID") -> None:
        self.n_features = n_features
        self.n_bins = n_bins
        self.criterion = criterion

    def fit(self, X, y) -> MRMRSelector:
        """Rank the columns of the training data ``X`` against the class labels ``y``."""
        self._check_settings()
        X, y = validate_data(self, X, y, dtype=np.float64)
        classes, label_codes = np.unique(y, return_inverse=True)
        bins = _equal_frequency_bins(X, self.n_bins)
        self.relevance_ = _mutual_information(label_codes, bins, len(classes), self.n_bins)
        self.ranking_ = self._greedy_ranking(bins)
        self.support_ = np.zeros(X.shape[1], dtype=bool)
        self.support_[self.ranking_] = True
        return self

    def _check_settings(self) -> None:
        if not (isinstance(self.n_features, (int, np.integer)) and self.n_features >= 1):
            raise SettingsError(f"mRMR n_features must be a positive integer; got {self.n_features!r}.")
        if not (isinstance(self.n_bins, (int, np.integer)) and self.n_bins >= 2):
            raise SettingsError(f"mRMR n_bins must be an integer of at least 2; got {self.n_bins!r}.")
        if self.criterion not in ("MID", "MIQ"):
            raise SettingsError(f"mRMR criterion must be 'MID' or 'MIQ'; got {self.criterion!r}.")

    def _greedy_ranking(self, bins: np.ndarray) -> np.ndarray:
        """Select features one at a time; only MI between the newest pick and the candidates is computed."""
        n_columns = bins.shape[1]
        candidates = np.ones(n_columns, dtype=bool)
        redundancy_sum = np.zeros(n_columns)
        ranking: list[int] = []
        for step in range(min(self.n_features, n_columns)):
            if step == 0:
                scores = self.relevance_.copy()
            elif self.criterion == "MID":
                scores = self.relevance_ - redundancy_sum / step
            else:
                scores = self.relevance_ / (redundancy_sum / step + _MIQ_EPSILON)
            scores[~candidates] = -np.inf
            chosen = _first_best(scores)
            ranking.append(chosen)
            candidates[chosen] = False
            redundancy_sum[candidates] += _mutual_information(
                bins[:, chosen], bins[:, candidates], self.n_bins, self.n_bins
            )
        return np.asarray(ranking, dtype=np.intp)



def _binary_labels(y: np.ndarray) -> np.ndarray:
    """The label as 0.0/1.0 floats; both classes must be present."""
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise CCRCCStagingError(f"The label must be coded 0/1 (1 = high T stage); got values {values.tolist()}.")
    if len(values) < 2:
        raise CCRCCStagingError(
            f"The training labels hold only class {values.tolist()}; feature selection needs both T-stage groups."
        )
    return y.astype(np.float64)


def _check_fold_counts(y: np.ndarray, cv: int) -> None:
    """Stratified folds need every class in every fold, hence at least ``cv`` cases of each."""
    smallest_class = int(min(y.sum(), len(y) - y.sum()))
    if smallest_class < cv:
        raise SettingsError(
            f"LASSO with {cv}-fold cross-validation needs at least {cv} cases of each T-stage group in the "
            f"training set; the smaller group has {smallest_class}. Lower the number of folds."
        )


class LassoSelector(_LabelledSelector):
    """Keep the features with a non-zero coefficient in a Gaussian LASSO on the 0/1 label.

    The penalty is chosen by ``LassoCV`` with ``StratifiedKFold(cv, shuffle=True, random_state)`` folds
    (stratified so every fold holds both T-stage groups; the paper's Fig. 4B plots the cross-validated MSE
    of this regression). The Radscore of :meth:`radscore` is ``intercept_ + X @ coef_``.

    If the LASSO at the cross-validated penalty zeroes every feature, the selector does not fail: it walks
    the coefficient path from the largest penalty down, stops at the first penalty where some coefficient is
    non-zero, and keeps the single feature with the largest |coefficient| there (the first feature to enter
    the path, i.e. the one most correlated with the label), with that coefficient. A ``UserWarning`` says so
    and ``fallback_alpha_`` records the penalty used. The resulting model is weak by construction; reports
    should show it.

    Parameters
    ----------
    cv:
        Number of cross-validation folds (paper: 10).
    random_state:
        Seed of the fold shuffling.
    n_alphas:
        Number of penalties on ``LassoCV``'s log-spaced grid.
    max_iter:
        Coordinate-descent iterations per fit.

    Attributes
    ----------
    coef_, intercept_: coefficients (one per input column, zeros for dropped ones) and intercept of the
        Radscore.
    alpha_: penalty chosen by cross-validation (the vertical line of the paper's Fig. 3A-D / 4B).
    alphas_: the penalty grid, decreasing.
    mse_path_: cross-validated MSE, shape (n_alphas, cv).
    coef_path_: coefficients on the full training data along ``alphas_``, shape (n_features_in_, n_alphas)
        (the paper's coefficient-profile plots).
    fallback_alpha_: ``None``, or the penalty used when the cross-validated one kept no feature.
    support_: boolean mask of kept input columns.
    """

    def __init__(self, cv: int = 10, random_state: int | None = 0, n_alphas: int = 100, max_iter: int = 10_000) -> None:
        self.cv = cv
        self.random_state = random_state
        self.n_alphas = n_alphas
        self.max_iter = max_iter

    def fit(self, X, y) -> LassoSelector:
        """Fit the cross-validated LASSO on the (z-scored) training data ``X`` and 0/1 label ``y``."""
        if not (isinstance(self.cv, (int, np.integer)) and self.cv >= 2):
            raise SettingsError(f"LASSO cv must be an integer number of folds of at least 2; got {self.cv!r}.")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        y = _binary_labels(y)
        _check_fold_counts(y, self.cv)
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        lasso = LassoCV(**{_LASSO_GRID_SIZE: self.n_alphas}, cv=folds, max_iter=self.max_iter).fit(X, y)
        self.alpha_ = float(lasso.alpha_)
        self.alphas_ = lasso.alphas_
        self.mse_path_ = lasso.mse_path_
        # lasso_path fits no intercept: centring reproduces LassoCV's own handling of it.
        _, self.coef_path_, _ = lasso_path(
            X - X.mean(axis=0), y - y.mean(), alphas=self.alphas_, max_iter=self.max_iter
        )
        # alphas_[0] is the smallest penalty that zeroes every coefficient, so the solution there is exactly
        # zero; coordinate descent can leave rounding residue (~1e-17) that must not count as selected.
        self.coef_path_[:, 0] = 0.0
        self.coef_ = lasso.coef_.copy()
        self.fallback_alpha_ = None
        if not np.any(self.coef_):
            self.coef_, self.fallback_alpha_ = self._first_feature_on_path()
        self.intercept_ = float(y.mean() - X.mean(axis=0) @ self.coef_)
        self.support_ = self.coef_ != 0
        return self

    def _first_feature_on_path(self) -> tuple[np.ndarray, float]:
        """Coefficients keeping only the first feature to enter the LASSO path (see the class docstring)."""
        active = np.flatnonzero(np.any(self.coef_path_ != 0, axis=0))
        if len(active) == 0:
            raise CCRCCStagingError(
                "LASSO found no feature associated with the T-stage label at any penalty; check the features."
            )
        step = active[0]
        feature = int(np.argmax(np.abs(self.coef_path_[:, step])))
        coef = np.zeros(self.coef_path_.shape[0])
        coef[feature] = self.coef_path_[feature, step]
        warnings.warn(
            f"LASSO at the cross-validated penalty {self.alpha_:.4g} kept no feature; keeping the first "
            f"feature to enter the path (column {feature}, penalty {self.alphas_[step]:.4g}).",
            UserWarning,
            stacklevel=3,
        )
        return coef, float(self.alphas_[step])

    def radscore(self, X) -> np.ndarray:
        """Radscore ``intercept_ + X @ coef_`` of data with the same columns as the training data."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.intercept_ + X @ self.coef_



def intraclass_correlation(ratings: np.ndarray, kind: Literal["ICC2", "ICC3"] = "ICC2") -> np.ndarray:
    """Single-rater intraclass correlation of every feature (Shrout & Fleiss 1979).

    ``ratings`` has shape (n_subjects, n_raters, n_features). ``"ICC2"`` is ICC(2,1), two-way random effects,
    absolute agreement; ``"ICC3"`` is ICC(3,1), two-way mixed effects, consistency. A feature that is
    constant over all ratings has an undefined ICC and gets NaN.
    """
    n_subjects, n_raters, _ = ratings.shape
    grand_mean = ratings.mean(axis=(0, 1))
    subject_means = ratings.mean(axis=1)
    rater_means = ratings.mean(axis=0)
    ss_subjects = n_raters * ((subject_means - grand_mean) ** 2).sum(axis=0)
    ss_raters = n_subjects * ((rater_means - grand_mean) ** 2).sum(axis=0)
    ss_total = ((ratings - grand_mean) ** 2).sum(axis=(0, 1))
    ms_subjects = ss_subjects / (n_subjects - 1)
    ms_raters = ss_raters / (n_raters - 1)
    ms_error = (ss_total - ss_subjects - ss_raters) / ((n_subjects - 1) * (n_raters - 1))
    denominator = ms_subjects + (n_raters - 1) * ms_error
    if kind == "ICC2":
        denominator = denominator + n_raters * (ms_raters - ms_error) / n_subjects
    elif kind != "ICC3":
        raise SettingsError(f"ICC kind must be 'ICC2' or 'ICC3'; got {kind!r}.")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (ms_subjects - ms_error) / denominator


class ICCFilter(SelectorMixin, BaseEstimator):
    """Keep features reproducible between two delineations of the same cases (ICC > ``threshold``).

    Fit on the reliability subset with ``fit(X, X_repeat)``: ``X`` from one delineation and ``X_repeat``
    from the other, same cases in the same rows and same columns. ``transform`` then applies the
    selection to any feature table with those columns. The default ICC(2,1) (absolute agreement) also
    penalises systematic differences between readers, e.g. one reader's masks being consistently larger,
    which matters because the model applies fixed coefficients to absolute feature values. Features with
    an undefined ICC (constant in both delineations) are dropped.

    Not meant for a ``Pipeline``: the repeat delineations exist only for the reliability subset.

    Attributes
    ----------
    icc_: ICC of every input column (NaN where undefined).
    support_: boolean mask of kept input columns.
    """

    def __init__(self, threshold: float = 0.75, kind: Literal["ICC2", "ICC3"] = "ICC2") -> None:
        self.threshold = threshold
        self.kind = kind

    def fit(self, X, X_repeat) -> ICCFilter:
        """Compute the ICC of every column between ``X`` and ``X_repeat``."""
        if isinstance(X, pd.DataFrame) and isinstance(X_repeat, pd.DataFrame):
            if list(X.columns) != list(X_repeat.columns) or not X.index.equals(X_repeat.index):
                raise CCRCCStagingError(
                    "The two delineations' feature tables must have the same cases (index) and features "
                    "(columns) in the same order."
                )
        X = validate_data(self, X, dtype=np.float64)
        X_repeat = check_array(X_repeat, dtype=np.float64)
        if X_repeat.shape != X.shape:
            raise CCRCCStagingError(
                f"The two delineations' feature tables differ in shape: {X.shape} and {X_repeat.shape}."
            )
        if X.shape[0] < 2:
            raise CCRCCStagingError("The ICC needs at least two cases delineated twice.")
        self.icc_ = intraclass_correlation(np.stack([X, X_repeat], axis=1), self.kind)
        self.support_ = np.nan_to_num(self.icc_, nan=-np.inf) > self.threshold
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


def make_selection_pipeline(
    spearman_threshold: float = 0.9,
    n_mrmr_features: int = 25,
    mrmr_bins: int = 3,
    mrmr_criterion: Literal["MID", "MIQ"] = "MID",
    lasso_cv: int = 10,
    random_state: int | None = 0,
) -> Pipeline:
    """The paper's selection for one region: z-score, Spearman filter, mRMR, LASSO (defaults as published)."""
    return Pipeline(
        [
            ("zscore", StandardScaler()),
            ("spearman", SpearmanRedundancyFilter(threshold=spearman_threshold)),
            ("mrmr", MRMRSelector(n_features=n_mrmr_features, n_bins=mrmr_bins, criterion=mrmr_criterion)),
            ("lasso", LassoSelector(cv=lasso_cv, random_state=random_state)),
        ]
    )
