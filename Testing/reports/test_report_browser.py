"""The HTML report in a real headless Chromium: no console errors, no network requests, the slice scroller works,
the prediction is shown, and printing hides the scroller in favour of the printed slices.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium; skipped with the
reason when Chromium cannot be found or started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from CCRCCStagingLib.reports.case.content import T_STAGE_TEXT
from CCRCCStagingLib.reports.case.render import render_report
from browser_harness import requests_made as _requests
from browser_harness import start_chromium
from test_case_report import analysed_sample

@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = analysed_sample(tmp_path_factory, "prediction")
    [path] = render_report(folder, formats=("html",))
    return path


@pytest.fixture()
def browser(tmp_path: Path):
    driver = start_chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


def test_report_in_chromium(report_html: Path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url = report_html.as_uri()
    browser.get("about:blank")
    _requests(browser)  # drain what the browser's own start page loaded
    browser.get(url)
    result = json.loads((report_html.parent / "result.json").read_text())

    # The prediction is on the page.
    text = browser.find_element(By.ID, "prediction-text").text
    assert "Predicted pathological T stage" in text
    assert T_STAGE_TEXT[result["t_stage_group"]] in text
    assert f"P(T3–T4) = {result['probability_high']:.2f}" in browser.find_element(By.ID, "prediction").text

    # Every image decoded (data URIs), nothing fetched from anywhere but the file itself.
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);"
    )
    assert broken == []
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert all(name.startswith("data:") for name in resources), resources

    # The scroller: the arrow key moves one slice, End goes to the last; the picture and the label follow.
    image = browser.find_element(By.ID, "scroller-image")
    slider = browser.find_element(By.ID, "scroller-range")
    label = browser.find_element(By.ID, "scroller-label")
    start = int(image.get_attribute("data-index"))
    first_src, first_label = image.get_attribute("src"), label.text
    assert first_label.startswith("Axial box slice")
    slider.send_keys(Keys.ARROW_RIGHT)
    assert int(image.get_attribute("data-index")) == start + 1
    assert image.get_attribute("src") != first_src
    assert label.text != first_label
    slider.send_keys(Keys.END)
    last = int(slider.get_attribute("max"))
    assert int(image.get_attribute("data-index")) == last
    assert f"({last + 1} of {last + 1} " in label.text
    slider.send_keys(Keys.HOME)
    assert int(image.get_attribute("data-index")) == 0

    # Printing shows the slice montage instead of the scroller.
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, ".scroller-section").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "figure.print-only").is_displayed()
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    requests = _requests(browser)
    assert requests, "the performance log recorded nothing"
    assert all(u == url or u.startswith("data:") for u in requests), [u[:80] for u in requests]
