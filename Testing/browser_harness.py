"""A real headless Chromium for the browser tests of the HTML pages (reports, dashboard).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and selenium; a test is skipped with
the reason when Chromium cannot be found or started.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1200,1600",
)


def _executable(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def start_chromium(user_data_dir: Path):
    """A selenium driver on headless Chromium with a fresh profile, or skip with the reason."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium); the browser test cannot drive Chromium")
    browser = _executable("chromium", "chromium-browser", "google-chrome")
    driver_path = _executable("chromedriver", "chromium-driver")
    if browser is None or driver_path is None:
        pytest.skip("Chromium or chromedriver not found (apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        return webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as error:
        pytest.skip(f"Chromium could not be started: {error.msg or error}")


def requests_made(driver) -> list[str]:
    """The URLs the page requested since the last call (from the performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
