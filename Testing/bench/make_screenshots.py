"""Screenshots of the per-case report for the README and the extension metadata (Resources/Screenshots/).

    .venv/bin/python Testing/bench/make_screenshots.py [--out Resources/Screenshots] [--no-model]

Analyses the bundled sample case (with the bundled demonstration model when it is there), renders report.html and
report.pdf, photographs the top of the HTML page in headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven with selenium) and renders the first two PDF pages with pypdfium2 (``pip install pypdfium2``; only this
script needs it). Writes ``report-html.png``, ``report-pdf-page1.png`` and ``report-pdf-page2.png``; then runs
``radiogenomics`` on planted synthetic expression data and photographs its report (``radiogenomics-report.png``).

With ``--training-report MODEL_DIR/training_report.html`` it also photographs the training report's sections of a
real run (the README's cohort walkthrough): Table 3 with thresholds, confusion counts and DeLong p-values
(``training-table3.png``), the deployed model's reliability curves (``training-calibration.png``), its decision
curves (``training-decision-curve.png``), the Kaplan–Meier plot of all cases with its number-at-risk table
(``training-kaplan-meier.png``), the warnings with their counts (``training-warnings.png``) and the top of the
TRIPOD+AI and CLEAR checklist written beside the report (``training-checklist.png``). ``--skip-case`` leaves out the
case and radiogenomics screenshots.

With ``--dashboard OUT`` (a folder written by ``ccrcc-staging predict``) it photographs the top of its ``index.html``
(``predict-dashboard.png``): the overview plot, the filters and the first rows of the table.
"""

from __future__ import annotations

import argparse
import base64
import html as html_text
import io
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Testing"))
sys.path.insert(0, str(REPO / "Testing" / "reports"))

from CCRCCStagingLib.reports.case.render import render_report  # noqa: E402
from CCRCCStagingLib.cli import main as cli  # noqa: E402

SAMPLE_CT = REPO / "Resources" / "Sample" / "ccrcc_sample_ct.nrrd"
SAMPLE_SEG = REPO / "Resources" / "Sample" / "ccrcc_sample_tumour.seg.nrrd"
BUNDLED_MODEL = REPO / "Resources" / "Models" / "ccrcc-demo-synthetic-v1"
HTML_SIZE = (1100, 2000)  # window of the HTML screenshot: header, prediction, regions, key images
RADIOGENOMICS_SIZE = (1100, 3400)  # down to the module–Radscore heatmap
DASHBOARD_SIZE = (1300, 1100)  # the overview plot, the filters and the first rows of the table


def _save(image, path: Path) -> None:
    """A palette PNG (256 colours): a third of the size, indistinguishable for a screenshot."""
    image.convert("RGB").quantize(256).save(path, format="PNG", optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")


def html_screenshot(html: Path, out: Path, profile: Path, size: tuple[int, int] = HTML_SIZE) -> None:
    from PIL import Image
    from browser_harness import CHROMIUM_FLAGS, _executable
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium", "chromium-browser", "google-chrome")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        if not flag.startswith("--window-size"):
            options.add_argument(flag)
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    driver = webdriver.Chrome(service=Service(_executable("chromedriver")), options=options)
    try:
        driver.get(html.as_uri())
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    _save(Image.open(io.BytesIO(png)), out)


def pdf_pages(pdf: Path, out_dir: Path, pages: tuple[int, ...] = (1, 2)) -> None:
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    for number in pages:
        image = document[number - 1].render(scale=1.4).to_pil()
        _save(image, out_dir / f"report-pdf-page{number}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "Resources" / "Screenshots"), help="screenshot folder")
    parser.add_argument("--no-model", action="store_true", help="analyse without the bundled model")
    parser.add_argument("--training-report", help="a training_report.html (checklist beside it) to photograph")
    parser.add_argument("--skip-case", action="store_true", help="no case-report or radiogenomics screenshots")
    parser.add_argument("--dashboard", help="a folder written by 'ccrcc-staging predict' whose index.html to photograph")
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.dashboard:
        with tempfile.TemporaryDirectory() as work:
            html_screenshot(Path(args.dashboard) / "index.html", out_dir / "predict-dashboard.png",
                            Path(work) / "profile", DASHBOARD_SIZE)
    if args.training_report:
        with tempfile.TemporaryDirectory() as work:
            training_screenshots(Path(args.training_report), out_dir, Path(work))
    if args.skip_case:
        return 0
    with tempfile.TemporaryDirectory() as work:
        analysis = Path(work) / "sample"
        options = ["--no-model"] if args.no_model or not (BUNDLED_MODEL / "manifest.json").is_file() else []
        if options:
            print("no bundled model (or --no-model): the screenshots show 'no prediction'", file=sys.stderr)
        if cli(["analyze", str(SAMPLE_CT), str(SAMPLE_SEG), "--out", str(analysis), *options]) != 0:
            return 1
        html, pdf = render_report(analysis, formats=("html", "pdf"))
        html_screenshot(html, out_dir / "report-html.png", Path(work) / "profile")
        pdf_pages(pdf, out_dir)
        radiogenomics_screenshot(Path(work), out_dir)
    return 0


def radiogenomics_screenshot(work: Path, out_dir: Path) -> None:
    from CCRCCStagingLib.synthetic.expression import planted_cohort

    paths = planted_cohort(seed=0).write(work / "expression")
    if cli(["radiogenomics", "--expression", str(paths["expression.tsv"]), "--radscore", str(paths["radscores.csv"]),
            "--gene-sets", f"SYNTHETIC={paths['gene_sets.gmt']}", "--out", str(work / "radiogenomics")]) != 0:
        raise SystemExit("radiogenomics failed")
    html_screenshot(work / "radiogenomics" / "radiogenomics_report.html", out_dir / "radiogenomics-report.png",
                    work / "profile-radiogenomics", RADIOGENOMICS_SIZE)


#: The training report's parts photographed: file name → (JavaScript giving the first element, and the last one). The
#: clip runs from the top of the first to the bottom of the last, beyond the window if need be.
TRAINING_SHOTS = {
    "training-table3.png": ('[...document.querySelectorAll("#performance table")].find('
                            't => t.caption && t.caption.textContent.startsWith("VOI_mix"))', None),
    "training-calibration.png": ('document.querySelector("#calibration figure")', None),
    "training-decision-curve.png": ('document.querySelector("#decision-curves figure")', None),
    "training-kaplan-meier.png": ('document.querySelector("#survival figure")',
                                  'document.querySelector("#survival table")'),
    "training-warnings.png": ('document.querySelector("#warnings")', None),
}
TRAINING_WIDTH = 1500  # Table 3 has 18 columns (two splits side by side)


def _chromium(profile: Path, size: tuple[int, int]):
    from browser_harness import CHROMIUM_FLAGS, _executable
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _executable("chromium", "chromium-browser", "google-chrome")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        if not flag.startswith("--window-size"):
            options.add_argument(flag)
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    return webdriver.Chrome(service=Service(_executable("chromedriver")), options=options)


def clipped_png(driver, first_js: str, last_js: str | None, margin: int = 16) -> bytes:
    """The page from the top of the element ``first_js`` gives to the bottom of ``last_js``'s (or its own), as wide as
    the two, through Chromium's DevTools capture (it reaches beyond the window)."""
    box = driver.execute_script(
        f"const a = {first_js}; const b = {last_js or first_js};"
        "if (!a || !b) return null;"
        "const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect(), x = window.scrollX, y = window.scrollY;"
        "return [Math.min(ra.left, rb.left) + x, ra.top + y, Math.max(ra.right, rb.right) + x, rb.bottom + y];"
    )
    if box is None:
        raise SystemExit(f"not in the page: {first_js} / {last_js}")
    left, top, right, bottom = box
    clip = {"x": max(0, left - margin), "y": max(0, top - margin), "width": right - left + 2 * margin,
            "height": bottom - top + 2 * margin, "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
    return base64.b64decode(shot["data"])


def training_screenshots(report: Path, out_dir: Path, work: Path) -> None:
    """The training report's new sections, then the checklist beside it (rendered from its Markdown)."""
    from PIL import Image

    driver = _chromium(work / "profile-training", (TRAINING_WIDTH, 1200))
    try:
        driver.get(report.resolve().as_uri())
        # Table 3 (two splits side by side) is wider than the page's column: let the page and its tables be as wide
        # as they need, so that the shot shows every column instead of a scroll bar.
        driver.execute_script('document.body.style.maxWidth = "none";'
                              'document.querySelectorAll(".scroll").forEach(e => e.style.overflow = "visible");')
        for name, (first_js, last_js) in TRAINING_SHOTS.items():
            _save(Image.open(io.BytesIO(clipped_png(driver, first_js, last_js))), out_dir / name)
        checklist = report.parent / "tripod_ai_clear_checklist.md"
        page = work / "checklist.html"
        page.write_text(checklist_page(checklist.read_text(encoding="utf-8")), encoding="utf-8")
        driver.get(page.as_uri())
        _save(Image.open(io.BytesIO(clipped_png(driver, 'document.querySelector("h1")',
                                                '[...document.querySelectorAll("tr")][12]'))),
              out_dir / "training-checklist.png")
    finally:
        driver.quit()


def checklist_page(markdown: str) -> str:
    """The checklist's Markdown as a plain HTML page, as a Markdown viewer shows it: headings, bullets, the warning
    quote and the tables (the only constructs the checklist writer uses)."""
    def inline(text: str) -> str:
        text = html_text.escape(text.replace("\\|", "|"))
        return re.sub(r"`(.+?)`", r"<code>\1</code>", re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text))

    body, rows = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("| "):
            if not line.startswith("| ---"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                tag = "th" if not rows else "td"
                rows.append("<tr>" + "".join(f"<{tag}>{inline(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if rows:
            body.append("<table>" + "".join(rows) + "</table>")
            rows = []
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line.lstrip('# '))}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<li>{inline(line[2:])}</li>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{inline(line[2:])}</blockquote>")
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
    style = ("body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1400px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}th{background:#f3f4f6}"
             "blockquote{border-left:4px solid #d9822b;background:#fff4e5;margin:8px 0;padding:6px 12px}"
             "li{margin-left:18px}")
    return f"<!doctype html><meta charset='utf-8'><style>{style}</style>{''.join(body)}"


if __name__ == "__main__":
    sys.exit(main())
