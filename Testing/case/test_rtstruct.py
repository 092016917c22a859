"""RTSTRUCT masks: the ROI chosen by name, contours rasterised onto the CT grid (holes, slices between, folders), the
IBSI cases against their NIfTI masks, and every foreseeable mistake or hostile file ending in exit code 2 and one
sentence through the command line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import ImplicitVRLittleEndian

from CCRCCStagingLib.case.loading import load_case
from CCRCCStagingLib.case.rtstruct import _CONTOUR_DATA, MAX_POINTS_PER_CONTOUR, MAX_ROIS
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.core.errors import InputFileError
from conftest import shared_data_path
from dicom_objects import CtSeries, save, square, write_ct_series, write_rtstruct

IBSI_CASES = {
    "ct_phantom": ("ct_phantom/dicom/image", "ct_phantom/dicom/mask", "ct_phantom/nifti/mask.nii.gz", "GTV-1"),
    **{case: (f"sts_validation/dicom/{case}/image", f"sts_validation/dicom/{case}/mask/RS.dcm",
              f"sts_validation/nifti/{case}/CT_mask.nii.gz", "GTV_Mass_CT") for case in ("STS_001", "STS_002", "STS_003")},
}


@pytest.fixture
def ct(tmp_path: Path) -> CtSeries:
    """10 slices of 40 × 50 voxels, 0.8 × 0.8 × 2 mm, origin (-12, -10, 40): slice k lies at z = 40 + 2k."""
    return write_ct_series(tmp_path / "ct", np.full((10, 40, 50), 40))


def _voxels(mask: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(mask).astype(bool)


def test_the_roi_is_chosen_by_name_and_an_inner_contour_is_a_hole(ct: CtSeries, tmp_path: Path) -> None:
    tumour = [square(0, 0, 4, 44), square(0, 0, 4, 46), square(0, 0, 1.6, 46)]
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"Kidney": [square(4, 4, 8, 48)], "Tumour": tumour})
    case = load_case(ct.folder, path, segment=" tumour ")
    voxels = _voxels(case.mask)
    assert case.mask_description == "RTSTRUCT ROI 'Tumour'" and case.warnings == []
    assert case.mask.GetSize() == (50, 40, 10) and case.mask.GetOrigin() == pytest.approx((-12, -10, 40))
    # x from -4 to 4 mm: voxel centres 10…19; y: 8…17; the hole ±1.6 mm: 13…16 and 11…14.
    assert voxels[2].sum() == 100 and voxels[2, 8:18, 10:20].all()
    assert voxels[3].sum() == 100 - 16 and not voxels[3, 11:15, 13:17].any()
    assert voxels.sum() == 184


def test_a_structure_set_with_one_roi_needs_no_name(ct: CtSeries, tmp_path: Path) -> None:
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]})
    assert _voxels(load_case(ct.folder, path).mask).sum() == 100


def test_contours_between_ct_slices_land_on_the_nearest_with_a_warning(ct: CtSeries, tmp_path: Path) -> None:
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44.8), square(0, 0, 4, 48.0)]})
    case = load_case(ct.folder, path)
    assert [int(n) for n in _voxels(case.mask).sum(axis=(1, 2))] == [0, 0, 100, 0, 100, 0, 0, 0, 0, 0]
    assert any("between the CT slices (up to 0.8 mm" in w for w in case.warnings)
    assert any("1 CT slice(s) between the first and last contour" in w for w in case.warnings)


def test_contours_drawn_on_thinner_slices_take_the_nearest_plane(ct: CtSeries, tmp_path: Path) -> None:
    # Planes every 0.5 mm, each a different size: slices 2 (z 44) and 3 (z 46) must take the planes at 44 and 46.
    sizes = {44.0: 4.0, 44.5: 2.0, 45.0: 2.0, 45.5: 2.0, 46.0: 1.6}
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, half, z) for z, half in sizes.items()]})
    case = load_case(ct.folder, path)
    counts = _voxels(case.mask).sum(axis=(1, 2))
    assert counts[2] == 100 and counts[3] == 16 and counts.sum() == 116
    assert any("contours on 5 planes for 2 CT slices" in w for w in case.warnings)


def test_the_series_folder_itself_may_hold_the_rtstruct(ct: CtSeries) -> None:
    write_rtstruct(ct.folder / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]})
    case = load_case(ct.folder, ct.folder)
    assert _voxels(case.mask).sum() == 100 and case.image.image.GetSize() == (50, 40, 10)


def test_a_link_out_of_the_mask_folder_is_not_followed(ct: CtSeries, tmp_path: Path) -> None:
    outside = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]})
    folder = tmp_path / "mask"
    folder.mkdir()
    os.symlink(outside, folder / "rs.dcm")
    with pytest.raises(InputFileError, match=r"holds no RTSTRUCT.*1 link\(s\) leading out of it were not followed"):
        load_case(ct.folder, folder)


@pytest.mark.parametrize("case", sorted(IBSI_CASES))
def test_ibsi_rtstructs_agree_with_their_nifti_masks(case: str) -> None:
    """Dice ≥ 0.98 on the CT grid (measured: 1.0000 for all four, the very voxels of the NIfTI masks)."""
    image, rtstruct, nifti = (shared_data_path("ibsi", part) for part in IBSI_CASES[case][:3])
    roi = IBSI_CASES[case][3]
    loaded = load_case(image, rtstruct, segment=roi)
    reference = sitk.Resample(sitk.ReadImage(str(nifti)), loaded.image.image, sitk.Transform(),
                              sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    ours, theirs = _voxels(loaded.mask), _voxels(reference)
    dice = 2 * (ours & theirs).sum() / (ours.sum() + theirs.sum())
    assert dice >= 0.98, f"{case}: Dice {dice:.4f}"
    assert loaded.warnings == []


def test_analyze_runs_on_a_dicom_ct_with_its_rtstruct(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    image, rtstruct = (shared_data_path("ibsi", part) for part in IBSI_CASES["STS_001"][:2])
    code = main(["analyze", str(image), str(rtstruct), "--segment", "GTV_Mass_CT", "--out", str(tmp_path / "out"),
                 "--report", "none"])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (tmp_path / "out" / "result.json").is_file()
    assert "RTSTRUCT ROI 'GTV_Mass_CT'" in (tmp_path / "out" / "result.json").read_text()


# Mistakes and hostile files, through the command line: exit code 2 and one sentence.

def _error(capsys: pytest.CaptureFixture, ct: CtSeries, mask: Path, out: Path, *options: str) -> str:
    code = main(["analyze", str(ct.folder), str(mask), "--out", str(out), "--no-model", "--habitats", "2",
                 "--report", "none", *options])
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("progress:", "warning:"))]
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not (out / "result.json").exists()
    return lines[0]


def test_an_roi_that_is_not_there_or_not_chosen_is_named(ct: CtSeries, tmp_path: Path, capsys) -> None:
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"Kidney": [square(0, 0, 6, 44)], "GTV": [square(0, 0, 4, 44)]})
    message = _error(capsys, ct, path, tmp_path / "a")
    assert "holds 2 ROIs ('Kidney', 'GTV'); pass --segment NAME" in message
    assert "ROI 'Liver' is not in the RTSTRUCT" in _error(capsys, ct, path, tmp_path / "b", "--segment", "Liver")
    assert "chosen by name with --segment, not by --label" in _error(capsys, ct, path, tmp_path / "c", "--label", "1")


def test_a_broken_rtstruct_is_refused(ct: CtSeries, tmp_path: Path, capsys) -> None:
    whole = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44 + 2 * k) for k in range(4)]})
    data = whole.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: len(data) - 150])
    assert "damaged or truncated" in _error(capsys, ct, cut, tmp_path / "a")
    dataset = pydicom.dcmread(whole)
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData[4] = "nan"
    save(dataset, tmp_path / "nan.dcm")
    assert "not finite numbers" in _error(capsys, ct, tmp_path / "nan.dcm", tmp_path / "b")
    dataset = pydicom.dcmread(whole)
    dataset.ROIContourSequence[0].ContourSequence[0].NumberOfContourPoints = 7
    save(dataset, tmp_path / "count.dcm")
    assert "12 coordinates for 7 points" in _error(capsys, ct, tmp_path / "count.dcm", tmp_path / "c")


def test_contours_outside_the_ct_or_across_its_slices_are_refused(ct: CtSeries, tmp_path: Path, capsys) -> None:
    far = write_rtstruct(tmp_path / "far.dcm", ct, {"GTV": [square(300, 0, 4, 44)]})
    assert "reach 276 mm outside the CT" in _error(capsys, ct, far, tmp_path / "a")  # x 304 mm, CT up to 27.6
    below = write_rtstruct(tmp_path / "below.dcm", ct, {"GTV": [square(0, 0, 4, 10)]})
    assert "outside the CT" in _error(capsys, ct, below, tmp_path / "b")
    tilted = np.array([[-4, 0, 44], [4, 0, 44], [4, 0, 50], [-4, 0, 50]], dtype=float)  # a coronal contour
    across = write_rtstruct(tmp_path / "across.dcm", ct, {"GTV": [tilted]})
    assert "not parallel to the CT slices" in _error(capsys, ct, across, tmp_path / "c")


def test_an_rtstruct_of_another_frame_of_reference_is_refused(ct: CtSeries, tmp_path: Path, capsys) -> None:
    other = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]}, frame_of_reference_uid="1.2.3.4")
    message = _error(capsys, ct, other, tmp_path / "a")
    assert "another frame of reference (1.2.3.4) than the CT series" in message and "Give the CT series" in message


@pytest.mark.parametrize("kind", ["OPEN_PLANAR", "POINT", "OPEN_NONPLANAR"])
def test_contours_that_are_not_closed_planar_are_refused(kind: str, ct: CtSeries, tmp_path: Path, capsys) -> None:
    path = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]}, geometric_type=kind)
    assert f"holds '{kind}' contours, but only closed planar contours" in _error(capsys, ct, path, tmp_path / "a")


def test_claims_beyond_the_limits_are_refused_before_allocation(ct: CtSeries, tmp_path: Path, capsys) -> None:
    dataset = pydicom.dcmread(write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]}))
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    points = MAX_POINTS_PER_CONTOUR + 1
    contour.NumberOfContourPoints = points
    value = b"\\".join([b"1.5", b"2.5", b"44"] * points)  # as bytes: pydicom would check 300,003 values one by one
    contour[_CONTOUR_DATA] = RawDataElement(Tag(_CONTOUR_DATA), "DS", len(value), value, 0, True, True)
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # explicit VR cannot hold a DS value over 64 KB
    save(dataset, tmp_path / "points.dcm")
    assert f"more than {MAX_POINTS_PER_CONTOUR:,} points" in _error(capsys, ct, tmp_path / "points.dcm", tmp_path / "a")
    many = write_rtstruct(tmp_path / "many.dcm", ct, {f"R{n}": [] for n in range(MAX_ROIS + 1)})
    assert f"more than the {MAX_ROIS:,} read" in _error(capsys, ct, many, tmp_path / "b", "--segment", "R1")


@pytest.mark.slow
def test_a_cohort_manifest_names_the_roi_in_its_segment_column(tmp_path: Path, capsys) -> None:
    """``extract`` reads RTSTRUCT masks with the ROI from the ``segment`` column; a wrong name fails that case alone,
    with the sentence in its ``error`` column (about 15 s: one case's full extraction)."""
    import pandas as pd

    from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR

    rows = []
    for case, segment in (("STS_002", "GTV_Mass_CT"), ("STS_003", "Liver")):
        image, rtstruct = (shared_data_path("ibsi", part) for part in IBSI_CASES[case][:2])
        rows.append(f"{case},{image},{rtstruct},{segment},T2,external")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("case_id,image,mask,segment,t_stage,split\n" + "\n".join(rows) + "\n")
    out = tmp_path / "features.csv"
    assert main(["extract", str(manifest), "--out", str(out), "--model", str(BUNDLED_MODEL_DIR)]) == 0
    table = pd.read_csv(out, keep_default_na=False).set_index("case_id")
    assert table.loc["STS_002", "error"] == ""
    nifti = sitk.ReadImage(str(shared_data_path("ibsi", IBSI_CASES["STS_002"][2])))
    expected_ml = sitk.GetArrayViewFromImage(nifti).sum() * np.prod(nifti.GetSpacing()) / 1000
    assert float(table.loc["STS_002", "tumour_volume_ml"]) == pytest.approx(expected_ml, rel=1e-6)
    assert "ROI 'Liver' is not in the RTSTRUCT" in table.loc["STS_003", "error"]
