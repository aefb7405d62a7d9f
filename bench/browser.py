"""Debian's headless Chromium driven by Selenium, for the dashboard's tests and benchmark.

Nothing is downloaded: the browser is /usr/bin/chromium and the driver /usr/bin/chromedriver
(Debian's `chromium` and `chromium-driver`; `.ci/run` installs them). Each browser gets a
fresh profile directory, and the flags keep it off the network and its tabs un-throttled
(several pages are measured at once, most of them in background tabs).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
         "--disable-backgrounding-occluded-windows", "--disable-dev-shm-usage")


def missing() -> str | None:
    """Why a browser cannot run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


class Browser:
    """One headless Chromium with its own profile; `close()` ends it and removes the profile."""

    def __init__(self, width: int = 1280, height: int = 1000):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = Path(tempfile.mkdtemp(prefix="robostack-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.driver.set_page_load_timeout(30)

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Emulate a viewport (headless windows cannot be narrower than 500 px)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def script(self, code: str, *args):
        return self.driver.execute_script(code, *args)

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def close(self) -> None:
        """Quit the browser and its driver; safe to call twice."""
        driver, self.driver = getattr(self, "driver", None), None
        if driver is not None:
            try:
                driver.quit()
            finally:
                shutil.rmtree(self.profile, ignore_errors=True)
