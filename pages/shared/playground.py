"""Playing with a trained model (a Streamlit helper, not a page): generate, next-token bars, attention,
save, the samples written while it trained, and loading a checkpoint. Used by pages/shared/training_panel.py."""

from __future__ import annotations

import streamlit as st

from llmviz.io import checkpoint
from llmviz.nn import generate
from llmviz.concepts import next_token
from llmviz.plots import text as text_plots
from llmviz.plots import training as training_plots
from llmviz.text.whitespace import marked, visible
from pages.shared import ui


SAMPLE_HEIGHT = 220  # px: a degenerate sample (mostly newlines) scrolls inside its box, not down the page


def samples_over_time(run, key: str) -> None:
    samples = run.snapshot().extra.get("samples") or {}
    if len(samples) > 1:
        step = st.select_slider("Sample written at step", list(samples), value=list(samples)[-1], key=f"{key}_sample_step")
        st.code(marked(samples[step]), language=None, wrap_lines=True, height=SAMPLE_HEIGHT)


def default_prompt(tok) -> str:
    """The tutorial's kind of prompt if this tokenizer can spell it, else a newline or the first token."""
    for prompt in ("ROMEO:", "First ", "\n"):
        try:
            tok.encode(prompt)
            return prompt
        except ValueError:
            pass
    return tok.decode([0])


def tools(name: str, run, prefix: str) -> None:
    """What to do with a trained model: generate, next-token bars, attention, save."""
    tok, model = run.tokenizer, run.model
    labels = [tok.decode([i]) for i in range(tok.vocab_size)]
    start = default_prompt(tok)
    st.markdown("**Play with the trained model** (sampling settings apply to Generate and the probability bars)")
    c = st.columns(4)
    temperature = c[0].slider("Temperature", 0.0, 2.0, 1.0, 0.05, key=f"{prefix}_temp",
                              help="0: always the most likely token; above 1: flatter, more surprising.")
    top_k = c[1].slider("top-k (0: off)", 0, tok.vocab_size, 0, key=f"{prefix}_topk")
    top_p = c[2].slider("top-p", 0.05, 1.0, 1.0, 0.05, key=f"{prefix}_topp")
    length = c[3].slider("Tokens to generate", 10, 500, 200, 10, key=f"{prefix}_ntok")
    top_k, top_p = (top_k or None), (top_p if top_p < 1 else None)
    gen, bars, att, save = st.tabs(["Generate", "Next-token probabilities", "Attention", "Save"])
    with gen:
        prompt = st.text_input("Prompt", start, key=f"{prefix}_prompt")
        if st.button("Generate", key=f"{prefix}_generate", icon=":material/auto_awesome:"):
            try:
                ids = tok.encode(prompt) or [0]
                out, text, choices = st.empty(), prompt, []
                for k, c in enumerate(generate.generate_traced(model, ids, length, temperature, top_k, top_p)):
                    choices.append(c)
                    text += tok.decode([c.id])
                    if k % 20 == 0:
                        ui.touch_jobs()  # a long generation: the session's other runs know it is still here
                    out.code(text + "▌", language=None, wrap_lines=True)  # streamed token by token
                out.empty()
                st.session_state[f"{prefix}_generated"] = (name, prompt, tuple(choices))
            except ValueError as e:
                st.warning(f"Cannot use this prompt: {e}")
        generated(name, tok, labels, prefix)
    with bars:
        prompt = st.text_input("Prompt", start, key=f"{prefix}_bars_prompt")
        try:
            probs = generate.next_token_probs(model, tok.encode(prompt) or [0], temperature, top_k, top_p)
            ui.plot(training_plots.probability_bars(probs, labels, chosen=int(probs.argmax())), key=f"{prefix}_bars")
        except ValueError as e:
            st.warning(f"Cannot use this prompt: {e}")
    with att:
        prompt = st.text_input(f"Prompt (the last {model.config.block_size} tokens are used)", start,
                               key=f"{prefix}_att_prompt")
        try:
            t = next_token.trace(model, tok.encode(prompt) or [0], tok)
            layer = st.slider("Block", 1, len(t.attention), 1, key=f"{prefix}_att_layer") if len(t.attention) > 1 else 1
            heads = t.attention[layer - 1]
            cols = st.columns(min(4, len(heads)))
            for h, w in enumerate(heads):
                with cols[h % len(cols)]:
                    ui.plot(training_plots.attention_heatmap(w, t.tokens, t.causal, f"block {layer}, head {h + 1}"),
                             key=f"{prefix}_att_{h}")
            st.caption("Each row is a position of the prompt; it spreads 100% of its attention over the columns. "
                       + ("Grey cells are the future, hidden by the causal mask: their score was −∞, so their weight is 0." if t.causal else
                          "No mask: every position also draws from the positions after it — the future."))
        except ValueError as e:
            st.warning(f"Cannot use this prompt: {e}")
    with save:
        st.download_button("Download the checkpoint (.safetensors)", key=f"{prefix}_download",
                           data=lambda: checkpoint.run_to_bytes(run, {"preset": getattr(run, "preset", ""), "name": name}),
                           file_name=f"{name}.safetensors".replace(" ", "_"), icon=":material/download:",
                           on_click="ignore")


def generated(name: str, tok, labels: list[str], prefix: str) -> None:
    """The last text generated from this run: each token coloured by the model's probability for it, its
    alternatives on hover; clicking a token (or choosing it on the slider) shows its alternatives as bars.
    The plain text below."""
    kept = st.session_state.get(f"{prefix}_generated")
    if not kept or kept[0] != name:
        return
    _, prompt, choices = kept
    if not choices:
        st.code(prompt, language=None, wrap_lines=True, height=SAMPLE_HEIGHT)
        return
    words = [tok.decode([c.id]) for c in choices]
    alts = [", ".join(f"{visible(tok.decode([i]))} {p:.0%}" for i, p in c.top) for c in choices]
    pick_key, chart_key = f"{prefix}_inspect", f"{prefix}_tokens"
    if st.session_state.get(pick_key, 0) >= len(choices):  # a shorter text than the last one
        st.session_state[pick_key] = 0

    def clicked():  # a click on a token selects it: the slider (and so the bars below) follows
        points = st.session_state[chart_key].selection.points
        tokens = [pt["point_index"] for pt in points if pt.get("curve_number", 0) == 0]
        if tokens:
            st.session_state[pick_key] = tokens[0]

    pick = st.session_state.get(pick_key, 0)
    st.caption("Background: the model's probability for the token it wrote, from red (low) to green (sure). "
               "**Click a token** to see the alternatives it had; hover for the likeliest.")
    st.plotly_chart(text_plots.token_grid(words, [c.prob for c in choices], alts, prompt, selected=pick, dark=ui.dark()),
                    width="stretch", key=chart_key, on_select=clicked, selection_mode="points",
                    config={"displayModeBar": False})
    pick = st.select_slider("Inspect a token: its alternatives", list(range(len(choices))),
                            format_func=lambda i: f"#{i + 1} {visible(words[i])}", key=pick_key)
    c = choices[pick]
    probs = [0.0] * len(labels)
    for i, p in c.top:
        probs[i] = p
    ui.plot(training_plots.probability_bars(probs, labels, chosen=c.id, title=f"Token #{pick + 1}: the model's "
                                f"{len(c.top)} likeliest choices (orange: the one it wrote, {c.prob:.1%})"),
             key=f"{prefix}_inspect_bars")
    st.code(prompt + "".join(words), language=None, wrap_lines=True, height=SAMPLE_HEIGHT)


def upload(prefix: str) -> tuple | None:
    """The uploader: (llmviz.io.checkpoint.Checkpoint, file name) once per new file, None otherwise; a file that
    is not a checkpoint is refused, and the refusal stays on screen while the file is there."""
    f = st.file_uploader("Load a checkpoint to inspect or continue", type=["safetensors"], key=f"{prefix}_upload")
    if f is None:
        return None
    seen = st.session_state.get(f"{prefix}_loaded")
    if seen and seen[0] == f.file_id:  # handled already; keep saying why it was refused
        if seen[1]:
            st.error(seen[1], icon=":material/error:")
        return None
    try:
        ckpt = checkpoint.from_bytes(f.getvalue())
    except checkpoint.CheckpointError as e:
        st.session_state[f"{prefix}_loaded"] = (f.file_id, f"{f.name} was refused: {e}")
        st.error(f"{f.name} was refused: {e}", icon=":material/error:")
        return None
    st.session_state[f"{prefix}_loaded"] = (f.file_id, "")
    return ckpt, f.name
