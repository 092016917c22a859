"""How good each model is on each split — the paper's Tables 2 and 3 and what a journal asks beside them:
discrimination (AUC with DeLong CI, threshold metrics and the confusion matrix at the model's threshold), DeLong tests
against the volume-only baseline and against the deployed model on the same cases, calibration (Brier score, slope,
intercept, reliability curve) and, for the deployed model and the baseline, the decision curve."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from .calibration import calibration_summary
from .metrics import classification_metrics, delong_test

ModelKey = tuple[str, str]  # (region, classifier)
#: The classifier name of the tumour-volume-only baseline.
VOLUME_BASELINE = "volume_only"


@dataclass
class Assessment:
    """Metrics rows, ROC curves and calibration of every model on every split, filled split by split."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    roc: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def add_split(
        self, split: str, y: np.ndarray, models: dict[ModelKey, tuple[np.ndarray, float]],
        baseline: np.ndarray | None = None, deployed: ModelKey | None = None, curves: tuple[ModelKey, ...] = (),
    ) -> None:
        """Every model on one split: ``models`` maps (region, classifier) to (P(T3–T4), threshold). Each row gets
        the DeLong p-value against the volume-only ``baseline`` probabilities and against the ``deployed`` model
        (when given); decision curves are kept for the models in ``curves``."""
        for key, (probability, threshold) in models.items():
            row = {"region": key[0], "classifier": key[1], "split": split, "threshold": float(threshold),
                   **classification_metrics(y, probability, threshold)}
            if baseline is not None and key[1] != VOLUME_BASELINE:
                row["p_vs_volume"] = delong_test(y, probability, baseline).p_value
            if deployed is not None and deployed in models and key != deployed and key[1] != VOLUME_BASELINE:
                row["p_vs_deployed"] = delong_test(y, models[deployed][0], probability).p_value
            self.metrics.append(row)
            self._curves(key, split, y, probability, row["auc"], key in curves)

    def _curves(self, key: ModelKey, split: str, y: np.ndarray, probability: np.ndarray, auc: float,
                decision_curve: bool) -> None:
        fpr, tpr, _ = roc_curve(y, probability)
        self.roc.setdefault(key[0], {}).setdefault(key[1], {})[split] = {
            "fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(auc),
        }
        calibration = calibration_summary(y, probability)
        if not decision_curve:
            calibration.pop("decision_curve")
        self.calibration.setdefault(key[0], {}).setdefault(key[1], {})[split] = calibration

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "roc": self.roc, "calibration": self.calibration}
