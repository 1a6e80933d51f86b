"""A headless Chromium for tests (Debian's chromium and chromium-driver, driven by
Selenium; nothing downloads a browser). Missing pieces skip the test, or fail it under
``CI=true``."""

from __future__ import annotations

import shutil
from typing import Any

from tests.conftest import missing


def headless_chromium(*extra_args: str) -> Any:
    """A Selenium ``webdriver.Chrome`` on the system's headless Chromium."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install 'outlook_sync[test]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        missing("chromium and chromium-driver are not installed (apt-get install -y "
                "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                *extra_args):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))
