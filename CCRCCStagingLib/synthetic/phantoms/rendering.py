"""Rendering: from a noiseless "truth" HU map to the int16 CT, through a Gaussian point-spread function (in-plane
FWHM ~1 mm, slice profile FWHM = slice spacing) and spatially correlated Gaussian noise.

Speed: the body outside the kidney region is invariant along the slice axis, so it is blurred as ONE 2-D plane and
broadcast; only a box around the kidney/tumour is blurred in 3-D. Noise outside that box is a pre-computed
correlated slab, tiled with random shifts (the box itself gets fresh noise), which keeps a 512×512×600 volume within
seconds and float32 temporaries small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .fields import correlated_noise

#: The HU range an int16 CT holds (values outside are clipped).
HU_MIN, HU_MAX = -1024, 3071
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_NOISE_SLAB = 32  # slices of the pre-computed noise slab tiled over the volume outside the 3-D box


@dataclass(frozen=True)
class Scanner:
    """The drawn acquisition of one case, in voxels of its grid: PSF sigmas and the noise SD (HU)."""

    psf_sigma_vox: tuple[float, float, float]  # per numpy axis
    noise_sd: float


def scanner_for(spacing_np: tuple[float, ...], slice_axis: int, draws: dict[str, float]) -> Scanner:
    """The scanner of the drawn ``ScannerModel`` values on a grid (numpy-order spacing, slice axis given)."""
    sig = []
    for axis, s in enumerate(spacing_np):
        fwhm = draws["slice_profile_fwhm_factor"] * s if axis == slice_axis else draws["psf_fwhm_inplane_mm"]
        sig.append(fwhm * _FWHM_TO_SIGMA / s)
    return Scanner(tuple(sig), draws["noise_sd_hu"])


def pad_for(scanner: Scanner) -> tuple[int, int, int]:
    """Voxels of context the PSF and the noise filter need around a box."""
    return tuple(int(math.ceil(4.0 * s)) + 1 for s in scanner.psf_sigma_vox)


def render(
    shape: tuple[int, int, int],
    slice_axis: int,
    plane_truth: np.ndarray,
    box_outer: tuple[slice, ...],
    box_inner: tuple[slice, ...],
    box_truth: np.ndarray,
    scanner: Scanner,
    rng: np.random.Generator,
) -> np.ndarray:
    """Blur and add noise; returns the int16 HU volume.

    ``plane_truth`` is the slice-invariant body (axes = the two non-slice axes, in order); ``box_truth`` the full
    3-D truth on ``box_outer`` (which includes the PSF context around ``box_inner``).
    """
    sig = scanner.psf_sigma_vox
    plane_axes = [a for a in range(3) if a != slice_axis]
    plane = ndimage.gaussian_filter(plane_truth, [sig[a] for a in plane_axes], mode="nearest")
    plane = np.expand_dims(plane, slice_axis)  # broadcastable along the slice axis (blur along it is a no-op)

    out = np.empty(shape, dtype=np.int16)
    n0 = shape[0]
    slab_len = min(n0, _NOISE_SLAB)
    slab = correlated_noise((slab_len,) + tuple(shape[1:]), sig, scanner.noise_sd, rng, mode="wrap")
    full_plane = np.broadcast_to(plane, shape)
    for start in range(0, n0, slab_len):
        stop = min(start + slab_len, n0)
        # Random cyclic shifts make tiles differ; the box (the tumour's neighbourhood) gets fresh noise below.
        shifted = np.roll(slab, (int(rng.integers(shape[1])), int(rng.integers(shape[2]))), axis=(1, 2))
        block = full_plane[start:stop] + shifted[: stop - start]
        np.clip(np.rint(block, out=block), HU_MIN, HU_MAX, out=block)
        out[start:stop] = block

    blurred = ndimage.gaussian_filter(box_truth, sig, mode="nearest")
    blurred += correlated_noise(box_truth.shape, sig, scanner.noise_sd, rng)
    rel = tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(box_inner, box_outer))
    inner = blurred[rel]
    np.clip(np.rint(inner, out=inner), HU_MIN, HU_MAX, out=inner)
    out[box_inner] = inner
    return out
