"""What a learner sees in a real browser at 1400 px: the LM page's live view right under Train, above
the fold; the compare table's results without scrolling sideways; the diagram readable in dark mode."""

from __future__ import annotations

import re

from pages._registry import PAGES
from tests.browser import ARTIFACTS, app_page, page_errors, wait_until_idle

LM2 = next(p for p in PAGES if p.path == "pages/lm2.py")
LM4 = next(p for p in PAGES if p.path == "pages/lm4.py")
LM5 = next(p for p in PAGES if p.path == "pages/lm5.py")
COMPARE = next(p for p in PAGES if p.path == "pages/compare_runs.py")
LOSS_PLOT = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => (p.layout?.yaxis?.title?.text || '').includes('loss'))"""


def click_key(page, key: str) -> None:
    """Click a keyed button without scrolling the page (as a learner who sees it does)."""
    page.evaluate(f"document.querySelector('.st-key-{key} button').click()")


def nav(page, title: str, url_path: str) -> None:
    more = page.locator("[data-testid='stSidebarNavViewButton']")
    if more.count() and "more" in more.inner_text().lower():
        more.click()
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).click()
    page.wait_for_url(re.compile(url_path))
    wait_until_idle(page)


def test_train_shows_the_live_view_above_the_fold_and_compare_shows_the_results(browser_and_url):
    browser, url = browser_and_url
    settings = "lm5_iters=2000&lm5_eval_interval=20&lm5_eval_iters=2&lm5_batch=8&lm5_sample=50"
    with app_page(browser, url, f"{LM5.url_path}?{settings}", height=900) as page:
        click_key(page, "lm5_train")
        page.wait_for_function(f"(() => {{ const p = ({LOSS_PLOT})(); return p && p.data[0].x.length >= 2; }})()",
                               timeout=60_000)
        # the live loss chart starts inside the 900 px window, without scrolling
        top = page.evaluate(f"({LOSS_PLOT})().getBoundingClientRect().top")
        assert top < 900 - 150, top
        # the look inside appears while it trains: attention, the embedding table in 2-D, gradient norms
        page.get_by_text("Inside the model, live").wait_for(timeout=60_000)
        page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')]"
                               ".some(p => (p.layout?.yaxis?.title?.text || '').includes('gradient norm'))",
                               timeout=60_000)
        assert "running" in page.locator("[data-testid='stProgress']").first.inner_text()
        # the text sample sits in a box of bounded height, however many newlines it holds
        page.locator("[data-testid='stCode']").first.wait_for(timeout=60_000)
        page.get_by_text("sample at step").first.wait_for(timeout=60_000)
        heights = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stCaptionContainer']")]
            .filter(c => c.innerText.includes('sample at step'))
            .map(c => c.closest("[data-testid='stElementContainer']").nextElementSibling)
            .map(e => e && e.querySelector("[data-testid='stCode']"))
            .filter(Boolean).map(c => c.getBoundingClientRect().height)""")
        assert heights and max(heights) <= 240, heights
        page.screenshot(path=str(ARTIFACTS / "lm5-live-view.png"))
        click_key(page, "lm5_stop")
        page.wait_for_function("() => /stopped/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText)",
                               timeout=30_000)
        wait_until_idle(page)
        # a second run with another shape, then both on the compare page
        nav(page, LM2.title, LM2.url_path)
        assert page_errors(page) == []
        nav(page, COMPARE.title, COMPARE.url_path)
        page.screenshot(path=str(ARTIFACTS / "compare-runs-results.png"))
        table = page.locator("[data-testid='stDataFrame']").first  # the results table comes first
        table.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        # every results column fits: the table's grid does not scroll sideways at 1400 px
        fits = page.evaluate("""() => { const s = document.querySelector("[data-testid='stDataFrame'] .dvn-scroller");
            return s ? [s.scrollWidth, s.clientWidth] : null; }""")
        assert fits and fits[0] <= fits[1] + 1, fits
        headers = table.locator("[role='columnheader']").all_inner_texts()
        assert {"run", "params", "train loss", "val loss", "tutorial val"} <= set(headers), headers
        page.screenshot(path=str(ARTIFACTS / "compare-runs-results.png"))
        assert page_errors(page) == []


def test_the_residual_diagram_is_readable_in_dark_mode(browser_and_url):
    browser, url = browser_and_url
    with app_page(browser, url, LM4.url_path, color_scheme="dark") as page:
        svg = page.locator("[data-testid='stGraphVizChart'] svg").first
        svg.wait_for(timeout=30_000)
        # no white box behind the diagram, light text on the dark page, and the residual skip edges drawn
        fills = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg polygon")]
            .filter(p => p.parentElement.classList.contains('graph')).map(p => p.getAttribute('fill'))""")
        assert all(f in (None, "transparent", "none") for f in fills), fills
        texts = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg text")]
            .map(t => t.getAttribute('fill'))""")
        assert texts and "#222222" not in texts and "#eeeeee" in texts
        edges = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg g.edge title")]
            .map(t => t.textContent)""")
        assert {"x0->res1", "res1->res2"} <= set(edges), edges
        page.screenshot(path=str(ARTIFACTS / "lm4-diagram-dark.png"))
