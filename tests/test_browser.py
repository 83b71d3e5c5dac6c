"""Every registered page in a real browser: headless Chromium driven by Playwright.

Asserts no exception and no error box, and saves a screenshot per page under test-artifacts/.
"""

from __future__ import annotations

import pytest

from pages._registry import PAGES
from tests.browser import ARTIFACTS, page_errors, wait_until_idle


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
            "() => /CPU ·|CUDA ·|Apple MPS/.test(document.querySelector('[data-testid=\"stMain\"]').innerText)",
            timeout=60_000,
        )
        # every page is linked (wait: the page is redrawn once the device is known)
        titles = [spec.title for spec in PAGES[1:]]
        page.wait_for_function(
            """titles => { const links = [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stPageLink']")]
                .map(a => a.innerText).join(' ');
              return titles.every(t => links.includes(t)); }""",
            arg=titles, timeout=30_000,
        )
    finally:
        page.close()



ELEMENT_CODE = ("PlotlyChart", "DataFrame", "StreamlitSyntaxHighlighter", "GraphVizChart")
LOADED = """kinds => kinds.map(kind => performance.getEntriesByType('resource')
    .filter(e => { const f = e.name.split('/').pop(); return f.startsWith(kind + '.') && f.endsWith('.js'); }).length)"""


def test_a_page_loads_the_element_code_of_the_next_pages_in_the_background(browser_and_url):
    """The home page shows no chart, table or code block; once it is drawn and the browser is idle, their
    front-end code is loaded anyway, so the learner's next page opens without that wait. Each is loaded once."""
    browser, url = browser_and_url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url + "/")
        wait_until_idle(page)
        assert page.locator(".js-plotly-plot, [data-testid='stDataFrame'], [data-testid='stCode']").count() == 0
        page.wait_for_function(f"kinds => ({LOADED})(kinds).every(n => n === 1)", arg=ELEMENT_CODE, timeout=30_000)
        page.locator("[data-testid='stSidebarNavLink'][href$='/dictionary-levenshtein']").click()
        page.wait_for_selector("[data-testid='stMain'] .js-plotly-plot", timeout=60_000)
        wait_until_idle(page)
        assert page.evaluate(LOADED, ELEMENT_CODE) == [1, 1, 1, 1]
        page.goto(f"{url}/dictionary-levenshtein")  # opened directly: its own chart and tables load theirs
        wait_until_idle(page)
        page.wait_for_function(f"kinds => ({LOADED})(kinds).every(n => n === 1)", arg=ELEMENT_CODE, timeout=30_000)
        page.wait_for_timeout(2000)
        assert page.locator(".js-plotly-plot").count() >= 1 and page.evaluate(LOADED, ELEMENT_CODE) == [1, 1, 1, 1]
    finally:
        context.close()
