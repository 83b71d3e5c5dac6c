"""The training panel shared by the LM1 ... LM5 pages (a Streamlit helper, not a page).

Settings widgets (kept in the URL) -> llmviz.training.train.TrainingRun started in a worker thread -> a
fragment that polls it twice a second -> once it ends: generate, next-token bars, attention, save/load
(pages/shared/playground.py).

Session state: the session's runs live in pages/shared/session_runs.py; "<prefix>_current" names the page's run.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from llmviz.training import pace, runs
from llmviz.nn.model import Block, FeedForward, LanguageModel, ModelConfig, MultiHeadAttention
from llmviz.training.presets import PRESETS, preset_config
from llmviz.plots import inside as inside_plots
from llmviz.plots import training as training_plots
from llmviz.plots import transformer as transformer_plots
from llmviz.training.config import TrainConfig, validate
from llmviz.training.train import TrainingError, TrainingRun
from llmviz.text.whitespace import marked
from pages.shared import session_runs, ui
# the model playground; default_prompt is also read as training_panel.default_prompt by next_token.py
from pages.shared.playground import SAMPLE_HEIGHT, default_prompt, samples_over_time, tools, upload  # noqa: F401

LR_OPTIONS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]
# model settings each page offers (the others are what define the model)
KNOBS = {"lm1": ("block_size", "n_embd"), "lm1-masked": ("block_size", "n_embd"),
         "lm2": ("block_size", "n_embd", "n_head"), "lm3": ("block_size", "n_embd", "n_head"),
         "lm4": ("block_size", "n_embd", "n_head", "n_layer"),
         "lm5": ("block_size", "n_embd", "n_head", "n_layer", "dropout")}


def short(preset: str) -> str:
    return PRESETS[preset].title.split(" · ")[0] + (" masked" if preset == "lm1-masked" else "")


def widget(kind, label, key, value, help=None, **kw):
    """A widget kept in the URL and across page switches; its default is `value`."""
    return kind(label, key=key, value=value, help=help, bind="query-params", persist_state="session", **kw)


def settings(preset: str, prefix: str) -> tuple:
    """The sliders of one page -> (ModelConfig, TrainConfig, problems in plain words)."""
    base = preset_config(preset, 65)
    tut = PRESETS[preset].train
    knobs = KNOBS[preset]
    st.markdown("**Settings** (defaults: the tutorial's; they are kept in the page's URL, so a link shares them)")
    c = st.columns(4)
    lr = widget(c[0].select_slider, "Learning rate", f"{prefix}_lr", tut.learning_rate, options=LR_OPTIONS,
                format_func=lambda v: f"{v:g}", help="AdamW's step size. Too high and the loss explodes.")
    batch = widget(c[1].select_slider, "batch_size", f"{prefix}_batch", tut.batch_size, options=[4, 8, 16, 32, 64, 128])
    iters = widget(c[2].slider, "max_iters (steps)", f"{prefix}_iters", tut.max_iters, min_value=10,
                   max_value=5000, step=10, help="The tutorial trains 5000 steps; fewer finish sooner (see the ETA).")
    interval = widget(c[3].select_slider, "eval_interval", f"{prefix}_eval_interval", tut.eval_interval,
                      options=[5, 10, 25, 50, 100, 200, 500, 1000], help="Estimate the losses every this many steps.")
    model = {}
    c = st.columns(4)
    if "block_size" in knobs:
        model["block_size"] = widget(c[0].select_slider, "block_size (context)", f"{prefix}_block", base.block_size,
                                     options=[2, 3, 4, 8, 16, 32, 64, 128, 256])
    if "n_embd" in knobs:
        model["n_embd"] = widget(c[1].select_slider, "n_embd", f"{prefix}_embd", base.n_embd,
                                 options=[4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384])
    if "n_head" in knobs:
        model["n_head"] = widget(c[2].slider, "n_head", f"{prefix}_heads", base.n_head, min_value=1, max_value=8,
                                 help="n_embd must be divisible by n_head: each head gets n_embd / n_head dimensions.")
    if "n_layer" in knobs:
        model["n_layer"] = widget(c[3].slider, "n_layer (blocks)", f"{prefix}_layers", base.n_layer, min_value=1, max_value=6)
    eval_iters = widget(c[0].select_slider, "eval_iters", f"{prefix}_eval_iters", tut.eval_iters,
                        options=[1, 5, 10, 20, 50, 100, 200], help="Batches averaged per loss estimate.")
    if "dropout" in knobs:
        model["dropout"] = widget(c[1].slider, "dropout", f"{prefix}_dropout", base.dropout, min_value=0.0,
                                  max_value=0.5, step=0.05)
    sample = widget(c[2].select_slider, "Sample length", f"{prefix}_sample", 200, options=[0, 50, 100, 200, 500],
                    help="Characters of text generated at each evaluation, to watch the model learn (0: none).")
    seed = widget(c[3].number_input, "seed", f"{prefix}_seed", 1337, min_value=0, max_value=2**31 - 1, step=1)
    corpus = ui.current_corpus()
    model_cfg = replace(preset_config(preset, corpus.n_distinct), **model)
    train_cfg = TrainConfig(learning_rate=lr, batch_size=batch, max_iters=iters, eval_interval=min(interval, iters),
                            eval_iters=eval_iters, seed=int(seed), device=ui.current_device(),
                            sample_tokens=sample)
    problems = validate(model_cfg, train_cfg, corpus.n_chars)
    guess = None if problems else pace.predict(model_cfg, train_cfg, train_cfg.device)
    st.caption(f"Trains on **{train_cfg.device.upper()}** (the sidebar's compute device) with the text "
               f"'{corpus.name}': {corpus.n_chars:,} characters, {model_cfg.vocab_size} distinct."
               + (f" Predicted time: about **{pace.describe(guess.seconds)}** (a rough estimate from the model's "
                  "size and this machine's speed)." if guess else ""))
    for p in problems:
        st.warning(p, icon=":material/block:")
    if guess is not None and guess.long:
        st.warning(f"This run is predicted to take about **{pace.describe(guess.seconds)}** on this "
                   f"{train_cfg.device.upper()} (a step every {pace.describe(guess.step_s)}). Fewer steps, a "
                   "smaller batch_size, block_size or n_embd, or a GPU make it shorter; Stop works at any moment.",
                   icon=":material/hourglass_top:")
    return model_cfg, train_cfg, problems


def start_run(preset: str, model_cfg, train_cfg, checkpoint_=None, name: str | None = None) -> str | None:
    """Build a TrainingRun on the current text, keep it in the session, start it; None (and a message) if refused.
    A checkpoint goes on training (resumed, not started); one that cannot train on this text (its tokenizer
    cannot spell it) is loaded for inspection only."""
    corpus = ui.current_corpus()
    try:
        with st.spinner("Building the model…"):
            if checkpoint_ is None:
                run = TrainingRun.new(model_cfg, train_cfg, corpus.text, preset=preset)
            else:
                try:
                    run = TrainingRun.resume(checkpoint_, train_cfg, corpus.text)
                except TrainingError as e:
                    run = TrainingRun.inspect(checkpoint_, f"it cannot train on the sidebar's text '{corpus.name}': {e}")
    except TrainingError as e:
        st.error(f"Cannot {'load' if checkpoint_ else 'train'}: {e}", icon=":material/error:")
        return None
    run.preset = run.preset or preset  # a checkpoint that does not say which model it is: this page's
    name = session_runs.add(run, name or short(run.preset))
    if checkpoint_ is None:
        ui.start_job(run)
    return name


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
            ui.plot(memo(f"{key}_grads", len(grads), lambda: inside_plots.grad_norm_lines(grads)),
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


def load(preset: str, prefix: str, train_cfg) -> None:
    """An uploaded checkpoint becomes the page's run, to inspect or to train further (max_iters more steps)."""
    got = upload(prefix)
    if got is None:
        return
    ckpt, file_name = got
    if ckpt.architecture != "decoder-only":
        st.error(f"{file_name} holds an {ckpt.architecture} model, not a language model of this page: go on "
                 f"training it with `python -m llmviz train --resume {file_name}`.", icon=":material/error:")
        return
    cfg = TrainConfig.from_dict({**ckpt.train_config.to_dict(), "max_iters": ckpt.step + train_cfg.max_iters,
                                 "device": train_cfg.device})
    name = start_run(ckpt.preset or preset, None, cfg, ckpt, f"loaded {file_name}")
    if name:
        st.session_state[f"{prefix}_current"] = name
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=64)
def param_counts(cfg_items: tuple) -> dict:
    return LanguageModel(ModelConfig(**dict(cfg_items))).param_breakdown()


def architecture(preset: str, model_cfg) -> None:
    """The data-flow diagram with this model's new parts highlighted, and its parameters by component."""
    left, right = st.columns([1, 1])
    with left:
        st.graphviz_chart(training_plots.architecture_dot(model_cfg, training_plots.NEW_PARTS.get(preset, set()), dark=ui.dark()))
        st.caption("Highlighted: what this model adds to the previous one."
                   + (" The bold edges are the residual path: x skips past each sub-layer and is added back."
                      if model_cfg.residual else ""))
    with right:
        if not model_cfg.problems():
            ui.plot(training_plots.param_breakdown(param_counts(tuple(model_cfg.to_dict().items()))), key=f"{preset}_params")
            ref = runs.REFERENCE.get(preset)
            if ref:
                st.caption(f"The tutorial's {short(preset)} has {ref[0]:,} parameters with its settings "
                           f"(65 characters); it reached train {ref[1]} / validation {ref[2]} after 5000 steps.")


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
                   help="Stop and forget this page's run (it stays on the Compare runs page)."):
        run.stop()
        del st.session_state[f"{prefix}_current"]
        st.rerun()
    if waiting:
        wait_for_stops(waiting)


def panel(preset: str, prefix: str) -> tuple:
    """The whole training panel of one model page: buttons and the live view first (pressing Train shows
    the run at once, above the fold), then the diagram (folded away once a run exists), the settings and
    the tools. Returns the settings (ModelConfig, TrainConfig, problems) for the page's own extras."""
    name = st.session_state.get(f"{prefix}_current")
    run = session_runs.get(name)
    head, top, below = st.container(), st.container(), st.container()
    with below:
        model_cfg, train_cfg, problems = settings(preset, prefix)
    with top:
        if run is None:
            architecture(preset, model_cfg)
        else:
            with st.expander("The model: its diagram and parameters", icon=":material/account_tree:"):
                architecture(preset, model_cfg)
    with head:
        controls(prefix, run, lambda: start_run(preset, model_cfg, train_cfg), problems, train_cfg.max_iters)
        if run is None:
            st.info("Press **Train** to start with the settings below the diagram; the loss curves, a look inside "
                    "the model and text samples appear here as it learns. Moving sliders or switching pages does "
                    "not stop it.",
                    icon=":material/info:")
        else:
            st.caption(f"Run **{name}** · {run.n_params:,} parameters · {run.device.upper()}"
                       + (f" · {run.threads} thread(s)" if run.device == "cpu" else "")
                       + " · the settings are below")
            if not run.trainable:
                st.info(f"**{name}** is loaded for inspection only: {run.inspect_only}. Generate, the "
                        "next-token probabilities, attention and Save work. To train it further, pick a text its "
                        "tokenizer can spell in the sidebar (e.g. the corpus it was trained on), then load the "
                        "checkpoint again.", icon=":material/info:")
            watch([name], prefix, inside=True)
    if run is not None and run.usable:
        samples_over_time(run, prefix)
        tools(name, run, prefix)
    load(preset, prefix, train_cfg)
    code_behind(preset)
    return model_cfg, train_cfg, problems


# the code that makes each model what it is: its settings, and the parts of llmviz.nn.model they switch on
CODE = {"lm1": (MultiHeadAttention.forward, LanguageModel.forward),
        "lm1-masked": (MultiHeadAttention.forward, LanguageModel.forward),
        "lm2": (MultiHeadAttention.forward, LanguageModel.forward),
        "lm3": (FeedForward, Block.forward),
        "lm4": (Block.forward, FeedForward),
        "lm5": (Block, LanguageModel.forward)}


def code_behind(preset: str) -> None:
    cfg = PRESETS[preset].model
    differs = {k: v for k, v in cfg.to_dict().items() if v != getattr(ModelConfig(), k) and k != "vocab_size"}
    settings_code = (f"# {PRESETS[preset].title}: the settings of llmviz.nn.model.ModelConfig that differ from its "
                     f"defaults\nModelConfig(\n" + "".join(f"    {k}={v!r},\n" for k, v in differs.items()) + ")")
    ui.code_expander(*CODE.get(preset, (LanguageModel.forward,)), snippets={"llmviz.training.presets": settings_code})


def pair(prefix: str, variants: dict, model_cfg, train_cfg, problems) -> list[str]:
    """Train variants of one model at once with the same settings (label -> (preset, ModelConfig changes))
    and watch them side by side; returns the names of the runs."""
    names = st.session_state.get(f"{prefix}_pair") or []
    all_runs = session_runs.all_runs()
    running = any(all_runs[n].running for n in names if n in all_runs)
    if st.button("Train both, side by side", key=f"{prefix}_both", type="primary", icon=":material/compare:",
                 disabled=running or bool(problems) or bool(session_runs.stopping())):
        names = []
        for label, (preset, changes) in variants.items():
            n = start_run(preset, replace(model_cfg, **changes), train_cfg, name=label)
            if n is None:
                break
            names.append(n)
        st.session_state[f"{prefix}_pair"] = names
        st.rerun()
    if names:
        watch(names, f"{prefix}_pair")
    return names
