"""The per-case report of an analysis folder: one self-contained HTML file and an A4 PDF.

``render_report(result_dir, formats=("html", "pdf"))`` reads what ``ccrcc-staging analyze`` wrote
(``result.json``, ``regions.nrrd`` and ``ct_box.nrrd``) and writes ``report.html`` / ``report.pdf`` beside them.
Both show the same content, in this order:

* the case (identifier from DICOM PatientID or the file name, left out with ``include_identifiers=False``),
  the dates, and a prominent "not for clinical use" notice when the model is the demonstration model;
* the predicted T-stage group, its probability against the decision threshold as a gauge, and the Radscore
  against its cutoff and the training distribution (or "no prediction (no model)" / the withheld reason);
* the regions: habitat count, volumes and habitat fractions;
* key images: axial, coronal and sagittal slices through the tumour centre, CT in a soft-tissue window
  (W 400 / L 40), habitats and the peritumoral shell as fill + outline, a legend, at physical aspect ratio
  (the HTML also has a slice scroller through the tumour, plain JavaScript);
* the model's selected features (value, training mean ± SD, out-of-distribution flag), warnings, the model
  card summary; inputs and geometry, software versions, settings and timings.

The HTML is one file: images are PNG data URIs, CSS and JavaScript inline, nothing is requested from elsewhere,
so it opens offline, can be archived or mailed, and prints (print CSS). The PDF is drawn with reportlab
(platypus, DejaVu Sans from matplotlib for full Unicode) on A4; no browser is needed.

Importing this module is cheap: numpy, SimpleITK, matplotlib, Pillow and reportlab are imported inside the
functions that need them. Files are written to a temporary name and renamed, so a reader never sees half a
report.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InputFileError, OutputError, SettingsError
from ..core.files import CT_BOX_FILE, FEATURES_FILE, REGIONS_FILE, REPORT_HTML_FILE, REPORT_PDF_FILE, RESULT_FILE, write_atomically

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = ("html", "pdf")

#: Soft-tissue window of the key images (width, level) in HU.
WINDOW = (400.0, 40.0)
#: Opacity of the region fill; outlines are opaque.
FILL_ALPHA = 0.35
PERI_LABEL_DEFAULT = 10
#: Habitat colours by habitat number (1 = most enhancing), then the shell's. Saturated, so that they never
#: look like a grey CT value; the same colours are used in the DICOM SEG export.
HABITAT_COLOURS = ("#ff3b30", "#2f7bff", "#2fd158", "#ffd60a", "#bf5af2", "#ff9f0a", "#64d2ff", "#ff2d9a")
PERI_COLOUR = "#00e5e5"
LOW_COLOUR = "#2f6db5"
HIGH_COLOUR = "#c8352b"
NOT_CLINICAL = "NOT FOR CLINICAL USE"
T_STAGE_TEXT = {"low": "T1–T2 (low T stage)", "high": "T3–T4 (high T stage)"}
_DPI = 160
_OMITTED = "identifiers omitted"
_PATH_PATTERN = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[/\\][^\s'\"<>]+")


# --------------------------------------------------------------------------------------------- entry point


def render_report(
    result_dir: Path,
    formats: Sequence[str] | str = ("html",),
    include_identifiers: bool = True,
    out_dir: Path | None = None,
) -> list[Path]:
    """Write ``report.html`` and/or ``report.pdf`` for the analysis folder ``result_dir``; return their paths.

    ``formats``: any of ``"html"``, ``"pdf"`` (a comma-separated string such as ``"html,pdf"`` is accepted).
    ``include_identifiers=False`` leaves out the case identifier, DICOM patient data and every file path (paths
    and the file-name-derived case id can hold patient names), also inside warning texts. ``out_dir``: where to
    write (default: ``result_dir`` itself; created if missing).
    """
    wanted = _parse_formats(formats)
    analysis = load_analysis(Path(result_dir), include_identifiers=include_identifiers)
    target = Path(out_dir) if out_dir is not None else analysis.result_dir
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the report folder {target}: {error.strerror}.") from error
    content = _build_content(analysis)
    written = []
    if "html" in wanted:
        path = target / REPORT_HTML_FILE
        _write_atomically(path, _html(content).encode("utf-8"))
        written.append(path)
    if "pdf" in wanted:
        path = target / REPORT_PDF_FILE
        _write_atomically(path, _pdf(content))
        written.append(path)
    return written


def _parse_formats(formats: Sequence[str] | str) -> list[str]:
    if isinstance(formats, str):
        formats = [part for part in formats.split(",")]
    wanted = [str(f).strip().lower() for f in formats if str(f).strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise SettingsError(
            f"Unknown report format {', '.join(repr(f) for f in unknown) or '(none given)'}; use html, pdf or html,pdf."
        )
    return list(dict.fromkeys(wanted))


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as error:
        raise OutputError(f"Cannot write {path}: {error.strerror}.") from error


# ------------------------------------------------------------------------------------------ reading the folder


@dataclass
class Analysis:
    """An analysis folder read back: the result, the CT box and the region labels (both re-oriented to LPS)."""

    result_dir: Path
    result: dict[str, Any]
    labels: np.ndarray  # (z, y, x) uint8 on the 1 mm box, LPS
    ct: np.ndarray | None  # (z, y, x) HU, same grid; None when ct_box.nrrd is missing
    spacing: tuple[float, float, float]  # (x, y, z) mm
    include_identifiers: bool
    analysed: datetime
    identifiers: dict[str, str] = field(default_factory=dict)  # shown only with include_identifiers
    notes: list[str] = field(default_factory=list)

    @property
    def habitat_labels(self) -> list[tuple[int, int]]:
        """(habitat number, label value) for every habitat, in habitat order."""
        regions = self.result.get("regions", {})
        k = int(self.result.get("habitats_k") or 0)
        return [(h, int(regions.get(f"sub{h}", {}).get("label", h))) for h in range(1, k + 1)]

    @property
    def peri_label(self) -> int:
        return int(self.result.get("regions", {}).get("peri", {}).get("label", PERI_LABEL_DEFAULT))

    @property
    def margin_mm(self) -> float:
        return float(self.result.get("settings", {}).get("margin_mm", 3.0))

    @property
    def has_prediction(self) -> bool:
        return "t_stage_group" in self.result and "probability_high" in self.result


def load_analysis(result_dir: Path, include_identifiers: bool = True) -> Analysis:
    """Read an analysis folder written by ``ccrcc-staging analyze``."""
    import numpy as np
    import SimpleITK as sitk

    result_path = result_dir / RESULT_FILE
    if not result_path.is_file():
        raise InputFileError(
            f"{result_dir} is not a finished analysis folder (no {RESULT_FILE}); run 'ccrcc-staging analyze' first."
        )
    try:
        result = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputFileError(f"{result_path} cannot be read ({error}); run the analysis again.") from error
    if not isinstance(result, dict) or "regions" not in result:
        raise InputFileError(f"{result_path} is not a CCRCCStaging result; run the analysis again.")
    notes = []
    labels_image = _read_image(result_dir / REGIONS_FILE, "regions labelmap")
    labels_image = sitk.DICOMOrient(labels_image, "LPS")
    labels = sitk.GetArrayFromImage(labels_image).astype(np.uint8)
    ct = None
    if (result_dir / CT_BOX_FILE).is_file():
        ct_image = sitk.DICOMOrient(_read_image(result_dir / CT_BOX_FILE, "CT box"), "LPS")
        if ct_image.GetSize() == labels_image.GetSize():
            ct = sitk.GetArrayFromImage(ct_image).astype(np.float32)
        else:
            notes.append(f"{CT_BOX_FILE} does not match {REGIONS_FILE}; the key images show the regions only.")
    else:
        notes.append(f"{CT_BOX_FILE} is missing; the key images show the regions only (re-run the analysis).")
    analysis = Analysis(
        result_dir=result_dir,
        result=result,
        labels=labels,
        ct=ct,
        spacing=tuple(float(s) for s in labels_image.GetSpacing()),
        include_identifiers=include_identifiers,
        analysed=datetime.fromtimestamp(result_path.stat().st_mtime).astimezone(),
        notes=notes,
    )
    if include_identifiers:
        analysis.identifiers = _identifiers(result)
    return analysis


def _read_image(path: Path, what: str):
    import SimpleITK as sitk

    if not path.is_file():
        raise InputFileError(f"The {what} {path} is missing; run 'ccrcc-staging analyze' again.")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputFileError(f"The {what} {path} cannot be read; run 'ccrcc-staging analyze' again.") from error


_DICOM_IDENTIFIER_TAGS = {
    "0010|0020": "Patient ID",
    "0010|0010": "Patient name",
    "0008|0020": "Study date",
    "0008|0050": "Accession number",
    "0008|103e": "Series description",
}


def _identifiers(result: Mapping[str, Any]) -> dict[str, str]:
    """Case identifier and, for a DICOM CT still where it was, the patient and study tags of its series."""
    inputs = result.get("inputs", {})
    found = {"Case": str(result.get("case_id", ""))}
    if inputs.get("image_kind") == "dicom" and inputs.get("image"):
        tags = dicom_header_tags(Path(inputs["image"]))
        found.update({name: value for name, value in tags.items() if value})
    return found


def dicom_header_tags(folder: Path) -> dict[str, str]:
    """Patient and study tags of the first file of the largest DICOM series of ``folder`` ({} if unreadable)."""
    import SimpleITK as sitk

    if not folder.is_dir():
        return {}
    try:
        series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        files = max((sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), s) for s in series), key=len, default=())
        if not files:
            return {}
        reader = sitk.ImageFileReader()
        reader.SetFileName(files[0])
        reader.LoadPrivateTagsOff()
        reader.ReadImageInformation()
    except RuntimeError:
        return {}
    return {
        name: reader.GetMetaData(tag).strip()
        for tag, name in _DICOM_IDENTIFIER_TAGS.items()
        if reader.HasMetaDataKey(tag)
    }


# ------------------------------------------------------------------------------------------ privacy helpers


def _redactor(analysis: Analysis):
    """A function that removes file paths and the file-name-derived case id from a text (identifiers off)."""
    if analysis.include_identifiers:
        return lambda text: str(text)
    inputs = analysis.result.get("inputs", {})
    known = []
    for key, placeholder in (("image", "[image]"), ("mask", "[mask]")):
        value = inputs.get(key)
        if value:
            known.append((str(value), placeholder))
            known.append((str(Path(value).resolve()), placeholder))
            known.append((Path(value).name, placeholder))
    case_id = str(analysis.result.get("case_id") or "")
    if len(case_id) >= 3:
        known.append((case_id, "[case]"))
    known.sort(key=lambda item: -len(item[0]))

    def redact(text: Any) -> str:
        text = str(text)
        for value, placeholder in known:
            if value:
                text = text.replace(value, placeholder)
        return _PATH_PATTERN.sub("[path omitted]", text)

    return redact


# ------------------------------------------------------------------------------------------------- content


@dataclass
class _Content:
    analysis: Analysis
    title: str
    case_label: str
    meta: list[tuple[str, str]]
    demonstration: bool
    prediction_lines: list[str]
    radscore_lines: list[str]
    region_rows: list[list[str]]
    region_header: list[str]
    habitat_lines: list[str]
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
    figures: dict[str, bytes]  # name -> PNG
    figure_sizes: dict[str, tuple[float, float]]  # name -> inches
    key_slices: dict[str, int]
    scroller: dict[str, Any] | None


def _build_content(analysis: Analysis) -> _Content:
    result = analysis.result
    redact = _redactor(analysis)
    ids = analysis.identifiers
    case_label = (ids.get("Patient ID") or ids.get("Case") or "unnamed case") if analysis.include_identifiers else _OMITTED
    meta = []
    if analysis.include_identifiers:
        meta.append(("Case", ids.get("Case", "")))
        for name in ("Patient ID", "Patient name", "Study date", "Accession number", "Series description"):
            if ids.get(name):
                value = _dicom_date(ids[name]) if name == "Study date" else ids[name]
                meta.append((name, value))
    else:
        meta.append(("Case", "identifiers omitted from this report"))
    meta.append(("Analysed", analysis.analysed.strftime("%Y-%m-%d %H:%M")))
    meta.append(("Report", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")))
    model = result.get("model") or {}
    demonstration = bool(model.get("demonstration"))

    figures: dict[str, bytes] = {}
    sizes: dict[str, tuple[float, float]] = {}

    def keep(name: str, figure: Figure) -> None:
        figures[name] = _png(figure)
        sizes[name] = tuple(figure.get_size_inches())

    prediction_lines, radscore_lines = _prediction_text(result)
    if analysis.has_prediction:
        keep("gauge", gauge_figure(float(result["probability_high"]), float(result["threshold"])))
        if result.get("radscore") is not None:
            keep("radscore", radscore_figure(
                float(result["radscore"]), float(result.get("radscore_cutoff", 0.0)), result.get("radscore_training") or []
            ))
    region_header, region_rows, habitat_lines = _region_table(analysis)
    if analysis.habitat_labels:
        keep("fractions", fractions_figure(analysis))
    key = key_images_figure(analysis)
    keep("key_images", key.figure)
    montage = axial_montage_figure(analysis)
    if montage is not None:
        keep("montage", montage)
    feature_header, feature_rows, feature_ood, feature_note = _feature_table(result)
    warnings = [redact(w) for w in result.get("warnings", [])] + analysis.notes
    model_rows, card = _model_summary(result, redact)
    return _Content(
        analysis=analysis,
        title="CCRCCStaging case report",
        case_label=case_label,
        meta=meta,
        demonstration=demonstration,
        prediction_lines=prediction_lines,
        radscore_lines=radscore_lines,
        region_rows=region_rows,
        region_header=region_header,
        habitat_lines=habitat_lines,
        feature_header=feature_header,
        feature_rows=feature_rows,
        feature_ood=feature_ood,
        feature_note=feature_note,
        warnings=warnings,
        model_rows=model_rows,
        model_card=card,
        input_rows=_input_rows(analysis, redact),
        geometry_header=["", "size (voxels)", "spacing (mm)", "origin (mm)", "direction"],
        geometry_rows=_geometry_rows(result),
        software_rows=[(k, str(v)) for k, v in (result.get("software") or {}).items()],
        settings_rows=_settings_rows(result.get("settings") or {}, analysis.include_identifiers),
        timing_rows=_timing_rows(result.get("timings_s") or {}),
        figures=figures,
        figure_sizes=sizes,
        key_slices=key.indices,
        scroller=scroller_slices(analysis, key.indices["axial"]),
    )


def _dicom_date(value: str) -> str:
    value = value.strip()
    if re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            return "–"
        if isinstance(value, int):
            return f"{value:,}".replace(",", " ")
        magnitude = abs(value)
        if magnitude != 0 and (magnitude >= 1e5 or magnitude < 10 ** (-digits)):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _prediction_text(result: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Sentences for the prediction box and the Radscore (shared by HTML and PDF)."""
    if "t_stage_group" in result and "probability_high" in result:
        group = str(result["t_stage_group"])
        lines = [
            f"Predicted pathological T stage: {T_STAGE_TEXT.get(group, group)}",
            f"P(T3–T4) = {float(result['probability_high']):.2f}; decision threshold {float(result['threshold']):.2f} "
            f"({'at or above' if group == 'high' else 'below'} the threshold → {group} T stage).",
        ]
        radscore = []
        if result.get("radscore") is not None:
            score, cutoff = float(result["radscore"]), float(result.get("radscore_cutoff", float("nan")))
            risk = result.get("risk_group", "high" if score >= cutoff else "low")
            radscore.append(f"Radscore {score:.3f}, cutoff {cutoff:.3f}: {risk} risk group.")
            training = [float(v) for v in result.get("radscore_training") or [] if _finite(v)]
            if training:
                below = sum(v < score for v in training) / len(training)
                radscore.append(
                    f"Higher than {100 * below:.0f}% of the {len(training)} training cases "
                    f"(training range {min(training):.2f} to {max(training):.2f})."
                )
        return lines, radscore
    if "prediction_withheld" in result:
        return [f"No prediction: withheld ({result['prediction_withheld']})."], []
    return ["No prediction (no model): the analysis ran without a model; regions and features only."], []


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _region_table(analysis: Analysis) -> tuple[list[str], list[list[str]], list[str]]:
    regions = analysis.result.get("regions", {})
    whole = regions.get("whole", {})
    whole_voxels = whole.get("voxels") or 0
    header = ["Region", "Label", "Voxels", "Volume (mL)", "Fraction of tumour"]
    rows = [["Whole tumour", "1–{}".format(len(analysis.habitat_labels)) if analysis.habitat_labels else "–",
             _fmt(whole.get("voxels")), _fmt(whole.get("volume_ml"), 2), "100%"]]
    for number, label in analysis.habitat_labels:
        entry = regions.get(f"sub{number}", {})
        fraction = entry.get("voxels", 0) / whole_voxels if whole_voxels else float("nan")
        rows.append([_habitat_name(number, len(analysis.habitat_labels)), str(label), _fmt(entry.get("voxels")),
                     _fmt(entry.get("volume_ml"), 2), f"{100 * fraction:.1f}%" if math.isfinite(fraction) else "–"])
    peri = regions.get("peri", {})
    rows.append([f"Peritumoral shell ({analysis.margin_mm:g} mm)", str(analysis.peri_label), _fmt(peri.get("voxels")),
                 _fmt(peri.get("volume_ml"), 2), "–"])
    lines = [f"{len(analysis.habitat_labels)} habitats (GMM on the tumour's enhancement; habitat 1 is the most enhancing)."]
    bic = analysis.result.get("bic") or {}
    if bic:
        lines.append("BIC by K: " + ", ".join(f"K={k}: {_fmt(v, 1)}" for k, v in bic.items()))
    missing = analysis.result.get("peri_missing_fraction")
    if _finite(missing) and float(missing) > 0:
        lines.append(f"{100 * float(missing):.1f}% of the peritumoral shell lies outside the CT.")
    return header, rows, lines


def _habitat_name(number: int, k: int) -> str:
    if number == 1:
        return "Habitat 1 (most enhancing)"
    if number == k:
        return f"Habitat {number} (least enhancing)"
    return f"Habitat {number}"


def _feature_table(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[bool], str]:
    header = ["Feature", "Value", "Training mean ± SD", "z", "Out of distribution"]
    features = result.get("model_features") or []
    rows, flags = [], []
    for entry in features:
        ood = bool(entry.get("out_of_distribution"))
        rows.append([
            str(entry.get("name", "")), _fmt(entry.get("value"), 4),
            f"{_fmt(entry.get('training_mean'), 4)} ± {_fmt(entry.get('training_sd'), 4)}",
            _fmt(entry.get("z"), 2), "YES (|z| > 4)" if ood else "no",
        ])
        flags.append(ood)
    if features:
        note = (f"The {len(features)} features the model uses. Out of distribution: further than 4 training SDs "
                "from the training mean; such a prediction deserves extra caution.")
    else:
        note = (f"No model: no selected features. All {result.get('n_features', 'the')} features of every region are in "
                f"{FEATURES_FILE}.")
    return header, rows, flags, note


def _model_summary(result: Mapping[str, Any], redact) -> tuple[list[tuple[str, str]], str]:
    model = result.get("model") or {}
    if not model:
        return [], ""
    rows = [("Model", str(model.get("id", "")))]
    if model.get("sha256"):
        rows.append(("SHA-256", str(model["sha256"])))
    if model.get("demonstration"):
        rows.append(("Status", "Demonstration model trained on synthetic phantoms — not for clinical use"))
    if model.get("training_data"):
        rows.append(("Training data", str(model["training_data"])))
    if model.get("intended_use"):
        rows.append(("Intended use", str(model["intended_use"])))
    if "threshold" in result:
        rows.append(("Decision threshold", f"P(T3–T4) ≥ {float(result['threshold']):.3f} → T3–T4"))
    if "radscore_cutoff" in result:
        rows.append(("Radscore cutoff", f"{float(result['radscore_cutoff']):.3f}"))
    return [(k, redact(v)) for k, v in rows], redact(result.get("model_card") or "")


def _input_rows(analysis: Analysis, redact) -> list[tuple[str, str]]:
    inputs = analysis.result.get("inputs", {})
    kind = inputs.get("image_kind", "")
    rows = []
    if analysis.include_identifiers:
        rows.append(("CT", f"{inputs.get('image', '')} ({'DICOM series' if kind == 'dicom' else 'image file'})"))
        rows.append(("Tumour mask", str(inputs.get("mask", ""))))
    else:
        rows.append(("CT", "DICOM series" if kind == "dicom" else "image file"))
    if inputs.get("mask_selection"):
        rows.append(("Mask selection", redact(inputs["mask_selection"])))
    rows.append(("Habitats (K)", str(analysis.result.get("habitats_k", "–"))))
    rows.append(("Features extracted", _fmt(analysis.result.get("n_features"))))
    return rows


def _geometry_rows(result: Mapping[str, Any]) -> list[list[str]]:
    inputs = result.get("inputs", {})
    rows = []
    for name, key in (("CT", "image_geometry"), ("Regions box (1 mm)", "regions_geometry")):
        geometry = inputs.get(key)
        if not geometry:
            continue
        direction = geometry.get("direction", [])
        if len(direction) == 9 and all(abs(d - (1.0 if i in (0, 4, 8) else 0.0)) < 1e-6 for i, d in enumerate(direction)):
            direction_text = "identity (LPS)"
        else:
            direction_text = " ".join(_fmt(float(d), 3) for d in direction)
        rows.append([
            name, " × ".join(str(s) for s in geometry.get("size", [])),
            " × ".join(_fmt(float(s), 3) for s in geometry.get("spacing", [])),
            ", ".join(_fmt(float(o), 1) for o in geometry.get("origin", [])), direction_text,
        ])
    return rows


def _settings_rows(settings: Mapping[str, Any], include_identifiers: bool) -> list[tuple[str, str]]:
    rows = []
    for key, value in settings.items():
        if key == "params_file" and not include_identifiers and value:
            value = Path(str(value)).name
        if key == "habitats" and isinstance(value, Mapping):
            rows.extend((f"habitats.{k}", _compact(v)) for k, v in value.items())
        else:
            rows.append((key, _compact(value)))
    return rows


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return "–" if value is None else str(value)


def _timing_rows(timings: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [(step, f"{float(s):.2f} s") for step, s in timings.items() if _finite(s)]
    if rows:
        rows.append(("total", f"{sum(float(s) for s in timings.values() if _finite(s)):.2f} s"))
    return rows


# ------------------------------------------------------------------------------------------------ images


def _rgb(colour: str) -> tuple[float, float, float]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i : i + 2], 16) / 255.0 for i in (0, 2, 4))


def habitat_colour(number: int) -> str:
    """The colour of habitat ``number`` (1-based) in the report and the DICOM SEG."""
    return HABITAT_COLOURS[(number - 1) % len(HABITAT_COLOURS)]


def region_palette(analysis: Analysis) -> dict[int, tuple[float, float, float]]:
    """Label value → RGB (0..1) for every habitat and the shell."""
    palette = {label: _rgb(habitat_colour(number)) for number, label in analysis.habitat_labels}
    palette[analysis.peri_label] = _rgb(PERI_COLOUR)
    return palette


def overlay_rgb(
    hu: np.ndarray | None,
    labels: np.ndarray,
    palette: Mapping[int, tuple[float, float, float]],
    window: tuple[float, float] = WINDOW,
    alpha: float = FILL_ALPHA,
) -> np.ndarray:
    """A 2-D slice as uint8 RGB: the CT in the window (W, L), each region filled with its colour at ``alpha``
    and outlined (its border pixels, 4-neighbourhood) in the opaque colour. The shell is drawn first so that
    habitat outlines stay on top where they meet."""
    import numpy as np

    width, level = window
    if hu is None:
        grey = np.full(labels.shape, 0.15, dtype=np.float32)
    else:
        grey = np.clip((hu.astype(np.float32) - (level - width / 2.0)) / width, 0.0, 1.0)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    order = sorted(palette, key=lambda label: (label < 10, label))  # shell (10) first
    for label in order:
        colour = np.asarray(palette[label], dtype=np.float32)
        inside = labels == label
        if not inside.any():
            continue
        rgb[inside] = (1.0 - alpha) * rgb[inside] + alpha * colour
        rgb[inside & ~_erode(inside)] = colour
    return np.round(rgb * 255.0).astype(np.uint8)


def _erode(mask: np.ndarray) -> np.ndarray:
    """4-neighbourhood erosion of a 2-D mask; pixels on the image border count as border."""
    import numpy as np

    padded = np.pad(mask, 1, constant_values=False)
    return (
        padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    )


@dataclass
class Plane:
    """One key image: the 2-D arrays as drawn (rows top to bottom), the extent in mm and its axes."""

    name: str
    index: int
    labels: np.ndarray
    rgb: np.ndarray
    extent: tuple[float, float, float, float]  # left, right, bottom, top (imshow, origin="upper")
    count: int = 0  # slices of the box along this plane's normal
    axes: Axes | None = None


@dataclass
class KeyImages:
    figure: Figure
    planes: dict[str, Plane]

    @property
    def indices(self) -> dict[str, int]:
        return {name: plane.index for name, plane in self.planes.items()}


def tumour_centre(analysis: Analysis) -> tuple[int, int, int]:
    """(z, y, x) voxel of the tumour's centre of mass (habitats only), moved onto the tumour if it falls outside."""
    import numpy as np

    tumour = _tumour_mask(analysis)
    if not tumour.any():
        tumour = analysis.labels > 0
    if not tumour.any():
        return tuple(s // 2 for s in analysis.labels.shape)
    points = np.argwhere(tumour)
    centre = np.round(points.mean(axis=0)).astype(int)
    if not tumour[tuple(centre)]:
        centre = points[np.argmin(((points - centre) ** 2).sum(axis=1))]
    return tuple(int(c) for c in centre)


def _tumour_mask(analysis: Analysis) -> np.ndarray:
    import numpy as np

    labels = [label for _, label in analysis.habitat_labels]
    return np.isin(analysis.labels, labels) if labels else (analysis.labels > 0) & (analysis.labels != analysis.peri_label)


def key_planes(analysis: Analysis, centre: tuple[int, int, int] | None = None) -> dict[str, Plane]:
    """Axial, coronal and sagittal slices through the tumour centre, oriented as radiologists read them:
    axial seen from the feet (patient right on the left, anterior up), coronal from the front (right on the
    left, superior up), sagittal from the patient's left (anterior on the left, superior up)."""
    import numpy as np

    z, y, x = centre or tumour_centre(analysis)
    sx, sy, sz = analysis.spacing
    nz, ny, nx = analysis.labels.shape
    palette = region_palette(analysis)
    ct = analysis.ct
    cuts = {  # (index expression into (z, y, x), extent, slice index, slice count)
        "axial": ((z, slice(None), slice(None)), (0.0, nx * sx, ny * sy, 0.0), z, nz),
        "coronal": ((slice(None, None, -1), y, slice(None)), (0.0, nx * sx, 0.0, nz * sz), y, ny),
        "sagittal": ((slice(None, None, -1), slice(None), x), (0.0, ny * sy, 0.0, nz * sz), x, nx),
    }
    planes = {}
    for name, (cut, extent, index, count) in cuts.items():
        labels = np.ascontiguousarray(analysis.labels[cut])
        hu = None if ct is None else ct[cut]
        planes[name] = Plane(name, int(index), labels, overlay_rgb(hu, labels, palette), extent, int(count))
    return planes


_ORIENTATION_LETTERS = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


def key_images_figure(analysis: Analysis) -> KeyImages:
    """The three key images side by side at physical aspect ratio, with orientation letters, a 10 mm scale bar
    and a legend of the regions."""
    from matplotlib.patches import Patch

    planes = key_planes(analysis)
    widths = [plane.extent[1] - plane.extent[0] for plane in planes.values()]
    heights = [abs(plane.extent[3] - plane.extent[2]) for plane in planes.values()]
    panel_height = 2.45
    panel_widths = [panel_height * w / max(h, 1e-6) for w, h in zip(widths, heights)]
    total = sum(panel_widths)
    scale = min(1.0, 7.3 / total)
    panel_widths = [w * scale for w in panel_widths]
    panel_height *= scale
    legend_height = 0.55
    figure = _new_figure(sum(panel_widths) + 0.1 * (len(planes) + 1), panel_height + 0.35 + legend_height)
    fig_w, fig_h = figure.get_size_inches()
    left = 0.1
    for (name, plane), width in zip(planes.items(), panel_widths):
        axes = figure.add_axes([left / fig_w, (legend_height + 0.05) / fig_h, width / fig_w, panel_height / fig_h])
        left += width + 0.1
        axes.imshow(plane.rgb, extent=plane.extent, origin="upper", interpolation="nearest", aspect="equal")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(f"{name.capitalize()} (box slice {plane.index + 1} of {plane.count})", fontsize=8.5, pad=3)
        _orientation(axes, plane)
        _scale_bar(axes, plane)
        plane.axes = axes
    k = len(analysis.habitat_labels)
    handles = [Patch(color=habitat_colour(n), label=_habitat_name(n, k)) for n, _ in analysis.habitat_labels]
    handles.append(Patch(color=PERI_COLOUR, label=f"Peritumoral shell ({analysis.margin_mm:g} mm)"))
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=7.5, frameon=False,
                  bbox_to_anchor=(0.5, 0.0), handlelength=1.2, columnspacing=1.2)
    return KeyImages(figure, planes)


def _orientation(axes: Axes, plane: Plane) -> None:
    left, right, top, bottom = _ORIENTATION_LETTERS[plane.name]
    style = dict(transform=axes.transAxes, color="white", fontsize=7, fontweight="bold", alpha=0.85)
    axes.text(0.02, 0.5, left, ha="left", va="center", **style)
    axes.text(0.98, 0.5, right, ha="right", va="center", **style)
    axes.text(0.5, 0.98, top, ha="center", va="top", **style)
    axes.text(0.5, 0.02, bottom, ha="center", va="bottom", **style)


def _scale_bar(axes: Axes, plane: Plane) -> None:
    """A 10 mm bar near the lower left corner (y runs downward in the axial extent, upward in the others)."""
    left, right, bottom, top = plane.extent
    x = left + 0.06 * (right - left)
    y = bottom + 0.06 * (top - bottom)
    axes.plot([x, x + 10.0], [y, y], color="white", linewidth=1.5, solid_capstyle="butt")
    axes.text(x + 5.0, y, "10 mm", color="white", fontsize=6, ha="center", va="bottom")
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)


def axial_montage_figure(analysis: Analysis, count: int = 8, columns: int = 4) -> Figure | None:
    """``count`` axial slices evenly spread over the tumour's extent (the printed stand-in for the scroller),
    each labelled with its distance from the key slice."""
    import numpy as np

    tumour = _tumour_mask(analysis)
    occupied = np.flatnonzero(tumour.reshape(tumour.shape[0], -1).any(axis=1))
    if occupied.size == 0:
        return None
    centre = tumour_centre(analysis)[0]
    chosen = sorted(set(np.round(np.linspace(occupied[0], occupied[-1], min(count, occupied.size))).astype(int).tolist()))
    palette = region_palette(analysis)
    sx, sy, sz = analysis.spacing
    ny, nx = analysis.labels.shape[1:]
    rows = math.ceil(len(chosen) / columns)
    panel = 7.3 / columns
    panel_height = panel * (ny * sy) / (nx * sx)
    figure = _new_figure(7.3, rows * (panel_height + 0.22))
    fig_w, fig_h = figure.get_size_inches()
    for i, z in enumerate(chosen):
        row, column = divmod(i, columns)
        axes = figure.add_axes([
            (column * panel + 0.04) / fig_w, 1 - ((row + 1) * (panel_height + 0.22) - 0.02) / fig_h,
            (panel - 0.08) / fig_w, panel_height / fig_h,
        ])
        rgb = overlay_rgb(None if analysis.ct is None else analysis.ct[z], analysis.labels[z], palette)
        axes.imshow(rgb, extent=(0.0, nx * sx, ny * sy, 0.0), interpolation="nearest", aspect="equal")
        axes.set_xticks([])
        axes.set_yticks([])
        offset = (z - centre) * sz
        axes.set_title(f"box slice {z + 1}  ({offset:+.0f} mm)", fontsize=7, pad=2)
    return figure


#: At most this many slices in the HTML scroller (a larger tumour is shown every 2nd, 3rd … slice).
MAX_SCROLLER_SLICES = 150


def scroller_slices(analysis: Analysis, key_index: int) -> dict[str, Any] | None:
    """Axial slices through every slice that holds a region (every n-th beyond ``MAX_SCROLLER_SLICES``), as small
    PNG data URIs for the HTML scroller, with their box slice index and distance from the key slice (mm, + = head)."""
    import numpy as np

    occupied = np.flatnonzero(analysis.labels.reshape(analysis.labels.shape[0], -1).any(axis=1))
    if occupied.size == 0:
        return None
    palette = region_palette(analysis)
    first, last = int(occupied[0]), int(occupied[-1])
    step = math.ceil((last - first + 1) / MAX_SCROLLER_SLICES)
    indices = list(range(first, last + 1, step))
    sx, sy, sz = analysis.spacing
    slices = []
    for z in indices:
        rgb = overlay_rgb(None if analysis.ct is None else analysis.ct[z], analysis.labels[z], palette)
        slices.append("data:image/png;base64," + base64.b64encode(_png_array(rgb, colours=128)).decode("ascii"))
    ny, nx = analysis.labels.shape[1:]
    return {
        "slices": slices,
        "index": indices,
        "offset_mm": [round((z - key_index) * sz, 1) for z in indices],
        "count": int(analysis.labels.shape[0]),
        "start": int(np.argmin([abs(z - key_index) for z in indices])),
        "width_mm": nx * sx,
        "height_mm": ny * sy,
    }


def gauge_figure(probability: float, threshold: float) -> Figure:
    """A half-dial from 0 to 1: the low side in blue, the high side (≥ threshold) in red, a needle at the
    probability and a tick at the threshold."""
    from matplotlib.patches import Wedge

    figure = _new_figure(3.4, 2.0)
    axes = figure.add_axes([0.02, 0.02, 0.96, 0.96])
    axes.set_xlim(-1.25, 1.25)
    axes.set_ylim(-0.32, 1.2)
    axes.set_aspect("equal")
    axes.axis("off")

    def angle(p: float) -> float:
        return 180.0 * (1.0 - min(max(p, 0.0), 1.0))

    axes.add_patch(Wedge((0, 0), 1.0, angle(threshold), 180.0, width=0.28, facecolor=LOW_COLOUR, alpha=0.85))
    axes.add_patch(Wedge((0, 0), 1.0, 0.0, angle(threshold), width=0.28, facecolor=HIGH_COLOUR, alpha=0.85))
    theta = math.radians(angle(threshold))
    axes.plot([0.66 * math.cos(theta), 1.08 * math.cos(theta)], [0.66 * math.sin(theta), 1.08 * math.sin(theta)],
              color="black", linewidth=1.6)
    axes.text(1.13 * math.cos(theta), 1.13 * math.sin(theta), f"threshold {threshold:.2f}", fontsize=7,
              ha="center" if abs(math.cos(theta)) < 0.3 else ("left" if math.cos(theta) > 0 else "right"), va="bottom")
    phi = math.radians(angle(probability))
    axes.annotate("", xy=(0.9 * math.cos(phi), 0.9 * math.sin(phi)), xytext=(0, 0),
                  arrowprops=dict(arrowstyle="-|>", color="#222222", linewidth=2.0, mutation_scale=12))
    axes.add_patch(Wedge((0, 0), 0.07, 0, 360, facecolor="#222222"))
    axes.text(-1.0 + 0.14, -0.1, "0", fontsize=7, ha="center", va="top")
    axes.text(1.0 - 0.14, -0.1, "1", fontsize=7, ha="center", va="top")
    axes.text(-0.86, -0.22, "T1–T2", fontsize=7.5, ha="center", va="top", color=LOW_COLOUR, fontweight="bold")
    axes.text(0.86, -0.22, "T3–T4", fontsize=7.5, ha="center", va="top", color=HIGH_COLOUR, fontweight="bold")
    axes.text(0, -0.14, f"P(T3–T4) = {probability:.2f}", fontsize=10, ha="center", va="top", fontweight="bold")
    return figure


def radscore_figure(score: float, cutoff: float, training: Iterable[Any]) -> Figure:
    """The case's Radscore against the cutoff and the histogram of the training cases' Radscores."""
    import numpy as np

    values = np.array([float(v) for v in training if _finite(v)], dtype=float)
    figure = _new_figure(4.6, 2.0)
    axes = figure.add_axes([0.1, 0.24, 0.86, 0.62])
    low = min([score, cutoff, *(values.tolist() or [score])])
    high = max([score, cutoff, *(values.tolist() or [score])])
    pad = 0.08 * (high - low or 1.0)
    low, high = low - pad, high + pad
    axes.axvspan(low, cutoff, color=LOW_COLOUR, alpha=0.10, linewidth=0)
    axes.axvspan(cutoff, high, color=HIGH_COLOUR, alpha=0.10, linewidth=0)
    if values.size:
        axes.hist(values, bins=min(25, max(5, values.size // 4)), range=(low, high), color="#8d96a3", edgecolor="white",
                  linewidth=0.5, label=f"training cases (n = {values.size})")
    axes.axvline(cutoff, color="black", linestyle="--", linewidth=1.0, label=f"cutoff {cutoff:.2f}")
    axes.axvline(score, color=HIGH_COLOUR if score >= cutoff else LOW_COLOUR, linewidth=2.2, label=f"this case {score:.2f}")
    axes.set_xlim(low, high)
    axes.set_xlabel("Radscore", fontsize=7.5, labelpad=1)
    axes.set_ylabel("cases", fontsize=7.5)
    axes.tick_params(labelsize=7)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(fontsize=6.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                handlelength=1.4, columnspacing=1.0)
    return figure


def fractions_figure(analysis: Analysis) -> Figure:
    """One horizontal bar: the tumour divided into its habitats, in the habitat colours."""
    regions = analysis.result.get("regions", {})
    whole = regions.get("whole", {}).get("voxels") or sum(
        regions.get(f"sub{n}", {}).get("voxels", 0) for n, _ in analysis.habitat_labels
    ) or 1
    figure = _new_figure(6.4, 0.75)
    axes = figure.add_axes([0.01, 0.08, 0.98, 0.84])
    start = 0.0
    for number, _ in analysis.habitat_labels:
        fraction = regions.get(f"sub{number}", {}).get("voxels", 0) / whole
        axes.barh(0, fraction, left=start, color=habitat_colour(number), edgecolor="white", height=0.8)
        if fraction > 0.06:
            axes.text(start + fraction / 2, 0, f"H{number} {100 * fraction:.0f}%", ha="center", va="center",
                      fontsize=8, color="black", fontweight="bold")
        start += fraction
    axes.set_xlim(0, 1)
    axes.set_ylim(-0.5, 0.5)
    axes.axis("off")
    return figure


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _png_array(rgb: np.ndarray, colours: int | None = None) -> bytes:
    """PNG of a uint8 RGB array; ``colours``: reduce to a palette of that many colours (no dithering), which
    halves the size of the scroller's slices."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if colours:
        image = image.quantize(colours, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --------------------------------------------------------------------------------------------------- HTML

_CSS = """
:root { --low: #2f6db5; --high: #c8352b; --line: #dde1e6; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; font-size: 15px;
       line-height: 1.45; color: #1b1b1b; max-width: 64rem; margin: 0 auto; padding: 1.2rem 1.6rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #c9ced6; padding-bottom: .15rem; margin: 2rem 0 .7rem; }
dl.meta { display: flex; flex-wrap: wrap; gap: .2rem 1.6rem; margin: 0 0 .8rem; color: #444; }
dl.meta div { display: flex; gap: .35rem; } dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
.notice { border: 3px solid #b00020; background: #fdecee; color: #7a0015; padding: .6rem .9rem; font-weight: 700;
          font-size: 1.05rem; margin: .8rem 0; }
.research { color: #666; font-size: .85rem; }
.prediction { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem 2rem; border: 1px solid var(--line);
              border-radius: 6px; padding: .8rem 1rem; }
.prediction .group { font-size: 1.35rem; font-weight: 700; }
.prediction.high .group { color: var(--high); } .prediction.low .group { color: var(--low); }
.prediction.none .group { color: #555; }
.prediction .text { flex: 1 1 18rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #8a929c; }
table.kv th { text-align: left; font-weight: 600; white-space: nowrap; }
table.kv td { text-align: left; word-break: break-word; }
tr.ood td { background: #fff0d6; font-weight: 600; }
.swatch { display: inline-block; width: .85em; height: .85em; border-radius: 2px; margin-right: .35em;
          vertical-align: -.1em; }
figure { margin: .6rem 0 1rem; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #444; }
.print-only { display: none; }
.scroller { display: flex; flex-wrap: wrap; gap: .6rem 1.4rem; align-items: flex-start; }
.scroller img { image-rendering: pixelated; background: #000; max-width: 100%; height: auto; }
.scroller .controls { flex: 1 1 14rem; }
.scroller input[type=range] { width: 100%; }
ul.warnings li { margin: .2rem 0; }
pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .8rem; background: #f5f7f9;
      padding: .6rem .8rem; white-space: pre-wrap; word-break: break-word; }
.scroll { overflow-x: auto; }
footer { margin-top: 2.5rem; border-top: 2px solid #c9ced6; color: #555; font-size: .85rem; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .scroller-section, details > summary { display: none; }
  .print-only { display: block; }
  details { display: block; }
  h2 { break-after: avoid; }
  table, figure, .prediction, .notice { break-inside: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_MONTAGE_CAPTION = ("Axial slices evenly spread over the tumour's extent; the distance is from the key axial slice "
                   "(positive = towards the head).")

_JS = """
(function () {
  var holder = document.getElementById('slice-data');
  if (!holder) { return; }
  var data = JSON.parse(holder.textContent);
  var image = document.getElementById('scroller-image');
  var range = document.getElementById('scroller-range');
  var label = document.getElementById('scroller-label');
  function show(i) {
    i = Math.max(0, Math.min(data.slices.length - 1, i));
    image.src = data.slices[i];
    image.setAttribute('data-index', String(i));
    var offset = data.offset_mm[i];
    label.textContent = 'Axial box slice ' + (data.index[i] + 1) + ' of ' + data.count + ' (' + (i + 1) + ' of ' +
      data.slices.length + ' through the regions), ' + (offset > 0 ? '+' : '') + offset.toFixed(0) +
      ' mm from the key slice';
  }
  range.addEventListener('input', function () { show(parseInt(range.value, 10)); });
  show(parseInt(range.value, 10));
})();
"""


def _html(content: _Content) -> str:
    analysis = content.analysis
    result = analysis.result
    meta = "".join(f"<div><dt>{escape(k)}:</dt><dd>{escape(v)}</dd></div>" for k, v in content.meta)
    notice = ""
    if content.demonstration:
        notice = (f'<p class="notice" role="alert">{NOT_CLINICAL}: this prediction comes from a demonstration model '
                  "trained on synthetic phantoms. It has never seen a patient and must not inform any clinical "
                  "decision.</p>")
    title = f"{content.title} — {content.case_label}"
    sections = [
        ("prediction", "Prediction", _html_prediction(content)),
        ("regions", "Regions and habitats", _html_regions(content)),
        ("images", "Key images", _html_images(content)),
        ("features", "Selected features", _html_features(content)),
        ("warnings", "Warnings", _html_warnings(content)),
        ("model", "Model card", _html_model(content)),
        ("inputs", "Inputs and geometry", _html_inputs(content)),
        ("provenance", "Software, settings and timings", _html_provenance(content)),
    ]
    body = "\n".join(f'<section id="{anchor}"><h2>{escape(heading)}</h2>\n{html}</section>'
                     for anchor, heading, html in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{escape(content.title)}</h1><dl class=\"meta\">{meta}</dl>{notice}"
        '<p class="research">Research software reproducing Huang et al. (2026): GMM habitats and a '
        f"{analysis.margin_mm:g} mm peritumoral shell of a clear-cell renal cell carcinoma on CT → predicted "
        "pathological T stage (T1–T2 vs T3–T4). Not a medical device.</p></header>\n"
        f"{body}\n"
        f"<footer><p>CCRCCStaging {escape(str((result.get('software') or {}).get('ccrcc-staging', '')))} · "
        f"{escape(content.case_label)} · generated {escape(dict(content.meta).get('Report', ''))}. "
        "Research software, not for clinical use.</p></footer>\n"
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


def _img(content: _Content, name: str, alt: str) -> str:
    width, height = content.figure_sizes[name]
    return (f'<img src="{_data_uri(content.figures[name])}" alt="{escape(alt)}" '
            f'width="{round(width * 96)}" height="{round(height * 96)}">')


def _kv_table(rows: Iterable[tuple[str, str]], css: str = "kv") -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] | None = None,
           first_cells: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = [escape(c) for c in row]
        if first_cells and first_cells[i]:
            cells[0] = first_cells[i] + cells[0]
        body.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _html_prediction(content: _Content) -> str:
    result = content.analysis.result
    group = result.get("t_stage_group") if content.analysis.has_prediction else None
    css = group if group in ("low", "high") else "none"
    lines = content.prediction_lines
    text = f'<div class="group" id="prediction-text">{escape(lines[0])}</div>'
    text += "".join(f"<p>{escape(line)}</p>" for line in lines[1:])
    gauge = ""
    if "gauge" in content.figures:
        gauge = _img(content, "gauge", "Gauge: probability of T3–T4 against the threshold")
    html = f'<div class="prediction {css}">{gauge}<div class="text">{text}</div></div>'
    if content.radscore_lines:
        figure = ""
        if "radscore" in content.figures:
            figure = _img(content, "radscore", "Radscore of this case against the cutoff and the training cases")
        html += (f"<h3>Radscore</h3><figure>{figure}<figcaption>"
                 f"{escape(' '.join(content.radscore_lines))} The Radscore is the LASSO combination of the selected "
                 "features; the histogram shows the training cases.</figcaption></figure>")
    return html


def _swatch(colour: str) -> str:
    return f'<span class="swatch" style="background:{colour}"></span>'


def _html_regions(content: _Content) -> str:
    analysis = content.analysis
    swatches = [""] + [_swatch(habitat_colour(n)) for n, _ in analysis.habitat_labels] + [_swatch(PERI_COLOUR)]
    html = "".join(f"<p>{escape(line)}</p>" for line in content.habitat_lines)
    html += _table(content.region_header, content.region_rows, first_cells=swatches)
    if "fractions" in content.figures:
        html += f'<figure>{_img(content, "fractions", "Habitat fractions of the tumour")}' \
                "<figcaption>Habitat fractions of the tumour volume.</figcaption></figure>"
    return html


def _html_images(content: _Content) -> str:
    analysis = content.analysis
    window = f"W {WINDOW[0]:g} / L {WINDOW[1]:g}"
    html = (f'<figure>{_img(content, "key_images", "Axial, coronal and sagittal slices with habitat and shell overlays")}'
            f"<figcaption>Slices through the tumour centre on the 1 mm box around the tumour, CT window {window}; "
            "habitats and the peritumoral shell as fill and outline, at physical aspect ratio.</figcaption></figure>")
    if "montage" in content.figures:
        html += (f'<figure class="print-only">{_img(content, "montage", "Axial slices through the tumour")}'
                 f"<figcaption>{escape(_MONTAGE_CAPTION)}</figcaption></figure>")
    scroller = content.scroller
    if scroller:
        scale = min(6.0, max(2.0, 320.0 / max(scroller["width_mm"], scroller["height_mm"], 1.0)))  # ≈ 320 px
        width, height = round(scroller["width_mm"] * scale), round(scroller["height_mm"] * scale)
        data = json.dumps({k: scroller[k] for k in ("slices", "index", "offset_mm", "count")})
        start = scroller["start"]
        html += (
            '<div class="scroller-section"><h3>Scroll through the tumour</h3><div class="scroller">'
            f'<img id="scroller-image" src="{scroller["slices"][start]}" width="{width}" height="{height}" '
            f'data-index="{start}" alt="Axial slice with habitat and shell overlays">'
            '<div class="controls">'
            f'<label for="scroller-range">Axial slices through the regions (drag, or use the arrow keys)</label><br>'
            f'<input type="range" id="scroller-range" min="0" max="{len(scroller["slices"]) - 1}" step="1" value="{start}">'
            f'<p id="scroller-label">Axial box slice {scroller["index"][start] + 1} of {scroller["count"]}</p>'
            + "".join(f'<div>{_swatch(habitat_colour(n))}{escape(_habitat_name(n, len(analysis.habitat_labels)))}</div>'
                      for n, _ in analysis.habitat_labels)
            + f'<div>{_swatch(PERI_COLOUR)}Peritumoral shell ({analysis.margin_mm:g} mm)</div>'
            "</div></div></div>"
            f'<script type="application/json" id="slice-data">{data}</script>'
        )
    return html


def _html_features(content: _Content) -> str:
    html = f"<p>{escape(content.feature_note)}</p>"
    if content.feature_rows:
        html += _table(content.feature_header, content.feature_rows, ["ood" if f else "" for f in content.feature_ood])
    return html


def _html_warnings(content: _Content) -> str:
    if not content.warnings:
        return "<p>No warnings.</p>"
    return '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in content.warnings) + "</ul>"


def _html_model(content: _Content) -> str:
    if not content.model_rows:
        return "<p>No model was used: no prediction.</p>"
    html = _kv_table(content.model_rows)
    if content.model_card:
        html += f"<details><summary>Full model card</summary><pre>{escape(content.model_card)}</pre></details>"
    return html


def _html_inputs(content: _Content) -> str:
    return _kv_table(content.input_rows) + _table(content.geometry_header, content.geometry_rows)


def _html_provenance(content: _Content) -> str:
    return (
        "<h3>Software</h3>" + _kv_table(content.software_rows)
        + "<h3>Settings</h3>" + _kv_table(content.settings_rows)
        + "<h3>Timings</h3>" + (_kv_table(content.timing_rows) if content.timing_rows else "<p>–</p>")
    )


# ---------------------------------------------------------------------------------------------------- PDF

_FONT = "DejaVuSans"
_FONT_BOLD = "DejaVuSans-Bold"


def _register_fonts() -> None:
    """DejaVu Sans from matplotlib's own data (full Unicode: –, ±, ≥, →, ρ) for reportlab."""
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT in pdfmetrics.getRegisteredFontNames():
        return
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(_FONT, str(fonts / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(_FONT_BOLD, str(fonts / "DejaVuSans-Bold.ttf")))
    addMapping(_FONT, 0, 0, _FONT)
    addMapping(_FONT, 1, 0, _FONT_BOLD)
    addMapping(_FONT, 0, 1, _FONT)
    addMapping(_FONT, 1, 1, _FONT_BOLD)


#: The PDF's pages, in order (each starts on a new page); the tests check these headings.
PDF_PAGES = ("1. Summary", "2. Key images", "3. Model, features and warnings", "4. Inputs, software and settings")


def _pdf(content: _Content) -> bytes:
    try:
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.platypus import (
            Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle,
        )
    except ImportError as error:
        raise OutputError(
            "The PDF report needs the reportlab package (pip install 'reportlab>=4,<6'); the HTML report does not."
        ) from error
    _register_fonts()
    analysis = content.analysis
    base = ParagraphStyle("base", fontName=_FONT, fontSize=8.8, leading=11.5)
    small = ParagraphStyle("small", parent=base, fontSize=7.6, leading=9.6, textColor=colors.HexColor("#444444"))
    cell = ParagraphStyle("cell", parent=base, fontSize=7.6, leading=9.4)
    cell_bold = ParagraphStyle("cellbold", parent=cell, fontName=_FONT_BOLD)
    h1 = ParagraphStyle("h1", parent=base, fontName=_FONT_BOLD, fontSize=16, leading=20, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=base, fontName=_FONT_BOLD, fontSize=12, leading=15, spaceBefore=4, spaceAfter=4,
                        textColor=colors.HexColor("#1b1b1b"))
    h3 = ParagraphStyle("h3", parent=base, fontName=_FONT_BOLD, fontSize=9.6, leading=12, spaceBefore=6, spaceAfter=3)
    group = analysis.result.get("t_stage_group") if analysis.has_prediction else None
    group_colour = {"high": HIGH_COLOUR, "low": LOW_COLOUR}.get(group, "#555555")
    big = ParagraphStyle("big", parent=base, fontName=_FONT_BOLD, fontSize=13, leading=16,
                         textColor=colors.HexColor(group_colour))
    notice_style = ParagraphStyle("notice", parent=base, fontName=_FONT_BOLD, fontSize=9.6, leading=12.5,
                                  textColor=colors.HexColor("#7a0015"))
    width = A4[0] - 30 * mm

    def p(text: str, style=base) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    def image(name: str, max_width: float) -> Image:
        w_in, h_in = content.figure_sizes[name]
        w = min(max_width, w_in * 72)
        return Image(io.BytesIO(content.figures[name]), width=w, height=w * h_in / w_in)

    grid = TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), _FONT), ("FONTSIZE", (0, 0), (-1, -1), 7.6),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#dde1e6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ])

    def table(header: Sequence[str] | None, rows: Sequence[Sequence[str]], widths: Sequence[float] | None = None,
              highlight: Sequence[bool] | None = None, swatches: Sequence[str | None] | None = None) -> Table:
        data = []
        if header:
            data.append([p(h, cell_bold) for h in header])
        for row in rows:
            data.append([p(c, cell) for c in row])
        t = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1 if header else 0)
        style = TableStyle(grid.getCommands())
        if header:
            style.add("LINEBELOW", (0, 0), (-1, 0), 0.9, colors.HexColor("#8a929c"))
        offset = 1 if header else 0
        for i, flag in enumerate(highlight or []):
            if flag:
                style.add("BACKGROUND", (0, i + offset), (-1, i + offset), colors.HexColor("#fff0d6"))
        for i, colour in enumerate(swatches or []):
            if colour:
                style.add("LINEBEFORE", (0, i + offset), (0, i + offset), 5, colors.HexColor(colour))
        t.setStyle(style)
        return t

    def kv(rows: Sequence[tuple[str, str]], key_width: float = 46 * mm) -> Table:
        data = [[p(k, cell_bold), p(v, cell)] for k, v in rows]
        t = Table(data, colWidths=[key_width, width - key_width], hAlign="LEFT")
        t.setStyle(grid)
        return t

    story: list[Any] = [p(content.title, h1)]
    story.append(p("   ·   ".join(f"{k}: {v}" for k, v in content.meta), small))
    story.append(Spacer(1, 4))
    if content.demonstration:
        box = Table([[p(f"{NOT_CLINICAL}: this prediction comes from a demonstration model trained on synthetic "
                        "phantoms. It has never seen a patient and must not inform any clinical decision.", notice_style)]],
                    colWidths=[width])
        box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 2, colors.HexColor("#b00020")),
                                 ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fdecee")),
                                 ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
        story += [box, Spacer(1, 4)]
    story.append(p(PDF_PAGES[0], h2))
    prediction_text = [p(content.prediction_lines[0], big)] + [p(line) for line in content.prediction_lines[1:]]
    if "gauge" in content.figures:
        row = Table([[image("gauge", 62 * mm), prediction_text]], colWidths=[66 * mm, width - 66 * mm])
        row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story.append(row)
    else:
        story += prediction_text
    if content.radscore_lines:
        story.append(p("Radscore", h3))
        if "radscore" in content.figures:
            story.append(image("radscore", 120 * mm))
        story += [p(line) for line in content.radscore_lines]
    story.append(p("Regions and habitats", h3))
    story += [p(line) for line in content.habitat_lines]
    swatches = [None] + [habitat_colour(n) for n, _ in analysis.habitat_labels] + [PERI_COLOUR]
    story.append(table(content.region_header, content.region_rows, [62 * mm, 18 * mm, 25 * mm, 28 * mm, 35 * mm],
                       swatches=swatches))
    if "fractions" in content.figures:
        story.append(image("fractions", width))

    story += [PageBreak(), p(PDF_PAGES[1], h2), image("key_images", width)]
    story.append(p(f"Slices through the tumour centre on the 1 mm box around the tumour, CT window W {WINDOW[0]:g} / "
                   f"L {WINDOW[1]:g}; habitats and the {analysis.margin_mm:g} mm peritumoral shell as fill and outline, "
                   "at physical aspect ratio. Axial seen from the feet, coronal from the front, sagittal from the "
                   "patient's left.", small))
    if "montage" in content.figures:
        story += [Spacer(1, 6), image("montage", width), p(_MONTAGE_CAPTION + " The HTML report has a slice scroller "
                                                           "through every slice.", small)]

    story += [PageBreak(), p(PDF_PAGES[2], h2), p("Selected features", h3), p(content.feature_note, small)]
    if content.feature_rows:
        story.append(table(content.feature_header, content.feature_rows,
                           [86 * mm, 20 * mm, 37 * mm, 12 * mm, 25 * mm], highlight=content.feature_ood))
    story.append(p("Warnings", h3))
    story += [p(f"• {w}") for w in content.warnings] or [p("No warnings.")]
    story.append(p("Model card (summary)", h3))
    if content.model_rows:
        story.append(kv(content.model_rows))
        story.append(p("The full model card is in the HTML report and in the model folder (MODEL_CARD.md).", small))
    else:
        story.append(p("No model was used: no prediction."))

    story += [PageBreak(), p(PDF_PAGES[3], h2), p("Inputs", h3), kv(content.input_rows), p("Geometry", h3),
              table(content.geometry_header, content.geometry_rows, [34 * mm, 28 * mm, 36 * mm, 40 * mm, 42 * mm])]
    story += [p("Software", h3), kv(content.software_rows)]
    story += [p("Settings", h3), kv(content.settings_rows)]
    story += [KeepTogether([p("Timings", h3), kv(content.timing_rows) if content.timing_rows else p("–")])]

    footer = f"CCRCCStaging case report · {content.case_label} · research software, not for clinical use"

    def on_page(canvas, document) -> None:
        canvas.saveState()
        canvas.setFont(_FONT, 7)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(15 * mm, 9 * mm, footer)
        canvas.drawRightString(A4[0] - 15 * mm, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm, bottomMargin=16 * mm,
        title=f"{content.title} — {content.case_label}", author="CCRCCStaging", subject="CCRCCStaging case report",
        creator="CCRCCStaging",
    )
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
