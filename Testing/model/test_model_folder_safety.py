"""A model folder is untrusted input. Whoever sends one can recompute its checksums, so each hostile variant here is
re-signed (the manifest rewritten) before it is loaded: links and paths out of the folder, files the manifest does
not vouch for, and model files with wrong types, shapes or non-finite numbers all end in one ``ModelBundleError``
sentence — never another exception, never a changed prediction, never a file read from outside the folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from CCRCCStagingLib.core.errors import ModelBundleError
from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR
from CCRCCStagingLib.model.bundle import ARRAYS, HABITATS, MANIFEST, MODEL, MODEL_CARD, load_deployed_model
from CCRCCStagingLib.training.bundle_writer import write_manifest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL_DIR, copy)
    return copy


def _edit_json(folder: Path, name: str, change) -> None:
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data))
    write_manifest(folder)  # the sender re-signs


def test_a_card_that_links_outside_the_folder_is_never_read(folder: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("PASSWORD=hunter2")
    (folder / MODEL_CARD).unlink()
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"].pop(MODEL_CARD)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    os.symlink(secret, folder / MODEL_CARD)  # not in the manifest: not read

    assert "hunter2" not in load_deployed_model(folder).card_text()

    write_manifest(folder)  # signed: a link is refused all the same
    with pytest.raises(ModelBundleError, match="link"):
        load_deployed_model(folder)


@pytest.mark.parametrize("name", ["../model.json", "/etc/passwd", "sub/../../x", "a\\..\\b"])
def test_no_name_can_lead_outside_the_folder(folder: Path, name: str) -> None:
    from CCRCCStagingLib.model.bundle import safe_member

    with pytest.raises(ModelBundleError, match="outside itself"):
        safe_member(folder, name)


def test_a_linked_model_file_is_refused_even_when_signed(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    shutil.copy(folder / MODEL, outside)
    (folder / MODEL).unlink()
    os.symlink(outside, folder / MODEL)
    write_manifest(folder)
    with pytest.raises(ModelBundleError, match="link"):
        load_deployed_model(folder)


MODEL_JSON_MUTATIONS = {
    "threshold as text": lambda d: d.update(threshold="0.5"),
    "threshold above 1": lambda d: d.update(threshold=1.5),
    "classifier unknown": lambda d: d.update(classifier="rf"),
    "features not a list": lambda d: d.update(features="peri_original_glcm_Idmn"),
    "feature name with a path": lambda d: d["features"].__setitem__(0, "../../etc/passwd"),
    "duplicate features": lambda d: d["features"].__setitem__(1, d["features"][0]),
    "platt of one number": lambda d: d.update(platt=[1.0]),
    "gamma negative": lambda d: d.update(svm_gamma=-1.0),
    "radscore cutoff missing": lambda d: d["radscore"].pop("cutoff"),
    "training sd zero": lambda d: d["training_feature_sd"].__setitem__(d["features"][0], 0.0),
    "training mean missing": lambda d: d["training_feature_mean"].pop(d["features"][0]),
    "card not an object": lambda d: d.update(card=["x"]),
    "settings broken": lambda d: d["extraction_settings"].update(margin_mm=-3),
    "settings missing": lambda d: d.pop("extraction_settings"),
    "the file a list": lambda d: d.clear(),
}


@pytest.mark.parametrize("mutation", sorted(MODEL_JSON_MUTATIONS))
def test_a_malformed_model_json_is_refused_with_one_sentence(folder: Path, mutation: str) -> None:
    _edit_json(folder, MODEL, MODEL_JSON_MUTATIONS[mutation])
    with pytest.raises(ModelBundleError) as error:
        load_deployed_model(folder)
    assert str(error.value).count("\n") == 0 and "model.json" in str(error.value)


def test_nan_and_infinity_in_json_are_refused(folder: Path) -> None:
    text = (folder / MODEL).read_text().replace('"threshold": ', '"threshold": NaN, "x": ', 1)
    (folder / MODEL).write_text(text)
    write_manifest(folder)
    with pytest.raises(ModelBundleError):
        load_deployed_model(folder)


ARRAY_MUTATIONS = {
    "wrong length": lambda a: a.update(zscore_mean=a["zscore_mean"][:-1]),
    "nan": lambda a: a["radscore_coef"].__setitem__(0, np.nan),
    "inf scale": lambda a: a["zscore_scale"].__setitem__(0, np.inf),
    "zero scale": lambda a: a["zscore_scale"].__setitem__(0, 0.0),
    "missing support vectors": lambda a: a.pop("support_vectors"),
    "text array": lambda a: a.update(dual_coef=np.array(["a"] * len(a["dual_coef"]))),
}


@pytest.mark.parametrize("mutation", sorted(ARRAY_MUTATIONS))
def test_malformed_model_arrays_are_refused(folder: Path, mutation: str) -> None:
    with np.load(folder / ARRAYS) as data:
        arrays = {name: data[name].copy() for name in data.files}
    ARRAY_MUTATIONS[mutation](arrays)
    np.savez(folder / ARRAYS, **arrays)
    write_manifest(folder)
    with pytest.raises(ModelBundleError, match="model_arrays"):
        load_deployed_model(folder)


def test_a_pickled_array_is_refused_not_unpickled(folder: Path) -> None:
    np.savez(folder / ARRAYS, zscore_mean=np.array([object()], dtype=object))
    write_manifest(folder)
    with pytest.raises(ModelBundleError):
        load_deployed_model(folder)


HABITAT_MUTATIONS = {
    "k of 12": lambda d: d.update(k=12),
    "weights not summing to 1": lambda d: d.update(weights=[0.9, 0.9]),
    "covariance not positive": lambda d: d["covariances"][0][0].__setitem__(0, -1.0),
    "means of wrong shape": lambda d: d.update(means=[[0.0, 0.0]]),
    "order not labels": lambda d: d.update(order=[7, 9]),
    "unknown feature": lambda d: d["params"].update(features=["intensity", "rm -rf"]),
}


@pytest.mark.parametrize("mutation", sorted(HABITAT_MUTATIONS))
def test_a_malformed_habitat_model_is_refused(folder: Path, mutation: str) -> None:
    _edit_json(folder, HABITATS, HABITAT_MUTATIONS[mutation])
    with pytest.raises(ModelBundleError, match="habitats.json"):
        load_deployed_model(folder)


def test_a_huge_file_is_refused_before_it_is_read(folder: Path) -> None:
    with (folder / MODEL).open("ab") as handle:
        handle.truncate(100 << 20)  # sparse: no disk used
    write_manifest(folder)
    with pytest.raises(ModelBundleError, match="larger than"):
        load_deployed_model(folder)
