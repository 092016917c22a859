"""GMM habitats: intratumoral subregions (the paper's VOI_sub1, VOI_sub2, …).

Voxel features (HU, local mean, local SD or entropy over a small cube) are clustered with a Gaussian mixture;
K is fixed or chosen in a range by the lowest BIC; components are ordered by mean HU, highest first, so that
``sub1`` means the same (the most enhancing habitat) in every case.

Two modes with one estimator (:class:`HabitatModel`):
- population: ``fit`` on voxels sampled equally from the training cases, then ``predict`` each case (what a
  trained model ships, so that habitat labels mean the same in every patient);
- per case: ``fit`` and ``predict`` on the same case (exploration).
The GMM is fit on a bounded, seeded random sample of voxels and then labels every voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ..core.errors import RegionError
from ..core.settings import HabitatSettings

#: Grey levels used for the local entropy feature (over the case's tumour HU range).
ENTROPY_LEVELS = 16


@dataclass
class HabitatInput:
    """One case as the habitat step sees it: the resampled image and the tumour, as z, y, x arrays."""

    image: np.ndarray  # float32
    tumour: np.ndarray  # bool


def voxel_features(case: HabitatInput, features: Sequence[str], kernel_radius: int) -> np.ndarray:
    """One row per tumour voxel (C order), one column per requested feature."""
    box = _bounding_slices(case.tumour, kernel_radius)
    image = case.image[box].astype(np.float64)
    inside = case.tumour[box]
    size = 2 * kernel_radius + 1
    columns = []
    local_mean = ndimage.uniform_filter(image, size=size, mode="nearest") if _needs_mean(features) else None
    for name in features:
        if name == "intensity":
            columns.append(image[inside])
        elif name == "local_mean":
            columns.append(local_mean[inside])
        elif name == "local_std":
            mean_square = ndimage.uniform_filter(image * image, size=size, mode="nearest")
            columns.append(np.sqrt(np.maximum(mean_square - local_mean * local_mean, 0.0))[inside])
        elif name == "local_entropy":
            columns.append(_local_entropy(image, inside, size)[inside])
    return np.column_stack(columns)


def _needs_mean(features: Sequence[str]) -> bool:
    return "local_mean" in features or "local_std" in features


def _bounding_slices(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """The mask's bounding box grown by ``margin`` (so local filters see the tumour's neighbourhood only)."""
    coords = np.nonzero(mask)
    if not coords[0].size:
        raise RegionError("The tumour mask is empty on the 1 mm grid; it is too small to analyse.")
    return tuple(
        slice(max(int(c.min()) - margin, 0), min(int(c.max()) + margin + 1, n)) for c, n in zip(coords, mask.shape)
    )


def _local_entropy(image: np.ndarray, inside: np.ndarray, size: int) -> np.ndarray:
    """Shannon entropy (bits) of grey levels in a cube around each voxel, levels spanning the tumour's HU range."""
    low, high = float(image[inside].min()), float(image[inside].max())
    levels = np.clip(((image - low) / max(high - low, 1e-6) * ENTROPY_LEVELS).astype(int), 0, ENTROPY_LEVELS - 1)
    entropy = np.zeros(image.shape)
    for level in range(ENTROPY_LEVELS):
        p = ndimage.uniform_filter((levels == level).astype(np.float64), size=size, mode="nearest")
        entropy -= np.where(p > 0, p * np.log2(np.maximum(p, 1e-12)), 0.0)
    return entropy


class HabitatModel(BaseEstimator):
    """Gaussian-mixture habitats with K fixed or chosen by BIC; components ordered by mean HU (highest = 1)."""

    def __init__(
        self,
        k: int | None = None,
        k_range: tuple[int, int] = (2, 4),
        features: tuple[str, ...] = ("intensity", "local_mean", "local_std"),
        kernel_radius: int = 1,
        sample_size: int = 20000,
        n_init: int = 3,
        covariance_type: str = "full",
        seed: int = 0,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.features = features
        self.kernel_radius = kernel_radius
        self.sample_size = sample_size
        self.n_init = n_init
        self.covariance_type = covariance_type
        self.seed = seed

    @classmethod
    def from_settings(cls, settings: HabitatSettings) -> HabitatModel:
        return cls(**{name: getattr(settings, name) for name in cls._get_param_names()})

    def fit(self, cases: Sequence[HabitatInput]) -> HabitatModel:
        """Fit on a seeded sample of at most ``sample_size`` voxels, drawn equally from each case so that large
        tumours do not dominate a population model."""
        rng = np.random.default_rng(self.seed)
        per_case = self.voxels_per_case(len(cases))
        return self.fit_sample(np.concatenate([self.sample_voxels(case, per_case, rng) for case in cases]))

    def voxels_per_case(self, n_cases: int) -> int:
        """How many voxels each case contributes to a fit on ``n_cases`` cases."""
        return max(self.sample_size // max(n_cases, 1), 1)

    def sample_voxels(self, case: HabitatInput, n: int, rng: np.random.Generator) -> np.ndarray:
        """Feature rows of at most ``n`` tumour voxels of one case, drawn without replacement."""
        rows = voxel_features(case, self.features, self.kernel_radius)
        return rows[np.sort(rng.choice(len(rows), size=min(n, len(rows)), replace=False))]

    def fit_sample(self, sample: np.ndarray) -> HabitatModel:
        """Fit scaler and GMM(s) on voxel feature rows; keep the K with the lowest BIC."""
        candidate_ks = [self.k] if self.k is not None else list(range(self.k_range[0], self.k_range[1] + 1))
        candidate_ks = [k for k in candidate_ks if k <= len(sample)]
        if not candidate_ks:
            raise RegionError(f"The tumour has only {len(sample)} voxels at 1 mm: too few to form habitats.")
        self.scaler_ = StandardScaler().fit(sample)
        scaled = self.scaler_.transform(sample)
        # Small matrices: multi-threaded BLAS costs more than it gains here (measured 10x slower with 2 threads).
        with threadpool_limits(limits=1, user_api="blas"):
            fits = {k: self._fit_gmm(scaled, k) for k in candidate_ks}
        self.bic_ = {k: float(gmm.bic(scaled)) for k, gmm in fits.items()}
        self.k_ = min(self.bic_, key=self.bic_.get)
        self.gmm_ = fits[self.k_]
        self.order_ = self._order_by_intensity(self.gmm_)
        self.n_samples_ = len(sample)
        return self

    def _fit_gmm(self, scaled: np.ndarray, k: int) -> GaussianMixture:
        return GaussianMixture(
            n_components=k, covariance_type=self.covariance_type, n_init=self.n_init, random_state=self.seed
        ).fit(scaled)

    def _order_by_intensity(self, gmm: GaussianMixture) -> np.ndarray:
        """Habitat number (1..K) of each GMM component: by mean of the first feature (HU when ``intensity`` is
        first, as by default), highest first, so that sub1 is the most enhancing habitat in every case."""
        means = self.scaler_.inverse_transform(gmm.means_)[:, 0]
        ranking = np.argsort(-means, kind="stable")
        order = np.empty(len(ranking), dtype=np.uint8)
        order[ranking] = np.arange(1, len(ranking) + 1)
        return order

    def predict(self, case: HabitatInput) -> np.ndarray:
        """Habitat label (1..K) of every tumour voxel, 0 outside the tumour; same shape as the case's arrays."""
        rows = voxel_features(case, self.features, self.kernel_radius)
        with threadpool_limits(limits=1, user_api="blas"):
            components = self.gmm_.predict(self.scaler_.transform(rows))
        labels = np.zeros(case.tumour.shape, dtype=np.uint8)
        labels[case.tumour] = self.order_[components]
        return labels

    def to_dict(self) -> dict:
        """The fitted model as plain JSON data (no code): parameters, scaler, GMM, BIC curve and ordering."""
        return {
            "params": {**self.get_params(), "k_range": list(self.k_range), "features": list(self.features)},
            "scaler_mean": self.scaler_.mean_.tolist(),
            "scaler_scale": self.scaler_.scale_.tolist(),
            "weights": self.gmm_.weights_.tolist(),
            "means": self.gmm_.means_.tolist(),
            "covariances": np.asarray(self.gmm_.covariances_).tolist(),
            "precisions_cholesky": np.asarray(self.gmm_.precisions_cholesky_).tolist(),
            "bic": {str(k): v for k, v in self.bic_.items()},
            "k": int(self.k_),
            "order": self.order_.tolist(),
            "n_samples": int(self.n_samples_),
        }

    @classmethod
    def from_dict(cls, data: dict) -> HabitatModel:
        """Rebuild a fitted model from :meth:`to_dict` data (scikit-learn's own GMM predicts from the arrays)."""
        params = dict(data["params"])
        params["k_range"] = tuple(params["k_range"])
        params["features"] = tuple(params["features"])
        model = cls(**params)
        model.scaler_ = StandardScaler()
        model.scaler_.mean_ = np.array(data["scaler_mean"])
        model.scaler_.scale_ = np.array(data["scaler_scale"])
        model.scaler_.var_ = model.scaler_.scale_**2
        model.scaler_.n_features_in_ = len(model.scaler_.mean_)
        gmm = GaussianMixture(n_components=int(data["k"]), covariance_type=params["covariance_type"])
        gmm.weights_ = np.array(data["weights"])
        gmm.means_ = np.array(data["means"])
        gmm.covariances_ = np.array(data["covariances"])
        gmm.precisions_cholesky_ = np.array(data["precisions_cholesky"])
        gmm.n_features_in_ = gmm.means_.shape[1]
        model.gmm_ = gmm
        model.bic_ = {int(k): float(v) for k, v in data["bic"].items()}
        model.k_ = int(data["k"])
        model.order_ = np.array(data["order"], dtype=np.uint8)
        model.n_samples_ = int(data["n_samples"])
        return model
