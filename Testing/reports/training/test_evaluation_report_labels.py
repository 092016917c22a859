"""The evaluation report of an external cohort says what it is: an evaluation of a named model on a named table (not a
bare file name, not a "training run"), its rows labelled with the cohort's own split and never "Training set"; the
command writes its figures and checklist beside it, and the evaluation's own warnings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cohort_tables import features_table, write_features_with_side_files
from html_tables import html_tables

from CCRCCStagingLib.cli import main
from CCRCCStagingLib.training.train import TrainingSettings, train


@pytest.fixture(scope="module")
def model_and_external(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model trained on one generated cohort (no report, two classifiers, no bootstrap: a few seconds) and another
    generated cohort in which every case is external."""
    folder = tmp_path_factory.mktemp("evaluation")
    features = write_features_with_side_files(folder, features_table(seed=3, n_noise=10))
    train(features, folder / "model", TrainingSettings(classifiers=("lr", "svm"), optimism_bootstraps=0))
    external = write_features_with_side_files(folder, features_table(seed=8, n=90, n_noise=10).assign(split="external"),
                                              "external_cohort.csv")
    return folder / "model", external


@pytest.mark.parametrize("trust", [False, True], ids=["safe-model", "research-models"])
def test_an_external_cohort_is_labelled_as_external_and_the_report_as_an_evaluation(model_and_external, tmp_path, trust):
    model, external = model_and_external
    out = tmp_path / "evaluation"
    assert main(["evaluate", str(model), str(external), "--out", str(out),
                 *(["--trust-research-models"] if trust else [])]) == 0
    summary = json.loads((out / "evaluation_summary.json").read_text())
    model_id = json.loads((model / "model.json").read_text())["id"]
    html = (out / "evaluation_report.html").read_text(encoding="utf-8")

    title = re.search(r"<title>(.*?)</title>", html).group(1)
    assert title != external.name and model_id in title and external.name in title
    assert summary["kind"] == "evaluation" and summary["evaluation"] == {"model_id": model_id,
                                                                          "features": external.name}
    assert "Evaluation of " in html and "Training run" not in html
    assert "Training set" not in html
    (table_3,) = [t for t in html_tables(html) if t["caption"].startswith("VOI_mix: held-out splits")]
    assert table_3["rows"][0][2].startswith("External validation set (n = 90, ")
    assert {m["split"] for m in summary["metrics"]} == {"external"}
    assert isinstance(summary["warnings"], dict)  # the evaluation's own, not the training run's
    assert (out / "tripod_ai_clear_checklist.md").is_file()
    assert (out / "figures" / "fig4cd_roc_mix.svg").is_file() and (out / "figures" / "fig4cd_roc_mix.pdf").is_file()
    assert "the trained model applied unchanged to this cohort" in (out / "tripod_ai_clear_checklist.md").read_text()
    assert ("feature selection unchanged: it is in the" in html) is (not trust)
    assert ("The deployed model alone was evaluated" in html) is (not trust)
