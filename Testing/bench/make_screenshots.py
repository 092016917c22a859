"""Screenshots of the per-case report for the README and the extension metadata (Resources/Screenshots/).

    .venv/bin/python Testing/bench/make_screenshots.py [--out Resources/Screenshots] [--no-model]

Analyses the bundled sample case (with the bundled demonstration model when it is there), renders report.html and
report.pdf, photographs the top of the HTML page in headless Chromium (Debian ``chromium`` + ``chromium-driver``,
driven with selenium) and renders the first two PDF pages with pypdfium2 (``pip install pypdfium2``; only this
script needs it). Writes ``report-html.png``, ``report-pdf-page1.png`` and ``report-pdf-page2.png``; then runs
``radiogenomics`` on planted synthetic expression data and photographs its report (``radiogenomics-report.png``).
"""

from __future__ import annotations

import argparse
import io
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
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
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


if __name__ == "__main__":
    sys.exit(main())
