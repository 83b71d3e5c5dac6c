"""Training deep networks: vanishing gradients, residual connections, layer norm, dropout."""

from dataclasses import replace

import streamlit as st

from llmviz.concepts import deep
from llmviz.plots import deep as deep_plots
from pages.shared import ui

st.title("Training deep networks")
st.markdown(
    "Stacking more blocks should let a model learn more, but a plain deep stack barely learns at all. "
    "Back-propagation multiplies the gradient by every layer's derivative on its way down; when those "
    "factors are small, the first blocks get almost nothing (**vanishing gradients**). A **residual "
    "connection** (x + f(x)) gives the gradient a direct path around every block, and **layer "
    "normalisation** keeps each block's input at a steady scale. Below, the same small transformer is "
    "trained at several depths with both switched on or off, on the same batches."
)


corpus = ui.current_corpus()


def controls(prefix: str, variants, cfg, can_start: bool = True) -> None:
    """Train/Stop for one experiment (its job and variants kept as <prefix>_job, <prefix>_variants)."""
    job = st.session_state.get(f"{prefix}_job")
    start, stop = ui.train_stop_buttons(prefix, job is not None and job.running, can_start)
    if start:
        try:
            st.session_state[f"{prefix}_job"] = ui.start_job(deep.deep_job(corpus.text, variants, cfg))
            st.session_state[f"{prefix}_variants"] = variants
            st.rerun()  # redraw the buttons: Stop enabled, Train disabled
        except deep.DeepError as e:
            st.error(str(e))
    if stop and job is not None:
        job.stop()


tab_depth, tab_dropout = st.tabs(["Depth, residuals and layer norm", "Dropout"])

with tab_depth:
    c1, c2, c3 = st.columns([2, 4, 2])
    depths = c1.multiselect("Depths (blocks)", [1, 2, 4, 8, 16], default=[2, 8, 16], key="deep_depths")
    archs = c2.multiselect("Architectures", list(deep.ARCHITECTURES), key="deep_archs",
                           default=["plain (no residual, no norm)", "residual + layer norm"])
    steps = c3.slider("Steps", 20, 1000, 100, step=10, key="deep_steps")
    lr = c3.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], value=1e-3, key="deep_lr")
    variants = deep.depth_variants(sorted(depths), [deep.ARCHITECTURES[a] for a in archs])
    cfg = deep.DeepConfig(steps=steps, learning_rate=lr, device=ui.current_device())
    st.caption(f"{len(variants)} models of width {cfg.n_embd}, trained on the first {cfg.max_chars:,} characters "
               f"of {corpus.name}, batch {cfg.batch_size} × {cfg.block_size} characters, AdamW.")
    controls("deep", variants, cfg, bool(variants))
    if not variants:
        st.info("Choose at least one depth and one architecture.")

    def depth_panel(snap):
        variants = st.session_state["deep_variants"]
        left, right = st.columns(2)
        with left:
            ui.plot(deep_plots.loss_curves(snap.history, variants), key="deep_loss")
        with right:
            ui.plot(deep_plots.layer_profile(snap.history, variants, "grad"), key="deep_grad_profile")
        st.markdown("**Gradient norm of every layer at every logged step** (one colour scale for both): "
                    "dark top rows mean the first layers hardly learn.")
        labels = [v.label for v in variants]
        h1, h2 = st.columns(2)
        zrange = deep_plots.grad_range(snap.history)
        # by default the deepest stack in its first and last architecture: the starkest contrast
        deepest = [i for i, v in enumerate(variants) if v.n_layer == max(v.n_layer for v in variants)]
        for col, key, default in ((h1, "deep_heat_a", deepest[0]), (h2, "deep_heat_b", deepest[-1])):
            with col:
                pick = st.selectbox("Model", range(len(labels)), index=default, format_func=labels.__getitem__, key=key)
                ui.plot(deep_plots.grad_heatmap(snap.history, variants, pick, zrange), key=f"{key}_fig")
        ui.plot(deep_plots.layer_profile(snap.history, variants, "act"), key="deep_act")
        st.caption("With residuals, every block adds to a shared stream, so its scale creeps up with depth; with "
                   "pre-norm each block still reads a normalised copy. Without residuals, each block's output is all "
                   "that goes on: in a plain stack the signal shrinks block after block, and so does the gradient.")

    ui.watch_job("deep_job", depth_panel,
                  idle="Press **Train**: every model takes one step in turn, and the charts fill in live.")

with tab_dropout:
    st.markdown(
        "With a small text and a big enough model, training memorises the training split: its loss keeps "
        "falling while the validation loss turns back up (**over-fitting**). **Dropout** zeroes a random share "
        "of activations at each training step, so no unit can rely on another one; the gap between training "
        "and validation loss shrinks."
    )
    base = deep.DROPOUT_CONFIG
    c1, c2 = st.columns(2)
    dropout = c1.slider("Dropout", 0.05, 0.6, 0.3, step=0.05, key="drop_p")
    d_steps = c2.slider("Steps", 100, 2000, base.steps, step=50, key="drop_steps")
    dcfg = replace(base, steps=d_steps, device=ui.current_device())
    d_variants = deep.dropout_variants(2, dropout)
    st.caption(f"Two 2-block models of width {dcfg.n_embd} trained on only the first {dcfg.max_chars:,} characters "
               f"of {corpus.name} (80% train, 20% validation), learning rate {dcfg.learning_rate:g}.")
    controls("drop", d_variants, dcfg)

    def dropout_panel(snap):
        variants = st.session_state["drop_variants"]
        ui.plot(deep_plots.dropout_curves(snap.history, variants), key="drop_curves")
        cols = st.columns(len(variants))
        for i, (col, v) in enumerate(zip(cols, variants)):
            ev = deep.eval_stats(snap.history, i)
            if ev:
                best = min(ev, key=lambda r: r.val_loss)
                col.metric(f"Gap (validation − train) · {v.label}", f"{deep.gap(snap.history, i):.2f}",
                           f"best validation {best.val_loss:.2f} at step {best.step}", delta_color="off",
                           delta_arrow="off")

    ui.watch_job("drop_job", dropout_panel, idle="Press **Train** to train both models side by side.")

ui.code_expander(deep.layer_grad_norms, deep.activation_rms, deep.train_variants)
