"""The case report's entry point: read the analysis folder, say and draw it once, lay it out as HTML and/or PDF, and
write each file in one step (a reader never sees half a report)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...core.errors import OutputError, SettingsError
from ...core.files import REPORT_HTML_FILE, REPORT_PDF_FILE
from ..kit import write_file
from .content import build_content
from .figures import build_figures
from .folder import load_case_folder
from .html_page import report_html
from .pdf_document import report_pdf

FORMATS = ("html", "pdf")


def render_report(
    result_dir: Path,
    formats: Sequence[str] | str = ("html",),
    include_identifiers: bool = True,
    out_dir: Path | None = None,
) -> list[Path]:
    """Write ``report.html`` and/or ``report.pdf`` for the analysis folder ``result_dir``; return their paths.

    ``formats``: any of ``"html"``, ``"pdf"`` (a comma-separated string such as ``"html,pdf"`` is accepted).
    ``include_identifiers=False`` leaves out what :mod:`CCRCCStagingLib.core.privacy` lists: the case identifier,
    DICOM patient data and every file path, also inside warning texts. ``out_dir``: where to write (default:
    ``result_dir`` itself; created if missing).
    """
    wanted = parse_formats(formats)
    folder = load_case_folder(Path(result_dir), include_identifiers=include_identifiers)
    target = Path(out_dir) if out_dir is not None else folder.result_dir
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create the report folder {target}: {error.strerror}.") from error
    content, figures = build_content(folder), build_figures(folder)
    written = []
    if "html" in wanted:
        write_file(target / REPORT_HTML_FILE, report_html(content, figures).encode("utf-8"))
        written.append(target / REPORT_HTML_FILE)
    if "pdf" in wanted:
        write_file(target / REPORT_PDF_FILE, report_pdf(content, figures))
        written.append(target / REPORT_PDF_FILE)
    return written


def parse_formats(formats: Sequence[str] | str) -> list[str]:
    """The formats asked for, each once; refuse an unknown one with a sentence."""
    if isinstance(formats, str):
        formats = formats.split(",")
    wanted = [str(f).strip().lower() for f in formats if str(f).strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise SettingsError(
            f"Unknown report format {', '.join(repr(f) for f in unknown) or '(none given)'}; use html, pdf or html,pdf."
        )
    return list(dict.fromkeys(wanted))
