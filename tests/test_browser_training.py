"""Live training in a real browser: open an LM page with small settings from its URL, press Train,
watch the loss chart appear and grow, move a widget and switch pages mid-run without killing the run,
press Stop, generate text."""

from __future__ import annotations

import re

import pytest

from pages._registry import PAGES
from tests.browser import ARTIFACTS, app_page, page_errors, wait_until_idle

LM5 = next(p for p in PAGES if p.path == "pages/lm5.py")
COMPARE = next(p for p in PAGES if p.path == "pages/compare_runs.py")
POINTS = """() => { const plots = [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => (p.layout?.yaxis?.title?.text || '').includes('loss'));
  return plots.length ? plots[0].data[0].x.length : 0; }"""


def progress_text(page) -> str:
    return page.locator("[data-testid='stProgress']").first.inner_text()


def test_train_watch_stop_generate(browser_and_url):
    browser, url = browser_and_url
    # small settings straight from a shared link
    settings = "lm5_iters=3000&lm5_eval_interval=50&lm5_eval_iters=5&lm5_batch=16&lm5_sample=50"
    with app_page(browser, url, f"{LM5.url_path}?{settings}") as page:
        assert "3000" in page.locator(".st-key-lm5_iters").inner_text()
        page.locator(".st-key-lm5_train button").click()
        # the loss chart appears, then grows while the fragment polls
        page.wait_for_function(f"({POINTS})() >= 2", timeout=60_000)
        first = page.evaluate(POINTS)
        page.wait_for_function(f"({POINTS})() > {first}", timeout=60_000)
        assert re.search(r"running · step [\d,]+ of 3,000", progress_text(page))
        # moving a widget mid-run reruns the script but does not stop the run
        seed = page.locator(".st-key-lm5_seed input")
        seed.fill("7")
        seed.press("Enter")
        wait_until_idle(page)
        now = page.evaluate(POINTS)
        page.wait_for_function(f"({POINTS})() > {now}", timeout=60_000)
        assert "lm5_seed=7" in page.url
        # another page mid-run: the run is listed there, still running; then back
        more = page.locator("[data-testid='stSidebarNavViewButton']")
        if more.count() and "more" in more.inner_text().lower():
            more.click()  # the navigation shows the first pages only until "View more"
        page.locator("[data-testid='stSidebarNav'] a", has_text=COMPARE.title).click()
        page.wait_for_url(re.compile(COMPARE.url_path))
        wait_until_idle(page)
        # the table is a canvas: its accessible cells are attached but hidden
        page.get_by_text("running", exact=True).first.wait_for(state="attached", timeout=30_000)
        page.locator("[data-testid='stSidebarNav'] a", has_text=LM5.title).click()
        page.wait_for_url(re.compile(LM5.url_path))
        wait_until_idle(page)
        assert "running" in progress_text(page)
        assert "3000" in page.locator(".st-key-lm5_iters").inner_text()  # the settings survived the trip
        # Stop: the run ends within a step and the tools appear
        page.locator(".st-key-lm5_stop button").click()
        page.wait_for_function("() => /stopped/.test(document.querySelector(\"[data-testid='stProgress']\")?.innerText)",
                               timeout=30_000)
        wait_until_idle(page)
        page.locator(".st-key-lm5_generate button").click()
        # the text streams in token by token ("▌" marks the end while it grows); wait for the whole of it
        page.wait_for_function(
            """() => [...document.querySelectorAll("[data-testid='stCode']")]
                .some(c => c.innerText.startsWith('ROMEO:') && !c.innerText.includes('▌'))""",
            timeout=60_000,
        )
        wait_until_idle(page)
        out = page.locator("[data-testid='stCode']", has_text="ROMEO:").last.inner_text()
        assert out.startswith("ROMEO:") and len(out) > 100
        # the same text, each token a cell on its probability's colour; clicking one shows its alternatives
        title = "() => document.querySelector('.st-key-lm5_inspect_bars .gtitle')?.textContent || ''"
        assert page.evaluate(title).startswith("Token #1:")
        cells = page.locator(".st-key-lm5_tokens .trace.bars").first.locator(".point")
        assert cells.count() == 200
        # in the middle of the window, clear of the app's header (an instant scroll: a wheel scroll may
        # still be moving when the cell's position is read, and the click then lands elsewhere)
        cells.nth(9).evaluate("e => e.scrollIntoView({block: 'center', behavior: 'instant'})")
        box = cells.nth(9).bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_function(f"({title})().startsWith('Token #10:')", timeout=60_000)
        wait_until_idle(page)
        assert "#10" in page.locator(".st-key-lm5_inspect").inner_text()  # the slider follows the click
        assert page_errors(page) == []
        page.screenshot(path=str(ARTIFACTS / "training-lm5.png"), full_page=True)
