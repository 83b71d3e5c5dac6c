"""The session's training runs (a Streamlit helper, not a page): the one place that knows where they live.

Every run the learner starts is kept by name in this browser session, so the Compare runs, Next token
and Embeddings pages can find it. Each run comes with a guard that stops its worker when Streamlit
drops the session's state (a closed tab), so no training outlives its learner.
"""

from __future__ import annotations

import streamlit as st

from llmviz.training import runs
from llmviz.training.train import TrainingRun

_RUNS, _GUARDS, _DRAINING = "runs", "_run_guards", "_runs_draining"


def all_runs() -> dict[str, TrainingRun]:
    """Every run of this session by name, oldest first (the dict itself: do not modify it directly)."""
    return st.session_state.setdefault(_RUNS, {})


def add(run: TrainingRun, name: str) -> str:
    """Keep a run under name (or "name (2)" if taken) and tie its worker to this session; returns the name."""
    name = runs.unique_name(name, all_runs())
    all_runs()[name] = run
    st.session_state.setdefault(_GUARDS, {})[name] = runs.stop_when_dropped(run, name)
    return name


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
