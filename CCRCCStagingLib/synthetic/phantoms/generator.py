"""make_phantom: one case drawn (densities, anatomy, scanner, tumour), placed on a voxel grid, painted — a
slice-invariant body plane plus a 3-D box around kidney and tumour — and rendered.

The draws that ``meta`` reports come before any draw whose count depends on the grid, so a seed gives the same case
at any size or spacing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ...core.errors import SettingsError
from .anatomy import BodyFrame, body_plane, fit_body, kidney_frame, paint_fat_ball, paint_kidney
from .assumptions import (
    GENERATIVE_ASSUMPTIONS,
    PhantomAssumptions,
    check_stage,
    draw_case_parameters,
    draw_sub_stage,
)
from .geometry import grow, sub_box, world_box_to_slices
from .rendering import pad_for, render, scanner_for
from .result import Phantom, Tissue
from .tumour import (
    TumourBox,
    TumourShape,
    infiltrate,
    make_tumour_shape,
    nodule_centres,
    tumour_centre_on_kidney,
    tumour_on_box,
)

#: Version of the generative model, written into every phantom's ``meta``.
GENERATOR_VERSION = "1"
_BOX_MARGIN_MM = 12.0  # room for the irregular fat edges around kidney and tumour inside the 3-D box


def _check_triplet(value: object, name: str, kind: type) -> tuple:
    """Three positive finite numbers of ``kind`` (size or spacing, x y z), else a :class:`SettingsError`."""
    try:
        items = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be three positive numbers (x, y, z), not {value!r}.") from None
    if len(items) != 3 or any(not (v > 0) or not math.isfinite(v) for v in items):
        raise SettingsError(f"{name} must be three positive numbers (x, y, z), not {value!r}.")
    return items


def _grid_size_and_extent(
    size: tuple[int, int, int] | None, spacing: tuple[float, float, float], bound_xyz: np.ndarray,
    reach_xyz: np.ndarray, margin_mm: float,
) -> tuple[tuple[int, int, int], np.ndarray]:
    """Grid size (x, y, z) and the half-extent (mm, per axis) around the tumour centre that must lie inside it.

    Automatic size: the tumour's extent plus ``margin_mm`` on every side, rounded up to 8 voxels. A given size may
    shrink the margin per axis, but never below the tumour's reach (extent + infiltration + 3 mm shell): the
    peritumoral shell must lie inside the image.
    """
    if size is None:
        needed = [int(math.ceil(2.0 * (b + margin_mm) / s)) + 1 for b, s in zip(bound_xyz, spacing)]
        size = tuple(int(8 * math.ceil(n / 8)) for n in needed)
    size = _check_triplet(size, "size", int)
    minimum = tuple(int(math.ceil(2.0 * r / s)) + 1 for r, s in zip(reach_xyz, spacing))
    if any(n < m for n, m in zip(size, minimum)):
        raise SettingsError(
            f"size {size} is too small for this tumour and its peritumoral shell: at least {minimum} voxels "
            f"(x, y, z) are needed at spacing {spacing} mm; enlarge size, use a coarser spacing, or leave size=None."
        )
    half_fov = np.array([(n - 1) * s / 2.0 for n, s in zip(size, spacing)])
    extent = np.minimum(bound_xyz + margin_mm, half_fov)
    return size, np.maximum(extent, reach_xyz)


@dataclass(frozen=True)
class _Case:
    """Everything drawn for one phantom before any grid-dependent draw (world mm, LPS)."""

    stage: str
    t_stage: str
    hu: dict[str, float]
    anat: dict[str, float]
    scan: dict[str, float]
    d: dict[str, float]  # tumour phenotype draws
    side: float  # +1 left kidney, −1 right
    k_centre: np.ndarray
    k_rot: np.ndarray
    k_semi: np.ndarray
    k_half: np.ndarray  # half-extent of kidney + perirenal fat per world axis
    tumour: TumourShape
    nodules: list[tuple[np.ndarray, float]]
    reach: float  # farthest infiltration/nodule from the tumour centre (sphere bound)
    frame: BodyFrame


def _draw_case(
    stage: str, rng: np.random.Generator, assumptions: PhantomAssumptions, diameter_mm: float | None
) -> _Case:
    """Draw anatomy, tissue densities, scanner and tumour. The order is fixed: these draws (``meta``) come before any
    draw whose count depends on the grid, so a seed gives the same case at any size/spacing."""
    hu, anat, scan, d = draw_case_parameters(assumptions, stage, rng, diameter_mm)
    t_stage = draw_sub_stage(assumptions.phenotype(stage), d["diameter_mm"], rng)
    radius = 0.5 * d["diameter_mm"]

    inner_b = anat["body_semi_ap"] - anat["subcutaneous_fat"] - anat["muscle_wall"]
    spine = (0.0, inner_b - 40.0)  # vertebral body ~40 mm in front of the posterior muscle wall
    k_centre, k_rot, k_semi, side = kidney_frame(anat, spine, rng)
    t_centre = tumour_centre_on_kidney(k_centre, k_rot, k_semi, radius, d["centre_offset_radii"], rng)
    tumour = make_tumour_shape(radius, d, t_centre, rng)
    nodules = nodule_centres(tumour, d, rng)
    perirenal = anat["perirenal_fat"]
    reach = tumour.bound_mm + d["infiltration_depth_mm"] + 3.0

    # Body: big enough that kidney + tumour + their fat lie inside the visceral cavity.
    k_half = np.sqrt(((k_rot * k_semi) ** 2).sum(axis=1)) + perirenal
    corners = [k_centre[:2] + np.array([sx * k_half[0], sy * k_half[1]]) for sx in (-1, 1) for sy in (-1, 1)]
    corners += [t_centre[:2] + np.array([sx, sy]) * (reach + perirenal) for sx in (-1, 1) for sy in (-1, 1)]
    frame = fit_body(
        BodyFrame(0.0, 0.0, anat["body_semi_lr"], anat["body_semi_ap"], anat["subcutaneous_fat"],
                  anat["muscle_wall"], spine[0], spine[1]),
        np.array(corners),
    )
    return _Case(stage, t_stage, hu, anat, scan, d, side, k_centre, k_rot, k_semi, k_half, tumour, nodules, reach,
                 frame)


@dataclass(frozen=True)
class _Grid:
    """The phantom's voxel grid: identity direction; numpy order (z, y, x) for ``shape``/``spacing_np``/``axes``."""

    origin: np.ndarray  # (x, y, z) of voxel 0
    spacing: tuple[float, float, float]  # (x, y, z)
    shape: tuple[int, int, int]
    axes: list[np.ndarray]  # world z, y, x coordinate of each index (float32)

    @property
    def spacing_np(self) -> tuple[float, float, float]:
        """Spacing in numpy order (z, y, x)."""
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    def slices(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice]:
        """The world box ``lo``–``hi`` (x, y, z mm) as numpy slices clipped to the grid."""
        return world_box_to_slices(lo, hi, self.origin, self.spacing, self.shape)


def _place_grid(
    case: _Case, size: tuple[int, int, int] | None, spacing: tuple[float, float, float], margin_mm: float
) -> _Grid:
    """Size the grid and centre it on the body in-plane if the tumour + margin still fits, else on the tumour."""
    t_centre = case.tumour.centre
    bound_xyz = case.tumour.half_extent_xyz_mm
    reach_xyz = bound_xyz + case.d["infiltration_depth_mm"] + 3.0
    size_xyz, extent = _grid_size_and_extent(size, spacing, bound_xyz, reach_xyz, margin_mm)
    fov = np.array([(n - 1) * s for n, s in zip(size_xyz, spacing)])
    preferred = np.array([case.frame.centre_x, case.frame.centre_y, t_centre[2]])
    centre = np.clip(preferred, t_centre + extent - fov / 2.0, t_centre - extent + fov / 2.0)
    origin = centre - fov / 2.0
    shape = (size_xyz[2], size_xyz[1], size_xyz[0])
    axes = [origin[2 - a] + spacing[2 - a] * np.arange(shape[a], dtype=np.float32) for a in range(3)]
    return _Grid(origin, spacing, shape, axes)


@dataclass
class _Box:
    """The 3-D part of a phantom: truth and tissue on ``outer`` (``inner`` + PSF context), and the tumour."""

    outer: tuple[slice, ...]
    inner: tuple[slice, ...]
    truth: np.ndarray
    tissue: np.ndarray
    tumour_sub: tuple[slice, ...]  # the tumour's box, relative to ``outer``
    tumour: TumourBox
    shell_infiltration: float


def _build_box(
    case: _Case, grid: _Grid, plane_truth: np.ndarray, plane_tissue: np.ndarray, pad: tuple[int, ...],
    rng: np.random.Generator,
) -> _Box:
    """Kidney, perirenal fat, tumour and infiltration on a box; outside it the body is slice-invariant."""
    t_centre, perirenal, reach = case.tumour.centre, case.anat["perirenal_fat"], case.reach
    # The margin covers the irregular edges of the fat around kidney and tumour: nothing but the slice-invariant
    # body may lie outside this box, or the pasted box would not equal a whole-volume rendering.
    lo_w = np.minimum(case.k_centre - case.k_half, t_centre - reach - perirenal) - _BOX_MARGIN_MM
    hi_w = np.maximum(case.k_centre + case.k_half, t_centre + reach + perirenal) + _BOX_MARGIN_MM
    inner = grid.slices(lo_w, hi_w)
    outer = grow(inner, pad, grid.shape)
    coords = tuple(a[s] for a, s in zip(grid.axes, outer))
    shape = tuple(s.stop - s.start for s in outer)
    truth = np.broadcast_to(plane_truth[outer[1], outer[2]][None], shape).copy()
    tissue = np.broadcast_to(plane_tissue[outer[1], outer[2]][None], shape).copy()

    def box_around(centre: np.ndarray, half: np.ndarray | float) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]]:
        """The world box ``centre ± half`` relative to ``outer``, and its world coordinates."""
        sub = sub_box(grid.slices(centre - half, centre + half), outer)
        return sub, tuple(c[s] for c, s in zip(coords, sub))

    # Fat displaced around the tumour, then the kidney with its own fat capsule — each on its own box.
    fat_reach = reach + perirenal
    fsub, fcoords = box_around(t_centre, fat_reach + _BOX_MARGIN_MM)
    paint_fat_ball(truth[fsub], tissue[fsub], fcoords, grid.spacing_np, t_centre, fat_reach, case.hu, rng)
    ksub, kcoords = box_around(case.k_centre, case.k_half + _BOX_MARGIN_MM)
    paint_kidney(truth[ksub], tissue[ksub], kcoords, grid.spacing_np, case.k_centre, case.k_rot, case.k_semi,
                 case.anat, case.hu, rng)

    sub, sub_coords = box_around(t_centre, reach)
    tb = tumour_on_box(case.tumour, sub_coords, grid.spacing_np, case.d, case.hu, rng)
    t_truth, t_tissue = truth[sub], tissue[sub]  # views: painting them paints the box
    fat_like = (t_tissue == Tissue.FAT) | (t_tissue == Tissue.SINUS_FAT)
    t_truth[tb.mask] = tb.truth[tb.mask]
    t_tissue[tb.mask] = np.where(tb.necrosis_weight[tb.mask] > 0.5, Tissue.TUMOUR_NECROSIS, Tissue.TUMOUR_VIABLE)
    shell = infiltrate(t_truth, t_tissue, tb.outside_mm, tb.mask, fat_like, grid.spacing_np, case.d,
                       case.hu["infiltration"], sub_coords, case.nodules, rng)
    return _Box(outer, inner, truth, tissue, sub, tb, shell)


def make_phantom(
    stage: str = "low",
    seed: int = 0,
    *,
    size: tuple[int, int, int] | None = None,
    spacing: tuple[float, float, float] = (0.78, 0.78, 1.25),
    tumour_diameter_mm: float | None = None,
    assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS,
) -> Phantom:
    """A synthetic parenchymal-phase CT of a kidney with a ccRCC of the given T-stage group.

    Args:
        stage: ``"low"`` (T1–T2) or ``"high"`` (T3–T4).
        seed: the whole case (anatomy, tumour, scanner, noise) is a deterministic function of it.
        size: grid size (x, y, z) in voxels; ``None`` = smallest grid covering the tumour with
            ``assumptions.grid_margin_mm`` (15 mm) on every side. A given size may shrink that margin down to the
            tumour's 3 mm shell plus infiltration (else :class:`SettingsError`); a 512×512 grid is centred on the
            body where the tumour allows it.
        spacing: voxel spacing (x, y, z) in mm; default 0.78 × 0.78 × 1.25 (the paper's 1.25 mm slices).
        tumour_diameter_mm: override the drawn nominal diameter (low-stage sub-stage follows it).
        assumptions: the generative assumptions (default :data:`GENERATIVE_ASSUMPTIONS`).

    Returns:
        A :class:`Phantom`; the mask is the tumour's own extent before blur; infiltration lies outside it.
    """
    stage = check_stage(stage)
    spacing = _check_triplet(spacing, "spacing", float)
    if tumour_diameter_mm is not None and not (0 < float(tumour_diameter_mm) < 400):
        raise SettingsError(f"tumour_diameter_mm must be between 0 and 400 mm, not {tumour_diameter_mm!r}.")
    rng = np.random.default_rng(seed)
    case = _draw_case(stage, rng, assumptions, tumour_diameter_mm)
    grid = _place_grid(case, size, spacing, assumptions.grid_margin_mm)

    px, py = np.broadcast_arrays(grid.axes[2][None, :], grid.axes[1][:, None])
    plane_truth, plane_tissue = body_plane(px, py, case.frame, case.hu, (spacing[1], spacing[0]), rng)
    scanner = scanner_for(grid.spacing_np, 0, case.scan)
    box = _build_box(case, grid, plane_truth, plane_tissue, pad_for(scanner), rng)
    image_np = render(grid.shape, 0, plane_truth, box.outer, box.inner, box.truth, scanner, rng)

    mask_np = np.zeros(grid.shape, dtype=np.uint8)
    mask_np[tuple(slice(o.start + s.start, o.start + s.stop) for o, s in zip(box.outer, box.tumour_sub))] = \
        box.tumour.mask
    tissue_np = np.broadcast_to(np.expand_dims(plane_tissue, 0), grid.shape).copy()
    tissue_np[box.inner] = box.tissue[tuple(slice(i.start - o.start, i.stop - o.start)
                                            for i, o in zip(box.inner, box.outer))]
    return Phantom(
        image=_to_image(image_np, spacing, grid.origin),
        mask=_to_image(mask_np, spacing, grid.origin),
        stage=stage,
        t_stage=case.t_stage,
        meta=_phantom_meta(case, box, seed, spacing),
        tissues=_to_image(tissue_np, spacing, grid.origin),
    )


def _phantom_meta(case: _Case, box: _Box, seed: int, spacing: tuple[float, float, float]) -> dict:
    """Drawn parameters plus a few measured ones (volume, necrosis, shell infiltration); JSON-serialisable."""
    mask = box.tumour.mask
    n_mask = int(mask.sum())
    return {
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "stage": case.stage,
        "t_stage": case.t_stage,
        "laterality": "left" if case.side > 0 else "right",
        **{k: float(v) for k, v in case.d.items()},
        "tumour_volume_ml": n_mask * float(np.prod(spacing)) / 1000.0,
        "necrosis_fraction_measured": float(box.tumour.necrosis_weight[mask].mean()) if n_mask else 0.0,
        "shell3mm_fat_infiltrated_fraction": box.shell_infiltration,
        "n_satellite_nodules": len(case.nodules),
        **{f"hu_{k}": float(v) for k, v in case.hu.items()},
        **{f"anatomy_{k}": float(v) for k, v in case.anat.items()},
        **{f"scanner_{k}": float(v) for k, v in case.scan.items()},
    }


def _to_image(array: np.ndarray, spacing: tuple[float, ...], origin: np.ndarray) -> sitk.Image:
    """``array`` (numpy order) as an image on the phantom's grid (identity direction)."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return image
