"""The typed case result: what ``result.json`` holds, as dataclasses with ``from_dict`` / ``to_dict``.

One definition for its three readers (the report with the DICOM SEG, and the Slicer module), and checked against
its writers (``case.result.case_result`` and ``model.predict.prediction_fields``) by a test that reads real results
back and writes them again unchanged.

``from_dict`` is lenient where results of earlier versions may lack something (every field but ``regions`` has a
default), and keeps keys it does not know in :attr:`CaseResult.extra`, so that a round trip loses nothing.

Format versions: version 1 is the format of every ``result.json`` written so far, which carries no version key
(writing one would change the file this refactoring must leave as it was); the next change of format writes
``"format_version": 2``. A newer format than this code knows is refused with a sentence.

Standard library only: the Slicer module loads this in its own process.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputFileError
from .files import RESULT_FILE

FORMAT_VERSION = 1
#: The shell's label in ``regions.nrrd`` when a result does not say (habitats are 1..K below it).
DEFAULT_PERI_LABEL = 10
#: The shell's width when a result does not say (the paper's).
DEFAULT_MARGIN_MM = 3.0
#: Top-level keys of a prediction, in the order ``prediction_fields`` writes them (``model`` goes after the risk
#: group).
_PREDICTION_HEAD = ("t_stage_group", "probability_high", "threshold", "radscore", "radscore_cutoff", "risk_group")
_PREDICTION_TAIL = ("model_features", "radscore_training", "model_card")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _put(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is None (a key the result did not have stays out)."""
    if value is not None:
        data[key] = value


@dataclass(frozen=True)
class Geometry:
    """Size, spacing, origin and direction of an image (x, y, z order; direction row-major)."""

    size: tuple[int, ...] = ()
    spacing: tuple[float, ...] = ()
    origin: tuple[float, ...] = ()
    direction: tuple[float, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geometry:
        return cls(
            size=tuple(int(s) for s in data.get("size", ())),
            spacing=tuple(float(s) for s in data.get("spacing", ())),
            origin=tuple(float(o) for o in data.get("origin", ())),
            direction=tuple(float(d) for d in data.get("direction", ())),
        )

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        return {"size": list(self.size), "spacing": list(self.spacing), "origin": list(self.origin),
                "direction": list(self.direction)}

    @property
    def is_identity_direction(self) -> bool:
        """Axes along x, y, z of LPS (no rotation, no flip)."""
        identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        return len(self.direction) == 9 and all(abs(d - i) < 1e-6 for d, i in zip(self.direction, identity))


@dataclass(frozen=True)
class CaseInputs:
    """Where the CT and the mask came from, and the geometry of the CT and of the regions' 1 mm box."""

    image: str = ""
    #: ``dicom`` (a series folder) or ``file``.
    image_kind: str = ""
    image_geometry: Geometry | None = None
    mask: str = ""
    mask_selection: str = ""
    regions_geometry: Geometry | None = None
    #: A DICOM series' patient/study data and UIDs, captured when it was analysed (name → value).
    dicom: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseInputs:
        image_geometry, regions_geometry = data.get("image_geometry"), data.get("regions_geometry")
        return cls(
            image=str(data.get("image") or ""),
            image_kind=str(data.get("image_kind") or ""),
            image_geometry=Geometry.from_dict(image_geometry) if image_geometry else None,
            mask=str(data.get("mask") or ""),
            mask_selection=str(data.get("mask_selection") or ""),
            regions_geometry=Geometry.from_dict(regions_geometry) if regions_geometry else None,
            dicom={str(k): str(v) for k, v in (data.get("dicom") or {}).items()},
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"image": self.image, "image_kind": self.image_kind}
        _put(data, "image_geometry", self.image_geometry.to_dict() if self.image_geometry else None)
        data.update(mask=self.mask, mask_selection=self.mask_selection)
        _put(data, "regions_geometry", self.regions_geometry.to_dict() if self.regions_geometry else None)
        _put(data, "dicom", dict(self.dicom) or None)
        return data

    @property
    def is_dicom(self) -> bool:
        return self.image_kind == "dicom"


@dataclass(frozen=True)
class RegionStats:
    """Voxels and volume of one region; ``label`` is its value in ``regions.nrrd`` (``whole`` has none)."""

    voxels: int
    volume_ml: float
    label: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegionStats:
        label = data.get("label")
        return cls(int(data.get("voxels", 0)), float(data.get("volume_ml", 0.0)), None if label is None else int(label))

    def to_dict(self) -> dict[str, int | float]:
        data: dict[str, int | float] = {"voxels": self.voxels, "volume_ml": self.volume_ml}
        _put(data, "label", self.label)
        return data


@dataclass(frozen=True)
class ModelIdentity:
    """Which model predicted: its ID, checksum and card summary."""

    id: str
    sha256: str = ""
    training_data: str = ""
    intended_use: str = ""
    #: True unless the model says it is not a demonstration model (the cautious side when a result does not say).
    demonstration: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelIdentity:
        return cls(
            id=str(data.get("id", "?")), sha256=str(data.get("sha256") or ""),
            training_data=str(data.get("training_data") or ""), intended_use=str(data.get("intended_use") or ""),
            demonstration=bool(data.get("demonstration", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sha256": self.sha256, "training_data": self.training_data,
                "intended_use": self.intended_use, "demonstration": self.demonstration}


@dataclass(frozen=True)
class ModelFeature:
    """One feature the model uses: this case's value against the training data."""

    name: str
    value: float
    training_mean: float
    training_sd: float
    z: float
    out_of_distribution: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelFeature:
        def number(key: str) -> float:
            value = data.get(key)
            return math.nan if value is None else float(value)

        return cls(str(data.get("name", "")), number("value"), number("training_mean"), number("training_sd"),
                   number("z"), bool(data.get("out_of_distribution", False)))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "training_mean": self.training_mean,
                "training_sd": self.training_sd, "z": self.z, "out_of_distribution": self.out_of_distribution}


@dataclass(frozen=True)
class Prediction:
    """What the model predicted for the case."""

    #: ``low`` (T1-T2) or ``high`` (T3-T4).
    t_stage_group: str
    probability_high: float
    threshold: float
    radscore: float | None = None
    radscore_cutoff: float | None = None
    risk_group: str | None = None
    model_features: tuple[ModelFeature, ...] = ()
    #: The training cases' Radscores (the report's histogram).
    radscore_training: tuple[float, ...] = ()
    model_card: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        risk = data.get("risk_group")
        return cls(
            t_stage_group=str(data["t_stage_group"]),
            probability_high=float(data["probability_high"]),
            threshold=float(data.get("threshold", 0.5)),
            radscore=_optional_float(data.get("radscore")),
            radscore_cutoff=_optional_float(data.get("radscore_cutoff")),
            risk_group=None if risk is None else str(risk),
            model_features=tuple(ModelFeature.from_dict(f) for f in data.get("model_features") or ()),
            radscore_training=tuple(float(v) for v in data.get("radscore_training") or ()),
            model_card=str(data.get("model_card") or ""),
        )

    def head(self) -> dict[str, Any]:
        """The keys written before ``model``."""
        data = {"t_stage_group": self.t_stage_group, "probability_high": self.probability_high,
                "threshold": self.threshold}
        for key in ("radscore", "radscore_cutoff", "risk_group"):
            _put(data, key, getattr(self, key))
        return data

    def tail(self) -> dict[str, Any]:
        """The keys written after ``model``."""
        return {"model_features": [f.to_dict() for f in self.model_features],
                "radscore_training": list(self.radscore_training), "model_card": self.model_card}


@dataclass(frozen=True)
class CaseResult:
    """One analysed case: ``result.json``."""

    #: ``whole``, ``sub1`` … ``subK``, ``peri`` → voxels, volume and label.
    regions: Mapping[str, RegionStats]
    case_id: str = ""
    inputs: CaseInputs = field(default_factory=CaseInputs)
    habitats_k: int = 0
    #: BIC of the habitat GMM by K (keys are K as text, as JSON keys are).
    bic: Mapping[str, float] = field(default_factory=dict)
    #: Fraction of the shell outside the CT.
    peri_missing_fraction: float | None = None
    resampling: Mapping[str, Any] = field(default_factory=dict)
    n_features: int | None = None
    warnings: tuple[str, ...] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)
    software: Mapping[str, str] = field(default_factory=dict)
    #: ``Settings.to_dict()`` of the analysis (kept as JSON: core.settings needs YAML, which Slicer may not have).
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: The model used, also when its prediction was withheld; None without a model.
    model: ModelIdentity | None = None
    prediction: Prediction | None = None
    #: Why the model gave no prediction for this case.
    prediction_withheld: str | None = None
    format_version: int = FORMAT_VERSION
    #: Keys this version does not know, written back as they were.
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """The result from its JSON value; raises :class:`InputFileError` when it is none, or of a newer format."""
        if not isinstance(data, Mapping) or not isinstance(data.get("regions"), Mapping):
            raise InputFileError("This is not a CCRCCStaging result (no regions); run the analysis again.")
        version = int(data.get("format_version", 1))
        if version > FORMAT_VERSION:
            raise InputFileError(
                f"This result has format {version}, newer than this CCRCCStaging reads ({FORMAT_VERSION}); update "
                "CCRCCStaging."
            )
        model = data.get("model")
        return cls(
            regions={name: RegionStats.from_dict(stats) for name, stats in data["regions"].items()},
            case_id=str(data.get("case_id") or ""),
            inputs=CaseInputs.from_dict(data.get("inputs") or {}),
            habitats_k=int(data.get("habitats_k") or 0),
            bic={str(k): float(v) for k, v in (data.get("bic") or {}).items()},
            peri_missing_fraction=_optional_float(data.get("peri_missing_fraction")),
            resampling=dict(data.get("resampling") or {}),
            n_features=None if data.get("n_features") is None else int(data["n_features"]),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            timings_s={str(k): float(v) for k, v in (data.get("timings_s") or {}).items()},
            software={str(k): str(v) for k, v in (data.get("software") or {}).items()},
            settings=dict(data.get("settings") or {}),
            model=ModelIdentity.from_dict(model) if model else None,
            prediction=Prediction.from_dict(data) if "t_stage_group" in data and "probability_high" in data else None,
            prediction_withheld=None if data.get("prediction_withheld") is None else str(data["prediction_withheld"]),
            format_version=version,
            extra={key: value for key, value in data.items() if key not in _KNOWN_KEYS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON value, keys in the order the analysis writes them."""
        data: dict[str, Any] = {"case_id": self.case_id, "inputs": self.inputs.to_dict(),
                                "regions": {name: stats.to_dict() for name, stats in self.regions.items()},
                                "habitats_k": self.habitats_k, "bic": dict(self.bic)}
        _put(data, "peri_missing_fraction", self.peri_missing_fraction)
        data["resampling"] = dict(self.resampling)
        _put(data, "n_features", self.n_features)
        data.update(warnings=list(self.warnings), timings_s=dict(self.timings_s), software=dict(self.software),
                    settings=dict(self.settings))
        if self.prediction is not None:
            data.update(self.prediction.head())
        _put(data, "model", self.model.to_dict() if self.model else None)
        if self.prediction is not None:
            data.update(self.prediction.tail())
        _put(data, "prediction_withheld", self.prediction_withheld)
        if self.format_version != 1:
            data["format_version"] = self.format_version
        data.update(self.extra)
        return data

    @property
    def habitat_labels(self) -> list[tuple[int, int]]:
        """(habitat number, label value in ``regions.nrrd``) of every habitat, in habitat order."""
        labels = []
        for number in range(1, self.habitats_k + 1):
            stats = self.regions.get(f"sub{number}")
            labels.append((number, stats.label if stats is not None and stats.label is not None else number))
        return labels

    @property
    def peri_label(self) -> int:
        stats = self.regions.get("peri")
        return stats.label if stats is not None and stats.label is not None else DEFAULT_PERI_LABEL

    @property
    def margin_mm(self) -> float:
        """The shell's width (the model's when a model was used)."""
        return float(self.settings.get("margin_mm", DEFAULT_MARGIN_MM))

    def voxels(self, region: str) -> int:
        """Voxels of a region (0 when the result has no such region)."""
        stats = self.regions.get(region)
        return stats.voxels if stats is not None else 0


_KNOWN_KEYS = frozenset({
    "case_id", "inputs", "regions", "habitats_k", "bic", "peri_missing_fraction", "resampling", "n_features",
    "warnings", "timings_s", "software", "settings", "model", "prediction_withheld", "format_version",
    *_PREDICTION_HEAD, *_PREDICTION_TAIL,
})


def read_case_result(result_dir: Path, file_name: str = RESULT_FILE) -> CaseResult:
    """The result of an analysis folder, with a sentence for the user when it is missing or unreadable."""
    path = Path(result_dir) / file_name
    if not path.is_file():
        raise InputFileError(
            f"{result_dir} is not a finished analysis folder (no {file_name}); run 'ccrcc-staging analyze' first."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(f"{path} cannot be read ({error}); run the analysis again.") from error
    try:
        return CaseResult.from_dict(data)
    except (TypeError, ValueError, KeyError) as error:
        raise InputFileError(f"{path} is not a CCRCCStaging result ({error}); run the analysis again.") from error
    except InputFileError as error:
        raise InputFileError(f"{path}: {error}") from error
