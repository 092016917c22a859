"""PyRadiomics extraction for one case's regions, all features or only a requested list (targeted extraction).

Each region arrives as PyRadiomics' ``loadImage`` leaves it (:class:`resampling.RegionInput`: the CT on the region's
own PyRadiomics grid in its own pixel type, and the mask); :func:`extract_regions` then follows
``RadiomicsFeatureExtractor.execute`` step by step (check the mask, shape, filtered images, crop, feature classes)
with PyRadiomics' own building blocks, so its values are PyRadiomics' values — those of ``execute()`` on the CT file
and that region's mask. It is faster than one ``execute()`` per region in ways that do not change a value:

- given a list of feature names it builds only the filtered images and feature classes those names need (one LoG
  sigma, no wavelet at all, …);
- regions on the same grid (the same pixels) share their filtered images: a filtered image depends only on those
  pixels, so it is computed once for all of them;
- the feature classes computed on one filtered image of one region share its discretisation (:class:`_BinningMemo`);
- the mesh-based shape coefficients (see :class:`_MeshCoefficients`): PyRadiomics' C code compares every pair of
  mesh vertices for the maximum diameters (tens of seconds for a 9 cm tumour's shell and habitats); only the
  vertices that can be farthest apart are compared here, which gives the same maximum;
- optionally, the work is spread over worker processes (``workers``).

Tests hold it to ``execute()`` on files (``Testing/test_pyradiomics_equality.py``), to PyRadiomics' baseline CSVs
and to the IBSI reference values (``Testing/ibsi``).

Feature names are PyRadiomics' (``wavelet-LLH_glcm_Idmn``); with a region prefix they read
``peri_wavelet-LLH_glcm_Idmn`` (see :func:`region_feature_name`).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from .errors import RegionError, SettingsError
from .resampling import RegionInput, RegionSampler

#: {image type name (``original``, ``log-sigma-1-0-mm-3D``, ``wavelet-LLH``) → {feature class → feature names}}.
FeatureRequest = dict[str, dict[str, set[str]]]

#: PyRadiomics image types whose derived image names are fixed words.
_FIXED_IMAGE_NAMES = {
    "Original": "original",
    "Square": "square",
    "SquareRoot": "squareroot",
    "Logarithm": "logarithm",
    "Exponential": "exponential",
    "Gradient": "gradient",
}
#: PyRadiomics image types whose derived images share a name prefix.
_PREFIX_IMAGE_NAMES = {"LoG": "log-sigma-", "Wavelet": "wavelet", "LBP2D": "lbp-2D", "LBP3D": "lbp-3D"}
#: Image types whose PyRadiomics filter reads only the image, never the mask: regions with the same crop share them.
_MASK_FREE_IMAGE_TYPES = {"Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient"}


@dataclass(frozen=True)
class ExtractionSpec:
    """What PyRadiomics computes, as parsed from a parameter file: settings, image types, feature classes."""

    settings: dict[str, Any]
    image_types: dict[str, dict[str, Any]]
    feature_classes: dict[str, list[str] | None]

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExtractionSpec:
        """Parse (and validate, through PyRadiomics' own schema) a parameter-file dictionary."""
        from radiomics.featureextractor import RadiomicsFeatureExtractor

        _quiet_pyradiomics()
        try:
            extractor = RadiomicsFeatureExtractor(dict(params))
        except Exception as error:  # PyRadiomics raises plain exceptions for schema errors
            raise SettingsError(f"The PyRadiomics parameters are invalid: {error}") from error
        return cls(dict(extractor.settings), dict(extractor.enabledImagetypes), dict(extractor.enabledFeatures))


#: Environment variable: worker processes for one case's extraction when the caller does not say (default 1).
WORKERS_ENV = "CCRCC_FEATURE_WORKERS"


def default_workers() -> int:
    """Worker processes for one case's extraction: ``$CCRCC_FEATURE_WORKERS`` or 1.

    One process is the right default inside a cohort run (its cases already use every core) and inside Slicer; a
    single case run from the command line on an idle machine can use 2."""
    try:
        return max(int(os.environ.get(WORKERS_ENV, "1")), 1)
    except ValueError:
        raise SettingsError(f"{WORKERS_ENV} must be a whole number of worker processes.") from None


def _quiet_pyradiomics() -> None:
    """PyRadiomics logs every step at INFO and some expected situations as warnings; we report our own."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)


def region_feature_name(region: str, name: str) -> str:
    """``peri`` + ``wavelet-LLH_glcm_Idmn`` → ``peri_wavelet-LLH_glcm_Idmn``."""
    return f"{region}_{name}"


def split_region_feature_name(name: str) -> tuple[str, str]:
    """``peri_wavelet-LLH_glcm_Idmn`` → (``peri``, ``wavelet-LLH_glcm_Idmn``)."""
    region, _, feature = name.partition("_")
    if not feature:
        raise SettingsError(f"'{name}' is not a region feature name like 'peri_original_firstorder_Mean'.")
    return region, feature


def build_request(names: Iterable[str]) -> FeatureRequest:
    """Group PyRadiomics feature names (``<image type>_<class>_<feature>``) by image type and class."""
    request: FeatureRequest = {}
    for name in names:
        parts = name.split("_")
        if len(parts) != 3:
            raise SettingsError(f"'{name}' is not a PyRadiomics feature name like 'wavelet-LLH_glcm_Idmn'.")
        image_type, feature_class, feature = parts
        request.setdefault(image_type, {}).setdefault(feature_class, set()).add(feature)
    return request


def extract(
    image: sitk.Image,
    mask: sitk.Image,
    spec: ExtractionSpec,
    request: FeatureRequest | None = None,
    *,
    label: int = 1,
    interpolation: str = "pyradiomics",
) -> dict[str, float]:
    """PyRadiomics features of the mask's ``label`` in the image: all enabled ones, or only those in ``request``.

    The values are those of ``RadiomicsFeatureExtractor.execute(image, mask, label=label)`` (segment-based);
    ``interpolation="float"`` gives those of ``execute`` on the image cast to float32 first."""
    from radiomics import imageoperations

    _quiet_pyradiomics()
    try:
        labels = imageoperations.getMask(mask, **{**spec.settings, "label": label})
    except (ValueError, AssertionError) as error:
        raise RegionError(f"PyRadiomics cannot use this mask: {error}") from error
    binary = sitk.Cast(labels == label, sitk.sitkUInt8)
    pad = int(spec.settings.get("padDistance", 5))
    region = RegionSampler(image, binary, spec.settings, interpolation, margin=pad).whole
    values, failures = extract_regions({"region": region}, spec, None if request is None else {"region": request})
    if "region" in failures:
        raise failures["region"]
    return values["region"]


def extract_as_pyradiomics(image: sitk.Image, mask: sitk.Image, params: dict[str, Any], label: int = 1) -> dict[str, float]:
    """``RadiomicsFeatureExtractor(params).execute(image, mask, label=label)`` through this project's extraction:
    the feature values (no diagnostics), equal to PyRadiomics' own."""
    return extract(image, mask, ExtractionSpec.from_params(params), label=label)


def extract_regions(
    regions: Mapping[str, RegionInput],
    spec: ExtractionSpec,
    requests: Mapping[str, FeatureRequest] | None = None,
    progress: Callable[[float, str], None] | None = None,
    workers: int = 1,
) -> tuple[dict[str, dict[str, float]], dict[str, RegionError]]:
    """PyRadiomics features of several regions, each given as PyRadiomics' ``loadImage`` leaves it (image and 0/1
    mask on the region's own grid, see :class:`resampling.RegionSampler`).

    ``requests=None``: every enabled feature of every region; otherwise only the regions named in ``requests`` and only
    the features each one asks for. Returns ``({region: {feature: value}}, {region: why it has no features})``; the
    values of each region are those of ``execute()`` on that region alone, in ``execute()``'s order.

    ``workers > 1`` spreads the work (per region group and filtered image) over that many worker processes (joblib's
    reusable pool; its start costs about a second once per process). The values do not depend on it.
    ``progress(fraction, message)`` is called as parts finish."""
    _quiet_pyradiomics()
    settings = {**spec.settings, "label": 1}  # the masks hold 0/1, whatever label the parameter file names
    prepared: list[_Region] = []
    failures: dict[str, RegionError] = {}
    for name, region in regions.items():
        if requests is not None and name not in requests:
            continue
        try:
            prepared.append(_prepare_region(name, region, settings, None if requests is None else requests[name]))
        except RegionError as error:
            failures[name] = error
    tasks = _plan(_groups_by_crop(prepared), spec, settings, split=max(int(workers), 1))
    parts: list[tuple[tuple[int, int], str, dict[str, float]]] = []
    for done, (index, result) in enumerate(_run(tasks, workers)):
        parts.extend(result)
        if progress is not None:
            progress((done + 1) / len(tasks), f"extracted {tasks[index].description}")
    values: dict[str, dict[str, float]] = {region.name: {} for region in prepared}
    for _, name, part in sorted(parts, key=lambda item: item[0]):
        values[name].update(part)
    return values, failures


@dataclass
class _Region:
    """One region after PyRadiomics' loading: the image and mask on the region's grid (its bounding box ±
    ``padDistance``), and the bounding box of the mask."""

    name: str
    image: sitk.Image
    mask: sitk.Image
    shape_mask: sitk.Image
    bounding_box: np.ndarray
    request: FeatureRequest | None

    @property
    def crop_key(self) -> tuple:
        """Equal for two regions exactly when their images are the same pixels (same CT on the same grid)."""
        image = self.image
        return image.GetOrigin(), image.GetSize(), image.GetSpacing(), image.GetDirection()

    @property
    def voxels(self) -> int:
        return int(np.prod(self.bounding_box[1::2] - self.bounding_box[0::2] + 1))

    def __getstate__(self) -> dict[str, Any]:
        """Sent to worker processes with the masks packed into bytes (PyRadiomics' masks are 32-bit)."""
        state = dict(self.__dict__)
        for key in ("image", "mask", "shape_mask"):
            state[key] = _pack(state[key])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("image", "mask", "shape_mask"):
            state[key] = _unpack(state[key])
        self.__dict__.update(state)


def _pack(image: sitk.Image) -> tuple:
    array = sitk.GetArrayFromImage(image)
    if array.dtype.kind in "ui" and array.size and 0 <= array.min() and array.max() <= 255:
        array = array.astype(np.uint8)
    return array, image.GetPixelID(), image.GetOrigin(), image.GetSpacing(), image.GetDirection()


def _unpack(packed: tuple) -> sitk.Image:
    array, pixel_id, origin, spacing, direction = packed
    image = sitk.GetImageFromArray(array)
    if image.GetPixelID() != pixel_id:
        image = sitk.Cast(image, pixel_id)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return image


def _prepare_region(name: str, region: RegionInput, settings: dict[str, Any], request: FeatureRequest | None) -> _Region:
    """Steps 2 and 5 of ``execute()`` after loading: check the mask, resegment."""
    from radiomics import imageoperations

    image, mask = region.image, region.mask
    try:
        bounding_box, corrected = imageoperations.checkMask(image, mask, **settings)
    except (ValueError, AssertionError) as error:
        raise RegionError(f"PyRadiomics cannot use this region: {error}") from error
    if corrected is not None:
        mask = corrected
    shape_mask = mask
    if settings.get("resegmentRange") is not None:
        resegmented = imageoperations.resegmentMask(image, mask, **settings)
        bounding_box, _ = imageoperations.checkMask(image, resegmented, **settings)
        shape_mask = resegmented if settings.get("resegmentShape", False) else mask
        mask = resegmented
    return _Region(name, image, mask, shape_mask, bounding_box, request)


def _groups_by_crop(regions: list[_Region]) -> list[list[_Region]]:
    groups: dict[tuple, list[_Region]] = {}
    for region in regions:
        groups.setdefault(region.crop_key, []).append(region)
    return list(groups.values())


@dataclass
class _Task:
    """Part of ``execute()`` for regions whose cropped images are the same pixels: their shape (``image_type=None``),
    or the feature classes on the filtered images of one image type (every ``parts``-th of them, from ``part``)."""

    members: list[_Region]
    spec: ExtractionSpec
    settings: dict[str, Any]
    position: int  # of the image type in the parameter file (-1: shape), for execute()'s order of the values
    image_type: str | None = None
    arguments: dict[str, Any] | None = None
    part: int = 0
    parts: int = 1
    cost: float = 0.0

    @property
    def description(self) -> str:
        kind = "shape" if self.image_type is None else self.image_type
        if self.image_type == "LoG" and self.arguments:
            kind += f" {self.arguments['sigma'][0]:g} mm"
        return f"{kind} features of {', '.join(r.name for r in self.members)}"


def _plan(groups: list[list[_Region]], spec: ExtractionSpec, settings: dict[str, Any], split: int) -> list[_Task]:
    """The tasks of steps 4 and 6 of ``execute()``, largest first. A mask-free filter runs once per group."""
    tasks = []
    for group in groups:
        for region in group:
            if _classes_for("original", spec, region.request, shape=True):
                tasks.append(_Task([region], spec, settings, -1, cost=region.voxels))
        for position, (image_type, custom) in enumerate(spec.image_types.items()):
            members = [r for r in group if r.request is None or _type_requested(image_type, r.request)]
            if not members:
                continue
            arguments = {**settings, **custom}
            runs = [members] if image_type in _MASK_FREE_IMAGE_TYPES else [[r] for r in members]
            voxels = [sum(r.voxels for r in run) for run in runs]
            if image_type == "LoG":
                sigmas = [
                    s for s in custom.get("sigma", [])
                    if any(r.request is None or _log_name(s) in r.request for r in members)
                ]
                for run, size in zip(runs, voxels):
                    for sigma in sigmas:
                        task_arguments = {**arguments, "sigma": [sigma]}
                        tasks.append(_Task(run, spec, settings, position, image_type, task_arguments, cost=size))
            elif image_type == "Wavelet":
                # Eight decompositions from one transform: with workers, split them (each part redoes the transform).
                parts = 2 if split > 1 else 1
                for run, size in zip(runs, voxels):
                    for part in range(parts):
                        tasks.append(
                            _Task(run, spec, settings, position, image_type, arguments, part, parts, 8 * size / parts)
                        )
            else:
                for run, size in zip(runs, voxels):
                    tasks.append(_Task(run, spec, settings, position, image_type, arguments, cost=size))
    return sorted(tasks, key=lambda task: -task.cost)


def _run_task(task: _Task) -> list[tuple[tuple[int, int], str, dict[str, float]]]:
    """``[((image type position, derived image index), region, values)]`` of one task."""
    from radiomics import imageoperations

    _quiet_pyradiomics()
    results = []
    if task.image_type is None:
        region = task.members[0]
        classes = _classes_for("original", task.spec, region.request, shape=True)
        image, mask = imageoperations.cropToTumorMask(region.image, region.shape_mask, region.bounding_box)
        return [((-1, 0), region.name, _compute_classes(image, mask, "original", classes, task.settings))]
    first = task.members[0]
    generator = getattr(imageoperations, f"get{task.image_type}Image")
    derived_images = generator(first.image, first.mask, **(task.arguments or {}))
    for index, (derived, name, derived_arguments) in enumerate(derived_images):
        if index % task.parts != task.part:
            continue
        if task.image_type == "LoG":
            index = [_log_name(s) for s in task.spec.image_types["LoG"].get("sigma", [])].index(name)
        for region in task.members:
            classes = _classes_for(name, task.spec, region.request, shape=False)
            if classes:
                image, mask = imageoperations.cropToTumorMask(derived, region.mask, region.bounding_box)
                values = _compute_classes(image, mask, name, classes, derived_arguments)
                results.append(((task.position, index), region.name, values))
    return results


def _run(tasks: list[_Task], workers: int) -> Iterable[tuple[int, list[tuple[tuple[int, int], str, dict[str, float]]]]]:
    """``(task index, result)`` as tasks finish: in this process, or in joblib's pool of ``workers`` processes."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_run_numbered, enumerate(tasks))
        return
    import joblib

    parallel = joblib.Parallel(n_jobs=workers, backend="loky", batch_size=1, return_as="generator_unordered")
    yield from parallel(joblib.delayed(_run_numbered)(numbered) for numbered in enumerate(tasks))


def _run_numbered(numbered: tuple[int, _Task]) -> tuple[int, list[tuple[tuple[int, int], str, dict[str, float]]]]:
    index, task = numbered
    return index, _run_task(task)


def _log_name(sigma: float) -> str:
    """The image type name PyRadiomics gives a LoG image (its own formula)."""
    return "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")


def _type_requested(image_type: str, request: FeatureRequest) -> bool:
    if image_type in _FIXED_IMAGE_NAMES:
        return _FIXED_IMAGE_NAMES[image_type] in request
    prefix = _PREFIX_IMAGE_NAMES.get(image_type)
    return prefix is None or any(name.startswith(prefix) for name in request)


def _classes_for(
    image_name: str, spec: ExtractionSpec, request: FeatureRequest | None, shape: bool
) -> dict[str, list[str] | None]:
    """Feature classes (with feature lists, ``None`` = the class's defaults) to compute on one derived image."""
    enabled = {
        name: features
        for name, features in spec.feature_classes.items()
        if name.startswith("shape") == shape and name != "shape2D"
    }
    if request is None:
        return enabled
    wanted = request.get(image_name, {})
    return {name: sorted(wanted[name]) for name in enabled if name in wanted}


def _compute_classes(
    image: sitk.Image,
    mask: sitk.Image,
    image_name: str,
    classes: dict[str, list[str] | None],
    arguments: dict[str, Any],
) -> dict[str, float]:
    """PyRadiomics' feature classes on one (cropped) derived image and mask; they share one discretisation."""
    from radiomics import getFeatureClasses

    values = {}
    token = _BINNING.set(_BinningMemo())
    try:
        for class_name, features in classes.items():
            if class_name == "shape":
                feature_class = _shape_class(image, mask, arguments)
            else:
                feature_class = _with_shared_binning(getFeatureClasses()[class_name])(image, mask, **arguments)
            for feature in features or []:
                feature_class.enableFeatureByName(feature)
            for feature, value in feature_class.execute().items():
                values[f"{image_name}_{class_name}_{feature}"] = float(value)
    finally:
        _BINNING.reset(token)
    return values


# --------------------------------------------------------------------------------------------------------------------
# One discretisation per derived image and region
# --------------------------------------------------------------------------------------------------------------------

#: The discretisation memo of the :func:`_compute_classes` call in progress (none outside one).
_BINNING: contextvars.ContextVar[_BinningMemo | None] = contextvars.ContextVar("ccrcc_binning", default=None)
_SHARED_BINNING_CLASSES: dict[type, type] = {}


class _BinningMemo:
    """PyRadiomics' ``_applyBinning`` result for one derived image and region: every texture class (and first order)
    discretises the same gray levels in the same mask with the same settings; the first one computes it, the others
    get a copy (checked: same input values, mask and settings, else it is computed again)."""

    def __init__(self) -> None:
        self._entry: tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray, dict[str, Any]] | None = None

    def apply(self, instance: Any, matrix: np.ndarray, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        entry = self._entry
        if (
            entry is not None
            and entry[2] == instance.settings
            and np.array_equal(entry[1], instance.maskArray)
            and np.array_equal(entry[0], matrix)
        ):
            instance.coefficients.update({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in entry[4].items()})
            return entry[3].copy()
        before = dict(instance.coefficients)
        binned = compute(matrix)
        added = {k: v for k, v in instance.coefficients.items() if k not in before or before[k] is not v}
        self._entry = (
            matrix.copy(), instance.maskArray.copy(), dict(instance.settings), binned.copy(),
            {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in added.items()},
        )
        return binned


def _with_shared_binning(feature_class: type) -> type:
    """The PyRadiomics feature class with its ``_applyBinning`` going through the memo of the current call."""
    if feature_class not in _SHARED_BINNING_CLASSES:

        def _applyBinning(self: Any, matrix: np.ndarray) -> np.ndarray:  # noqa: N802 - PyRadiomics' name
            compute = super(subclass, self)._applyBinning
            memo = _BINNING.get()
            return compute(matrix) if memo is None else memo.apply(self, matrix, compute)

        subclass = type(
            feature_class.__name__,
            (feature_class,),
            {"_applyBinning": _applyBinning, "__module__": feature_class.__module__, "__doc__": feature_class.__doc__},
        )
        _SHARED_BINNING_CLASSES[feature_class] = subclass
    return _SHARED_BINNING_CLASSES[feature_class]


# --------------------------------------------------------------------------------------------------------------------
# Mesh-based shape coefficients
# --------------------------------------------------------------------------------------------------------------------

_SHAPE_LOCK = threading.Lock()


def _shape_class(image: sitk.Image, mask: sitk.Image, arguments: dict[str, Any]) -> Any:
    """PyRadiomics' own shape class, initialised with :class:`_MeshCoefficients` in place of its C module."""
    from radiomics import shape

    with _SHAPE_LOCK:
        c_module = shape.cShape
        shape.cShape = _MeshCoefficients
        try:
            return shape.RadiomicsShape(image, mask, **arguments)
        finally:
            shape.cShape = c_module


class _MeshCoefficients:
    """Stand-in for PyRadiomics' ``_cshape`` module: surface area, volume and maximum diameters of its marching-cubes
    mesh (vertices at the midpoints of the edges between a voxel inside and one outside the mask).

    - Diameters: the largest distance between two mesh vertices, overall and between vertices in one slice, row or
      column. The farthest pair always lies on the convex hull, so only candidate vertices are compared: the ends of
      every line of vertices along the axes (and diagonals), then, in 3-D, the vertices of the convex hull. The
      distances are computed with the C code's own arithmetic (coordinates ``index × spacing``, then
      ``(dz² + dy²) + dx²``) and the maximum is the same number. They are computed only when a diameter is asked for.
    - Volume: the sum over cubes of the signed tetrahedra of each cube's triangles, which is linear in the cube's
      position: ``L[c] + position · N[c]`` for cube configuration ``c``. ``L`` and ``N`` are measured once per spacing
      by calling PyRadiomics' C code on single cubes, so the triangulation is PyRadiomics' own. On a 1 mm grid every
      term is exact and the volume is the same number as PyRadiomics'.
    - Surface area: the sum over cubes of each configuration's area (measured the same way); only the order of the
      additions differs from PyRadiomics', which changes the last digits (~1e-13 relative).
    """

    _tables: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @classmethod
    def calculate_coefficients(cls, mask: np.ndarray, spacing: np.ndarray) -> tuple[float, float, _LazyDiameters]:
        mask = np.asarray(mask, dtype=bool)
        spacing = np.asarray(spacing, dtype=float)
        area, offset, normal = cls._cube_tables(spacing)
        configs = _cube_configurations(mask)
        where = np.nonzero((configs != 0) & (configs != 255))
        surface = configs[where]
        surface_area = float(np.bincount(surface, minlength=256) @ area)
        six_volume = float(offset[surface].sum()) + sum(
            float(((position * step) * normal[surface, axis]).sum())
            for axis, (position, step) in enumerate(zip(where, spacing))
        )
        return surface_area, six_volume / 6, _LazyDiameters(mask, spacing)

    @classmethod
    def _cube_tables(cls, spacing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cube configuration (bit ``4 dz + 2 dy + dx`` set = that corner inside): area, ``L`` and ``N``."""
        key = tuple(float(s) for s in spacing)
        if key not in cls._tables:
            from radiomics import _cshape

            cubes = [_cube(config) for config in range(256)]
            area = np.zeros(256)
            offset = np.zeros(256)
            normal = np.zeros((256, 3))
            for config, cube in enumerate(cubes):
                area[config], volume, _ = _cshape.calculate_coefficients(cube, spacing)
                offset[config] = 6.0 * volume
            for config, cube in enumerate(cubes):
                for axis in range(3):
                    # The cube one step along the axis, after a cube whose other face is empty (known from above).
                    pair = np.concatenate([np.zeros_like(np.take(cube, [0], axis=axis)), cube], axis=axis)
                    first = _cube_configurations(np.take(pair, [0, 1], axis=axis))[0, 0, 0]
                    _, volume, _ = _cshape.calculate_coefficients(pair, spacing)
                    normal[config, axis] = (6.0 * volume - offset[first] - offset[config]) / spacing[axis]
            if np.all(spacing == 1.0):
                # On a 1 mm grid every term is a multiple of 1/8: undo the rounding of PyRadiomics' final division by 6.
                offset = np.round(offset * 8) / 8
                normal = np.round(normal * 8) / 8
            cls._tables[key] = (area, offset, normal)
        return cls._tables[key]


def _cube(config: int) -> np.ndarray:
    bits = [(config >> bit) & 1 for bit in range(8)]
    return np.array(bits, dtype=np.int8).reshape(2, 2, 2)


def _cube_configurations(mask: np.ndarray) -> np.ndarray:
    """Configuration (bit ``4 dz + 2 dy + dx`` = that corner inside) of every cube of 2 × 2 × 2 voxels."""
    inside = mask.astype(np.uint8)
    nz, ny, nx = inside.shape
    configs = np.zeros((nz - 1, ny - 1, nx - 1), np.uint8)
    for bit in range(8):
        dz, dy, dx = bit >> 2 & 1, bit >> 1 & 1, bit & 1
        configs |= inside[dz : dz + nz - 1, dy : dy + ny - 1, dx : dx + nx - 1] << bit
    return configs


class _LazyDiameters:
    """PyRadiomics' ``diameters`` (slice, column, row, 3-D): each one computed when it is first used."""

    def __init__(self, mask: np.ndarray, spacing: np.ndarray) -> None:
        self._mask = mask
        self._spacing = spacing
        self._vertices: np.ndarray | None = None
        self._values: dict[int, float] = {}

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> float:
        index = range(4)[index]
        if index not in self._values:
            if self._vertices is None:
                self._vertices = _mesh_vertices(self._mask)
            self._values[index] = mesh_diameter(self._vertices, self._spacing, None if index == 3 else index)
        return self._values[index]


def mesh_diameters(mask: np.ndarray, spacing: np.ndarray) -> tuple[float, float, float, float]:
    """Largest distance between two mesh vertices with the same z, the same y, the same x, and overall (mm), as
    PyRadiomics' ``Maximum2DDiameterSlice``, ``…Column``, ``…Row`` and ``Maximum3DDiameter``. ``mask``: z, y, x,
    with at least one empty voxel on every side."""
    vertices = _mesh_vertices(mask)
    return tuple(mesh_diameter(vertices, spacing, axis) for axis in (0, 1, 2, None))  # type: ignore[return-value]


def mesh_diameter(vertices: np.ndarray, spacing: np.ndarray, plane_axis: int | None) -> float:
    """Largest distance between two of the mesh vertices (doubled index coordinates) overall (``plane_axis=None``)
    or between two with the same coordinate along ``plane_axis``."""
    unit = np.eye(3, dtype=np.int64)
    if plane_axis is None:
        candidates = _line_ends(vertices, [unit[2], unit[1], unit[0]])
        return float(np.sqrt(_largest_squared_distance(_hull_vertices(candidates), spacing)))
    a, b = (axis for axis in range(3) if axis != plane_axis)
    candidates = _line_ends(vertices, [unit[a], unit[b], unit[a] + unit[b], unit[a] - unit[b]])
    candidates = candidates[np.argsort(candidates[:, plane_axis], kind="stable")]
    starts = np.flatnonzero(np.diff(candidates[:, plane_axis])) + 1
    return float(np.sqrt(max(_largest_squared_distance(plane, spacing) for plane in np.split(candidates, starts))))


def _mesh_vertices(mask: np.ndarray) -> np.ndarray:
    """Doubled index coordinates (2z, 2y, 2x) of the midpoint of every edge between a voxel inside and one outside."""
    inside = mask.astype(bool)
    parts = []
    for axis in range(3):
        low = [slice(None)] * 3
        high = [slice(None)] * 3
        low[axis], high[axis] = slice(0, -1), slice(1, None)
        coordinates = [2 * index.astype(np.int64) for index in np.nonzero(inside[tuple(low)] != inside[tuple(high)])]
        coordinates[axis] += 1
        parts.append(np.stack(coordinates, axis=1))
    return np.concatenate(parts)


def _line_ends(points: np.ndarray, directions: list[np.ndarray]) -> np.ndarray:
    """The points that are first or last on their line along each direction in turn. A point between two others on
    a line is not a vertex of the convex hull, so every hull vertex (and the farthest pair) is kept."""
    for direction in directions:
        if len(points) <= 2:
            break
        # Parameter along the direction (its first component is 1), and the line's key (the point moved back to 0).
        parameter = points[:, int(np.flatnonzero(direction)[0])]
        line = points - parameter[:, None] * direction[None, :]
        order = np.lexsort((parameter, line[:, 2], line[:, 1], line[:, 0]))
        line = line[order]
        new_line = np.any(line[1:] != line[:-1], axis=1)
        keep = np.concatenate([[True], new_line]) | np.concatenate([new_line, [True]])
        points = points[order][keep]
    return points


def _hull_vertices(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of integer points (all points when they span no volume)."""
    if len(points) <= 4:
        return points
    from scipy.spatial import ConvexHull, QhullError

    try:
        return points[ConvexHull(points.astype(float)).vertices]
    except QhullError:
        return points


def _largest_squared_distance(doubled: np.ndarray, spacing: np.ndarray) -> float:
    """Largest squared distance between two points, with PyRadiomics' arithmetic (``(dz² + dy²) + dx²``)."""
    if len(doubled) < 2:
        return 0.0
    points = (doubled / 2.0) * spacing  # (index + 0.5) × spacing or index × spacing, as the C code computes them
    best = 0.0
    chunk = max(1, 2_000_000 // len(points))  # rows per step: at most ~50 MB of differences
    for start in range(0, len(points), chunk):
        difference = points[start : start + chunk, None, :] - points[None, :, :]
        difference *= difference
        best = max(best, float(((difference[..., 0] + difference[..., 1]) + difference[..., 2]).max()))
    return best
