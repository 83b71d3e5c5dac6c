"""LM1: token embedding -> one attention head -> linear head, without and with the causal mask."""

from dataclasses import replace

import streamlit as st

from llmviz.concepts import cheating
from llmviz.training.presets import PRESETS
from pages.shared import session_runs, training_panel, ui

st.title("LM1 · one attention head")
st.markdown(
    "The smallest language model of the tutorial: each token id picks a row of the **token embedding** table, "
    "**one attention head** lets each position gather information from the others, and a **linear layer** turns "
    "the result into one score (logit) per token of the vocabulary. Softmax makes the scores probabilities of "
    "the next token. Training pushes up the probability of the token that really came next."
)
masked = st.toggle("Causal mask", value=False, key="lm1_mask", bind="query-params", persist_state="session",
                   help="Off: the tutorial's first LM1, which may look at later positions. On: the honest one.")
preset = "lm1-masked" if masked else "lm1"
st.info(PRESETS[preset].description, icon=":material/visibility:" if masked else ":material/visibility_off:")
model_cfg, train_cfg, problems = training_panel.panel(preset, "lm1")

st.header("The punchline: the unmasked model cheats")
st.markdown(
    "During training every position of a block must predict the token after it — and **without the mask, "
    "attention also draws on the tokens after it**, the answer among them. LM1 has no position embedding, so it "
    "cannot tell *where* a token sits and cannot simply copy \"the next position\". What it can use is *which* "
    "characters are in the window: its attention averages their vectors, a bag of the characters present, and the "
    "one it must predict is always in that bag. That narrows the guess to the dozen or so characters of a "
    "16-character window out of 65, but not to one of them: the loss drops, only modestly (the tutorial: 2.22 "
    "vs 2.48 on Tiny Shakespeare). At generation time the last position has no future in its window; favouring "
    "\"characters that are present\" now misleads it, and its text falls apart (often into newlines or one "
    "repeated letter). The masked model's loss is the honest one, and its samples start to look like text."
)
st.markdown(f"**Train both, side by side**, with the settings above except these two (defaults: "
            f"{cheating.PAIR_STEPS} steps at {cheating.PAIR_LEARNING_RATE:g}, about a minute on a small CPU, enough "
            "for the cheat to pay):")
c = st.columns(4)
pair_iters = training_panel.widget(c[0].slider, "Steps for the pair", "lm1_pair_iters", cheating.PAIR_STEPS,
                              min_value=50, max_value=5000, step=50)
pair_lr = training_panel.widget(c[1].select_slider, "Learning rate for the pair", "lm1_pair_lr", cheating.PAIR_LEARNING_RATE,
                           options=training_panel.LR_OPTIONS, format_func=lambda v: f"{v:g}")
pair_cfg = replace(train_cfg, learning_rate=pair_lr, max_iters=pair_iters, eval_interval=max(10, pair_iters // 10),
                   eval_iters=cheating.PAIR_EVAL_ITERS, sample_tokens=train_cfg.sample_tokens or 200)
names = training_panel.pair("lm1", {"LM1 unmasked": ("lm1", {"causal": False}),
                               "LM1 masked": ("lm1-masked", {"causal": True})}, model_cfg, pair_cfg, problems)
done = [r for r in map(session_runs.get, names) if r is not None and r.snapshot().done and r.history]
if len(done) == 2:
    (a, b), (sa, sb) = (r.history[-1] for r in done), (r.snapshot().extra.get("sample", "") for r in done)
    v = cheating.judge(a.val_loss, b.val_loss, sa, sb, ui.current_corpus().text)
    st.markdown(f"Unmasked: train {a.train_loss:.3f} / validation {a.val_loss:.3f}; masked: train "
                f"{b.train_loss:.3f} / validation {b.val_loss:.3f}.")
    show = {"shown": st.success, "alike": st.info, "close": st.warning, "reversed": st.warning}[v.kind]
    show(v.message, icon=":material/lightbulb:")
ui.code_expander(cheating.char_mix_distance, cheating.judge, title="The code that judges the pair")
