"""Drives the users page (users.html) in headless Chromium against a running service.

Usage: users_test.py --url http://127.0.0.1:PORT --admin NAME --admin-password PW

The service's users file must hold the admin and the users olga, victor and erik (the Swift test's
TestUsers). As the admin: the header links to the users page; the page lists the users, adds nina,
changes victor's role, disables olga, resets erik's password and deletes nina, every control
labelled. Then erik signs in with the reset password: the dashboard sends him to the password
change, and once he has changed it, back to the overview. Last, the page in German.

Prints one JSON object on the last line: every check with ok/detail. Exit status 0 when every
check passed, 1 otherwise, 2 when Chromium or chromedriver is missing.
"""
import argparse
import json
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from dashboard_test import browser, wait_for

ROWS_SCRIPT = """
return Array.from(document.querySelectorAll('#user-rows tr')).map(row => ({
  name: row.dataset.user, disabled: row.dataset.disabled,
  role: row.querySelector('select').value, status: row.children[2].textContent}));
"""

# Every form control of the page has a label a screen reader announces.
UNLABELLED_SCRIPT = """
return Array.from(document.querySelectorAll('input, select, button'))
  .filter(e => e.offsetParent !== null)
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map(e => e.id || e.outerHTML.slice(0, 60));
"""


def rows(driver):
    return {row["name"]: row for row in driver.execute_script(ROWS_SCRIPT)}


def sign_in(driver, url, name, password):
    driver.delete_all_cookies()
    driver.get(url + "/")
    wait_for(driver, 10, lambda d: d.find_element(By.ID, "login").get_attribute("open") is not None)
    driver.find_element(By.ID, "login-name").send_keys(name)
    driver.find_element(By.ID, "login-password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("--admin-password", required=True)
    arguments = parser.parse_args()
    url = arguments.url

    checks = {}

    def check(name, ok, detail=""):
        checks[name] = {"ok": bool(ok), "detail": str(detail)}

    driver = browser("en")
    try:
        sign_in(driver, url, arguments.admin, arguments.admin_password)
        link = wait_for(driver, 10, lambda d: d.find_element(By.ID, "users-link").is_displayed()
                        and d.find_element(By.ID, "users-link"))
        check("header_links_admins_to_users", link and link.text == "Users", link.text if link else None)
        link.click()
        listed = wait_for(driver, 10, lambda d: len(rows(d)) == 4 and rows(d))
        check("users_listed", listed and set(listed) == {"olga", "victor", "erik", arguments.admin}, listed)
        check("every_control_labelled", driver.execute_script(UNLABELLED_SCRIPT) == [],
              driver.execute_script(UNLABELLED_SCRIPT))

        # Add nina with the keyboard: the form is reachable and submitted without the mouse.
        driver.find_element(By.ID, "add-name").send_keys("nina")
        Select(driver.find_element(By.ID, "add-role")).select_by_value("operator")
        driver.find_element(By.ID, "add-password").send_keys("nina-initial-pw\n")
        added = wait_for(driver, 10, lambda d: "nina" in rows(d) and rows(d)["nina"])
        check("user_added", added and added["role"] == "operator" and "must change password" in added["status"], added)

        Select(driver.find_element(By.ID, "role-victor")).select_by_value("engineer")
        regraded = wait_for(driver, 10, lambda d: "victor is now engineer" in d.find_element(By.ID, "users-result").text)
        check("role_changed", regraded and rows(driver)["victor"]["role"] == "engineer", rows(driver).get("victor"))

        driver.find_element(By.CSS_SELECTOR, '[data-action="disable"][data-user="olga"]').click()
        disabled = wait_for(driver, 10, lambda d: rows(d)["olga"]["disabled"] == "true")
        check("user_disabled", disabled, rows(driver).get("olga"))

        driver.find_element(By.CSS_SELECTOR, '[data-action="reset"][data-user="erik"]').click()
        wait_for(driver, 5, lambda d: d.find_element(By.ID, "reset").get_attribute("open") is not None)
        driver.find_element(By.ID, "reset-password").send_keys("erik-temporary-pw\n")
        reset = wait_for(driver, 10, lambda d: "must change password" in rows(d)["erik"]["status"])
        check("password_reset", reset, rows(driver).get("erik"))

        driver.find_element(By.CSS_SELECTOR, '[data-action="delete"][data-user="nina"]').click()
        driver.switch_to.alert.accept()
        deleted = wait_for(driver, 10, lambda d: "nina" not in rows(d))
        check("user_deleted", deleted, list(rows(driver)))

        # erik signs in with the password the admin set: the password change comes first.
        sign_in(driver, url, "erik", "erik-temporary-pw")
        forced = wait_for(driver, 10, lambda d: d.current_url.endswith("/users.html")
                          and d.find_element(By.ID, "password-required").is_displayed())
        check("password_change_forced", forced, driver.current_url)
        check("users_hidden_from_non_admins", not driver.find_element(By.ID, "users").is_displayed())
        driver.find_element(By.ID, "password-current").send_keys("erik-temporary-pw")
        driver.find_element(By.ID, "password-new").send_keys("erik-chosen-password")
        driver.find_element(By.ID, "password-repeat").send_keys("erik-chosen-password\n")
        back = wait_for(driver, 10, lambda d: d.current_url.rstrip("/") == url.rstrip("/")
                        and "erik" in d.find_element(By.ID, "user-name").text)
        check("back_to_overview_after_change", back, driver.current_url)

        driver.get(url + "/users.html")
        Select(driver.find_element(By.ID, "language")).select_by_value("de")
        german = wait_for(driver, 5, lambda d: d.find_element(By.ID, "password-title").text == "Passwort ändern")
        check("page_in_german", german, driver.find_element(By.ID, "password-title").text)
    finally:
        driver.quit()

    print(json.dumps({"checks": checks}))
    sys.exit(0 if checks and all(c["ok"] for c in checks.values()) else 1)


if __name__ == "__main__":
    main()
