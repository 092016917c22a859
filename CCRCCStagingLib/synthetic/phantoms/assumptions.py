"""Every generative assumption of the phantoms (the ONE place the model card cites) and the per-case draws from them.

Distributions are frozen dataclasses of :class:`Dist`; :data:`GENERATIVE_ASSUMPTIONS` holds the defaults and
:func:`assumptions_markdown` renders them as the table the README's model card cites. Low- and high-stage phenotypes
overlap on purpose, so stage is only probabilistically recoverable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from ...core.errors import SettingsError

#: The two T-stage groups: "low" = T1–T2, "high" = T3–T4.
STAGES = ("low", "high")


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
        """The CDF and its inverse of a continuous kind (normal, lognormal, beta)."""
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
    """A uniform distribution (short, so that the tables below read as tables)."""
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


#: The two T-stage groups side by side, field by field: (low, T1–T2), (high, T3–T4).
_PHENOTYPES: dict[str, tuple[Dist, Dist]] = {
    "diameter_mm": (Dist("lognormal", 38.0, 0.42, lo=12.0, hi=120.0, unit="mm"),
                    Dist("lognormal", 58.0, 0.42, lo=20.0, hi=130.0, unit="mm")),
    "centre_offset_radii": (_u(-0.6, 0.5), _u(-0.4, 0.6)),
    "elongation": (_u(0.0, 0.2), _u(0.0, 0.25)),
    "lobulation_amplitude": (_u(0.0, 0.10), _u(0.04, 0.20)),
    "lobe_count": (Dist("poisson", 2.0, lo=1.0, hi=10.0), Dist("poisson", 4.0, lo=1.0, hi=12.0)),
    "margin_roughness_mm": (_u(0.0, 0.6, "mm"), _u(0.3, 1.5, "mm")),
    "necrosis_fraction": (Dist("beta", 1.2, 11.0, lo=0.0, hi=0.7), Dist("beta", 2.0, 6.0, lo=0.0, hi=0.7)),
    "pseudocapsule": (Dist("bernoulli", 0.45), Dist("bernoulli", 0.15)),
    # Low: inflammatory stranding / oedema, the T3a mimic; high: T3 without visible fat invasion (vein-only,
    # microscopic) is common.
    "infiltration": (Dist("bernoulli", 0.30), Dist("bernoulli", 0.65)),
    "infiltration_depth_mm": (_u(1.0, 3.0, "mm"), _u(1.5, 5.0, "mm")),
    "infiltration_coverage": (_u(0.05, 0.20), _u(0.08, 0.35)),
    "satellite_nodules": (Dist("poisson", 0.3, hi=8.0), Dist("poisson", 2.5, hi=12.0)),
    "viable_hu": (Dist("normal", 140.0, 18.0, lo=100.0, hi=180.0, unit="HU"),
                  Dist("normal", 135.0, 18.0, lo=100.0, hi=180.0, unit="HU")),
    "texture_sd_hu": (_u(10.0, 22.0, "HU"), _u(14.0, 28.0, "HU")),
}
LOW_PHENOTYPE = StagePhenotype(**{name: pair[0] for name, pair in _PHENOTYPES.items()})
HIGH_PHENOTYPE = StagePhenotype(
    **{name: pair[1] for name, pair in _PHENOTYPES.items()},
    sub_stage_probabilities=(("T3a", 0.80), ("T3b", 0.10), ("T3c", 0.02), ("T4", 0.08)),
)


@dataclass(frozen=True)
class PhantomAssumptions:
    """Every generative assumption of the synthetic cohort (cited by the README's model card)."""

    low: StagePhenotype = LOW_PHENOTYPE
    high: StagePhenotype = HIGH_PHENOTYPE
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


def check_stage(stage: str) -> str:
    """``stage`` normalised to ``"low"`` or ``"high"``; anything else is a :class:`SettingsError`."""
    s = str(stage).strip().lower()
    if s not in STAGES:
        raise SettingsError(f"Stage must be 'low' (T1–T2) or 'high' (T3–T4), not {stage!r}.")
    return s


def _draw_group(group: object, rng: np.random.Generator) -> dict[str, float]:
    """Draw every :class:`Dist` field of a dataclass, in field order (deterministic for the stream)."""
    return {name: getattr(group, name).draw(rng) for name in type(group).__dataclass_fields__
            if isinstance(getattr(group, name), Dist)}


def _draw_phenotype(pheno: StagePhenotype, rng: np.random.Generator, diameter_mm: float | None) -> dict[str, float]:
    """The tumour phenotype of one case; without infiltration there is no coverage and no satellite nodule."""
    values = _draw_group(pheno, rng)
    if diameter_mm is not None:
        values["diameter_mm"] = float(diameter_mm)
    if not values["infiltration"]:
        values["infiltration_coverage"] = 0.0
        values["satellite_nodules"] = 0.0
    return values


def draw_sub_stage(pheno: StagePhenotype, diameter_mm: float, rng: np.random.Generator) -> str:
    """The TNM sub-stage: drawn from the phenotype's probabilities, or by size cut-offs when it has none.

    The uniform is drawn either way, so the stream stays aligned whichever branch is taken."""
    u = rng.random()
    if not pheno.sub_stage_probabilities:
        return t_stage_from_diameter(diameter_mm)
    labels = [s for s, _ in pheno.sub_stage_probabilities]
    probs = np.array([p for _, p in pheno.sub_stage_probabilities], dtype=float)
    idx = int(np.searchsorted(np.cumsum(probs / probs.sum()), u, side="right"))
    return labels[min(idx, len(labels) - 1)]


def draw_case_parameters(
    assumptions: PhantomAssumptions, stage: str, rng: np.random.Generator, diameter_mm: float | None = None
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, float]]:
    """``(hu, anat, scan, d)``: tissue densities, anatomy, scanner and tumour phenotype of one case, drawn in this
    fixed order (``diameter_mm`` overrides the drawn diameter). ``hu["infiltration"]`` follows from the drawn
    viable-tumour HU: strands are partial-volumed tumour in fat."""
    hu = _draw_group(assumptions.tissue, rng)
    anat = _draw_group(assumptions.anatomy, rng)
    scan = _draw_group(assumptions.scanner, rng)
    d = _draw_phenotype(assumptions.phenotype(stage), rng, diameter_mm)
    hu["infiltration"] = d["viable_hu"] * hu["infiltration_fraction_of_viable"]
    return hu, anat, scan, d
