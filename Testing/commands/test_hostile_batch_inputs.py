"""Hostile inputs to ``predict`` found by attacking it: a folder with a link loop, an empty manifest, a path too long
for the system, and an output folder whose resume state (key, result, run file) was tampered with. Each ends in exit
code 2 and one ``error:`` line, or in a failed row with the run going on — never a traceback or a hang."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from CCRCCStagingLib.case.file_checks import ReadLimits
from CCRCCStagingLib.case.inputs import find_batch_inputs
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.commands.predict import (
    CASES_DIR,
    KEY_FILE,
    RUN_FILE,
    PredictOptions,
    case_key,
)
from CCRCCStagingLib.core.files import RESULT_FILE
from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "predictions.csv").open(newline="") as handle:
        return {row["case_id"]: row for row in csv.DictReader(handle)}


def _one_error(capsys: pytest.CaptureFixture, code: int) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("progress:", "warning:"))]
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _broken_case(folder: Path) -> Path:
    """A case of the ``<case>/image`` + ``<case>/mask`` rule whose image is not an image: it fails in a moment."""
    folder.mkdir(parents=True)
    (folder / "image.nrrd").write_bytes(b"not an image")
    (folder / "mask.nrrd").write_bytes(b"not a mask")
    return folder


def test_a_link_loop_in_a_case_folder_fails_that_case_only(tmp_path: Path, capsys) -> None:
    """``loop/image -> loop/b -> loop/image`` made the folder scan raise RuntimeError('Symlink loop') (a traceback)."""
    source = tmp_path / "cases"
    _broken_case(source / "ok")
    loop = source / "loop"
    loop.mkdir()
    for name, other in (("image", "b"), ("mask", "c")):
        (loop / name).symlink_to(other)
        (loop / other).symlink_to(name)
    out = tmp_path / "out"
    assert main(["predict", str(source), "--out", str(out), "--report", "none"]) == 0, capsys.readouterr().err
    rows = _rows(out)
    assert set(rows) == {"loop", "ok"} and rows["loop"]["status"] == "failed"
    assert "Too many levels of symbolic links" in rows["loop"]["error"]


def test_an_empty_manifest_is_one_sentence(tmp_path: Path, capsys) -> None:
    """pandas' EmptyDataError escaped as a traceback."""
    for name, text in (("empty.csv", ""), ("blank.csv", "\n\n")):
        (tmp_path / name).write_text(text)
        message = _one_error(capsys, main(["predict", str(tmp_path / name), "--out", str(tmp_path / "out"),
                                           "--report", "none"]))
        assert "is empty; give it a header line (case_id,image,mask)" in message
    assert not (tmp_path / "out" / "predictions.csv").exists()


def test_a_manifest_path_too_long_for_the_system_fails_that_case_only(tmp_path: Path, capsys) -> None:
    """A 5,000-character file name raised ENAMETOOLONG from the case's key, outside the case's error handling."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"case_id,image,mask\nA,{'x' * 5000}.nrrd,m.nrrd\n")
    out = tmp_path / "out"
    assert main(["predict", str(manifest), "--out", str(out), "--report", "none"]) == 0, capsys.readouterr().err
    row = _rows(out)["A"]
    assert row["status"] == "failed" and "File name too long" in row["error"]


@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of one case and an output folder in which that case looks finished (its key matches)."""
    source = tmp_path / "cases"
    _broken_case(source / "A")
    out = tmp_path / "out"
    case_dir = out / CASES_DIR / "A"
    case_dir.mkdir(parents=True)
    (out / RUN_FILE).write_text(json.dumps({"input": str(source.resolve())}))
    case = find_batch_inputs(source).cases[0]
    options = PredictOptions(BUNDLED_MODEL_DIR, "none", True, max_voxels=ReadLimits().max_voxels)
    (case_dir / KEY_FILE).write_text(json.dumps(case_key(case, options)))
    (case_dir / RESULT_FILE).write_text("{}")
    return source, out


@pytest.mark.parametrize("result", ["garbage", "{}", "[]"])
def test_a_tampered_earlier_result_is_computed_again(finished_run, result: str, capsys) -> None:
    """With its key intact, a result.json that is not JSON was a traceback, and '{}' ended the whole run (exit 2)."""
    source, out = finished_run
    (out / CASES_DIR / "A" / RESULT_FILE).write_text(result)
    assert main(["predict", str(source), "--out", str(out), "--report", "none"]) == 0, capsys.readouterr().err
    row = _rows(out)["A"]
    assert row["status"] == "failed" and "cannot be read as an image" in row["error"]


def test_a_pipe_in_place_of_the_key_does_not_block(finished_run) -> None:
    """A FIFO named .predict-key.json blocked the run forever (reading it waits for a writer)."""
    source, out = finished_run
    path = out / CASES_DIR / "A" / KEY_FILE
    path.unlink()
    os.mkfifo(path)
    completed = subprocess.run(
        [sys.executable, "-m", "CCRCCStagingLib.cli", "predict", str(source), "--out", str(out), "--report", "none"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert completed.returncode == 0 and "Traceback" not in completed.stderr, completed.stderr[-2000:]
    assert _rows(out)["A"]["status"] == "failed"


def test_a_run_file_that_is_not_an_object_is_another_input(finished_run, capsys) -> None:
    """predict_run.json holding a JSON list raised AttributeError (a traceback)."""
    source, out = finished_run
    (out / RUN_FILE).write_text("[]")
    message = _one_error(capsys, main(["predict", str(source), "--out", str(out), "--report", "none"]))
    assert "holds the predictions of another input" in message and "choose another folder with --out" in message


def test_a_mistyped_jobs_count_starts_no_more_workers_than_cases(tmp_path: Path, capsys, monkeypatch) -> None:
    """``--jobs 100000`` on three cases spawned worker processes until the run was killed (no row after 5 minutes)."""
    import joblib

    asked = []
    real = joblib.Parallel

    def recording(*args, n_jobs=None, **kwargs):
        asked.append(n_jobs)
        return real(*args, n_jobs=1, **kwargs)  # the count is what matters; the cases themselves run here

    monkeypatch.setattr(joblib, "Parallel", recording)
    source = tmp_path / "cases"
    for name in ("a", "b", "c"):
        _broken_case(source / name)
    out = tmp_path / "out"
    code = main(["predict", str(source), "--out", str(out), "--jobs", "100000", "--report", "none"])
    assert code == 0, capsys.readouterr().err
    assert asked == [3] and len(_rows(out)) == 3


def test_an_out_that_is_a_file_or_an_input_that_is_a_pipe_says_what_to_do(tmp_path: Path, capsys) -> None:
    """``--out`` naming a file said only 'File exists'; a manifest that is a FIFO was said not to exist."""
    source = tmp_path / "cases"
    _broken_case(source / "a")
    (tmp_path / "file").write_text("x")
    message = _one_error(capsys, main(["predict", str(source), "--out", str(tmp_path / "file"), "--report", "none"]))
    assert "is a file, not a folder; choose a folder for the results with --out" in message
    os.mkfifo(tmp_path / "manifest.csv")
    message = _one_error(capsys, main(["predict", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "out")]))
    assert "is not a regular file or folder (a pipe, device or socket)" in message


def test_case_ids_differing_only_in_letter_case_do_not_share_an_output_folder(tmp_path: Path, capsys) -> None:
    """'A' and 'a' were two cases writing into one folder on Windows and macOS (case-insensitive file systems)."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("case_id,image,mask\nCase1,x.nrrd,y.nrrd\ncase1,x.nrrd,y.nrrd\n")
    message = _one_error(capsys, main(["predict", str(manifest), "--out", str(tmp_path / "out")]))
    assert "'Case1' and 'case1', which differ only in letter case" in message
    source = tmp_path / "cases"
    _broken_case(source / "Case1")
    _broken_case(source / "case1")
    inputs = find_batch_inputs(source)
    assert [case.case_id for case in inputs.cases] == ["Case1"]
    assert any(reason.startswith("case1: differs from another case only in letter case") for reason in inputs.skipped)


def test_names_with_control_characters_cannot_forge_lines_on_stderr(tmp_path: Path, capsys) -> None:
    """A link named 'x<newline>error: …<ESC>[31m' leading out of the folder printed a forged 'error:' line and a
    terminal escape among the skipped entries."""
    source = tmp_path / "cases"
    _broken_case(source / "a")
    (source / "x\nerror: forged\x1b[31m").symlink_to(tmp_path)
    (source / "y\nz").mkdir()
    (source / "y\nz" / "image.nrrd").write_bytes(b"x")
    assert main(["predict", str(source), "--out", str(tmp_path / "out"), "--report", "none"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and not any(line.startswith("error:") for line in err.splitlines())
    assert "warning: skipped x?error: forged?[31m: a link out of" in err and "warning: skipped y?z/: needs" in err


def test_a_case_folder_replaced_by_a_link_is_not_written_through(finished_run, tmp_path: Path, capsys) -> None:
    """out/cases/A made a link to another analysis folder: predict removed that folder's result files ('overwrite')
    and wrote the case there."""
    source, out = finished_run
    elsewhere = tmp_path / "someone-elses-analysis"
    elsewhere.mkdir()
    (elsewhere / RESULT_FILE).write_text('{"precious": true}')
    case_dir = out / CASES_DIR / "A"
    for path in case_dir.iterdir():
        path.unlink()
    case_dir.rmdir()
    case_dir.symlink_to(elsewhere)
    assert main(["predict", str(source), "--out", str(out), "--report", "none"]) == 0, capsys.readouterr().err
    assert (elsewhere / RESULT_FILE).read_text() == '{"precious": true}'
    assert sorted(p.name for p in elsewhere.iterdir()) == [RESULT_FILE]
    row = _rows(out)["A"]
    assert row["status"] == "failed" and "is a link (the output folder was tampered with)" in row["error"]
