"""LM1: token embedding -> one attention head -> linear head, without and with the causal mask."""

import streamlit as st

from llmviz.presets import PRESETS
from pages import _runs, _training

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
model_cfg, train_cfg, problems = _training.panel(preset, "lm1")

st.header("The punchline: the unmasked model cheats")
st.markdown(
    "Train both versions with the settings above and compare. During training every position of a block must "
    "predict the token after it — and **without the mask that token is sitting right there in the input**, one "
    "position to the right. The unmasked head learns to copy it: its loss drops lower than the honest model's "
    "(the tutorial: 2.22 vs 2.48 on Tiny Shakespeare). At generation time, though, the next token does not exist "
    "yet: the last position has nothing to copy, the trick it relied on is gone, and it writes garbage "
    "(\"hhhh…\"). The masked model's loss is the honest one, and its samples start to look like text."
)
names = _training.pair("lm1", {"LM1 unmasked": ("lm1", {"causal": False}),
                               "LM1 masked": ("lm1-masked", {"causal": True})}, model_cfg, train_cfg, problems)
done = [r for r in map(_runs.get, names) if r is not None and r.snapshot().done and r.history]
if len(done) == 2:
    (a, b) = (r.history[-1] for r in done)
    verdict = "lower" if a.val_loss < b.val_loss else "not lower (train longer to see it)"
    st.success(f"Unmasked: train {a.train_loss:.3f} / validation {a.val_loss:.3f}; masked: train "
               f"{b.train_loss:.3f} / validation {b.val_loss:.3f}. The cheating model's loss is {verdict} — "
               "now read the two samples above.", icon=":material/lightbulb:")
