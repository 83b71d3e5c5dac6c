"""A run on screen (a Streamlit helper, not a page), for every page that trains something: widgets kept in
the URL, Train / Stop / Continue / Reset, and the live view of one or more runs (progress, loss curves,
tokens/s, text samples, a look inside the model), a fragment that polls them twice a second.
"""

from __future__ import annotations

import streamlit as st

from llmviz.plots import inside as inside_plots
from llmviz.plots import training as training_plots
from llmviz.plots import transformer as transformer_plots
from llmviz.text.whitespace import marked
from llmviz.training import runs
from pages.shared import session_runs, ui
from pages.shared.playground import SAMPLE_HEIGHT


def widget(kind, label, key, value, help=None, **kw):
    """A widget kept in the URL and across page switches; its default is `value`."""
    return kind(label, key=key, value=value, help=help, bind="query-params", persist_state="session", **kw)


def controls(prefix: str, run, start, problems, more_iters: int) -> None:
    """Train / Stop / Continue / Reset for the page's run ("<prefix>_current"); start() builds and starts a
    run (with ui.start_job) and returns its name (None when refused)."""
    running = run is not None and run.running
    waiting = session_runs.stopping()  # runs asked to stop that still compute: a new one waits for them
    b = st.columns([1, 1, 1, 1, 3])
    if b[0].button("Train", key=f"{prefix}_train", type="primary", icon=":material/play_arrow:",
                   disabled=running or bool(problems) or bool(waiting)):
        name = start()
        if name:
            st.session_state[f"{prefix}_current"] = name
            st.rerun()
    # Stop returns at once: the worker ends within a forward pass, the fragment below shows "stopping…"
    if b[1].button("Stop", key=f"{prefix}_stop", icon=":material/stop:", disabled=not running or run.stopping):
        run.stop()
        st.rerun()
    # a paused run resumes to its end; a loaded or finished one trains more_iters (max_iters as set now) more steps
    resumable = run is not None and run.state in ("stopped", "idle", "finished") and run.trainable
    if b[2].button("Continue", key=f"{prefix}_continue", icon=":material/resume:",
                   disabled=not resumable or bool(waiting),
                   help=f"Resume a stopped run; a loaded or finished one trains {more_iters:,} more "
                        "steps (max_iters) from where it is."):
        if run.state == "idle" or run.step >= run.train_cfg.max_iters:
            run.extend(run.step + more_iters)
        ui.start_job(run)
        st.rerun()
    if b[3].button("Reset", key=f"{prefix}_reset", icon=":material/restart_alt:", disabled=run is None,
                   help="Stop and forget this page's run (it stays on the Compare runs page, to compare; what "
                        "only training needs is let go, so it cannot train further)."):
        session_runs.retire(st.session_state.pop(f"{prefix}_current"))
        st.rerun()
    if waiting:
        wait_for_stops(waiting)


def wait_for_stops(names: list[str]) -> None:
    """Say which runs are still finishing their forward pass; redraw the page once they have ended."""
    @st.fragment(run_every=0.5)
    def waiting():
        left = session_runs.stopping()
        if not left:
            st.rerun()
        st.caption(f"Waiting for {', '.join(left)} to stop (it ends after the forward pass in progress); "
                   "Train is available again then.")

    waiting()


def memo(key: str, sig, build):
    """A figure rebuilt only when its signature changed (most polls find nothing new)."""
    cache = st.session_state.setdefault("_live_figures", {})
    if key not in cache or cache[key][0] != sig:
        cache[key] = (sig, build())
    return cache[key][1]


def live_figure(key: str, snaps: dict, vocab_size: int | None = None, draw=None):
    """The loss curves, with the loss of a model that knows nothing (ln vocabulary) as a baseline; or
    draw(histories) for what else a run measures."""
    sig = tuple((n, len(s.history), s.state) for n, s in snaps.items())
    histories = lambda: {n: s.history for n, s in snaps.items()}  # noqa: E731
    if draw is not None:
        return memo(key, sig, lambda: draw(histories()))
    return memo(key, sig, lambda: training_plots.loss_curves(histories(),
                                                baseline=runs.uniform_loss(vocab_size) if vocab_size else None))


def loss_words(loss: float) -> str:
    return f"{loss:.3f} (perplexity {runs.perplexity(loss):.1f})"


def inside_views(key: str, snap, labels: list[str]) -> None:
    """The live look inside one run (llmviz.nn.inside, taken by the trainer between steps): attention over a
    window of text, the token-embedding table in 2-D, and the gradient norm of each layer."""
    look, grads = snap.extra.get("inside"), snap.extra.get("grad_norms") or ()
    if look is None and not grads:
        return
    st.markdown(f"**Inside the model, live** (at step {look.step if look else grads[-1][0]:,}; redrawn while it trains)")
    c = st.columns(3)
    with c[0]:
        if look is not None:
            n_layer, n_head = look.attention.shape[:2]
            pick = (0, 0)
            if n_layer * n_head > 1:
                options = [(b, h) for b in range(n_layer) for h in range(n_head)]
                pick = st.selectbox("Attention of", options, format_func=lambda o: f"block {o[0] + 1}, head {o[1] + 1}",
                                    key=f"{key}_live_head")
            st.caption("Attention over a window of validation text (row: the position that looks; column: where)")
            ui.plot(memo(f"{key}_att", (look.step, pick), lambda: training_plots.attention_heatmap(
                look.attention[pick], look.tokens, look.causal, annotate=False)), key=f"{key}_live_att")
    with c[1]:
        if look is not None:
            st.caption("The token embedding table in 2-D (PCA): watch characters of a kind drift together")
            ui.plot(memo(f"{key}_emb", look.step, lambda: inside_plots.embedding_map(
                look.embedding_xy, labels, look.explained)), key=f"{key}_live_emb")
    with c[2]:
        if grads:
            st.caption("Gradient norm per layer: how strongly each layer is being changed")
            ui.plot(memo(f"{key}_grads", (len(grads), grads[-1][0]), lambda: inside_plots.grad_norm_lines(grads)),
                     key=f"{key}_live_grads")


def watch(names: list[str], key: str, inside: bool = False) -> None:
    """Progress, live loss curves (perplexity on hover), tokens/s and the latest text sample of one or more
    runs; with `inside`, the live look inside the (single) run too."""
    all_runs = session_runs.all_runs()
    running = any(all_runs[n].running for n in names if n in all_runs)
    shown = {n: all_runs[n] for n in names if n in all_runs}
    vocab = {r.model_cfg.vocab_size for r in shown.values()}
    vocab_size = vocab.pop() if len(vocab) == 1 else None  # the baseline is drawn when the runs share one
    labels = []
    if inside and len(shown) == 1:
        tok = next(iter(shown.values())).tokenizer
        labels = [tok.decode([i]) for i in range(tok.vocab_size)]

    @st.fragment(run_every=0.5 if running else None)
    def live():
        snaps = {n: r.snapshot() for n, r in shown.items()}
        for n, s in snaps.items():
            last = s.history[-1] if s.history else None
            speed = f" · {last.tokens_per_s:,.0f} tokens/s" if last and last.tokens_per_s else ""
            mfu = shown[n].mfu(last.tokens_per_s) if speed else None
            speed += f" · MFU {mfu:.0%}" if mfu is not None else ""  # on a GPU: the share of its peak used
            loss = f" · validation loss {loss_words(last.val_loss)}" if last else ""
            st.progress(s.fraction, text=f"**{n}**: {s.state} · step {s.step:,} of {s.total:,}{loss}{ui.time_left(s)}{speed}")
            if s.state == "failed":
                st.error(f"{n} failed: {s.reason}", icon=":material/error:")
        ui.plot(live_figure(key, snaps, vocab_size), key=f"{key}_loss")
        if any(transformer_plots.has_metrics(s.history) for s in snaps.values()):
            # what the run measures besides the loss (translation: held-out exact match and BLEU)
            ui.plot(live_figure(f"{key}_metrics", snaps, draw=transformer_plots.metric_curves), key=f"{key}_metrics")
        if inside and len(snaps) == 1:
            inside_views(key, next(iter(snaps.values())), labels)
        cols = st.columns(len(snaps)) if len(snaps) > 1 else [st.container()]
        for col, (n, s) in zip(cols, snaps.items()):
            sample = s.extra.get("sample")
            if sample:
                col.caption(f"{n}: sample at step {s.history[-1].step if s.history else 0} (⏎ marks a new line)")
                col.code(marked(sample), language=None, wrap_lines=True, height=SAMPLE_HEIGHT)
        if running and all(s.done for s in snaps.values()):
            st.rerun()  # stop polling; draw what needs a finished model

    live()
