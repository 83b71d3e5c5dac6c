"""Choosing a base model for the Part 3 and 4 pages (a Streamlit helper, not a page): the app's assistant base
(a 384-token context, made once on this machine and cached, pre-trained here if missing), the quick small
base (64 characters), or a finished run of the session."""

from __future__ import annotations

import streamlit as st

from llmviz.io import checkpoint
from llmviz.text import corpora
from llmviz.tasks import chat, finetune
from llmviz.training.batches import TextBatches
from llmviz.training import pace
from pages.shared import run_view, session_runs, ui

BUILTIN = "The app's assistant base (Shakespeare and generated worlds, 384 tokens)"
SMALL = "The small base (64 characters, quick)"
BASES = {BUILTIN: finetune.ASSISTANT_BASE, SMALL: finetune.SMALL_BASE}
PRETRAIN = "base_pretrain"  # the session's pre-training runs, shared by every Part 3 and 4 page


def _builtin(label: str):
    how = BASES[label]
    ck = finetune.cached_base(how)
    if ck is not None:
        return ck
    key = f"{PRETRAIN}_{how.preset}"
    pre = session_runs.get(st.session_state.get(key))
    if pre is not None and pre.state == "finished":
        return checkpoint.load(finetune.save_base(pre, how))
    if "eta" not in st.session_state.setdefault(f"{key}_plan", {}):
        run = finetune.pretraining_run(how)
        st.session_state[f"{key}_plan"] = {"run": run, "eta": finetune.pretraining_eta(run)}
    plan = st.session_state[f"{key}_plan"]
    st.info(f"This base is not made yet on this machine: pre-train it once ({how.max_iters:,} steps, "
            f"{pace.say(plan['eta'])} here; it is kept for every later visit, and Stop keeps nothing).",
            icon=":material/info:")
    if st.button("Pre-train it now", key=f"{PRETRAIN}_go", type="primary", icon=":material/play_arrow:",
                 disabled=pre is not None and pre.running):
        st.session_state[key] = session_runs.add(ui.start_job(plan.pop("run")), f"pre-trained {how.preset} base")
        plan.clear()
        st.rerun()
    if pre is not None:
        run_view.watch([st.session_state[key]], key)
    return None


def is_base(run) -> bool:
    """A language model trained on one text (or loaded): not fine-tuned against an original text, no
    adapters, not instruction- or preference-tuned (no chat tokens)."""
    return ((run.batches is None or isinstance(run.batches, TextBatches)) and getattr(run.model, "adapters", None) is None
            and not chat.has_chat_template(run.tokenizer))


def choose(prefix: str, runs: dict | None = None, help: str | None = None):
    """A radio of bases -> (checkpoint or None, its label, the text it learned). The checkpoint is a copy
    made once per choice and kept in the session: the pages may change it (adapters, vocabulary). The
    session's runs offered are its bases only (is_base)."""
    runs = {n: r for n, r in (session_runs.usable() if runs is None else runs).items() if is_base(r)}
    label = st.radio("Base model", [BUILTIN, SMALL, *runs], key=f"{prefix}_base_choice", horizontal=True, help=help or
                     "The assistant base reads 384 byte-level BPE tokens (about 1,100 characters of the plays): room "
                     "for a conversation, three passages or an agent's prompt. It is trained once on the built-in "
                     "plays, with the passages of eight generated worlds spread through them (invented names said "
                     "again and again: it learns to copy from what it reads), and kept on disk. The small base "
                     "(fast-cpu, 64 characters) is quicker to make.")
    kept = st.session_state.get(f"{prefix}_base")
    if kept is not None and kept[0] == label:
        ck = kept[1]
    else:
        ck = _builtin(label) if label in BASES else checkpoint.from_bytes(checkpoint.run_to_bytes(runs[label]))
        if ck is not None:
            st.session_state[f"{prefix}_base"] = (label, ck)
    original = (ui.shakespeare_text(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS).text if label in BASES
                else ui.current_corpus().text)
    return ck, label, original
