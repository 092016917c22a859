"""The paper's six classifiers, each with class balancing, behind scikit-learn's estimator API.

LR, SVM, RF and LightGBM take ``class_weight="balanced"``; Gaussian Naive Bayes and the MLP have no class weights,
so they are fit with balanced sample weights (:func:`fit_balanced`). The SVM's probability is a Platt calibration
fitted on out-of-fold decision values (:class:`PlattSVC`), so that it is a real estimate and two numbers in a file.
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from ..core.errors import SettingsError

CLASSIFIERS = ("lr", "svm", "rf", "lightgbm", "nb", "mlp")
#: Folds of the out-of-fold predictions used for the SVM's Platt calibration and for decision thresholds.
OUT_OF_FOLD_SPLITS = 5


def out_of_fold_cv(y: np.ndarray, seed: int) -> StratifiedKFold:
    """Stratified folds, as many as the smaller class allows (at most :data:`OUT_OF_FOLD_SPLITS`)."""
    smallest = int(min(np.sum(y == 0), np.sum(y == 1)))
    if smallest < 2:
        raise SettingsError("The training split needs at least 2 cases of each T-stage group.")
    return StratifiedKFold(n_splits=min(OUT_OF_FOLD_SPLITS, smallest), shuffle=True, random_state=seed)


class PlattSVC(ClassifierMixin, BaseEstimator):
    """RBF SVM with balanced class weights and a Platt calibration of its decision value.

    The calibration (a logistic regression on the decision value) is fitted on out-of-fold decision values of the
    training data, then the SVM is refitted on all of it: ``P(high) = 1 / (1 + exp(-(a * decision + b)))``."""

    def __init__(self, C: float = 1.0, gamma: str | float = "scale", random_state: int = 0) -> None:
        self.C = C
        self.gamma = gamma
        self.random_state = random_state

    def _svc(self) -> SVC:
        return SVC(kernel="rbf", C=self.C, gamma=self.gamma, class_weight="balanced")

    def fit(self, X: np.ndarray, y: np.ndarray) -> PlattSVC:
        y = np.asarray(y)
        decision = cross_val_predict(
            self._svc(), X, y, cv=out_of_fold_cv(y, self.random_state), method="decision_function"
        )
        calibrator = LogisticRegression(C=1e6).fit(decision.reshape(-1, 1), y)
        self.platt_a_ = float(calibrator.coef_[0, 0])
        self.platt_b_ = float(calibrator.intercept_[0])
        self.svc_ = self._svc().fit(X, y)
        self.classes_ = self.svc_.classes_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "svc_")
        return self.svc_.decision_function(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        high = 1.0 / (1.0 + np.exp(-(self.platt_a_ * self.decision_function(X) + self.platt_b_)))
        return np.column_stack([1.0 - high, high])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


def make_classifier(name: str, seed: int) -> BaseEstimator:
    """One of :data:`CLASSIFIERS`, with the project's defaults (the paper gives no hyper-parameters)."""
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    factories = {
        "lr": lambda: LogisticRegression(class_weight="balanced", max_iter=5000),
        "svm": lambda: PlattSVC(random_state=seed),
        "rf": lambda: RandomForestClassifier(
            n_estimators=500, min_samples_leaf=2, class_weight="balanced", random_state=seed, n_jobs=1
        ),
        "lightgbm": lambda: LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=10, subsample=0.8,
            subsample_freq=1, colsample_bytree=0.8, class_weight="balanced", random_state=seed, n_jobs=1, verbose=-1,
        ),
        "nb": GaussianNB,
        "mlp": lambda: MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-2, max_iter=3000, random_state=seed),
    }
    if name not in factories:
        raise SettingsError(f"Unknown classifier '{name}'; choose from {list(CLASSIFIERS)}.")
    return factories[name]()


def _has_class_weight(estimator: BaseEstimator) -> bool:
    return "class_weight" in estimator.get_params() or isinstance(estimator, PlattSVC)


def fit_balanced(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray) -> BaseEstimator:
    """Fit with class balancing: class weights where the estimator has them, balanced sample weights otherwise."""
    if _has_class_weight(estimator) or "sample_weight" not in inspect.signature(estimator.fit).parameters:
        return estimator.fit(X, y)
    return estimator.fit(X, y, sample_weight=compute_sample_weight("balanced", y))


def out_of_fold_probability(estimator: BaseEstimator, X: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """P(high) of every training case from a model that did not see it (for decision thresholds)."""
    probability = np.empty(len(y))
    for train, test in out_of_fold_cv(y, seed).split(X, y):
        fitted = fit_balanced(clone(estimator), X[train], y[train])
        probability[test] = fitted.predict_proba(X[test])[:, 1]
    return probability
