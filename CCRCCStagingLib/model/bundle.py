"""The model folder, read: verified against its manifest and evaluated with NumPy (``analyze``, ``evaluate``, the
Slicer module and the report all load it here; ``training.bundle_writer`` writes it).

Safe by construction: the deployed model (what ``analyze`` and Slicer use) is plain JSON plus a NumPy ``.npz``
read with ``allow_pickle=False``, evaluated with NumPy (:class:`DeployedModel`), so loading it never runs code
from the file and gives the same predictions whatever scikit-learn version is installed. ``manifest.json`` holds
the SHA-256 of every file; a missing, changed, truncated, foreign or newer-format folder is refused.

The research pipelines of every region × classifier (``research/pipelines.joblib``, for ``evaluate``) are a
pickle: they are checked against the manifest and loaded only by ``evaluate``, never by ``analyze`` or Slicer,
and are not part of a shipped bundle.
"""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelBundleError, SettingsError

FORMAT = "ccrcc-staging-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL = "model.json"
ARRAYS = "model_arrays.npz"
HABITATS = "habitats.json"
SUMMARY = "training_summary.json"
REPORT = "training_report.html"
MODEL_CARD = "MODEL_CARD.md"
METRICS = "metrics.csv"
#: Radscore and risk group of every case (the input of ``ccrcc-staging radiogenomics``).
RADSCORES = "radscores.csv"
RESEARCH = "research/pipelines.joblib"
#: Files a deployable bundle must hold (the training summary and report are optional extras).
DEPLOY_FILES = (MODEL, ARRAYS, HABITATS)
#: A selected feature further than this many training SDs from the training mean is out of distribution.
OOD_Z = 4.0
DEPLOYABLE = ("svm", "lr")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: Largest size of each file read from a model folder (bytes), checked before it is read.
MAX_FILE_BYTES = {MANIFEST: 1 << 20, MODEL: 64 << 20, ARRAYS: 256 << 20, HABITATS: 1 << 20, MODEL_CARD: 1 << 20}
MAX_MANIFEST_FILES = 100


def verify(model_dir: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a model folder against its manifest (``optional`` files only when the manifest lists them); return
    the manifest. Every file it vouches for must be a regular file inside the folder (no link, no ``..``); every
    failure names what to do."""
    if not model_dir.is_dir():
        raise ModelBundleError(f"The model folder {model_dir} does not exist; give a folder written by 'ccrcc-staging train'.")
    manifest = _read_manifest(model_dir)
    files = manifest["files"]
    for name in (*required, *(name for name in optional if name in files)):
        if name not in files:
            raise ModelBundleError(f"The model folder {model_dir} lacks {name}; copy the whole folder again.")
        path = safe_member(model_dir, name)
        if sha256(path) != files[name]:
            raise ModelBundleError(
                f"{path} does not match its checksum: the model was changed or damaged after training. "
                "Copy it again or retrain."
            )
    return manifest


def _read_manifest(model_dir: Path) -> dict[str, Any]:
    try:
        path = safe_member(model_dir, MANIFEST)
    except ModelBundleError:
        raise ModelBundleError(
            f"{model_dir} has no {MANIFEST}: it is not a CCRCCStaging model folder (train one with 'ccrcc-staging train')."
        ) from None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelBundleError(f"The manifest of {model_dir} is damaged ({error}); copy the model folder again.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelBundleError(f"{model_dir} is not a CCRCCStaging model folder (foreign manifest).")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelBundleError(
            f"{model_dir} has model format {manifest.get('format_version')} but this version of CCRCCStaging reads format "
            f"{FORMAT_VERSION} ({manifest.get('written_by', 'unknown writer')}); update CCRCCStaging or retrain the model."
        )
    files = manifest.get("files")
    if (
        not isinstance(files, dict) or len(files) > MAX_MANIFEST_FILES
        or not all(isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items())
    ):
        raise ModelBundleError(f"The manifest of {model_dir} is damaged (its file list); copy the model folder again.")
    return manifest


def safe_member(model_dir: Path, name: str) -> Path:
    """``model_dir / name`` when it is a regular file inside the folder: not a link, no ``..``, no absolute path,
    not larger than this file may be. A folder is untrusted input: nothing outside it is ever read through it."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts or "\\" in name:
        raise ModelBundleError(f"The model folder {model_dir} names a file outside itself ({name!r}); it is not safe to use.")
    path = model_dir / relative
    for part in [model_dir / Path(*relative.parts[: i + 1]) for i in range(len(relative.parts))]:
        if part.is_symlink():
            raise ModelBundleError(
                f"{part} is a link; a model folder must hold its files itself. Copy the folder without links."
            )
    try:
        info = path.lstat()
    except OSError:
        raise ModelBundleError(f"The model folder {model_dir} lacks {name}; copy the whole folder again.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelBundleError(f"{path} is not a regular file; a model folder holds only files. Copy it again.")
    limit = MAX_FILE_BYTES.get(name)
    if limit is not None and info.st_size > limit:
        raise ModelBundleError(f"{path} is {info.st_size:,} bytes, far larger than a model's {name}; it is not a model file.")
    return path


@dataclass(frozen=True)
class Prediction:
    probability_high: float
    t_stage_group: str
    threshold: float
    radscore: float
    radscore_cutoff: float
    risk_group: str
    out_of_distribution: list[str]


@dataclass(eq=False)
class DeployedModel:
    """The deployed model evaluated with NumPy only: z-score → classifier → calibrated probability; Radscore."""

    model_dir: Path
    description: dict[str, Any]
    arrays: dict[str, np.ndarray]
    sha256: str
    habitat_model: dict[str, Any]
    #: The files the manifest vouches for (nothing else of the folder is ever read).
    listed_files: tuple[str, ...] = ()

    @property
    def features(self) -> list[str]:
        """Region-prefixed names of the features the model needs (the targeted extraction list)."""
        return list(self.description["features"])

    @property
    def extraction_settings(self) -> dict[str, Any]:
        return self.description["extraction_settings"]

    def identity(self) -> dict[str, Any]:
        card = self.description.get("card", {})
        return {
            "id": self.description["id"],
            "sha256": self.sha256,
            "training_data": card.get("training_data", ""),
            "intended_use": card.get("intended_use", ""),
            "demonstration": bool(card.get("demonstration", False)),
        }

    def card_text(self) -> str:
        """The model card (Markdown) when the manifest vouches for one, else a one-line stand-in."""
        if MODEL_CARD not in self.listed_files:
            return f"Model {self.description['id']}: no model card."
        try:
            return safe_member(self.model_dir, MODEL_CARD).read_text(errors="replace")
        except OSError:
            return f"Model {self.description['id']}: the model card cannot be read."

    @property
    def batches(self) -> list[str] | None:
        """The scanners or centres of a ComBat-harmonised model (``None``: the model does not harmonise)."""
        harmonisation = self.description.get("harmonisation")
        return list(harmonisation["batches"]) if harmonisation else None

    def require_batch(self, batch: str | None) -> None:
        """Refuse, before any work, a case a harmonised model could not score (no batch, or an unknown one)."""
        batches = self.batches
        if batches is not None and (batch is None or str(batch) not in batches):
            given = "no scanner batch was given" if batch is None else f"batch {batch!r} was not in its training data"
            raise SettingsError(
                f"The model {self.description['id']} scores ComBat-harmonised features and {given}; give the case's "
                f"scanner or centre as one of {', '.join(batches)} (analyze --batch, or the manifest's batch column)."
            )

    def harmonise(self, values: dict[str, float], batch: str | None) -> dict[str, float]:
        """``values`` with the training split's ComBat applied for ``batch`` (unchanged for a model without one)."""
        harmonisation = self.description.get("harmonisation")
        if not harmonisation:
            return values
        self.require_batch(batch)
        column = harmonisation["batches"].index(str(batch))
        harmonised = dict(values)
        for name, p in harmonisation["features"].items():
            standardised = (values[name] - p["grand_mean"]) / p["pooled_sd"]
            adjusted = (standardised - p["gamma"][column]) / np.sqrt(p["delta"][column])
            harmonised[name] = float(adjusted * p["pooled_sd"] + p["grand_mean"])
        return harmonised

    def z_scores(self, values: dict[str, float]) -> np.ndarray:
        missing = [name for name in self.features if name not in values or not np.isfinite(values[name])]
        if missing:
            raise ModelBundleError(f"The model needs features this case does not have: {missing}.")
        x = np.array([values[name] for name in self.features], dtype=float)
        return (x - self.arrays["zscore_mean"]) / self.arrays["zscore_scale"]

    def probability(self, z: np.ndarray) -> float:
        """P(high T stage) for z-scored features (one case)."""
        classifier = self.description["classifier"]
        if classifier == "svm":
            squared = np.sum((self.arrays["support_vectors"] - z) ** 2, axis=1)
            kernel = np.exp(-float(self.description["svm_gamma"]) * squared)
            decision = float(self.arrays["dual_coef"] @ kernel + float(self.description["svm_intercept"]))
            a, b = self.description["platt"]
            return float(1.0 / (1.0 + np.exp(-(a * decision + b))))
        if classifier == "lr":
            logit = float(self.arrays["lr_coef"] @ z + float(self.description["lr_intercept"]))
            return float(1.0 / (1.0 + np.exp(-logit)))
        raise ModelBundleError(f"Model classifier '{classifier}' cannot be evaluated by this version; retrain it.")

    def volume_probability(self, volume_ml: np.ndarray) -> np.ndarray | None:
        """P(T3–T4) of the tumour-volume-only baseline frozen with the model (``None`` for older models)."""
        baseline = self.description.get("volume_baseline")
        if not baseline:
            return None
        logit = baseline["intercept"] + baseline["coefficient"] * np.log1p(np.asarray(volume_ml, dtype=float))
        return 1.0 / (1.0 + np.exp(-logit))

    def radscore(self, z: np.ndarray) -> float:
        return float(self.description["radscore"]["intercept"] + self.arrays["radscore_coef"] @ z)

    def predict(self, values: dict[str, float], batch: str | None = None) -> Prediction:
        """The prediction for one case's features (``batch``: its scanner or centre, for a harmonised model)."""
        z = self.z_scores(self.harmonise(values, batch))
        probability = self.probability(z)
        score = self.radscore(z)
        threshold = float(self.description["threshold"])
        cutoff = float(self.description["radscore"]["cutoff"])
        far = [name for name, value in zip(self.features, z) if abs(value) > OOD_Z]
        return Prediction(
            probability_high=probability,
            t_stage_group="high" if probability >= threshold else "low",
            threshold=threshold,
            radscore=score,
            radscore_cutoff=cutoff,
            risk_group="high" if score >= cutoff else "low",
            out_of_distribution=far,
        )


def load_deployed_model(model_dir: Path) -> DeployedModel:
    """Verify and load the deployed model of a folder: no pickle, no code from the file, every value checked."""
    from .validation import check_arrays, check_description, check_habitat_model

    model_dir = Path(model_dir)
    manifest = verify(model_dir, DEPLOY_FILES, optional=(MODEL_CARD,))
    description = _read_json(model_dir, MODEL)
    check_description(description, model_dir / MODEL)
    try:
        with np.load(safe_member(model_dir, ARRAYS), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files[:32]}
    except (OSError, ValueError, EOFError, KeyError) as error:
        raise ModelBundleError(f"The model arrays in {model_dir} cannot be read ({error}); copy it again or retrain.") from None
    check_arrays(arrays, description, model_dir / ARRAYS)
    habitat_model = _read_json(model_dir, HABITATS)
    check_habitat_model(habitat_model, model_dir / HABITATS)
    return DeployedModel(
        model_dir, description, arrays, sha256(model_dir / MANIFEST), habitat_model, tuple(manifest["files"])
    )


def _read_json(model_dir: Path, name: str) -> Any:
    try:
        return json.loads(safe_member(model_dir, name).read_text(), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelBundleError(f"{model_dir / name} cannot be read ({error}); copy the model folder again.") from None


def _no_constant(name: str) -> float:
    """JSON's NaN/Infinity extensions are refused: a model holds finite numbers."""
    raise ValueError(f"{name} is not a number a model may hold")
