"""Reading cases: formats, segment/label choice, geometry checks, and the errors users get."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.core.errors import GeometryError, ImageFormatError, InputFileError, MaskError
from CCRCCStagingLib.case.loading import load_case, read_image, read_mask
from conftest import shared_data_path


def _volume(values: np.ndarray, spacing=(0.8, 0.8, 2.0), origin=(1.0, -2.0, 30.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(values)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return image


@pytest.fixture
def ct_and_labels(tmp_path: Path) -> tuple[Path, Path]:
    ct = _volume(np.full((10, 30, 30), 40, np.int16))
    labels = np.zeros((10, 30, 30), np.uint8)
    labels[3:7, 5:25, 5:25] = 1  # kidney
    labels[4:6, 10:15, 10:15] = 2  # tumour
    mask = _volume(labels)
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "labels.nii.gz"))
    return tmp_path / "ct.nrrd", tmp_path / "labels.nii.gz"


def test_label_is_required_when_the_mask_has_several(ct_and_labels: tuple[Path, Path]) -> None:
    ct, labels = ct_and_labels
    with pytest.raises(MaskError, match=r"labels \[1, 2\].*--label"):
        load_case(ct, labels)
    case = load_case(ct, labels, label=2)
    assert sitk.GetArrayViewFromImage(case.mask).sum() == 2 * 5 * 5
    assert case.mask_description == "label 2"
    with pytest.raises(MaskError, match=r"Label 3 is not in the mask.*\[1, 2\]"):
        load_case(ct, labels, label=3)


def test_empty_mask_is_refused(tmp_path: Path) -> None:
    empty = _volume(np.zeros((4, 5, 6), np.uint8))
    sitk.WriteImage(empty, str(tmp_path / "empty.nrrd"))
    with pytest.raises(MaskError, match="empty"):
        read_mask(tmp_path / "empty.nrrd")


def _seg_nrrd(path: Path, layers: list[np.ndarray], segments: list[dict]) -> Path:
    """A Slicer-style .seg.nrrd: segment metadata in the header, one component per layer."""
    if len(layers) == 1:
        image = _volume(layers[0])
    else:
        image = sitk.GetImageFromArray(np.stack(layers, axis=-1), isVector=True)
        image.SetSpacing((0.8, 0.8, 2.0))
        image.SetOrigin((1.0, -2.0, 30.0))
    for index, segment in enumerate(segments):
        for key, value in segment.items():
            image.SetMetaData(f"Segment{index}_{key}", str(value))
    sitk.WriteImage(image, str(path))
    return path


def test_segment_is_chosen_by_name_or_label_value(tmp_path: Path) -> None:
    labels = np.zeros((6, 8, 8), np.uint8)
    labels[2:4, 2:4, 2:4] = 1
    labels[2:4, 5:7, 5:7] = 3
    path = _seg_nrrd(
        tmp_path / "case.seg.nrrd",
        [labels],
        [
            {"ID": "Segment_1", "Name": "kidney", "LabelValue": 1, "Layer": 0},
            {"ID": "Segment_2", "Name": "Tumour", "LabelValue": 3, "Layer": 0},
        ],
    )
    by_name, description = read_mask(path, segment="tumour")
    by_label, _ = read_mask(path, label=3)
    assert description == "segment 'Tumour'"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(by_name), labels == 3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(by_label), labels == 3)
    with pytest.raises(MaskError, match=r"\['kidney', 'Tumour'\]"):
        read_mask(path)
    with pytest.raises(MaskError, match="'liver' is not in"):
        read_mask(path, segment="liver")


def test_overlapping_segments_in_layers(tmp_path: Path) -> None:
    kidney = np.zeros((6, 8, 8), np.uint8)
    kidney[1:5, 1:7, 1:7] = 1
    tumour = np.zeros((6, 8, 8), np.uint8)
    tumour[2:4, 2:5, 2:5] = 1
    path = _seg_nrrd(
        tmp_path / "layers.seg.nrrd",
        [kidney, tumour],
        [
            {"ID": "k", "Name": "kidney", "LabelValue": 1, "Layer": 0},
            {"ID": "t", "Name": "tumour", "LabelValue": 1, "Layer": 1},
        ],
    )
    mask, _ = read_mask(path, segment="tumour")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask), tumour)


def test_mask_on_another_grid_is_kept_on_its_grid_with_a_warning(tmp_path: Path) -> None:
    """PyRadiomics builds its resampling grid from the mask as given: the mask is not resampled onto the CT."""
    ct = _volume(np.zeros((10, 30, 30), np.int16))
    coarse = np.zeros((5, 15, 15), np.uint8)
    coarse[2:4, 5:10, 5:10] = 1
    # Same physical extent at twice the voxel size: corner-aligned origin.
    mask = _volume(coarse, spacing=(1.6, 1.6, 4.0), origin=(1.4, -1.6, 31.0))
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nrrd"))

    case = load_case(tmp_path / "ct.nrrd", tmp_path / "mask.nrrd")

    assert case.mask.GetSize() == mask.GetSize() and case.mask.GetSpacing() == mask.GetSpacing()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(case.mask), coarse)
    assert any("on another grid than the CT" in w for w in case.warnings)


def test_a_mask_cropped_to_its_extent_needs_no_warning(tmp_path: Path) -> None:
    ct = _volume(np.zeros((10, 30, 30), np.int16))
    tumour = np.zeros((10, 30, 30), np.uint8)
    tumour[3:6, 10:20, 10:20] = 1
    cropped = sitk.RegionOfInterest(_volume(tumour), [12, 12, 5], [9, 9, 2])
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(cropped, str(tmp_path / "mask.nrrd"))

    case = load_case(tmp_path / "ct.nrrd", tmp_path / "mask.nrrd")

    assert case.mask.GetSize() == (12, 12, 5) and not case.warnings


def test_mask_outside_the_image_is_refused(tmp_path: Path) -> None:
    ct = _volume(np.zeros((10, 30, 30), np.int16))
    far = np.ones((4, 4, 4), np.uint8)
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(_volume(far, origin=(500.0, 500.0, 500.0)), str(tmp_path / "far.nrrd"))
    with pytest.raises(GeometryError, match="outside the image"):
        load_case(tmp_path / "ct.nrrd", tmp_path / "far.nrrd")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        read_image(tmp_path / "nothing.nrrd")
    garbage = tmp_path / "garbage.nrrd"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(InputFileError, match="cannot be read"):
        read_image(garbage)
    with pytest.raises(InputFileError, match="no DICOM series"):
        read_image(tmp_path)


def test_two_dimensional_and_colour_images_are_refused(tmp_path: Path) -> None:
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((20, 20), np.int16)), str(tmp_path / "slice.nrrd"))
    with pytest.raises(ImageFormatError, match="2-D"):
        read_image(tmp_path / "slice.nrrd")
    rgb = sitk.GetImageFromArray(np.zeros((4, 20, 20, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.nrrd"))
    with pytest.raises(ImageFormatError, match="3 components"):
        read_image(tmp_path / "rgb.nrrd")


def test_dicom_series_folder() -> None:
    folder = shared_data_path("totalsegmentator", "example_ct_dicom")
    loaded = read_image(folder)
    assert loaded.kind == "dicom"
    assert loaded.image.GetSize() == (512, 512, 20)
    assert loaded.image.GetSpacing()[2] == pytest.approx(2.0, abs=0.01)
    assert len(loaded.dicom_files) == 20
    assert loaded.dicom_tags.get("Modality") == "CT"
    assert loaded.dicom_tags["Modality"] == "CT" and len(loaded.dicom_tags["Files SHA-256"]) == 64


def test_a_dicom_folder_with_links_out_of_it_or_a_pipe_is_refused_before_gdcm_opens_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.dcm"
    outside.write_bytes(b"\0" * 128 + b"DICM")
    for name, make in (("link", lambda folder: os.symlink(outside, folder / "slice.dcm")),
                       ("pipe", lambda folder: os.mkfifo(folder / "slice.dcm"))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "inside.dcm").write_bytes(b"x")
        make(folder)
        with pytest.raises(InputFileError, match=r"links leading out of it or entries that are not files \(slice.dcm\)"):
            read_image(folder)
