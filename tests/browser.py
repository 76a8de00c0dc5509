"""A real Chromium for the page tests: Debian's chromium and chromium-driver, headless,
through selenium. Without them the tests skip, unless STELE_REQUIRE_CHROMIUM=1 (CI)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest


def chromium(width: int = 1280, height: int = 900, **prefs: Any) -> Any:
    """A new headless Chromium session (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        if os.environ.get("STELE_REQUIRE_CHROMIUM") == "1":
            pytest.fail("chromium and chromium-driver are required (apt-get install)")
        pytest.skip("chromium or chromium-driver is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    return webdriver.Chrome(service=Service(driver), options=options)
