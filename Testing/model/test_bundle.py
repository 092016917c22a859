"""The model folder is safe: checksums verified, foreign/newer/damaged folders refused, no pickle loaded."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from CCRCCStagingLib.model.bundle import ARRAYS, MANIFEST, MODEL, RESEARCH, load_deployed_model
from CCRCCStagingLib.training.bundle_writer import copy_deployable, write_manifest
from CCRCCStagingLib.core.errors import ModelBundleError
from CCRCCStagingLib.training.train import TrainingSettings, train
from cohort_tables import features_table
from cohort_tables import write_features_with_side_files as _write_features


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle")
    train(_write_features(folder, features_table(seed=7)), folder / "model", TrainingSettings(classifiers=("svm", "lr"), optimism_bootstraps=2))
    return folder / "model"


@pytest.fixture
def copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def test_a_trained_folder_loads(model_dir: Path) -> None:
    model = load_deployed_model(model_dir)
    assert model.features and model.identity()["sha256"]


def test_a_changed_file_is_refused(copy: Path) -> None:
    description = json.loads((copy / MODEL).read_text())
    description["threshold"] = 0.0
    (copy / MODEL).write_text(json.dumps(description))
    with pytest.raises(ModelBundleError, match="does not match its checksum"):
        load_deployed_model(copy)


def test_a_truncated_file_is_refused(copy: Path) -> None:
    data = (copy / ARRAYS).read_bytes()
    (copy / ARRAYS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelBundleError, match="checksum"):
        load_deployed_model(copy)


def test_a_missing_file_is_refused(copy: Path) -> None:
    (copy / ARRAYS).unlink()
    with pytest.raises(ModelBundleError, match=f"lacks {ARRAYS}"):
        load_deployed_model(copy)


def test_a_foreign_or_newer_folder_is_refused(copy: Path, tmp_path: Path) -> None:
    (tmp_path / "foreign").mkdir()
    with pytest.raises(ModelBundleError, match="not a CCRCCStaging model folder"):
        load_deployed_model(tmp_path / "foreign")
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["format_version"] = 99
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelBundleError, match="format 99"):
        load_deployed_model(copy)
    with pytest.raises(ModelBundleError, match="does not exist"):
        load_deployed_model(tmp_path / "nowhere")


class _Explodes:
    def __reduce__(self):
        return (pytest.fail, ("a pickle from the model folder was loaded",))


def test_loading_the_deployed_model_never_unpickles(copy: Path) -> None:
    (copy / RESEARCH).write_bytes(pickle.dumps(_Explodes()))
    write_manifest(copy)  # even a consistent manifest must not make the pickle load
    model = load_deployed_model(copy)
    assert np.isfinite(model.predict({f: 0.0 for f in model.features}).probability_high)


def test_the_shipped_copy_has_no_pickle(model_dir: Path, tmp_path: Path) -> None:
    copy_deployable(model_dir, tmp_path / "shipped")
    files = {p.relative_to(tmp_path / "shipped").as_posix() for p in (tmp_path / "shipped").rglob("*") if p.is_file()}
    assert RESEARCH not in files and not any(f.endswith((".joblib", ".pkl")) for f in files)
    load_deployed_model(tmp_path / "shipped")


def test_missing_features_are_named(model_dir: Path) -> None:
    model = load_deployed_model(model_dir)
    with pytest.raises(ModelBundleError, match=model.features[0]):
        model.predict({})


def test_a_feature_pyradiomics_leaves_undefined_withholds_the_prediction(model_dir: Path) -> None:
    """Found on a real CT: PyRadiomics gives NaN for a texture feature of a flat habitat; the prediction is withheld
    with the reason instead of an error."""
    from CCRCCStagingLib.model.predict import prediction_fields

    model = load_deployed_model(model_dir)
    values = {name: 0.0 for name in model.features}
    values[model.features[0]] = float("nan")
    warnings: list[str] = []

    fields = prediction_fields(model, values, warnings)

    assert "prediction_withheld" in fields and model.features[0] in fields["prediction_withheld"]
    assert "t_stage_group" not in fields and warnings
