"""What a phantom is: the public result type :class:`Phantom` (CT, tumour mask, stage, drawn parameters) and the
:class:`Tissue` codes of its noiseless ground truth, which the painters of anatomy and tumour write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import SimpleITK as sitk


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
