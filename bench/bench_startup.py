"""How fast do the pages appear? Starts the app headless, waits for /_stcore/health, then times (in
headless Chromium, each visit a new session) from opening a page's URL until its script has finished
and no loading skeleton is left: the home page (first visit, then the median of 3), then every
registered page twice (its first visit on this server, when caches are cold, and a second one), both in
a new browser context, as a first-time visitor; then once more in one browser context that has opened
the app before (a returning learner: the front end's scripts come from the browser's cache).

Then, on a fresh server, the learner's own path through the tutorial: one tab opens the home page, reads it
for 3 s, and clicks every page's link in the sidebar in the tutorial's order (Streamlit switches pages
without reloading the front end); timed from the click until the page's script has finished and no
loading skeleton is left. *in app*: that first pass (each page's first run on the server); *again*: the
same pass in a new tab (warm server, the front end loaded afresh).

As baselines in the same run it times a one-line Streamlit app the same way (what Streamlit's own front
end costs on this machine, which no page of ours can go below), and the same app with one element of each
kind the pages use: a small plotly chart (what any page drawing a chart pays: Streamlit's plotly.js bundle,
4.7 MB, evaluated on every page load), a dataframe, a code block, a select box, a graphviz diagram. The load
average is printed before and after.

    python bench/bench_startup.py [url_path ...]     # target: every page under 1.5 s on an idle machine

Prints seconds; nothing is asserted. Needs Debian's chromium and the playwright package.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pages._registry import PAGES  # noqa: E402
from tests.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path, streamlit_server, wait_until_idle  # noqa: E402


def time_visit(browser, url: str, wait_for_links: bool = True, context=None) -> float:
    """Seconds from opening url in a new session (a new tab of `context`, by default of a new browser
    context: nothing cached) until the script has finished and no loading skeleton is left."""
    own = context is None
    context = context or browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    wait_until_idle(page)
    if wait_for_links:
        page.wait_for_selector("[data-testid='stPageLink']", timeout=60_000)
    took = time.perf_counter() - t0
    page.close()
    if own:
        context.close()
    return took


# a page switch is done when the main heading is the new page's, the script has stopped running and no
# loading skeleton is left (a fast run may never show the "running" state)
H1 = "() => document.querySelector(\"[data-testid='stMain'] h1\")?.innerText"
SWITCHED = """(before) => { const h1 = document.querySelector("[data-testid='stMain'] h1");
  return h1 && h1.innerText !== before && !document.querySelector("[data-testid='stSkeleton']")
    && !document.querySelector("[data-stale='true']")
    && document.querySelector("[data-testid='stApp']").getAttribute('data-test-script-state') === 'notRunning'; }"""


def time_clicks(browser, url: str, paths: list[str], read_s: float = 3.0) -> list[float]:
    """In one new tab: the home page, read for read_s seconds, then a click on each page's sidebar link in
    turn. Seconds from each click until that page's script has run and no loading skeleton is left."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url + "/")
    wait_until_idle(page)
    page.wait_for_timeout(read_s * 1000)
    took = []
    for path in paths:
        before = page.evaluate(H1)
        t0 = time.perf_counter()
        page.locator(f"[data-testid='stSidebarNavLink'][href$='/{path}']").click()
        page.wait_for_function(SWITCHED, arg=before, timeout=60_000, polling="raf")
        took.append(time.perf_counter() - t0)
    context.close()
    return took


BASELINE_APP = 'import streamlit as st\nst.title("baseline")\nst.page_link("https://example.org", label="a link")\n'
# what one element of each kind adds to the one-line app: each loads its own front-end code on first use
ELEMENTS = {
    "1 plotly chart": 'import plotly.graph_objects as go\nst.plotly_chart(go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2])))\n',
    "1 st.dataframe": 'st.dataframe({"a": [1, 2]})\n',
    "1 st.code": 'st.code("hello", language=None)\n',
    "1 st.selectbox": 'st.selectbox("pick", ["a", "b"])\n',
    "1 st.graphviz_chart": 'st.graphviz_chart("digraph { a -> b }")\n',
}
TARGET = 1.5  # seconds, every page, on an idle machine


def main() -> None:
    chromium = chromium_path()
    if chromium is None:
        sys.exit("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    only = sys.argv[1:]  # url paths to time (default: every registered page)
    ARTIFACTS.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    with streamlit_server() as url, sync_playwright() as pw:
        up = time.perf_counter() - t_start
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        baselines = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name, script in [("one-line app", BASELINE_APP)] + [(f"one-line app + {element}", BASELINE_APP + code)
                                                                    for element, code in ELEMENTS.items()]:
                (Path(tmp) / "baseline.py").write_text(script)
                with streamlit_server(script=str(Path(tmp) / "baseline.py")) as base_url:
                    first = time_visit(browser, base_url + "/")
                    later = statistics.median(time_visit(browser, base_url + "/") for _ in range(3))
                    cached = browser.new_context(viewport={"width": 1400, "height": 1000})
                    time_visit(browser, base_url + "/", context=cached)
                    again = time_visit(browser, base_url + "/", context=cached)
                    cached.close()
                baselines[name] = (first, later, again)
        base_later = baselines["one-line app"][1]
        returning = browser.new_context(viewport={"width": 1400, "height": 1000})  # the returning learner's
        first = time_visit(browser, url + "/", context=returning)  # the server's first visit; nothing cached yet
        later = statistics.median(time_visit(browser, url + "/") for _ in range(3))
        rows = [("Home", first, later, time_visit(browser, url + "/", context=returning), None, None)]
        specs = [spec for spec in PAGES[1:] if not only or spec.url_path in only]
        for spec in specs:
            a = time_visit(browser, f"{url}/{spec.url_path}", wait_for_links=False)
            b = time_visit(browser, f"{url}/{spec.url_path}", wait_for_links=False)
            c = time_visit(browser, f"{url}/{spec.url_path}", wait_for_links=False, context=returning)
            rows.append((spec.title, a, b, c))
        returning.close()
        with streamlit_server() as fresh:  # the learner's path, from a server that has run nothing yet
            clicked = time_clicks(browser, fresh, [spec.url_path for spec in specs])
            again = time_clicks(browser, fresh, [spec.url_path for spec in specs])
        rows[1:] = [row + (d, e) for row, d, e in zip(rows[1:], clicked, again)]
        browser.close()
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"server up (health ok) after {up:.2f} s")
    print(f"{'page':40s} {'first':>6s} {'second':>6s} {'cached':>6s} {'in app':>6s} {'again':>6s}"
          "  (second over the one-line app)")
    for name, (a, b, c) in baselines.items():
        print(f"{'[' + name + ']':40s} {a:6.2f} {b:6.2f} {c:6.2f} {'':6s} {'':6s}  {b - base_later:+.2f}")
    slow, slow_in_app = [], []
    for title, a, b, c, d, e in rows:
        clicks = f"{d:6.2f} {e:6.2f}" if d is not None else f"{'–':>6s} {'–':>6s}"
        print(f"{title:40s} {a:6.2f} {b:6.2f} {c:6.2f} {clicks}  {b - base_later:+.2f}")
        if max(a, b) > TARGET:
            slow.append(title)
        if d is not None and max(d, e) > TARGET:
            slow_in_app.append(title)
    print("first: new browser, cold server caches; second: new browser, warm server; cached: a browser that has "
          "opened the app before (median of 3 for the baselines' second and Home's second); in app: clicked in the "
          "sidebar, in order, after reading the home page (fresh server); again: the same in a new tab")
    print(f"over {TARGET} s opening the URL (first or second visit): {', '.join(slow) or 'none'}")
    print(f"over {TARGET} s clicked in the app (in app or again): {', '.join(slow_in_app) or 'none'}")


if __name__ == "__main__":
    main()
