"""Helpers for the browser tests: Chromium's options, logging in, filling the post's form, and
measuring what a person would see (overflow, tap targets)."""
import time
from pathlib import Path

from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_OPTIONS = {"executable_path": CHROMIUM,
                    "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]}
PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}  # a cheap Android's
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # kept by CI, ignored by git


def wait_until(page, expression: str, timeout_s: float = 15):
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
    a string with eval, which the pages' Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s}s: {expression}")
        time.sleep(0.1)


def log_in(page, url: str, username: str, password: str = PASSWORD):
    """Log in through the login form and wait for the live connection."""
    page.set_default_timeout(15000)
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#connection[data-state=online]")


def send_request(page, **fields):
    """Fill the post's request form, field by name (selects chosen, the rest typed), and send it."""
    for name, value in fields.items():
        select = page.locator(f"#new-request select[name={name}]")
        if select.count():
            select.select_option(value)
        else:
            page.fill(f"#new-request [name={name}]", value)
    page.click("#new-request button[type=submit]")


def close_and_read_outcome(doctor, post, icd_search: str, recommendation: str) -> str:
    """The doctor closes the open consultation (ambulance called, I21.9 found by `icd_search`);
    the outcome as the post's page then shows it."""
    doctor.select_option("select[name=disposition]", "ambulance_called")
    doctor.fill("#icd-search", icd_search)
    doctor.click("#icd-results [role=option][data-code='I21.9']")
    doctor.wait_for_selector("#icd-chosen li[data-code='I21.9']")
    doctor.fill("textarea[name=recommendation]", recommendation)
    doctor.click("#close-form button[type=submit]")
    doctor.wait_for_selector("#c-status[data-status=closed]")
    post.wait_for_selector("#c-outcome:not([hidden])")
    return post.inner_text("#c-outcome")


def overflow_px(page, screen_px: int = 360) -> int:
    """How far the page's content reaches past the phone's screen: a mobile browser would zoom
    out (or scroll sideways) to show it. Measured on every element, not on the viewport, which
    a mobile browser widens to fit."""
    return page.evaluate(f"""Math.max(document.documentElement.scrollWidth,
        ...[...document.querySelectorAll('body *')].map(e => Math.ceil(e.getBoundingClientRect().right)))
        - {screen_px}""")


def small_tap_targets(page) -> list[str]:
    """The controls on the page a finger can hardly hit: shorter than 44 CSS px (WCAG 2.5.5)."""
    return page.evaluate("""[...document.querySelectorAll(
            'button, select, textarea, input:not([type=hidden]):not([type=checkbox]), label.check, main a')]
        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
        .map(e => e.outerHTML.slice(0, 80))""")
