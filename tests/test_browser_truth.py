"""What a learner reads, in a real browser at 1400 px: the transformer page's diagrams readable in light and
dark mode, the home page's summaries whole and no placeholder where the compute device goes."""

from __future__ import annotations

import pytest

from pages._registry import PAGES
from tests.browser import ARTIFACTS, app_page, page_errors

TRANSFORMER = next(p for p in PAGES if p.path == "pages/transformer.py")
TEXT_SIZES = """() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg")].map(svg =>
    Math.min(...[...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect().height)))"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_transformer_diagrams_are_readable_at_1400_px(browser_and_url, scheme):
    browser, url = browser_and_url
    with app_page(browser, url, TRANSFORMER.url_path, color_scheme=scheme) as page:
        page.locator("[data-testid='stGraphVizChart'] svg").nth(1).wait_for(timeout=30_000)
        # every label's box at least 14 px high: 12 px type (Helvetica's box is about 1.2 times its size)
        sizes = page.evaluate(TEXT_SIZES)
        assert len(sizes) == 2 and min(sizes) >= 14, sizes
        # no white slab behind a diagram, and on a dark page no dark text
        fills = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg g.graph > polygon")]
            .map(p => p.getAttribute('fill'))""")
        assert all(f in (None, "transparent", "none") for f in fills), fills
        texts = set(page.evaluate("""() => [...document.querySelectorAll("[data-testid='stGraphVizChart'] svg text")]
            .map(t => t.getAttribute('fill'))"""))
        assert ("#222222" in texts) == (scheme == "light") and ("#eeeeee" in texts) == (scheme == "dark"), texts
        page.screenshot(path=str(ARTIFACTS / f"transformer-diagrams-{scheme}.png"))
        assert page_errors(page) == []


def test_home_shows_every_summary_whole_and_no_detecting_placeholder(browser_and_url):
    browser, url = browser_and_url
    with app_page(browser, url, "", height=1000) as page:
        assert "detecting" not in page.inner_text("[data-testid='stMain']").lower()
        main = page.locator("[data-testid='stMain']")
        for spec in PAGES:
            if spec.path != "pages/home.py":
                assert main.get_by_text(spec.summary, exact=True).count() == 1, spec.summary
        clipped = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stMain'] [data-testid='stCaptionContainer'], [data-testid='stMain'] [data-testid='stPageLink'] p")]
            .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
        assert clipped == [], clipped
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
