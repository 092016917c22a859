"""What the panel shows: texts from ``result.json``, segment names and colours, features from ``features.csv``,
and the region settings of a model folder (read from its ``model.json``, plain JSON: nothing of the model is run
in Slicer's process)."""

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import AnalysisError

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

# Okabe-Ito colours: told apart by colour-blind readers too, and fixed so that Habitat k looks the same in
# every case. The shell gets the yellow that none of the habitats uses.
HABITAT_COLORS = ((0.90, 0.62, 0.00), (0.34, 0.71, 0.91), (0.00, 0.62, 0.45), (0.80, 0.47, 0.65))
PERITUMORAL_COLOR = (0.94, 0.89, 0.26)

_HABITAT_REGION = re.compile(r"^sub(\d+)$")


def resultSummary(result):
    """Texts for the Results panel from a ``result.json`` dict; None for what the result does not hold.

    The prediction keys (``t_stage_group``, ``radscore`` …) are present only when a model predicted; ``model``
    whenever one was used (also when the prediction was withheld, with ``prediction_withheld`` giving why).
    """
    summary = {"tStage": None, "radscore": None, "notice": None, "model": None, "noPrediction": None}
    if "t_stage_group" in result:
        group = {"low": "T1–T2", "high": "T3–T4"}[result["t_stage_group"]]
        summary["tStage"] = (f"{group} (P(T3–T4) = {result['probability_high']:.2f}, "
                             f"threshold {result['threshold']:.2f})")
    if "radscore" in result:
        summary["radscore"] = (f"{result['radscore']:.3f} (cutoff {result['radscore_cutoff']:.3f}): "
                               f"{result['risk_group']}-risk group")
    if "prediction_withheld" in result:
        summary["noPrediction"] = f"Prediction withheld: {result['prediction_withheld']}"
    elif "t_stage_group" not in result:
        summary["noPrediction"] = NO_MODEL_TEXT
    model = result.get("model")
    if model:
        sha = model.get("sha256", "")
        summary["model"] = model.get("id", "?") + (f" (SHA-256 {sha[:12]}…)" if sha else "")
        if model.get("demonstration", True):  # unless a model says it is not a demonstration model
            summary["notice"] = DEMONSTRATION_MODEL_NOTICE
    summary["habitats"] = str(result["habitats_k"])
    marginMm = resultMarginMm(result)
    summary["volumes"] = ", ".join(
        f"{regionDisplayName(region, marginMm)} {values['volume_ml']:.2f} mL"
        for region, values in sorted(result["regions"].items(), key=lambda item: _regionOrder(item[0])))
    summary["warnings"] = "\n".join(result["warnings"]) if result.get("warnings") else None
    return summary


def resultMarginMm(result):
    """The shell width the result was computed with (the model's when a model was used)."""
    return float(result.get("settings", {}).get("margin_mm", 3.0))


def regionDisplayName(region, marginMm):
    """The segment name of a library region: ``whole`` → Tumour, ``subK`` → Habitat K, ``peri`` → Peritumoral 3 mm."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return f"Habitat {habitat.group(1)}"
    return {"whole": "Tumour", "peri": f"Peritumoral {marginMm:g} mm"}.get(region, region)


def regionColor(region):
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return HABITAT_COLORS[(int(habitat.group(1)) - 1) % len(HABITAT_COLORS)]
    return PERITUMORAL_COLOR


def _regionOrder(region):
    """whole, sub1, sub2, …, peri, then anything else."""
    habitat = _HABITAT_REGION.match(region)
    if habitat:
        return (1, int(habitat.group(1)), region)
    return ({"whole": 0, "peri": 2}.get(region, 3), 0, region)


def readFeatureRows(path, result):
    """(region, feature, value) rows from features.csv, whose columns are ``<region>_<feature>``."""
    with open(path, newline="", encoding="utf-8") as file:
        header, values = list(csv.reader(file))[:2]
    rows = []
    for column, value in zip(header, values):
        region, _separator, feature = column.partition("_")
        if region in result["regions"]:  # skips identifiers such as case_id
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

