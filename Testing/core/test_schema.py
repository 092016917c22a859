"""The typed case result against what the analysis really writes: every field known, a round trip that changes no
byte, results of earlier versions still readable, a newer format refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.core.errors import InputFileError
from CCRCCStagingLib.core.schema import FORMAT_VERSION, CaseResult, read_case_result

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CT = REPO_ROOT / "Resources" / "Sample" / "ccrcc_sample_ct.nrrd"
SAMPLE_SEG = REPO_ROOT / "Resources" / "Sample" / "ccrcc_sample_tumour.seg.nrrd"
BUNDLED_MODEL = REPO_ROOT / "Resources" / "Models" / "ccrcc-demo-synthetic-v1"


def _analyse(folder: Path, *options: str) -> Path:
    assert main(["analyze", str(SAMPLE_CT), str(SAMPLE_SEG), "--out", str(folder), "--report", "none", *options]) == 0
    return folder / "result.json"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """result.json of the sample case: without a model, with the bundled model, and with its prediction withheld."""
    base = tmp_path_factory.mktemp("schema")
    paths = {"no-model": _analyse(base / "no-model", "--no-model")}
    if not (BUNDLED_MODEL / "manifest.json").is_file():
        return paths
    paths["prediction"] = _analyse(base / "prediction")
    from CCRCCStagingLib.model.bundle import load_deployed_model
    from CCRCCStagingLib.model.predict import prediction_fields

    result = json.loads(paths["no-model"].read_text())
    result.update(prediction_fields(load_deployed_model(BUNDLED_MODEL), {}, result["warnings"]))
    withheld = base / "withheld.json"
    withheld.write_text(json.dumps(result, indent=2) + "\n")
    paths["withheld"] = withheld
    return paths


@pytest.mark.parametrize("kind", ["no-model", "prediction", "withheld"])
def test_a_written_result_reads_back_and_writes_again_unchanged(written: dict[str, Path], kind: str) -> None:
    if kind not in written:
        pytest.skip("the bundled model is not in Resources/Models")
    text = written[kind].read_text()
    result = CaseResult.from_dict(json.loads(text))
    assert result.extra == {}, "result.json has fields the schema does not know"
    assert json.dumps(result.to_dict(), indent=2) + "\n" == text
    assert (result.prediction is not None) == (kind == "prediction")
    assert (result.model is not None) == (kind != "no-model")
    assert (result.prediction_withheld is not None) == (kind == "withheld")


def test_the_typed_view_of_a_result(written: dict[str, Path]) -> None:
    result = read_case_result(written["no-model"].parent)
    assert result.case_id == "ccrcc_sample_ct" and result.inputs.image_kind == "file" and not result.inputs.is_dicom
    assert result.habitat_labels == [(number, number) for number in range(1, result.habitats_k + 1)]
    assert result.peri_label == 10 and result.margin_mm == 3.0
    assert result.voxels("whole") == sum(result.voxels(f"sub{n}") for n in range(1, result.habitats_k + 1))
    assert result.inputs.regions_geometry.is_identity_direction
    assert result.format_version == FORMAT_VERSION == 1 and "format_version" not in result.to_dict()


def test_a_result_of_an_earlier_version_is_readable() -> None:
    # Before resampling details, the shell's missing fraction, labels and model identity fields were recorded.
    old = {
        "case_id": "old", "regions": {"whole": {"voxels": 10, "volume_ml": 0.01}, "sub1": {"voxels": 10, "volume_ml": 0.01},
                                      "peri": {"voxels": 5, "volume_ml": 0.005}},
        "habitats_k": 1, "warnings": [], "settings": {"margin_mm": 5},
        "t_stage_group": "low", "probability_high": 0.2, "threshold": 0.4, "model": {"id": "m"},
        "some_later_key": {"kept": True},
    }
    result = CaseResult.from_dict(old)
    assert result.habitat_labels == [(1, 1)] and result.peri_label == 10 and result.margin_mm == 5.0
    assert result.prediction.radscore is None and result.prediction.model_features == ()
    assert result.model.demonstration is True  # a model that does not say is treated as a demonstration model
    assert result.to_dict()["some_later_key"] == {"kept": True}


def test_what_is_not_a_result_is_refused_with_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="newer than this CCRCCStaging reads"):
        CaseResult.from_dict({"regions": {}, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(InputFileError, match="not a finished analysis folder"):
        read_case_result(tmp_path)
    (tmp_path / "result.json").write_text("{")
    with pytest.raises(InputFileError, match="cannot be read"):
        read_case_result(tmp_path)
    (tmp_path / "result.json").write_text('{"case_id": "x"}')
    with pytest.raises(InputFileError, match="not a CCRCCStaging result"):
        read_case_result(tmp_path)
    (tmp_path / "result.json").write_text('{"regions": {"whole": {"voxels": "many"}}}')
    with pytest.raises(InputFileError, match="not a CCRCCStaging result"):
        read_case_result(tmp_path)


def test_core_modules_the_slicer_module_loads_need_only_the_standard_library() -> None:
    probe = (
        "import sys, json; before = set(sys.modules); import CCRCCStagingLib.core.palette, "
        "CCRCCStagingLib.core.privacy, CCRCCStagingLib.core.schema; new = set(sys.modules) - before; "
        # Python 3.9 (Slicer 5.6/5.8) has no sys.stdlib_module_names: the modules of the standard library's folders.
        "import pkgutil, sysconfig; paths = sysconfig.get_paths(); stdlib = getattr(sys, 'stdlib_module_names', None) "
        "or {m.name for m in pkgutil.iter_modules([paths['stdlib'], paths['stdlib'] + '/lib-dynload'])} "
        "| set(sys.builtin_module_names); "
        "print(json.dumps(sorted(m for m in new if m.split('.')[0] not in stdlib and not m.startswith('_'))))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == [
        "CCRCCStagingLib", "CCRCCStagingLib.core", "CCRCCStagingLib.core.errors", "CCRCCStagingLib.core.files",
        "CCRCCStagingLib.core.palette", "CCRCCStagingLib.core.privacy", "CCRCCStagingLib.core.schema",
    ]
