"""The extraction itself: ``execute()``'s steps after loading, for several regions at once, sharing what can be shared
(filtered images of regions on the same grid), optionally in worker processes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from ...core.errors import RegionError
from ...core.processes import die_with_parent
from ..resampling import RegionInput, RegionSampler
from .binning import BINNING, BinningMemo, with_shared_binning
from .shape import shape_class
from .spec import (
    MASK_FREE_IMAGE_TYPES,
    ExtractionSpec,
    FeatureRequest,
    classes_for,
    log_name,
    type_requested,
    quiet_pyradiomics,
)


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

    quiet_pyradiomics()
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
    quiet_pyradiomics()
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
            if classes_for("original", spec, region.request, shape=True):
                tasks.append(_Task([region], spec, settings, -1, cost=region.voxels))
        for position, (image_type, custom) in enumerate(spec.image_types.items()):
            members = [r for r in group if r.request is None or type_requested(image_type, r.request)]
            if not members:
                continue
            arguments = {**settings, **custom}
            runs = [members] if image_type in MASK_FREE_IMAGE_TYPES else [[r] for r in members]
            voxels = [sum(r.voxels for r in run) for run in runs]
            if image_type == "LoG":
                sigmas = [
                    s for s in custom.get("sigma", [])
                    if any(r.request is None or log_name(s) in r.request for r in members)
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

    quiet_pyradiomics()
    results = []
    if task.image_type is None:
        region = task.members[0]
        classes = classes_for("original", task.spec, region.request, shape=True)
        image, mask = imageoperations.cropToTumorMask(region.image, region.shape_mask, region.bounding_box)
        return [((-1, 0), region.name, _compute_classes(image, mask, "original", classes, task.settings))]
    first = task.members[0]
    generator = getattr(imageoperations, f"get{task.image_type}Image")
    derived_images = generator(first.image, first.mask, **(task.arguments or {}))
    for index, (derived, name, derived_arguments) in enumerate(derived_images):
        if index % task.parts != task.part:
            continue
        if task.image_type == "LoG":
            index = [log_name(s) for s in task.spec.image_types["LoG"].get("sigma", [])].index(name)
        for region in task.members:
            classes = classes_for(name, task.spec, region.request, shape=False)
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
    die_with_parent()  # a worker of a killed command must not run on
    return index, _run_task(task)


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
    token = BINNING.set(BinningMemo())
    try:
        with warnings.catch_warnings():
            # NumPy warns where PyRadiomics computes an undefined feature (mean of an empty slice); the value is NaN
            # and says so, the warning would only print PyRadiomics' source line on the user's terminal.
            warnings.simplefilter("ignore", RuntimeWarning)
            for class_name, features in classes.items():
                if class_name == "shape":
                    feature_class = shape_class(image, mask, arguments)
                else:
                    feature_class = with_shared_binning(getFeatureClasses()[class_name])(image, mask, **arguments)
                for feature in features or []:
                    feature_class.enableFeatureByName(feature)
                for feature, value in feature_class.execute().items():
                    values[f"{image_name}_{class_name}_{feature}"] = float(value)
    finally:
        BINNING.reset(token)
    return values
