"""Part 1 · step 3: vocabularies and one-hot vectors."""

import pandas as pd
import streamlit as st

from llmviz.concepts import vectors
from llmviz.plots import part1 as figs
from pages.shared import part1_inputs, ui

st.title("Vocabularies & one-hot encoding")
st.markdown(
    "A neural network computes with numbers, not words. First list every token we know, sorted: that "
    "list is the **vocabulary**, and a token's position in it is its id. The French keys make the "
    "*input* vocabulary, the English values the *output* vocabulary. Then write each token as a "
    "**one-hot** vector: as many numbers as there are tokens in the vocabulary, all 0 except a single 1 "
    "at the token's position."
)

inp = part1_inputs.inputs("one_hot")
in_vocab = vectors.vocabulary(inp.dictionary)
out_vocab = vectors.vocabulary(inp.dictionary.values())

left, right = st.columns(2)
left.markdown(f"**Input vocabulary** ({len(in_vocab)} tokens)")
left.dataframe(pd.DataFrame({"id": range(len(in_vocab)), "token": in_vocab}), hide_index=True, key="oh_in_vocab")
right.markdown(f"**Output vocabulary** ({len(out_vocab)} tokens)")
right.dataframe(pd.DataFrame({"id": range(len(out_vocab)), "token": out_vocab}), hide_index=True,
                key="oh_out_vocab")
if len(out_vocab) < len(inp.dictionary):
    st.caption("Several keys share a translation (le and la both give *the*), so the output vocabulary is "
               "shorter than the dictionary.")

if in_vocab:
    st.subheader("One token, one vector")
    token = st.selectbox("Token", in_vocab, key="oh_token", index=in_vocab.index("chat") if "chat" in in_vocab else 0)
    v = vectors.one_hot(token, in_vocab)
    st.latex(r"\text{onehot}(\text{" + part1_inputs.latex_text(token) + r"}) = ["
             + ",\\,".join(str(int(x)) for x in v[:40]) + (r",\dots" if len(v) > 40 else "") + "]")
    ui.plot(figs.row_vector(v, in_vocab, f"one-hot vector of “{token}”", highlight=[in_vocab.index(token)],
                             fmt=".0f"), key="oh_vector")

    if inp.tokens:
        st.subheader("The sentence as a matrix")
        m = vectors.one_hot_matrix(inp.tokens, in_vocab)
        ui.plot(figs.one_hot_figure(m, inp.tokens, in_vocab, "one row per token of the sentence, one column per vocabulary entry"),
                 key="oh_sentence")
        unknown = [t for t in dict.fromkeys(inp.tokens) if t not in in_vocab]
        if unknown:
            st.markdown("Tokens with **no position** in the vocabulary get an all-zero row (outlined): "
                        + ", ".join(f"*{t}*" for t in unknown)
                        + ". A one-hot vector has no notion of “close to *table*” — the next pages relax it.")

st.subheader("What happens as the vocabulary grows")
extra = st.slider("Add this many (imaginary) words to the vocabulary", 0, 100_000, 0, step=1000, key="oh_extra")
size = len(in_vocab) + extra
c1, c2 = st.columns(2)
c1.metric("numbers in each one-hot vector", f"{size:,}")
c2.metric("of which are zero", f"{100 * (1 - 1 / size):.3f} %" if size else "—")
st.markdown("Every new word makes **every** vector one number longer, and all but one of those numbers "
            "are zero: one-hot vectors are huge, sparse, and say nothing about which words are alike. "
            "Hence tokenizers with a fixed vocabulary (BPE) and dense learned embeddings, later in Part 1.")
ui.plot(figs.vector_length_figure(len(in_vocab), extra), key="oh_growth")

ui.code_expander(vectors.vocabulary, vectors.one_hot, vectors.one_hot_matrix)
