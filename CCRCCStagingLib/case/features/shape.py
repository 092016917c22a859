"""Mesh-based shape coefficients: PyRadiomics' own shape class with a faster stand-in for its C module (the same
triangulation and the same maximum diameters, from candidate vertices only)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import SimpleITK as sitk

_SHAPE_LOCK = threading.Lock()


def shape_class(image: sitk.Image, mask: sitk.Image, arguments: dict[str, Any]) -> Any:
    """PyRadiomics' own shape class, initialised with :class:`MeshCoefficients` in place of its C module."""
    from radiomics import shape

    with _SHAPE_LOCK:
        c_module = shape.cShape
        shape.cShape = MeshCoefficients
        try:
            return shape.RadiomicsShape(image, mask, **arguments)
        finally:
            shape.cShape = c_module


class MeshCoefficients:
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
