"""How fast does the home page appear? Starts the app headless, waits for /_stcore/health, then times
(in headless Chromium) from navigation until the home page's title and page links are drawn and the
script has finished. Also times a second visit (new browser context = new session) and every other page.

    python bench/bench_startup.py            # target: the first home page render under 2 s

Prints seconds; nothing is asserted. Needs Debian's chromium and the playwright package.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pages._registry import PAGES  # noqa: E402
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, streamlit_server, wait_until_idle  # noqa: E402


def time_visit(browser, url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    wait_until_idle(page)
    page.wait_for_selector("[data-testid='stPageLink']", timeout=60_000)
    took = time.perf_counter() - t0
    context.close()
    return took


def main() -> None:
    chromium = chromium_path()
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    t_start = time.perf_counter()
    with streamlit_server() as url, sync_playwright() as pw:
        up = time.perf_counter() - t_start
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        first = time_visit(browser, url + "/")
        second = time_visit(browser, url + "/")
        print(f"server up (health ok) after   {up:6.2f} s")
        print(f"home page, first visit         {first:6.2f} s   (target < 2 s)")
        print(f"home page, a new session       {second:6.2f} s")
        for spec in PAGES[1:]:
            context = browser.new_context()
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(f"{url}/{spec.url_path}")
            wait_until_idle(page)
            print(f"{spec.title:30s} {time.perf_counter() - t0:6.2f} s")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
