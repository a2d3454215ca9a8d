"""Checks the engineer's configuration page in headless Chromium against a running service: the
link appears for an engineer once signed in and the page loads. Where the configuration cannot be
changed (no ConfigurationControl) the page says why and offers nothing to change. With
--available (a service whose configuration in force says `name: "In force"`, which answers a file
starting `# rejected` with errors and any other with an update of or-1, and lists version 7) the
file in force is shown, a preview shows the diff or the errors, Apply needs a preview of exactly
the text shown, and the history offers each version to view.

Usage: configuration_page_test.py --url http://127.0.0.1:PORT --user NAME --password PW [--available]

Prints one JSON object on the last line: every check with ok/detail. Exit status 0 when every
check passed, 1 otherwise, 2 when Chromium or chromedriver is missing.
"""
import argparse
import json
import sys

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from dashboard_test import browser, wait_for

# Every form control shown, with the label that names it (`label for=`), or None when it has none.
LABELS_SCRIPT = """
const shown = (control) => control.getClientRects().length > 0;
return Array.from(document.querySelectorAll('main input, main textarea, main select')).filter(shown).map(control => {
  const label = document.querySelector('label[for="' + control.id + '"]');
  return {id: control.id, label: label ? label.textContent.trim() : null, disabled: control.disabled};
});
"""


def disabled(driver, element_id):
    return driver.find_element(By.ID, element_id).get_attribute("disabled") is not None


def result(driver):
    return driver.execute_script(
        "const r = document.querySelector('#result');"
        "return {outcome: r.dataset.outcome || null, text: r.textContent,"
        " rows: Array.from(r.querySelectorAll('tr[data-id]')).map(row => [row.dataset.id, row.dataset.change])};")


def changes(driver, check):
    """Preview, apply and the history, against the stand-in service described above."""
    in_force = wait_for(driver, 10, lambda d: "In force" in (d.find_element(By.ID, "in-force-text").get_attribute("value") or ""))
    check("shows_file_in_force", in_force, driver.find_element(By.ID, "in-force-meta").text)
    check("apply_needs_a_preview", disabled(driver, "apply"))

    proposed = driver.find_element(By.ID, "proposed")
    proposed.clear()
    proposed.send_keys("# rejected\nsite: {}\n")
    driver.find_element(By.ID, "preview").click()
    rejected = wait_for(driver, 10, lambda d: result(d)["outcome"] == "rejected")
    text = result(driver)["text"]
    check("errors_name_line_and_field", rejected and "upload.yaml:9:7" in text
          and "systems[0].thresholds.insulation_response_ohms" in text and disabled(driver, "apply"), text)

    proposed.clear()
    proposed.send_keys('site: { name: "Proposed" }\n')
    driver.find_element(By.ID, "preview").click()
    previewed = wait_for(driver, 10, lambda d: result(d)["outcome"] == "previewed")
    check("preview_shows_the_diff", previewed and ["or-1", "updated"] in result(driver)["rows"], result(driver))
    check("apply_enabled_after_preview", not disabled(driver, "apply"))
    proposed.send_keys("# edited after the preview\n")
    check("an_edit_needs_a_new_preview", disabled(driver, "apply"))
    driver.find_element(By.ID, "preview").click()
    wait_for(driver, 10, lambda d: not disabled(d, "apply"))
    driver.find_element(By.ID, "comment").send_keys("after the inspection")
    driver.find_element(By.ID, "apply").click()
    applied = wait_for(driver, 10, lambda d: result(d)["outcome"] == "applied")
    check("apply_reports_the_version", applied and "Applied as version 8." in result(driver)["text"], result(driver))

    listed = wait_for(driver, 10, lambda d: d.find_elements(By.CSS_SELECTOR, '#versions tr[data-version-id="7"]'))
    check("history_lists_versions", listed)
    if listed:
        # The list is drawn again when the history reloads after the apply: press the button of
        # the list as it is then, not of one that may just have been replaced.
        def press_view(d):
            try:
                d.find_element(By.CSS_SELECTOR, '#versions button[data-view="7"]').send_keys(Keys.ENTER)
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        wait_for(driver, 10, press_view)
        shown = wait_for(driver, 10, lambda d: d.find_element(By.ID, "viewer").is_displayed()
                         and "In force" in (d.find_element(By.ID, "viewer-text").get_attribute("value") or ""))
        check("view_shows_a_version", shown, driver.find_element(By.ID, "viewer-label").text)

    Select(driver.find_element(By.ID, "language")).select_by_value("de")
    check("german", driver.find_element(By.ID, "preview").text == "Vorschau"
          and "Als Version 8 übernommen." in result(driver)["text"], driver.find_element(By.ID, "preview").text)
    Select(driver.find_element(By.ID, "language")).select_by_value("en")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--available", action="store_true")
    arguments = parser.parse_args()

    checks = {}

    def check(name, ok, detail=""):
        checks[name] = {"ok": bool(ok), "detail": str(detail)}

    driver = browser("en")
    try:
        driver.get(arguments.url + "/")
        link = driver.find_element(By.ID, "configuration-link")
        check("link_hidden_before_sign_in", not link.is_displayed())

        # Reading is not open, so the dashboard asks for a sign-in by itself; else the button does.
        def dialog_open(d):
            return d.find_element(By.ID, "login").get_attribute("open") is not None

        if not wait_for(driver, 5, dialog_open):
            driver.find_element(By.ID, "sign-in").click()
            wait_for(driver, 10, dialog_open)
        # Signed in with the keyboard, as a person without a mouse would.
        driver.find_element(By.ID, "login-name").send_keys(arguments.user)
        driver.find_element(By.ID, "login-password").send_keys(arguments.password, Keys.ENTER)
        shown = wait_for(driver, 10, lambda d: d.find_element(By.ID, "configuration-link").is_displayed())
        check("link_shown_to_engineer", shown)

        if shown:
            driver.find_element(By.ID, "configuration-link").send_keys(Keys.ENTER)
        else:
            driver.get(arguments.url + "/configuration.html")
        loaded = wait_for(driver, 10, lambda d: d.current_url.endswith("/configuration.html"))
        check("page_loads", loaded and driver.find_element(By.ID, "in-force-title").text == "Configuration in force",
              driver.current_url)

        if arguments.available:
            changes(driver, check)
        else:
            notice = wait_for(driver, 10, lambda d: d.find_element(By.ID, "notice").is_displayed()
                              and d.find_element(By.ID, "notice").text)
            check("shows_why_unavailable", notice and "configuration changes are not available" in notice, notice)
            controls = driver.execute_script(LABELS_SCRIPT)
            buttons = {name: disabled(driver, name) for name in ("preview", "apply")}
            proposed = next((control for control in controls if control["id"] == "proposed"), {})
            check("nothing_to_change", all(buttons.values()) and proposed.get("disabled"),
                  {"buttons": buttons, "proposed": proposed})

        controls = driver.execute_script(LABELS_SCRIPT)
        check("every_control_labelled", controls and all(control["label"] for control in controls), controls)
    finally:
        driver.quit()

    ok = all(result["ok"] for result in checks.values())
    print(json.dumps({"ok": ok, "checks": checks}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
