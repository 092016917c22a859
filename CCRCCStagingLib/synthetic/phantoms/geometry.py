"""Geometry in world millimetres and voxel boxes: random rotations and directions, offsets from a centre expressed in
a rotated frame, and world boxes as numpy slices (grown, clipped, intersected, joined).

World points are (x, y, z) in mm (LPS: +x = patient left, +y = posterior); voxel boxes are tuples of slices in numpy
order (z, y, x).
"""

from __future__ import annotations

import math

import numpy as np

#: World z, y, x coordinate vectors (mm) of a box's numpy axes, from which offsets are broadcast.
BoxCoords = tuple[np.ndarray, np.ndarray, np.ndarray]


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly random 3×3 rotation matrix (from a random unit quaternion)."""
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random direction (x, y, z)."""
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def fibonacci_sphere(n: int = 600) -> np.ndarray:
    """Quasi-uniform directions, used to normalise the lobe function."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def offsets_from_centre(coords: BoxCoords, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable float32 (dx, dy, dz) from box axes (z, y, x world mm) to ``centre`` (x, y, z).

    Python floats on purpose: a NumPy float64 scalar would promote every float32 array to float64 (NEP 50).
    """
    z, y, x = coords
    return ((x - float(centre[0]))[None, None, :], (y - float(centre[1]))[None, :, None],
            (z - float(centre[2]))[:, None, None])


def in_frame(offsets: tuple[np.ndarray, ...], rotation: np.ndarray, scale: np.ndarray) -> list[np.ndarray]:
    """Offsets expressed in a rotated frame (columns of ``rotation``) and divided by ``scale`` per axis (float32)."""
    dx, dy, dz = offsets
    return [
        ((float(rotation[0, i]) * dx + float(rotation[1, i]) * dy + float(rotation[2, i]) * dz) / float(scale[i]))
        .astype(np.float32, copy=False)
        for i in range(3)
    ]


def grow(box: tuple[slice, ...], pad: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """``box`` grown by ``pad`` voxels per axis, clipped to a grid of ``shape``."""
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p)) for b, p, n in zip(box, pad, shape))


def world_box_to_slices(
    lo: np.ndarray, hi: np.ndarray, origin: np.ndarray, spacing: tuple[float, float, float], shape: tuple[int, ...]
) -> tuple[slice, slice, slice]:
    """World (x, y, z) box → numpy (z, y, x) slices clipped to the grid."""
    out = []
    for axis_xyz in (2, 1, 0):
        n = shape[2 - axis_xyz]
        a = int(math.floor((lo[axis_xyz] - origin[axis_xyz]) / spacing[axis_xyz]))
        b = int(math.ceil((hi[axis_xyz] - origin[axis_xyz]) / spacing[axis_xyz])) + 1
        out.append(slice(min(max(a, 0), n), min(max(b, 0), n)))
    return tuple(out)


def sub_box(box: tuple[slice, ...], outer: tuple[slice, ...]) -> tuple[slice, ...]:
    """``box`` (grid indices) intersected with ``outer`` and expressed relative to ``outer``."""
    out = []
    for b, o in zip(box, outer):
        start = max(b.start, o.start) - o.start
        out.append(slice(start, max(min(b.stop, o.stop) - o.start, start)))
    return tuple(out)


def union_box(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...]:
    """The smallest box holding both (``None`` = an absent label, as ``ndimage.find_objects`` reports it)."""
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))
