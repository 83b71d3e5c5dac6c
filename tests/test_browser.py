"""Every registered page in a real browser: headless Chromium driven by Playwright.

Asserts no exception and no error box, and saves a screenshot per page under test-artifacts/.
"""

from __future__ import annotations

import pytest

from pages._registry import PAGES
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, page_errors, require_browser, streamlit_server, wait_until_idle


@pytest.fixture(scope="module")
def browser_and_url():
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with streamlit_server() as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        # a learner's first request is the home page; Streamlit's pages/-folder compatibility shows a
        # one-time "Page not found" notice when a fresh server's very first request is a deep link
        first = browser.new_page()
        first.goto(url + "/")
        wait_until_idle(first)
        first.close()
        try:
            yield browser, url
        finally:
            browser.close()


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_page_opens_cleanly_in_chromium(browser_and_url, spec):
    browser, url = browser_and_url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        target = url + "/" if spec.path == "pages/home.py" else f"{url}/{spec.url_path}"
        page.goto(target)
        wait_until_idle(page)
        page.wait_for_timeout(500)  # let charts finish drawing before the screenshot
        wait_until_idle(page)
        assert page_errors(page) == []
        # the shared sidebar is on every page, and the page's own title is shown
        assert page.get_by_text("Text to learn from").count() >= 1
        page.screenshot(path=str(ARTIFACTS / f"{spec.url_path}.png"), full_page=True)
    finally:
        context.close()


def test_home_lists_every_page_and_shows_the_device(browser_and_url):
    browser, url = browser_and_url
    page = browser.new_page()
    try:
        page.goto(url + "/")
        wait_until_idle(page)
        # the device card polls until torch has been imported in the background
        page.wait_for_function(
            "() => /CPU ·|CUDA GPU|Apple MPS/.test(document.querySelector('[data-testid=\"stMain\"]').innerText)",
            timeout=60_000,
        )
        wait_until_idle(page)
        main = page.locator("[data-testid='stMain']")
        links = " ".join(a.inner_text() for a in main.locator("[data-testid='stPageLink']").all())
        for spec in PAGES[1:]:
            assert spec.title in links, spec.title
    finally:
        page.close()
