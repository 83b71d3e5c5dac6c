"""Part 1 · step 4: a dictionary lookup written as a matrix product, q·Kᵀ·V."""

import numpy as np
import streamlit as st

from llmviz.concepts import lookup, vectors
from llmviz.plots import part1 as figs
from pages.shared import part1_inputs, ui

st.title("A dictionary as a matrix product")
st.markdown(
    "Stack the one-hot vectors of the dictionary's keys as the rows of a matrix **K**, and the one-hot "
    "vectors of their translations, in the same order, as the rows of **V**: row *i* of V is the value "
    "of key *i*. For a one-hot query **q**, the product q·Kᵀ has a 1 exactly at the row of the matching "
    "key and 0 elsewhere, and multiplying that by V picks out the matching row of V — the translation. "
    "A lookup has become two matrix products, which is something a neural network can do."
)
st.latex(r"\text{value} = (q \cdot K^\top) \cdot V")

inp = part1_inputs.inputs("matrix_dictionary", sentence=False)
if not inp.dictionary:
    st.stop()
m = vectors.dictionary_matrices(inp.dictionary)

c1, c2 = st.columns([2, 1])
query = c1.text_input("Query word", value="sous", key="md_query", max_chars=40).strip().lower()
relax = c2.toggle("Relax a missing word to its closest key", value=False, key="md_relax",
                  help="A word that is not a key has no one-hot position. This gives it a shrunk one-hot "
                       "vector of its closest key (by edit distance) instead.")

if relax:
    q, key, strength = vectors.relaxed_query(query, m.keys, m.in_vocab)
else:
    q = vectors.one_hot(query, m.in_vocab)
    key, strength = (query, 1.0) if query in m.keys else (None, 0.0)
scores, value = vectors.hard_lookup(q, m.K, m.V)
word, _ = vectors.decode(value, m.out_vocab)
chosen = [m.keys.index(key)] if key is not None and strength > 0 else []

if not query:
    st.info("Type a query word.", icon=":material/info:")
elif key is None:
    st.markdown(f"“{query}” is not a key, so its one-hot vector is all zeros: q·Kᵀ selects **no** row and "
                "the lookup returns the zero vector. Turn on the toggle to relax it.")
elif key != query:
    st.markdown(f"“{query}” is not a key; its closest key is “{key}”, so q = {strength:.2f} × onehot({key}).")

# three rows of pictures whose columns line up like the product: q above K, q·Kᵀ beside it, V, then the value
widths = [len(m.in_vocab) + 1, max(3, (len(m.in_vocab) + len(m.out_vocab)) // 6 + 1), len(m.out_vocab) + 1]
top = st.columns(widths)
with top[0]:
    ui.plot(figs.row_vector(q, m.in_vocab, "① the query q", highlight=list(np.flatnonzero(q))), key="md_q")
mid = st.columns(widths)
with mid[0]:
    ui.plot(figs.matrix(m.K, m.in_vocab, m.keys, "② K: one-hot keys", highlight_rows=chosen), key="md_K")
with mid[1]:
    ui.plot(figs.column_vector(scores, "q·Kᵀ", m.keys, "③ scores", highlight=chosen,
                                                show_row_labels=False), key="md_scores")
with mid[2]:
    ui.plot(figs.matrix(m.V, m.out_vocab, m.keys, "④ V: one-hot values", highlight_rows=chosen), key="md_V")
bottom = st.columns(widths)
with bottom[2]:
    ui.plot(figs.row_vector(value, m.out_vocab, "⑤ q·Kᵀ·V", highlight=list(np.flatnonzero(value))),
             key="md_value")

if word is None:
    st.markdown("**Decoded:** nothing — the result is the zero vector.")
else:
    st.markdown(f"**Decoded:** “{query}” → **“{word}”** (the largest entry of q·Kᵀ·V, "
                f"{value.max():.2f}, is in the column of “{word}”)")
if query in inp.dictionary or key is not None:
    expected = inp.dictionary.get(query) or inp.dictionary[key]
    st.caption(f"The plain dictionary says: {query if query in inp.dictionary else key} → {expected}.")

ui.code_expander(vectors.dictionary_matrices, vectors.hard_lookup, vectors.decode, vectors.relaxed_query,
                  lookup.closest_key)
