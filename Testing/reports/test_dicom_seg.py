"""DICOM SEG export round trip on a real CT series (../shared/data/totalsegmentator/example_ct_dicom, 20 slices of
512 × 512, de-identified with emptied UIDs) with a generated spherical tumour, and the report of a DICOM case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.core import palette
from CCRCCStagingLib.reports import dicom_seg

from CCRCCStagingLib.reports.case.render import render_report
from CCRCCStagingLib.core.files import DICOM_SEG_FILE
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.core.errors import GeometryError, InputFileError, OutputError
from conftest import shared_data_path

SERIES = ("totalsegmentator", "example_ct_dicom")
#: Tumour centre (x, y, z voxel index of the CT) inside the body, and its radius in mm.
CENTRE = (200, 260, 10)
RADIUS_MM = 11.0


def _read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _sphere_on(ct: sitk.Image) -> sitk.Image:
    z, y, x = np.indices(ct.GetSize()[::-1], dtype=float)
    sx, sy, sz = ct.GetSpacing()
    inside = ((x - CENTRE[0]) * sx) ** 2 + ((y - CENTRE[1]) * sy) ** 2 + ((z - CENTRE[2]) * sz) ** 2 <= RADIUS_MM**2
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(ct)
    return mask


@pytest.fixture(scope="module")
def dicom_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, sitk.Image]:
    """(series folder, analysis folder, CT) of the DICOM series analysed with a spherical tumour, K = 2."""
    series = shared_data_path(*SERIES)
    base = tmp_path_factory.mktemp("dicom-seg")
    ct = _read_series(series)
    assert ct.GetSize() == (512, 512, 20)
    sitk.WriteImage(_sphere_on(ct), str(base / "tumour.nrrd"), useCompression=True)
    out = base / "analysis"
    arguments = ["analyze", str(series), str(base / "tumour.nrrd"), "--out", str(out), "--no-model", "--habitats", "2"]
    assert main(arguments) == 0
    return series, out, ct


def test_seg_round_trip(dicom_case, tmp_path: Path) -> None:
    import highdicom as hd
    import pydicom

    series, analysis, ct = dicom_case
    exported = dicom_seg.export_dicom_seg(analysis, tmp_path / "regions.seg.dcm")

    assert exported.path == tmp_path / "regions.seg.dcm" and exported.path.is_file()
    assert exported.segments == ["Habitat 1", "Habitat 2", "Peritumoral 3 mm"]
    assert any("stand-in UIDs" in w for w in exported.warnings)  # this series' Study/Series UIDs are empty
    assert [p.name for p in tmp_path.iterdir()] == ["regions.seg.dcm"]  # no temporary file left

    seg = hd.seg.segread(str(exported.path))
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    assert seg.get_segment_numbers() == [1, 2, 3]
    descriptions = [seg.get_segment_description(n) for n in (1, 2, 3)]
    assert [d.segment_label for d in descriptions] == exported.segments
    assert all(d.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC for d in descriptions)
    assert [d.segmented_property_type.value for d in descriptions] == ["108369006", "108369006", "87784001"]
    assert [d.segmented_property_category.value for d in descriptions] == ["49755003", "49755003", "85756007"]
    # The project's one palette, as in the report and the Slicer segments.
    colours = (palette.habitat_colour(1), palette.habitat_colour(2), palette.PERITUMORAL_COLOUR)
    assert [list(d.RecommendedDisplayCIELabValue) for d in descriptions] == [dicom_seg.dicom_cielab(c) for c in colours]

    # Geometry: the SEG references every slice of the series, on the CT's grid.
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(series))
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    source_uids = [str(s.file_meta.MediaStorageSOPInstanceUID) for s in sources]
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert sorted(str(r.ReferencedSOPInstanceUID) for r in referenced) == sorted(source_uids)
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert (seg.Rows, seg.Columns) == (512, 512)
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in measures.PixelSpacing] == pytest.approx(ct.GetSpacing()[:2])
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=source_uids, combine_segments=True, assert_missing_frames_are_empty=True
    )
    assert pixels.shape == (20, 512, 512)

    # The same labels as regions.nrrd resampled onto the CT (slice k of the series = source instance k).
    regions = sitk.ReadImage(str(analysis / "regions.nrrd"))
    expected = sitk.GetArrayFromImage(sitk.Resample(regions, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0))
    result = json.loads((analysis / "result.json").read_text())
    for number, label in ((1, result["regions"]["sub1"]["label"]), (2, result["regions"]["sub2"]["label"]),
                          (3, result["regions"]["peri"]["label"])):
        assert np.array_equal(pixels == number, expected == label), f"segment {number}"
    # and the habitats lie in the generated tumour, the shell around it
    sphere = sitk.GetArrayFromImage(_sphere_on(ct)).astype(bool)
    habitats = (pixels == 1) | (pixels == 2)
    assert habitats.sum() > 0.8 * sphere.sum() and np.mean(sphere[habitats]) > 0.9
    assert np.mean(sphere[pixels == 3]) < 0.1


def test_default_output_is_in_the_analysis_folder(dicom_case) -> None:
    _, analysis, _ = dicom_case
    exported = dicom_seg.export_dicom_seg(analysis)
    assert exported.path == analysis / DICOM_SEG_FILE and exported.path.is_file()


def test_refusals_are_sentences(dicom_case, tmp_path: Path) -> None:
    series, analysis, _ = dicom_case
    copy = tmp_path / "copy"
    shutil.copytree(analysis, copy)
    result = json.loads((copy / "result.json").read_text())

    not_dicom = dict(result, inputs=dict(result["inputs"], image="/data/ct.nrrd", image_kind="file"))
    (copy / "result.json").write_text(json.dumps(not_dicom))
    with pytest.raises(InputFileError, match="needs a CT read from a DICOM series"):
        dicom_seg.export_dicom_seg(copy)

    moved = dict(result, inputs=dict(result["inputs"], image=str(tmp_path / "gone")))
    (copy / "result.json").write_text(json.dumps(moved))
    with pytest.raises(InputFileError, match="is not there"):
        dicom_seg.export_dicom_seg(copy)
    assert dicom_seg.export_dicom_seg(copy, series_dir=series).path.is_file()  # the folder given explicitly

    geometry = dict(result["inputs"]["image_geometry"], size=[512, 512, 21])
    other = dict(result, inputs=dict(result["inputs"], image_geometry=geometry))
    (copy / "result.json").write_text(json.dumps(other))
    with pytest.raises(GeometryError, match="not the one analysed"):
        dicom_seg.export_dicom_seg(copy)

    with pytest.raises(InputFileError, match="not a finished analysis folder"):
        dicom_seg.export_dicom_seg(tmp_path / "empty")


def test_a_highdicom_that_cannot_run_on_numpy_2_is_refused_with_a_sentence(monkeypatch) -> None:
    # 3D Slicer 5.10's Python: numpy 2.0 with pydicom 2.4, so at most highdicom 0.22, which uses np.float_.
    hd = pytest.importorskip("highdicom")
    monkeypatch.setattr(np, "__version__", "2.0.2")
    monkeypatch.setattr(hd, "__version__", "0.22.0")
    with pytest.raises(OutputError, match=r"numpy 2\.0\.2 needs highdicom 0\.23 or later .* highdicom 0\.22\.0"):
        dicom_seg.export_dicom_seg(Path("unused"))


def test_report_of_a_dicom_case(dicom_case) -> None:
    _, analysis, _ = dicom_case
    render_report(analysis, formats=("html",))
    html = (analysis / "report.html").read_text()
    assert "Study date" in html and "2022-12-08" in html  # from the series' header
    assert "DICOM series" in html
    assert "No prediction (no model)" in html

    render_report(analysis, formats=("html",), include_identifiers=False)
    html = (analysis / "report.html").read_text()
    assert "2022-12-08" not in html and "example_ct_dicom" not in html and "CT Body" not in html
