"""DICOM SEG masks: a SEG written by highdicom from known masks reads back voxel for voxel (by segment label or
number, binary or fractional, on the CT grid or on its own), and damaged or hostile SEGs end in exit code 2 and one
sentence through the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.case.dicom_seg_mask import MAX_SEG_FRAMES
from CCRCCStagingLib.case.loading import load_case, read_image
from CCRCCStagingLib.cli import main
from conftest import shared_data_path
from dicom_objects import CtSeries, save, write_ct_series, write_seg

# Reading a SEG needs highdicom >= 0.24 (Segmentation.get_volume), which needs Python >= 3.10 and pydicom 3: on Slicer
# 5.6-5.10's packages (make test-slicer-pythons) the library refuses with a sentence and these tests skip.
pytest.importorskip("highdicom", minversion="0.24",
                    reason="highdicom >= 0.24 reads the SEGs of these tests (and writes them)")


@pytest.fixture
def ct(tmp_path: Path) -> CtSeries:
    return write_ct_series(tmp_path / "ct", np.full((10, 40, 50), 40))


@pytest.fixture
def masks() -> dict[str, np.ndarray]:
    tumour = np.zeros((10, 40, 50), bool)
    tumour[2:6, 10:22, 12:30] = True
    tumour[3:5, 14:18, 16:20] = False  # a hole
    kidney = np.zeros_like(tumour)
    kidney[7, 30:35, 40:45] = True
    return {"Tumour": tumour, "Kidney": kidney}


def _voxels(mask: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(mask).astype(bool)


def test_a_seg_reads_back_voxel_for_voxel_by_label_or_number(ct: CtSeries, masks, tmp_path: Path) -> None:
    seg = write_seg(tmp_path / "seg.dcm", ct, masks)
    by_label = load_case(ct.folder, seg, segment="tumour")
    assert by_label.mask_description == "DICOM SEG segment 1 'Tumour'" and by_label.warnings == []
    assert by_label.mask.GetSize() == (50, 40, 10) and by_label.mask.GetOrigin() == pytest.approx((-12, -10, 40))
    assert np.array_equal(_voxels(by_label.mask), masks["Tumour"])
    by_number = load_case(ct.folder, seg, label=2)
    assert np.array_equal(_voxels(by_number.mask), masks["Kidney"])


def test_the_ibsi_phantom_mask_survives_a_seg_round_trip(tmp_path: Path) -> None:
    image = shared_data_path("ibsi", "ct_phantom", "dicom", "image")
    nifti = shared_data_path("ibsi", "ct_phantom", "nifti", "mask.nii.gz")
    ct_image = read_image(image)
    known = sitk.GetArrayFromImage(sitk.ReadImage(str(nifti))).astype(bool)  # on the CT's grid already
    series = CtSeries(image, [Path(name) for name in ct_image.dicom_files], "", "", "")
    loaded = load_case(image, write_seg(tmp_path / "phantom.seg.dcm", series, {"GTV-1": known}))
    assert np.array_equal(_voxels(loaded.mask), known) and loaded.warnings == []


def test_a_fractional_seg_is_cut_at_one_half_or_at_the_threshold(ct: CtSeries, masks, tmp_path: Path) -> None:
    fractions = masks["Tumour"] * 0.4 + masks["Kidney"] * 0.8
    seg = write_seg(tmp_path / "seg.dcm", ct, {"Probability": fractions}, segmentation_type="FRACTIONAL")
    default = load_case(ct.folder, seg)
    assert np.array_equal(_voxels(default.mask), masks["Kidney"]) and "fraction ≥ 0.5" in default.mask_description
    assert np.array_equal(_voxels(load_case(ct.folder, seg, mask_threshold=0.3).mask), masks["Tumour"] | masks["Kidney"])


def test_a_seg_off_the_ct_lattice_stays_on_its_own_grid(ct: CtSeries, masks, tmp_path: Path) -> None:
    seg = write_seg(tmp_path / "seg.dcm", ct, masks)
    shifted = write_ct_series(tmp_path / "shifted", np.full((12, 44, 54), 40), origin=(-13.4, -11.4, 39.0),
                              frame_of_reference_uid=ct.frame_of_reference_uid)
    case = load_case(shifted.folder, seg, segment="Tumour")
    assert int(_voxels(case.mask).sum()) == int(masks["Tumour"].sum())
    assert any("another grid than the CT" in warning for warning in case.warnings)


# Mistakes and hostile files, through the command line: exit code 2 and one sentence.

def _error(capsys: pytest.CaptureFixture, ct: CtSeries, mask: Path, out: Path, *options: str) -> str:
    code = main(["analyze", str(ct.folder), str(mask), "--out", str(out), "--no-model", "--habitats", "2",
                 "--report", "none", *options])
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("progress:", "warning:"))]
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_the_segment_must_be_chosen_and_present(ct: CtSeries, masks, tmp_path: Path, capsys) -> None:
    seg = write_seg(tmp_path / "seg.dcm", ct, masks)
    message = _error(capsys, ct, seg, tmp_path / "a")
    assert "holds 2 segments (1 'Tumour', 2 'Kidney'); choose the tumour with --segment LABEL or --label NUMBER" in message
    assert "No single segment 'Liver'" in _error(capsys, ct, seg, tmp_path / "b", "--segment", "Liver")
    assert "No single segment number 3" in _error(capsys, ct, seg, tmp_path / "c", "--label", "3")


def test_a_seg_with_wrong_dimensions_or_frame_counts_is_refused(ct: CtSeries, masks, tmp_path: Path, capsys) -> None:
    seg = write_seg(tmp_path / "seg.dcm", ct, {"Tumour": masks["Tumour"]})
    for name, change, expected in (
        ("rows", lambda d: setattr(d, "Rows", 80), "bytes of pixel data where its frames and dimensions promise"),
        ("frames", lambda d: setattr(d, "NumberOfFrames", 10**9), f"at most {MAX_SEG_FRAMES:,} frames are read"),
        ("described", lambda d: setattr(d, "NumberOfFrames", 3), "claims 3 frames but describes 4"),
        # 1 segment on a 10-slice CT: at most 40 frames, refused before its frame descriptions are parsed.
        ("beyond the CT", lambda d: setattr(d, "NumberOfFrames", 41), "at most 40: 4 per slice and segment"),
    ):
        dataset = pydicom.dcmread(seg)
        change(dataset)
        save(dataset, tmp_path / f"{name}.dcm")
        assert expected in _error(capsys, ct, tmp_path / f"{name}.dcm", tmp_path / name)


def test_a_truncated_seg_or_one_of_another_scan_is_refused(ct: CtSeries, masks, tmp_path: Path, capsys) -> None:
    seg = write_seg(tmp_path / "seg.dcm", ct, {"Tumour": masks["Tumour"]})
    data = seg.read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 100])
    assert "damaged or truncated" in _error(capsys, ct, tmp_path / "cut.dcm", tmp_path / "a")
    dataset = pydicom.dcmread(seg)
    dataset.FrameOfReferenceUID = "1.2.3.4"
    save(dataset, tmp_path / "other.dcm")
    assert "another frame of reference (1.2.3.4)" in _error(capsys, ct, tmp_path / "other.dcm", tmp_path / "b")
    far = write_ct_series(tmp_path / "far", np.full((10, 40, 50), 40), origin=(200.0, -10.0, 40.0),
                          frame_of_reference_uid=ct.frame_of_reference_uid)
    assert "reaches outside the CT" in _error(capsys, far, seg, tmp_path / "c")
