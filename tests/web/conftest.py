"""Fixtures of the browser tests: one Chromium per module, pages logged in as a given user."""
from pathlib import Path

import pytest

from tests.helpers import IN_CI, PASSWORD
from tests.web.browser import CHROMIUM, CHROMIUM_OPTIONS, PHONE, log_in


@pytest.fixture(scope="module")
def playwright():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    browser = playwright.chromium.launch(**CHROMIUM_OPTIONS)
    yield browser
    browser.close()


@pytest.fixture
def open_as(browser, live_server, district):
    """`open_as(username)` gives a page logged in through the login form; at the end, no page may
    have had anything refused by the Content-Security-Policy."""
    contexts, refused = [], []

    def _open(username, server=None, password=PASSWORD, locale=None, phone=False):
        options = {"locale": locale} if locale else {}
        if phone:
            options.update(PHONE)
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        log_in(page, (server or live_server).url, username, password)
        return page

    yield _open
    for context in contexts:
        context.close()
    assert refused == []


@pytest.fixture
def demo_district(app):
    from telemed.services.demo import load_demo_district

    with app.app_context():
        load_demo_district(force=True)
