"""Tests of CCRCCStagingLib.reports.training on a realistic, seeded training summary."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from html_tables import html_tables as _tables
from matplotlib.image import imread

from CCRCCStagingLib.reports.training.names import CLASSIFIER_NAMES
from CCRCCStagingLib.reports.training.render import render_training_report

REGIONS = ["whole", "sub1", "sub2", "peri", "mix"]
MODELS = ["lr", "svm", "rf", "lightgbm", "nb", "mlp"]
SPLITS = {"train": (148, 46), "internal_test": (38, 13), "external": (137, 42)}
BASELINE_AUC = {"train": 0.70, "internal_test": 0.66, "external": 0.68}
# Models whose AUC is set not to exceed the volume baseline (one exactly equal, one below).
NOT_ABOVE_BASELINE = {("sub2", "mlp", "internal_test"): 0.66, ("mix", "nb", "external"): 0.61}
ODD_FEATURE = 'wavelet-LLH_<b>glcm</b>_"Idm"&$x$'
ODD_CASE = "<script>alert('case')</script>&01"


def _lasso(rng: np.random.Generator, features: list[str], n_selected: int) -> dict:
    alphas = np.geomspace(0.3, 3e-4, 40)
    log_a = np.log(alphas)
    chosen = float(alphas[25])
    mse_mean = 0.16 + 0.01 * (log_a - np.log(chosen)) ** 2 + rng.normal(0, 0.002, alphas.size)
    true = {f: float(rng.normal(0, 0.15)) for f in features}
    path = {f: [float(np.sign(b) * max(abs(b) - 0.2 * a, 0.0)) for a in alphas] for f, b in true.items()}
    selected = features[:n_selected]
    return {
        "selected": selected,
        "lasso": {
            "alphas": alphas.tolist(),
            "mse_mean": mse_mean.tolist(),
            "mse_std": rng.uniform(0.01, 0.03, alphas.size).tolist(),
            "alpha": chosen,
            "coef_path": path,
            "coef": {f: path[f][25] or 0.01 for f in selected},
            "intercept": 0.31,
        },
    }


def _roc(rng: np.random.Generator, auc: float) -> dict:
    fpr = np.r_[0.0, np.sort(rng.uniform(0, 1, 20)), 1.0]
    return {"fpr": fpr.tolist(), "tpr": (fpr ** ((1 - auc) / auc)).tolist(), "auc": auc}


def _metric(region: str, classifier: str, split: str, auc: float) -> dict:
    n, n_pos = SPLITS[split]
    return {
        "region": region, "classifier": classifier, "split": split, "n": n, "n_pos": n_pos,
        "accuracy": 0.74, "precision": 0.61, "recall": 0.77, "f1": 0.68,
        "auc": auc, "auc_ci_lower": auc - 0.12, "auc_ci_upper": min(auc + 0.12, 1.0),
    }


def _km(rng: np.random.Generator, group: str, hazard: float) -> dict:
    times = np.r_[0.0, np.sort(rng.uniform(1, 90, 30))]
    survival = np.exp(-hazard * times)
    return {
        "group": group, "timeline": times.tolist(), "survival": survival.tolist(),
        "ci_lower": (survival * 0.85).tolist(), "ci_upper": np.minimum(survival * 1.1, 1.0).tolist(),
        "n": 60, "events": 17,
    }


def make_summary(seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    selection, metrics, roc = {}, [], {}
    for region in REGIONS:
        features = [f"{region}_original_glcm_f{i}" for i in range(25)]
        if region == "mix":
            features[0] = ODD_FEATURE
        selection[region] = {"n_input": 1130, "n_after_spearman": 410, "n_after_mrmr": 25,
                             **_lasso(rng, features, 8 + REGIONS.index(region))}
        roc[region] = {}
        for classifier in [*MODELS, "volume_only"]:
            roc[region][classifier] = {}
            for split in SPLITS:
                auc = BASELINE_AUC[split] if classifier == "volume_only" else float(rng.uniform(0.72, 0.86))
                auc = NOT_ABOVE_BASELINE.get((region, classifier, split), auc)
                metrics.append(_metric(region, classifier, split, auc))
                roc[region][classifier][split] = _roc(rng, auc)
    mix_coefficients = selection["mix"]["lasso"]["coef"]
    scores = []
    for split, (n, n_high) in SPLITS.items():
        groups = ["high"] * n_high + ["low"] * (n - n_high)
        for i, group in enumerate(groups):
            value = float(rng.normal(0.6 if group == "high" else 0.1, 0.35))
            scores.append({"case_id": f"{split}-{i:03d}", "split": split, "radscore": value, "group": group,
                           "risk": "high" if value >= 0.3062 else "low"})
    return {
        "title": "ccRCC T stage — training report",
        "created": "2026-11-25T10:00:00",
        "software": {"ccrcc-staging": "0.1.0", "scikit-learn": "1.9.1", "pyradiomics-bhklab": "3.1.4"},
        "settings": {"margin_mm": 3.0, "habitats": {"k": 2, "seed": 0}, "lasso_folds": 10},
        "cohort": {"by_split": {s: {"n": n, "n_high": h} for s, (n, h) in SPLITS.items()},
                   "failed_cases": [{"case_id": ODD_CASE, "error": "mask is empty & unreadable"}]},
        "regions": REGIONS,
        "mix_subregion": "sub1",
        "selection": selection,
        "metrics": metrics,
        "roc": roc,
        "radscore": {"region": "mix", "intercept": 0.31, "coefficients": mix_coefficients, "cutoff": 0.3062,
                     "scores": scores},
        "survival": {"Overall survival": {"logrank_p": 0.0004, "logrank_statistic": 12.6,
                                          "curves": [_km(rng, "low", 0.004), _km(rng, "high", 0.015)]}},
        "deployed": {"region": "mix", "classifier": "svm"},
    }


def _render(summary: dict, folder: Path) -> str:
    out = folder / "report.html"
    render_training_report(summary, out)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> str:
    return _render(make_summary(), tmp_path_factory.mktemp("report"))


def test_report_is_one_html_document_that_loads_nothing(full_report):
    text = full_report
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<html") == 1 and text.rstrip().endswith("</html>")
    lowered = re.sub(r"data:image/png;base64,[a-z0-9+/=]*", "", text.lower())
    # The page's own policy forbids loading anything; it and the empty data: icon set aside, nothing may refer
    # elsewhere.
    assert "<meta http-equiv=\"content-security-policy\" content=\"default-src 'none';" in lowered
    lowered = lowered.replace('<meta http-equiv="content-security-policy"', "").replace('<link rel="icon" href="data:,">', "")
    # Nothing in the test summary mentions http, so any occurrence would be a reference to elsewhere.
    assert "http" not in lowered
    for forbidden in ("<script", "<link", "@import", "url(", "<iframe"):
        assert forbidden not in lowered
    assert "Research software — not for clinical use" in text


def test_every_image_is_an_embedded_non_blank_png(full_report):
    sources = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', full_report)
    # 5 LASSO figures + 5 ROC figures + 1 Radscore waterfall + 1 Kaplan-Meier figure.
    assert len(sources) == len(re.findall(r"<img\b", full_report)) == 12
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.split(",", 1)[1], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels[..., :3].std() > 0.01


def test_performance_tables_list_every_classifier_and_the_baseline(full_report):
    performance = [t for t in _tables(full_report) if t["rows"] and t["rows"][0][0] == "Model"]
    # Table 2 layout for each of the three splits, Table 3 layout for the combined region.
    assert len(performance) == 4
    for table in performance:
        first_cells = [row[0] for row in table["rows"]]
        for name in CLASSIFIER_NAMES.values():
            assert any(cell.startswith(name) for cell in first_cells), (table["caption"], name)
    # Training table: 5 regions; held-out tables: 4 single regions each; Table 3: one row across its splits.
    assert full_report.count('<tr class="baseline">') == 5 + 4 + 4 + 1
    mix_table = performance[-1]
    assert mix_table["rows"][0][:2] == ["Model", "Threshold"]
    assert mix_table["rows"][0][2:] == [
        "Internal test set (n = 38, 13 high T stage)",
        "External validation set (n = 137, 42 high T stage)",
    ]
    assert any(row[0] == "SVMdeployed" for row in mix_table["rows"])
    training_table = performance[0]
    assert training_table["caption"].startswith("Training set")
    assert ["VOI_mix"] in training_table["rows"]


def _flagged_models(tables: list[dict]) -> set[tuple[str, str, str]]:
    """(region, classifier display name, split caption start) of every AUC cell carrying the flag."""
    flagged = set()
    for table in (t for t in tables if t["rows"] and t["rows"][0][0] == "Model"):
        if table["caption"].startswith("VOI_mix"):
            # Model, Threshold, then per split the cells under the second header row (AUC among them).
            splits, per_split = table["rows"][0][2:], table["rows"][1]
            auc = per_split.index("AUC (95% CI)")
            for row in table["rows"][2:]:
                for index, split in enumerate(splits):
                    if "≤ volume" in row[2 + auc + len(per_split) // len(splits) * index]:
                        flagged.add(("mix", row[0], split.split(" (")[0]))
            continue
        region, auc = None, table["rows"][0].index("AUC (95% CI)")
        for row in table["rows"][1:]:
            if len(row) == 1:
                region = row[0].removeprefix("VOI_")
            elif "≤ volume" in row[auc]:
                flagged.add((region, row[0], table["caption"].split(" (")[0]))
    return flagged


def test_models_not_above_the_volume_baseline_are_flagged(full_report):
    assert _flagged_models(_tables(full_report)) == {
        ("sub2", "MLP", "Internal test set"),
        ("mix", "Naive Bayes", "External validation set"),
    }


def test_missing_survival_external_split_and_region_render(tmp_path):
    summary = make_summary()
    summary["survival"] = {}
    del summary["cohort"]["by_split"]["external"]
    summary["metrics"] = [m for m in summary["metrics"] if m["split"] != "external"]
    for by_classifier in summary["roc"].values():
        for by_split in by_classifier.values():
            by_split.pop("external")
    summary["radscore"]["scores"] = [s for s in summary["radscore"]["scores"] if s["split"] != "external"]
    del summary["selection"]["sub2"], summary["roc"]["sub2"]

    text = _render(summary, tmp_path)

    assert "No survival data were provided" in text
    assert "External validation" not in text
    assert "No feature selection was recorded for this region." in text
    assert "No ROC curves were recorded for VOI_sub2." in text
    performance = [t for t in _tables(text) if t["rows"] and t["rows"][0][0] == "Model"]
    assert len(performance) == 3
    assert len(re.findall(r"<img\b", text)) == 4 + 4 + 1


@pytest.mark.parametrize("summary", [{}, {"title": "Only a title", "regions": ["whole", "mix"]}])
def test_empty_summaries_render_with_explanations(tmp_path, summary):
    text = _render(summary, tmp_path)
    assert "<img" not in text
    for sentence in ("cohort sizes were not recorded", "No model performance was recorded", "No Radscore"):
        assert sentence in text


def test_baseline_recorded_once_serves_every_region(tmp_path):
    # Tables only: the figures are covered elsewhere and would only slow this test down.
    summary = {key: value for key, value in make_summary().items() if key not in ("selection", "roc", "radscore")}
    summary["metrics"] = [
        m for m in summary["metrics"] if m["classifier"] != "volume_only" or m["region"] == "whole"
    ]
    text = _render(summary, tmp_path)
    assert _flagged_models(_tables(text)) == {
        ("sub2", "MLP", "Internal test set"),
        ("mix", "Naive Bayes", "External validation set"),
    }
    assert "not recorded</td>" not in text


def test_html_special_characters_are_escaped(full_report):
    assert ODD_CASE not in full_report and "<b>glcm</b>" not in full_report
    assert "&lt;script&gt;alert(&#x27;case&#x27;)&lt;/script&gt;&amp;01" in full_report
    assert "wavelet-LLH_&lt;b&gt;glcm&lt;/b&gt;_&quot;Idm&quot;&amp;$x$" in full_report
    assert "mask is empty &amp; unreadable" in full_report


def test_rewrite_replaces_the_report_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "nested" / "report.html"
    out.parent.mkdir()
    out.write_text("old report")
    render_training_report({"title": "Second run"}, out)
    assert "<title>Second run</title>" in out.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
