"""Choosing a base model for the Part 3 pages (a Streamlit helper, not a page): the app's pre-trained
base (made once on this machine and cached, pre-trained here if missing) or a finished run of the session."""

from __future__ import annotations

import streamlit as st

from llmviz.io import checkpoint
from llmviz.text import corpora
from llmviz.tasks import finetune
from pages.shared import run_view, session_runs, ui

BUILTIN = "The app's pre-trained base (Shakespeare)"
PRETRAIN = "base_pretrain"  # the session's pre-training run, shared by every Part 3 page


def _builtin():
    ck = finetune.cached_base()
    if ck is not None:
        return ck
    pre = session_runs.get(st.session_state.get(PRETRAIN))
    if pre is not None and pre.state == "finished":
        return checkpoint.load(finetune.save_base(pre))
    st.info("The base is not made yet on this machine: pre-train it once (about a minute on a laptop CPU; it is "
            "kept for every later visit).", icon=":material/info:")
    if st.button("Pre-train it now", key=f"{PRETRAIN}_go", type="primary", icon=":material/play_arrow:",
                 disabled=pre is not None and pre.running):
        st.session_state[PRETRAIN] = session_runs.add(ui.start_job(finetune.pretraining_run()), "pre-trained base")
        st.rerun()
    if pre is not None:
        run_view.watch([st.session_state[PRETRAIN]], PRETRAIN)
    return None


def choose(prefix: str, runs: dict | None = None, help: str | None = None):
    """A radio of bases -> (checkpoint or None, its label, the text it learned). The checkpoint is a copy
    made once per choice and kept in the session: the pages may change it (adapters, vocabulary)."""
    runs = session_runs.usable() if runs is None else runs
    label = st.radio("Base model", [BUILTIN, *runs], key=f"{prefix}_base_choice", horizontal=True, help=help or
                     "The app's base is the fast-cpu model trained once on the built-in plays (about a minute) and "
                     "kept on disk, with a vocabulary that spells every printable character.")
    kept = st.session_state.get(f"{prefix}_base")
    if kept is not None and kept[0] == label:
        ck = kept[1]
    else:
        ck = _builtin() if label == BUILTIN else checkpoint.from_bytes(checkpoint.run_to_bytes(runs[label]))
        if ck is not None:
            st.session_state[f"{prefix}_base"] = (label, ck)
    original = (ui.shakespeare_text(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS).text if label == BUILTIN
                else ui.current_corpus().text)
    return ck, label, original
