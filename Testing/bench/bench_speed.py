"""Speed benchmark (issues 8, 14): the project's extraction against plain PyRadiomics, side by side in one run.

    .venv/bin/python Testing/bench/bench_speed.py            # 5 cm and 9 cm cases, 3 runs each, cohort throughput
    .venv/bin/python Testing/bench/bench_speed.py --quick    # smoke run: one small case, 1 run, a 2-case cohort

Phantoms with 5 cm and 9 cm tumours on a 512 × 512 × 160 grid at 0.78 × 0.78 × 1.25 mm. Every measurement runs in a
subprocess of its own (its peak memory is that process tree's, sampled, and at least its own high-water RSS) that
loads the data first and then times ``--runs`` repetitions; the table gives the median:

- reference: PyRadiomics ``execute()`` as a researcher runs it, once per region with the project's parameters, on
  the files: the CT file and the tumour mask file (``whole``), the CT file and ``regions.nrrd`` with each derived
  region's label (sub1…subK, peri; ``Testing/pyradiomics_reference.py``); the regions file comes from the project
  (written once, not timed);
- analyze: ``analyze_case`` with the model's habitat model and its feature list (targeted extraction), plus the
  model's prediction when a model is used; from the loaded image and mask to the result;
- full: ``analyze_case`` with every feature of every region (1 process, and ``--workers`` worker processes);
- cohort: ``extract_cohort`` on a generated cohort (``phantoms.write_cohort``) with 1 and 2 jobs, in cases per minute.

The project's values are compared with the reference's for every feature the project computed (relative difference
``|a - b| / max(|b|, 1e-12)``, must be ≤ 1e-6). The model: ``--model DIR``; by default the bundled model when it
exists, else :data:`PLACEHOLDER_FEATURES` with a habitat model fit on the case itself (K = ``--habitats``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "Testing"))

#: Until the bundled model exists: 13 features over sub1 and peri, original / wavelet / LoG, every feature class.
#: Replace by the bundled model's list (or pass --model DIR) when it exists.
PLACEHOLDER_FEATURES = [
    "sub1_original_firstorder_Mean",
    "sub1_original_glcm_Idmn",
    "sub1_original_shape_Maximum3DDiameter",
    "sub1_wavelet-LLH_glszm_SizeZoneNonUniformityNormalized",
    "sub1_wavelet-HLL_firstorder_Skewness",
    "sub1_log-sigma-2-0-mm-3D_glrlm_RunEntropy",
    "sub1_log-sigma-3-0-mm-3D_ngtdm_Busyness",
    "peri_original_firstorder_Entropy",
    "peri_original_gldm_DependenceNonUniformityNormalized",
    "peri_wavelet-LHH_glcm_Correlation",
    "peri_wavelet-LLL_glrlm_GrayLevelNonUniformity",
    "peri_log-sigma-1-0-mm-3D_glszm_ZoneEntropy",
    "peri_original_shape_Sphericity",
]
TOLERANCE = 1e-6
GRID = (512, 512, 160)
SPACING = (0.78, 0.78, 1.25)


# ---------------------------------------------------------------------------------------------------------- measuring


class PeakMemory:
    """Peak resident memory (MB) of this process and its children, sampled every 20 ms; at least this process's own
    high-water mark (``ru_maxrss``, exact for a single process)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    def _sample(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.wait(0.02):
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total / 2**20)


def measure(args: argparse.Namespace) -> None:
    """One measurement in this (sub)process: load the case, time ``--runs`` repetitions, write a JSON report."""
    import SimpleITK as sitk

    from CCRCCStagingLib.case.habitats import HabitatModel
    from CCRCCStagingLib.core.settings import Settings

    import radiomics

    radiomics.setVerbosity(logging.ERROR)  # PyRadiomics' own INFO/WARNING chatter (its import resets the level)
    config = json.loads(Path(args.config).read_text())
    settings = Settings.from_dict(config["settings"])
    report: dict[str, Any] = {"kind": args.measure, "times": []}
    with PeakMemory() as memory:
        if args.measure == "cohort":
            from CCRCCStagingLib.training.cohort import extract_cohort

            for run in range(args.runs):
                out = Path(config["work"]) / f"cohort-{args.jobs[0]}-{run}" / "features.csv"
                start = time.perf_counter()
                summary = extract_cohort(
                    Path(config["manifest"]), out, settings, jobs=args.jobs[0], show_progress=False
                )
                report["times"].append(time.perf_counter() - start)
                report["cases"] = summary.n_cases
                report["failed"] = summary.n_failed
        else:
            case = Path(args.case)
            image = sitk.ReadImage(str(case / "image.nrrd"))
            mask = sitk.ReadImage(str(case / "mask.nrrd"))
            habitat_model = HabitatModel.from_dict(json.loads((case / "habitats.json").read_text()))
            if args.measure == "reference":
                run_once = _reference_run(case, image, mask, settings, habitat_model)
            else:
                model = None
                if args.measure == "analyze" and config.get("model_dir"):
                    from CCRCCStagingLib.model.bundle import load_deployed_model

                    model = load_deployed_model(Path(config["model_dir"]))
                wanted = config["features"] if args.measure == "analyze" else None
                run_once = _project_run(image, mask, settings, habitat_model, wanted, model)
            for run in range(args.runs):
                start, cpu = time.perf_counter(), time.process_time()
                values, details = run_once()
                report["times"].append(time.perf_counter() - start)
                report.setdefault("cpu_times", []).append(time.process_time() - cpu)
                if run == 0:
                    report["values"] = values
                for step, seconds in details.pop("steps", {}).items():
                    report.setdefault("step_times", {}).setdefault(step, []).append(seconds)
                report.update(details)
    report["steps"] = {step: statistics.median(times) for step, times in report.pop("step_times", {}).items()}
    report["peak_mb"] = memory.peak
    Path(args.report).write_text(json.dumps(report))


def _reference_run(case: Path, image: Any, mask: Any, settings: Any, habitat_model: Any) -> Any:
    """PyRadiomics ``execute()`` on the files, once per region; ``regions.nrrd`` is written here first (not timed)."""
    import SimpleITK as sitk
    from pyradiomics_reference import execute_regions

    from CCRCCStagingLib.case.pipeline import build_regions, resample_case

    regions, _ = build_regions(resample_case(image, mask, settings), settings, habitat_model)
    sitk.WriteImage(regions.labelmap(), str(case / "regions.nrrd"))
    labels = {name: regions.region_label(name) for name in regions.masks() if name != "whole"}
    params = settings.pyradiomics_params()

    def run() -> tuple[dict, dict]:
        values = execute_regions(params, case / "image.nrrd", case / "mask.nrrd", case / "regions.nrrd", labels)
        return {name: value for name, value in values.items() if value is not None}, {}

    return run


def _project_run(image: Any, mask: Any, settings: Any, habitat_model: Any, wanted: list | None, model: Any) -> Any:
    """``analyze_case`` (and the model's prediction, when there is a model) from the loaded image and mask."""
    from CCRCCStagingLib.case.pipeline import analyze_case

    def run() -> tuple[dict, dict]:
        analysis = analyze_case(image, mask, settings, habitat_model, wanted)
        details: dict[str, Any] = {"steps": analysis.timings_s, "warnings": analysis.warnings}
        if model is not None:
            details["prediction"] = model.predict(analysis.features).t_stage_group
        return analysis.features, details

    return run


# ------------------------------------------------------------------------------------------------------------ driving


def run_measurement(
    kind: str, config_path: Path, report_path: Path, runs: int, case: Path | None = None, jobs: int = 1,
    workers: int = 1,
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--measure", kind, "--config", str(config_path), "--report", str(report_path),
        "--runs", str(runs), "--jobs", str(jobs),
    ]
    if case is not None:
        command += ["--case", str(case)]
    env = {**os.environ, "CCRCC_FEATURE_WORKERS": str(workers)}
    subprocess.run(command, check=True, env=env, cwd=REPO)
    return json.loads(report_path.read_text())


def write_case(folder: Path, diameter_mm: float, stage: str, seed: int, grid: tuple, settings: Any,
               habitats_k: int, model: Any) -> None:
    """The phantom's image and mask (uncompressed NRRD) and the habitat model every measurement applies."""
    import SimpleITK as sitk

    from CCRCCStagingLib.case.habitats import HabitatModel
    from CCRCCStagingLib.synthetic.phantoms import make_phantom
    from CCRCCStagingLib.case.pipeline import resample_case

    folder.mkdir(parents=True, exist_ok=True)
    phantom = make_phantom(stage, seed, size=grid, spacing=SPACING, tumour_diameter_mm=diameter_mm)
    sitk.WriteImage(phantom.image, str(folder / "image.nrrd"), useCompression=False)
    sitk.WriteImage(phantom.mask, str(folder / "mask.nrrd"), useCompression=False)
    if model is not None:
        habitats = model.habitat_model
    else:
        resampled = resample_case(phantom.image, phantom.mask, settings)
        habitats = HabitatModel(k=habitats_k, seed=0).fit([resampled.habitat_input()]).to_dict()
    (folder / "habitats.json").write_text(json.dumps(habitats))


def compare(project: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
    """Every feature the project computed, against the reference: worst relative difference, identical count."""
    missing = sorted(set(project) - set(reference))
    worst, worst_name, identical = 0.0, "", 0
    for name, value in project.items():
        if name not in reference:
            continue
        expected = reference[name]
        if value == expected or (math.isnan(value) and math.isnan(expected)):
            identical += 1
            continue
        relative = abs(value - expected) / max(abs(expected), 1e-12)
        if not relative <= worst:
            worst, worst_name = relative, name
    compared = len(project) - len(missing)
    return {"compared": compared, "identical": identical, "worst": worst, "worst_name": worst_name,
            "missing": missing, "ok": not missing and worst <= TOLERANCE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: one small case, 1 run, a 2-case cohort")
    parser.add_argument("--runs", type=int, default=3, help="repetitions per measurement (median reported)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[50.0, 90.0], help="tumour diameters (mm)")
    parser.add_argument("--habitats", type=int, default=2, help="K of the habitat model when no model is used")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model if any)")
    parser.add_argument("--no-model", action="store_true", help="use PLACEHOLDER_FEATURES even if a model exists")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the second full extraction")
    parser.add_argument("--cohort", type=int, default=6, help="cases of the generated cohort (0: skip)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="cohort jobs to measure")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    # Internal: one measurement in a subprocess.
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
        return 0
    return drive(args)


def drive(args: argparse.Namespace) -> int:
    from CCRCCStagingLib.core.settings import HabitatSettings, Settings

    grid = GRID
    if args.quick:
        args.runs, args.sizes, args.cohort, grid = 1, [30.0], min(args.cohort, 2), (256, 256, 96)
    model_dir = None if args.no_model else (args.model or _bundled_model_dir())
    model = None
    if model_dir is not None:
        from CCRCCStagingLib.model.bundle import load_deployed_model
        from CCRCCStagingLib.model.predict import settings_for_model

        model = load_deployed_model(model_dir)
        settings = settings_for_model(model, None)
        features = model.features
    else:
        settings = Settings(habitats=HabitatSettings(k=args.habitats))
        features = PLACEHOLDER_FEATURES
    work = args.work or Path(tempfile.mkdtemp(prefix="ccrcc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = {"settings": settings.to_dict(), "features": features, "model_dir": str(model_dir) if model_dir else None,
              "work": str(work)}
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config, default=str))
    load_before = os.getloadavg()
    rows, cohort_rows, checks = [], [], []

    for index, diameter in enumerate(args.sizes):
        label = f"{diameter / 10:g} cm"
        case = work / f"case-{diameter:g}mm"
        print(f"[{label}] writing the phantom …", file=sys.stderr, flush=True)
        stage = "low" if diameter < 70 else "high"
        write_case(case, diameter, stage, 100 + index, grid, settings, args.habitats, model)
        results = {}
        plan = [("reference", 1), ("analyze", 1), ("full", 1)]
        if args.workers > 1:
            plan.append(("full", args.workers))
        for kind, workers in plan:
            name = kind if workers == 1 else f"{kind}-{workers}"
            print(f"[{label}] {name} × {args.runs} …", file=sys.stderr, flush=True)
            results[name] = run_measurement(kind, config_path, work / f"{case.name}-{name}.json", args.runs, case,
                                            workers=workers)
        reference = results["reference"]
        ref_median = statistics.median(reference["times"])
        for name, result in results.items():
            median = statistics.median(result["times"])
            check = compare(result["values"], reference["values"]) if name != "reference" else None
            if check is not None:
                checks.append((label, name, check))
            rows.append({
                "case": label, "measurement": name, "median_s": median, "runs": len(result["times"]),
                "cpu_s": statistics.median(result["cpu_times"]),
                "peak_mb": result["peak_mb"], "ratio": ref_median / median, "check": check,
                "steps": result.get("steps", {}), "features": len(result["values"]),
            })

    if args.cohort > 0:
        from CCRCCStagingLib.synthetic.phantoms import write_cohort

        print(f"[cohort] writing {args.cohort} cases …", file=sys.stderr, flush=True)
        manifest = write_cohort(args.cohort, work / "cohort", seed=7, overwrite=True)
        cohort_config = dict(config, manifest=str(manifest))
        cohort_config_path = work / "cohort-config.json"
        cohort_config_path.write_text(json.dumps(cohort_config, default=str))
        for jobs in args.jobs:
            print(f"[cohort] extract with {jobs} job(s) …", file=sys.stderr, flush=True)
            result = run_measurement("cohort", cohort_config_path, work / f"cohort-{jobs}.json", 1, jobs=jobs)
            minutes = result["times"][0] / 60
            cohort_rows.append({"jobs": jobs, "cases": result["cases"], "failed": result["failed"],
                                "minutes": minutes, "per_min": result["cases"] / minutes, "peak_mb": result["peak_mb"]})

    print_tables(rows, cohort_rows, args, features, model_dir, load_before, os.getloadavg())
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cohort": cohort_rows}, indent=1, default=str))
    failed = [(label, name, c) for label, name, c in checks if not c["ok"]]
    for label, name, check in failed:
        print(f"VALUE CHECK FAILED [{label} {name}]: worst {check['worst']:.3g} at {check['worst_name']}; "
              f"missing {check['missing'][:5]}", file=sys.stderr)
    return 1 if failed else 0


def _bundled_model_dir() -> Path | None:
    from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR

    return BUNDLED_MODEL_DIR if (BUNDLED_MODEL_DIR / "model.json").is_file() else None


DESCRIPTIONS = {
    "reference": "reference: PyRadiomics `execute()` on the CT file, once per region",
    "analyze": "`analyze_case`, model's features (targeted)",
    "full": "`analyze_case`, all features of all regions, 1 process",
}


def print_tables(rows: list, cohort_rows: list, args: argparse.Namespace, features: list, model_dir: Path | None,
                 load_before: tuple, load_after: tuple) -> None:
    command = "Testing/bench/bench_speed.py" + (" --quick" if args.quick else "")
    source = f"model {model_dir}" if model_dir else f"{len(features)} placeholder features, habitats K={args.habitats}"
    print(f"\nCommand: `.venv/bin/python {command}` — {os.cpu_count()} CPUs, {platform.python_version()}, "
          f"load average {load_before[0]:.1f} → {load_after[0]:.1f}; {source}; median of {args.runs} run(s).\n")
    print("| Case | Measurement | Median (s) | CPU of its process (s) | Peak memory (MB) | Reference / this | "
          "Values vs reference |")
    print("|---|---|---:|---:|---:|---:|---|")
    for row in rows:
        name = row["measurement"]
        description = DESCRIPTIONS.get(name, f"`analyze_case`, all features of all regions, {name.split('-')[-1]} "
                                             "worker processes")
        check = row["check"]
        if check is None:
            verdict = f"{row['features']} features"
        else:
            verdict = (f"{check['compared']} compared, {check['identical']} identical, worst "
                       f"{check['worst']:.1e} {'✓' if check['ok'] else '✗'}")
        steps = row["steps"]
        if name != "reference" and steps:
            description += " (" + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()) + ")"
        ratio = "1" if name == "reference" else f"{row['ratio']:.1f}×"
        print(f"| {row['case']} | {description} | {row['median_s']:.2f} | {row['cpu_s']:.2f} | {row['peak_mb']:.0f} | "
              f"{ratio} | {verdict} |")
    if cohort_rows:
        print("\n| Cohort (`extract_cohort`, generated phantoms) | Cases | Minutes | Cases / minute | "
              "Peak memory (MB) |")
        print("|---|---:|---:|---:|---:|")
        for row in cohort_rows:
            failed = f" ({row['failed']} failed)" if row["failed"] else ""
            print(f"| {row['jobs']} job(s) | {row['cases']}{failed} | {row['minutes']:.2f} | {row['per_min']:.1f} | "
                  f"{row['peak_mb']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
