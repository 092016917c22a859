"""What the ``interpolation`` setting changes: features with ``pyradiomics`` (the default: the CT's own pixel type,
as PyRadiomics resamples) against ``float`` (float32, interpolated HU kept), on the same regions.

    .venv/bin/python Testing/bench/bench_interpolation.py

int16 phantoms at three slice geometries (the setting only matters for integer CTs: on a float32 CT both settings
give the same numbers). The regions (habitats, shell) are built once with the default and used for both settings,
so the difference is the resampled CT's pixel type alone. Prints, per case and region, how many of the 1130 features
differ by more than 1e-6 (relative) and the median and 95th percentile of the relative difference (the largest is
not shown: features whose value is near zero, such as a wavelet sub-band's median, have meaningless relative
differences).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CASES = [((0.7, 0.7, 2.5), (220, 220, 50)), ((0.8, 0.8, 1.5), (200, 200, 70)), ((1.0, 1.0, 5.0), (180, 180, 30))]


def compare_case(spacing: tuple, size: tuple, seed: int) -> list[tuple[str, int, int, float, float]]:
    from CCRCCStagingLib.case.features import ExtractionSpec, extract_regions
    from CCRCCStagingLib.synthetic.phantoms import make_phantom
    from CCRCCStagingLib.case.pipeline import build_regions, resample_case
    from CCRCCStagingLib.case.regions import margin_voxels
    from CCRCCStagingLib.case.resampling import RegionSampler
    from CCRCCStagingLib.core.settings import HabitatSettings, Settings

    phantom = make_phantom("high", seed=seed, spacing=spacing, size=size, tumour_diameter_mm=35.0)
    settings = Settings(habitats=HabitatSettings(k=2))
    spec = ExtractionSpec.from_params(settings.pyradiomics_params())
    regions, _ = build_regions(resample_case(phantom.image, phantom.mask, settings), settings)
    margin = margin_voxels(settings.margin_mm, settings.resampled_spacing, int(spec.settings["padDistance"]))
    as_float = RegionSampler(phantom.image, phantom.mask, spec.settings, "float", margin)
    inputs = {
        "default": {name: regions.region_input(name) for name in regions.masks()},
        "float": {name: as_float.whole if name == "whole" else as_float.region(mask)
                  for name, mask in regions.masks().items()},
    }
    default, _ = extract_regions(inputs["default"], spec)
    floating, _ = extract_regions(inputs["float"], spec)
    rows = []
    for region in regions.masks():
        differences = {
            name: abs(floating[region][name] - value) / max(abs(value), 1e-12)
            for name, value in default[region].items()
            if value == value and floating[region][name] != value
        }
        all_differences = sorted(differences.get(n, 0.0) for n in default[region])
        rows.append((
            region, len(default[region]), sum(d > 1e-6 for d in differences.values()),
            statistics.median(all_differences), all_differences[int(0.95 * (len(all_differences) - 1))],
        ))
    return rows


def main() -> int:
    print("| CT spacing (mm) | Region | Features | Differ > 1e-6 | Median relative difference | 95th percentile |")
    print("|---|---|---:|---:|---:|---:|")
    for seed, (spacing, size) in enumerate(CASES, start=3):
        for region, total, differing, median, p95 in compare_case(spacing, size, seed):
            label = " × ".join(f"{s:g}" for s in spacing)
            print(f"| {label} | {region} | {total} | {differing} | {median:.1e} | {p95:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
