"""The tumour: a star-shaped lobulated shape placed on the kidney surface, its smooth texture and necrotic core,
satellite nodules, and infiltration of tumour-like density in the fat just OUTSIDE the drawn boundary (what the
paper's 3 mm peritumoral shell sees) — on a generated shape (:func:`tumour_on_box`) or inside a given tumour label
(:func:`paint_labelled_tumour`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from .fields import signed_distance, smooth_noise
from .geometry import BoxCoords, fibonacci_sphere, in_frame, offsets_from_centre, random_rotation, unit_vector
from .result import Tissue


@dataclass(frozen=True)
class TumourShape:
    """Geometry of one tumour in world coordinates (mm)."""

    centre: np.ndarray  # (x, y, z)
    rotation: np.ndarray  # columns = tumour axes in world
    axis_factors: np.ndarray  # semi-axis multipliers (geometric mean 1)
    radius: float  # nominal radius R0 = diameter / 2
    lobe_dirs: np.ndarray  # (k, 3) in tumour frame
    lobe_kappa: np.ndarray
    lobe_weight: np.ndarray
    lobe_amplitude: float
    lobe_max: float
    lobe_mean: float
    roughness_mm: float

    @property
    def bound_mm(self) -> float:
        """A radius that surely contains the tumour (world mm)."""
        return (self.radius * float(self.axis_factors.max()) * (1.0 + self.lobe_amplitude * (1 - self.lobe_mean))
                + 4.0 * self.roughness_mm + 1.0)

    @property
    def half_extent_xyz_mm(self) -> np.ndarray:
        """Per world axis (x, y, z), a half-extent that surely contains the tumour: its rotated, lobe-inflated
        ellipsoid's extent (tighter than :attr:`bound_mm` for elongated tumours)."""
        inflate = self.radius * (1.0 + self.lobe_amplitude * (1 - self.lobe_mean))
        semi = self.rotation * (self.axis_factors * inflate)
        return np.sqrt((semi**2).sum(axis=1)) + 4.0 * self.roughness_mm + 1.0


def make_tumour_shape(
    radius: float, d: dict[str, float], centre: np.ndarray, rng: np.random.Generator
) -> TumourShape:
    """A randomly rotated, elongated tumour with ``lobe_count`` lobes (von Mises bumps), normalised on the sphere."""
    rotation = random_rotation(rng)
    e = d["elongation"]
    factors = np.array([1.0 + e, 1.0, 1.0 / (1.0 + e)])
    k = int(d["lobe_count"])
    dirs = np.stack([unit_vector(rng) for _ in range(k)])
    kappa = rng.uniform(4.0, 10.0, k)
    weight = rng.uniform(0.5, 1.0, k)
    sphere = fibonacci_sphere()
    lobes = (weight * np.exp(kappa * (sphere @ dirs.T - 1.0))).sum(axis=1)
    lmax = float(lobes.max())
    return TumourShape(centre, rotation, factors, radius, dirs, kappa, weight, d["lobulation_amplitude"], lmax,
                       float(lobes.mean() / lmax), d["margin_roughness_mm"])


@dataclass
class TumourBox:
    """Tumour quantities on a box of voxels."""

    mask: np.ndarray  # bool, the drawn tumour
    outside_mm: np.ndarray  # float32 approximate distance outside the surface (negative inside)
    truth: np.ndarray  # float32 tumour HU (valid where mask)
    necrosis_weight: np.ndarray  # float32 in [0, 1]


def tumour_on_box(
    shape_: TumourShape, coords: BoxCoords, spacing_np: tuple[float, ...],
    d: dict[str, float], hu: dict[str, float], rng: np.random.Generator,
) -> TumourBox:
    """Star-shaped lobulated tumour with a smooth texture and an (eccentric, irregular) necrotic core.

    ``coords`` are world z, y, x vectors (mm) of the box axes (numpy order); everything is broadcast from them.
    """
    # Coordinates in the tumour frame, scaled by the axis factors (ellipsoid → sphere).
    q = in_frame(offsets_from_centre(coords, shape_.centre), shape_.rotation, shape_.axis_factors)
    rad = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
    inv = 1.0 / np.maximum(rad, 1e-3)
    lobes = np.zeros_like(rad)
    for dvec, kap, w in zip(shape_.lobe_dirs, shape_.lobe_kappa, shape_.lobe_weight):
        cos = (q[0] * float(dvec[0]) + q[1] * float(dvec[1]) + q[2] * float(dvec[2])) * inv
        lobes += np.float32(w) * np.exp(np.float32(kap) * (cos - 1.0))
    box_shape = rad.shape
    surface = shape_.radius * (1.0 + shape_.lobe_amplitude * (lobes / shape_.lobe_max - shape_.lobe_mean))
    if shape_.roughness_mm > 0:
        surface += shape_.roughness_mm * smooth_noise(box_shape, spacing_np, 2.5, rng)
    outside = rad - surface
    mask = outside <= 0.0

    viable, fine = _viable_texture(box_shape, spacing_np, shape_.radius, d, rng)

    # Necrosis: eccentric core whose boundary is perturbed by a smooth field; threshold chosen so that the
    # necrotic volume equals the drawn fraction, with a ≥ 2 mm viable rim (necrosis does not reach the surface).
    offset = [float(v) for v in unit_vector(rng) * rng.uniform(0.0, 0.3) * shape_.radius]
    core = np.sqrt((q[0] - offset[0]) ** 2 + (q[1] - offset[1]) ** 2 + (q[2] - offset[2]) ** 2) / shape_.radius
    core += 0.2 * smooth_noise(box_shape, spacing_np, max(3.0, 0.35 * shape_.radius), rng)
    frac = d["necrosis_fraction"]
    necrosis = np.zeros(box_shape, dtype=np.float32)
    if frac > 0 and mask.any():
        thr = float(np.quantile(core[mask], frac))
        necrosis = _sigmoid((thr - core) * (shape_.radius / 0.75))
        necrosis *= np.clip(-outside / 2.0, 0.0, 1.0)
    necrotic_hu = hu["necrosis"] + 6.0 * fine
    truth = viable + necrosis * (necrotic_hu - viable)
    if d["pseudocapsule"]:
        rim = (outside > -1.0) & mask
        truth[rim] = 0.5 * (truth[rim] + hu["pseudocapsule"])
    return TumourBox(mask, outside.astype(np.float32), truth.astype(np.float32), necrosis)


def infiltrate(
    truth: np.ndarray, tissue: np.ndarray | None, outside_mm: np.ndarray, tumour_mask: np.ndarray,
    fat_like: np.ndarray, spacing_np: tuple[float, ...], d: dict[str, float], infiltration_hu: float,
    coords: BoxCoords | None, nodule_centres: list[tuple[np.ndarray, float]],
    rng: np.random.Generator,
) -> float:
    """Fat stranding and nodular extension of tumour-like density in the fat just OUTSIDE the drawn boundary.

    Modifies ``truth``/``tissue`` in place; returns the fraction of the fat within 3 mm of the tumour that became
    infiltration (a measured, not drawn, quantity for ``meta``).
    """
    depth = d["infiltration_depth_mm"]
    zone = (~tumour_mask) & fat_like & (outside_mm > 0.0)
    weight = np.zeros(truth.shape, dtype=np.float32)
    if d["infiltration_coverage"] > 0:
        strands = smooth_noise(truth.shape, spacing_np, 1.2, rng)
        thr = float(special.ndtri(1.0 - d["infiltration_coverage"]))
        weight = ((strands > thr) & zone).astype(np.float32)
        weight *= np.clip(1.0 - outside_mm / depth, 0.0, 1.0) ** 0.5
    if nodule_centres and coords is not None:
        for c, rad in nodule_centres:
            dx, dy, dz = offsets_from_centre(coords, c)
            dist2 = dx * dx + dy * dy + dz * dz
            weight = np.maximum(weight, ((dist2 <= rad * rad) & zone).astype(np.float32))
    weight[~zone] = 0.0
    truth += weight * (infiltration_hu - truth)
    if tissue is not None:
        tissue[weight > 0.5] = Tissue.INFILTRATION
    shell = zone & (outside_mm <= 3.0)
    return float((weight[shell] > 0.5).mean()) if shell.any() else 0.0


def tumour_centre_on_kidney(
    k_centre: np.ndarray, k_rot: np.ndarray, k_semi: np.ndarray, radius: float, offset_radii: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """A point on the kidney surface away from the hilum, moved along the normal by ``offset_radii`` radii."""
    while True:
        v = unit_vector(rng)
        # Local axis 0 points laterally (the hilum is at −axis 0); avoid the hilum and the extreme poles so
        # that the tumour abuts parenchyma in its central slices.
        if v[0] > -0.2 and abs(v[2]) < 0.8:
            break
    surface_local = k_semi * v
    normal_local = v / k_semi
    normal = k_rot @ (normal_local / np.linalg.norm(normal_local))
    return k_centre + k_rot @ surface_local + normal * offset_radii * radius


def nodule_centres(
    shape_: TumourShape, d: dict[str, float], rng: np.random.Generator
) -> list[tuple[np.ndarray, float]]:
    """Satellite nodules: (centre 1 mm … depth outside the lobe-modulated surface, radius 1–2.5 mm)."""
    centres = []
    for _ in range(int(d["satellite_nodules"])):
        u_local = unit_vector(rng)
        lobes = float((shape_.lobe_weight * np.exp(shape_.lobe_kappa * (shape_.lobe_dirs @ u_local - 1.0))).sum())
        surf = shape_.radius * (1.0 + shape_.lobe_amplitude * (lobes / shape_.lobe_max - shape_.lobe_mean))
        dist = surf + rng.uniform(1.0, max(1.5, d["infiltration_depth_mm"]))
        centres.append((shape_.centre + shape_.rotation @ (u_local * shape_.axis_factors * dist),
                        float(rng.uniform(1.0, 2.5))))
    return centres


def paint_labelled_tumour(
    truth: np.ndarray, tumour: np.ndarray, fat_zone: np.ndarray, box_outer: tuple[slice, ...],
    tumour_box: tuple[slice, ...], spacing_np: tuple[float, ...], d: dict[str, float], hu: dict[str, float],
    rng: np.random.Generator,
) -> None:
    """Texture + depth-based necrotic core inside a given tumour label, and (if drawn) infiltration outside it."""
    reach = d["infiltration_depth_mm"] + 3.0
    grow_vox = tuple(int(math.ceil(reach / s)) + 1 for s in spacing_np)
    box_shape = truth.shape
    sub = tuple(
        slice(max(t.start - g - o.start, 0), min(t.stop + g - o.start, n))
        for t, g, o, n in zip(tumour_box, grow_vox, box_outer, box_shape)
    )
    t_mask = tumour[sub]
    sub_shape = t_mask.shape
    sd = signed_distance(t_mask, spacing_np, 1.0)
    depth = np.maximum(-sd, 0.0)
    max_depth = max(float(depth[t_mask].max()), 1.0)
    viable, fine = _viable_texture(sub_shape, spacing_np, max_depth, d, rng)
    score = 1.0 - depth / max_depth + 0.2 * smooth_noise(sub_shape, spacing_np, max(3.0, 0.35 * max_depth), rng)
    necrosis = np.zeros(sub_shape, dtype=np.float32)
    if d["necrosis_fraction"] > 0:
        thr = float(np.quantile(score[t_mask], d["necrosis_fraction"]))
        necrosis = _sigmoid((thr - score) * (max_depth / 0.75)) * np.clip(depth / 2.0, 0.0, 1.0)
    tumour_hu = viable + necrosis * (hu["necrosis"] + 6.0 * fine - viable)
    if d["pseudocapsule"]:
        rim = t_mask & (depth < 1.0)
        tumour_hu[rim] = 0.5 * (tumour_hu[rim] + hu["pseudocapsule"])
    t_truth = truth[sub]
    t_truth[t_mask] = tumour_hu[t_mask]
    if d["infiltration"]:
        infiltrate(t_truth, None, sd, t_mask, fat_zone[sub], spacing_np, d, hu["infiltration"], None, [], rng)


def _viable_texture(
    shape: tuple[int, ...], spacing_np: tuple[float, ...], size_mm: float, d: dict[str, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(viable HU, fine field)``: the drawn viable-tumour HU textured by a fine (cellular) and a regional
    (enhancement habitats) smooth field, whose scale follows the tumour's size (``size_mm``: its radius, or its
    deepest depth below a labelled surface). The necrotic HU reuses the fine field."""
    fine = smooth_noise(shape, spacing_np, rng.uniform(2.0, 4.0), rng)
    regional = smooth_noise(shape, spacing_np, float(np.clip(0.4 * size_mm, 5.0, 15.0)), rng)
    return d["viable_hu"] + d["texture_sd_hu"] * (0.7 * fine + 0.7 * regional), fine


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float32 (the necrotic core's soft edge)."""
    return special.expit(x).astype(np.float32, copy=False)
