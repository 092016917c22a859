"""One case from files to files: what ``ccrcc-staging analyze``, ``report`` and ``demo`` run, and what the Slicer
module runs in a background process."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..case.habitats import HabitatModel
from ..case.loading import load_case
from ..case.pipeline import Progress, analyze_case
from ..case.result import case_result, write_case_outputs
from ..case.file_checks import ReadLimits
from ..core.files import DEMO_OUT, output_folder
from ..core.settings import BUNDLED_MODEL_DIR, Settings
from ..model.bundle import DeployedModel, load_deployed_model
from ..model.predict import prediction_fields, settings_for_model
from .common import model_dir, print_warnings, progress, settings_from

def analyze(
    image_path: Path,
    mask_path: Path,
    out_dir: Path,
    settings: Settings | None,
    *,
    model_dir: Path | None = None,
    all_features: bool = False,
    label: int | None = None,
    segment: str | None = None,
    overwrite: bool = False,
    progress: Progress,
    workers: int | None = None,
    mask_threshold: float | None = None,
    limits: ReadLimits = ReadLimits(),
    batch: str | None = None,
    case_id: str | None = None,
) -> dict[str, Any]:
    """Read a CT and its tumour mask, build the regions, extract the features, predict with the model (if one is
    given), write the outputs; return the result.

    ``settings`` None means the model's settings (or the defaults without a model). Without a model the habitats
    are fit on the case itself and every feature is extracted. ``workers``: processes for the feature extraction
    (``None``: ``$CCRCC_FEATURE_WORKERS`` or 1); the values do not depend on it. The output folder is locked while
    it is written; ``overwrite`` replaces the previous run's files (and only those). ``batch``: the case's scanner
    or centre, required by a ComBat-harmonised model (checked before any work). ``case_id``: the case's name in
    ``result.json`` (default: the image's file name without extensions)."""
    model = load_deployed_model(model_dir) if model_dir is not None else None
    if model is not None:
        settings = settings_for_model(model, settings)
        model.require_batch(batch)
    settings = settings or Settings()
    with output_folder(out_dir, overwrite):
        return _analyze_into(
            image_path, mask_path, out_dir, settings, model, all_features, progress, workers,
            dict(label=label, segment=segment, mask_threshold=mask_threshold, limits=limits), batch, case_id,
        )


def _analyze_into(
    image_path: Path, mask_path: Path, out_dir: Path, settings: Settings, model: DeployedModel | None,
    all_features: bool, progress: Progress, workers: int | None, reading: dict[str, Any], batch: str | None,
    case_id: str | None,
) -> dict[str, Any]:
    start = time.perf_counter()
    progress(0.0, "reading image and mask")
    case = load_case(image_path, mask_path, **reading)
    read_seconds = time.perf_counter() - start
    habitat_model = HabitatModel.from_dict(model.habitat_model) if model is not None else None
    wanted = model.features if model is not None and not all_features else None
    analysis = analyze_case(
        case.image.image, case.mask, settings, habitat_model, wanted, progress=progress, workers=workers
    )
    analysis.timings_s = {"read": round(read_seconds, 4), **analysis.timings_s}
    result = case_result(case, analysis, settings)
    if case_id is not None:
        result["case_id"] = case_id
    if model is not None:
        result.update(prediction_fields(model, analysis.features, result["warnings"], batch))
    write_case_outputs(out_dir, result, analysis)
    return result


def run_analyze(args: argparse.Namespace) -> int:
    """``analyze``: regions, habitats, features and prediction of one case, written to ``--out``; then the report."""
    result = analyze(
        Path(args.image), Path(args.mask), Path(args.out), settings_from(args), model_dir=model_dir(args),
        all_features=args.features == "all", label=args.label, segment=args.segment, overwrite=args.overwrite,
        progress=progress, workers=args.workers, mask_threshold=args.mask_threshold,
        limits=ReadLimits(max_voxels=args.max_voxels), batch=args.batch,
    )
    print_warnings(result["warnings"])
    print(summary_text(result, Path(args.out)))
    write_report_files(Path(args.out), args.report, not args.no_identifiers, args.dicom_seg)
    return 0


def run_report(args: argparse.Namespace) -> int:
    """``report``: re-render the report of a finished analysis folder (and/or export its DICOM SEG)."""
    write_report_files(Path(args.result_dir), args.format, not args.no_identifiers, args.dicom_seg)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """``demo``: analyse the sample case shipped in Resources/Sample and print a short summary."""
    from ..synthetic.sample import SEGMENT_NAME, sample_paths

    ct_path, segmentation_path = sample_paths()
    out_dir = Path(args.out)
    result = analyze(
        ct_path, segmentation_path, out_dir, None, model_dir=BUNDLED_MODEL_DIR, segment=SEGMENT_NAME,
        overwrite=args.out == DEMO_OUT, progress=progress,
    )
    print_warnings(result["warnings"])
    print(summary_text(result, out_dir))
    write_report_files(out_dir, "html", True, False)
    return 0


def write_report_files(result_dir: Path, formats: str, include_identifiers: bool, dicom_seg: bool) -> None:
    """The per-case report (``none`` for no report) and, on request, the DICOM SEG of the regions."""
    if formats != "none":
        from ..reports.case.render import render_report

        for path in render_report(result_dir, formats, include_identifiers=include_identifiers):
            print(f"report: {path}")
    if dicom_seg:
        from ..reports.dicom_seg import export_dicom_seg

        export = export_dicom_seg(result_dir)
        print_warnings(export.warnings)
        print(f"DICOM SEG: {export.path}")


def summary_text(result: dict, out_dir: Path) -> str:
    """The few lines the terminal shows after an analysis."""
    regions = result["regions"]
    lines = [
        f"{result['case_id']}: tumour {regions['whole']['volume_ml']:.1f} mL, {result['habitats_k']} habitats, "
        f"shell {regions['peri']['volume_ml']:.1f} mL, {result['n_features']} features → {out_dir}"
    ]
    if "t_stage_group" in result:
        group = "T3–T4 (high)" if result["t_stage_group"] == "high" else "T1–T2 (low)"
        lines += [
            f"  predicted T stage: {group}, P(T3–T4) = {result['probability_high']:.2f} "
            f"(threshold {result['threshold']:.2f})",
            f"  Radscore {result['radscore']:.3f} (cutoff {result['radscore_cutoff']:.3f}): {result['risk_group']} risk",
            f"  model {result['model']['id']}"
            + (" — demonstration model trained on synthetic phantoms, NOT for clinical use"
               if result["model"]["demonstration"] else ""),
        ]
    elif "prediction_withheld" in result:
        lines.append(f"  no prediction: {result['prediction_withheld']}")
    return "\n".join(lines)
