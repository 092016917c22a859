"""The case result: one JSON-ready value that the CLI writes, the Slicer module reads and the report renders,
and the files of an analysis folder (``result.json``, ``features.csv``, ``regions.nrrd``), written atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from ..core.provenance import software_versions
from ..core.files import CT_BOX_FILE, FEATURES_FILE, REGIONS_FILE, RESULT_FILE, atomic_path, csv_safe
from .inputs import case_id_from_path
from .loading import LoadedCase
from .pipeline import CaseAnalysis
from ..core.settings import Settings


def geometry(image: sitk.Image) -> dict[str, list[float] | list[int]]:
    """Size, spacing, origin and direction of an image, JSON-ready."""
    return {
        "size": list(image.GetSize()),
        "spacing": [round(s, 6) for s in image.GetSpacing()],
        "origin": [round(o, 6) for o in image.GetOrigin()],
        "direction": [round(d, 6) for d in image.GetDirection()],
    }


def case_result(case: LoadedCase, analysis: CaseAnalysis, settings: Settings) -> dict[str, Any]:
    """The ``result.json`` content of one analysed case."""
    habitat_model = analysis.regions.habitat_model
    return {
        "case_id": case_id_from_path(case.image.path),
        "inputs": {
            "image": str(case.image.path),
            "image_kind": case.image.kind,
            "image_geometry": geometry(case.image.image),
            "mask": str(case.mask_path),
            "mask_selection": case.mask_description,
            "regions_geometry": geometry(analysis.regions.image),
            # The series' identity as it was when analysed: a report or DICOM SEG made later never reads it again.
            **({"dicom": dict(case.image.dicom_tags)} if case.image.kind == "dicom" else {}),
        },
        "regions": analysis.region_summary(),
        "habitats_k": analysis.regions.habitats_k,
        "bic": {str(k): round(v, 4) for k, v in sorted(habitat_model.bic_.items())},
        "peri_missing_fraction": round(analysis.regions.peri_missing_fraction, 6),
        "resampling": analysis.regions.resampling_summary(),
        "n_features": len(analysis.features),
        "warnings": case.warnings + analysis.warnings,
        "timings_s": analysis.timings_s,
        "software": software_versions(),
        "settings": settings.to_dict(),
    }


def write_case_outputs(out_dir: Path, result: dict[str, Any], analysis: CaseAnalysis) -> None:
    """Write ``regions.nrrd``, ``ct_box.nrrd``, ``features.csv`` and, last, ``result.json`` (its presence marks a
    complete run)."""
    with atomic_path(out_dir / REGIONS_FILE) as path:
        sitk.WriteImage(analysis.regions.labelmap(), str(path), useCompression=True)
    with atomic_path(out_dir / CT_BOX_FILE) as path:
        sitk.WriteImage(_as_int16(analysis.regions.image), str(path), useCompression=True)
    with atomic_path(out_dir / FEATURES_FILE) as path:
        write_feature_rows(path, [{"case_id": result["case_id"], **analysis.features}])
    with atomic_path(out_dir / RESULT_FILE) as path:
        path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def _as_int16(image: sitk.Image) -> sitk.Image:
    """The CT box as int16 HU for the report (rounded when the resampled CT is floating point)."""
    clamped = sitk.Clamp(image, lowerBound=-32768, upperBound=32767)
    if image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        clamped = sitk.Round(clamped)
    return sitk.Cast(clamped, sitk.sitkInt16)


def write_feature_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """A CSV with one row per case and one column per feature, columns in first-seen order."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows({key: _csv_value(value) for key, value in row.items()} for row in rows)


def _csv_value(value: Any) -> Any:
    """Full float precision (repr) so that values read back equal the computed ones; text a spreadsheet would run as
    a formula (a case id from a file name such as ``=cmd…``) neutralised."""
    return repr(value) if isinstance(value, float) else csv_safe(value)
