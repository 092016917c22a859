"""The ``predict`` dashboard: one self-contained ``index.html`` over the rows of ``predictions.csv``.

An overview plot (each case's P(T3–T4) against the model's threshold), then one table row per case — sortable by
any column, filtered by a text search and by "with warnings" / "failed" — with a link to the case's own report. Made
with the report kit (one page frame, number format and palette); its small inline script is allowed by the page's
Content-Security-Policy, nothing is loaded from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..core.palette import HIGH_GROUP_COLOUR, LOW_GROUP_COLOUR
from .kit import MISSING, fmt, figure_html, header_row, is_number, new_figure, page, sentence, table, write_page

GROUP_TEXT = {"low": "T1–T2", "high": "T3–T4"}
#: (column key, heading, numeric) of the table, in order.
TABLE_COLUMNS = (
    ("case_id", "Case", False), ("status", "Status", False), ("t_stage_group", "Predicted T stage", False),
    ("probability_high", "P(T3–T4)", True), ("radscore", "Radscore", True), ("risk_group", "Risk", False),
    ("tumour_volume_ml", "Tumour (mL)", True), ("shell_volume_ml", "Shell (mL)", True),
    ("n_warnings", "Warnings", True), ("report", "Report", False),
)
SCRIPT = """
const table = document.getElementById('case-table');
const rows = Array.from(table.tBodies[0].rows);
function applyFilters() {
  const text = document.getElementById('search').value.toLowerCase();
  const warned = document.getElementById('only-warnings').checked;
  const failed = document.getElementById('only-failed').checked;
  let shown = 0;
  for (const row of rows) {
    const visible = row.textContent.toLowerCase().includes(text)
      && (!warned || Number(row.dataset.warnings) > 0) && (!failed || row.dataset.status === 'failed');
    row.hidden = !visible;
    shown += visible;
  }
  document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' cases shown';
}
for (const id of ['search', 'only-warnings', 'only-failed']) {
  document.getElementById(id).addEventListener('input', applyFilters);
}
table.tHead.querySelectorAll('th').forEach((header, column) => {
  header.tabIndex = 0;
  const sort = () => {
    const ascending = header.getAttribute('aria-sort') !== 'ascending';
    table.tHead.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
    header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    const key = row => row.cells[column].dataset.value;
    const numeric = header.dataset.numeric === 'true';
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === '' || y === '') return (x === '') - (y === '');  // missing values last, either way
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(row => table.tBodies[0].appendChild(row));
  };
  header.addEventListener('click', sort);
  header.addEventListener('keydown', event => { if (event.key === 'Enter') sort(); });
});
applyFilters();
"""


def render_dashboard(
    rows: Sequence[Mapping[str, Any]], skipped: Sequence[str], out_path: Path, title: str,
    model: Mapping[str, Any] | None = None,
) -> None:
    """Write the dashboard of ``rows`` (``predictions.csv``'s) at ``out_path``, in one step."""
    sections = [
        ("overview", "Overview", _overview(rows)),
        ("cases", "Cases", _filters() + _cases_table(rows)),
    ]
    if skipped:
        sections.append(("skipped", "Left out of the input", _skipped(skipped)))
    write_page(page(title, _header(rows, title, model), sections, _footer(), script=SCRIPT), out_path)


def _header(rows: Sequence[Mapping[str, Any]], title: str, model: Mapping[str, Any] | None) -> str:
    counts = _counts(rows)
    facts = (f"{counts['cases']} cases · {counts['high']} predicted T3–T4 · {counts['low']} T1–T2 · "
             f"{counts['failed']} failed · {counts['warned']} with warnings")
    notice = "Research software — not for clinical use."
    if model and model.get("demonstration"):
        notice = ("Demonstration model trained on synthetic phantoms: its predictions say nothing about patients. "
                  + notice)
    model_line = f" · model {escape(str(model.get('id', '')))}" if model else ""
    return (f"<header><h1>{escape(title)}</h1><p class=\"meta\">{escape(facts)}{model_line}</p>"
            f'<p class="disclaimer">{escape(notice)}</p></header>\n')


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {
        "cases": len(rows),
        "high": sum(row.get("t_stage_group") == "high" for row in rows),
        "low": sum(row.get("t_stage_group") == "low" for row in rows),
        "failed": sum(row.get("status") == "failed" for row in rows),
        "warned": sum(int(row.get("n_warnings") or 0) > 0 for row in rows),
    }


def _overview(rows: Sequence[Mapping[str, Any]]) -> str:
    scored = sorted((row for row in rows if is_number(row.get("probability_high"))),
                    key=lambda row: float(row["probability_high"]))
    if not scored:
        return sentence("No case has a prediction yet.")
    figure = new_figure(7.0, 2.6)
    axes = figure.add_subplot()
    colours = [HIGH_GROUP_COLOUR if row.get("t_stage_group") == "high" else LOW_GROUP_COLOUR for row in scored]
    axes.scatter(range(len(scored)), [float(row["probability_high"]) for row in scored], c=colours, s=18, zorder=3)
    thresholds = sorted({float(row["threshold"]) for row in scored if is_number(row.get("threshold"))})
    for threshold in thresholds:
        axes.axhline(threshold, color="#444444", linestyle="--", linewidth=1, label=f"threshold {threshold:.2f}")
    axes.set(xlabel="cases, by probability", ylabel="P(T3–T4)", ylim=(-0.03, 1.03), xticks=[])
    if thresholds:
        axes.legend(loc="upper left", frameon=False, fontsize=8)
    caption = (f"Each dot is a case: red predicted T3–T4, blue T1–T2; the dashed line is the model's decision "
               f"threshold. {len(rows) - len(scored)} case(s) without a prediction are not shown.")
    return figure_html(figure, alt="Predicted probability of T3–T4 of every case", caption=caption)


def _filters() -> str:
    return (
        '<p class="filters"><label>Search <input type="search" id="search" placeholder="case, warning…"></label> '
        '<label><input type="checkbox" id="only-warnings"> only cases with warnings</label> '
        '<label><input type="checkbox" id="only-failed"> only failed cases</label> '
        '<span id="shown" class="note"></span></p>'
    )


#: Text columns are left-aligned (numbers right-aligned, the kit's default).
_TEXT_CLASS = {True: "", False: ' class="text"'}


def _cases_table(rows: Sequence[Mapping[str, Any]]) -> str:
    headings = "".join(
        f'<th scope="col" data-numeric="{str(numeric).lower()}"{_TEXT_CLASS[numeric]}>{escape(heading)}</th>'
        for _, heading, numeric in TABLE_COLUMNS
    )
    body = [_case_row(row) for row in rows]
    return table(f"<tr>{headings}</tr>", body, caption="Click a column heading to sort.", element_id="case-table")


def _case_row(row: Mapping[str, Any]) -> str:
    cells = "".join(_cell(key, row, numeric) for key, _, numeric in TABLE_COLUMNS)
    detail = row.get("error") or row.get("warnings") or ""
    title = f' title="{escape(str(detail))}"' if detail else ""
    return (f'<tr data-status="{escape(str(row.get("status", "")))}" '
            f'data-warnings="{int(row.get("n_warnings") or 0)}"{title}>{cells}</tr>')


def _cell(key: str, row: Mapping[str, Any], numeric: bool) -> str:
    value = row.get(key)
    sort_value = "" if value is None else str(value)
    if key == "report":
        shown = f'<a href="{escape(str(value))}">report</a>' if value and row.get("status") != "failed" else MISSING
    elif key == "t_stage_group":
        shown = escape(GROUP_TEXT.get(str(value), MISSING))
    elif key == "status" and row.get("status") == "failed":
        shown = f'failed: {escape(str(row.get("error", "")))}'
    elif is_number(value) and key != "n_warnings":
        shown = fmt(value, 1 if key.endswith("volume_ml") else 3)
    else:
        shown = MISSING if value in (None, "") else escape(str(value))
    return f'<td{_TEXT_CLASS[numeric]} data-value="{escape(sort_value)}">{shown}</td>'


def _skipped(skipped: Sequence[str]) -> str:
    rows = [f'<tr><td class="text">{escape(reason)}</td></tr>' for reason in skipped]
    return table(header_row("Entry and reason"), rows, caption=f"{len(skipped)} entries of the input were not used")


def _footer() -> str:
    return ('<footer><p class="note">Each case\'s report holds its regions, habitats, features and the model card. '
            "predictions.csv beside this page holds the same rows.</p></footer>")
