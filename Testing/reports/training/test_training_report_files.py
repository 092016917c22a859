"""The files the commands write beside the training report: every figure as SVG and PDF under the paper's figure
numbers, valid files, named in the page; nothing written where the command did not ask; figures of an earlier run that
are not made again removed, other files left alone."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest
import report_cohort
from pypdf import PdfReader

from CCRCCStagingLib.reports.training.checklist import CHECKLIST_FILE
from CCRCCStagingLib.reports.training.render import render_training_report

REGIONS = ("whole", "sub1", "sub2", "peri")


@pytest.fixture(scope="module")
def trained_summary() -> dict:
    return report_cohort.trained_summary()


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory):
    return report_cohort.report_folder(tmp_path_factory)



def _expected_figures(summary: dict) -> set[str]:
    """The paper's numbering: Fig. 3 LASSO and ROC per single region, Fig. 4 the combined region, Fig. 5B
    Kaplan-Meier, Fig. 5C-E the Radscore waterfall; descriptive names for what the paper lacks."""
    names = {f"fig3_lasso_{r}" for r in REGIONS} | {f"fig3_roc_{r}" for r in REGIONS}
    names |= {"fig4ab_lasso_mix", "fig4cd_roc_mix", "fig5ce_radscore_waterfall"}
    names |= {f"fig5b_kaplan_meier_{entry}" for entry in summary["survival"]}
    return names | {"calibration_reliability_deployed", "decision_curve_deployed"}


def test_every_figure_is_written_as_svg_and_pdf_under_its_paper_number(trained_summary, report_folder):
    figures = report_folder / "figures"
    expected = _expected_figures(trained_summary)
    assert {p.name for p in figures.iterdir()} == {f"{n}.{s}" for n in expected for s in ("svg", "pdf")}
    assert sorted(p.name for p in report_folder.iterdir()) == sorted(["figures", "training_report.html", CHECKLIST_FILE])


def _svg_size_points(root: ElementTree.Element) -> tuple[float, float]:
    """The SVG's width and height in points (matplotlib writes them as "460.8pt")."""
    return float(root.get("width").removesuffix("pt")), float(root.get("height").removesuffix("pt"))


def test_svg_files_parse_and_pdf_files_are_one_page_of_the_same_size(report_folder):
    """External yardsticks: Python's XML parser for the SVG files and pypdf for the PDF files; each pair is the same
    figure, so the PDF page has the SVG's size and the same text (axis labels, tick labels)."""
    for svg in (report_folder / "figures").glob("*.svg"):
        root = ElementTree.fromstring(svg.read_bytes())
        assert root.tag.endswith("svg"), svg.name
        assert len(list(root.iter())) > 20, svg.name  # drawn content, not an empty canvas
        reader = PdfReader(svg.with_suffix(".pdf"))
        assert len(reader.pages) == 1, svg.name
        box = reader.pages[0].mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(_svg_size_points(root), abs=0.5), svg.name
        assert len(reader.pages[0].extract_text().split()) >= 5, svg.name  # text, not an image of text


def test_the_kaplan_meier_svg_says_the_time_unit_and_the_number_at_risk(report_folder):
    svg = (report_folder / "figures" / "fig5b_kaplan_meier_all.svg").read_text(encoding="utf-8")
    # matplotlib draws text as paths and keeps each string in a comment beside it.
    assert "Time (days)" in svg and "Number at risk" in svg
    text = PdfReader(report_folder / "figures" / "fig5b_kaplan_meier_all.pdf").pages[0].extract_text()
    assert "Time (days)" in text and "Number at risk" in text


def test_the_page_names_each_figure_file(trained_summary, report_folder):
    html = (report_folder / "training_report.html").read_text(encoding="utf-8")
    for name in _expected_figures(trained_summary):
        assert f"figures/{name}.svg" in html, name


def _small_summary(summary: dict) -> dict:
    """The run's survival part only: four figures, quick to render."""
    return {"title": "Survival only", "survival": summary["survival"]}


def test_without_a_figures_folder_only_the_page_is_written(trained_summary, tmp_path):
    render_training_report(_small_summary(trained_summary), tmp_path / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_figures_of_an_earlier_run_are_removed_and_other_files_kept(trained_summary, tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    for name in ("fig3_lasso_sub9.svg", "fig3_lasso_sub9.pdf", "fig5b_kaplan_meier_all.svg", "notes.txt", "my_fig.svg"):
        (figures / name).write_text("old")
    render_training_report(_small_summary(trained_summary), tmp_path / "report.html", figures)
    names = {p.name for p in figures.iterdir()}
    assert "fig3_lasso_sub9.svg" not in names and "fig3_lasso_sub9.pdf" not in names
    assert {"notes.txt", "my_fig.svg"} <= names
    assert (figures / "fig5b_kaplan_meier_all.svg").read_text() != "old"
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_every_figure_file_goes_through_the_kits_atomic_write(trained_summary, tmp_path, monkeypatch):
    """The kit's write_file (temporary file, then one rename; tested in Testing/reports/test_kit.py) writes every file,
    so an interrupted run never leaves half a figure under its final name."""
    import CCRCCStagingLib.reports.training.figures as figures_module

    written = []
    original = figures_module.write_file
    monkeypatch.setattr(figures_module, "write_file", lambda path, data: (written.append(path.name), original(path, data)))
    render_training_report(_small_summary(trained_summary), tmp_path / "report.html", tmp_path / "figures")
    assert sorted(written) == sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert len(written) == 2 * len(trained_summary["survival"])
