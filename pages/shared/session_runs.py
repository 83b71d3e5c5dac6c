"""The session's training runs (a Streamlit helper, not a page): the one place that knows where they live.

Every run the learner starts is kept by name in this browser session, so the Compare runs, Next token
and Embeddings pages can find it, within the session's budget (llmviz.training.retention: runs and bytes):
when a new run would exceed it, the oldest runs no page shows are let go, and the next page drawn says so.
Each run comes with a guard that stops its worker when Streamlit drops the session's state (a closed tab),
so no training outlives its learner.
"""

from __future__ import annotations

import time

import streamlit as st

from llmviz.training import retention, runs
from llmviz.training.train import TrainingRun

_RUNS, _GUARDS, _DRAINING = "runs", "_run_guards", "_runs_draining"
_RETIRED, _NOTICE, _GONE = "_runs_retired", "_runs_let_go_notice", "_runs_let_go"
BUDGET = retention.Budget()
NOTICE_S = 60.0  # how long the pages say that runs were let go


def all_runs() -> dict[str, TrainingRun]:
    """Every run of this session by name, oldest first (the dict itself: do not modify it directly)."""
    return st.session_state.setdefault(_RUNS, {})


def add(run: TrainingRun, name: str) -> str:
    """Keep a run under name (or "name (2)" if taken) and tie its worker to this session; returns the name."""
    name = runs.unique_name(name, all_runs())
    all_runs()[name] = run
    st.session_state.setdefault(_GUARDS, {})[name] = runs.stop_when_dropped(run, name)
    keep_within_budget(shown={name} | shown_names())
    return name


def shown_names() -> set[str]:
    """The runs some page of this session names now (its current run, a pair, a base, ...)."""
    names, found = set(all_runs()), set()
    for key, value in list(st.session_state.items()):
        if key == _RUNS:
            continue
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        found |= {v for v in values if isinstance(v, str) and v in names}
    return found


def keep_within_budget(shown=()) -> list[str]:
    """Let go of the oldest runs past the session's budget (those no page shows first); say so once."""
    tidy()
    gone = retention.to_let_go(all_runs(), BUDGET, keep=shown)
    if gone:
        held = [(n, retention.run_bytes(all_runs()[n])) for n in gone]
        forget(gone)
        left = all_runs()
        words = retention.let_go_words(held, BUDGET, len(left), retention.session_bytes(left.values()))
        st.session_state[_NOTICE] = (words, time.monotonic())
        st.session_state.setdefault(_GONE, []).extend(gone)
    return gone


def show_notice() -> None:
    """Say which runs were let go to keep within the budget, on every page drawn in the next NOTICE_S seconds
    (called by the app; the Compare runs page lists them for good)."""
    tidy()
    notice = st.session_state.get(_NOTICE)
    if notice and time.monotonic() - notice[1] < NOTICE_S:
        st.info(notice[0], icon=":material/memory:")
    elif notice:
        del st.session_state[_NOTICE]


def let_go() -> list[str]:
    """The names of the runs this session let go to keep within its budget, oldest first."""
    return list(st.session_state.get(_GONE, []))


def retire(name: str) -> None:
    """A page's Reset: stop its run; it stays to look at and compare, and once its worker has ended it lets go
    of what only training needs (AdamW's state, the gradients)."""
    run = get(name)
    if run is not None:
        run.stop()
        st.session_state.setdefault(_RETIRED, set()).add(name)
        tidy()


def tidy() -> None:
    """Lighten the retired runs whose worker has ended (llmviz.training.retention.lighten)."""
    retired = st.session_state.get(_RETIRED)
    for name in list(retired or ()):
        run = get(name)
        if run is None or retention.lighten(run):
            retired.discard(name)


def get(name: str | None) -> TrainingRun | None:
    return all_runs().get(name) if name else None


def usable(architecture: str | None = "decoder-only") -> dict[str, TrainingRun]:
    """The runs whose model can be looked at now: trained at least one step, not training, not failed;
    by default only language models (the pages that generate text), None for every architecture."""
    return {n: r for n, r in all_runs().items()
            if r.usable and architecture in (None, getattr(r.model, "architecture", "decoder-only"))}


def busy() -> list[str]:
    return [n for n, r in all_runs().items() if r.running]


def stopping() -> list[str]:
    """Names of this session's runs that were asked to stop and are still computing (forgotten ones
    included): a new run waits for them, so that one session never trains two models by mistake."""
    draining = [r for r in st.session_state.get(_DRAINING, []) if r.running]
    st.session_state[_DRAINING] = draining
    return [n for n, r in all_runs().items() if r.stopping] + [f"a forgotten run ({r.preset or 'model'})" for r in draining]


def forget(names) -> None:
    """Stop and drop these runs (frees their memory once their worker has ended)."""
    guards = st.session_state.setdefault(_GUARDS, {})
    for n in list(names):
        run = all_runs().pop(n, None)
        if run is not None:
            run.stop()
            if run.running:
                st.session_state.setdefault(_DRAINING, []).append(run)
        guards.pop(n, None)
