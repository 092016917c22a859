"""The case report as one self-contained HTML page, laid out with the report kit; the slice scroller is a few lines
of plain JavaScript over the slices embedded as data URIs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from ..kit import key_value_table, page, png_img, row, swatch, table
from .content import DEMONSTRATION_NOTICE, MONTAGE_CAPTION, WINDOW, ReportContent
from .figures import ReportFigures

_SCRIPT = """
(function () {
  var holder = document.getElementById('slice-data');
  if (!holder) { return; }
  var data = JSON.parse(holder.textContent);
  var image = document.getElementById('scroller-image');
  var range = document.getElementById('scroller-range');
  var label = document.getElementById('scroller-label');
  function show(i) {
    i = Math.max(0, Math.min(data.slices.length - 1, i));
    image.src = data.slices[i];
    image.setAttribute('data-index', String(i));
    var offset = data.offset_mm[i];
    label.textContent = 'Axial box slice ' + (data.index[i] + 1) + ' of ' + data.count + ' (' + (i + 1) + ' of ' +
      data.slices.length + ' through the regions), ' + (offset > 0 ? '+' : '') + offset.toFixed(0) +
      ' mm from the key slice';
  }
  range.addEventListener('input', function () { show(parseInt(range.value, 10)); });
  show(parseInt(range.value, 10));
})();
"""


def report_html(content: ReportContent, figures: ReportFigures) -> str:
    """The whole page."""
    sections = [
        ("prediction", "Prediction", _prediction(content, figures)),
        ("regions", "Regions and habitats", _regions(content, figures)),
        ("images", "Key images", _images(content, figures)),
        ("features", "Selected features", _features(content)),
        ("warnings", "Warnings", _warnings(content)),
        ("model", "Model card", _model(content)),
        ("inputs", "Inputs and geometry", key_value_table(content.input_rows) + _table(content.geometry_header,
                                                                                      content.geometry_rows)),
        ("provenance", "Software, settings and timings", _provenance(content)),
    ]
    footer = (f'<footer><p class="note">CCRCCStaging {escape(content.version)}'
              f" · {escape(content.case_label)} · generated "
              f"{escape(content.generated)}. Research software, not for clinical use.</p></footer>")
    return page(f"{content.title} — {content.case_label}", _header(content), sections, footer, contents=False,
                script=_SCRIPT)


def _header(content: ReportContent) -> str:
    meta = "".join(f"<div><dt>{escape(k)}:</dt><dd>{escape(v)}</dd></div>" for k, v in content.meta)
    notice = f'<p class="notice" role="alert">{escape(DEMONSTRATION_NOTICE)}</p>' if content.demonstration else ""
    return (
        f'<header><h1>{escape(content.title)}</h1><dl class="meta">{meta}</dl>{notice}'
        '<p class="research">Research software reproducing Huang et al. (2026): GMM habitats and a '
        f"{content.margin_mm:g} mm peritumoral shell of a clear-cell renal cell carcinoma on CT → predicted "
        "pathological T stage (T1–T2 vs T3–T4). Not a medical device.</p></header>\n"
    )


def _img(figures: ReportFigures, name: str, alt: str) -> str:
    picture = figures.pictures[name]
    return png_img(picture.png, picture.size, alt)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], row_classes: Sequence[str] = (),
           first_cells: Sequence[str] = ()) -> str:
    """Text cells escaped; ``first_cells``: HTML put before the first cell of each row (a colour swatch)."""
    body = []
    for i, cells in enumerate(rows):
        escaped = [escape(c) for c in cells]
        if i < len(first_cells):
            escaped[0] = first_cells[i] + escaped[0]
        body.append(row(*escaped, css_class=row_classes[i] if i < len(row_classes) else ""))
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    return table(head, body)


def _prediction(content: ReportContent, figures: ReportFigures) -> str:
    lines = content.prediction_lines
    text = f'<div class="group" id="prediction-text">{escape(lines[0])}</div>'
    text += "".join(f"<p>{escape(line)}</p>" for line in lines[1:])
    gauge = ""
    if "gauge" in figures.pictures:
        gauge = _img(figures, "gauge", "Gauge: probability of T3–T4 against the threshold")
    html = f'<div class="prediction {content.group or "none"}">{gauge}<div class="text">{text}</div></div>'
    if content.radscore_lines:
        figure = ""
        if "radscore" in figures.pictures:
            figure = _img(figures, "radscore", "Radscore of this case against the cutoff and the training cases")
        html += (f"<h3>Radscore</h3><figure>{figure}<figcaption>"
                 f"{escape(' '.join(content.radscore_lines))} The Radscore is the LASSO combination of the selected "
                 "features; the histogram shows the training cases.</figcaption></figure>")
    return html


def _regions(content: ReportContent, figures: ReportFigures) -> str:
    swatches = [swatch(colour) if colour else "" for colour in content.region_colours]
    html = "".join(f"<p>{escape(line)}</p>" for line in content.habitat_lines)
    html += _table(content.region_header, content.region_rows, first_cells=swatches)
    if "fractions" in figures.pictures:
        html += (f'<figure>{_img(figures, "fractions", "Habitat fractions of the tumour")}'
                 "<figcaption>Habitat fractions of the tumour volume.</figcaption></figure>")
    return html


def _images(content: ReportContent, figures: ReportFigures) -> str:
    window = f"W {WINDOW[0]:g} / L {WINDOW[1]:g}"
    key = _img(figures, "key_images", "Axial, coronal and sagittal slices with habitat and shell overlays")
    html = (f"<figure>{key}<figcaption>Slices through the tumour centre on the 1 mm box around the tumour, CT window "
            f"{window}; habitats and the peritumoral shell as fill and outline, at physical aspect ratio."
            "</figcaption></figure>")
    if "montage" in figures.pictures:
        html += (f'<figure class="print-only">{_img(figures, "montage", "Axial slices through the tumour")}'
                 f"<figcaption>{escape(MONTAGE_CAPTION)}</figcaption></figure>")
    if figures.scroller:
        html += _scroller(content, figures.scroller)
    return html


def _scroller(content: ReportContent, scroller: dict[str, Any]) -> str:
    scale = min(6.0, max(2.0, 320.0 / max(scroller["width_mm"], scroller["height_mm"], 1.0)))  # ≈ 320 px
    width, height = round(scroller["width_mm"] * scale), round(scroller["height_mm"] * scale)
    data = json.dumps({k: scroller[k] for k in ("slices", "index", "offset_mm", "count")})
    start = scroller["start"]
    legend = "".join(f"<div>{swatch(colour)}{escape(name)}</div>" for colour, name in content.legend)
    return (
        '<div class="scroller-section"><h3>Scroll through the tumour</h3><div class="scroller">'
        f'<img id="scroller-image" src="{scroller["slices"][start]}" width="{width}" height="{height}" '
        f'data-index="{start}" alt="Axial slice with habitat and shell overlays">'
        '<div class="controls">'
        '<label for="scroller-range">Axial slices through the regions (drag, or use the arrow keys)</label><br>'
        f'<input type="range" id="scroller-range" min="0" max="{len(scroller["slices"]) - 1}" step="1" '
        f'value="{start}">'
        f'<p id="scroller-label">Axial box slice {scroller["index"][start] + 1} of {scroller["count"]}</p>'
        f"{legend}</div></div></div>"
        f'<script type="application/json" id="slice-data">{data}</script>'
    )


def _features(content: ReportContent) -> str:
    html = f"<p>{escape(content.feature_note)}</p>"
    if content.feature_rows:
        html += _table(content.feature_header, content.feature_rows, ["ood" if f else "" for f in content.feature_ood])
    return html


def _warnings(content: ReportContent) -> str:
    if not content.warnings:
        return "<p>No warnings.</p>"
    return '<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in content.warnings) + "</ul>"


def _model(content: ReportContent) -> str:
    if not content.model_rows:
        return "<p>No model was used: no prediction.</p>"
    html = key_value_table(content.model_rows)
    if content.model_card:
        html += f"<details><summary>Full model card</summary><pre>{escape(content.model_card)}</pre></details>"
    return html


def _provenance(content: ReportContent) -> str:
    timings = key_value_table(content.timing_rows) if content.timing_rows else "<p>–</p>"
    return (
        "<h3>Software</h3>" + key_value_table(content.software_rows)
        + "<h3>Settings</h3>" + key_value_table(content.settings_rows)
        + "<h3>Timings</h3>" + timings
    )
