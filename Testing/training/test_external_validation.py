"""External validation as the paper did it: an external-only cohort extracted with the trained model's own habitat
model and settings (``extract --model``) and scored by ``evaluate`` gives every case the probability that
``analyze --model`` gives it; features made with another habitat model are refused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import SimpleITK as sitk

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.model.bundle import load_deployed_model
from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR
from CCRCCStagingLib.synthetic.phantoms import make_phantom

CASES = (("low", 301, 22.0), ("high", 302, 38.0), ("low", 303, 26.0), ("high", 304, 44.0))


@pytest.fixture(scope="module")
def external_cohort(tmp_path_factory) -> Path:
    """Four phantoms, every one in the external split (no training case at all)."""
    folder = tmp_path_factory.mktemp("external")
    rows = ["case_id,image,mask,t_stage,split"]
    for stage, seed, diameter in CASES:
        phantom = make_phantom(stage, seed=seed, tumour_diameter_mm=diameter)
        sitk.WriteImage(phantom.image, str(folder / f"e{seed}.nrrd"))
        sitk.WriteImage(phantom.mask, str(folder / f"e{seed}_mask.nrrd"))
        rows.append(f"e{seed},e{seed}.nrrd,e{seed}_mask.nrrd,{phantom.t_stage},external")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_external_cohort_scored_with_the_frozen_model_equals_analyze(external_cohort: Path, tmp_path: Path) -> None:
    manifest = external_cohort / "manifest.csv"
    assert main(["extract", str(manifest), "--out", str(tmp_path / "features.csv"), "--model",
                 str(BUNDLED_MODEL_DIR)]) == 0
    assert json.loads((tmp_path / "features.habitats.json").read_text()) == json.loads(
        (BUNDLED_MODEL_DIR / "habitats.json").read_text()
    )  # the model's GMM, applied unchanged, not refit on this cohort
    assert main(["evaluate", str(BUNDLED_MODEL_DIR), str(tmp_path / "features.csv"), "--out",
                 str(tmp_path / "evaluation")]) == 0
    with (tmp_path / "evaluation" / "predictions.csv").open() as handle:
        predictions = {row["case_id"]: row for row in csv.DictReader(handle)}

    model = load_deployed_model(BUNDLED_MODEL_DIR)
    for _, seed, _ in CASES:
        out = tmp_path / f"analyze-{seed}"
        assert main(["analyze", str(external_cohort / f"e{seed}.nrrd"), str(external_cohort / f"e{seed}_mask.nrrd"),
                     "--out", str(out), "--report", "none"]) == 0
        result = json.loads((out / "result.json").read_text())
        row = predictions[f"e{seed}"]
        # To 1e-9: the probability of analyze's own features (its features.csv, full precision) under the model;
        # result.json rounds it to 6 decimals.
        with (out / "features.csv").open() as handle:
            analysed = {name: float(value) for name, value in next(csv.DictReader(handle)).items() if name != "case_id"}
        assert float(row["mix_svm_probability"]) == pytest.approx(model.predict(analysed).probability_high, abs=1e-9)
        assert float(row["mix_svm_probability"]) == pytest.approx(result["probability_high"], abs=1e-6)
        assert row["mix_svm_predicted"] == result["t_stage_group"]
        assert float(row["radscore"]) == pytest.approx(result["radscore"], abs=1e-6)
        assert row["risk"] == result["risk_group"]


def test_features_made_with_another_habitat_model_are_refused(external_cohort: Path, tmp_path: Path) -> None:
    manifest = (external_cohort / "manifest.csv").read_text().replace("external", "train", 2)
    (external_cohort / "own_gmm.csv").write_text(manifest)
    assert main(["extract", str(external_cohort / "own_gmm.csv"), "--out", str(tmp_path / "features.csv"),
                 "--habitats", "2"]) == 0  # a GMM fitted on this cohort's own training split
    code = main(["evaluate", str(BUNDLED_MODEL_DIR), str(tmp_path / "features.csv"), "--out", str(tmp_path / "ev")])
    assert code == 2
    assert not (tmp_path / "ev" / "predictions.csv").exists()
