"""``predict``: many cases at once — one row per case, a failing case recorded and the run going on, a run killed
halfway resumed computing only the missing cases, the dashboard in a real Chromium, and the folder naming rules.

The per-case numbers are checked against ``analyze`` on the same case: consistency of the project's two paths (the
prediction itself is checked elsewhere against its independent yardsticks)."""

from __future__ import annotations

import csv
from contextlib import contextmanager
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.case.inputs import find_batch_inputs
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.commands.predict import KEY_FILE
from CCRCCStagingLib.core.errors import InputFileError
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from conftest import shared_data_path

REPO = Path(__file__).resolve().parents[2]
PHANTOMS = (("low", 401, 20.0), ("high", 402, 30.0), ("low", 403, 22.0), ("high", 404, 28.0), ("low", 405, 24.0))


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory) -> Path:
    """Five small phantoms as ``images/<case>.nrrd`` + ``masks/<case>.nrrd`` (what ``phantoms`` writes)."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "images").mkdir()
    (folder / "masks").mkdir()
    for stage, seed, diameter in PHANTOMS:
        phantom = make_phantom(stage, seed=seed, tumour_diameter_mm=diameter)
        sitk.WriteImage(phantom.image, str(folder / "images" / f"p{seed}.nrrd"))
        sitk.WriteImage(phantom.mask, str(folder / "masks" / f"p{seed}.nrrd"))
    return folder


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "predictions.csv").open() as handle:
        return {row["case_id"]: row for row in csv.DictReader(handle)}


@contextmanager
def _dashboard(out: Path, profile: Path) -> Iterator[tuple[Any, Any]]:
    """``out/index.html`` opened in headless Chromium: yields the browser and the case table; afterwards checks that
    the page logged no error or warning and requested nothing but itself (inline data excepted)."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium); the dashboard test "
                        "cannot drive Chromium")
    from selenium.webdriver.common.by import By
    from browser_harness import requests_made, start_chromium

    browser = start_chromium(profile)
    try:
        url = (out / "index.html").as_uri()
        browser.get("about:blank")
        requests_made(browser)
        browser.get(url)
        yield browser, browser.find_element(By.ID, "case-table")
        assert [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")] == []
        assert all(u == url or u.startswith("data:") for u in requests_made(browser))
    finally:
        browser.quit()


def test_every_case_gets_a_row_equal_to_analyze(phantom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions"
    assert main(["predict", str(phantom_folder), "--out", str(out), "--jobs", "2"]) == 0

    rows = _rows(out)
    assert sorted(rows) == sorted(f"p{seed}" for _, seed, _ in PHANTOMS)
    assert {row["status"] for row in rows.values()} == {"done"}
    assert (out / "index.html").is_file()
    _, seed, _ = PHANTOMS[1]
    assert main(["analyze", str(phantom_folder / "images" / f"p{seed}.nrrd"),
                 str(phantom_folder / "masks" / f"p{seed}.nrrd"), "--out", str(tmp_path / "one"), "--report", "none"]) == 0
    alone = json.loads((tmp_path / "one" / "result.json").read_text())
    row = rows[f"p{seed}"]
    assert float(row["probability_high"]) == pytest.approx(alone["probability_high"], abs=1e-9)
    assert row["t_stage_group"] == alone["t_stage_group"] and row["risk_group"] == alone["risk_group"]
    assert float(row["tumour_volume_ml"]) == pytest.approx(alone["regions"]["whole"]["volume_ml"])
    assert (out / row["report"]).is_file()
    assert json.loads((out / "cases" / f"p{seed}" / "result.json").read_text())["case_id"] == f"p{seed}"


def test_a_failing_case_is_recorded_and_the_run_goes_on(phantom_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    for _, seed, _ in PHANTOMS[:2]:
        (folder / f"p{seed}").mkdir(parents=True)
        (folder / f"p{seed}" / "ct.nrrd").write_bytes((phantom_folder / "images" / f"p{seed}.nrrd").read_bytes())
        (folder / f"p{seed}" / "mask.nrrd").write_bytes((phantom_folder / "masks" / f"p{seed}.nrrd").read_bytes())
    (folder / "broken").mkdir()
    (folder / "broken" / "image.nrrd").write_bytes(b"NRRD0004\ntype: short\n")  # a truncated header
    (folder / "broken" / "mask.nrrd").write_bytes(b"")

    out = tmp_path / "out"
    assert main(["predict", str(folder), "--out", str(out), "--report", "none"]) == 0

    rows = _rows(out)
    assert [rows[case]["status"] for case in ("broken", "p401", "p402")] == ["failed", "done", "done"]
    assert rows["broken"]["error"].startswith("The image") and "\n" not in rows["broken"]["error"]


def test_a_run_killed_halfway_computes_only_the_missing_cases(phantom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "CCRCCStagingLib.cli", "predict", str(phantom_folder), "--out", str(out),
               "--report", "none"]
    # Ctrl-C as a terminal delivers it, also when the suite itself runs in the background (`make test &`, nohup, some
    # CI runners), where the shell starts every child with SIGINT ignored and Python then never raises
    # KeyboardInterrupt.
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob(f"cases/*/{KEY_FILE}")):
        time.sleep(0.01)
    # Frozen as soon as a case is done, then Ctrl-C: the small cases could otherwise all finish between two looks
    # (one process: --jobs 1 runs the cases in it).
    process.send_signal(signal.SIGSTOP)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGCONT)
    assert process.wait(timeout=60) == 130
    finished = {path.parent.name for path in out.glob(f"cases/*/{KEY_FILE}")}
    assert 1 <= len(finished) < len(PHANTOMS), "the run was not stopped halfway"
    assert not (out / "predictions.csv").exists()

    assert main(["predict", str(phantom_folder), "--out", str(out), "--report", "none"]) == 0

    statuses = {case: row["status"] for case, row in _rows(out).items()}
    assert {case for case, status in statuses.items() if status == "done (earlier run)"} == finished
    assert {case for case, status in statuses.items() if status == "done"} == {f"p{s}" for _, s, _ in PHANTOMS} - finished


def test_changed_inputs_are_computed_again_and_another_input_is_refused(phantom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = tmp_path / "manifest.csv"
    _, seed, _ = PHANTOMS[0]
    manifest.write_text(f"case_id,image,mask\np{seed},{phantom_folder}/images/p{seed}.nrrd,"
                        f"{phantom_folder}/masks/p{seed}.nrrd\n")
    assert main(["predict", str(manifest), "--out", str(out), "--report", "none"]) == 0
    assert main(["predict", str(manifest), "--out", str(out), "--report", "none"]) == 0
    assert _rows(out)[f"p{seed}"]["status"] == "done (earlier run)"
    assert main(["predict", str(manifest), "--out", str(out), "--report", "html"]) == 0  # other options: again
    assert _rows(out)[f"p{seed}"]["status"] == "done"

    assert main(["predict", str(phantom_folder), "--out", str(out)]) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["predict", str(manifest), "--out", str(tmp_path / "other")]) == 2


@pytest.mark.parametrize("case_id", ["../escape", "=HYPERLINK(1)", "a/b", ".hidden"])
def test_a_manifest_case_id_that_is_not_a_folder_name_is_refused(tmp_path: Path, case_id: str, capsys) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f'case_id,image,mask\n"{case_id}",ct.nrrd,mask.nrrd\n')
    assert main(["predict", str(manifest), "--out", str(tmp_path / "out")]) == 2
    assert "case_id" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_folder_naming_rules(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("a_image.nii.gz", "a_mask.nii.gz", "b_ct.nrrd", "b_seg.nrrd", "c_image.nrrd", "notes.txt"):
        (flat / name).write_bytes(b"x")
    found = find_batch_inputs(flat)
    assert [(c.case_id, c.image.name, c.mask.name) for c in found.cases] == [
        ("a", "a_image.nii.gz", "a_mask.nii.gz"), ("b", "b_ct.nrrd", "b_seg.nrrd")]
    assert any(reason.startswith("c:") for reason in found.skipped)

    per_case = tmp_path / "per_case"
    for case, image, mask in (("STS_001", "image", "mask"), ("k2", "CT_image.nii.gz", "Segmentation.seg.nrrd")):
        (per_case / case).mkdir(parents=True)
        (per_case / case / image).mkdir() if "." not in image else (per_case / case / image).write_bytes(b"x")
        (per_case / case / mask).mkdir() if "." not in mask else (per_case / case / mask).write_bytes(b"x")
    (per_case / "empty").mkdir()
    found = find_batch_inputs(per_case)
    assert [(c.case_id, c.image.name, c.mask.name) for c in found.cases] == [
        ("STS_001", "image", "mask"), ("k2", "CT_image.nii.gz", "Segmentation.seg.nrrd")]

    outside = tmp_path / "outside.nrrd"
    outside.write_bytes(b"x")
    linked = tmp_path / "linked"
    (linked / "images").mkdir(parents=True)
    (linked / "masks").mkdir()
    os.symlink(outside, linked / "images" / "x.nrrd")
    (linked / "masks" / "x.nrrd").write_bytes(b"x")
    with pytest.raises(InputFileError, match="a link out of"):
        find_batch_inputs(linked)
    with pytest.raises(InputFileError, match="does not exist"):
        find_batch_inputs(tmp_path / "nothing")


def test_progress_lines_only_when_asked(phantom_folder: Path, tmp_path: Path) -> None:
    _, seed, _ = PHANTOMS[0]
    arguments = ["analyze", str(phantom_folder / "images" / f"p{seed}.nrrd"), str(phantom_folder / "masks" / f"p{seed}.nrrd"),
                 "--report", "none", "--no-model"]
    quiet = subprocess.run([sys.executable, "-m", "CCRCCStagingLib.cli", *arguments, "--out", str(tmp_path / "a")],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "CCRCC_PROGRESS": ""})
    lines = subprocess.run([sys.executable, "-m", "CCRCCStagingLib.cli", *arguments, "--out", str(tmp_path / "b")],
                           cwd=REPO, capture_output=True, text=True, env={**os.environ, "CCRCC_PROGRESS": "lines"})
    assert quiet.returncode == lines.returncode == 0
    assert "progress:" not in quiet.stderr  # not a terminal, not asked: nothing
    assert "progress: 1.00" in lines.stderr


def test_dashboard_in_chromium(phantom_folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium); the dashboard test "
                        "cannot drive Chromium")
    from selenium.webdriver.common.by import By

    out = tmp_path / "out"
    (tmp_path / "cases").mkdir()
    for _, seed, _ in PHANTOMS[:3]:
        for kind in ("image", "mask"):
            source = phantom_folder / ("images" if kind == "image" else "masks") / f"p{seed}.nrrd"
            (tmp_path / "cases" / f"p{seed}_{kind}.nrrd").write_bytes(source.read_bytes())
    (tmp_path / "cases" / "bad_image.nrrd").write_bytes(b"not an image")
    (tmp_path / "cases" / "bad_mask.nrrd").write_bytes(b"not a mask")
    assert main(["predict", str(tmp_path / "cases"), "--out", str(out)]) == 0
    rows = _rows(out)

    with _dashboard(out, tmp_path / "profile") as (browser, table):
        body = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(body) == len(rows) == 4
        assert browser.find_element(By.ID, "shown").text == "4 of 4 cases shown"

        headers = table.find_elements(By.CSS_SELECTOR, "thead th")
        probability_column = [h.text for h in headers].index("P(T3–T4)")
        headers[probability_column].click()
        shown = [row.find_elements(By.TAG_NAME, "td")[0].text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        scored = sorted((float(r["probability_high"]), case) for case, r in rows.items() if r["probability_high"])
        assert shown[: len(scored)] == [case for _, case in scored]  # ascending, the failed case (no value) last
        headers[probability_column].click()
        shown = [row.find_elements(By.TAG_NAME, "td")[0].text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert shown[: len(scored)] == [case for _, case in reversed(scored)]

        browser.find_element(By.ID, "only-failed").click()
        visible = [row for row in table.find_elements(By.CSS_SELECTOR, "tbody tr") if row.is_displayed()]
        assert [row.find_elements(By.TAG_NAME, "td")[0].text for row in visible] == ["bad"]
        browser.find_element(By.ID, "only-failed").click()
        browser.find_element(By.ID, "search").send_keys(scored[0][1])
        assert browser.find_element(By.ID, "shown").text == "1 of 4 cases shown"

        link = table.find_element(By.LINK_TEXT, "report")
        assert (out / link.get_attribute("href").removeprefix(out.as_uri() + "/")).is_file()


def test_the_sarcoma_dicom_studies_with_their_rtstructs(tmp_path: Path) -> None:
    """IBSI's STS_001–003 as they come from PACS (``<case>/image/`` a CT series, ``<case>/mask/`` an RTSTRUCT, ROI
    GTV_Mass_CT), given as they are: one row per case, each tumour the volume of IBSI's own NIfTI mask of that case
    (external yardstick: IBSI's export, counted here voxel by voxel on the CT grid; within 0.5 % because the regions
    are counted on PyRadiomics' 1 mm grid), the tumour and shell of STS_002 voxel for voxel those of ``analyze`` on
    IBSI's NIfTI CT and mask (consistency of the two input paths), and the dashboard in Chromium."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium); the dashboard test "
                        "cannot drive Chromium")
    from selenium.webdriver.common.by import By

    studies = shared_data_path("ibsi", "sts_validation", "dicom")
    out = tmp_path / "out"
    assert main(["predict", str(studies), "--out", str(out), "--jobs", "2"]) == 0
    rows = _rows(out)
    assert sorted(rows) == ["STS_001", "STS_002", "STS_003"]
    for case, row in rows.items():
        assert row["status"] == "done" and row["t_stage_group"] in ("low", "high"), row
        nifti = sitk.ReadImage(str(shared_data_path("ibsi", "sts_validation", "nifti", case, "CT_mask.nii.gz")))
        voxel_ml = float(np.prod(nifti.GetSpacing())) / 1000
        expected_ml = float((sitk.GetArrayViewFromImage(nifti) > 0).sum()) * voxel_ml
        assert float(row["tumour_volume_ml"]) == pytest.approx(expected_ml, rel=5e-3), case
    nifti = shared_data_path("ibsi", "sts_validation", "nifti", "STS_002")
    assert main(["analyze", str(nifti / "CT_image.nii.gz"), str(nifti / "CT_mask.nii.gz"), "--out",
                 str(tmp_path / "nifti"), "--report", "none"]) == 0
    from_nifti = json.loads((tmp_path / "nifti" / "result.json").read_text())["regions"]
    from_dicom = json.loads((out / "cases" / "STS_002" / "result.json").read_text())["regions"]
    # The tumour and its shell; the habitats may differ, as the NIfTI CT is not the series' int16 HU.
    assert [from_dicom[name]["voxels"] for name in ("whole", "peri")] == [
        from_nifti[name]["voxels"] for name in ("whole", "peri")]

    with _dashboard(out, tmp_path / "profile") as (browser, table):
        assert [row.find_elements(By.TAG_NAME, "td")[0].text
                for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")] == sorted(rows)
        assert browser.find_element(By.ID, "shown").text == "3 of 3 cases shown"
        for link in table.find_elements(By.LINK_TEXT, "report"):
            assert (out / link.get_attribute("href").removeprefix(out.as_uri() + "/")).is_file()


def test_the_slicer_modules_steps_do_what_predict_does(phantom_folder: Path, tmp_path: Path, capsys) -> None:
    """``predict-list``, ``predict-case`` and ``predict-summary`` (the Slicer module's batch, one worker request each)
    against ``predict`` on the same cases: the same cases, the same row and the same folder layout (a consistency
    check of the two paths; the module's table is checked against ``predict`` in Testing/slicer/test_slicer_batch.py)."""
    from CCRCCStagingLib.commands.predict import CASES_LINE, ROW_LINE

    assert main(["predict-list", str(phantom_folder)]) == 0
    listed = json.loads(capsys.readouterr().out.strip().removeprefix(CASES_LINE))
    expected = find_batch_inputs(phantom_folder)
    assert [case["case_id"] for case in listed["cases"]] == [case.case_id for case in expected.cases]
    assert listed["cases"][0]["image"] == str(expected.cases[0].image) and listed["skipped"] == []

    one = listed["cases"][0]
    out = tmp_path / "steps"
    assert main(["predict-case", one["case_id"], one["image"], one["mask"], "--out",
                 str(out / "cases" / one["case_id"])]) == 0
    row = json.loads(capsys.readouterr().out.strip().removeprefix(ROW_LINE))
    broken = tmp_path / "broken.nrrd"
    broken.write_bytes(b"NRRD0004\ntype: short\n")
    assert main(["predict-case", "broken", str(broken), one["mask"], "--out", str(out / "cases" / "broken")]) == 0
    failed = json.loads(capsys.readouterr().out.strip().removeprefix(ROW_LINE))
    assert failed["status"] == "failed" and failed["error"].startswith("The image")

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"case_id,image,mask\n{one['case_id']},{one['image']},{one['mask']}\n")
    assert main(["predict", str(manifest), "--out", str(tmp_path / "cli"), "--report", "none"]) == 0
    reference = _rows(tmp_path / "cli")[one["case_id"]]
    assert {key: str(value) for key, value in row.items() if key != "report"} == {
        key: value for key, value in reference.items() if key in row and key != "report"}

    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"rows": [row, failed], "skipped": ["x: no mask"]}))
    assert main(["predict-summary", str(out), "--rows", str(rows), "--report", "html"]) == 0
    summary = _rows(out)
    assert summary[one["case_id"]]["report"] == f"cases/{one['case_id']}/report.html"
    assert (out / summary[one["case_id"]]["report"]).is_file() and (out / "index.html").is_file()
    assert summary["broken"]["status"] == "failed" and summary["broken"]["report"] == ""
