"""LM2: several attention heads and a learned position embedding."""

import streamlit as st

from llmviz.training.presets import PRESETS
from pages.shared import training_panel

st.title(PRESETS["lm2"].title)
st.markdown(PRESETS["lm2"].description)
st.markdown(
    "Attention is a weighted average: shuffle the context and the average stays the same, so LM1 cannot tell "
    "*\"dog bites man\"* from *\"man bites dog\"*. A **position embedding** (one learned vector per position, "
    "added to the token's vector) fixes that. **Multi-head** attention splits `n_embd` into `n_head` smaller heads "
    "that each choose what to look at, and a linear projection mixes their results."
)
training_panel.panel("lm2", "lm2")
