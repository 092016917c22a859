"""What a hospital or an attacker can hand the command line, class by class (the README's "What happens when…"):
each ends in exit code 2 and one ``error:`` line with nothing under a final name, or in the documented warning."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.core.files import output_lock
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from conftest import shared_data_path


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("case")
    phantom = make_phantom("low", seed=8, tumour_diameter_mm=18.0)
    sitk.WriteImage(phantom.image, str(folder / "ct.nii.gz"), useCompression=True)
    sitk.WriteImage(phantom.mask, str(folder / "mask.nii.gz"), useCompression=True)
    return {"folder": folder, "ct": folder / "ct.nii.gz", "mask": folder / "mask.nii.gz"}


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "CCRCCStagingLib.cli", *map(str, args)], capture_output=True,
                          text=True, check=False, timeout=timeout)


def _analyze(ct: Path, mask: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _run("analyze", ct, mask, "--out", out, "--no-model", "--habitats", "2", "--report", "none", *extra)


def _error(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if not line.startswith(("progress:", "warning:"))]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _nothing_final(out: Path) -> None:
    assert not out.exists() or not [p.name for p in out.iterdir() if not p.name.startswith(".")], list(out.iterdir())


def _like(reference: sitk.Image, array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


# Files: truncated, zero-filled, damaged geometry, probability maps, huge claims, FIFOs.

def test_a_truncated_gzip_image_or_mask_is_refused_not_zero_filled(case, tmp_path: Path) -> None:
    for role in ("ct", "mask"):
        data = case[role].read_bytes()
        cut = tmp_path / f"cut-{role}.nii.gz"
        cut.write_bytes(data[: int(len(data) * 0.7)])
        paths = {"ct": case["ct"], "mask": case["mask"], role: cut}
        assert "truncated" in _error(_analyze(paths["ct"], paths["mask"], tmp_path / role))
        _nothing_final(tmp_path / role)


def test_damaged_geometry_is_refused(case, tmp_path: Path) -> None:
    image = sitk.ReadImage(str(case["ct"]))
    sitk.WriteImage(image, str(tmp_path / "ct.nii"))
    data = bytearray((tmp_path / "ct.nii").read_bytes())
    struct.pack_into("<f", data, 268, float("nan"))  # qoffset_x
    struct.pack_into("<f", data, 292, float("nan"))  # srow_x[3]
    (tmp_path / "nan.nii").write_bytes(bytes(data))
    # Refused by the byte-level NIfTI check before ITK reads the header (ITK can spin on such geometry).
    refusal = _error(_analyze(tmp_path / "nan.nii", case["mask"], tmp_path / "a"))
    assert "invalid geometry in its NIfTI header" in refusal and "origin" in refusal
    skewed = sitk.Image(image)
    skewed.SetDirection((1.0, 0.3, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(skewed, str(tmp_path / "skew.nrrd"))
    assert "not orthonormal" in _error(_analyze(tmp_path / "skew.nrrd", case["mask"], tmp_path / "b"))


def test_a_probability_map_mask_needs_a_threshold(case, tmp_path: Path) -> None:
    mask = sitk.ReadImage(str(case["mask"]))
    probability = _like(mask, sitk.GetArrayFromImage(mask).astype(np.float32) * 0.5)
    sitk.WriteImage(probability, str(tmp_path / "p.nrrd"))
    line = _error(_analyze(case["ct"], tmp_path / "p.nrrd", tmp_path / "a"))
    assert "probability map" in line and "--mask-threshold 0.5" in line
    completed = _analyze(case["ct"], tmp_path / "p.nrrd", tmp_path / "b", "--mask-threshold", "0.5")
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "b" / "result.json").read_text())
    assert result["inputs"]["mask_selection"] == "voxels ≥ 0.5"


def _nifti_header(size: tuple[int, int, int], datatype: int = 4, bitpix: int = 16) -> bytes:
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *size, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0" * 4


def test_tiny_headers_claiming_huge_volumes_are_refused_before_any_allocation(case, tmp_path: Path) -> None:
    (tmp_path / "huge.nii").write_bytes(_nifti_header((2048, 2048, 512)) + b"\0" * 100)
    completed = _run("analyze", tmp_path / "huge.nii", case["mask"], "--out", tmp_path / "a", "--no-model")
    assert "voxels" in _error(completed)
    nrrd = (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4096 4096 4096\nendian: little\nencoding: gzip\n\n"
            + gzip.compress(b"\0" * 1000))
    (tmp_path / "huge.nrrd").write_bytes(nrrd)
    assert "voxels" in _error(_run("analyze", tmp_path / "huge.nrrd", case["mask"], "--out", tmp_path / "b"))
    bomb = (b"NRRD0004\ntype: short\ndimension: 3\nsizes: 1024 1024 256\nendian: little\nencoding: gzip\n\n"
            + gzip.compress(b"\0" * 1000))
    (tmp_path / "bomb.nrrd").write_bytes(bomb)
    assert "expansion" in _error(_run("analyze", tmp_path / "bomb.nrrd", case["mask"], "--out", tmp_path / "c"))


def test_a_fifo_is_refused_instead_of_blocking(case, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.nrrd")
    assert "not a regular file" in _error(_run("analyze", tmp_path / "pipe.nrrd", case["mask"], "--out", tmp_path / "a",
                                               timeout=60))


def test_a_parameter_file_asking_for_an_absurd_grid_is_refused(case, tmp_path: Path) -> None:
    params = (Path(__file__).resolve().parents[2] / "Resources" / "Params" / "ccrcc_pyradiomics.yaml").read_text()
    (tmp_path / "fine.yaml").write_text(params.replace("resampledPixelSpacing: [1, 1, 1]",
                                                       "resampledPixelSpacing: [0.05, 0.05, 0.05]"))
    line = _error(_analyze(case["ct"], case["mask"], tmp_path / "a", "--params", tmp_path / "fine.yaml"))
    assert "resampledPixelSpacing" in line


# DICOM series whose slices are not where ITK would assume.

def _dicom_copy(tmp_path: Path, drop: int | None = None, duplicate: int | None = None) -> Path:
    source = shared_data_path("totalsegmentator", "example_ct_dicom")
    files = sorted(source.iterdir())
    target = tmp_path / "series"
    target.mkdir()
    for index, path in enumerate(files):
        if index != drop:
            shutil.copy(path, target / path.name)
    if duplicate is not None:
        shutil.copy(files[duplicate], target / "duplicate.dcm")
    return target


def test_a_dicom_series_with_a_missing_slice_is_regridded_with_a_warning(tmp_path: Path) -> None:
    series = _dicom_copy(tmp_path, drop=10)
    labels = shared_data_path("totalsegmentator", "example_seg_dicom.nii.gz")
    completed = _analyze(series, labels, tmp_path / "out", "--label", "8")
    assert completed.returncode == 0, completed.stderr
    warnings = json.loads((tmp_path / "out" / "result.json").read_text())["warnings"]
    assert any("uneven slice spacing" in w and "1 slice(s) missing" in w for w in warnings), warnings


def test_a_dicom_series_with_two_slices_at_one_position_is_refused(tmp_path: Path) -> None:
    series = _dicom_copy(tmp_path, duplicate=5)
    labels = shared_data_path("totalsegmentator", "example_seg_dicom.nii.gz")
    line = _error(_analyze(series, labels, tmp_path / "out", "--label", "8"))
    assert "same position" in line or "DICOM" in line


# Outputs.

def test_two_runs_into_one_folder_cannot_mix(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out):  # another run holds the folder
        assert "Another ccrcc-staging run" in _error(_analyze(case["ct"], case["mask"], out))
    _nothing_final(out)


def test_overwrite_removes_the_previous_runs_files_only(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run("analyze", case["ct"], case["mask"], "--out", out, "--no-model", "--habitats", "2").returncode == 0
    (out / "notes.txt").write_text("mine")
    assert (out / "report.html").exists()
    completed = _analyze(case["ct"], case["mask"], out, "--overwrite")
    assert completed.returncode == 0, completed.stderr
    assert not (out / "report.html").exists()  # the earlier case's report does not stay beside the new result
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("folder", ["/", "/usr/local/ccrcc", "/etc"])
def test_system_folders_are_refused(case, folder: str) -> None:
    assert "system folder" in _error(_analyze(case["ct"], case["mask"], Path(folder)))


def test_a_full_disk_gives_one_line_and_no_final_file(case, tmp_path: Path, monkeypatch, capsys) -> None:
    import errno

    from CCRCCStagingLib.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sitk, "WriteImage", full)
    out = tmp_path / "out"
    code = main(["analyze", str(case["ct"]), str(case["mask"]), "--out", str(out), "--no-model", "--habitats", "2"])
    assert code == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "disk" in error[0] and "full" in error[0]
    _nothing_final(out)


def test_worker_processes_die_with_a_killed_command(tmp_path: Path) -> None:
    import psutil

    phantom = make_phantom("high", seed=3, tumour_diameter_mm=60.0)
    sitk.WriteImage(phantom.image, str(tmp_path / "ct.nrrd"))
    sitk.WriteImage(phantom.mask, str(tmp_path / "mask.nrrd"))
    process = subprocess.Popen(
        [sys.executable, "-m", "CCRCCStagingLib.cli", "analyze", str(tmp_path / "ct.nrrd"), str(tmp_path / "mask.nrrd"),
         "--out", str(tmp_path / "out"), "--no-model", "--workers", "2", "--report", "none"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "CCRCC_PROGRESS": "lines"},  # 'progress:' lines on a pipe
    )
    for line in process.stderr:
        if "extracted" in line:
            break
    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, alive


# Cohorts.

def test_formula_cells_are_neutralised_in_every_csv(tmp_path: Path) -> None:
    from CCRCCStagingLib.core.files import csv_raw, csv_safe

    for cell in ("=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_safe(cell).startswith("'") and csv_raw(csv_safe(cell)) == cell
    assert csv_safe(-2.5) == -2.5 and csv_safe("case 1") == "case 1"


def test_extract_goes_on_past_a_broken_training_case_and_ids_are_trimmed(tmp_path: Path) -> None:
    from CCRCCStagingLib.synthetic.phantoms import write_cohort

    manifest = write_cohort(4, tmp_path / "cohort", seed=3)
    rows = manifest.read_text().splitlines()
    header = rows[0].split(",")
    first = rows[1].split(",")
    (manifest.parent / first[header.index("image")]).write_bytes(b"not an image")
    first[header.index("case_id")] = "=cmd|' /C calc'!A0"
    first[header.index("split")] = "train"
    manifest.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    completed = _run("extract", manifest, "--out", tmp_path / "features.csv", "--habitats", "2")
    assert completed.returncode == 0, completed.stderr[-2000:]
    table = (tmp_path / "features.csv").read_text().splitlines()
    assert any(line.startswith("'=cmd") for line in table)
    duplicated = rows[2].split(",")
    duplicated[header.index("case_id")] = rows[3].split(",")[header.index("case_id")] + " "
    manifest.write_text("\n".join([rows[0], ",".join(duplicated), *rows[3:]]) + "\n")
    assert "repeats case_id" in _error(_run("extract", manifest, "--out", tmp_path / "again.csv"))


def test_train_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    from cohort_tables import features_table, write_features_with_side_files

    features = write_features_with_side_files(tmp_path, features_table(seed=4))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MODEL_CARD.md").write_text("an old card")
    train = ("train", features, "--out", tmp_path / "model", "--classifiers", "lr", "--deploy", "lr", "--optimism-bootstraps", "0")
    assert "not empty" in _error(_run(*train))
    completed = _run(*train, "--overwrite")
    assert completed.returncode == 0, completed.stderr[-2000:]
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert "MODEL_CARD.md" not in manifest["files"]  # the old card is not signed into the new model


# Options.

@pytest.mark.parametrize("option", [("--margin-mm", "inf"), ("--margin-mm", "1e4"), ("--seed", "-1"),
                                    ("--habitats", "12"), ("--workers", "0"), ("--max-voxels", "0")])
def test_option_values_out_of_range_are_one_line(case, tmp_path: Path, option: tuple[str, str]) -> None:
    _error(_run("analyze", case["ct"], case["mask"], "--out", tmp_path / "out", "--no-model", *option))
    _nothing_final(tmp_path / "out")


def test_radiogenomics_refuses_constant_radscores_and_truncated_tables(tmp_path: Path) -> None:
    from CCRCCStagingLib.synthetic.expression import planted_cohort

    paths = planted_cohort(n_samples=40, seed=1).write(tmp_path / "data")
    scores = paths["radscores.csv"].read_text().splitlines()
    constant = [scores[0]] + [",".join([line.split(",")[0], "0.5"]) for line in scores[1:]]
    (tmp_path / "constant.csv").write_text("\n".join(constant) + "\n")
    common = ["--gene-sets", paths["gene_sets.gmt"], "--out", tmp_path / "out"]
    assert "all equal" in _error(_run("radiogenomics", "--expression", paths["expression.tsv"], "--radscore",
                                      tmp_path / "constant.csv", *common))
    data = gzip.compress(paths["expression.tsv"].read_bytes())
    (tmp_path / "cut.tsv.gz").write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(_run("radiogenomics", "--expression", tmp_path / "cut.tsv.gz", "--radscore",
                                      paths["radscores.csv"], *common))


def test_the_report_names_the_patient_analysed_not_whoever_is_in_the_folder_now(tmp_path: Path) -> None:
    """The case identity is captured at analysis time: a folder that holds another patient's series by the time the
    report is made changes neither the report nor the DICOM SEG (which refuses)."""
    import pydicom

    series = _dicom_copy(tmp_path)
    labels = shared_data_path("totalsegmentator", "example_seg_dicom.nii.gz")
    out = tmp_path / "out"
    assert _analyze(series, labels, out, "--label", "8").returncode == 0
    captured = json.loads((out / "result.json").read_text())["inputs"]["dicom"]
    for path in series.iterdir():  # another patient's series takes the folder's place
        dataset = pydicom.dcmread(path)
        dataset.PatientName, dataset.PatientID = "Intruder^Eve", "INTRUDER-1"
        dataset.SeriesInstanceUID = "1.2.3.4.5.6"
        dataset.save_as(path)

    assert _run("report", out, "--format", "html").returncode == 0
    html = (out / "report.html").read_text()
    assert "INTRUDER-1" not in html and "Intruder" not in html
    if captured.get("Patient ID"):
        assert captured["Patient ID"] in html
    line = _error(_run("report", out, "--format", "none", "--dicom-seg"))
    assert "another DICOM series" in line
