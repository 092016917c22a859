"""Hostile RTSTRUCT, SEG and CT files found by attacking the DICOM readers through the command line: a small deflated
file that inflates to gigabytes, many zigzag contours that make the fill run for minutes, and absurd coordinates in
the sentence. Each ends in exit code 2 and one ``error:`` line, decided before the work or memory is spent."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_objects import CtSeries, save, square, write_ct_series, write_rtstruct
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

from CCRCCStagingLib.case import dicom_mask_files, file_checks, rtstruct
from CCRCCStagingLib.cli import main


@pytest.fixture
def ct(tmp_path: Path) -> CtSeries:
    """10 slices of 40 × 50 voxels, 0.8 × 0.8 × 2 mm, origin (-12, -10, 40): slice k lies at z = 40 + 2k."""
    return write_ct_series(tmp_path / "ct", np.full((10, 40, 50), 40))


def _analyze(capsys: pytest.CaptureFixture, ct: CtSeries, mask: Path, out: Path) -> tuple[int, list[str]]:
    code = main(["analyze", str(ct.folder), str(mask), "--out", str(out), "--no-model", "--habitats", "2",
                 "--report", "none"])
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("progress:", "warning:"))]
    return code, lines


def _error(capsys: pytest.CaptureFixture, ct: CtSeries, mask: Path, out: Path) -> str:
    code, lines = _analyze(capsys, ct, mask, out)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not (out / "result.json").exists()
    return lines[0]


def _deflated(source: Path, target: Path, padding: int) -> Path:
    """``source`` written deflated, with a private element of ``padding`` zero bytes (streamed into the compressor:
    deflate packs about a thousand zeros into one byte)."""
    dataset = pydicom.dcmread(source)
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, dataset)
    meta = DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    write_file_meta_info(meta, dataset.file_meta, enforce_standard=True)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [compressor.compress(body.getvalue())]
    if padding:
        parts.append(compressor.compress(struct.pack("<HH", 0x7FE1, 0x0010) + b"LO" + struct.pack("<H", 2) + b"X "))
        parts.append(compressor.compress(struct.pack("<HH", 0x7FE1, 0x1010) + b"OB\0\0" + struct.pack("<I", padding)))
        chunk = bytes(1 << 20)
        for start in range(0, padding, len(chunk)):
            parts.append(compressor.compress(chunk[: min(len(chunk), padding - start)]))
    parts.append(compressor.flush())
    target.write_bytes(b"\0" * 128 + b"DICM" + meta.getvalue() + b"".join(parts))
    return target


def test_a_deflated_mask_that_inflates_beyond_the_limit_is_refused_before_it_is_inflated(
    ct: CtSeries, tmp_path: Path, capsys, monkeypatch
) -> None:
    """A 1.5 MB deflated RTSTRUCT padded with 1.5 GB of zeros made pydicom allocate 3 GB; the inflated size is now
    counted in chunks first (the limit lowered here so that the test inflates 4 MB, not 256)."""
    plain = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44 + 2 * k) for k in range(3)]})
    monkeypatch.setattr(dicom_mask_files, "MAX_INFLATED_BYTES", 2 << 20)
    bomb = _deflated(plain, tmp_path / "bomb.dcm", 4 << 20)
    assert bomb.stat().st_size < 64 << 10
    message = _error(capsys, ct, bomb, tmp_path / "a")
    assert "RTSTRUCT" in message and "is deflated to" in message and "without deflate compression" in message
    # A deflated structure set of sane size is read as before.
    code, lines = _analyze(capsys, ct, _deflated(plain, tmp_path / "deflated.dcm", 0), tmp_path / "b")
    assert code == 0, lines
    assert (tmp_path / "b" / "result.json").is_file()


def test_many_zigzag_contours_are_refused_before_they_are_filled(ct: CtSeries, tmp_path: Path, capsys,
                                                                  monkeypatch) -> None:
    """Each contour below the per-contour limit, all together crossing the pixel rows too often: an 862 kB RTSTRUCT of
    251 such contours kept a 202-row CT case filling for 40 s at 1 GB (the limit lowered here to a small CT's scale)."""
    monkeypatch.setattr(rtstruct, "MAX_CROSSINGS_PER_ROI", 20_000)
    x = np.linspace(-10, 10, 200)
    y = np.where(np.arange(200) % 2 == 0, -9.5, 20.5)  # every edge crosses rows 1…38
    zigzag = [np.column_stack([x, y, np.full(200, 44.0 + 2 * k)]) for k in range(3)]  # 3 × 200 × 38 crossings
    path = write_rtstruct(tmp_path / "zigzag.dcm", ct, {"GTV": zigzag})
    assert "cross the CT's pixel rows 22,800 times, more than the 20,000" in _error(capsys, ct, path, tmp_path / "a")


def test_an_absurd_coordinate_is_not_written_out_in_full(ct: CtSeries, tmp_path: Path, capsys) -> None:
    """A coordinate of 1e300 mm was printed with its 300 digits in the sentence."""
    dataset = pydicom.dcmread(write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44)]}))
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData[0] = "1e300"
    save(dataset, tmp_path / "far.dcm")
    message = _error(capsys, ct, tmp_path / "far.dcm", tmp_path / "a")
    assert "reach 1.0e+300 mm outside the CT" in message and len(message) < 400


def test_a_deflated_ct_slice_that_inflates_beyond_the_budget_is_refused(ct: CtSeries, tmp_path: Path, capsys,
                                                                         monkeypatch) -> None:
    """One 1.5 MB deflated slice padded with 1.5 GB of zeros raised the run's peak memory from 0.56 to 1.7 GB (GDCM
    inflates a data set whole); each file of the series folder is now measured first (the floor lowered here to 1 MB).
    A series deflated for real still reads."""
    mask = write_rtstruct(tmp_path / "rs.dcm", ct, {"GTV": [square(0, 0, 4, 44 + 2 * k) for k in range(3)]})
    for path in ct.files:
        _deflated(path, path, 0)
    code, lines = _analyze(capsys, ct, mask, tmp_path / "a")
    assert code == 0, lines
    monkeypatch.setattr(file_checks, "DICOM_MIN_INFLATED_BUDGET", 1 << 20)
    _deflated(ct.files[4], ct.files[4], 4 << 20)
    message = _error(capsys, ct, mask, tmp_path / "b")
    assert f"The DICOM file {ct.files[4]} is deflated to" in message and "without deflate compression" in message
