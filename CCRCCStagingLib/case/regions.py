"""The regions built on the case's 1 mm box: the peritumoral shell, and the labels they carry in ``regions.nrrd``.

Order as in the paper: the CT is resampled to isotropic voxels first (:mod:`resampling`: B-spline for the image,
nearest neighbour for the mask, on PyRadiomics' own grid), then the regions are built on that grid.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .resampling import GridBox

#: Label of the peritumoral shell in ``regions.nrrd``; habitat k has label k (1 <= k <= 9).
PERI_LABEL = 10


def peritumoral_shell(
    tumour: np.ndarray, spacing_zyx: tuple[float, float, float], margin_mm: float
) -> np.ndarray:
    """Voxels outside the tumour whose Euclidean distance (voxel centre to nearest tumour voxel centre, in mm)
    is > 0 and <= ``margin_mm``. ``tumour`` is a z, y, x boolean array; work on a crop, never a whole CT."""
    distance = ndimage.distance_transform_edt(~tumour, sampling=spacing_zyx)
    # A tolerance keeps voxels at exactly the margin (e.g. 3 voxels away on a 1 mm grid) despite rounding.
    return (distance > 0) & (distance <= margin_mm + 1e-6)


def shell_missing_fraction(
    tumour: np.ndarray, box: GridBox, margin_mm: float
) -> float:
    """Fraction of the shell that falls outside the image because the tumour is close to its edge."""
    spacing_zyx = tuple(reversed(box.spacing))
    # Pad only the sides where the box was clipped by the image edge, by the margin in voxels.
    pad = []
    for axis_xyz in (2, 1, 0):
        width = math.ceil(margin_mm / box.spacing[axis_xyz])
        pad.append((width if box.clamped_low[axis_xyz] else 0, width if box.clamped_high[axis_xyz] else 0))
    if not any(any(p) for p in pad):
        return 0.0
    padded = np.pad(tumour, pad)
    shell = peritumoral_shell(padded, spacing_zyx, margin_mm)
    inside = np.zeros_like(shell)
    inside[tuple(slice(lo, lo + n) for (lo, _), n in zip(pad, tumour.shape))] = True
    total = int(shell.sum())
    return float((shell & ~inside).sum() / total) if total else 0.0


def margin_voxels(margin_mm: float, spacing: tuple[float, ...], pad_distance: int) -> int:
    """Box margin around the tumour: the shell plus PyRadiomics' own padding of a region read from
    ``regions.nrrd`` (``padDistance`` + 1: its rounding adds one voxel on a grid whose spacing is already the
    target), so that no region's PyRadiomics grid is clipped by the box where the scan goes on."""
    return math.ceil(margin_mm / min(spacing)) + pad_distance + 1
