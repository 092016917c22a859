"""What the case report says, built from the typed result: sentences and tables as plain strings, shared by the HTML
page and the PDF (which only lay them out). Nothing here draws."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...core.files import FEATURES_FILE
from ...core.palette import PERITUMORAL_COLOUR, habitat_colour
from ...core.schema import CaseResult, Geometry, Prediction
from ..kit import MISSING, fmt
from .folder import CaseFolder

TITLE = "CCRCCStaging case report"
NOT_CLINICAL = "NOT FOR CLINICAL USE"
DEMONSTRATION_NOTICE = (f"{NOT_CLINICAL}: this prediction comes from a demonstration model trained on synthetic "
                        "phantoms. It has never seen a patient and must not inform any clinical decision.")
T_STAGE_TEXT = {"low": "T1–T2 (low T stage)", "high": "T3–T4 (high T stage)"}
IDENTIFIERS_OMITTED = "identifiers omitted"
#: Soft-tissue window of the key images (width, level) in HU.
WINDOW = (400.0, 40.0)
MONTAGE_CAPTION = ("Axial slices evenly spread over the tumour's extent; the distance is from the key axial slice "
                   "(positive = towards the head).")


@dataclass
class ReportContent:
    """Everything the report says, as text."""

    title: str
    case_label: str
    meta: list[tuple[str, str]]
    demonstration: bool
    #: The predicted group (``low`` / ``high``), None without a prediction.
    group: str | None
    prediction_lines: list[str]
    radscore_lines: list[str]
    habitat_lines: list[str]
    region_header: list[str]
    region_rows: list[list[str]]
    #: The colour of each region row (None for the whole tumour).
    region_colours: list[str | None]
    #: (colour, name) of every habitat and the shell: the key images' legend.
    legend: list[tuple[str, str]]
    margin_mm: float
    feature_header: list[str]
    feature_rows: list[list[str]]
    feature_ood: list[bool]
    feature_note: str
    warnings: list[str]
    model_rows: list[tuple[str, str]]
    model_card: str
    input_rows: list[tuple[str, str]]
    geometry_header: list[str]
    geometry_rows: list[list[str]]
    software_rows: list[tuple[str, str]]
    settings_rows: list[tuple[str, str]]
    timing_rows: list[tuple[str, str]]
    version: str
    generated: str


def build_content(folder: CaseFolder) -> ReportContent:
    """The report's text of an analysis folder."""
    result = folder.result
    prediction_lines, radscore_lines = prediction_text(result)
    region_header, region_rows, region_colours = region_table(result)
    feature_header, feature_rows, feature_ood, feature_note = feature_table(result)
    model_rows, model_card = model_summary(result)
    meta, case_label = _case_meta(folder)
    return ReportContent(
        title=TITLE,
        case_label=case_label,
        meta=meta,
        demonstration=result.model is not None and result.model.demonstration,
        group=result.prediction.t_stage_group if result.prediction else None,
        prediction_lines=prediction_lines,
        radscore_lines=radscore_lines,
        habitat_lines=habitat_lines(result),
        region_header=region_header,
        region_rows=region_rows,
        region_colours=region_colours,
        legend=legend(result),
        margin_mm=result.margin_mm,
        feature_header=feature_header,
        feature_rows=feature_rows,
        feature_ood=feature_ood,
        feature_note=feature_note,
        warnings=[*result.warnings, *folder.notes],
        model_rows=model_rows,
        model_card=model_card,
        input_rows=input_rows(result, folder.include_identifiers),
        geometry_header=["", "size (voxels)", "spacing (mm)", "origin (mm)", "direction"],
        geometry_rows=geometry_rows(result),
        software_rows=[(name, version) for name, version in result.software.items()],
        settings_rows=settings_rows(result.settings),
        timing_rows=timing_rows(result.timings_s),
        version=result.software.get("ccrcc-staging", ""),
        generated=dict(meta)["Report"],
    )


def _case_meta(folder: CaseFolder) -> tuple[list[tuple[str, str]], str]:
    """The header's (name, value) pairs, and the case's label for titles and footers."""
    if folder.include_identifiers:
        tags = folder.dicom_tags
        meta = [("Case", folder.result.case_id)]
        meta += [(name, _dicom_date(value) if name == "Study date" else value) for name, value in tags.items()]
        label = tags.get("Patient ID") or folder.result.case_id or "unnamed case"
    else:
        meta, label = [("Case", f"{IDENTIFIERS_OMITTED} from this report")], IDENTIFIERS_OMITTED
    meta.append(("Analysed", folder.analysed.strftime("%Y-%m-%d %H:%M")))
    meta.append(("Report", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")))
    return meta, label


def _dicom_date(value: str) -> str:
    value = value.strip()
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if re.fullmatch(r"\d{8}", value) else value


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------------------------------------ prediction


def prediction_text(result: CaseResult) -> tuple[list[str], list[str]]:
    """Sentences for the prediction box and for the Radscore."""
    prediction = result.prediction
    if prediction is not None:
        group = prediction.t_stage_group
        lines = [
            f"Predicted pathological T stage: {T_STAGE_TEXT.get(group, group)}",
            f"P(T3–T4) = {prediction.probability_high:.2f}; decision threshold {prediction.threshold:.2f} "
            f"({'at or above' if group == 'high' else 'below'} the threshold → {group} T stage).",
        ]
        return lines, radscore_text(prediction)
    if result.prediction_withheld is not None:
        return [f"No prediction: withheld ({result.prediction_withheld})."], []
    return ["No prediction (no model): the analysis ran without a model; regions and features only."], []


def radscore_text(prediction: Prediction) -> list[str]:
    if prediction.radscore is None:
        return []
    score = prediction.radscore
    cutoff = prediction.radscore_cutoff if prediction.radscore_cutoff is not None else math.nan
    risk = prediction.risk_group or ("high" if score >= cutoff else "low")
    lines = [f"Radscore {score:.3f}, cutoff {cutoff:.3f}: {risk} risk group."]
    training = [v for v in prediction.radscore_training if _finite(v)]
    if training:
        below = sum(v < score for v in training) / len(training)
        lines.append(f"Higher than {100 * below:.0f}% of the {len(training)} training cases "
                     f"(training range {min(training):.2f} to {max(training):.2f}).")
    return lines


# ------------------------------------------------------------------------------------------------ regions


def habitat_name(number: int, k: int) -> str:
    """"Habitat 1 (most enhancing)" … "Habitat K (least enhancing)"."""
    if number == 1:
        return "Habitat 1 (most enhancing)"
    if number == k:
        return f"Habitat {number} (least enhancing)"
    return f"Habitat {number}"


def shell_name(margin_mm: float) -> str:
    return f"Peritumoral shell ({margin_mm:g} mm)"


def legend(result: CaseResult) -> list[tuple[str, str]]:
    """(colour, name) of every habitat and of the shell."""
    k = len(result.habitat_labels)
    entries = [(habitat_colour(number), habitat_name(number, k)) for number, _ in result.habitat_labels]
    return [*entries, (PERITUMORAL_COLOUR, shell_name(result.margin_mm))]


def region_table(result: CaseResult) -> tuple[list[str], list[list[str]], list[str | None]]:
    """Header, rows (whole tumour, habitats, shell) and the colour of each row."""
    whole = result.regions.get("whole")
    whole_voxels = whole.voxels if whole else 0
    habitats = result.habitat_labels
    header = ["Region", "Label", "Voxels", "Volume (mL)", "Fraction of tumour"]
    rows = [["Whole tumour", f"1–{len(habitats)}" if habitats else MISSING,
             fmt(whole.voxels if whole else None), fmt(whole.volume_ml if whole else None, 2), "100%"]]
    for number, label in habitats:
        stats = result.regions.get(f"sub{number}")
        fraction = (stats.voxels if stats else 0) / whole_voxels if whole_voxels else math.nan
        rows.append([habitat_name(number, len(habitats)), str(label), fmt(stats.voxels if stats else None),
                     fmt(stats.volume_ml if stats else None, 2),
                     f"{100 * fraction:.1f}%" if math.isfinite(fraction) else MISSING])
    peri = result.regions.get("peri")
    rows.append([shell_name(result.margin_mm), str(result.peri_label), fmt(peri.voxels if peri else None),
                 fmt(peri.volume_ml if peri else None, 2), MISSING])
    return header, rows, [None, *(colour for colour, _ in legend(result))]


def habitat_lines(result: CaseResult) -> list[str]:
    lines = [f"{len(result.habitat_labels)} habitats (GMM on the tumour's enhancement; habitat 1 is the most "
             "enhancing)."]
    if result.bic:
        lines.append("BIC by K: " + ", ".join(f"K={k}: {fmt(v, 1)}" for k, v in result.bic.items()))
    missing = result.peri_missing_fraction
    if missing is not None and _finite(missing) and missing > 0:
        lines.append(f"{100 * missing:.1f}% of the peritumoral shell lies outside the CT.")
    return lines


# ------------------------------------------------------------------------------------------ model, features


def feature_table(result: CaseResult) -> tuple[list[str], list[list[str]], list[bool], str]:
    """Header, rows, out-of-distribution flags and the sentence above the table of the model's features."""
    header = ["Feature", "Value", "Training mean ± SD", "z", "Out of distribution"]
    features = result.prediction.model_features if result.prediction else ()
    rows = [
        [f.name, fmt(f.value, 4), f"{fmt(f.training_mean, 4)} ± {fmt(f.training_sd, 4)}", fmt(f.z, 2),
         "YES (|z| > 4)" if f.out_of_distribution else "no"]
        for f in features
    ]
    if features:
        note = (f"The {len(features)} features the model uses. Out of distribution: further than 4 training SDs "
                "from the training mean; such a prediction deserves extra caution.")
    else:
        count = result.n_features if result.n_features is not None else "the"
        note = f"No model: no selected features. All {count} features of every region are in {FEATURES_FILE}."
    return header, rows, [f.out_of_distribution for f in features], note


def model_summary(result: CaseResult) -> tuple[list[tuple[str, str]], str]:
    """The model card's summary rows and the full card (empty without a model)."""
    model = result.model
    if model is None:
        return [], ""
    rows = [("Model", model.id)]
    if model.sha256:
        rows.append(("SHA-256", model.sha256))
    if model.demonstration:
        rows.append(("Status", "Demonstration model trained on synthetic phantoms — not for clinical use"))
    if model.training_data:
        rows.append(("Training data", model.training_data))
    if model.intended_use:
        rows.append(("Intended use", model.intended_use))
    prediction = result.prediction
    if prediction is not None:
        rows.append(("Decision threshold", f"P(T3–T4) ≥ {prediction.threshold:.3f} → T3–T4"))
        if prediction.radscore_cutoff is not None:
            rows.append(("Radscore cutoff", f"{prediction.radscore_cutoff:.3f}"))
    return rows, prediction.model_card if prediction else ""


# ----------------------------------------------------------------------------------------- inputs, provenance


def input_rows(result: CaseResult, include_identifiers: bool) -> list[tuple[str, str]]:
    inputs = result.inputs
    kind = "DICOM series" if inputs.is_dicom else "image file"
    if include_identifiers:
        rows = [("CT", f"{inputs.image} ({kind})"), ("Tumour mask", inputs.mask)]
    else:
        rows = [("CT", kind)]
    if inputs.mask_selection:
        rows.append(("Mask selection", inputs.mask_selection))
    rows.append(("Habitats (K)", str(result.habitats_k)))
    rows.append(("Features extracted", fmt(result.n_features)))
    return rows


def geometry_rows(result: CaseResult) -> list[list[str]]:
    rows = []
    for name, geometry in (("CT", result.inputs.image_geometry), ("Regions box (1 mm)", result.inputs.regions_geometry)):
        if geometry is not None:
            rows.append([name, " × ".join(str(s) for s in geometry.size),
                         " × ".join(fmt(s, 3) for s in geometry.spacing),
                         ", ".join(fmt(o, 1) for o in geometry.origin), _direction_text(geometry)])
    return rows


def _direction_text(geometry: Geometry) -> str:
    if geometry.is_identity_direction:
        return "identity (LPS)"
    return " ".join(fmt(d, 3) for d in geometry.direction)


def settings_rows(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in settings.items():
        if key == "habitats" and isinstance(value, Mapping):
            rows.extend((f"habitats.{k}", _compact(v)) for k, v in value.items())
        else:
            rows.append((key, _compact(value)))
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return MISSING if value is None else str(value)


def timing_rows(timings: Mapping[str, float]) -> list[tuple[str, str]]:
    steps = [(step, seconds) for step, seconds in timings.items() if _finite(seconds)]
    if not steps:
        return []
    return [*((step, f"{seconds:.2f} s") for step, seconds in steps), ("total", f"{sum(s for _, s in steps):.2f} s")]
