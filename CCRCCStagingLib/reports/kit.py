"""The one kit every HTML report of the project is built with (the case, training and radiogenomics reports): the
style sheet, the number format, figures as embedded PNGs at one resolution, tables, the page frame, and the atomic
write. A report is one self-contained file: figures are base64 data URIs, style and script are inline and nothing
is loaded from elsewhere (the Content-Security-Policy says so to the browser), so a page opens offline, can be
archived or mailed, and prints. The PDF side of the kit is :mod:`.kit_pdf`.

matplotlib (object API, Agg canvas) is imported inside the functions so that importing this costs nothing.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import OutputError
from ..core.files import write_atomically
from ..core.palette import HIGH_GROUP_COLOUR, LOW_GROUP_COLOUR

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of every figure: sharp on high-density screens and in print; pages show a figure at its size in
#: inches (96 CSS pixels per inch), whatever its pixel count.
DPI = 160
CSS_PIXELS_PER_INCH = 96
MISSING = "–"

# Colours of the page furniture, shared by the style sheet and the PDF.
TEXT_COLOUR = "#1b1b1b"
MUTED_COLOUR = "#444444"
LINE_COLOUR = "#dde1e6"
HEADER_LINE_COLOUR = "#8a929c"
ALERT_COLOUR = "#b00020"
ALERT_BACKGROUND = "#fdecee"
ALERT_TEXT_COLOUR = "#7a0015"
HIGHLIGHT_BACKGROUND = "#fff0d6"

CSS = f"""
:root {{ --low: {LOW_GROUP_COLOUR}; --high: {HIGH_GROUP_COLOUR}; --line: {LINE_COLOUR}; }}
* {{ box-sizing: border-box; }}
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       font-size: 15px; line-height: 1.45; color: {TEXT_COLOUR}; max-width: 76rem; margin: 0 auto;
       padding: 1.5rem 2rem 3rem; }}
h1 {{ font-size: 1.7rem; margin: 0 0 .2rem; }}
h2 {{ font-size: 1.35rem; border-bottom: 2px solid #c9ced6; padding-bottom: .2rem; margin: 2.4rem 0 .7rem; }}
h3 {{ font-size: 1.1rem; margin-top: 1.8rem; }}
.meta {{ color: #555; margin: 0 0 .8rem; }}
dl.meta {{ display: flex; flex-wrap: wrap; gap: .2rem 1.6rem; }}
dl.meta div {{ display: flex; gap: .35rem; }} dl.meta dt {{ font-weight: 600; }} dl.meta dd {{ margin: 0; }}
.disclaimer {{ border-left: 4px solid {ALERT_COLOUR}; background: {ALERT_BACKGROUND}; padding: .5rem .8rem;
              font-weight: 600; }}
.notice {{ border: 3px solid {ALERT_COLOUR}; background: {ALERT_BACKGROUND}; color: {ALERT_TEXT_COLOUR};
          padding: .6rem .9rem; font-weight: 700; font-size: 1.05rem; margin: .8rem 0; }}
.research {{ color: #666; font-size: .85rem; }}
nav ol {{ columns: 2; margin: .4rem 0; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.2rem; font-variant-numeric: tabular-nums; }}
caption {{ caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }}
th, td {{ padding: .22rem .6rem; border-bottom: 1px solid var(--line); text-align: right; vertical-align: top; }}
th:first-child, td:first-child {{ text-align: left; }}
td.text, th.text {{ text-align: left; }}
thead th {{ border-bottom: 2px solid {HEADER_LINE_COLOUR}; }}
table.kv th {{ text-align: left; font-weight: 600; white-space: nowrap; }}
table.kv td {{ text-align: left; word-break: break-word; }}
tr.group th {{ background: #eef1f4; text-align: left; }}
table.performance td {{ white-space: nowrap; }}
tr.baseline td {{ background: #fff6dc; font-style: italic; border-top: 1px dashed #9a8a5a; }}
tr.ood td {{ background: {HIGHLIGHT_BACKGROUND}; font-weight: 600; }}
.flag {{ font-style: normal; font-size: .78em; font-weight: 600; color: #7a3d00; background: #ffd9a8;
        border-radius: 3px; padding: 0 .3rem; margin-left: .3rem; white-space: nowrap; }}
.deployed {{ font-size: .78em; font-weight: 600; color: #0d3c78; background: #d6e6fb; border-radius: 3px;
            padding: 0 .3rem; margin-left: .3rem; white-space: nowrap; }}
.swatch {{ display: inline-block; width: .85em; height: .85em; border-radius: 2px; margin-right: .35em;
          vertical-align: -.1em; border: 1px solid rgba(0, 0, 0, .35); }}
.note, figcaption {{ font-size: .88rem; color: {MUTED_COLOUR}; }}
.scroll {{ overflow-x: auto; }}
figure {{ margin: 1rem 0 1.4rem; }}
figure img {{ max-width: 100%; height: auto; }}
.formula, pre {{ font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem;
                background: #f5f7f9; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap;
                word-break: break-word; }}
.prediction {{ display: flex; flex-wrap: wrap; align-items: center; gap: 1rem 2rem; border: 1px solid var(--line);
              border-radius: 6px; padding: .8rem 1rem; }}
.prediction .group {{ font-size: 1.35rem; font-weight: 700; }}
.prediction.high .group {{ color: var(--high); }} .prediction.low .group {{ color: var(--low); }}
.prediction.none .group {{ color: #555; }}
.prediction .text {{ flex: 1 1 18rem; }}
.print-only {{ display: none; }}
.scroller {{ display: flex; flex-wrap: wrap; gap: .6rem 1.4rem; align-items: flex-start; }}
.scroller img {{ image-rendering: pixelated; background: #000; max-width: 100%; height: auto; }}
.scroller .controls {{ flex: 1 1 14rem; }}
.scroller input[type=range] {{ width: 100%; }}
ul.warnings li {{ margin: .2rem 0; }}
footer {{ margin-top: 3rem; border-top: 2px solid #c9ced6; }}
@page {{ size: A4; margin: 14mm; }}
@media print {{
  body {{ max-width: none; padding: 0; font-size: 10pt; }}
  nav, .scroller-section, details > summary {{ display: none; }}
  .print-only, details {{ display: block; }}
  h2, h3, caption {{ break-after: avoid; }}
  table, figure, .formula, .prediction, .notice {{ break-inside: avoid; }}
  .scroll {{ overflow: visible; }}
  table.performance {{ font-size: 8.5pt; }}
  table.performance th, table.performance td {{ padding: .1rem .3rem; }}
  * {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
}}
"""


# ------------------------------------------------------------------------------------------------- numbers


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any, digits: int = 3) -> str:
    """The one number format of the reports: a dash when missing or not finite (e.g. undefined precision); whole
    numbers grouped by thousands ("40 027"); others with ``digits`` decimals, or ``digits`` significant digits when
    fixed decimals would hide them (below 10^-digits) or run long (from 100 000 on)."""
    if not is_number(value):
        return MISSING
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 10 ** (-digits)):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def fmt_p(p: Any) -> str:
    """A p-value as a phrase: "p < 0.001", "p = 0.042"."""
    if not is_number(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


# ------------------------------------------------------------------------------------------------- figures


def new_figure(width: float, height: float, constrained: bool = True) -> Figure:
    """A figure on its own Agg canvas at :data:`DPI`: no pyplot, so no global state and no GUI backend is touched.
    ``constrained``: matplotlib lays the axes out; off for figures that place their axes themselves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG at :data:`DPI`, on white, without matplotlib's software stamp (a report does not change with
    the plotting library's version string)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


#: matplotlib's date and software stamps, left out of vector files: the same figure gives the same bytes.
_VECTOR_METADATA = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
}


def figure_vector(figure: Figure, file_format: str) -> bytes:
    """The figure as a vector file, ``"svg"`` or ``"pdf"`` (what a journal asks for beside the page's PNG), on white."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, facecolor="white", metadata=_VECTOR_METADATA[file_format])
    return buffer.getvalue()


def png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_img(png: bytes, size_inches: tuple[float, float], alt: str) -> str:
    """An ``<img>`` of a figure's PNG, shown at the figure's size in inches."""
    width, height = size_inches
    return (f'<img src="{png_data_uri(png)}" alt="{escape(alt)}" width="{round(width * CSS_PIXELS_PER_INCH)}" '
            f'height="{round(height * CSS_PIXELS_PER_INCH)}">')


def figure_img(figure: Figure, alt: str) -> str:
    return png_img(figure_png(figure), tuple(figure.get_size_inches()), alt)


def figure_html(figure: Figure, alt: str, caption: str) -> str:
    """A figure with its caption."""
    return f"<figure>{figure_img(figure, alt)}<figcaption>{escape(caption)}</figcaption></figure>"


def plot_text(text: Any) -> str:
    """User text for matplotlib: a '$' would otherwise start mathtext and can make drawing fail."""
    return str(text).replace("$", r"\$")


# -------------------------------------------------------------------------------------------------- tables


def sentence(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def swatch(colour: str) -> str:
    """A small square of a CSS colour, before a name in a table or legend."""
    return f'<span class="swatch" style="background:{escape(colour)}"></span>'


def header_row(*cells: str) -> str:
    return "<tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in cells) + "</tr>"


def grouped_header(leading: Sequence[str], groups: Sequence[str], columns: Sequence[str]) -> str:
    """Two header rows (plain text): each of ``leading`` spans both; each of ``groups`` (a split, say) spans its own
    copy of ``columns``."""
    return (
        "<tr>" + "".join(f'<th rowspan="2">{escape(cell)}</th>' for cell in leading)
        + "".join(f'<th colspan="{len(columns)}">{escape(group)}</th>' for group in groups)
        + "</tr><tr>" + "".join(f"<th>{escape(cell)}</th>" for _ in groups for cell in columns) + "</tr>"
    )


def row(*cells: str, text_columns: Sequence[int] = (), css_class: str = "") -> str:
    """A body row of cells that are HTML already; ``text_columns`` are left-aligned like text."""
    class_html = f' class="{css_class}"' if css_class else ""
    tds = "".join(f'<td class="text">{c}</td>' if i in text_columns else f"<td>{c}</td>" for i, c in enumerate(cells))
    return f"<tr{class_html}>{tds}</tr>"


def table(
    header_rows: str, body_rows: Iterable[str], caption: str = "", css_class: str = "", element_id: str = ""
) -> str:
    """A scrollable table of HTML rows (the header rows in ``<thead>``); ``element_id`` for a page's script."""
    caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
    class_html = (f' class="{css_class}"' if css_class else "") + (f' id="{escape(element_id)}"' if element_id else "")
    head = f"<thead>{header_rows}</thead>" if header_rows else ""
    return (
        f'<div class="scroll"><table{class_html}>{caption_html}{head}'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>"
    )


def key_value_table(rows: Iterable[tuple[str, str]]) -> str:
    """Names and their values (plain text), one pair a row."""
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv"><tbody>{body}</tbody></table>'


# ---------------------------------------------------------------------------------------------------- page


def provenance_footer(summary: Mapping[str, Any]) -> str:
    """The software versions and settings of a run, as the page's footer."""
    software = summary.get("software") or {}
    software_html = (
        table(
            header_row("Package", "Version"),
            (row(escape(str(n)), escape(str(v))) for n, v in software.items()),
            caption="Software",
        )
        if software
        else sentence("Software versions were not recorded.")
    )
    settings = summary.get("settings")
    settings_html = (
        f"<pre>{escape(json.dumps(settings, indent=2, ensure_ascii=False, default=str))}</pre>"
        if settings
        else sentence("Settings were not recorded.")
    )
    return (
        f'<footer id="provenance"><h2>Settings and software</h2>{software_html}'
        f"<h3>Settings</h3>{settings_html}"
        '<p class="note">Research software — not for clinical use.</p></footer>'
    )


def _head(title: str, script: bool) -> str:
    # Nothing may be loaded from anywhere: images are data URIs, style and script inline.
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'" + ("; script-src 'unsafe-inline'" * script)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<link rel="icon" href="data:,">\n'  # no request for /favicon.ico, which the policy would refuse
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
    )


def page(
    title: str,
    header_html: str,
    sections: Iterable[tuple[str, str, str]],
    footer_html: str,
    *,
    contents: bool = True,
    script: str = "",
) -> str:
    """A whole page: header, a contents list linking every (anchor, heading, content) section (and the footer when
    it has ``id="provenance"``), the sections, the footer and an inline script."""
    sections = list(sections)
    nav = ""
    if contents:
        links = [(anchor, heading) for anchor, heading, _ in sections]
        if 'id="provenance"' in footer_html:
            links.append(("provenance", "Settings and software"))
        items = "".join(f'<li><a href="#{anchor}">{escape(heading)}</a></li>' for anchor, heading in links)
        nav = f"<nav><strong>Contents</strong><ol>{items}</ol></nav>\n"
    body = "\n".join(
        f'<section id="{anchor}"><h2>{escape(heading)}</h2>\n{content}</section>' for anchor, heading, content in sections
    )
    script_html = f"<script>{script}</script>\n" if script else ""
    return f"{_head(title, bool(script))}<body>\n{header_html}{nav}{body}\n{footer_html}\n{script_html}</body>\n</html>\n"


def write_file(out_path: Path, data: bytes) -> None:
    """Write a finished file in one step (a reader never sees half a report and a failure keeps the old one)."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(out_path, data)
    except OSError as error:
        raise OutputError(f"Cannot write {out_path}: {error.strerror}.") from error


def write_page(html: str, out_path: Path) -> None:
    """Write a finished page through :func:`write_file`."""
    write_file(Path(out_path), html.encode("utf-8"))
