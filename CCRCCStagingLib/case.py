"""One case from files to files: what ``ccrcc-staging analyze`` and ``demo`` run, and what the Slicer module runs
in a background process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .io import load_case
from .pipeline import Progress, analyze_case
from .result import case_result, prepare_output_dir, write_case_outputs
from .settings import Settings


def analyze(
    image_path: Path,
    mask_path: Path,
    out_dir: Path,
    settings: Settings,
    *,
    label: int | None = None,
    segment: str | None = None,
    overwrite: bool = False,
    progress: Progress,
) -> dict[str, Any]:
    """Read a CT and its tumour mask, build the regions, extract the features, write the outputs; return the result."""
    prepare_output_dir(out_dir, overwrite)
    start = time.perf_counter()
    progress(0.0, "reading image and mask")
    case = load_case(image_path, mask_path, label=label, segment=segment)
    read_seconds = time.perf_counter() - start
    analysis = analyze_case(case.image.image, case.mask, settings, progress=progress)
    analysis.timings_s = {"read": round(read_seconds, 4), **analysis.timings_s}
    result = case_result(case, analysis, settings)
    write_case_outputs(out_dir, result, analysis)
    return result
