"""The one identifier removal, used by the report (``--no-identifiers``) and the Slicer module's export.

What is removed, everywhere it occurs (also inside warnings, the mask selection and the model card):

* the case identifier (``case_id``: the CT's file or folder name, or the node name in Slicer, often the patient's);
* DICOM patient and study data (:data:`DICOM_IDENTIFIER_TAGS`, kept in ``result.json`` → ``inputs.dicom`` when the
  series was analysed) and the series' UIDs;
* file paths: the CT and mask paths (as given, resolved, and their file names) and any other absolute path in a
  text; the PyRadiomics parameter file keeps only its file name.

Every removed text becomes :data:`PLACEHOLDER`. Standard library only: the Slicer module loads this in its own
process.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

#: What stands where an identifier was.
PLACEHOLDER = "[identifier omitted]"
#: Patient and study tags of a DICOM series (tag → name), shown in the report only with identifiers.
DICOM_IDENTIFIER_TAGS = {
    "0010|0020": "Patient ID",
    "0010|0010": "Patient name",
    "0008|0020": "Study date",
    "0008|0050": "Accession number",
    "0008|103e": "Series description",
}
#: Shorter case identifiers and file names are kept: replacing them would blot out ordinary words ("ct").
MIN_IDENTIFIER_LENGTH = 3
#: An absolute path (POSIX, or Windows with a drive letter) not inside a word or a URL.
_PATH_PATTERN = re.compile(r"(?<![\w.:/\\])(?:[A-Za-z]:)?[/\\][^\s'\"<>]+")


def known_identifiers(case_id: str, paths: Iterable[str]) -> list[str]:
    """The texts to replace, longest first (so that a path goes before the file name inside it)."""
    known = set()
    for path in paths:
        if path:
            # The file name split at either separator: a Windows path read on Linux has no POSIX name.
            known.update({str(path), str(Path(path).resolve()), re.split(r"[/\\]", str(path).rstrip("/\\"))[-1]})
    known.add(case_id)
    return sorted((value for value in known if len(value) >= MIN_IDENTIFIER_LENGTH), key=len, reverse=True)


def redactor(case_id: str, paths: Iterable[str]) -> Callable[[Any], str]:
    """A function that returns a text without the case identifier, the given paths and any absolute path."""
    known = known_identifiers(str(case_id or ""), paths)

    def redact(text: Any) -> str:
        # Absolute paths first, whole: a case identifier inside one would otherwise split it.
        text = _PATH_PATTERN.sub(PLACEHOLDER, str(text))
        for value in known:
            text = text.replace(value, PLACEHOLDER)
        return text

    return redact


def remove_identifiers(result: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a ``result.json`` value without identifiers (the original is left as it was): ``case_id`` and
    the input paths become :data:`PLACEHOLDER`, the parameter file keeps its file name, every other text is
    redacted. Numbers, geometry and region statistics are kept."""
    inputs = result.get("inputs") or {}
    redact = redactor(str(result.get("case_id") or ""), (str(inputs.get(key) or "") for key in ("image", "mask")))
    removed = _redacted(copy.deepcopy(dict(result)), redact)
    removed["case_id"] = PLACEHOLDER
    for key in ("image", "mask"):
        if key in removed.get("inputs", {}):
            removed["inputs"][key] = PLACEHOLDER
    if isinstance(removed.get("inputs"), dict):
        removed["inputs"].pop("dicom", None)  # patient and study data and the UIDs that point at them
    settings = removed.get("settings")
    if isinstance(settings, dict) and settings.get("params_file"):
        settings["params_file"] = Path(str((result.get("settings") or {})["params_file"])).name
    return removed


def _redacted(value: Any, redact: Callable[[Any], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value
