"""Real CTs through the whole case pipeline: ``ccrcc-staging analyze`` with the bundled model on the 20 soft-tissue
sarcoma CTs with expert contours of IBSI's validation set (``../shared/data/ibsi/sts_validation/nifti``).

    .venv/bin/python Testing/bench/sts_analyze.py [--out build/sts] [--cases STS_001 STS_002 …]

Each case runs as its own process, as a user runs it (reading the files, regions, the model's features, the
prediction, ``report.html``); the table gives its exit code, wall time and peak memory (the process's own high-water
resident set, from ``wait4``). These are not kidney CTs and the model is a demonstration: the predictions say
nothing; the point is that real CT texture, real contours and large tumours go through without a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STS = REPO.parent / "shared" / "data" / "ibsi" / "sts_validation" / "nifti"


def run_case(folder: Path, out: Path) -> dict:
    """One ``analyze`` in a child process: exit code, seconds, peak MB, and what ``result.json`` says."""
    command = [
        sys.executable, "-m", "CCRCCStagingLib.cli", "analyze", str(folder / "CT_image.nii.gz"),
        str(folder / "CT_mask.nii.gz"), "--out", str(out), "--overwrite",
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    stderr = process.stderr.read() if process.stderr else ""
    row = {"case": folder.name, "exit": os.waitstatus_to_exitcode(status), "seconds": seconds,
           "peak_mb": usage.ru_maxrss / 1024}
    result_path = out / "result.json"
    if row["exit"] == 0 and result_path.is_file():
        result = json.loads(result_path.read_text())
        row.update(
            tumour_ml=result["regions"]["whole"]["volume_ml"],
            habitats=result["habitats_k"],
            prediction=result.get("t_stage_group", "withheld"),
            warnings=len(result["warnings"]),
            steps=result["timings_s"],
        )
    else:
        row["error"] = [line for line in stderr.splitlines() if line.startswith(("error", "Traceback"))][-1:]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "sts")
    parser.add_argument("--cases", nargs="*", help="case folders to run (default: all)")
    args = parser.parse_args()
    if not STS.is_dir():
        print(f"reference data not available: {STS}", file=sys.stderr)
        return 2
    folders = sorted(p for p in STS.iterdir() if p.is_dir() and (not args.cases or p.name in args.cases))
    rows = []
    for folder in folders:
        print(f"[{folder.name}] …", file=sys.stderr, flush=True)
        rows.append(run_case(folder, args.out / folder.name))
    print(f"\nCommand: `.venv/bin/python Testing/bench/sts_analyze.py` — {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the end.\n")
    print("| Case | Tumour (mL) | Exit | Wall (s) | Peak (MB) | Habitats | Prediction | Warnings |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for row in sorted(rows, key=lambda r: r.get("tumour_ml", 0)):
        print(f"| {row['case']} | {row.get('tumour_ml', float('nan')):.1f} | {row['exit']} | {row['seconds']:.1f} | "
              f"{row['peak_mb']:.0f} | {row.get('habitats', '')} | {row.get('prediction', row.get('error'))} | "
              f"{row.get('warnings', '')} |")
    crashed = [row["case"] for row in rows if row["exit"] != 0]
    times = sorted(row["seconds"] for row in rows)
    print(f"\n{len(rows)} cases, {len(crashed)} not analysed {crashed}; wall time median {times[len(times) // 2]:.1f} s, "
          f"max {times[-1]:.1f} s; peak memory max {max(row['peak_mb'] for row in rows):.0f} MB.")
    (args.out / "sts_analyze.json").write_text(json.dumps(rows, indent=1))
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
