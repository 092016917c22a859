"""Anatomy: the slice-invariant body plane (skin, subcutaneous fat, muscle wall, viscera, spine, aorta, IVC), where
the kidney sits, and the kidney with its perirenal fat painted on a 3-D box (world mm, LPS: +x = patient left,
+y = posterior).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .fields import smooth_noise
from .geometry import BoxCoords, in_frame, offsets_from_centre
from .result import Tissue


@dataclass(frozen=True)
class BodyFrame:
    """Where the body sits in world coordinates (mm) and the drawn sizes that shape it."""

    centre_x: float
    centre_y: float
    semi_lr: float
    semi_ap: float
    subcutaneous_fat: float
    muscle_wall: float
    spine_x: float
    spine_y: float


def _ellipse(px: np.ndarray, py: np.ndarray, cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    """Inside the axis-aligned ellipse of centre (cx, cy) and semi-axes (ax, ay)."""
    return ((px - cx) / ax) ** 2 + ((py - cy) / ay) ** 2 <= 1.0


def body_plane(
    px: np.ndarray, py: np.ndarray, frame: BodyFrame, hu: dict[str, float], plane_spacing: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Truth HU and tissue codes of one axial plane (the body is modelled as invariant along the slice axis)."""
    f = frame
    truth = np.full(px.shape, hu["air"], dtype=np.float32)
    tissue = np.zeros(px.shape, dtype=np.uint8)

    def paint(where: np.ndarray, value: float, code: Tissue) -> None:
        truth[where] = value
        tissue[where] = code

    paint(_ellipse(px, py, f.centre_x, f.centre_y, f.semi_lr, f.semi_ap), hu["fat"], Tissue.FAT)
    wall = f.subcutaneous_fat
    paint(_ellipse(px, py, f.centre_x, f.centre_y, f.semi_lr - wall, f.semi_ap - wall), hu["muscle"], Tissue.MUSCLE)
    wall += f.muscle_wall
    inner = _ellipse(px, py, f.centre_x, f.centre_y, f.semi_lr - wall, f.semi_ap - wall)
    # Visceral content: bowel loops and mesenteric fat as a thresholded smooth field (~50/50).
    viscera = smooth_noise(px.shape, plane_spacing, 12.0, rng)
    paint(inner, hu["fat"], Tissue.FAT)
    paint(inner & (viscera > 0.0), hu["bowel"], Tissue.BOWEL)
    sx, sy = f.spine_x, f.spine_y
    for side in (-1.0, 1.0):
        paint(_ellipse(px, py, sx + 30.0 * side, sy + 35.0, 24.0, 17.0), hu["muscle"], Tissue.MUSCLE)  # erector
        paint(_ellipse(px, py, sx + 36.0 * side, sy - 4.0, 13.0, 15.0), hu["muscle"], Tissue.MUSCLE)  # psoas
    paint(_ellipse(px, py, sx, sy, 20.0, 17.0), hu["bone"], Tissue.BONE)  # vertebral body
    paint(_ellipse(px, py, sx + 12.0, sy - 32.0, 11.0, 11.0), hu["aorta"], Tissue.VESSEL)  # aorta (patient left)
    paint(_ellipse(px, py, sx - 24.0, sy - 30.0, 14.0, 10.0), hu["ivc"], Tissue.VESSEL)  # IVC (patient right)
    return truth, tissue


def kidney_frame(
    anat: dict[str, float], spine: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Kidney centre, rotation (columns: lateral, AP-ish, SI axes), semi-axes (world mm) and side (+1 = left)."""
    side = 1.0 if anat["left_side"] else -1.0
    centre = np.array([spine[0] + side * anat["kidney_lateral_offset"], spine[1] + rng.uniform(-15.0, 5.0), 0.0])
    phi = math.radians(anat["hilum_angle_deg"])
    hilum = np.array([-side * math.cos(phi), -math.sin(phi), 0.0])  # faces antero-medially (−y = anterior)
    lateral = -hilum
    ap = np.cross(np.array([0.0, 0.0, 1.0]), lateral)
    rotation = np.stack([lateral, ap, np.array([0.0, 0.0, 1.0])], axis=1)
    semi = np.array([anat["kidney_semi_transverse"], anat["kidney_semi_ap"], anat["kidney_semi_si"]])
    return centre, rotation, semi, side


def fit_body(frame: BodyFrame, points_xy: np.ndarray) -> BodyFrame:
    """Enlarge the body so that the given in-plane points lie inside its visceral (inner) ellipse."""
    wall = frame.subcutaneous_fat + frame.muscle_wall
    a, b = frame.semi_lr - wall, frame.semi_ap - wall
    r2 = ((points_xy[:, 0] - frame.centre_x) / a) ** 2 + ((points_xy[:, 1] - frame.centre_y) / b) ** 2
    scale = max(1.0, math.sqrt(float(r2.max())) * 1.02)
    if scale == 1.0:
        return frame
    return BodyFrame(frame.centre_x, frame.centre_y, a * scale + wall, b * scale + wall, frame.subcutaneous_fat,
                     frame.muscle_wall, frame.spine_x, frame.spine_y)


def paint_fat_ball(
    truth: np.ndarray, tissue: np.ndarray, coords: BoxCoords, spacing_np: tuple[float, ...], centre: np.ndarray,
    radius: float, hu: dict[str, float], rng: np.random.Generator,
) -> None:
    """Perinephric fat displaced around the tumour: a ball with a smoothly irregular edge (in place)."""
    if truth.size == 0:
        return
    dx, dy, dz = offsets_from_centre(coords, centre)
    edge = radius + 4.0 * np.clip(smooth_noise(truth.shape, spacing_np, 8.0, rng), -2.0, 2.0)  # ≤ +8 mm
    zone = np.sqrt(dx * dx + dy * dy + dz * dz) <= edge
    truth[zone] = hu["fat"]
    tissue[zone] = Tissue.FAT


def paint_kidney(
    truth: np.ndarray, tissue: np.ndarray, coords: BoxCoords, spacing_np: tuple[float, ...], k_centre: np.ndarray,
    k_rot: np.ndarray, k_semi: np.ndarray, anat: dict[str, float], hu: dict[str, float], rng: np.random.Generator,
) -> None:
    """Perirenal fat, then cortex / medulla (patchy pyramids) / sinus fat, in place on the kidney's box."""
    if truth.size == 0:
        return
    q = in_frame(offsets_from_centre(coords, k_centre), k_rot, np.ones(3))
    semi = [float(v) for v in k_semi]
    pr = anat["perirenal_fat"]
    wobble = smooth_noise(truth.shape, spacing_np, 10.0, rng)
    # Clipped so that the capsule reaches at most ~11 mm beyond semi + perirenal (inside the 3-D box margin).
    fat_zone = sum((q[i] / (semi[i] + pr)) ** 2 for i in range(3)) <= 1.0 + 0.15 * np.clip(wobble, -2.0, 2.0)
    truth[fat_zone] = hu["fat"]
    tissue[fat_zone] = Tissue.FAT

    rk = np.sqrt(sum((q[i] / semi[i]) ** 2 for i in range(3)))
    kidney = rk <= 1.0
    # Depth below the surface ≈ (1 − r) / |∇r| for the ellipsoid's normalised radius r.
    grad = np.sqrt(sum((q[i] / semi[i] ** 2) ** 2 for i in range(3))) / np.maximum(rk, 1e-3)
    depth = (1.0 - rk) / np.maximum(grad, 1e-6)
    pyramids = smooth_noise(truth.shape, spacing_np, 5.0, rng)
    medulla = kidney & (depth > anat["cortex_thickness"]) & (pyramids < 0.6)
    hilum_shift = 0.45 * semi[0]
    sinus = kidney & (
        ((q[0] + hilum_shift) / (0.55 * semi[0])) ** 2 + (q[1] / (0.5 * semi[1])) ** 2
        + (q[2] / (0.6 * semi[2])) ** 2 <= 1.0
    )
    truth[kidney] = hu["cortex"]
    tissue[kidney] = Tissue.CORTEX
    truth[medulla] = hu["medulla"]
    tissue[medulla] = Tissue.MEDULLA
    truth[sinus] = hu["fat"]
    tissue[sinus] = Tissue.SINUS_FAT
