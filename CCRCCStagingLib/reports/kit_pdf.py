"""The PDF side of the report kit: reportlab (platypus) on A4 with DejaVu Sans from matplotlib's own data (full
Unicode: –, ±, ≥, →, ρ), paragraph styles, tables and notices in the colours of the HTML style sheet, figures from
their PNG, and a page footer. No browser is needed.

reportlab is imported inside the functions (the HTML report does not need it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import OutputError
from .kit import (
    ALERT_BACKGROUND, ALERT_COLOUR, ALERT_TEXT_COLOUR, HEADER_LINE_COLOUR, HIGHLIGHT_BACKGROUND, LINE_COLOUR,
    MUTED_COLOUR, TEXT_COLOUR,
)

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Flowable, Image, Paragraph, Table

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
#: Page margins (mm): left/right, top, bottom.
MARGINS_MM = (15.0, 14.0, 16.0)


def require_reportlab() -> None:
    """Refuse with a sentence when reportlab is missing."""
    try:
        import reportlab  # noqa: F401
    except ImportError as error:
        raise OutputError(
            "The PDF report needs the reportlab package (pip install 'reportlab>=4,<6'); the HTML report does not."
        ) from error


def register_fonts() -> None:
    """DejaVu Sans (regular and bold) for reportlab, once."""
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(fonts / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(fonts / "DejaVuSans-Bold.ttf")))
    for bold, italic in ((0, 0), (1, 0), (0, 1), (1, 1)):
        addMapping(FONT, bold, italic, FONT_BOLD if bold else FONT)


def text_width() -> float:
    """Width of the text on an A4 page (points)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    return A4[0] - 2 * MARGINS_MM[0] * mm


@dataclass(frozen=True)
class PdfStyles:
    """The paragraph styles of a report."""

    base: ParagraphStyle
    small: ParagraphStyle
    cell: ParagraphStyle
    cell_bold: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    h3: ParagraphStyle
    notice: ParagraphStyle

    def emphasis(self, colour: str) -> ParagraphStyle:
        """Large bold text in ``colour`` (a prediction)."""
        from reportlab.lib import colors
        from reportlab.lib.styles import ParagraphStyle

        return ParagraphStyle("big", parent=self.base, fontName=FONT_BOLD, fontSize=13, leading=16,
                              textColor=colors.HexColor(colour))


def pdf_styles() -> PdfStyles:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName=FONT, fontSize=8.8, leading=11.5)
    cell = ParagraphStyle("cell", parent=base, fontSize=7.6, leading=9.4)
    return PdfStyles(
        base=base,
        small=ParagraphStyle("small", parent=base, fontSize=7.6, leading=9.6, textColor=colors.HexColor(MUTED_COLOUR)),
        cell=cell,
        cell_bold=ParagraphStyle("cellbold", parent=cell, fontName=FONT_BOLD),
        h1=ParagraphStyle("h1", parent=base, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=4),
        h2=ParagraphStyle("h2", parent=base, fontName=FONT_BOLD, fontSize=12, leading=15, spaceBefore=4,
                          spaceAfter=4, textColor=colors.HexColor(TEXT_COLOUR)),
        h3=ParagraphStyle("h3", parent=base, fontName=FONT_BOLD, fontSize=9.6, leading=12, spaceBefore=6,
                          spaceAfter=3),
        notice=ParagraphStyle("notice", parent=base, fontName=FONT_BOLD, fontSize=9.6, leading=12.5,
                              textColor=colors.HexColor(ALERT_TEXT_COLOUR)),
    )


def paragraph(text: Any, style: ParagraphStyle) -> Paragraph:
    """Plain text (escaped) as a paragraph."""
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)), style)


def picture(png: bytes, size_inches: tuple[float, float], max_width: float) -> Image:
    """A figure's PNG at its size, or narrower to fit ``max_width`` (points), aspect kept."""
    from reportlab.platypus import Image

    width_in, height_in = size_inches
    width = min(max_width, width_in * 72)
    return Image(io.BytesIO(png), width=width, height=width * height_in / width_in)


def _grid_commands() -> list[tuple]:
    from reportlab.lib import colors

    return [
        ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 7.6),
        ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor(LINE_COLOUR)),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]


def grid_table(
    styles: PdfStyles,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[float],
    highlight: Sequence[bool] = (),
    swatches: Sequence[str | None] = (),
) -> Table:
    """A table with a header row; ``highlight`` rows get the HTML's highlight background, ``swatches`` a bar of
    their colour before the first cell."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    data = [[paragraph(h, styles.cell_bold) for h in header], *([paragraph(c, styles.cell) for c in r] for r in rows)]
    style = TableStyle(_grid_commands())
    style.add("LINEBELOW", (0, 0), (-1, 0), 0.9, colors.HexColor(HEADER_LINE_COLOUR))
    for i, flag in enumerate(highlight, start=1):
        if flag:
            style.add("BACKGROUND", (0, i), (-1, i), colors.HexColor(HIGHLIGHT_BACKGROUND))
    for i, colour in enumerate(swatches, start=1):
        if colour:
            style.add("LINEBEFORE", (0, i), (0, i), 5, colors.HexColor(colour))
    table = Table(data, colWidths=widths, hAlign="LEFT", repeatRows=1)
    table.setStyle(style)
    return table


def key_value_table(styles: PdfStyles, rows: Sequence[tuple[str, str]], key_width: float) -> Table:
    """Names and their values, one pair a row, over the text width."""
    from reportlab.platypus import Table, TableStyle

    data = [[paragraph(k, styles.cell_bold), paragraph(v, styles.cell)] for k, v in rows]
    table = Table(data, colWidths=[key_width, text_width() - key_width], hAlign="LEFT")
    table.setStyle(TableStyle(_grid_commands()))
    return table


def notice_box(styles: PdfStyles, text: str) -> Table:
    """The HTML's ``.notice``: bold alert text in a red frame."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    box = Table([[paragraph(text, styles.notice)]], colWidths=[text_width()])
    box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 2, colors.HexColor(ALERT_COLOUR)),
                             ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(ALERT_BACKGROUND)),
                             ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    return box


def build_pdf(story: list[Flowable], title: str, subject: str, footer: str) -> bytes:
    """The A4 document of ``story``, with ``footer`` and the page number at the foot of every page."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    side, top, bottom = (m * mm for m in MARGINS_MM)

    def on_page(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(side, 9 * mm, footer)
        canvas.drawRightString(A4[0] - side, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=side, rightMargin=side, topMargin=top,
                                 bottomMargin=bottom, title=title, author="CCRCCStaging", subject=subject,
                                 creator="CCRCCStaging")
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
