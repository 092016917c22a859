"""The one identifier removal: the case identifier, the input paths and any other absolute path go, everywhere, and
become the one placeholder; numbers stay."""

from __future__ import annotations

import json

from CCRCCStagingLib.core.privacy import PLACEHOLDER, redactor, remove_identifiers

RESULT = {
    "case_id": "Smith_John_1950",
    "inputs": {"image": "/data/patients/Smith_John_1950/ct", "image_kind": "dicom", "mask": "C:\\cases\\tumour.nrrd",
               "mask_selection": "label 2 of tumour.nrrd", "image_geometry": {"size": [512, 512, 20]}},
    "regions": {"whole": {"voxels": 10, "volume_ml": 0.01}},
    "warnings": ["The folder /home/jdoe/Smith_John_1950/dicom holds 2 DICOM series; the largest was used.",
                 "Smith_John_1950: the mask touches the image edge."],
    "settings": {"params_file": "/home/jdoe/params/ccrcc_pyradiomics.yaml", "margin_mm": 3.0},
    "model_card": "See https://doi.org/10.1186/s13244-026-02226-3 and T1/T2 vs T3/T4.",
}


def test_identifiers_are_removed_everywhere_and_the_rest_is_kept() -> None:
    removed = remove_identifiers(RESULT)
    text = json.dumps(removed)
    for identifier in ("Smith", "/data/patients", "/home/jdoe", "C:\\\\cases", "tumour.nrrd"):
        assert identifier not in text, identifier
    assert removed["case_id"] == removed["inputs"]["image"] == removed["inputs"]["mask"] == PLACEHOLDER
    assert removed["warnings"] == [f"The folder {PLACEHOLDER} holds 2 DICOM series; the largest was used.",
                                   f"{PLACEHOLDER}: the mask touches the image edge."]
    assert removed["inputs"]["mask_selection"] == f"label 2 of {PLACEHOLDER}"
    assert removed["settings"] == {"params_file": "ccrcc_pyradiomics.yaml", "margin_mm": 3.0}
    assert removed["regions"] == RESULT["regions"] and removed["inputs"]["image_geometry"] == {"size": [512, 512, 20]}
    assert removed["model_card"] == RESULT["model_card"]  # a URL and "T1/T2" are not paths
    assert RESULT["case_id"] == "Smith_John_1950"  # the original is left as it was


def test_a_short_case_identifier_is_kept_in_texts() -> None:
    redact = redactor("ct", ["ct.nrrd"])
    assert redact("the ct of ct.nrrd") == f"the ct of {PLACEHOLDER}"
