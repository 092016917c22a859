"""The project's one palette: the colour of habitat k and of the peritumoral shell (the same in the case report, the
DICOM SEG and the Slicer segments), the colours of the two T-stage groups, and R's WGCNA module colour names.

Habitats 1-6 and the shell are Okabe & Ito's colour-blind-safe set (black left out: it would vanish on CT), so that
Habitat k looks the same in every case and every viewer, also to colour-blind readers; habitats 7-9 (only with a
fixed K above 6) take three dark colours of Paul Tol's muted set. Every colour is saturated, so none looks like a grey
CT value. Standard library only: the Slicer module loads this in its own process.
"""

from __future__ import annotations

import re

#: Habitat colours by habitat number (1 = most enhancing), one for each of the up to 9 habitats.
HABITAT_COLOURS = (
    "#e69f00",  # orange
    "#56b4e9",  # sky blue
    "#009e73",  # bluish green
    "#cc79a7",  # reddish purple
    "#d55e00",  # vermillion
    "#0072b2",  # blue
    "#882255",  # wine
    "#999933",  # olive
    "#332288",  # indigo
)
#: The peritumoral shell: the yellow that no habitat uses.
PERITUMORAL_COLOUR = "#f0e442"
#: The predicted (or true) T-stage group: T1-T2 / low risk, T3-T4 / high risk.
LOW_GROUP_COLOUR = "#2f6db5"
HIGH_GROUP_COLOUR = "#c8352b"

#: The first 34 of R's ``standardColors()`` (435 names): module 1 (the largest) is turquoise, 2 blue, …; 0 (genes in
#: no module) is grey. R's later names ("sienna3", "skyblue3", …) are left out: matplotlib cannot draw them.
MODULE_COLOURS = (
    "turquoise", "blue", "brown", "yellow", "green", "red", "black", "pink", "magenta", "purple", "greenyellow",
    "tan", "salmon", "cyan", "midnightblue", "lightcyan", "grey60", "lightgreen", "lightyellow", "royalblue",
    "darkred", "darkgreen", "darkturquoise", "darkgrey", "orange", "darkorange", "white", "skyblue",
    "saddlebrown", "steelblue", "paleturquoise", "violet", "darkolivegreen", "darkmagenta",
)
#: The module of genes in no module.
UNASSIGNED_MODULE = "grey"

_HABITAT_REGION = re.compile(r"^sub(\d+)$")


def habitat_colour(number: int) -> str:
    """``#rrggbb`` of habitat ``number`` (1-based)."""
    if number < 1:
        raise ValueError(f"habitat numbers start at 1, not {number}")
    return HABITAT_COLOURS[(number - 1) % len(HABITAT_COLOURS)]


def region_colour(region: str) -> str:
    """``#rrggbb`` of a region of ``result.json``: ``subK`` (habitat K) or ``peri`` (the shell)."""
    if region == "peri":
        return PERITUMORAL_COLOUR
    habitat = _HABITAT_REGION.match(region)
    if habitat is None:
        raise ValueError(f"region {region!r} has no colour: only the habitats (subK) and the shell (peri) have one")
    return habitat_colour(int(habitat.group(1)))


def rgb(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` as (red, green, blue) in 0…1."""
    digits = colour.lstrip("#")
    return tuple(int(digits[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def module_colour(label: int) -> str:
    """R's ``labels2colors``: 0 → grey, 1 → turquoise, …; past :data:`MODULE_COLOURS` (label 35 on, where R goes on
    with "sienna3", …), ``module<N>``, which the report colours by number."""
    if label == 0:
        return UNASSIGNED_MODULE
    return MODULE_COLOURS[label - 1] if label <= len(MODULE_COLOURS) else f"module{label}"
