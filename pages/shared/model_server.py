"""The session's model server (a Streamlit helper, not a page): the Serve page starts it, the LangChain
page finds it, and it stops when the session ends (a closed tab), like a training run."""

from __future__ import annotations

import streamlit as st

from llmviz.training import runs

_KEY, _GUARD = "model_server", "_model_server_guard"


def current():
    """The llmviz.serving.server.Server this session runs, or None."""
    server = st.session_state.get(_KEY)
    return server if server is not None and server.running else None


def start(model, tokenizer, name: str, port: int = 0, api_key: str | None = None):
    """Serve a model from this session (stopping the one it served before); raises if it cannot listen."""
    from llmviz.serving.server import Server

    stop()
    server = Server(model, tokenizer, name, port=port, api_key=api_key or None).start()
    st.session_state[_KEY] = server
    st.session_state[_GUARD] = runs.stop_when_dropped(server, "server")  # a closed tab stops the server
    return server


def stop() -> None:
    server = st.session_state.pop(_KEY, None)
    st.session_state.pop(_GUARD, None)
    if server is not None:
        server.stop()
