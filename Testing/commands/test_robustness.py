"""The README's "What happens when…" catalogue: every foreseeable bad input gets one clear line (CLI exit code 2,
no traceback) or a warning, and nothing half-written is left under a final name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.synthetic.phantoms import make_phantom


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    """A small phantom on disk: CT, tumour mask, and the arrays to derive broken variants from."""
    folder = tmp_path_factory.mktemp("case")
    phantom = make_phantom("low", seed=8, tumour_diameter_mm=18.0)
    sitk.WriteImage(phantom.image, str(folder / "ct.nrrd"))
    sitk.WriteImage(phantom.mask, str(folder / "mask.nrrd"))
    return {"folder": folder, "ct": folder / "ct.nrrd", "mask": folder / "mask.nrrd"}


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "CCRCCStagingLib.cli", *args], capture_output=True, text=True, check=False
    )


def _error_line(completed: subprocess.CompletedProcess) -> str:
    """The single user-facing line of a failed run (progress lines aside)."""
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if not line.startswith("progress:")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def _analyze(case: dict[str, Path], tmp_path: Path, image: Path | None = None, mask: Path | None = None,
             *extra: str) -> subprocess.CompletedProcess:
    return _run("analyze", str(image or case["ct"]), str(mask or case["mask"]), "--out", str(tmp_path / "out"),
                "--no-model", "--habitats", "2", *extra)


def _write(image: sitk.Image, path: Path) -> Path:
    sitk.WriteImage(image, str(path))
    return path


def _like(reference: sitk.Image, array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


# 1. Missing, unreadable, truncated, not an image.
def test_missing_truncated_and_non_image_files(case, tmp_path: Path) -> None:
    assert "does not exist" in _error_line(_analyze(case, tmp_path, image=tmp_path / "none.nrrd"))
    data = case["ct"].read_bytes()
    truncated = tmp_path / "truncated.nrrd"
    truncated.write_bytes(data[: len(data) // 2])
    assert "is truncated" in _error_line(_analyze(case, tmp_path, image=truncated))
    text = tmp_path / "notes.nrrd"
    text.write_text("hello")
    assert "cannot be read" in _error_line(_analyze(case, tmp_path, mask=text))


# 2. Empty mask, absent label (the present ones listed).
def test_empty_mask_and_absent_label(case, tmp_path: Path) -> None:
    reference = sitk.ReadImage(str(case["mask"]))
    empty = _write(_like(reference, np.zeros(reference.GetSize()[::-1], np.uint8)), tmp_path / "empty.nrrd")
    assert "empty" in _error_line(_analyze(case, tmp_path, mask=empty))
    assert "holds labels [1]" in _error_line(_analyze(case, tmp_path, None, None, "--label", "4"))


# 3. No physical overlap (refused), another grid (accepted with a warning).
def test_geometry_mismatch(case, tmp_path: Path) -> None:
    mask = sitk.ReadImage(str(case["mask"]))
    far = sitk.Image(mask)
    far.SetOrigin([o + 5000 for o in mask.GetOrigin()])
    assert "outside the image" in _error_line(_analyze(case, tmp_path, mask=_write(far, tmp_path / "far.nrrd")))
    coarse = sitk.Resample(mask, [s // 2 for s in mask.GetSize()], sitk.Transform(), sitk.sitkNearestNeighbor,
                           mask.GetOrigin(), [s * 2 for s in mask.GetSpacing()], mask.GetDirection())
    completed = _analyze(case, tmp_path, mask=_write(coarse, tmp_path / "coarse.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "on another grid than the CT" in completed.stderr


# 4. 2-D, 4-D and RGB images.
def test_wrong_dimensions_and_colour(case, tmp_path: Path) -> None:
    flat = _write(sitk.GetImageFromArray(np.zeros((30, 30), np.int16)), tmp_path / "flat.nrrd")
    assert "2-D" in _error_line(_analyze(case, tmp_path, image=flat))
    four = sitk.JoinSeries([sitk.ReadImage(str(case["ct"]))] * 2)
    assert "4-D" in _error_line(_analyze(case, tmp_path, image=_write(four, tmp_path / "four.nrrd")))
    rgb = sitk.GetImageFromArray(np.zeros((5, 30, 30, 3), np.uint8), isVector=True)
    assert "components per voxel" in _error_line(_analyze(case, tmp_path, image=_write(rgb, tmp_path / "rgb.nrrd")))


# 5. Intensities that are not CT in HU.
def test_non_ct_intensities_warn(case, tmp_path: Path) -> None:
    ct = sitk.ReadImage(str(case["ct"]), sitk.sitkFloat32)
    normalised = (ct + 1024.0) / 4000.0
    completed = _analyze(case, tmp_path, image=_write(normalised, tmp_path / "normalised.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "do not look like CT in Hounsfield units" in completed.stderr


# 6. A tumour too small for habitats and feature classes: regions still written, features that cannot be
# computed are reported.
def test_tiny_tumour_still_writes_regions(case, tmp_path: Path) -> None:
    reference = sitk.ReadImage(str(case["mask"]))
    array = np.zeros(reference.GetSize()[::-1], np.uint8)
    centre = np.array(array.shape) // 2
    array[centre[0], centre[1] : centre[1] + 3, centre[2] : centre[2] + 3] = 1
    completed = _analyze(case, tmp_path, mask=_write(_like(reference, array), tmp_path / "tiny.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "fewer than 64" in completed.stderr
    assert (tmp_path / "out" / "regions.nrrd").exists()


# 7. A tumour touching the edge of the scan: the missing part of the shell is reported.
def test_tumour_at_the_edge_warns_with_the_missing_fraction(case, tmp_path: Path) -> None:
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(case["mask"])))
    lowest = int(np.nonzero(mask.any(axis=(1, 2)))[0].min())
    ct = sitk.ReadImage(str(case["ct"]))
    cropped_ct = ct[:, :, lowest:]
    cropped_mask = sitk.ReadImage(str(case["mask"]))[:, :, lowest:]
    completed = _analyze(case, tmp_path, _write(cropped_ct, tmp_path / "edge_ct.nrrd"),
                         _write(cropped_mask, tmp_path / "edge_mask.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "touches the edge of the scan" in completed.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert 0 < result["peri_missing_fraction"] < 1


# 8. Thick slices.
def test_thick_slices_warn(case, tmp_path: Path) -> None:
    ct, mask = sitk.ReadImage(str(case["ct"])), sitk.ReadImage(str(case["mask"]))
    spacing = (ct.GetSpacing()[0], ct.GetSpacing()[1], 5.0)
    size = [ct.GetSize()[0], ct.GetSize()[1], int(ct.GetSize()[2] * ct.GetSpacing()[2] / 5.0)]
    thick_ct = sitk.Resample(ct, size, sitk.Transform(), sitk.sitkLinear, ct.GetOrigin(), spacing, ct.GetDirection())
    thick_mask = sitk.Resample(mask, thick_ct, sitk.Transform(), sitk.sitkNearestNeighbor)
    completed = _analyze(case, tmp_path, _write(thick_ct, tmp_path / "thick.nrrd"),
                         _write(thick_mask, tmp_path / "thick_mask.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "5.0 mm voxels" in completed.stderr


# 9. Several disconnected tumour parts: one VOI, with a warning listing them.
def test_disconnected_parts_are_listed(case, tmp_path: Path) -> None:
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(case["mask"])))
    z, y, x = np.nonzero(mask)
    mask[z.min() : z.min() + 3, 2:5, 2:5] = 1  # a small satellite far from the tumour
    completed = _analyze(case, tmp_path, mask=_write(_like(sitk.ReadImage(str(case["mask"])), mask),
                                                     tmp_path / "two.nrrd"))
    assert completed.returncode == 0, completed.stderr
    assert "2 disconnected parts" in completed.stderr


# 10. NaN/Inf voxels; unusual pixel types.
def test_nan_voxels_are_refused_and_unusual_pixel_types_work(case, tmp_path: Path) -> None:
    ct = sitk.ReadImage(str(case["ct"]), sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(ct)
    array[0, 0, :5] = np.nan
    array[0, 1, :2] = np.inf
    assert "7 voxels that are NaN or infinite" in _error_line(
        _analyze(case, tmp_path, image=_write(_like(ct, array), tmp_path / "nan.nrrd"))
    )
    as_uint16 = sitk.Cast(sitk.ReadImage(str(case["ct"])) + 1024, sitk.sitkUInt16)
    completed = _analyze(case, tmp_path, _write(as_uint16, tmp_path / "u16.nrrd"), None, "--overwrite")
    assert completed.returncode == 0, completed.stderr


# 11. A model folder that is missing, tampered with or foreign (more in test_bundle.py).
def test_bad_model_folder_is_one_line(case, tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    completed = _run("analyze", str(case["ct"]), str(case["mask"]), "--out", str(tmp_path / "out"),
                     "--model", str(tmp_path / "not-a-model"))
    assert "not a CCRCCStaging model folder" in _error_line(completed)


# 12. Output folder not writable, or already holding results.
def test_output_folder_problems(case, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    completed = _run("analyze", str(case["ct"]), str(case["mask"]), "--out", str(blocker / "out"), "--no-model")
    assert "Cannot create the output folder" in _error_line(completed)
    assert _analyze(case, tmp_path).returncode == 0
    before = (tmp_path / "out" / "result.json").read_bytes()
    assert "--overwrite" in _error_line(_analyze(case, tmp_path))
    assert (tmp_path / "out" / "result.json").read_bytes() == before


# 13. An interrupted run leaves no partial file under a final name.
def test_interrupted_run_leaves_no_partial_result(case, tmp_path: Path, monkeypatch) -> None:
    import CCRCCStagingLib.case.result as result_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(result_module, "write_feature_rows", interrupted)
    code = main(["analyze", str(case["ct"]), str(case["mask"]), "--out", str(tmp_path / "out"), "--no-model",
                 "--habitats", "2"])
    assert code == 130
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "result.json" not in left and "features.csv" not in left
    # no temporary left behind (the folder's lock file stays: it is how a second run into the folder is refused)
    assert not [name for name in left if name.startswith(".") and name != ".ccrcc-staging.lock"], left


# 14. The same input twice gives the same result.json apart from timings (two separate processes).
def test_same_input_twice_gives_identical_results(case, tmp_path: Path) -> None:
    results = []
    for name in ("first", "second"):
        completed = _run("analyze", str(case["ct"]), str(case["mask"]), "--out", str(tmp_path / name), "--no-model")
        assert completed.returncode == 0, completed.stderr
        result = json.loads((tmp_path / name / "result.json").read_text())
        del result["timings_s"]
        results.append(json.dumps(result, sort_keys=True))
    assert results[0] == results[1]
    first = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "first" / "regions.nrrd")))
    second = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "second" / "regions.nrrd")))
    np.testing.assert_array_equal(first, second)
