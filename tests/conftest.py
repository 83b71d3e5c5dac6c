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
