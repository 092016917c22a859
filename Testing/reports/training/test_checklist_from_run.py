"""The TRIPOD+AI and CLEAR checklist pre-filled from a run: every item of both published lists exactly once (the lists
are written out here independently of the library's), the run's facts taken from the summary, the events per
variable recomputed from the cohort with a warning below 10, and "[author to complete]" where the run cannot know."""

from __future__ import annotations

import re

import pytest
import report_cohort
from report_cohort import CASE_FAILED, SUB2_FAILED

from CCRCCStagingLib.reports.kit import fmt
from CCRCCStagingLib.reports.training.checklist import AUTHOR, CHECKLIST_FILE, checklist_markdown

# TRIPOD+AI (Collins et al., BMJ 2024;385:e078378, Table 1): 27 items, 52 with their parts.
TRIPOD_AI_NUMBERS = [
    "1", "2", "3a", "3b", "3c", "4", "5a", "5b", "6a", "6b", "6c", "7", "8a", "8b", "8c", "9a", "9b", "9c", "10", "11",
    "12a", "12b", "12c", "12d", "12e", "12f", "12g", "13", "14", "15", "16", "17", "18a", "18b", "18c", "18d", "18e",
    "18f", "19", "20a", "20b", "20c", "21", "22", "23a", "23b", "24", "25", "26", "27a", "27b", "27c",
]
# CLEAR (Kocak et al., Insights Imaging 2023;14:75): items 1-58.
CLEAR_NUMBERS = [str(n) for n in range(1, 59)]


@pytest.fixture(scope="module")
def trained_summary() -> dict:
    return report_cohort.trained_summary()


@pytest.fixture(scope="module")
def cohort_table():
    return report_cohort.cohort_table()


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    return report_cohort.report_folder(tmp_path_factory)



def _table(part: str) -> list[list[str]]:
    """The body rows of the one table in ``part``, as cell lists ("\\|" inside a cell is not a separator)."""
    lines = [line for line in part.splitlines() if line.startswith("| ")]
    body = lines[lines.index(next(line for line in lines if line.startswith("| ---"))) + 1:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in body]


@pytest.fixture(scope="module")
def checklist(trained_summary) -> str:
    return checklist_markdown(trained_summary)


def _rows(checklist: str) -> tuple[list[list[str]], list[list[str]]]:
    tripod_part = checklist[checklist.index("## TRIPOD+AI"):checklist.index("## CLEAR")]
    clear_part = checklist[checklist.index("## CLEAR"):]
    return _table(tripod_part), _table(clear_part)


def test_every_tripod_ai_and_clear_item_appears_exactly_once_in_order(checklist):
    tripod, clear = _rows(checklist)
    assert [row[0] for row in tripod] == TRIPOD_AI_NUMBERS
    assert [row[0] for row in clear] == CLEAR_NUMBERS
    assert all(len(row) == 6 for row in tripod) and all(len(row) == 4 for row in clear)


def test_items_carry_the_published_wording(checklist):
    tripod, clear = _rows(checklist)
    by_number = {row[0]: row for row in tripod}
    assert by_number["12g"][2:5] == ["Analytical methods", "E", "For model evaluation, describe how the model predictions "
                                     "were calculated (eg, formula, code, object, application programming interface)"]
    assert by_number["17"][2] == "Ethical approval"
    clear_by_number = {row[0]: row for row in clear}
    assert clear_by_number["41"][2] == "Statistical performance comparison (e.g., DeLong's test)"
    assert clear_by_number["36"][2] == "Handling of confounders"
    assert clear_by_number["58"][1:3] == ["Open Science — Model availability", "Sharing a ready-to-use system [n/e]"]


def test_what_only_the_authors_know_is_left_to_them(checklist):
    tripod, clear = _rows(checklist)
    by_number = {row[0]: row[-1] for row in tripod}
    for number in ("1", "3a", "5b", "6b", "14", "17", "18a", "19", "25"):
        assert by_number[number] == AUTHOR, number
    clear_by_number = {row[0]: row[-1] for row in clear}
    for number in ("1", "8", "10", "16", "19", "20", "44", "52"):
        assert clear_by_number[number] == AUTHOR, number
    # Answered in part: the run's facts, then the marker.
    assert by_number["10"].endswith(AUTHOR) and "EPV" in by_number["10"]
    assert AUTHOR not in by_number["11"] and AUTHOR not in clear_by_number["29"]


def test_run_facts_come_from_the_summary(trained_summary, checklist):
    for package, version in trained_summary["software"].items():
        assert f"{package} {version}" in checklist
    for split, counts in trained_summary["cohort"]["by_split"].items():
        assert f"{counts['n']} cases, {counts['n_high']} T3–T4" in checklist
    assert "bin count 25" in checklist and "[1, 1, 1] mm" in checklist
    assert "internal validation on the held-out internal test split" in checklist
    assert "external validation on the external split" in checklist
    assert "No harmonisation (no ComBat)." in checklist
    calibration = trained_summary["calibration"]["mix"]["svm"]["external"]
    assert f"External validation set Brier {fmt(calibration['brier'])}" in checklist
    optimism = trained_summary["optimism"]
    assert (f"optimism-corrected training AUC {fmt(optimism['corrected_auc'])} ({optimism['bootstraps']} of 3 bootstrap "
            "samples usable)") in checklist


def test_missing_data_handling_names_the_imputed_regions(checklist):
    assert "1 cases excluded because their extraction failed" in checklist  # CASE_FAILED
    assert "imputed with the training split's median" in checklist
    failed_sub2 = len(set(SUB2_FAILED) - {CASE_FAILED})
    assert f"VOI_sub2 in {failed_sub2} cases" in checklist and "VOI_peri in 0 cases (partly in 1)" in checklist


def test_events_per_variable_recomputed_from_the_cohort(trained_summary, cohort_table, checklist):
    usable = cohort_table[cohort_table["error"] == ""]
    train = usable[usable["split"] == "train"]
    events = min((train["group"] == "high").sum(), (train["group"] == "low").sum())
    subregion = trained_summary["mix_subregion"]
    candidates = sum(c.startswith((f"{subregion}_", "peri_")) for c in cohort_table.columns)
    selected = len(trained_summary["selection"]["mix"]["selected"])
    assert f"{events} events in the smaller class of the training split" in checklist
    assert f"{candidates} candidate features (EPV {fmt(events / candidates, 2)})" in checklist
    assert f"{selected} selected (EPV {fmt(events / selected, 2)})" in checklist
    assert "**Warning: events per variable below 10**" in checklist


def test_no_epv_warning_when_there_are_enough_events(trained_summary):
    summary = {**trained_summary,
               "cohort": {**trained_summary["cohort"], "by_split": {"train": {"n": 600, "n_high": 300}}},
               "selection": {"mix": {"n_input": 20, "selected": ["a", "b", "c"]}}}
    text = checklist_markdown(summary)
    assert "300 events in the smaller class" in text and "(EPV 15.00)" in text and "(EPV 100.00)" in text
    assert "Warning: events per variable" not in text


def test_harmonisation_is_said_when_it_was_done(trained_summary):
    summary = {**trained_summary, "harmonisation": {"method": "ComBat", "batches": ["GE", "Siemens"],
                                                    "features_harmonised": 812}}
    assert "Yes: ComBat fitted on the training split across batches GE, Siemens; 812 features" in checklist_markdown(summary)


def test_an_empty_summary_still_lists_every_item(tmp_path):
    text = checklist_markdown({})
    tripod, clear = _rows(text)
    assert [row[0] for row in tripod] == TRIPOD_AI_NUMBERS and [row[0] for row in clear] == CLEAR_NUMBERS
    assert "Warning: events per variable" not in text


def test_the_checklist_is_written_beside_the_report(report_folder, trained_summary):
    assert (report_folder / CHECKLIST_FILE).read_text(encoding="utf-8") == checklist_markdown(trained_summary)
