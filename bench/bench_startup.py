"""How fast do the pages appear? Starts the app headless, waits for /_stcore/health, then times (in
headless Chromium, each visit a new session) from opening a page's URL until its script has finished
and no loading skeleton is left: the home page (first visit, then the median of 3), then every
registered page twice (its first visit on this server, when caches are cold, and a second one).

As a baseline in the same run it times a one-line Streamlit app the same way: what Streamlit's own
front end costs on this machine, which no page of ours can go below.

    python bench/bench_startup.py [url_path ...]     # target: every page under 1.5 s on an idle machine

Prints seconds; nothing is asserted. Needs Debian's chromium and the playwright package.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pages._registry import PAGES  # noqa: E402
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, streamlit_server, wait_until_idle  # noqa: E402


def time_visit(browser, url: str, wait_for_links: bool = True) -> float:
    """Seconds from opening url in a new session (a new browser context) until the script has finished
    and no loading skeleton is left."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    wait_until_idle(page)
    if wait_for_links:
        page.wait_for_selector("[data-testid='stPageLink']", timeout=60_000)
    took = time.perf_counter() - t0
    context.close()
    return took


BASELINE_APP = 'import streamlit as st\nst.title("baseline")\nst.page_link("https://example.org", label="a link")\n'
TARGET = 1.5  # seconds, every page, on an idle machine


def main() -> None:
    chromium = chromium_path()
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    only = sys.argv[1:]  # url paths to time (default: every registered page)
    ARTIFACTS.mkdir(exist_ok=True)
    t_start = time.perf_counter()
    with streamlit_server() as url, sync_playwright() as pw:
        up = time.perf_counter() - t_start
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "baseline.py").write_text(BASELINE_APP)
            with streamlit_server(script=str(Path(tmp) / "baseline.py")) as base_url:
                base_first = time_visit(browser, base_url + "/")
                base_later = statistics.median(time_visit(browser, base_url + "/") for _ in range(3))
        first = time_visit(browser, url + "/")
        later = statistics.median(time_visit(browser, url + "/") for _ in range(3))
        print(f"server up (health ok) after        {up:6.2f} s")
        print(f"one-line app: first visit {base_first:.2f} s, later visits (median of 3) {base_later:.2f} s")
        print(f"{'page':32s} {'first':>7s} {'second':>7s}  over the one-line app (second visit)")
        print(f"{'Home':32s} {first:7.2f} {later:7.2f}  {later - base_later:+.2f}")
        slow = []
        for spec in PAGES[1:]:
            if only and spec.url_path not in only:
                continue
            a = time_visit(browser, f"{url}/{spec.url_path}", wait_for_links=False)
            b = time_visit(browser, f"{url}/{spec.url_path}", wait_for_links=False)
            print(f"{spec.title:32s} {a:7.2f} {b:7.2f}  {b - base_later:+.2f}")
            if max(a, b) > TARGET:
                slow.append(spec.title)
        print(f"over {TARGET} s (first or second visit): {', '.join(slow) or 'none'}")
        browser.close()


if __name__ == "__main__":
    main()
