"""Benchmark of ``ccrcc-staging radiogenomics``: wall time per stage and peak memory on planted data.

    .venv/bin/python Testing/bench/bench_radiogenomics.py [--genes 5000 2500] [--samples 500]

Each size runs in its own process (so each peak RSS is its own) through the same command users run, one after
the other in this one invocation; the last lines print the time and memory ratios between the sizes, which
are more telling than absolute seconds on a shared machine. The issue's target: 5000 genes × 500 samples in
under 5 minutes with bounded memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_one(genes: int, samples: int, folder: Path) -> dict[str, float]:
    """Generate a planted cohort and run the CLI in a child process; return seconds and peak MB."""
    from CCRCCStagingLib.synthetic.expression import planted_cohort

    sizes = tuple(int(genes * share) for share in (0.12, 0.09, 0.07, 0.05, 0.04))
    paths = planted_cohort(n_genes=genes, n_samples=samples, module_sizes=sizes, seed=1).write(folder / "data")
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(paths["expression.tsv"]), str(paths["radscores.csv"]),
         str(paths["gene_sets.gmt"]), str(folder / "out")],
        capture_output=True, text=True,
    )
    if child.returncode != 0:
        raise SystemExit(f"the run failed:\n{child.stderr}")
    elapsed = time.perf_counter() - started
    stages = json.loads(child.stdout.strip().splitlines()[-1])
    return {"seconds": elapsed, **stages}


# Runs the command in-process and reports the time of each progress stage and the peak resident memory.
_CHILD = """
import json, resource, sys, time
from CCRCCStagingLib.cli import main
import CCRCCStagingLib.commands.radiogenomics as command
marks = []
command.progress = lambda fraction, message: marks.append((time.perf_counter(), message))
expression, radscore, gmt, out = sys.argv[1:]
code = main(["radiogenomics", "--expression", expression, "--radscore", radscore, "--gene-sets", gmt,
             "--out", out, "--top-genes", "0"])
stages = {m: round(marks[i + 1][0] - t, 2) for i, (t, m) in enumerate(marks[:-1])}
print(json.dumps({"exit": code, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "stages": stages}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, nargs="+", default=[5000, 2500])
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    results = {}
    for genes in args.genes:
        with tempfile.TemporaryDirectory() as folder:
            result = run_one(genes, args.samples, Path(folder))
        results[genes] = result
        print(f"{genes} genes × {args.samples} samples: {result['seconds']:.1f} s wall (incl. start-up), "
              f"peak {result['peak_mb']:.0f} MB, exit {result['exit']}")
        for stage, seconds in result["stages"].items():
            print(f"    {seconds:7.2f} s  {stage}")
    sizes = sorted(results)
    for small, large in zip(sizes, sizes[1:]):
        print(f"{large} vs {small} genes: time × {results[large]['seconds'] / results[small]['seconds']:.2f}, "
              f"peak memory × {results[large]['peak_mb'] / results[small]['peak_mb']:.2f} "
              f"(genes² × {(large / small) ** 2:.2f})")


if __name__ == "__main__":
    main()
