"""Random fields and distance maps on voxel grids (float32): smooth Gaussian random fields (texture, irregular edges,
infiltration strands), Gaussian noise correlated the way a reconstruction kernel correlates CT noise, and an
approximate signed distance to a mask. Smooth fields are generated on a coarse grid and linearly upsampled: they need
no more samples, and large boxes stay cheap.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def _upsample_linear(coarse: np.ndarray, factors: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation of a grid sampled every ``factors`` voxels onto ``shape`` (float32)."""
    out = coarse
    for axis, (f, n) in enumerate(zip(factors, shape)):
        if f == 1:
            out = out[(slice(None),) * axis + (slice(0, n),)]
            continue
        pos = np.arange(n, dtype=np.float32) / f
        i0 = np.minimum(np.floor(pos).astype(np.intp), out.shape[axis] - 1)
        i1 = np.minimum(i0 + 1, out.shape[axis] - 1)
        w = (pos - i0).astype(np.float32).reshape([-1 if a == axis else 1 for a in range(out.ndim)])
        out = np.take(out, i0, axis=axis) * (1.0 - w) + np.take(out, i1, axis=axis) * w
    return np.ascontiguousarray(out, dtype=np.float32)


def smooth_noise(
    shape: tuple[int, ...], spacing: tuple[float, ...], corr_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit-SD Gaussian random field, white noise smoothed by a Gaussian of σ = ``corr_mm``.

    Generated on a grid of step ≈ corr/2 and linearly upsampled: a smooth field needs no more samples, and this
    keeps large tumour boxes cheap.
    """
    factors = tuple(max(1, int((0.5 * corr_mm) // s)) for s in spacing)
    coarse_shape = tuple((n - 1) // f + 2 for n, f in zip(shape, factors))
    white = rng.standard_normal(coarse_shape, dtype=np.float32)
    sigma = [corr_mm / (s * f) for s, f in zip(spacing, factors)]
    field_ = ndimage.gaussian_filter(white, sigma, mode="wrap")
    field_ /= max(float(field_.std()), 1e-6)
    return _upsample_linear(field_, factors, shape)


def _gaussian_norm(sigmas: tuple[float, ...]) -> float:
    """L2 norm of scipy's separable Gaussian kernel: the SD of Gaussian-filtered unit white noise."""
    norm = 1.0
    for s in sigmas:
        if s <= 1e-15:
            continue
        radius = int(4.0 * s + 0.5)
        x = np.arange(-radius, radius + 1, dtype=float)
        w = np.exp(-0.5 * (x / s) ** 2)
        w /= w.sum()
        norm *= math.sqrt(float(np.sum(w * w)))
    return norm


def correlated_noise(
    shape: tuple[int, ...], sigmas: tuple[float, ...], sd: float, rng: np.random.Generator, mode: str = "nearest"
) -> np.ndarray:
    """Gaussian noise of SD ``sd`` whose correlation follows the PSF (as reconstruction kernels shape CT noise)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    ndimage.gaussian_filter(white, sigmas, output=white, mode=mode)
    white *= np.float32(sd / _gaussian_norm(sigmas))
    return white


def signed_distance(mask: np.ndarray, spacing: tuple[float, ...], step_mm: float) -> np.ndarray:
    """Approximate signed distance (mm, > 0 outside) to a binary mask, from an EDT on a grid of step ≈ ``step_mm``.

    The exact EDT of a whole KiTS kidney box at 0.5 mm slices would dominate the run time; the distances only set
    the cortex depth, the necrotic core and the infiltration zone, where 1–2 mm resolution is ample.
    """
    factors = tuple(max(1, int(round(step_mm / s))) for s in spacing)
    coarse = mask[tuple(slice(None, None, f) for f in factors)]
    coarse_sp = tuple(s * f for s, f in zip(spacing, factors))
    if not coarse.any():  # too small to be sampled: treat as absent (callers only use it near labels)
        return np.full(mask.shape, np.float32(1e3))
    half = 0.5 * float(np.mean(coarse_sp))  # the surface lies half a step between inside and outside samples
    d_out = ndimage.distance_transform_edt(~coarse, sampling=coarse_sp).astype(np.float32)
    d_in = ndimage.distance_transform_edt(coarse, sampling=coarse_sp).astype(np.float32)
    sd = np.where(coarse, half - d_in, d_out - half).astype(np.float32)
    # Pad by one sample per axis so the upsampler always has a right neighbour.
    sd = np.pad(sd, [(0, 1)] * sd.ndim, mode="edge")
    return _upsample_linear(sd, factors, mask.shape)
