"""Streamlit helpers shared by the pages (not a page itself): the corpus and device every page
reads, the "code behind this page" expander, and figure drawing.

The sidebar in streamlit_app.py writes the learner's choices into st.session_state; pages read
them only through the functions here.
"""

from __future__ import annotations

import inspect

import streamlit as st

from llmviz import corpora

CORPUS_KEY = "corpus"  # the llmviz.corpora.Corpus in use
DEVICE_KEY = "device_choice"  # "auto", "cuda", "mps" or "cpu"


@st.cache_data(show_spinner="Preparing Shakespeare…", max_entries=8)
def shakespeare_text(plays: tuple[str, ...], max_chars: int | None) -> corpora.Corpus:
    return corpora.shakespeare(plays, max_chars)


@st.cache_data(show_spinner=False, max_entries=1)
def python_docs_text() -> corpora.Corpus:
    return corpora.python_docs()


def current_corpus() -> corpora.Corpus:
    """The text the learner chose in the sidebar (the built-in Shakespeare until they choose)."""
    corpus = st.session_state.get(CORPUS_KEY)
    if corpus is None:
        corpus = shakespeare_text(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS)
        st.session_state[CORPUS_KEY] = corpus
    return corpus


def current_device() -> str:
    """The device to compute on: the sidebar's choice, or the best available one."""
    from llmviz.device import pick_device

    choice = st.session_state.get(DEVICE_KEY, "auto")
    try:
        return pick_device(choice)
    except ValueError:
        return pick_device("auto")


def plot(fig, key: str | None = None) -> None:
    """Draw a plotly figure at the page's width, in the app's theme."""
    st.plotly_chart(fig, width="stretch", key=key, theme="streamlit")


def code_expander(*objects, title: str = "The code behind this page") -> None:
    """Show the real source of the llmviz functions/classes a page calls."""
    with st.expander(title, icon=":material/code:"):
        for obj in objects:
            module = getattr(obj, "__module__", "")
            st.caption(f"`{module}.{getattr(obj, '__qualname__', obj)}`")
            st.code(inspect.getsource(obj), language="python")
