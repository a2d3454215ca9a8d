"""Checks the dashboard's add-on banner in headless Chromium against a running service.
Usage: addon_banner_test.py --url http://127.0.0.1:PORT --expect bms[,users...] [--timeout 30]
--expect "" waits for a page whose banner is hidden (every add-on ok). The page reads /healthz
itself; this only watches what a person would see.
Prints one JSON object on the last line: ok, the degraded add-ons the banner names, its text and
whether it is shown. Exit status 0 when the banner shows what was expected, 1 otherwise, 2 when
Chromium or chromedriver is missing.
"""
import argparse
import json
import sys

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.support.ui import WebDriverWait

from dashboard_test import browser

BANNER_SCRIPT = """
const banner = document.querySelector('#add-ons');
if (!banner || banner.dataset.degraded === undefined) return null;
return {degraded: banner.dataset.degraded, hidden: banner.hidden,
        shown: banner.getClientRects().length > 0, text: banner.textContent};
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--expect", required=True)
    parser.add_argument("--timeout", type=float, default=30)
    arguments = parser.parse_args()
    expected = ",".join(sorted(name for name in arguments.expect.split(",") if name))
    driver = browser("en")
    seen = None
    try:
        driver.get(arguments.url)

        def matches(_):
            nonlocal seen
            seen = driver.execute_script(BANNER_SCRIPT)
            if seen is None:
                return False
            names = ",".join(sorted(name for name in seen["degraded"].split(",") if name))
            return names == expected and seen["shown"] == bool(expected) and seen["hidden"] != bool(expected)

        try:
            WebDriverWait(driver, arguments.timeout, poll_frequency=0.2).until(matches)
            ok = True
        except TimeoutException:
            ok = False
    finally:
        driver.quit()
    print(json.dumps({"ok": ok, "expected": expected, "banner": seen}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
