"""LM3: LM2 plus a feed-forward layer after attention."""

import streamlit as st

from llmviz.training.presets import PRESETS
from pages.shared import training_panel

st.title(PRESETS["lm3"].title)
st.markdown(PRESETS["lm3"].description)
st.markdown(
    "Attention is *communication*: each position collects a weighted average of the others' values. It has "
    "no non-linearity of its own, so on its own it cannot do much with what it collected. The **feed-forward** "
    "layer is *computation*: the same small Linear + ReLU applied to every position separately. "
    "In the tutorial this does not help yet (validation 2.54 vs LM2's 2.38): one more layer without a residual "
    "path is harder to train. LM4 fixes that."
)
training_panel.panel("lm3", "lm3")
