"""Settings of one analysis: the PyRadiomics parameter file plus the project's own keys, in one place.

The settings are recorded in every result and model and hashed (:func:`Settings.digest`) so that cached
features are only reused when nothing that changes them has changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import SettingsError

#: Values of :attr:`Settings.interpolation` (the first is the default).
INTERPOLATION_MODES = ("pyradiomics", "float")

#: The repository's ``Resources`` folder (beside the package in a source checkout and in the installed extension).
RESOURCES_DIR = Path(__file__).resolve().parents[2] / "Resources"
DEFAULT_PARAMS_FILE = RESOURCES_DIR / "Params" / "ccrcc_pyradiomics.yaml"
#: The model shipped with the project (a demonstration model trained on synthetic phantoms).
BUNDLED_MODEL_DIR = RESOURCES_DIR / "Models" / "ccrcc-demo-synthetic-v1"

#: Largest peritumoral margin: beyond 2 cm a shell is no longer peritumoral (and its box grows with the cube).
MAX_MARGIN_MM = 20.0

#: Largest habitat count: habitat labels 1..K must stay below the shell's label in ``regions.nrrd``.
MAX_HABITATS = 9


def _whole(settings: Any, *fields: tuple[str, int | None]) -> None:
    """Refuse fields that are not whole numbers (a model folder's JSON may hold anything)."""
    for name, index in fields:
        value = getattr(settings, name) if index is None else getattr(settings, name)[index]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SettingsError(f"The habitat setting {name} must be a whole number, not {value!r}.")


@dataclass(frozen=True)
class HabitatSettings:
    """How the tumour is split into GMM habitats (the paper: GMM, K = 2–4 by BIC)."""

    #: Fixed K, or ``None`` to choose K in ``k_range`` by the lowest BIC.
    k: int | None = None
    k_range: tuple[int, int] = (2, 4)
    #: Voxel features clustered: ``intensity`` (HU), ``local_mean`` and ``local_std`` over a cube of
    #: ``2 * kernel_radius + 1`` voxels at 1 mm. The paper does not say which features it clustered.
    features: tuple[str, ...] = ("intensity", "local_mean", "local_std")
    kernel_radius: int = 1
    #: The GMM is fit on at most this many voxels (seeded sample) and then predicts every voxel.
    sample_size: int = 20000
    n_init: int = 3
    covariance_type: str = "full"
    seed: int = 0

    def __post_init__(self) -> None:
        _whole(self, ("k_range", 0), ("k_range", 1), ("kernel_radius", None), ("sample_size", None), ("n_init", None),
               ("seed", None), *((("k", None),) if self.k is not None else ()))
        low, high = self.k_range
        if not 1 <= low <= high <= MAX_HABITATS:
            raise SettingsError(f"Habitat range {self.k_range} is invalid: use 1 <= low <= high <= {MAX_HABITATS}.")
        if self.k is not None and not 1 <= self.k <= MAX_HABITATS:
            raise SettingsError(f"Habitat count {self.k} is invalid: use a number from 1 to {MAX_HABITATS} or 'auto'.")
        unknown = set(self.features) - {"intensity", "local_mean", "local_std", "local_entropy"}
        if unknown or not self.features:
            raise SettingsError(
                f"Unknown habitat features {sorted(unknown)}: use intensity, local_mean, local_std, local_entropy."
            )
        if not (0 <= self.seed < 2**32 and 1 <= self.kernel_radius <= 5 and 100 <= self.sample_size <= 10**7
                and 1 <= self.n_init <= 100 and self.covariance_type in ("full", "tied", "diag", "spherical")):
            raise SettingsError(
                "Habitat settings out of range: seed 0–4294967295, kernel radius 1–5, sample size 100–10,000,000, "
                "1–100 initialisations, covariance full, tied, diag or spherical."
            )

    @property
    def candidate_ks(self) -> list[int]:
        """The K values tried (one value when K is fixed)."""
        return [self.k] if self.k is not None else list(range(self.k_range[0], self.k_range[1] + 1))


@dataclass(frozen=True)
class Settings:
    """Everything that changes what an analysis computes."""

    params_file: Path = DEFAULT_PARAMS_FILE
    #: Peritumoral shell: voxels outside the tumour with 0 < distance <= margin_mm (the paper: 3 mm).
    margin_mm: float = 3.0
    habitats: HabitatSettings = field(default_factory=HabitatSettings)
    #: PyRadiomics parameters given inline (a trained model carries the ones it was trained with); when set,
    #: ``params_file`` only records where they came from.
    inline_params: dict[str, Any] | None = None
    #: How the CT is resampled: ``pyradiomics`` (PyRadiomics' own path: the CT's pixel type, so an int16 CT's
    #: interpolated HU are truncated) or ``float`` (float32: interpolated HU kept, the values of PyRadiomics on the
    #: CT cast to float32). See :mod:`resampling`.
    interpolation: str = "pyradiomics"

    def __post_init__(self) -> None:
        if isinstance(self.margin_mm, bool) or not isinstance(self.margin_mm, (int, float)) or not (
            0 < self.margin_mm <= MAX_MARGIN_MM
        ):
            raise SettingsError(
                f"The peritumoral margin must be a number of mm in (0, {MAX_MARGIN_MM:g}] (the paper: 3), "
                f"not {self.margin_mm!r}."
            )
        if self.interpolation not in INTERPOLATION_MODES:
            raise SettingsError(
                f"Unknown interpolation '{self.interpolation}': use one of {', '.join(INTERPOLATION_MODES)}."
            )
        if self.inline_params is None and not Path(self.params_file).is_file():
            raise SettingsError(f"PyRadiomics parameter file not found: {self.params_file}.")
        check_params(self.pyradiomics_params(), str(self.params_file))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Settings as recorded by :meth:`to_dict` (e.g. in a model), with the PyRadiomics parameters inline."""
        habitats = dict(data["habitats"])
        habitats["k_range"] = tuple(habitats["k_range"])
        habitats["features"] = tuple(habitats["features"])
        return cls(
            params_file=Path(data["params_file"]),
            margin_mm=float(data["margin_mm"]),
            habitats=HabitatSettings(**habitats),
            inline_params=data["pyradiomics_params"],
            # Models made before the setting existed resampled into float32.
            interpolation=data.get("interpolation", "float"),
        )

    def pyradiomics_params(self) -> dict[str, Any]:
        """The PyRadiomics parameters (``imageType``, ``featureClass``, ``setting``)."""
        if self.inline_params is not None:
            return self.inline_params
        return load_params_file(Path(self.params_file))

    @property
    def resampled_spacing(self) -> tuple[float, float, float]:
        """The isotropic grid the case is resampled to before regions are built (the paper: 1 mm)."""
        spacing = self.pyradiomics_params().get("setting", {}).get("resampledPixelSpacing")
        if not spacing or len(spacing) != 3 or any(float(s) <= 0 for s in spacing):
            raise SettingsError(
                f"{self.params_file} must set resampledPixelSpacing to three positive values (e.g. [1, 1, 1])."
            )
        return tuple(float(s) for s in spacing)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the parameter file's content (not only its path) so results are self-describing."""
        data = dataclasses.asdict(self)
        del data["inline_params"]
        data["params_file"] = str(self.params_file)
        data["pyradiomics_params"] = self.pyradiomics_params()
        return data

    def digest(self) -> str:
        """SHA-256 of everything that changes the computed values (the file's path is left out, its content is in)."""
        data = self.to_dict()
        del data["params_file"]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def load_params_file(path: Path) -> dict[str, Any]:
    """Read a PyRadiomics YAML parameter file, with a clear error when it is not one."""
    try:
        params = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError(f"Cannot read the PyRadiomics parameter file {path}: {error}.") from error
    if not isinstance(params, dict) or not {"imageType", "featureClass", "setting"} & params.keys():
        raise SettingsError(f"{path} is not a PyRadiomics parameter file (no imageType/featureClass/setting).")
    return params


def check_params(params: Any, source: str) -> None:
    """The values of a parameter file that PyRadiomics' own schema leaves open: finite, in range. (Its schema checks
    the types when the extraction starts; the resampled box is budgeted before it is allocated.)"""
    if not isinstance(params, dict) or not isinstance(params.get("setting", {}), dict):
        raise SettingsError(f"{source} is not a PyRadiomics parameter file (no 'setting' section).")
    setting = params.get("setting") or {}
    problems = []
    spacing = setting.get("resampledPixelSpacing")
    if spacing is not None and not (
        isinstance(spacing, list) and len(spacing) == 3 and all(_number_in(s, 0, 100) for s in spacing)
    ):
        problems.append("resampledPixelSpacing must be three numbers of mm (0 keeps the original) up to 100")
    for key, low, high in (("binCount", 1, 10_000), ("binWidth", 1e-6, 1e6), ("padDistance", 0, 100)):
        if key in setting and not _number_in(setting[key], low, high):
            problems.append(f"{key} must be a number from {low:g} to {high:g}")
    log = (params.get("imageType") or {}).get("LoG") if isinstance(params.get("imageType"), dict) else None
    sigmas = (log or {}).get("sigma", []) if isinstance(log, dict) else []
    if not isinstance(sigmas, list) or not all(_number_in(s, 1e-3, 50) for s in sigmas):
        problems.append("LoG sigma must be a list of numbers of mm between 0.001 and 50")
    if problems:
        raise SettingsError(f"{source}: {'; '.join(problems)}.")


def _number_in(value: Any, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value <= high
