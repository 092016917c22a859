"""What the training-report tests share: a generated cohort (Testing/cohort_tables.py) in which three cases lost their
second habitat (their sub2 features missing, as extraction leaves them), one lost a single peri feature, and one case
failed as a whole; its training run (three classifiers, three optimism bootstraps, ≈ 10 s) and its report, each made
once per test process and kept here (not in a conftest.py: a second module named ``conftest`` on the path would hide
Testing/conftest.py from the tests that import it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cohort_tables import features_table

from CCRCCStagingLib.core.provenance import software_versions
from CCRCCStagingLib.core.settings import Settings
from CCRCCStagingLib.reports.training.render import write_training_report
from CCRCCStagingLib.training.train import TrainingSettings, train_models

FAST = TrainingSettings(classifiers=("lr", "svm", "nb"), seed=0, optimism_bootstraps=3)
#: Cases whose sub2 region failed (all its features missing) and the reason extraction wrote.
SUB2_FAILED = ("case005", "case017", "case101")
SUB2_REASON = "Habitat 2 is empty in this case."
PERI_PARTLY = "case030"
CASE_FAILED = "case040"


def cohort_with_failures() -> pd.DataFrame:
    table = features_table(seed=1)
    table["warnings"] = ""
    sub2 = [c for c in table.columns if c.startswith("sub2_")]
    failed = table["case_id"].isin(SUB2_FAILED)
    table.loc[failed, sub2] = np.nan
    table.loc[failed, "warnings"] = f"The tumour is small. | No features for region sub2: {SUB2_REASON}"
    table.loc[table["case_id"] == PERI_PARTLY, "peri_wavelet-LLH_glcm_Noise0"] = np.inf
    table.loc[table["case_id"] == CASE_FAILED, "error"] = "The mask is empty."
    return table


_MADE: dict[str, Any] = {}


def cohort_table() -> pd.DataFrame:
    if "table" not in _MADE:
        _MADE["table"] = cohort_with_failures()
    return _MADE["table"]


def trained_summary() -> dict:
    """The summary as ``train`` writes it to training_summary.json (with the software versions and the extraction
    settings it adds; through JSON, as the report reads it)."""
    if "summary" not in _MADE:
        summary = train_models(cohort_table(), FAST).summary
        summary.update(software=software_versions(), settings=Settings().to_dict())
        _MADE["summary"] = json.loads(json.dumps(summary, default=str))
    return _MADE["summary"]


def report_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report as the commands write it: page, figures/ and checklist."""
    if "folder" not in _MADE:
        folder = tmp_path_factory.mktemp("training-report")
        write_training_report(trained_summary(), folder / "training_report.html")
        _MADE["folder"] = folder
    return _MADE["folder"]
