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

Modules, one per concern (every public name is re-exported here, so ``from CCRCCStagingLib.synthetic.phantoms
import X`` works for all of them):

* ``assumptions`` – the distributions, :data:`GENERATIVE_ASSUMPTIONS`, the model-card table and the per-case draws.
* ``result`` – :class:`Phantom` and the :class:`Tissue` codes of its noiseless truth.
* ``fields`` – smooth random fields, correlated noise and signed distances on voxel grids.
* ``geometry`` – rotations, directions, rotated frames and world boxes as voxel slices.
* ``anatomy`` – the slice-invariant body plane and the kidney with its perirenal fat.
* ``tumour`` – tumour shape, texture, necrosis, satellite nodules and peritumoral infiltration.
* ``rendering`` – PSF blur and correlated noise, plane + box, to int16 HU.
* ``generator`` – :func:`make_phantom`: draw a case, place its grid, paint and render it.
* ``survival`` – :func:`simulate_survival`.
* ``from_labels`` – :func:`synthesize_ct_from_labels`.
* ``cohort`` – :func:`write_cohort`.
"""

from .assumptions import (
    GENERATIVE_ASSUMPTIONS,
    STAGES,  # noqa: F401 (public before the split)
    Anatomy,
    Dist,
    PhantomAssumptions,
    ScannerModel,
    StagePhenotype,
    SurvivalModel,
    TissueDensities,
    assumptions_markdown,
    t_stage_from_diameter,
)
from .cohort import PAPER_SPLITS, SPLIT_NAMES, write_cohort
from .from_labels import synthesize_ct_from_labels
from .generator import GENERATOR_VERSION, make_phantom  # noqa: F401 (GENERATOR_VERSION: public before the split)
from .rendering import HU_MAX, HU_MIN  # noqa: F401 (public before the split)
from .result import Phantom, Tissue
from .survival import simulate_survival

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
