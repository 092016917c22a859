"""ComBat harmonisation of features across scanners or centres (Johnson, Li & Rabinovic 2007; Fortin et al. 2018).

The paper names the missing harmonisation as its second limitation. ComBat models each feature as a location and
scale per batch (scanner, centre) around the pooled mean and variance, shrinks the per-batch estimates towards their
mean over features (parametric empirical Bayes), and removes them. Here it is a scikit-learn transformer:

- ``fit`` on the **training split only** (the outcome is not used: it is unknown for a new case, and using it would
  leak); ``transform`` applies the frozen estimates unchanged to any split and to a single case;
- a batch unseen in training is refused (its location and scale are unknown);
- the fitted parameters are plain arrays (saved in the safe model folder as JSON + NumPy).

Checked against the reference implementation neuroCombat (``Testing/training/test_harmonisation.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..core.errors import SettingsError

#: Relative change of the empirical-Bayes estimates at which the iteration stops (neuroCombat's value).
CONVERGENCE = 1e-4
MAX_ITERATIONS = 1000


class ComBat(TransformerMixin, BaseEstimator):
    """Parametric empirical-Bayes ComBat without covariates; ``X`` is cases × features, ``batches`` one label per
    case (given to ``fit`` and ``transform``)."""

    def fit(self, X: np.ndarray, batches: Sequence[str]) -> ComBat:
        data = np.asarray(X, dtype=float).T  # features × cases, as in the papers
        labels = np.asarray([str(b) for b in batches])
        self.batches_ = sorted(set(labels))
        counts = np.array([(labels == b).sum() for b in self.batches_])
        if len(self.batches_) < 2:
            raise SettingsError("ComBat needs at least two batches (scanners or centres) in the training split.")
        if counts.min() < 2:
            raise SettingsError(
                f"ComBat needs at least two training cases per batch; {self.batches_[int(counts.argmin())]} has one."
            )
        batch_means = np.column_stack([data[:, labels == b].mean(axis=1) for b in self.batches_])
        self.grand_mean_ = batch_means @ (counts / counts.sum())
        residual = data - batch_means[:, [self.batches_.index(b) for b in labels]]
        self.pooled_sd_ = np.sqrt((residual**2).mean(axis=1))
        self.pooled_sd_[self.pooled_sd_ == 0] = 1.0  # a constant feature stays as it is
        standardised = (data - self.grand_mean_[:, None]) / self.pooled_sd_[:, None]
        gammas, deltas = [], []
        for batch in self.batches_:
            gamma, delta = _empirical_bayes(standardised[:, labels == batch])
            gammas.append(gamma)
            deltas.append(delta)
        self.gamma_ = np.column_stack(gammas)  # features × batches
        self.delta_ = np.column_stack(deltas)
        return self

    def transform(self, X: np.ndarray, batches: Sequence[str]) -> np.ndarray:
        data = np.asarray(X, dtype=float).T
        labels = [str(b) for b in batches]
        unknown = sorted(set(labels) - set(self.batches_))
        if unknown:
            raise SettingsError(
                f"Batch {unknown[0]!r} was not in the training data of the ComBat harmonisation (it knows "
                f"{', '.join(self.batches_)}); its scanner effect cannot be removed."
            )
        index = [self.batches_.index(b) for b in labels]
        standardised = (data - self.grand_mean_[:, None]) / self.pooled_sd_[:, None]
        adjusted = (standardised - self.gamma_[:, index]) / np.sqrt(self.delta_[:, index])
        return (adjusted * self.pooled_sd_[:, None] + self.grand_mean_[:, None]).T

    def fit_transform(self, X: np.ndarray, batches: Sequence[str]) -> np.ndarray:  # noqa: D102 - scikit-learn's
        return self.fit(X, batches).transform(X, batches)

    def to_dict(self, columns: Sequence[str]) -> dict[str, Any]:
        """The fitted parameters of the named feature columns, JSON-ready."""
        return {"batches": list(self.batches_), "columns": list(columns),
                "grand_mean": self.grand_mean_.tolist(), "pooled_sd": self.pooled_sd_.tolist(),
                "gamma": self.gamma_.tolist(), "delta": self.delta_.tolist()}


def _empirical_bayes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrunken location (γ*) and scale (δ*²) of one batch's standardised data (features × cases)."""
    n = z.shape[1]
    gamma_hat = z.mean(axis=1)
    delta_hat = z.var(axis=1, ddof=1)
    gamma_bar, tau2 = gamma_hat.mean(), gamma_hat.var(ddof=1)
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    a, b = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2  # inverse-gamma prior by the method of moments
    gamma, delta = gamma_hat.copy(), delta_hat.copy()
    for _ in range(MAX_ITERATIONS):
        gamma_new = (n * tau2 * gamma_hat + delta * gamma_bar) / (n * tau2 + delta)
        delta_new = (0.5 * ((z - gamma_new[:, None]) ** 2).sum(axis=1) + b) / (n / 2.0 + a - 1.0)
        change = max(np.max(np.abs(gamma_new - gamma) / np.abs(gamma)), np.max(np.abs(delta_new - delta) / delta))
        gamma, delta = gamma_new, delta_new
        if change < CONVERGENCE:
            break
    return gamma, delta
