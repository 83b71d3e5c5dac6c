"""LM4: stacked transformer blocks with residual connections."""

import streamlit as st

from llmviz.training.presets import PRESETS
from pages.shared import training_panel

st.title(PRESETS["lm4"].title)
st.markdown(PRESETS["lm4"].description)
st.markdown(
    "A **block** is attention followed by a feed-forward network that is 4× wider inside "
    "(`n_embd → 4·n_embd → n_embd`). Stacking blocks lets later ones build on what earlier ones found. "
    "Without help, depth makes training harder: the gradient has to pass through every layer and fades. "
    "The **residual connection** `x + f(x)` gives it a straight path from the loss to the first block, so each "
    "block only has to learn a correction. With 4 blocks the tutorial reaches validation 2.09, the best so far."
)
st.caption("Try n_layer 1 vs 4, and compare the runs on the Compare runs page.")
training_panel.panel("lm4", "lm4")
