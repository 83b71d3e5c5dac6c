"""How fast does the home page appear? Starts the app headless, waits for /_stcore/health, then times
(in headless Chromium) from navigation until the home page's links are drawn and the script has
finished: the first visit, then new sessions (new browser contexts), then every other page once.

As a baseline in the same run it times a one-line Streamlit app the same way: what Streamlit's own
front end costs on this machine, which no page of ours can go below.

    python bench/bench_startup.py            # target: the first home page render under 2 s

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


BASELINE_APP = 'import streamlit as st\nst.title("baseline")\nst.page_link("https://example.org", label="a link")\n'


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
        later = statistics.median(time_visit(browser, url + "/") for _ in range(3))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "baseline.py").write_text(BASELINE_APP)
            with streamlit_server(script=str(Path(tmp) / "baseline.py")) as base_url:
                base_first = time_visit(browser, base_url + "/")
                base_later = statistics.median(time_visit(browser, base_url + "/") for _ in range(3))
        print(f"server up (health ok) after        {up:6.2f} s")
        print(f"home page, first visit              {first:6.2f} s   (target < 2 s; one-line app: {base_first:.2f} s)")
        print(f"home page, new session (median 3)   {later:6.2f} s   (one-line app: {base_later:.2f} s)")
        print(f"llmviz's own cost over Streamlit's  {first - base_first:+6.2f} s first, {later - base_later:+.2f} s later")
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
