"""Synthetic contrast-enhanced abdominal CT phantoms of clear cell renal cell carcinoma.

No kidney-tumour CT with pathological T-stage labels can ship with this project, so tests, the benchmark and
the DEMONSTRATION model (never clinically valid) use synthetic cases drawn from an explicit generative model:

* :func:`make_phantom` – one CT (int16 HU) with the tumour mask a radiologist would draw, for a T-stage group
  ("low" = T1–T2, "high" = T3–T4). High-stage cases follow the radiological signs of T3/T4: larger, lobulated and
  irregular margin, more necrosis, and strands/nodules of tumour-like density in the perinephric and sinus fat a
  few millimetres OUTSIDE the drawn boundary (what the paper's 3 mm peritumoral shell sees). Every sign is drawn
  from overlapping distributions, so stage is only probabilistically recoverable.
* :func:`simulate_survival` – overall survival (Weibull by stage, administrative censoring).
* :func:`synthesize_ct_from_labels` – a CT synthesised on the grid of an existing kidney/tumour label image
  (e.g. KiTS19 segmentations, which may only be used in tests: CC BY-NC-SA).
* :func:`write_cohort` – a cohort on disk (compressed NRRD + ``manifest.csv``), stratified over the paper's splits.

Every distribution lives in :data:`GENERATIVE_ASSUMPTIONS` (a frozen dataclass); :func:`assumptions_markdown`
renders it as the table the README's model card cites.

Rendering model: a noiseless "truth" HU map, then a Gaussian point-spread function (in-plane FWHM ~1 mm, slice
profile FWHM = slice spacing) and spatially correlated Gaussian noise. Speed: the body outside the kidney region is
invariant along the slice axis, so it is built and blurred as ONE 2-D plane and broadcast; only a box around the
kidney/tumour is built in 3-D. Noise outside that box is a pre-computed correlated slab, tiled with random shifts
(the box itself gets fresh noise), which keeps a 512×512×600 volume within seconds and float32 temporaries small.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy import special

from ..core.errors import ImageFormatError, MaskError, OutputError, SettingsError

__all__ = [
    "Dist",
    "StagePhenotype",
    "TissueDensities",
    "Anatomy",
    "ScannerModel",
    "SurvivalModel",
    "PhantomAssumptions",
    "GENERATIVE_ASSUMPTIONS",
    "Tissue",
    "Phantom",
    "make_phantom",
    "simulate_survival",
    "synthesize_ct_from_labels",
    "write_cohort",
    "assumptions_markdown",
    "t_stage_from_diameter",
    "SPLIT_NAMES",
    "PAPER_SPLITS",
]

GENERATOR_VERSION = "1"
STAGES = ("low", "high")
SPLIT_NAMES = ("train", "internal_test", "external")
#: The paper's split sizes 148 / 38 / 137 of 323 patients, as fractions.
PAPER_SPLITS = (148 / 323, 38 / 323, 137 / 323)
HU_MIN, HU_MAX = -1024, 3071
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_BOX_MARGIN_MM = 12.0  # room for the irregular fat edges around kidney and tumour inside the 3-D box
_NOISE_SLAB = 32  # slices of the pre-computed noise slab tiled over the volume outside the 3-D box


# ----------------------------------------------------------------------------------------------------------------
# Distributions and generative assumptions (the ONE place the model card cites)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """A scalar distribution; truncation uses the inverse CDF (exact, no point masses at the bounds).

    kind: "uniform" (p1=low, p2=high), "normal" (p1=mean, p2=sd), "lognormal" (p1=median, p2=sigma of the log),
    "beta" (p1=a, p2=b), "poisson" (p1=lambda, result + ``lo``), "bernoulli" (p1=probability), "constant" (p1).
    """

    kind: Literal["uniform", "normal", "lognormal", "beta", "poisson", "bernoulli", "constant"]
    p1: float
    p2: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf
    unit: str = ""

    def draw(self, rng: np.random.Generator) -> float:
        """One draw (always consumes exactly one ``rng`` call, so streams stay aligned across settings)."""
        u = rng.random()
        if self.kind == "constant":
            return float(self.p1)
        if self.kind == "uniform":
            return float(self.p1 + u * (self.p2 - self.p1))
        if self.kind == "bernoulli":
            return float(u < self.p1)
        if self.kind == "poisson":
            # Inverse CDF by summation keeps the one-uniform-per-draw property.
            k, term = 0, math.exp(-self.p1)
            cdf = term
            while u > cdf and k < 1000:
                k += 1
                term *= self.p1 / k
                cdf += term
            return float(min(k + max(self.lo, 0.0), self.hi))
        cdf, ppf = self._cdf_ppf()
        c_lo = cdf(self.lo) if math.isfinite(self.lo) else 0.0
        c_hi = cdf(self.hi) if math.isfinite(self.hi) else 1.0
        value = ppf(c_lo + u * (c_hi - c_lo))
        return float(min(max(value, self.lo), self.hi))

    def _cdf_ppf(self):
        if self.kind == "normal":
            return (lambda x: special.ndtr((x - self.p1) / self.p2), lambda q: self.p1 + self.p2 * special.ndtri(q))
        if self.kind == "lognormal":
            mu = math.log(self.p1)
            return (
                lambda x: special.ndtr((math.log(x) - mu) / self.p2) if x > 0 else 0.0,
                lambda q: math.exp(mu + self.p2 * special.ndtri(q)),
            )
        if self.kind == "beta":
            return (
                lambda x: special.betainc(self.p1, self.p2, min(max(x, 0.0), 1.0)),
                lambda q: special.betaincinv(self.p1, self.p2, q),
            )
        raise ValueError(f"unknown distribution kind {self.kind!r}")

    def mean(self) -> float:
        """Approximate mean (numerical for truncated continuous kinds); for the model card."""
        if self.kind == "constant":
            return self.p1
        if self.kind == "uniform":
            return 0.5 * (self.p1 + self.p2)
        if self.kind == "bernoulli":
            return self.p1
        if self.kind == "poisson":
            return self.p1 + max(self.lo, 0.0)
        cdf, ppf = self._cdf_ppf()
        c_lo = cdf(self.lo) if math.isfinite(self.lo) else 0.0
        c_hi = cdf(self.hi) if math.isfinite(self.hi) else 1.0
        q = c_lo + (np.arange(2000) + 0.5) / 2000 * (c_hi - c_lo)
        return float(np.mean([ppf(v) for v in q]))

    def describe(self) -> str:
        """Human-readable form for the model card, e.g. ``LogNormal(median 38, σlog 0.40) mm in [12, 120]``."""
        u = f" {self.unit}" if self.unit else ""
        body = {
            "uniform": f"Uniform({self.p1:g}, {self.p2:g}){u}",
            "normal": f"Normal(mean {self.p1:g}, SD {self.p2:g}){u}",
            "lognormal": f"LogNormal(median {self.p1:g}, σlog {self.p2:g}){u}",
            "beta": f"Beta({self.p1:g}, {self.p2:g})",
            "poisson": f"Poisson({self.p1:g})" + (f" + {self.lo:g}" if self.lo > 0 else ""),
            "bernoulli": f"Bernoulli({self.p1:g})",
            "constant": f"{self.p1:g}{u}",
        }[self.kind]
        if self.kind in ("normal", "lognormal", "beta") and (math.isfinite(self.lo) or math.isfinite(self.hi)):
            body += f" truncated to [{self.lo:g}, {self.hi:g}]"
        if self.kind == "poisson" and math.isfinite(self.hi):
            body += f", at most {self.hi:g}"
        return body


def _u(lo: float, hi: float, unit: str = "") -> Dist:
    return Dist("uniform", lo, hi, unit=unit)


@dataclass(frozen=True)
class StagePhenotype:
    """Tumour phenotype of one T-stage group. Low and high distributions overlap on purpose."""

    #: Nominal tumour diameter (the greatest-dimension proxy; low-stage sub-stage follows TNM size cut-offs).
    diameter_mm: Dist
    #: Offset of the tumour centre from the kidney surface along its normal, in tumour radii (<0 = intrarenal).
    centre_offset_radii: Dist
    #: Axis ratio spread: semi-axes (1+e, 1, 1/(1+e)) × radius, randomly rotated.
    elongation: Dist
    #: Relative amplitude of outward lobes (lobulated margin).
    lobulation_amplitude: Dist
    #: Number of lobes (von Mises bumps on the sphere).
    lobe_count: Dist
    #: Small-scale margin roughness (SD of the radial perturbation, correlation 2.5 mm).
    margin_roughness_mm: Dist
    #: Fraction of the tumour volume that is necrotic / hypo-enhancing.
    necrosis_fraction: Dist
    #: Thin hyper-attenuating rim inside the boundary (pseudocapsule: a sign of organ confinement).
    pseudocapsule: Dist
    #: Peritumoral infiltration present (fat stranding / nodular extension outside the drawn boundary).
    infiltration: Dist
    #: How far outside the boundary the infiltration reaches.
    infiltration_depth_mm: Dist
    #: Fraction of the fat within that depth occupied by strands.
    infiltration_coverage: Dist
    #: Satellite nodules (radius 1–2.5 mm) in the perinephric/sinus fat within the infiltration depth.
    satellite_nodules: Dist
    #: Mean attenuation of enhancing viable tumour (parenchymal phase).
    viable_hu: Dist
    #: SD of the smooth (low-frequency) texture of viable tumour.
    texture_sd_hu: Dist
    #: Sub-stage probabilities; empty = derived from the diameter by TNM size cut-offs (T1a ≤ 40 mm, T1b ≤ 70,
    #: T2a ≤ 100, T2b > 100).
    sub_stage_probabilities: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class TissueDensities:
    """Per-case mean attenuation of each tissue (HU), parenchymal phase 60–70 s as in the paper."""

    air: Dist = Dist("constant", -1000.0, unit="HU")
    fat: Dist = _u(-115.0, -85.0, "HU")
    muscle: Dist = _u(40.0, 60.0, "HU")
    bowel: Dist = _u(20.0, 50.0, "HU")
    bone: Dist = _u(200.0, 350.0, "HU")
    aorta: Dist = _u(160.0, 240.0, "HU")
    ivc: Dist = _u(110.0, 170.0, "HU")
    cortex: Dist = _u(150.0, 200.0, "HU")
    medulla: Dist = _u(80.0, 120.0, "HU")
    necrosis: Dist = _u(10.0, 40.0, "HU")
    pseudocapsule: Dist = _u(50.0, 80.0, "HU")
    #: Infiltration density as a fraction of the viable-tumour HU (strands are partial-volumed tumour in fat).
    infiltration_fraction_of_viable: Dist = _u(0.6, 0.9)


@dataclass(frozen=True)
class Anatomy:
    """Body and kidney geometry (mm, LPS: +x = patient left, +y = posterior)."""

    body_semi_lr: Dist = _u(140.0, 175.0, "mm")
    body_semi_ap: Dist = _u(100.0, 125.0, "mm")
    subcutaneous_fat: Dist = _u(10.0, 30.0, "mm")
    muscle_wall: Dist = _u(8.0, 14.0, "mm")
    kidney_semi_si: Dist = _u(50.0, 60.0, "mm")
    kidney_semi_transverse: Dist = _u(26.0, 32.0, "mm")
    kidney_semi_ap: Dist = _u(22.0, 27.0, "mm")
    kidney_lateral_offset: Dist = _u(70.0, 85.0, "mm")
    hilum_angle_deg: Dist = _u(20.0, 40.0, "deg")
    cortex_thickness: Dist = _u(5.0, 8.0, "mm")
    perirenal_fat: Dist = _u(8.0, 18.0, "mm")
    left_side: Dist = Dist("bernoulli", 0.5)


@dataclass(frozen=True)
class ScannerModel:
    """Acquisition model: Gaussian PSF and correlated Gaussian noise."""

    psf_fwhm_inplane_mm: Dist = _u(0.9, 1.3, "mm")
    #: Slice sensitivity profile FWHM as a multiple of the slice spacing (contiguous reconstruction).
    slice_profile_fwhm_factor: Dist = _u(1.0, 1.2)
    noise_sd_hu: Dist = _u(10.0, 20.0, "HU")


@dataclass(frozen=True)
class SurvivalModel:
    """Overall survival: Weibull with a stage-specific scale set by a 5-year OS target, administrative censoring."""

    weibull_shape: float = 1.1
    five_year_os_low: float = 0.88  # T1–T2 ccRCC after nephrectomy
    five_year_os_high: float = 0.55  # T3–T4
    #: Follow-up until the administrative cut-off (staggered accrual), days.
    follow_up_days: Dist = _u(180.0, 3650.0, "days")

    def weibull_scale_days(self, stage: str) -> float:
        """Scale λ with S(5 y) = exp(-(1826/λ)^k) equal to the stage's 5-year OS."""
        target = self.five_year_os_high if stage == "high" else self.five_year_os_low
        return 1826.0 / (-math.log(target)) ** (1.0 / self.weibull_shape)


@dataclass(frozen=True)
class PhantomAssumptions:
    """Every generative assumption of the synthetic cohort (cited by the README's model card)."""

    low: StagePhenotype = StagePhenotype(
        diameter_mm=Dist("lognormal", 38.0, 0.42, lo=12.0, hi=120.0, unit="mm"),
        centre_offset_radii=_u(-0.6, 0.5),
        elongation=_u(0.0, 0.2),
        lobulation_amplitude=_u(0.0, 0.10),
        lobe_count=Dist("poisson", 2.0, lo=1.0, hi=10.0),
        margin_roughness_mm=_u(0.0, 0.6, "mm"),
        necrosis_fraction=Dist("beta", 1.2, 11.0, lo=0.0, hi=0.7),
        pseudocapsule=Dist("bernoulli", 0.45),
        infiltration=Dist("bernoulli", 0.30),  # inflammatory stranding / oedema: the T3a mimic
        infiltration_depth_mm=_u(1.0, 3.0, "mm"),
        infiltration_coverage=_u(0.05, 0.20),
        satellite_nodules=Dist("poisson", 0.3, hi=8.0),
        viable_hu=Dist("normal", 140.0, 18.0, lo=100.0, hi=180.0, unit="HU"),
        texture_sd_hu=_u(10.0, 22.0, "HU"),
    )
    high: StagePhenotype = StagePhenotype(
        diameter_mm=Dist("lognormal", 58.0, 0.42, lo=20.0, hi=130.0, unit="mm"),
        centre_offset_radii=_u(-0.4, 0.6),
        elongation=_u(0.0, 0.25),
        lobulation_amplitude=_u(0.04, 0.20),
        lobe_count=Dist("poisson", 4.0, lo=1.0, hi=12.0),
        margin_roughness_mm=_u(0.3, 1.5, "mm"),
        necrosis_fraction=Dist("beta", 2.0, 6.0, lo=0.0, hi=0.7),
        pseudocapsule=Dist("bernoulli", 0.15),
        infiltration=Dist("bernoulli", 0.65),  # T3 without visible fat invasion (vein-only, microscopic) is common
        infiltration_depth_mm=_u(1.5, 5.0, "mm"),
        infiltration_coverage=_u(0.08, 0.35),
        satellite_nodules=Dist("poisson", 2.5, hi=12.0),
        viable_hu=Dist("normal", 135.0, 18.0, lo=100.0, hi=180.0, unit="HU"),
        texture_sd_hu=_u(14.0, 28.0, "HU"),
        sub_stage_probabilities=(("T3a", 0.80), ("T3b", 0.10), ("T3c", 0.02), ("T4", 0.08)),
    )
    tissue: TissueDensities = TissueDensities()
    anatomy: Anatomy = Anatomy()
    scanner: ScannerModel = ScannerModel()
    survival: SurvivalModel = SurvivalModel()
    #: Margin of the automatic grid around the tumour's farthest extent.
    grid_margin_mm: float = 15.0

    def phenotype(self, stage: str) -> StagePhenotype:
        """The phenotype of ``"low"`` or ``"high"``."""
        return self.high if stage == "high" else self.low


#: The assumptions used by default everywhere in this module.
GENERATIVE_ASSUMPTIONS = PhantomAssumptions()


def assumptions_markdown(assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS) -> str:
    """A Markdown table of every distribution (low vs high side by side), for the README's model card."""
    lines = ["| Parameter | Low (T1–T2) | High (T3–T4) |", "|---|---|---|"]
    for name in StagePhenotype.__dataclass_fields__:
        low, high = getattr(assumptions.low, name), getattr(assumptions.high, name)
        if name == "sub_stage_probabilities":
            low_s = "from diameter (T1a ≤ 40, T1b ≤ 70, T2a ≤ 100, T2b > 100 mm)"
            high_s = ", ".join(f"{s} {p:g}" for s, p in high) or "from diameter"
        else:
            low_s, high_s = low.describe(), high.describe()
        lines.append(f"| {name} | {low_s} | {high_s} |")
    lines += ["", "| Shared parameter | Distribution (per case) |", "|---|---|"]
    for group in (assumptions.tissue, assumptions.anatomy, assumptions.scanner):
        for name in type(group).__dataclass_fields__:
            lines.append(f"| {type(group).__name__}.{name} | {getattr(group, name).describe()} |")
    s = assumptions.survival
    lines.append(
        f"| SurvivalModel | Weibull(shape {s.weibull_shape:g}); 5-year OS {s.five_year_os_low:g} (low) / "
        f"{s.five_year_os_high:g} (high); censoring at {s.follow_up_days.describe()} |"
    )
    return "\n".join(lines)


def t_stage_from_diameter(diameter_mm: float) -> str:
    """TNM 8th edition size cut-offs for organ-confined tumours (T1a ≤ 4 cm < T1b ≤ 7 cm < T2a ≤ 10 cm < T2b)."""
    if diameter_mm <= 40.0:
        return "T1a"
    if diameter_mm <= 70.0:
        return "T1b"
    if diameter_mm <= 100.0:
        return "T2a"
    return "T2b"


# ----------------------------------------------------------------------------------------------------------------
# Public result type
# ----------------------------------------------------------------------------------------------------------------


class Tissue(IntEnum):
    """Codes of :attr:`Phantom.tissues` (the noiseless ground truth; useful to test HU ranges)."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    BOWEL = 3
    BONE = 4
    VESSEL = 5
    CORTEX = 6
    MEDULLA = 7
    SINUS_FAT = 8
    TUMOUR_VIABLE = 9
    TUMOUR_NECROSIS = 10
    INFILTRATION = 11


@dataclass(frozen=True)
class Phantom:
    """One synthetic case. ``image`` int16 HU; ``mask`` uint8 0/1 tumour as drawn; both on the same grid."""

    image: sitk.Image
    mask: sitk.Image
    stage: str  # "low" (T1–T2) or "high" (T3–T4)
    t_stage: str  # e.g. "T1b", "T3a"
    meta: dict = field(default_factory=dict)  # the drawn generative parameters (JSON-serialisable scalars)
    tissues: sitk.Image | None = None  # uint8 Tissue codes of the noiseless truth (before blur), same grid


# ----------------------------------------------------------------------------------------------------------------
# Small numerical helpers
# ----------------------------------------------------------------------------------------------------------------


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


def _smooth_noise(
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


def _correlated_noise(
    shape: tuple[int, ...], sigmas: tuple[float, ...], sd: float, rng: np.random.Generator, mode: str = "nearest"
) -> np.ndarray:
    """Gaussian noise of SD ``sd`` whose correlation follows the PSF (as reconstruction kernels shape CT noise)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    ndimage.gaussian_filter(white, sigmas, output=white, mode=mode)
    white *= np.float32(sd / _gaussian_norm(sigmas))
    return white


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
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


def _unit_vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(3)
    return v / np.linalg.norm(v)


def _fibonacci_sphere(n: int = 600) -> np.ndarray:
    """Quasi-uniform directions, used to normalise the lobe function."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def _signed_distance(mask: np.ndarray, spacing: tuple[float, ...], step_mm: float) -> np.ndarray:
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


def _offsets(
    coords: tuple[np.ndarray, np.ndarray, np.ndarray], centre: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable float32 (dx, dy, dz) from box axes (z, y, x world mm) to ``centre`` (x, y, z).

    Python floats on purpose: a NumPy float64 scalar would promote every float32 array to float64 (NEP 50).
    """
    z, y, x = coords
    return ((x - float(centre[0]))[None, None, :], (y - float(centre[1]))[None, :, None],
            (z - float(centre[2]))[:, None, None])


def _in_frame(offsets: tuple[np.ndarray, ...], rotation: np.ndarray, scale: np.ndarray) -> list[np.ndarray]:
    """Offsets expressed in a rotated frame (columns of ``rotation``) and divided by ``scale`` per axis (float32)."""
    dx, dy, dz = offsets
    return [
        ((float(rotation[0, i]) * dx + float(rotation[1, i]) * dy + float(rotation[2, i]) * dz) / float(scale[i]))
        .astype(np.float32, copy=False)
        for i in range(3)
    ]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------------------------
# Per-case draws
# ----------------------------------------------------------------------------------------------------------------


def _draw_group(group: object, rng: np.random.Generator) -> dict[str, float]:
    """Draw every :class:`Dist` field of a dataclass, in field order (deterministic for the stream)."""
    return {name: getattr(group, name).draw(rng) for name in type(group).__dataclass_fields__
            if isinstance(getattr(group, name), Dist)}


def _draw_phenotype(pheno: StagePhenotype, rng: np.random.Generator, diameter_mm: float | None) -> dict[str, float]:
    values = _draw_group(pheno, rng)
    if diameter_mm is not None:
        values["diameter_mm"] = float(diameter_mm)
    if not values["infiltration"]:
        values["infiltration_coverage"] = 0.0
        values["satellite_nodules"] = 0.0
    return values


def _draw_sub_stage(pheno: StagePhenotype, diameter_mm: float, rng: np.random.Generator) -> str:
    u = rng.random()
    if not pheno.sub_stage_probabilities:
        return t_stage_from_diameter(diameter_mm)
    labels = [s for s, _ in pheno.sub_stage_probabilities]
    probs = np.array([p for _, p in pheno.sub_stage_probabilities], dtype=float)
    idx = int(np.searchsorted(np.cumsum(probs / probs.sum()), u, side="right"))
    return labels[min(idx, len(labels) - 1)]


# ----------------------------------------------------------------------------------------------------------------
# Anatomy: the slice-invariant body plane
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BodyFrame:
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
    return ((px - cx) / ax) ** 2 + ((py - cy) / ay) ** 2 <= 1.0


def _body_plane(
    px: np.ndarray, py: np.ndarray, frame: _BodyFrame, hu: dict[str, float], plane_spacing: tuple[float, float],
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
    viscera = _smooth_noise(px.shape, plane_spacing, 12.0, rng)
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


# ----------------------------------------------------------------------------------------------------------------
# Rendering: PSF + noise, 2-D background plane + 3-D box
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scanner:
    psf_sigma_vox: tuple[float, float, float]  # per numpy axis
    noise_sd: float


def _scanner_for(spacing_np: tuple[float, ...], slice_axis: int, draws: dict[str, float]) -> _Scanner:
    sig = []
    for axis, s in enumerate(spacing_np):
        fwhm = draws["slice_profile_fwhm_factor"] * s if axis == slice_axis else draws["psf_fwhm_inplane_mm"]
        sig.append(fwhm * _FWHM_TO_SIGMA / s)
    return _Scanner(tuple(sig), draws["noise_sd_hu"])


def _pad_for(scanner: _Scanner) -> tuple[int, int, int]:
    """Voxels of context the PSF and the noise filter need around a box."""
    return tuple(int(math.ceil(4.0 * s)) + 1 for s in scanner.psf_sigma_vox)


def _grow(box: tuple[slice, ...], pad: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p)) for b, p, n in zip(box, pad, shape))


def _render(
    shape: tuple[int, int, int],
    slice_axis: int,
    plane_truth: np.ndarray,
    box_outer: tuple[slice, ...],
    box_inner: tuple[slice, ...],
    box_truth: np.ndarray,
    scanner: _Scanner,
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
    slab = _correlated_noise((slab_len,) + tuple(shape[1:]), sig, scanner.noise_sd, rng, mode="wrap")
    full_plane = np.broadcast_to(plane, shape)
    for start in range(0, n0, slab_len):
        stop = min(start + slab_len, n0)
        # Random cyclic shifts make tiles differ; the box (the tumour's neighbourhood) gets fresh noise below.
        shifted = np.roll(slab, (int(rng.integers(shape[1])), int(rng.integers(shape[2]))), axis=(1, 2))
        block = full_plane[start:stop] + shifted[: stop - start]
        np.clip(np.rint(block, out=block), HU_MIN, HU_MAX, out=block)
        out[start:stop] = block

    blurred = ndimage.gaussian_filter(box_truth, sig, mode="nearest")
    blurred += _correlated_noise(box_truth.shape, sig, scanner.noise_sd, rng)
    rel = tuple(slice(i.start - o.start, i.stop - o.start) for i, o in zip(box_inner, box_outer))
    inner = blurred[rel]
    np.clip(np.rint(inner, out=inner), HU_MIN, HU_MAX, out=inner)
    out[box_inner] = inner
    return out


# ----------------------------------------------------------------------------------------------------------------
# The tumour
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TumourShape:
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


def _make_tumour_shape(
    radius: float, d: dict[str, float], centre: np.ndarray, rng: np.random.Generator
) -> _TumourShape:
    rotation = _random_rotation(rng)
    e = d["elongation"]
    factors = np.array([1.0 + e, 1.0, 1.0 / (1.0 + e)])
    k = int(d["lobe_count"])
    dirs = np.stack([_unit_vector(rng) for _ in range(k)])
    kappa = rng.uniform(4.0, 10.0, k)
    weight = rng.uniform(0.5, 1.0, k)
    sphere = _fibonacci_sphere()
    lobes = (weight * np.exp(kappa * (sphere @ dirs.T - 1.0))).sum(axis=1)
    lmax = float(lobes.max())
    return _TumourShape(centre, rotation, factors, radius, dirs, kappa, weight, d["lobulation_amplitude"], lmax,
                        float(lobes.mean() / lmax), d["margin_roughness_mm"])


@dataclass
class _TumourBox:
    """Tumour quantities on a box of voxels."""

    mask: np.ndarray  # bool, the drawn tumour
    outside_mm: np.ndarray  # float32 approximate distance outside the surface (negative inside)
    truth: np.ndarray  # float32 tumour HU (valid where mask)
    necrosis_weight: np.ndarray  # float32 in [0, 1]


def _tumour_on_box(
    shape_: _TumourShape, coords: tuple[np.ndarray, np.ndarray, np.ndarray], spacing_np: tuple[float, ...],
    d: dict[str, float], hu: dict[str, float], rng: np.random.Generator,
) -> _TumourBox:
    """Star-shaped lobulated tumour with a smooth texture and an (eccentric, irregular) necrotic core.

    ``coords`` are world z, y, x vectors (mm) of the box axes (numpy order); everything is broadcast from them.
    """
    # Coordinates in the tumour frame, scaled by the axis factors (ellipsoid → sphere).
    q = _in_frame(_offsets(coords, shape_.centre), shape_.rotation, shape_.axis_factors)
    rad = np.sqrt(q[0] ** 2 + q[1] ** 2 + q[2] ** 2)
    inv = 1.0 / np.maximum(rad, 1e-3)
    lobes = np.zeros_like(rad)
    for dvec, kap, w in zip(shape_.lobe_dirs, shape_.lobe_kappa, shape_.lobe_weight):
        cos = (q[0] * float(dvec[0]) + q[1] * float(dvec[1]) + q[2] * float(dvec[2])) * inv
        lobes += np.float32(w) * np.exp(np.float32(kap) * (cos - 1.0))
    box_shape = rad.shape
    surface = shape_.radius * (1.0 + shape_.lobe_amplitude * (lobes / shape_.lobe_max - shape_.lobe_mean))
    if shape_.roughness_mm > 0:
        surface += shape_.roughness_mm * _smooth_noise(box_shape, spacing_np, 2.5, rng)
    outside = rad - surface
    mask = outside <= 0.0

    # Texture: fine (cellular) and regional (enhancement habitats) smooth fields.
    fine = _smooth_noise(box_shape, spacing_np, rng.uniform(2.0, 4.0), rng)
    regional = _smooth_noise(box_shape, spacing_np, float(np.clip(0.4 * shape_.radius, 5.0, 15.0)), rng)
    viable = d["viable_hu"] + d["texture_sd_hu"] * (0.7 * fine + 0.7 * regional)

    # Necrosis: eccentric core whose boundary is perturbed by a smooth field; threshold chosen so that the
    # necrotic volume equals the drawn fraction, with a ≥ 2 mm viable rim (necrosis does not reach the surface).
    offset = [float(v) for v in _unit_vector(rng) * rng.uniform(0.0, 0.3) * shape_.radius]
    core = np.sqrt((q[0] - offset[0]) ** 2 + (q[1] - offset[1]) ** 2 + (q[2] - offset[2]) ** 2) / shape_.radius
    core += 0.2 * _smooth_noise(box_shape, spacing_np, max(3.0, 0.35 * shape_.radius), rng)
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
    return _TumourBox(mask, outside.astype(np.float32), truth.astype(np.float32), necrosis)


def _infiltrate(
    truth: np.ndarray, tissue: np.ndarray | None, outside_mm: np.ndarray, tumour_mask: np.ndarray,
    fat_like: np.ndarray, spacing_np: tuple[float, ...], d: dict[str, float], infiltration_hu: float,
    coords: tuple[np.ndarray, np.ndarray, np.ndarray] | None, nodule_centres: list[tuple[np.ndarray, float]],
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
        strands = _smooth_noise(truth.shape, spacing_np, 1.2, rng)
        thr = float(special.ndtri(1.0 - d["infiltration_coverage"]))
        weight = ((strands > thr) & zone).astype(np.float32)
        weight *= np.clip(1.0 - outside_mm / depth, 0.0, 1.0) ** 0.5
    if nodule_centres and coords is not None:
        for c, rad in nodule_centres:
            dx, dy, dz = _offsets(coords, c)
            dist2 = dx * dx + dy * dy + dz * dz
            weight = np.maximum(weight, ((dist2 <= rad * rad) & zone).astype(np.float32))
    weight[~zone] = 0.0
    truth += weight * (infiltration_hu - truth)
    if tissue is not None:
        tissue[weight > 0.5] = Tissue.INFILTRATION
    shell = zone & (outside_mm <= 3.0)
    return float((weight[shell] > 0.5).mean()) if shell.any() else 0.0


# ----------------------------------------------------------------------------------------------------------------
# make_phantom
# ----------------------------------------------------------------------------------------------------------------


def _check_stage(stage: str) -> str:
    s = str(stage).strip().lower()
    if s not in STAGES:
        raise SettingsError(f"Stage must be 'low' (T1–T2) or 'high' (T3–T4), not {stage!r}.")
    return s


def _check_triplet(value, name: str, kind: type) -> tuple:
    try:
        items = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be three positive numbers (x, y, z), not {value!r}.") from None
    if len(items) != 3 or any(not (v > 0) or not math.isfinite(v) for v in items):
        raise SettingsError(f"{name} must be three positive numbers (x, y, z), not {value!r}.")
    return items


def _kidney_frame(anat: dict[str, float], spine: tuple[float, float], rng: np.random.Generator):
    """Kidney centre, rotation (columns: lateral, AP-ish, SI axes) and semi-axes, world mm."""
    side = 1.0 if anat["left_side"] else -1.0
    centre = np.array([spine[0] + side * anat["kidney_lateral_offset"], spine[1] + rng.uniform(-15.0, 5.0), 0.0])
    phi = math.radians(anat["hilum_angle_deg"])
    hilum = np.array([-side * math.cos(phi), -math.sin(phi), 0.0])  # faces antero-medially (−y = anterior)
    lateral = -hilum
    ap = np.cross(np.array([0.0, 0.0, 1.0]), lateral)
    rotation = np.stack([lateral, ap, np.array([0.0, 0.0, 1.0])], axis=1)
    semi = np.array([anat["kidney_semi_transverse"], anat["kidney_semi_ap"], anat["kidney_semi_si"]])
    return centre, rotation, semi, side


def _tumour_centre_on_kidney(
    k_centre: np.ndarray, k_rot: np.ndarray, k_semi: np.ndarray, radius: float, offset_radii: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """A point on the kidney surface away from the hilum, moved along the normal by ``offset_radii`` radii."""
    while True:
        v = _unit_vector(rng)
        # Local axis 0 points laterally (the hilum is at −axis 0); avoid the hilum and the extreme poles so
        # that the tumour abuts parenchyma in its central slices.
        if v[0] > -0.2 and abs(v[2]) < 0.8:
            break
    surface_local = k_semi * v
    normal_local = v / k_semi
    normal = k_rot @ (normal_local / np.linalg.norm(normal_local))
    return k_centre + k_rot @ surface_local + normal * offset_radii * radius


def _fit_body(frame: _BodyFrame, points_xy: np.ndarray) -> _BodyFrame:
    """Enlarge the body so that the given in-plane points lie inside its visceral (inner) ellipse."""
    wall = frame.subcutaneous_fat + frame.muscle_wall
    a, b = frame.semi_lr - wall, frame.semi_ap - wall
    r2 = ((points_xy[:, 0] - frame.centre_x) / a) ** 2 + ((points_xy[:, 1] - frame.centre_y) / b) ** 2
    scale = max(1.0, math.sqrt(float(r2.max())) * 1.02)
    if scale == 1.0:
        return frame
    return _BodyFrame(frame.centre_x, frame.centre_y, a * scale + wall, b * scale + wall, frame.subcutaneous_fat,
                      frame.muscle_wall, frame.spine_x, frame.spine_y)


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
    tumour: _TumourShape
    nodules: list[tuple[np.ndarray, float]]
    reach: float  # farthest infiltration/nodule from the tumour centre (sphere bound)
    frame: _BodyFrame


def _draw_case(
    stage: str, rng: np.random.Generator, assumptions: PhantomAssumptions, diameter_mm: float | None
) -> _Case:
    """Draw anatomy, tissue densities, scanner and tumour. The order is fixed: these draws (``meta``) come before any
    draw whose count depends on the grid, so a seed gives the same case at any size/spacing."""
    pheno = assumptions.phenotype(stage)
    hu = _draw_group(assumptions.tissue, rng)
    anat = _draw_group(assumptions.anatomy, rng)
    scan = _draw_group(assumptions.scanner, rng)
    d = _draw_phenotype(pheno, rng, diameter_mm)
    t_stage = _draw_sub_stage(pheno, d["diameter_mm"], rng)
    hu["infiltration"] = d["viable_hu"] * hu["infiltration_fraction_of_viable"]
    radius = 0.5 * d["diameter_mm"]

    inner_b = anat["body_semi_ap"] - anat["subcutaneous_fat"] - anat["muscle_wall"]
    spine = (0.0, inner_b - 40.0)  # vertebral body ~40 mm in front of the posterior muscle wall
    k_centre, k_rot, k_semi, side = _kidney_frame(anat, spine, rng)
    t_centre = _tumour_centre_on_kidney(k_centre, k_rot, k_semi, radius, d["centre_offset_radii"], rng)
    tumour = _make_tumour_shape(radius, d, t_centre, rng)
    nodules = _nodule_centres(tumour, d, rng)
    perirenal = anat["perirenal_fat"]
    reach = tumour.bound_mm + d["infiltration_depth_mm"] + 3.0

    # Body: big enough that kidney + tumour + their fat lie inside the visceral cavity.
    k_half = np.sqrt(((k_rot * k_semi) ** 2).sum(axis=1)) + perirenal
    corners = [k_centre[:2] + np.array([sx * k_half[0], sy * k_half[1]]) for sx in (-1, 1) for sy in (-1, 1)]
    corners += [t_centre[:2] + np.array([sx, sy]) * (reach + perirenal) for sx in (-1, 1) for sy in (-1, 1)]
    frame = _fit_body(
        _BodyFrame(0.0, 0.0, anat["body_semi_lr"], anat["body_semi_ap"], anat["subcutaneous_fat"],
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
        return (self.spacing[2], self.spacing[1], self.spacing[0])

    def slices(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice, slice]:
        return _world_box_to_slices(lo, hi, self.origin, self.spacing, self.shape)


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
    tumour: _TumourBox
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
    outer = _grow(inner, pad, grid.shape)
    coords = tuple(a[s] for a, s in zip(grid.axes, outer))
    shape = tuple(s.stop - s.start for s in outer)
    truth = np.broadcast_to(plane_truth[outer[1], outer[2]][None], shape).copy()
    tissue = np.broadcast_to(plane_tissue[outer[1], outer[2]][None], shape).copy()

    def sub_box(centre: np.ndarray, half: np.ndarray | float) -> tuple[tuple[slice, ...], tuple[np.ndarray, ...]]:
        sub = _sub_box(grid.slices(centre - half, centre + half), outer)
        return sub, tuple(c[s] for c, s in zip(coords, sub))

    # Fat displaced around the tumour, then the kidney with its own fat capsule — each on its own box.
    fat_reach = reach + perirenal
    fsub, fcoords = sub_box(t_centre, fat_reach + _BOX_MARGIN_MM)
    _paint_fat_ball(truth[fsub], tissue[fsub], fcoords, grid.spacing_np, t_centre, fat_reach, case.hu, rng)
    ksub, kcoords = sub_box(case.k_centre, case.k_half + _BOX_MARGIN_MM)
    _paint_kidney(truth[ksub], tissue[ksub], kcoords, grid.spacing_np, case.k_centre, case.k_rot, case.k_semi,
                  case.anat, case.hu, rng)

    sub, sub_coords = sub_box(t_centre, reach)
    tb = _tumour_on_box(case.tumour, sub_coords, grid.spacing_np, case.d, case.hu, rng)
    t_truth, t_tissue = truth[sub], tissue[sub]  # views: painting them paints the box
    fat_like = (t_tissue == Tissue.FAT) | (t_tissue == Tissue.SINUS_FAT)
    t_truth[tb.mask] = tb.truth[tb.mask]
    t_tissue[tb.mask] = np.where(tb.necrosis_weight[tb.mask] > 0.5, Tissue.TUMOUR_NECROSIS, Tissue.TUMOUR_VIABLE)
    shell = _infiltrate(t_truth, t_tissue, tb.outside_mm, tb.mask, fat_like, grid.spacing_np, case.d,
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
    stage = _check_stage(stage)
    spacing = _check_triplet(spacing, "spacing", float)
    if tumour_diameter_mm is not None and not (0 < float(tumour_diameter_mm) < 400):
        raise SettingsError(f"tumour_diameter_mm must be between 0 and 400 mm, not {tumour_diameter_mm!r}.")
    rng = np.random.default_rng(seed)
    case = _draw_case(stage, rng, assumptions, tumour_diameter_mm)
    grid = _place_grid(case, size, spacing, assumptions.grid_margin_mm)

    px, py = np.broadcast_arrays(grid.axes[2][None, :], grid.axes[1][:, None])
    plane_truth, plane_tissue = _body_plane(px, py, case.frame, case.hu, (spacing[1], spacing[0]), rng)
    scanner = _scanner_for(grid.spacing_np, 0, case.scan)
    box = _build_box(case, grid, plane_truth, plane_tissue, _pad_for(scanner), rng)
    image_np = _render(grid.shape, 0, plane_truth, box.outer, box.inner, box.truth, scanner, rng)

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


def _world_box_to_slices(
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


def _sub_box(box: tuple[slice, ...], outer: tuple[slice, ...]) -> tuple[slice, ...]:
    """``box`` (grid indices) intersected with ``outer`` and expressed relative to ``outer``."""
    out = []
    for b, o in zip(box, outer):
        start = max(b.start, o.start) - o.start
        out.append(slice(start, max(min(b.stop, o.stop) - o.start, start)))
    return tuple(out)


def _paint_fat_ball(
    truth: np.ndarray, tissue: np.ndarray, coords, spacing_np, centre: np.ndarray, radius: float,
    hu: dict[str, float], rng: np.random.Generator,
) -> None:
    """Perinephric fat displaced around the tumour: a ball with a smoothly irregular edge (in place)."""
    if truth.size == 0:
        return
    dx, dy, dz = _offsets(coords, centre)
    edge = radius + 4.0 * np.clip(_smooth_noise(truth.shape, spacing_np, 8.0, rng), -2.0, 2.0)  # ≤ +8 mm
    zone = np.sqrt(dx * dx + dy * dy + dz * dz) <= edge
    truth[zone] = hu["fat"]
    tissue[zone] = Tissue.FAT


def _paint_kidney(
    truth: np.ndarray, tissue: np.ndarray, coords, spacing_np, k_centre, k_rot, k_semi, anat, hu,
    rng: np.random.Generator,
) -> None:
    """Perirenal fat, then cortex / medulla (patchy pyramids) / sinus fat, in place on the kidney's box."""
    if truth.size == 0:
        return
    q = _in_frame(_offsets(coords, k_centre), k_rot, np.ones(3))
    semi = [float(v) for v in k_semi]
    pr = anat["perirenal_fat"]
    wobble = _smooth_noise(truth.shape, spacing_np, 10.0, rng)
    # Clipped so that the capsule reaches at most ~11 mm beyond semi + perirenal (inside the 3-D box margin).
    fat_zone = sum((q[i] / (semi[i] + pr)) ** 2 for i in range(3)) <= 1.0 + 0.15 * np.clip(wobble, -2.0, 2.0)
    truth[fat_zone] = hu["fat"]
    tissue[fat_zone] = Tissue.FAT

    rk = np.sqrt(sum((q[i] / semi[i]) ** 2 for i in range(3)))
    kidney = rk <= 1.0
    # Depth below the surface ≈ (1 − r) / |∇r| for the ellipsoid's normalised radius r.
    grad = np.sqrt(sum((q[i] / semi[i] ** 2) ** 2 for i in range(3))) / np.maximum(rk, 1e-3)
    depth = (1.0 - rk) / np.maximum(grad, 1e-6)
    pyramids = _smooth_noise(truth.shape, spacing_np, 5.0, rng)
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


def _nodule_centres(
    shape_: _TumourShape, d: dict[str, float], rng: np.random.Generator
) -> list[tuple[np.ndarray, float]]:
    """Satellite nodules: (centre 1 mm … depth outside the lobe-modulated surface, radius 1–2.5 mm)."""
    centres = []
    for _ in range(int(d["satellite_nodules"])):
        u_local = _unit_vector(rng)
        lobes = float((shape_.lobe_weight * np.exp(shape_.lobe_kappa * (shape_.lobe_dirs @ u_local - 1.0))).sum())
        surf = shape_.radius * (1.0 + shape_.lobe_amplitude * (lobes / shape_.lobe_max - shape_.lobe_mean))
        dist = surf + rng.uniform(1.0, max(1.5, d["infiltration_depth_mm"]))
        centres.append((shape_.centre + shape_.rotation @ (u_local * shape_.axis_factors * dist),
                        float(rng.uniform(1.0, 2.5))))
    return centres


def _to_image(array: np.ndarray, spacing: tuple[float, ...], origin: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return image


# ----------------------------------------------------------------------------------------------------------------
# Survival
# ----------------------------------------------------------------------------------------------------------------


def simulate_survival(
    stage: str, rng: np.random.Generator | int, *, assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS
) -> tuple[int, int]:
    """Overall survival of one synthetic patient: ``(os_time_days, os_event)``.

    Event time T ~ Weibull(shape k, scale λ_stage) with λ set so that the 5-year OS is 0.88 for T1–T2 and 0.55 for
    T3–T4 (:class:`SurvivalModel`); administrative censoring C ~ Uniform(180, 3650) days (staggered accrual up
    to a fixed cut-off). Returns (min(T, C) rounded to whole days ≥ 1, 1 if death observed else 0).
    """
    stage = _check_stage(stage)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    model = assumptions.survival
    scale = model.weibull_scale_days(stage)
    event_time = scale * (-math.log(1.0 - rng.random())) ** (1.0 / model.weibull_shape)
    censor_time = model.follow_up_days.draw(rng)
    observed = event_time <= censor_time
    return max(1, int(round(min(event_time, censor_time)))), int(observed)


# ----------------------------------------------------------------------------------------------------------------
# synthesize_ct_from_labels
# ----------------------------------------------------------------------------------------------------------------

_INTEGER_PIXEL_IDS = {
    sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32, sitk.sitkInt32,
    sitk.sitkUInt64, sitk.sitkInt64,
}


def _physical_plane(
    labels: sitk.Image, slice_axis: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Physical x and y (mm) of the voxels of the middle plane across ``slice_axis`` (numpy axis)."""
    direction = np.array(labels.GetDirection()).reshape(3, 3)
    spacing = np.array(labels.GetSpacing())
    origin = np.array(labels.GetOrigin())
    plane_axes = [a for a in range(3) if a != slice_axis]
    i0 = np.arange(shape[plane_axes[0]], dtype=np.float64)[:, None]
    i1 = np.arange(shape[plane_axes[1]], dtype=np.float64)[None, :]
    mid = (shape[slice_axis] - 1) / 2.0
    out = []
    for row in (0, 1):
        value = origin[row] + direction[row, 2 - slice_axis] * spacing[2 - slice_axis] * mid
        value = value + direction[row, 2 - plane_axes[0]] * spacing[2 - plane_axes[0]] * i0
        value = value + direction[row, 2 - plane_axes[1]] * spacing[2 - plane_axes[1]] * i1
        out.append(value.astype(np.float32))
    return out[0], out[1]


def _box_corners_xy(labels: sitk.Image, box: tuple[slice, ...]) -> np.ndarray:
    """Physical (x, y) of the 8 corners of a numpy-index box."""
    corners = []
    for a in (box[0].start, box[0].stop - 1):
        for b in (box[1].start, box[1].stop - 1):
            for c in (box[2].start, box[2].stop - 1):
                p = labels.TransformContinuousIndexToPhysicalPoint((float(c), float(b), float(a)))
                corners.append(p[:2])
    return np.array(corners)


def _body_frame_for_labels(
    px: np.ndarray, py: np.ndarray, label_corners_xy: np.ndarray, anat: dict[str, float]
) -> _BodyFrame:
    """Body centred in the field of view (as scanners centre patients), ~84 % × 64 % of it, enlarged so that the
    labelled organs and their perirenal fat lie in the visceral cavity; the spine sits between the kidneys when
    both are labelled (the labels span > 120 mm left–right), behind the organs' antero-posterior middle."""
    margin = anat["perirenal_fat"] + 5.0
    corners = np.concatenate([label_corners_xy + np.array([sx, sy]) * margin for sx in (-1, 1) for sy in (-1, 1)])
    cx, cy = 0.5 * float(px.min() + px.max()), 0.5 * float(py.min() + py.max())
    lx, ly = label_corners_xy[:, 0], label_corners_xy[:, 1]
    spine_x = 0.5 * float(lx.min() + lx.max()) if np.ptp(lx) > 120.0 else cx
    spine_y = 0.5 * float(ly.min() + ly.max()) + 5.0
    frame = _BodyFrame(cx, cy, 0.42 * float(np.ptp(px)), 0.32 * float(np.ptp(py)), anat["subcutaneous_fat"],
                       anat["muscle_wall"], spine_x, spine_y)
    return _fit_body(frame, corners)


def _union_box(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...]:
    if a is None:
        return b
    if b is None:
        return a
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def _validate_labels(labels: object, kidney_label: int, tumour_label: int) -> None:
    if not isinstance(labels, sitk.Image):
        raise ImageFormatError(f"The label image must be a SimpleITK.Image, not {type(labels).__name__}.")
    if labels.GetDimension() != 3 or labels.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFormatError(
            f"The label image must be a 3-D scalar volume; it has dimension {labels.GetDimension()} and "
            f"{labels.GetNumberOfComponentsPerPixel()} component(s) per voxel."
        )
    if labels.GetPixelID() not in _INTEGER_PIXEL_IDS:
        raise ImageFormatError(
            f"The label image must hold integer labels, not {labels.GetPixelIDTypeAsString()}; "
            "cast it to an integer type first."
        )
    if kidney_label == tumour_label or min(kidney_label, tumour_label) < 1:
        raise SettingsError(
            f"kidney_label ({kidney_label}) and tumour_label ({tumour_label}) must be two different positive labels."
        )


def synthesize_ct_from_labels(
    labels: sitk.Image,
    *,
    kidney_label: int = 1,
    tumour_label: int = 2,
    seed: int = 0,
    stage: str | None = None,
    assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS,
) -> sitk.Image:
    """A synthetic parenchymal-phase CT (int16 HU) on the grid of a kidney/tumour label image.

    Body (air, subcutaneous fat, muscle, viscera, spine, aorta, IVC) as a slice-invariant plane centred in the field
    of view and enlarged to hold the labels; perirenal fat within a few mm of kidney and tumour; renal cortex and
    medulla where ``label == kidney_label`` (cortex by depth below the organ surface); a heterogeneous tumour where
    ``label == tumour_label`` (smooth texture, necrotic core by depth below the tumour surface); then PSF blur and
    correlated noise. Works on any direction/spacing (e.g. KiTS19: slice axis first in the NIfTI, 0.5–5 mm).

    ``stage``: ``"low"``/``"high"`` draws the tumour's texture, necrosis and (high) peritumoral fat infiltration
    from that phenotype; ``None`` uses the low-stage texture/necrosis with no infiltration (stage-neutral).
    Labels other than the two given are treated as background.
    """
    _validate_labels(labels, kidney_label, tumour_label)
    pheno_stage = "low" if stage is None else _check_stage(stage)
    rng = np.random.default_rng(seed)
    arr = sitk.GetArrayViewFromImage(labels)
    shape = tuple(int(n) for n in arr.shape)
    objects = ndimage.find_objects(arr, max_label=max(kidney_label, tumour_label))
    tumour_box = objects[tumour_label - 1]
    if tumour_box is None:
        raise MaskError(
            f"The label image has no voxel with the tumour label {tumour_label}; "
            f"labels present start with {sorted(set(np.unique(arr[::4, ::4, ::4]).tolist()))[:6]}."
        )
    kidney_box = objects[kidney_label - 1]

    hu = _draw_group(assumptions.tissue, rng)
    anat = _draw_group(assumptions.anatomy, rng)
    scan = _draw_group(assumptions.scanner, rng)
    d = _draw_phenotype(assumptions.phenotype(pheno_stage), rng, None)
    if stage is None:
        d["infiltration"] = 0.0
    hu["infiltration"] = d["viable_hu"] * hu["infiltration_fraction_of_viable"]

    spacing_np = tuple(float(s) for s in reversed(labels.GetSpacing()))
    direction = np.array(labels.GetDirection()).reshape(3, 3)
    slice_axis = 2 - int(np.argmax(np.abs(direction[2, :])))  # index axis closest to superior–inferior
    scanner = _scanner_for(spacing_np, slice_axis, scan)
    pad = _pad_for(scanner)
    perirenal = anat["perirenal_fat"]

    # Body plane, centred in the field of view and large enough for the labelled organs and their fat.
    px, py = _physical_plane(labels, slice_axis, shape)
    label_box = _union_box(kidney_box, tumour_box)
    frame = _body_frame_for_labels(px, py, _box_corners_xy(labels, label_box), anat)
    plane_spacing = tuple(spacing_np[a] for a in range(3) if a != slice_axis)
    plane_truth, _ = _body_plane(px, py, frame, hu, plane_spacing, rng)

    # The 3-D box: labelled organs + perirenal fat (+ PSF context).
    grow_vox = tuple(int(math.ceil((perirenal + 2.0) / s)) for s in spacing_np)
    box_inner = _grow(label_box, grow_vox, shape)
    box_outer = _grow(box_inner, pad, shape)
    box_shape = tuple(s.stop - s.start for s in box_outer)
    lab = arr[box_outer]
    kidney = lab == kidney_label
    tumour = lab == tumour_label
    organ = kidney | tumour
    plane_box = tuple(s for a, s in enumerate(box_outer) if a != slice_axis)
    truth = np.broadcast_to(np.expand_dims(plane_truth[plane_box], slice_axis), box_shape).copy()

    organ_sd = _signed_distance(organ, spacing_np, 2.0)
    perirenal_zone = (organ_sd <= perirenal) & ~organ
    truth[perirenal_zone] = hu["fat"]
    depth = -organ_sd
    pyramids = _smooth_noise(box_shape, spacing_np, 5.0, rng)
    truth[kidney] = hu["cortex"]
    truth[kidney & (depth > anat["cortex_thickness"]) & (pyramids < 0.6)] = hu["medulla"]
    del organ_sd, depth, pyramids

    _paint_labelled_tumour(truth, tumour, perirenal_zone, box_outer, tumour_box, spacing_np, d, hu, rng)

    out = _render(shape, slice_axis, plane_truth, box_outer, box_inner, truth, scanner, rng)
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(labels)
    return image


def _paint_labelled_tumour(
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
    sd = _signed_distance(t_mask, spacing_np, 1.0)
    depth = np.maximum(-sd, 0.0)
    max_depth = max(float(depth[t_mask].max()), 1.0)
    fine = _smooth_noise(sub_shape, spacing_np, rng.uniform(2.0, 4.0), rng)
    regional = _smooth_noise(sub_shape, spacing_np, float(np.clip(0.4 * max_depth, 5.0, 15.0)), rng)
    viable = d["viable_hu"] + d["texture_sd_hu"] * (0.7 * fine + 0.7 * regional)
    score = 1.0 - depth / max_depth + 0.2 * _smooth_noise(sub_shape, spacing_np, max(3.0, 0.35 * max_depth), rng)
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
        _infiltrate(t_truth, None, sd, t_mask, fat_zone[sub], spacing_np, d, hu["infiltration"], None, [], rng)


# ----------------------------------------------------------------------------------------------------------------
# write_cohort
# ----------------------------------------------------------------------------------------------------------------


def _check_splits(splits: tuple[float, float, float]) -> np.ndarray:
    try:
        values = np.array([float(s) for s in splits], dtype=float)
    except (TypeError, ValueError):
        raise SettingsError(
            f"splits must be three fractions (train, internal_test, external), not {splits!r}."
        ) from None
    if values.shape != (3,) or np.any(values < 0) or not np.all(np.isfinite(values)) or abs(values.sum() - 1) > 0.01:
        raise SettingsError(
            f"splits must be three non-negative fractions (train, internal_test, external) summing to 1, "
            f"not {tuple(splits)!r}."
        )
    return values / values.sum()


def _largest_remainder(total: int, fractions: np.ndarray) -> list[int]:
    """Integer counts summing to ``total`` that are closest to ``total × fractions``."""
    raw = total * fractions
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def _cohort_design(n: int, fraction_high: float, splits: np.ndarray, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(stage, split) per case: the stage mix is the same in every split (stratified), case order shuffled."""
    n_high = int(round(n * fraction_high))
    design = []
    for stage, count in (("high", n_high), ("low", n - n_high)):
        for split, k in zip(SPLIT_NAMES, _largest_remainder(count, splits)):
            design += [(stage, split)] * k
    order = rng.permutation(len(design))
    return [design[i] for i in order]


def write_cohort(
    n: int,
    out_dir: Path | str,
    *,
    seed: int = 0,
    fraction_high: float = 0.33,
    splits: tuple[float, float, float] = PAPER_SPLITS,
    spacing: tuple[float, float, float] = (0.78, 0.78, 1.25),
    overwrite: bool = False,
    assumptions: PhantomAssumptions = GENERATIVE_ASSUMPTIONS,
) -> Path:
    """Write a synthetic cohort and return the path of its ``manifest.csv``.

    Layout: ``images/<case_id>.nrrd`` (int16 HU), ``masks/<case_id>.nrrd`` (uint8 0/1), both compressed NRRD;
    ``manifest.csv`` with ``case_id,image,mask,t_stage,split,os_time,os_event`` (paths relative to the manifest's
    folder); ``phantom_parameters.csv`` with every drawn parameter per case (for the model card). Stage is
    stratified across splits (default fractions = the paper's 148 / 38 / 137). Deterministic for ``seed``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise SettingsError(f"The number of cases must be a positive integer, not {n!r}.")
    try:
        fraction_ok = 0.0 <= float(fraction_high) <= 1.0
    except (TypeError, ValueError):
        fraction_ok = False
    if not fraction_ok:
        raise SettingsError(f"fraction_high must be a number between 0 and 1, not {fraction_high!r}.")
    split_fractions = _check_splits(splits)
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.csv"
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"The output folder {out_dir} is a file; choose a folder.")
    if manifest.exists() and not overwrite:
        raise OutputError(f"{manifest} already exists; choose another folder or pass overwrite=True.")
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
        (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the cohort folders in {out_dir}: {error.strerror or error}.") from None

    seed_seq = np.random.SeedSequence(int(seed))
    design = _cohort_design(int(n), float(fraction_high), split_fractions, np.random.default_rng(seed_seq.spawn(1)[0]))
    case_seeds = [int(s.generate_state(1, dtype=np.uint64)[0]) for s in seed_seq.spawn(len(design) + 1)[1:]]
    width = max(4, len(str(n)))
    rows, params = [], []
    for index, ((stage, split), case_seed) in enumerate(zip(design, case_seeds), start=1):
        case_id = f"syn{index:0{width}d}"
        phantom = make_phantom(stage, case_seed, spacing=spacing, assumptions=assumptions)
        os_time, os_event = simulate_survival(stage, np.random.default_rng([case_seed, 1]), assumptions=assumptions)
        image_rel, mask_rel = f"images/{case_id}.nrrd", f"masks/{case_id}.nrrd"
        try:
            sitk.WriteImage(phantom.image, str(out_dir / image_rel), useCompression=True)
            sitk.WriteImage(phantom.mask, str(out_dir / mask_rel), useCompression=True)
        except RuntimeError as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reason"
            raise OutputError(f"Cannot write case {case_id} into {out_dir}: {reason}") from None
        rows.append({"case_id": case_id, "image": image_rel, "mask": mask_rel, "t_stage": phantom.t_stage,
                     "split": split, "os_time": os_time, "os_event": os_event})
        params.append({"case_id": case_id, "split": split, **phantom.meta})
    _write_csv(manifest, rows)
    _write_csv(out_dir / "phantom_parameters.csv", params)
    return manifest


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as error:
        raise OutputError(f"Cannot write {path}: {error.strerror or error}.") from None
