"""LM5: pre-norm layer normalisation in each block and before the head, and dropout."""

import streamlit as st

from llmviz.training.presets import PRESETS
from pages.shared import training_panel

st.title(PRESETS["lm5"].title)
st.markdown(PRESETS["lm5"].description)
st.markdown(
    "**Layer normalisation** rescales each position's vector to mean 0 and variance 1 (then a learned scale "
    "and shift), before attention, before the feed-forward and before the head. Activations then keep the same "
    "scale from block to block, so a higher learning rate and more blocks stay stable. **Dropout** zeroes a "
    "random fraction of activations while training, so the model cannot lean on any single one: it matters once "
    "the model is big enough to memorise its text. The tutorial's LM5 reaches validation 2.10 with 2 blocks "
    "(30,017 parameters), as good as LM4 with 4."
)
st.caption(f"Scaled up — {PRESETS['lm5-scaled'].description} The tutorial reports train 1.03 / validation "
           "1.63 for it: a large gap, over-fitting. To train it, set block_size 256, n_embd 384, n_head 6, "
           "n_layer 6 and dropout 0.2. That is a GPU job (nanoGPT trains a model this size for 5000 steps in "
           "about 3 minutes on an A100); a small CPU takes about half a minute per step (watch the ETA).")
training_panel.panel("lm5", "lm5")
