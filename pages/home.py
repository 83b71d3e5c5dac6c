"""Home: the map of the tutorial, a link to every page, and where the maths runs."""

import streamlit as st

from pages.shared import ui
from pages._registry import HOME, sections

st.title("llmviz · how a language model works, built from scratch")
st.markdown(
    "This app follows the tutorial *LLMs from dummies*, in four parts. **Part 1** turns a plain dictionary "
    "lookup into attention, one small step per page. **Part 2** builds five language models on top of it, each "
    "adding one idea, trains them live on your own machine, and ends with the full transformer, an "
    "encoder–decoder that learns to translate. **Part 3** pre-trains a base and fine-tunes it (fully, with a "
    "frozen body, with LoRA), instruction-tunes it into a small chat model that answers from context and calls "
    "a tool, and preference-tunes it (DPO). **Part 4** serves your model behind an OpenAI-compatible API, drives "
    "it with LangChain and gives it a vector database to answer from. Change anything, press Train, and look inside."
)

corpus = ui.current_corpus()
left, right = st.columns(2)
left.metric("Text to learn from", corpus.name)
left.caption(f"{corpus.n_chars:,} characters, {corpus.n_distinct} distinct · change it in the sidebar")


polling = ui.available_devices() is None


@st.fragment(run_every=0.5 if polling else None)
def device_card():
    # torch is imported in the background at start-up; show the device as soon as it is known
    devices = ui.available_devices()
    if devices is None:  # torch is still being imported (a second or two): the card appears once it is known
        return
    from llmviz.device import describe

    how = "detected automatically" if st.session_state.get(ui.DEVICE_KEY, "auto") == "auto" else "chosen in the sidebar"
    st.metric("Compute device", describe(ui.current_device()))
    st.caption(f"{how} · small models train on one CPU thread, which is faster than several for them")
    if polling:
        st.rerun()  # a full rerun redraws the page without the polling


with right:
    device_card()

for section, pages in sections().items():
    if section == HOME:
        continue
    st.subheader(section)
    # two pages a row, the title a link and its summary below it: a summary wraps, never cut at the edge
    for row in range(0, len(pages), 2):
        for column, page in zip(st.columns(2), pages[row:row + 2]):
            column.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
            column.caption(page.summary)
