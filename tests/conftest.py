"""Shared test helpers: the benchmark corpus (skipped when absent) and opening an app page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the standard 1.1 MB benchmark corpus lives beside the repository, never inside it
TINY_SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


@pytest.fixture
def tiny_shakespeare() -> str:
    if not TINY_SHAKESPEARE.is_file():
        pytest.skip(f"benchmark corpus not found at {TINY_SHAKESPEARE}")
    return TINY_SHAKESPEARE.read_text(encoding="utf-8")


def open_page(path: str, timeout: float = 60, session_state: dict | None = None):
    """Run the app, then switch to one registered page (e.g. "pages/softmax.py"); returns the AppTest."""
    from streamlit.testing.v1 import AppTest

    os.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    for k, v in (session_state or {}).items():
        at.session_state[k] = v
    at.run()
    at.switch_page(path)
    at.run()
    return at


@pytest.fixture(scope="session")
def browser_and_url():
    """One headless app server and one Chromium for all real-browser tests (skips without a browser)."""
    from tests.browser import ARTIFACTS, CHROMIUM_ARGS, require_browser, streamlit_server, wait_until_idle

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


def pytest_collection_modifyitems(config, items):
    """Every test in a tests/test_browser*.py file drives a real Chromium: it is marked `browser`, so a
    developer can leave those out (`-m "not browser"`); tests marked `slow` train for seconds or more."""
    for item in items:
        if item.path.name.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)
