"""Part 1 · steps 5–6: decode a vector back to a token by cosine similarity; relax one-hot queries."""

import streamlit as st

from llmviz.concepts import vectors
from llmviz.plots import part1 as figs
from pages.shared import part1_inputs, ui

st.title("Relaxing one-hot & cosine similarity")
st.markdown(
    "A network's outputs are never exactly one-hot, so we need a way back from *any* vector to a token: "
    "pick the token whose one-hot vector is **most similar**. The dot product measures similarity but "
    "grows with the vector's length; the **cosine similarity** divides the length out and keeps only the "
    "direction: 1 for the same direction, 0 at right angles. This also lets a query be *almost* a word: "
    "the tutorial's “tables” ≈ 0.95 × table still points at *table*."
)
st.latex(r"\cos(q, k) = \frac{q \cdot k}{\lVert q \rVert \, \lVert k \rVert}")

inp = part1_inputs.inputs("cosine", sentence=False)
vocab = vectors.vocabulary(inp.dictionary)
if not vocab:
    st.stop()

st.subheader("Build a query vector")
st.session_state.setdefault("cos_seed", 0)
c1, c2, c3 = st.columns(3)
word_a = c1.selectbox("Word A", vocab, index=vocab.index("table") if "table" in vocab else 0, key="cos_a")
weight_a = c1.slider("weight of A", -1.0, 2.0, 0.95, 0.05, key="cos_wa")
word_b = c2.selectbox("Word B", vocab, index=vocab.index("chat") if "chat" in vocab else 0, key="cos_b")
weight_b = c2.slider("weight of B", -1.0, 2.0, 0.0, 0.05, key="cos_wb")
noise = c3.slider("random noise", 0.0, 2.0, 0.0, 0.05, key="cos_noise",
                  help="Adds a random vector of about this length, spread over every dimension.")
if c3.button("New noise", key="cos_reroll", icon=":material/casino:"):
    st.session_state["cos_seed"] += 1

mix = vectors.two_word_mix(word_a, weight_a, word_b, weight_b)
q = vectors.mixed_query(vocab, mix, noise, seed=st.session_state["cos_seed"])
word, cos = vectors.decode(q, vocab, metric="cosine")
_, dots = vectors.decode(q, vocab, metric="dot")
ui.plot(figs.row_vector(q, vocab, "the query q"), key="cos_q")

if word is None:
    st.markdown("**Best match:** none — the zero vector has no direction, so it is similar to nothing.")
else:
    st.markdown(f"**Best match:** “{word}” (cosine {cos.max():.3f}) → translated as **“{inp.dictionary[word]}”**")
    ties = [v for v, c in zip(vocab, cos) if c == cos.max() and v != word]
    if ties:
        st.caption(f"Tied with {', '.join(ties)}: the first in vocabulary order wins.")
    if cos.max() < 0.5:
        st.caption("No token is really close (cosine below 0.5): the decoded word is a weak guess.")

left, right = st.columns(2)
with left:
    ui.plot(figs.similarity_bars(vocab, cos, "cosine similarity to every token"), key="cos_bars")
with right:
    ui.plot(figs.similarity_bars(vocab, dots, "dot product with every token", "q · onehot(token)", None),
             key="cos_dots")
st.markdown(
    "Change the weight of A alone: the dot product follows the length of q, the cosine stays at 1 — only "
    "the direction matters. Mix in B: the winner flips when B's weight passes A's. Add noise: the winner "
    "survives a lot of it, which is why a soft, noisy vector can still be read as a word."
)

if word_a != word_b:
    xy, off_plane = vectors.plane_of(q, vocab, word_a, word_b)
    ui.plot(figs.plane_figure(xy, word_a, word_b, off_plane), key="cos_plane")
else:
    st.caption("Pick two different words to see the query in their plane.")

ui.code_expander(vectors.mixed_query, vectors.cosine_similarity, vectors.decode, vectors.plane_of)
