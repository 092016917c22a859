"""The case report as an A4 PDF of four pages (summary, key images, model, provenance), laid out with the PDF kit
from the same content and pictures as the HTML page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.palette import HIGH_GROUP_COLOUR, LOW_GROUP_COLOUR
from ..kit_pdf import (
    PdfStyles, build_pdf, grid_table, key_value_table, notice_box, paragraph, pdf_styles, picture, register_fonts,
    require_reportlab, text_width,
)
from .content import DEMONSTRATION_NOTICE, MONTAGE_CAPTION, WINDOW, ReportContent
from .figures import ReportFigures

if TYPE_CHECKING:
    from reportlab.platypus import Flowable

#: The PDF's pages, in order (each starts on a new page); the tests check these headings.
PDF_PAGES = ("1. Summary", "2. Key images", "3. Model, features and warnings", "4. Inputs, software and settings")


def report_pdf(content: ReportContent, figures: ReportFigures) -> bytes:
    """The whole document."""
    require_reportlab()
    from reportlab.platypus import PageBreak

    register_fonts()
    styles = pdf_styles()
    story = [*_summary_page(content, figures, styles), PageBreak(), *_images_page(content, figures, styles),
             PageBreak(), *_model_page(content, styles), PageBreak(), *_provenance_page(content, styles)]
    return build_pdf(
        story, title=f"{content.title} — {content.case_label}", subject="CCRCCStaging case report",
        footer=f"CCRCCStaging case report · {content.case_label} · research software, not for clinical use",
    )


def _picture(figures: ReportFigures, name: str, max_width: float) -> Flowable:
    return picture(figures.pictures[name].png, figures.pictures[name].size, max_width)


def _summary_page(content: ReportContent, figures: ReportFigures, styles: PdfStyles) -> list[Flowable]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    story: list[Flowable] = [paragraph(content.title, styles.h1),
                             paragraph("   ·   ".join(f"{k}: {v}" for k, v in content.meta), styles.small),
                             Spacer(1, 4)]
    if content.demonstration:
        story += [notice_box(styles, DEMONSTRATION_NOTICE), Spacer(1, 4)]
    story += [paragraph(PDF_PAGES[0], styles.h2), *_prediction(content, figures, styles)]
    story += [paragraph("Regions and habitats", styles.h3), *(paragraph(t, styles.base) for t in content.habitat_lines)]
    story.append(grid_table(styles, content.region_header, content.region_rows,
                            [62 * mm, 18 * mm, 25 * mm, 28 * mm, 35 * mm], swatches=content.region_colours))
    if "fractions" in figures.pictures:
        story.append(_picture(figures, "fractions", text_width()))
    return story


def _prediction(content: ReportContent, figures: ReportFigures, styles: PdfStyles) -> list[Flowable]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    colour = {"high": HIGH_GROUP_COLOUR, "low": LOW_GROUP_COLOUR}.get(content.group or "", "#555555")
    lines = content.prediction_lines
    text = [paragraph(lines[0], styles.emphasis(colour)), *(paragraph(line, styles.base) for line in lines[1:])]
    story: list[Flowable] = text
    if "gauge" in figures.pictures:
        row = Table([[_picture(figures, "gauge", 62 * mm), text]], colWidths=[66 * mm, text_width() - 66 * mm])
        row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story = [row]
    if content.radscore_lines:
        story.append(paragraph("Radscore", styles.h3))
        if "radscore" in figures.pictures:
            story.append(_picture(figures, "radscore", 120 * mm))
        story += [paragraph(line, styles.base) for line in content.radscore_lines]
    return story


def _images_page(content: ReportContent, figures: ReportFigures, styles: PdfStyles) -> list[Flowable]:
    from reportlab.platypus import Spacer

    story = [paragraph(PDF_PAGES[1], styles.h2), _picture(figures, "key_images", text_width())]
    story.append(paragraph(
        f"Slices through the tumour centre on the 1 mm box around the tumour, CT window W {WINDOW[0]:g} / "
        f"L {WINDOW[1]:g}; habitats and the {content.margin_mm:g} mm peritumoral shell as fill and outline, at "
        "physical aspect ratio. Axial seen from the feet, coronal from the front, sagittal from the patient's left.",
        styles.small))
    if "montage" in figures.pictures:
        story += [Spacer(1, 6), _picture(figures, "montage", text_width()),
                  paragraph(MONTAGE_CAPTION + " The HTML report has a slice scroller through every slice.",
                            styles.small)]
    return story


def _model_page(content: ReportContent, styles: PdfStyles) -> list[Flowable]:
    from reportlab.lib.units import mm

    story = [paragraph(PDF_PAGES[2], styles.h2), paragraph("Selected features", styles.h3),
             paragraph(content.feature_note, styles.small)]
    if content.feature_rows:
        story.append(grid_table(styles, content.feature_header, content.feature_rows,
                                [86 * mm, 20 * mm, 37 * mm, 12 * mm, 25 * mm], highlight=content.feature_ood))
    story.append(paragraph("Warnings", styles.h3))
    story += [paragraph(f"• {w}", styles.base) for w in content.warnings] or [paragraph("No warnings.", styles.base)]
    story.append(paragraph("Model card (summary)", styles.h3))
    if content.model_rows:
        story.append(key_value_table(styles, content.model_rows, 46 * mm))
        story.append(paragraph("The full model card is in the HTML report and in the model folder (MODEL_CARD.md).",
                               styles.small))
    else:
        story.append(paragraph("No model was used: no prediction.", styles.base))
    return story


def _provenance_page(content: ReportContent, styles: PdfStyles) -> list[Flowable]:
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether

    timings = key_value_table(styles, content.timing_rows, 46 * mm) if content.timing_rows else paragraph("–",
                                                                                                             styles.base)
    return [
        paragraph(PDF_PAGES[3], styles.h2), paragraph("Inputs", styles.h3),
        key_value_table(styles, content.input_rows, 46 * mm), paragraph("Geometry", styles.h3),
        grid_table(styles, content.geometry_header, content.geometry_rows,
                   [34 * mm, 28 * mm, 36 * mm, 40 * mm, 42 * mm]),
        paragraph("Software", styles.h3), key_value_table(styles, content.software_rows, 46 * mm),
        paragraph("Settings", styles.h3), key_value_table(styles, content.settings_rows, 46 * mm),
        KeepTogether([paragraph("Timings", styles.h3), timings]),
    ]
