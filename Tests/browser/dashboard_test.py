"""Drives the isowatch dashboard in headless Chromium against a running service and simulator.

Usage: dashboard_test.py --url http://127.0.0.1:PORT --control http://127.0.0.1:CPORT \
           --user NAME --password PW [--fault-endpoint rtu0 --fault-unit 1 --fault-system or-1] \
           [--stale-system or-3]

Prints one JSON object on the last line: every check with ok/detail, and measured figures.
Exit status 0 when every check passed, 1 otherwise, 2 when Chromium or chromedriver is missing.
"""
import argparse
import json
import shutil
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

YELLOW_BORDER = "rgb(249, 200, 14)"  # --yellow in dashboard.css
GREEN_BORDER = "rgb(30, 142, 62)"    # --green
GREY_BORDER = "rgb(107, 107, 107)"   # --grey


def browser(language):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        print(json.dumps({"skipped": "chromium or chromedriver is not installed (scripts/setup installs them)"}))
        sys.exit(2)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", f"--lang={language}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    return webdriver.Chrome(service=Service(driver_path), options=options)


# Tiles are rebuilt on every live update, so they are read in one script call each time rather
# than held as element references (which would go stale).
TILE_SCRIPT = """
const tile = document.querySelector('#locations .tile[data-system-id="' + arguments[0] + '"]');
if (!tile) return null;
const insulation = tile.querySelector('dd[data-quantity="insulation_resistance_ohms"]');
return {state: tile.dataset.state, border: getComputedStyle(tile).borderTopColor,
        label: tile.querySelector('.state').textContent, insulation: insulation ? insulation.textContent : null};
"""


def tile(driver, system):
    return driver.execute_script(TILE_SCRIPT, system)


def tile_state(driver, system):
    found = tile(driver, system)
    return found["state"] if found else None


def wait_for(driver, seconds, condition):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.02).until(lambda d: condition(d) or None)
    except TimeoutException:
        return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--systems", default="or-1,icu-1")
    parser.add_argument("--fault-endpoint", default="rtu0")
    parser.add_argument("--fault-unit", default="1")
    parser.add_argument("--fault-system", default="or-1")
    parser.add_argument("--stale-system", default="")
    arguments = parser.parse_args()

    checks = {}
    figures = {}

    def check(name, ok, detail=""):
        checks[name] = {"ok": bool(ok), "detail": str(detail)}

    driver = browser("de")
    try:
        driver.get(arguments.url + "/")

        # The browser asks for German: the page starts in German.
        heading = driver.find_element(By.CSS_SELECTOR, "h1").text
        check("language_from_browser", heading == "Isolierte Stromversorgungen" and
              driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de", heading)

        # One tile per system, grouped under location headings, green once readings arrive.
        systems = arguments.systems.split(",")
        appeared = wait_for(driver, 20, lambda d: all(tile_state(d, s) == "normal" for s in systems))
        states = {s: tile_state(driver, s) for s in systems}
        check("tiles_appear_green", appeared, states)
        first = tile(driver, systems[0]) or {}
        check("tile_colour_green", first.get("border") == GREEN_BORDER, first)
        locations = driver.execute_script(
            "return Array.from(document.querySelectorAll('#locations .location h2')).map(h => h.textContent)")
        check("grouped_by_location", len(locations) >= 1, locations)
        values = first.get("insulation") or ""
        check("tile_shows_insulation", "kΩ" in values or "MΩ" in values, values)

        if arguments.stale_system:
            grey = wait_for(driver, 20, lambda d: tile_state(d, arguments.stale_system) == "stale")
            colour = (tile(driver, arguments.stale_system) or {}).get("border")
            check("absent_device_tile_grey", grey and colour == GREY_BORDER, colour)

        # A fault in the simulator turns the tile yellow.
        body = json.dumps({"values": {"insulation_resistance_ohms": 30000}}).encode()
        request = urllib.request.Request(
            f"{arguments.control}/api/v1/endpoints/{arguments.fault_endpoint}/units/{arguments.fault_unit}",
            data=body, method="PATCH", headers={"Content-Type": "application/json"})
        started = time.monotonic()
        urllib.request.urlopen(request, timeout=10).read()
        yellow = wait_for(driver, 20, lambda d: tile_state(d, arguments.fault_system) == "alarm")
        elapsed = time.monotonic() - started
        figures["fault_to_yellow_tile_seconds"] = round(elapsed, 3)
        colour = (tile(driver, arguments.fault_system) or {}).get("border")
        check("fault_turns_tile_yellow", yellow and colour == YELLOW_BORDER, f"{colour} after {elapsed:.2f} s")
        check("fault_turns_tile_yellow_within_2s", yellow and elapsed <= 2.0, f"{elapsed:.2f} s")

        # Silence needs a signed-in user: the button asks for a login first.
        driver.execute_script(
            "document.querySelector('#locations .tile[data-system-id=\"' + arguments[0] + '\"]').click()",
            arguments.fault_system)
        wait_for(driver, 10, lambda d: d.find_element(By.ID, "detail").is_displayed())
        driver.find_element(By.CSS_SELECTOR, '[data-action="silence"]').click()
        dialog_open = wait_for(driver, 10, lambda d: d.find_element(By.ID, "login").get_attribute("open") is not None)
        check("silence_asks_for_login", dialog_open)
        driver.find_element(By.ID, "login-name").send_keys(arguments.user)
        driver.find_element(By.ID, "login-password").send_keys(arguments.password)
        driver.find_element(By.ID, "login-submit").click()
        silenced = wait_for(
            driver, 15,
            lambda d: arguments.user in d.find_element(By.CSS_SELECTOR, "#detail-tile").text)
        api = json.load(urllib.request.urlopen(f"{arguments.url}/api/v1/systems/{arguments.fault_system}", timeout=10))
        check("silence_after_login", silenced and api["alarm"]["silenced"] and api["alarm"].get("silenced_by") == arguments.user,
              api["alarm"])
        check("charts_drawn", len(driver.find_elements(By.CSS_SELECTOR, "#charts svg")) == 4)
        threshold = driver.find_elements(By.CSS_SELECTOR, '#charts line.threshold[data-threshold="50000"]')
        check("insulation_threshold_drawn", len(threshold) == 1)

        # The language switch: Chinese now, and still Chinese after a reload.
        driver.get(arguments.url + "/")
        Select(driver.find_element(By.ID, "language")).select_by_value("zh")
        switched = wait_for(driver, 5, lambda d: d.find_element(By.CSS_SELECTOR, "h1").text == "医用隔离电源")
        state_label = wait_for(driver, 10, lambda d: (tile(d, systems[-1]) or {}).get("label"))
        check("language_switch", switched and driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh",
              state_label)
        driver.refresh()
        kept = wait_for(driver, 10, lambda d: d.find_element(By.CSS_SELECTOR, "h1").text == "医用隔离电源")
        check("language_kept_after_reload", kept)
    finally:
        driver.quit()

    print(json.dumps({"checks": checks, "figures": figures}))
    sys.exit(0 if all(c["ok"] for c in checks.values()) else 1)


if __name__ == "__main__":
    main()
