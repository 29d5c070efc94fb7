"""Headless Chromium for the editor's browser tests (tools/setup.sh browser installs Debian's chromium and
chromium-driver, and selenium)."""
from __future__ import annotations

import contextlib
import os

import pytest

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'


@contextlib.contextmanager
def headless_chromium():
    """A selenium driver on headless Chromium, 1400x1000 at scale 1; fails (not skips) where it is missing."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail('chromium and chromium-driver are missing: run `tools/setup.sh browser` (make test does it)')
    webdriver = pytest.importorskip('selenium.webdriver', reason='selenium: run `tools/setup.sh browser`')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=1400,1000', '--force-device-scale-factor=1'):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
