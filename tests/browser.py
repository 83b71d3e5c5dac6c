"""Helpers for the real-browser tests: a headless `streamlit run` and Debian's Chromium via Playwright.

The browser is the system's (/usr/bin/chromium), never a downloaded one. Without it the tests skip,
unless LLMVIZ_REQUIRE_BROWSER=1 (set by .ci/run) demands them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("LLMVIZ_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def require_browser() -> str:
    path = chromium_path()
    missing = None
    if path is None:
        missing = "Debian's chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if missing:
        if os.environ.get("LLMVIZ_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but {missing}")
        pytest.skip(missing)
    return path


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(timeout: float = 60, script: str = "streamlit_app.py", flags: bool = True):
    """Start the app (or another script) headless on a free localhost port; yield its base URL. flags=False:
    only the port is given, the rest comes from the project's .streamlit/config.toml (README's command)."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"streamlit-{port}.log", "w")
    extra = ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"] if flags else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port), *extra],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_until_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    # charts and tables load their front-end code on first use: grey skeletons stand in until then
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stSkeleton']\")", timeout=timeout)


@contextlib.contextmanager
def app_page(browser, url: str, path: str, *, height: int = 1000, **context_kwargs):
    """A page of the app in a new browser context (a new visitor), 1400 px wide, idle: the home page first
    (a fresh server learns its page names on the app's first run), then `path` (a page's url_path and
    query string). The context is closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": height}, **context_kwargs)
    page = context.new_page()
    try:
        page.goto(url + "/")
        wait_until_idle(page)
        page.goto(f"{url}/{path}")
        wait_until_idle(page)
        yield page
    finally:
        context.close()


def page_errors(page) -> list[str]:
    """Texts of exceptions and error boxes shown on the page."""
    texts = [e.inner_text() for e in page.query_selector_all("[data-testid='stException']")]
    texts += [e.inner_text() for e in page.query_selector_all("[data-testid='stAlertContentError']")]
    texts += [e.inner_text() for e in page.query_selector_all("[role='dialog']") if "not found" in e.inner_text().lower()]
    return texts
