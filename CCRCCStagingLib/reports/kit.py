"""The parts every HTML report of the project shares: style sheet, tables, figures as embedded PNGs, the
provenance footer, and the atomic write. Reports are one self-contained file: figures are base64 data URIs and
nothing is loaded from elsewhere, so a page opens offline, can be archived or mailed, and prints.

matplotlib (object API, Agg canvas) is imported inside the functions so that importing this costs nothing.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.files import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 110
MISSING = "–"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       font-size: 15px; line-height: 1.45; color: #1b1b1b; max-width: 76rem; margin: 0 auto;
       padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid #c9ced6; padding-bottom: .2rem; margin-top: 2.6rem; }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
.meta { color: #555; margin: 0 0 .8rem; }
.disclaimer { border-left: 4px solid #b00020; background: #fdecee; padding: .5rem .8rem; font-weight: 600; }
nav ol { columns: 2; margin: .4rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1.2rem; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
th, td { padding: .22rem .6rem; border-bottom: 1px solid #dde1e6; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; }
thead th { border-bottom: 2px solid #8a929c; }
tr.group th { background: #eef1f4; text-align: left; }
tr.baseline td { background: #fff6dc; font-style: italic; border-top: 1px dashed #9a8a5a; }
.flag { font-style: normal; font-size: .78em; font-weight: 600; color: #7a3d00; background: #ffd9a8;
        border-radius: 3px; padding: 0 .3rem; margin-left: .3rem; white-space: nowrap; }
.deployed { font-size: .78em; font-weight: 600; color: #0d3c78; background: #d6e6fb; border-radius: 3px;
            padding: 0 .3rem; margin-left: .3rem; white-space: nowrap; }
.note { font-size: .88rem; color: #444; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0 1.4rem; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: .88rem; color: #444; }
.formula, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem;
                background: #f5f7f9; padding: .6rem .8rem; overflow-x: auto; white-space: pre-wrap; }
footer { margin-top: 3rem; border-top: 2px solid #c9ced6; }
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  h2, h3, caption { break-after: avoid; }
  table, figure, .formula { break-inside: avoid; }
  .scroll { overflow: visible; }
  table.performance { font-size: 8.5pt; }
  table.performance th, table.performance td { padding: .1rem .3rem; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or a dash when it is missing or not finite (e.g. undefined precision)."""
    return f"{value:.{digits}f}" if is_number(value) else MISSING


def fmt_p(p: Any) -> str:
    if not is_number(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def sentence(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def table(header_rows: str, body_rows: Iterable[str], caption: str = "", css_class: str = "") -> str:
    caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
    class_html = f' class="{css_class}"' if css_class else ""
    return (
        f'<div class="scroll"><table{class_html}>{caption_html}<thead>{header_rows}</thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>"
    )


def header_row(*cells: str) -> str:
    return "<tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in cells) + "</tr>"


def data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_html(figure: Figure, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri(figure)}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, so no global state and no GUI backend is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_text(text: Any) -> str:
    """User text for matplotlib: a '$' would otherwise start mathtext and can make drawing fail."""
    return str(text).replace("$", r"\$")


def provenance_footer(summary: Mapping[str, Any]) -> str:
    software = summary.get("software") or {}
    software_html = (
        table(
            header_row("Package", "Version"),
            (f"<tr><td>{escape(str(n))}</td><td>{escape(str(v))}</td></tr>" for n, v in software.items()),
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


def write_page(html: str, out_path: Path) -> None:
    """Write a finished page in one step: a reader never sees half a report and a failure keeps the old one."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out_path, html.encode("utf-8"))


def page(title: str, header_html: str, sections: Iterable[tuple[str, str, str]], footer_html: str) -> str:
    """A whole page: header, a contents list linking every (anchor, heading, content) section, and the footer."""
    sections = list(sections)
    contents = "".join(f'<li><a href="#{anchor}">{escape(heading)}</a></li>' for anchor, heading, _ in sections)
    body = "".join(
        f'<section id="{anchor}"><h2>{escape(heading)}</h2>{content}</section>' for anchor, heading, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{header_html}<nav><strong>Contents</strong><ol>{contents}"
        '<li><a href="#provenance">Settings and software</a></li></ol></nav>\n'
        f"{body}\n{footer_html}\n</body>\n</html>\n"
    )
