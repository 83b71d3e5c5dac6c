"""The session's model server (a Streamlit helper, not a page): the Serve page starts it, the LangChain
page finds it. It is held by a background job (llmviz.serving.server.held) started through ui.start_job,
like a training run: it stops when Stop is pressed, and by itself within seconds of its tab closing; the
server's own shutdown runs in that job's thread, never in the page's."""

from __future__ import annotations

import streamlit as st

from llmviz.training import runs
from pages.shared import ui

_KEY, _GUARD = "model_server", "_model_server_guard"  # (the Server, the Job holding it), and a sentinel


def current():
    """The llmviz.serving.server.Server this session runs, or None (also while it is stopping)."""
    held = st.session_state.get(_KEY)
    if held is None:
        return None
    server, job = held
    return server if job.running and not job.stopping and server.running else None


def stopping() -> bool:
    """Stop was asked and the server is still shutting down (in its job's thread)."""
    held = st.session_state.get(_KEY)
    return held is not None and held[1].running and held[1].stopping


def start(model, tokenizer, name: str, port: int = 0, api_key: str | None = None):
    """Serve a model from this session (stopping the one it served before); raises if it cannot listen."""
    from llmviz.serving.server import Server, held

    stop()
    server = Server(model, tokenizer, name, port=port, api_key=api_key or None).start()
    job = ui.start_job(held(server))
    st.session_state[_KEY] = (server, job)
    st.session_state[_GUARD] = runs.stop_when_dropped(job, "server")  # the session dropped: the server stops
    return server


def stop() -> None:
    """Ask the server to stop; returns at once (it shuts down in its job's thread)."""
    held = st.session_state.pop(_KEY, None)
    st.session_state.pop(_GUARD, None)
    if held is not None:
        held[1].stop()
