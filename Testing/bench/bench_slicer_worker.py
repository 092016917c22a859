"""From Analyze to results in the scene, for a 5 cm tumour on a 512 × 512 × 160 CT: the warm worker against one
process per case, side by side in one run. A benchmark to read, not a timed test.

    .venv/bin/python Testing/bench/bench_slicer_worker.py [--cases 4] [--no-model]

What is timed is the module's Logic (``CCRCCStagingLogic.analyze``) on MRML from the ``slicer-core`` wheel, with the
real CLI: the CT and the tumour segment written for the CLI (uncompressed NRRD), the analysis, and its outputs read
back into segments, the feature table and the parameter node — what Analyze does in Slicer, without Slicer's GUI and
with this Python instead of PythonSlicer. The cases are distinct CTs (another seed and tumour position each), as a
radiologist clicks through one case after another; the two paths alternate case by case so that both see the same
machine state. The first case through the worker includes starting it (imports); later cases reuse it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "Testing")]

SHAPE = (160, 512, 512)  # k, j, i
SPACING = (0.78, 0.78, 2.5)  # i, j, k (mm)
TUMOUR_DIAMETER_MM = 50.0
GOAL_S = 1.0


def syntheticCt(seed):
    """A CT-like volume in HU (air, fat, soft tissue, a contrast-enhanced kidney) with a heterogeneous 5 cm tumour in
    the kidney, and the tumour mask."""
    rng = np.random.default_rng(seed)
    k, j, i = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    body = ((j - 256) / 200.0) ** 2 + ((i - 256) / 240.0) ** 2
    image = np.broadcast_to(np.where(body < 1, np.where(body > 0.8, -100, 40), -1000), SHAPE).astype(np.float32)
    centre = (80 + rng.integers(-10, 10), 300 + rng.integers(-20, 20), 330 + rng.integers(-20, 20))
    kidney = (((k - centre[0]) * SPACING[2] / 55) ** 2 + ((j - centre[1]) * SPACING[1] / 35) ** 2
              + ((i - centre[2]) * SPACING[0] / 30) ** 2) < 1
    image[kidney] = 160
    radius = np.sqrt(((k - centre[0]) * SPACING[2]) ** 2 + ((j - centre[1]) * SPACING[1]) ** 2
                     + ((i - centre[2]) * SPACING[0]) ** 2)
    mask = radius < TUMOUR_DIAMETER_MM / 2
    image = np.where(mask, np.where(i > centre[2], 110, 60), image)
    image += rng.normal(0, 12, SHAPE).astype(np.float32)
    return image.astype(np.int16), mask.astype(np.uint8)


def addCases(slicer, count):
    from slicer_harness import addCase, ijkToRasMatrix

    cases = []
    for seed in range(count):
        image, mask = syntheticCt(seed)
        volumeNode, segmentationNode, segmentId = addCase(slicer, image, mask, ijkToRasMatrix(SPACING, (0, 0, 0),
                                                                                              (0, 0, 0)))
        volumeNode.SetName(f"Bench case {seed + 1}")
        cases.append((volumeNode, segmentationNode, segmentId))
    return cases


def timedAnalysis(logic, case, model):
    start = time.perf_counter()
    analysis = logic.analyze(*case, model=model)
    return time.perf_counter() - start, analysis.result.get("timings_s", {})


def measure(cases, model):
    """Seconds per case through one process per case and through the warm worker, alternating."""
    from CCRCCStagingHelpers.logic import CCRCCStagingLogic

    perProcess, worker = CCRCCStagingLogic(), CCRCCStagingLogic()
    perProcess.useWorker = False
    rows = []
    try:
        for number, case in enumerate(cases, 1):
            processSeconds, processTimings = timedAnalysis(perProcess, case, model)
            workerSeconds, workerTimings = timedAnalysis(worker, case, model)
            rows.append({"case": number, "process_s": round(processSeconds, 3), "worker_s": round(workerSeconds, 3),
                         "analysis_in_cli_s": round(sum(workerTimings.values()), 3), "cli_timings_s": workerTimings})
            print(f"case {number}: one process per case {processSeconds:6.2f} s   warm worker {workerSeconds:6.2f} s"
                  f"   (analysis inside the CLI {sum(workerTimings.values()):.2f} s: "
                  + ", ".join(f"{step} {seconds:.2f}" for step, seconds in workerTimings.items()) + ")", flush=True)
        assert worker.worker.started == 1, "the worker was restarted"
    finally:
        worker.shutdown()
        for logic in (perProcess, worker):
            logic.discardLastAnalysis()
    return rows


def summary(rows):
    later = rows[1:]
    processLater = statistics.median(row["process_s"] for row in later)
    workerLater = statistics.median(row["worker_s"] for row in later)
    return {
        "first_case": {"process_s": rows[0]["process_s"], "worker_s": rows[0]["worker_s"],
                       "worker_over_process": round(rows[0]["worker_s"] / rows[0]["process_s"], 3)},
        "later_cases_median": {"process_s": round(processLater, 3), "worker_s": round(workerLater, 3),
                               "worker_over_process": round(workerLater / processLater, 3),
                               "analysis_in_cli_s": round(statistics.median(row["analysis_in_cli_s"] for row in later),
                                                          3)},
        "goal_later_case_s": GOAL_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=4, help="cases analysed by each path (default 4; at least 2)")
    parser.add_argument("--no-model", action="store_true", help="regions and every feature, no prediction "
                        "(default: the bundled model, as Analyze in Slicer)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    from slicer_harness import MrmlApplication

    application = MrmlApplication()
    import slicer

    from CCRCCStagingHelpers.results import MODEL_BUNDLED, MODEL_NONE

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"{max(2, args.cases)} cases of {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} voxels, {TUMOUR_DIAMETER_MM:g} mm tumour; "
          f"{os.cpu_count()} CPUs, load average {load}; model: {'none' if args.no_model else 'bundled'}", flush=True)
    cases = addCases(slicer, max(2, args.cases))
    rows = measure(cases, MODEL_NONE if args.no_model else MODEL_BUNDLED)
    figures = summary(rows)
    first, later = figures["first_case"], figures["later_cases_median"]
    print(f"\nfirst case:   one process per case {first['process_s']:.2f} s, warm worker {first['worker_s']:.2f} s "
          f"(ratio {first['worker_over_process']:.2f}; the worker starts here)")
    print(f"later cases:  one process per case {later['process_s']:.2f} s, warm worker {later['worker_s']:.2f} s "
          f"(ratio {later['worker_over_process']:.2f}; median; goal ≤ {GOAL_S:.1f} s, of which the analysis inside "
          f"the CLI takes {later['analysis_in_cli_s']:.2f} s)")
    if args.json:
        args.json.write_text(json.dumps({"cases": rows, **figures}, indent=2) + "\n")
    application.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
