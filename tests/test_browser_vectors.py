"""The Vector databases page in a real browser, light and dark: a table built from the built-in plays by the
button, the three hit lists side by side (each hit with rank and score, only weighty words in bold and
readable), and the recall@k / MRR table measured as a Job."""

from __future__ import annotations

import re

import pytest

from pages._registry import PAGES
from tests.browser import ARTIFACTS, app_page, page_errors, wait_until_idle

VECTORS = next(p for p in PAGES if p.path == "pages/vector_databases.py")
LUMINANCE = """els => els.map(e => { const m = getComputedStyle(e).color.match(/[0-9.]+/g).map(Number);
    return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255; })"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_three_lists_and_the_measured_table(browser_and_url, tmp_path, scheme):
    browser, url = browser_and_url
    with app_page(browser, url, VECTORS.url_path, height=1400, color_scheme=scheme) as page:
        folder = page.get_by_role("textbox", name="Database folder")
        folder.fill(str(tmp_path / "db"))
        folder.press("Enter")
        wait_until_idle(page)
        page.get_by_role("button", name=re.compile("Build the table")).click()
        page.get_by_role("tab", name="Three searches").wait_for(timeout=120_000)
        wait_until_idle(page)
        main = page.locator("[data-testid='stMain']")
        text = main.inner_text()
        for score in ("cosine", "BM25", "RRF"):  # each list: its hits ranked 1 to k with their scores
            assert len(re.findall(rf"\b[1-5]\. {score} \d+\.\d{{3}} · chunk \d+", text)) == 5, score
        bold = page.locator("[class*='st-key-vdb_hit_'] strong")  # the words in bold inside the hits' texts
        words = {w.lower() for w in bold.all_inner_texts()}
        assert words and words <= {"horse", "horses", "kingdom", "kingdoms"}, words  # never "a", "my", "for"
        shades = bold.evaluate_all(LUMINANCE)
        assert (min(shades) > 0.6) if scheme == "dark" else (max(shades) < 0.4), shades  # readable on the theme
        page.get_by_role("tab", name="Three searches").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"vector-databases-search-{scheme}.png"))
        page.get_by_role("tab", name="Measured on questions").click()
        page.get_by_role("button", name=re.compile("Measure every method")).click()
        page.get_by_text(re.compile(r"^Over \d+ questions,")).wait_for(timeout=120_000)
        wait_until_idle(page)
        grid = page.locator("[data-testid='stDataFrame']").last
        grid.wait_for(timeout=30_000)
        assert page.get_by_text(re.compile("BM25 ranks the answer higher than LSA vectors on")).count() == 1
        grid.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"vector-databases-measure-{scheme}.png"))
        assert page_errors(page) == []
