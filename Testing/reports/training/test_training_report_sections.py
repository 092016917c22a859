"""The training report's sections on a real training run: every number in them is the summary's (or, where the report
derives one, recomputed here independently): thresholds, confusion counts and DeLong p-values in Tables 2/3, the
optimism-corrected AUC, calibration, decision curves, the number at risk under the Kaplan–Meier plots, the warnings
with their counts, and the cases whose region failed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import report_cohort
from html_tables import html_tables
from report_cohort import CASE_FAILED, PERI_PARTLY, SUB2_FAILED, SUB2_REASON

from CCRCCStagingLib.reports.kit import fmt, fmt_p
from CCRCCStagingLib.reports.training.names import CLASSIFIER_NAMES, SPLIT_NAMES
from CCRCCStagingLib.reports.training.outcome import number_at_risk
from CCRCCStagingLib.reports.training.performance import optimism_note

REGION_OF_GROUP = {f"VOI_{r}": r for r in ("whole", "sub1", "sub2", "peri", "mix")}


@pytest.fixture(scope="module")
def trained_summary() -> dict:
    return report_cohort.trained_summary()


@pytest.fixture(scope="module")
def cohort_table():
    return report_cohort.cohort_table()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> str:
    return (report_cohort.report_folder(tmp_path_factory) / "training_report.html").read_text(encoding="utf-8")



def _metric(summary: dict, region: str, classifier: str, split: str) -> dict:
    rows = [m for m in summary["metrics"] if (m["region"], m["classifier"], m["split"]) == (region, classifier, split)]
    assert len(rows) == 1, (region, classifier, split)
    return rows[0]


def _classifier_of(label: str) -> str:
    """The summary's classifier name of a table's row label ("SVMdeployed" → "svm")."""
    return next(key for key, name in CLASSIFIER_NAMES.items() if label.removesuffix("deployed") == name)


def _p_text(value) -> str:
    return "–" if value is None else fmt_p(value)


def test_table_2_rows_carry_threshold_confusion_counts_and_delong_p(trained_summary, report_html):
    tables = [t for t in html_tables(report_html) if t["rows"] and t["rows"][0][:2] == ["Model", "Threshold"]
              and not t["caption"].startswith("VOI_mix")]
    assert [t["caption"].split(" (")[0] for t in tables] == list(SPLIT_NAMES.values())
    checked = 0
    for table, split in zip(tables, SPLIT_NAMES):
        header = table["rows"][0]
        region = None
        for row in table["rows"][1:]:
            if len(row) == 1:
                region = REGION_OF_GROUP[row[0]]
                continue
            cells = dict(zip(header, row))
            metric = _metric(trained_summary, region, _classifier_of(row[0]), split)
            assert cells["Threshold"] == fmt(metric["threshold"])
            assert cells["TP / FP / TN / FN"] == " / ".join(str(metric[k]) for k in ("tp", "fp", "tn", "fn"))
            assert metric["tp"] + metric["fn"] == metric["n_pos"]
            assert cells["p vs volume"] == _p_text(metric.get("p_vs_volume"))
            assert cells["p vs deployed"] == _p_text(metric.get("p_vs_deployed"))
            checked += 1
    assert checked > 30


def test_table_3_gives_the_threshold_once_and_every_split_its_cells(trained_summary, report_html):
    (mix,) = [t for t in html_tables(report_html) if t["caption"].startswith("VOI_mix")]
    per_split = mix["rows"][1]
    width = len(per_split) // 2
    svm = next(row for row in mix["rows"][2:] if row[0] == "SVMdeployed")
    assert svm[1] == fmt(_metric(trained_summary, "mix", "svm", "external")["threshold"])
    for index, split in enumerate(("internal_test", "external")):
        cells = dict(zip(per_split[:width], svm[2 + index * width: 2 + (index + 1) * width]))
        metric = _metric(trained_summary, "mix", "svm", split)
        assert cells["TP / FP / TN / FN"] == f"{metric['tp']} / {metric['fp']} / {metric['tn']} / {metric['fn']}"
        assert cells["p vs volume"] == fmt_p(metric["p_vs_volume"])
        assert cells["p vs deployed"] == "–"  # the deployed model itself


def test_optimism_corrected_auc_is_said_under_the_training_table(trained_summary, report_html):
    optimism = trained_summary["optimism"]
    assert optimism["bootstraps"] == 3
    training_table_end = report_html.index("</table>", report_html.index("<caption>Training set"))
    note = report_html[training_table_end:report_html.index("<table", training_table_end)]
    assert "optimistic" in note and f"{optimism['bootstraps']} bootstrap samples" in note
    assert fmt(optimism["corrected_auc"]) in note and fmt(optimism["apparent_auc"]) in note


def test_skipped_bootstrap_samples_are_said(trained_summary):
    """Consistency check: samples the optimism bootstrap could not use are counted in the note, not dropped silently."""
    optimism = {**trained_summary["optimism"], "bootstraps": 27, "bootstraps_drawn": 40}
    note = optimism_note({**trained_summary, "optimism": optimism})
    assert "27 bootstrap samples of the 40 drawn; 13 had too few cases of one T-stage group" in note
    assert "drawn" not in optimism_note({**trained_summary, "optimism": {**optimism, "bootstraps": 40}})


def test_calibration_table_has_every_model_and_split(trained_summary, report_html):
    (table,) = [t for t in html_tables(report_html) if t["caption"] == "Calibration of every model per split"]
    splits = table["rows"][0][1:]
    assert splits == list(SPLIT_NAMES.values())
    region, seen = None, set()
    for row in table["rows"][2:]:
        if len(row) == 1:
            region = REGION_OF_GROUP[row[0]]
            continue
        classifier = _classifier_of(row[0])
        by_split = trained_summary["calibration"]["mix" if classifier == "volume_only" else region][classifier]
        expected = [fmt(by_split[split][key]) for split in SPLIT_NAMES
                    for key in ("brier", "calibration_slope", "calibration_intercept")]
        assert row[1:] == expected, (region, classifier)
        seen.add((region, classifier))
    assert len(seen) == 5 * 3 + 1  # five regions × three classifiers, and the volume baseline once


def test_decision_curve_table_equals_the_summary(trained_summary, report_html):
    (table,) = [t for t in html_tables(report_html) if t["caption"].startswith("Net benefit at selected thresholds")]
    calibration = trained_summary["calibration"]["mix"]
    for row in table["rows"][2:]:
        threshold = float(row[0])
        for index, split in enumerate(SPLIT_NAMES):
            curve = calibration["svm"][split]["decision_curve"]
            baseline = calibration["volume_only"][split]["decision_curve"]
            at = curve["threshold"].index(threshold)
            assert row[1 + 3 * index: 4 + 3 * index] == [fmt(curve["model"][at]), fmt(baseline["model"][at]),
                                                         fmt(curve["treat_all"][at])]
    assert [row[0] for row in table["rows"][2:]] == [f"{t / 10:.2f}" for t in range(1, 10)]
    assert 'alt="Decision curves of the deployed model' in report_html
    assert 'alt="Reliability curves of the deployed model' in report_html


def _at_risk_tables(report_html: str) -> dict[str, dict]:
    """The number-at-risk tables by survival entry ("all" or a split), from their captions ("All cases", split names)."""
    entry_of = {"All cases": "all", **{name: split for split, name in SPLIT_NAMES.items()}}
    return {entry_of[t["caption"].removesuffix(": number at risk")]: t for t in html_tables(report_html)
            if t["caption"].endswith(": number at risk")}


def test_number_at_risk_equals_a_count_of_the_cases(trained_summary, cohort_table, report_html):
    risk = {s["case_id"]: s["risk"] for s in trained_summary["radscore"]["scores"]}
    cases = cohort_table[cohort_table["case_id"].isin(risk)]  # the usable cases (the failed one left out)
    assert CASE_FAILED not in risk
    tables = _at_risk_tables(report_html)
    assert set(tables) == set(trained_summary["survival"]) == {"all", "train", "internal_test", "external"}
    for name, table in tables.items():
        header = table["rows"][0]
        assert header[0] == "Time (days)"
        times = [int(cell.replace(" ", "")) for cell in header[1:]]
        assert times[0] == 0 and times == sorted(times) and len(times) >= 3
        in_entry = cases if name == "all" else cases[cases["split"] == name]
        for row in table["rows"][1:]:
            group = {"High risk": "high", "Low risk": "low"}[row[0]]
            os_time = in_entry.loc[in_entry["case_id"].map(risk) == group, "os_time"].to_numpy()
            assert [int(cell) for cell in row[1:]] == [int(np.sum(os_time >= t)) for t in times], (name, group)


def test_number_at_risk_between_and_after_the_curve_times_equals_a_count(trained_summary, cohort_table):
    """External yardstick: a brute-force count of the cohort's follow-up times (≥ t) per risk group, at times between
    the curve's own points and after the last one (where the report reads the next point, or 0)."""
    risk = {s["case_id"]: s["risk"] for s in trained_summary["radscore"]["scores"]}
    cases = cohort_table[cohort_table["case_id"].isin(risk)]
    for curve in trained_summary["survival"]["all"]["curves"]:
        os_time = cases.loc[cases["case_id"].map(risk) == curve["group"], "os_time"].to_numpy()
        for time in np.linspace(0, 1.1 * max(curve["timeline"]), 57):
            assert number_at_risk(curve, time) == int(np.sum(os_time >= time)), (curve["group"], time)


def test_kaplan_meier_time_axis_says_days(report_html):
    assert report_html.count("time in days") == 4


def test_warnings_are_listed_once_each_with_their_count(trained_summary, report_html):
    warnings = trained_summary["warnings"]
    assert warnings, "this run is known to raise warnings (overflow in the calibration fit, LASSO fallback)"
    section = report_html[report_html.index('<section id="warnings">'):]
    for key, count in warnings.items():
        category, _, _ = key.partition(": ")
        assert section.count(f"<strong>{category} × {count}</strong>") >= 1
    assert f"{sum(warnings.values())} warnings of {len(warnings)} kinds" in section


def test_failed_regions_are_reported_as_failed(trained_summary, report_html):
    failures = trained_summary["cohort"]["region_failures"]
    assert sorted(failures["sub2"]["failed"]) == sorted(set(SUB2_FAILED) - {CASE_FAILED})
    assert failures["sub2"]["reasons"] == {SUB2_REASON: len(SUB2_FAILED)}
    assert failures["peri"] == {"failed": [], "partly_imputed": [PERI_PARTLY], "reasons": {}}
    (table,) = [t for t in html_tables(report_html) if t["caption"] == "Cases with a failed or incomplete region"]
    rows = {row[0]: row for row in table["rows"][1:]}
    assert rows["VOI_sub2"][1:4] == [str(len(SUB2_FAILED)), "0", f"{SUB2_REASON} ({len(SUB2_FAILED)})"]
    assert rows["VOI_sub2"][4] == ", ".join(failures["sub2"]["failed"])
    assert rows["VOI_peri"][1:3] == ["0", "1"]
    assert "No case failed." not in report_html
    assert "The mask is empty." in report_html  # the case that failed as a whole, listed with its error


@pytest.mark.parametrize("section", ["cohort", "selection", "performance", "calibration", "decision-curves",
                                     "radscore", "survival", "warnings"])
def test_every_section_is_in_the_contents(report_html, section):
    assert f'<section id="{section}">' in report_html
    assert f'<a href="#{section}">' in report_html


def test_no_section_reports_a_missing_part(report_html):
    for sentence in ("was not recorded", "were not recorded", "No decision curve", "No reliability curve"):
        assert sentence not in report_html, sentence
    assert not re.search(r"Warnings were not recorded|No warning was raised", report_html)
