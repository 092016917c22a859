"""What the panel shows: texts from ``result.json``, segment names and colours, features from ``features.csv``,
and the region settings of a model folder (read from its ``model.json``, plain JSON: nothing of the model is run
in Slicer's process).

The result is read through the library's typed schema and the segments take the library's one palette (the
report's and the DICOM SEG's colours): ``CCRCCStagingLib.core``'s schema, palette and privacy modules, which need
only the standard library, are the part of the library loaded into Slicer's process; everything else runs in the
CLI's child process.
"""

import csv
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from . import AnalysisError


def _makeLibraryImportable():
    """Put the folder holding ``CCRCCStagingLib`` on sys.path when it is not importable yet: it lies beside the module
    in the installed extension (Slicer's module folder, on the path already), one level up in a source checkout."""
    if importlib.util.find_spec("CCRCCStagingLib") is not None:
        return
    moduleDir = Path(__file__).resolve().parents[1]
    for candidate in (moduleDir, moduleDir.parent):
        if (candidate / "CCRCCStagingLib" / "__init__.py").is_file():
            sys.path.append(str(candidate))
            return


_makeLibraryImportable()

from CCRCCStagingLib.core import palette  # noqa: E402
from CCRCCStagingLib.core.schema import CaseResult  # noqa: E402

DEMONSTRATION_MODEL_NOTICE = "Demonstration model, not for clinical use."
NO_MODEL_TEXT = "No prediction: this result was computed without a model."

#: Where the model comes from: the one bundled with the extension, a folder the user picks, or none (regions and
#: features only). The order is that of the panel's model combo box.
MODEL_BUNDLED, MODEL_FOLDER, MODEL_NONE = "bundled", "folder", "none"
MODEL_CHOICES = (MODEL_BUNDLED, MODEL_FOLDER, MODEL_NONE)
#: The bundled model's folder name in Resources/Models (CCRCCStagingLib.core.settings.BUNDLED_MODEL_DIR; a test checks).
BUNDLED_MODEL_ID = "ccrcc-demo-synthetic-v1"
MODEL_MANIFEST = "manifest.json"
MODEL_DESCRIPTION = "model.json"

_HABITAT_REGION = re.compile(r"^sub(\d+)$")


def caseResult(result):
    """The typed result (``CCRCCStagingLib.core.schema.CaseResult``) of a ``result.json`` dict (or the typed result
    itself)."""
    return result if isinstance(result, CaseResult) else CaseResult.from_dict(result)


def resultSummary(result):
    """Texts for the Results panel from a ``result.json`` dict; None for what the result does not hold.

    The prediction (group, probability, Radscore …) is there only when a model predicted; the model whenever one was
    used (also when the prediction was withheld, with the reason).
    """
    typed = caseResult(result)
    summary = {"tStage": None, "radscore": None, "notice": None, "model": None, "noPrediction": None}
    prediction = typed.prediction
    if prediction is not None:
        group = {"low": "T1–T2", "high": "T3–T4"}[prediction.t_stage_group]
        summary["tStage"] = f"{group} (P(T3–T4) = {prediction.probability_high:.2f}, threshold {prediction.threshold:.2f})"
        if prediction.radscore is not None:
            summary["radscore"] = (f"{prediction.radscore:.3f} (cutoff {prediction.radscore_cutoff:.3f}): "
                                   f"{prediction.risk_group}-risk group")
    if typed.prediction_withheld is not None:
        summary["noPrediction"] = f"Prediction withheld: {typed.prediction_withheld}"
    elif prediction is None:
        summary["noPrediction"] = NO_MODEL_TEXT
    if typed.model is not None:
        sha = typed.model.sha256
        summary["model"] = typed.model.id + (f" (SHA-256 {sha[:12]}…)" if sha else "")
        if typed.model.demonstration:  # unless a model says it is not a demonstration model
            summary["notice"] = DEMONSTRATION_MODEL_NOTICE
    summary["habitats"] = str(typed.habitats_k)
    summary["volumes"] = ", ".join(
        f"{regionDisplayName(region, typed.margin_mm)} {stats.volume_ml:.2f} mL"
        for region, stats in sorted(typed.regions.items(), key=lambda item: _regionOrder(item[0])))
    summary["warnings"] = "\n".join(typed.warnings) if typed.warnings else None
    return summary


def resultMarginMm(result):
    """The shell width the result was computed with (the model's when a model was used)."""
    return caseResult(result).margin_mm


def regionDisplayName(region, marginMm):
    """The segment name of a library region: ``whole`` → Tumour, ``subK`` → Habitat K, ``peri`` → Peritumoral 3 mm."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return f"Habitat {habitat.group(1)}"
    return {"whole": "Tumour", "peri": f"Peritumoral {marginMm:g} mm"}.get(region, region)


def regionColor(region):
    """(red, green, blue) in 0…1 of a habitat (``subK``) or the shell (``peri``): the library's palette."""
    return palette.rgb(palette.region_colour(region))


def _regionOrder(region):
    """whole, sub1, sub2, …, peri, then anything else."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return (1, int(habitat.group(1)), region)
    return ({"whole": 0, "peri": 2}.get(region, 3), 0, region)


def readFeatureRows(path, result):
    """(region, feature, value) rows from features.csv, whose columns are ``<region>_<feature>``."""
    regions = caseResult(result).regions
    with open(path, newline="", encoding="utf-8") as file:
        header, values = list(csv.reader(file))[:2]
    rows = []
    for column, value in zip(header, values):
        region, _separator, feature = column.partition("_")
        if region in regions:  # skips identifiers such as case_id
            rows.append((region, feature, float(value) if value else float("nan")))
    return rows


#
# Model folders
#


@dataclass(frozen=True)
class ModelInfo:
    """What the panel shows of a model before any analysis: its ID and the region settings it was trained with
    (which an analysis with it must use)."""

    id: str
    marginMm: float
    habitats: str  # "auto" or the fixed count, as in the panel's habitats combo box
    demonstration: bool


_modelInfoCache = {}


def readModelInfo(modelDir):
    """The ModelInfo of a model folder, from its ``model.json`` (``extraction_settings``, ``card``). Raises
    AnalysisError with a sentence for the user when the folder is not a model folder. The checksums are checked
    by the CLI, which refuses a changed model."""
    path = Path(modelDir) / MODEL_DESCRIPTION
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
    except OSError:
        raise AnalysisError(f"{modelDir} holds no {MODEL_DESCRIPTION}: choose a folder written by "
                            "'ccrcc-staging train'.") from None
    if key not in _modelInfoCache:
        try:
            description = json.loads(path.read_text(encoding="utf-8"))
            settings = description["extraction_settings"]
            k = settings["habitats"].get("k")
            _modelInfoCache[key] = ModelInfo(
                id=str(description["id"]), marginMm=float(settings["margin_mm"]),
                habitats="auto" if k is None else str(k),
                demonstration=bool(description.get("card", {}).get("demonstration", False)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise AnalysisError(f"The model description {path} cannot be read ({error}); copy the model folder "
                                "again.") from error
    return _modelInfoCache[key]

