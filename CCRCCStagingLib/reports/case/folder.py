"""An analysis folder read back for the report: the typed result (without identifiers when they are to be left
out, so that nothing later can show them), the CT box and the region labels re-oriented to LPS, and, for a DICOM
CT, the patient and study data of its series."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ...core.errors import InputFileError
from ...core.files import CT_BOX_FILE, REGIONS_FILE, RESULT_FILE
from ...core.privacy import DICOM_IDENTIFIER_TAGS, remove_identifiers
from ...core.schema import CaseResult, read_case_result

if TYPE_CHECKING:
    import numpy as np
    import SimpleITK as sitk


@dataclass
class CaseFolder:
    """What the report is made from."""

    result_dir: Path
    result: CaseResult
    labels: np.ndarray  # (z, y, x) uint8 on the 1 mm box, LPS
    ct: np.ndarray | None  # (z, y, x) HU, same grid; None when ct_box.nrrd is missing
    spacing: tuple[float, float, float]  # (x, y, z) mm
    include_identifiers: bool
    analysed: datetime
    #: DICOM patient and study data by name (only with identifiers, only for a DICOM CT).
    dicom_tags: dict[str, str] = field(default_factory=dict)
    #: Why the key images show less than usual.
    notes: list[str] = field(default_factory=list)

    @property
    def habitat_labels(self) -> list[tuple[int, int]]:
        return self.result.habitat_labels

    @property
    def peri_label(self) -> int:
        return self.result.peri_label


def load_case_folder(result_dir: Path, include_identifiers: bool = True) -> CaseFolder:
    """Read an analysis folder written by ``ccrcc-staging analyze``."""
    result_dir = Path(result_dir)
    result = read_case_result(result_dir)
    if not include_identifiers:
        # The file is known to be readable JSON now; the result is rebuilt from it with every identifier removed.
        result = CaseResult.from_dict(remove_identifiers(json.loads((result_dir / RESULT_FILE).read_text())))
    labels_image, labels, ct, notes = _read_images(result_dir)
    return CaseFolder(
        result_dir=result_dir,
        result=result,
        labels=labels,
        ct=ct,
        spacing=tuple(float(s) for s in labels_image.GetSpacing()),
        include_identifiers=include_identifiers,
        analysed=datetime.fromtimestamp((result_dir / RESULT_FILE).stat().st_mtime).astimezone(),
        dicom_tags=_dicom_tags(result) if include_identifiers else {},
        notes=notes,
    )


def _read_images(result_dir: Path) -> tuple[sitk.Image, np.ndarray, np.ndarray | None, list[str]]:
    """The labels image, the labels and the CT as (z, y, x) arrays in LPS, and notes on what is missing."""
    import numpy as np
    import SimpleITK as sitk

    labels_image = sitk.DICOMOrient(_read_image(result_dir / REGIONS_FILE, "regions labelmap"), "LPS")
    labels = sitk.GetArrayFromImage(labels_image).astype(np.uint8)
    if not (result_dir / CT_BOX_FILE).is_file():
        return labels_image, labels, None, [
            f"{CT_BOX_FILE} is missing; the key images show the regions only (re-run the analysis)."
        ]
    ct_image = sitk.DICOMOrient(_read_image(result_dir / CT_BOX_FILE, "CT box"), "LPS")
    if ct_image.GetSize() != labels_image.GetSize():
        return labels_image, labels, None, [
            f"{CT_BOX_FILE} does not match {REGIONS_FILE}; the key images show the regions only."
        ]
    return labels_image, labels, sitk.GetArrayFromImage(ct_image).astype(np.float32), []


def _read_image(path: Path, what: str) -> sitk.Image:
    import SimpleITK as sitk

    if not path.is_file():
        raise InputFileError(f"The {what} {path} is missing; run 'ccrcc-staging analyze' again.")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputFileError(f"The {what} {path} cannot be read; run 'ccrcc-staging analyze' again.") from error


def _dicom_tags(result: CaseResult) -> dict[str, str]:
    """The patient and study data of the analysed DICOM series, as captured at analysis time (never read again from
    the source folder, which may hold another patient's series by now)."""
    names = set(DICOM_IDENTIFIER_TAGS.values())
    return {name: value for name, value in result.inputs.dicom.items() if name in names and value}
