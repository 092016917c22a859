"""The yardstick for "equals PyRadiomics": PyRadiomics' own ``execute()`` on files, as a researcher runs it.

Nothing of the project is used to compute the reference: the CT file as given, the tumour mask file as given (for
``whole``), and ``regions.nrrd`` with each derived region's label (``sub1``…, ``peri``) — the file that *defines*
those regions — are handed to ``RadiomicsFeatureExtractor(params).execute``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

#: Relative tolerance of "equal to PyRadiomics" (issue 14); shape surface sums differ at ~1e-13 (summation order).
RELATIVE_TOLERANCE = 1e-6


def execute(params: dict[str, Any], image: Path, mask: Path, label: int = 1) -> dict[str, float]:
    """``RadiomicsFeatureExtractor(params).execute(image, mask, label=label)`` without the diagnostics."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    result = RadiomicsFeatureExtractor(dict(params)).execute(str(image), str(mask), label=label)
    return {name: float(value) for name, value in result.items() if not name.startswith("diagnostics")}


def execute_regions(
    params: dict[str, Any], image: Path, mask: Path, regions: Path, labels: dict[str, int], mask_label: int = 1
) -> dict[str, float | None]:
    """``<region>_<feature>`` for ``whole`` (the mask file) and every region of ``labels`` (its label in the
    ``regions`` file). A region PyRadiomics refuses maps to ``{"<region>": None}``."""
    values: dict[str, float | None] = {}
    for region, (path, label) in {"whole": (mask, mask_label), **{r: (regions, k) for r, k in labels.items()}}.items():
        try:
            result = execute(params, image, path, label)
        except ValueError:  # PyRadiomics refuses the region (too small, one voxel, …)
            values[region] = None
            continue
        values.update({f"{region}_{name}": value for name, value in result.items()})
    return values


def relative_difference(value: float, expected: float) -> float:
    """|value − expected| / |expected| (0 when both are the same number or both NaN)."""
    if value == expected or (math.isnan(value) and math.isnan(expected)):
        return 0.0
    return abs(value - expected) / max(abs(expected), 1e-12)


def compare(values: dict[str, float], expected: dict[str, float | None]) -> tuple[int, float, str]:
    """(number of features compared, worst relative difference, its name); every expected feature must be there."""
    features = {name: value for name, value in expected.items() if value is not None}
    missing = sorted(set(features) - set(values))
    assert not missing, f"PyRadiomics gives features the project does not: {missing[:5]}"
    extra = sorted(set(values) - set(features))
    assert not extra, f"the project gives features PyRadiomics does not: {extra[:5]}"
    worst_name = max(features, key=lambda name: relative_difference(values[name], features[name]), default="")
    worst = relative_difference(values[worst_name], features[worst_name]) if worst_name else 0.0
    return len(features), worst, worst_name
