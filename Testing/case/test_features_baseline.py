"""The project's extraction code reproduces PyRadiomics' own baseline feature values (``../shared/data/pyradiomics``)."""

from __future__ import annotations

import ast
import csv

import pytest
import SimpleITK as sitk

from CCRCCStagingLib.case.features import ExtractionSpec, build_request, extract
from conftest import shared_data_path

CASES = ("brain1", "brain1_resampling", "breast1")
CLASSES = ("firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape")
RELATIVE_TOLERANCE = 1e-6
#: brain1's mesh-based shape values in the baseline were made with PyRadiomics 2.0.1; upstream PyRadiomics 3.0.1
#: (built from its sdist, checked by hand) and the bhklab fork both give MeshVolume 16147.5118 instead of 16149.4954,
#: and the features derived from the mesh move with it. breast1's mesh features do match to 1e-6, so the mesh code is
#: still held exactly there; these four are held to 1e-3.
STALE_BASELINE = {
    ("brain1", "original_shape_MeshVolume"),
    ("brain1", "original_shape_SurfaceArea"),
    ("brain1", "original_shape_Sphericity"),
    ("brain1", "original_shape_SurfaceVolumeRatio"),
}


def _baseline(feature_class: str) -> dict[str, dict[str, str]]:
    """{test case: {row name: value}} from PyRadiomics' baseline CSV of one feature class."""
    path = shared_data_path("pyradiomics", "baseline", f"baseline_{feature_class}.csv")
    with path.open() as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    return {case: {row[0]: row[index] for row in rows[1:]} for index, case in enumerate(header) if index}


def _spec(column: dict[str, str], feature_class: str) -> ExtractionSpec:
    settings = ast.literal_eval(column["diagnostics_Configuration_Settings"])
    image_types = ast.literal_eval(column["diagnostics_Configuration_EnabledImageTypes"])
    return ExtractionSpec(settings, image_types, {feature_class: None})


@pytest.mark.parametrize("feature_class", CLASSES)
@pytest.mark.parametrize("case", CASES)
def test_extraction_reproduces_pyradiomics_baseline(case: str, feature_class: str) -> None:
    column = _baseline(feature_class)[case]
    image_name = column["diagnostics_Configuration_TestCase"]
    image = sitk.ReadImage(str(shared_data_path("pyradiomics", f"{image_name}_image.nrrd")))
    mask = sitk.ReadImage(str(shared_data_path("pyradiomics", f"{image_name}_label.nrrd")))
    expected = {
        name: float(value) for name, value in column.items() if not name.startswith("diagnostics") and value != ""
    }
    assert expected, f"no baseline values for {case}/{feature_class}"

    computed = extract(image, mask, _spec(column, feature_class))

    assert set(computed) == set(expected)
    for name, value in expected.items():
        tolerance = 1e-3 if (case, name) in STALE_BASELINE else RELATIVE_TOLERANCE
        assert computed[name] == pytest.approx(value, rel=tolerance, abs=1e-12), name


def test_targeted_extraction_of_baseline_names_gives_the_same_values() -> None:
    column = _baseline("glcm")["brain1"]
    image = sitk.ReadImage(str(shared_data_path("pyradiomics", "brain1_image.nrrd")))
    mask = sitk.ReadImage(str(shared_data_path("pyradiomics", "brain1_label.nrrd")))
    wanted = ["original_glcm_Idmn", "original_glcm_Contrast"]

    computed = extract(image, mask, _spec(column, "glcm"), build_request(wanted))

    assert set(computed) == set(wanted)
    for name in wanted:
        assert computed[name] == pytest.approx(float(column[name]), rel=RELATIVE_TOLERANCE)
