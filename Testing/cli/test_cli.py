"""``ccrcc-staging analyze`` end to end: outputs, their geometry, and the one-line errors users get."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.synthetic.phantoms import make_phantom, synthesize_ct_from_labels
from conftest import shared_data_path

N_FEATURES_PER_REGION = 1130


def _write_case(folder: Path, image: sitk.Image, mask: sitk.Image) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(folder / "ct.nrrd"), useCompression=True)
    sitk.WriteImage(mask, str(folder / "tumour.nii.gz"))
    return folder / "ct.nrrd", folder / "tumour.nii.gz"


def _check_outputs(out: Path, ct: sitk.Image) -> dict:
    result = json.loads((out / "result.json").read_text())
    regions = sitk.ReadImage(str(out / "regions.nrrd"))
    labels = sitk.GetArrayFromImage(regions)

    assert regions.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    assert regions.GetDirection() == pytest.approx(ct.GetDirection(), abs=1e-6)
    assert list(regions.GetSize()) == result["inputs"]["regions_geometry"]["size"]
    assert regions.GetOrigin() == pytest.approx(result["inputs"]["regions_geometry"]["origin"], abs=1e-5)
    # The regions lie inside the CT's physical extent.
    centre = regions.TransformContinuousIndexToPhysicalPoint([s / 2 for s in regions.GetSize()])
    index = ct.TransformPhysicalPointToContinuousIndex(centre)
    assert all(0 <= i <= s for i, s in zip(index, ct.GetSize()))

    k = result["habitats_k"]
    for name, entry in result["regions"].items():
        if "label" in entry:
            assert (labels == entry["label"]).sum() == entry["voxels"], name
    assert result["regions"]["whole"]["voxels"] == sum(result["regions"][f"sub{i}"]["voxels"] for i in range(1, k + 1))
    assert set(result["bic"]) <= {"2", "3", "4"}
    for key in ("warnings", "timings_s", "software", "settings"):
        assert key in result

    with (out / "features.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    assert len(rows[0]) == 1 + (k + 2) * N_FEATURES_PER_REGION
    assert "peri_wavelet-LLH_glcm_Idmn" in rows[0]
    return result


def test_analyze_a_phantom(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("CCRCC_PROGRESS", "lines")  # as the Slicer module asks for them
    phantom = make_phantom("low", seed=3, tumour_diameter_mm=22.0)
    image_path, mask_path = _write_case(tmp_path / "case", phantom.image, phantom.mask)

    assert main(
        ["analyze", str(image_path), str(mask_path), "--out", str(tmp_path / "out"), "--habitats", "2", "--no-model"]
    ) == 0

    result = _check_outputs(tmp_path / "out", phantom.image)
    assert result["habitats_k"] == 2
    assert result["case_id"] == "ct"
    captured = capsys.readouterr()
    assert "progress: 1.00" in captured.err
    assert "2 habitats" in captured.out


def test_analyze_a_real_kits19_segmentation_with_a_synthetic_ct(tmp_path: Path) -> None:
    labels = sitk.ReadImage(str(shared_data_path("kits19", "segmentations", "case_00061.nii.gz")))
    ct = synthesize_ct_from_labels(labels, seed=0)
    sitk.WriteImage(ct, str(tmp_path / "ct.nii.gz"))

    code = main(
        ["analyze", str(tmp_path / "ct.nii.gz"), str(shared_data_path("kits19", "segmentations", "case_00061.nii.gz")),
         "--label", "2", "--habitats", "2", "--no-model", "--out", str(tmp_path / "out")]
    )

    assert code == 0
    result = _check_outputs(tmp_path / "out", ct)
    tumour_ml = float(np.sum(sitk.GetArrayViewFromImage(labels) == 2)) * np.prod(labels.GetSpacing()) / 1000
    # Nearest-neighbour resampling of 5 mm slices to 1 mm keeps the volume within a few percent.
    assert result["regions"]["whole"]["volume_ml"] == pytest.approx(tumour_ml, rel=0.05)


def test_user_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "CCRCCStagingLib.cli", "analyze", str(tmp_path / "missing.nrrd"),
         str(tmp_path / "mask.nrrd"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if not line.startswith("progress:")]
    assert lines == [f"error: The image file {tmp_path / 'missing.nrrd'} does not exist."]
    assert "Traceback" not in completed.stderr


def test_existing_results_are_not_overwritten_without_asking(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text("{}")
    code = main(["analyze", "a.nrrd", "b.nrrd", "--out", str(out)])
    assert code == 2
    assert (out / "result.json").read_text() == "{}"


def test_worker_processes_do_not_change_the_features(tmp_path: Path) -> None:
    phantom = make_phantom("high", seed=5, tumour_diameter_mm=24.0)
    image_path, mask_path = _write_case(tmp_path / "case", phantom.image, phantom.mask)
    tables = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        assert main(["analyze", str(image_path), str(mask_path), "--out", str(out), "--workers", workers,
                     "--report", "none"]) == 0
        with open(out / "features.csv", newline="") as handle:
            tables.append(list(csv.DictReader(handle)))
    assert tables[0] == tables[1] and len(tables[0][0]) > 5


def test_train_and_evaluate_commands_render_the_reports_the_computation_does_not(tmp_path: Path, capsys) -> None:
    """``train`` and ``evaluate`` compute and return data; the commands render (the training report is written
    before the manifest, so the model folder lists it)."""
    import json

    from cohort_tables import features_table, write_features_with_side_files

    features = write_features_with_side_files(tmp_path, features_table(seed=4))
    assert main(["train", str(features), "--out", str(tmp_path / "model"), "--classifiers", "lr,svm", "--optimism-bootstraps", "2"]) == 0
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert "training_report.html" in manifest["files"]
    assert (tmp_path / "model" / "training_report.html").stat().st_size > 10_000
    other = features_table(seed=5).assign(split="external")
    write_features_with_side_files(tmp_path, other, "other.csv")
    assert main(["evaluate", str(tmp_path / "model"), str(tmp_path / "other.csv"), "--out", str(tmp_path / "ev")]) == 0
    assert (tmp_path / "ev" / "evaluation_report.html").stat().st_size > 10_000
