"""The training panel of the LM1 ... LM5 pages (a Streamlit helper, not a page): an LM page is drawn from
its preset alone (llmviz.training.presets: its text, the settings it offers, its diagram, its code).

Settings widgets (kept in the URL) -> llmviz.training.plan -> a TrainingRun started in a worker thread ->
its live view (pages/shared/run_view.py) -> once it ends: generate, next-token bars, attention, save/load
(pages/shared/playground.py).

Session state: the session's runs live in pages/shared/session_runs.py; "<prefix>_current" names the page's run.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from llmviz.plots import training as training_plots
from llmviz.training import pace, plan
from llmviz.training.presets import PRESETS, settings_code, short_name
from llmviz.training.train import TrainingError
from llmviz.wording import plural
from pages.shared import session_runs, ui
from pages.shared.playground import samples_over_time, tools, upload
from pages.shared.run_view import controls, watch, widget

LR_OPTIONS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0]


def lm_page(preset: str, choose=None) -> tuple:
    """An LM page, drawn from its preset: the title, the description, the page's paragraphs, then the training
    panel (its widgets' keys start with the preset's name). choose(): the page's own pick among variants of
    its model, drawn after the paragraphs instead of the description; it returns the preset to train.
    Returns the settings (ModelConfig, TrainConfig, problems) for the page's own extras."""
    p = PRESETS[preset]
    st.title(p.page.title or p.title)
    if choose is None:
        st.markdown(p.description)
    for paragraph in p.page.paragraphs:
        st.markdown(paragraph)
    if p.page.caption:
        st.caption(p.page.caption)
    return panel(choose() if choose else preset, preset)


def settings(preset: str, prefix: str) -> tuple:
    """The sliders of one page -> (ModelConfig, TrainConfig, problems in plain words)."""
    base, tut, knobs = PRESETS[preset].model, PRESETS[preset].train, PRESETS[preset].knobs
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
    model_cfg, train_cfg, problems, guess = plan.plan(
        preset, corpus.n_distinct, corpus.n_chars, model, learning_rate=lr, batch_size=batch, max_iters=iters,
        eval_interval=interval, eval_iters=eval_iters, seed=int(seed), device=ui.current_device(), sample_tokens=sample)
    st.caption(f"Trains on **{train_cfg.device.upper()}** (the sidebar's compute device) with the text "
               f"'{corpus.name}': {corpus.n_chars:,} characters, {model_cfg.vocab_size} distinct."
               + (f" Predicted time: **{pace.say(guess.seconds)}** (estimated from the model's size and this "
                  "machine's speed; the time left is measured once it runs)." if guess else ""))
    for p in problems:
        st.warning(p, icon=":material/block:")
    if guess is not None and guess.long:
        st.warning(f"This run is predicted to take **{pace.say(guess.seconds)}** on this "
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
            run = plan.build(model_cfg, train_cfg, corpus.text, corpus.name, preset, checkpoint_)
    except TrainingError as e:
        st.error(f"Cannot {'load' if checkpoint_ else 'train'}: {e}", icon=":material/error:")
        return None
    run.preset = run.preset or preset  # a checkpoint that does not say which model it is: this page's
    name = session_runs.add(run, name or short_name(run.preset))
    if checkpoint_ is None:
        ui.start_job(run)
    return name


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
    cfg = plan.going_on(ckpt, train_cfg.max_iters, train_cfg.device)
    name = start_run(ckpt.preset or preset, None, cfg, ckpt, f"loaded {file_name}")
    if name:
        st.session_state[f"{prefix}_current"] = name
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=64)
def param_counts(model_cfg) -> dict:
    return plan.param_counts(model_cfg)


def architecture(preset: str, model_cfg) -> None:
    """The data-flow diagram with this model's new parts highlighted, and its parameters by component."""
    left, right = st.columns([1, 1])
    with left:
        st.graphviz_chart(training_plots.architecture_dot(model_cfg, PRESETS[preset].new_parts, dark=ui.dark()))
        st.caption("Highlighted: what this model adds to the previous one."
                   + (" The bold edges are the residual path: x skips past each sub-layer and is added back."
                      if model_cfg.residual else ""))
    with right:
        if not model_cfg.problems():
            ui.plot(training_plots.param_breakdown(param_counts(model_cfg)), key=f"{preset}_params")
            ref = PRESETS[preset].reference
            if ref:
                st.caption(f"The tutorial's {short_name(preset)} has {ref.params:,} parameters with its settings "
                           f"(65 characters); it reached train {ref.train_loss} / validation {ref.val_loss} after "
                           "5000 steps.")


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
                       + (f" · {plural(run.threads, 'thread')}" if run.device == "cpu" else "")
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


def code_behind(preset: str) -> None:
    ui.code_expander(*PRESETS[preset].code, snippets={"llmviz.training.presets": settings_code(preset)})


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
