"""``analyze`` with the bundled model on all 143 real KiTS19 geometries (whole scans, CT synthesised from labels).

    .venv/bin/python Testing/bench/kits19_analyze.py [--limit N]

Prints: cases processed, cases refused with their reason, crashes (must be 0), predictions withheld, and the
distribution of peritumoral-shell truncation and habitat sizes. Runs the library's own ``case.analyze`` on files,
as the CLI does. KiTS19 data (CC BY-NC-SA 4.0) is used only as a benchmark.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[2]
KITS = REPO.parent / "shared" / "data" / "kits19" / "segmentations"


def _silent(fraction: float, message: str) -> None:
    """No progress output."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not KITS.exists():
        print(f"KiTS19 data not found at {KITS}", file=sys.stderr)
        return 1
    from CCRCCStagingLib.commands.analyze import analyze
    from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR
    from CCRCCStagingLib.core.errors import CCRCCStagingError
    from CCRCCStagingLib.synthetic.phantoms import synthesize_ct_from_labels

    processed, refused, crashed, withheld = [], [], [], []
    missing, habitat_fraction, seconds = [], [], []
    for path in sorted(KITS.glob("case_*.nii.gz"))[: args.limit]:
        case_id = path.name[:10]
        with tempfile.TemporaryDirectory() as folder:
            ct_path = Path(folder) / f"{case_id}.nii.gz"
            sitk.WriteImage(synthesize_ct_from_labels(sitk.ReadImage(str(path)), seed=int(case_id[5:])), str(ct_path))
            start = time.perf_counter()
            try:
                result = analyze(ct_path, path, Path(folder) / "out", None, model_dir=BUNDLED_MODEL_DIR, label=2,
                                 progress=_silent)
            except CCRCCStagingError as error:
                refused.append((case_id, str(error)))
                continue
            except Exception:  # noqa: BLE001 - counted and shown: this is what the benchmark looks for
                crashed.append((case_id, traceback.format_exc(limit=3)))
                continue
            seconds.append(time.perf_counter() - start)
        processed.append(case_id)
        if "prediction_withheld" in result:
            withheld.append((case_id, result["prediction_withheld"]))
        missing.append(result["peri_missing_fraction"])
        regions = result["regions"]
        habitat_fraction.append(regions["sub1"]["voxels"] / max(regions["whole"]["voxels"], 1))
        print(f"{case_id}: {regions['whole']['volume_ml']:.1f} mL, shell missing {missing[-1]:.1%}, "
              f"sub1 {habitat_fraction[-1]:.1%}, {result.get('t_stage_group', 'withheld')}", flush=True)

    def quantiles(values: list[float]) -> str:
        q = np.percentile(values, [0, 25, 50, 75, 100]) if values else []
        return " / ".join(f"{v:.1%}" for v in q)

    print(f"\ncases processed: {len(processed)}, refused: {len(refused)}, crashes: {len(crashed)}, "
          f"predictions withheld: {len(withheld)}")
    for case_id, reason in refused + withheld:
        print(f"  {case_id}: {reason}")
    for case_id, trace in crashed:
        print(f"  CRASH {case_id}:\n{trace}")
    print(f"shell missing fraction (min / q1 / median / q3 / max): {quantiles(missing)}; "
          f"cases with a truncated shell: {sum(m > 0 for m in missing)}")
    print(f"sub1 share of the tumour (min / q1 / median / q3 / max): {quantiles(habitat_fraction)}")
    print(f"analyze time per case: median {np.median(seconds):.1f} s, max {np.max(seconds):.1f} s")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
