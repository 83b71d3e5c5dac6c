"""Part 1 · steps 7–8: attention — every query at once, then a self-attention head with a causal mask."""

import streamlit as st

from llmviz.concepts import lookup, vectors
from llmviz.plots import part1 as figs
from pages.shared import part1_inputs, ui

st.title("Attention")
st.markdown(
    "Do the soft lookup for **every word of the sentence at once**: stack the query vectors as the rows "
    "of a matrix Q. One matrix product scores every query against every key, softmax turns each row "
    "into weights, and one more product mixes the values. That is the attention formula:"
)
st.latex(r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d}}\right) V")

inp = part1_inputs.inputs("attention")
words = [t for t in inp.tokens if lookup.is_word(t)]
if len(words) < len(inp.tokens):
    st.caption("Punctuation is left out: attention here works on words.")

st.subheader("Translate the whole sentence with one formula")
if inp.dictionary and words:
    m = vectors.dictionary_matrices(inp.dictionary)
    sharp = st.slider("Query length s (each query is s × its one-hot vector)", 0.5, 10.0, 3.0, 0.5, key="att_sharp",
                      help="Trained models learn long query vectors; a longer query makes the softmax sharper.")
    Q = vectors.sentence_queries(words, m.keys, m.in_vocab, sharp)  # (T, d)
    steps = vectors.attention(Q, m.K, m.V)
    d = Q.shape[1]
    a1, a2 = st.columns(2)
    with a1:
        ui.plot(figs.attention_heatmap(steps.scores, m.keys, words, "① scores Q·Kᵀ (columns: keys)"),
                 key="att_scores")
        ui.plot(figs.attention_heatmap(steps.weights, m.keys, words, "③ weights: softmax of each row",
                                        probabilities=True), key="att_weights")
    with a2:
        ui.plot(figs.attention_heatmap(steps.scaled, m.keys, words, f"② scaled: Q·Kᵀ / √{d}"),
                 key="att_scaled")
        ui.plot(figs.attention_heatmap(steps.output, m.out_vocab, words, "④ output: weights · V (columns: output vocabulary)",
                                        probabilities=True), key="att_output")
    decoded = [vectors.decode(row, m.out_vocab)[0] or "?" for row in steps.output]
    st.markdown("**Attention translates:** " + " ".join(decoded))
    literal = [lookup.translate_word(w, inp.dictionary).value for w in words]
    wrong = [(w, a, b) for w, a, b in zip(words, decoded, literal) if a != b]
    if wrong:
        st.markdown(
            "Not the dictionary's answer for " + ", ".join(f"*{w}* ({a} instead of {b})" for w, a, b in wrong)
            + ": the weights are too flat, so a translation shared by several keys (like *the*, from *le* "
            "and *la*) collects more weight than the right one. Make the queries longer (raise s)."
        )
    else:
        st.caption("Each row of the output is mostly the value of the matching key; decoding it gives back the "
                   "dictionary's translation, words missing from the dictionary included.")
elif not words:
    st.info("Type a sentence with at least one word.", icon=":material/info:")

st.subheader("A self-attention head")
st.markdown(
    "In a language model the queries, keys and values all come from the **same** sentence X, each through "
    "its own matrix: Q = X·W^Q, K = X·W^K, V = X·W^V. Training learns those matrices; here they are random "
    "(seeded), so the pattern is arbitrary but the machinery is the real one. A **causal mask** stops a "
    "word from looking at the words after it (a model that predicts the next word must not see it): the "
    "masked scores are set to −∞ before the softmax, so their weights are exactly 0."
)
st.latex(r"\mathrm{head}(X) = \mathrm{softmax}\!\left(\frac{(XW^Q)(XW^K)^\top}{\sqrt{d_{head}}} + M\right) XW^V,"
         r"\quad M_{ij} = -\infty \text{ if } j > i")
if words:
    vocab = vectors.vocabulary(words)
    X = vectors.one_hot_matrix(words, vocab)  # (T, d_in): the sentence's own one-hot rows
    st.session_state.setdefault("att_seed", 0)
    h1, h2, h3 = st.columns(3)
    d_head = h1.slider("head size d_head", 1, 16, 4, key="att_dhead")
    causal = h2.toggle("causal mask", value=True, key="att_causal")
    if h3.button("Re-roll W^Q, W^K, W^V", key="att_reroll", icon=":material/casino:"):
        st.session_state["att_seed"] += 1
    h3.caption(f"seed {st.session_state['att_seed']}")
    Wq, Wk, Wv = vectors.head_weights(X.shape[1], d_head, seed=st.session_state["att_seed"])
    head = vectors.self_attention(X, Wq, Wk, Wv, causal=causal)
    dims = [f"h{i}" for i in range(d_head)]
    p1, p2, p3 = st.columns(3)
    for col, name, mat in ((p1, "Q = X·W^Q", head.q), (p2, "K = X·W^K", head.k), (p3, "V = X·W^V", head.v)):
        with col:
            ui.plot(figs.attention_heatmap(mat, dims, words, name, diverging=True), key=f"att_head_{name[0]}")
    s1, s2 = st.columns(2)
    with s1:
        ui.plot(figs.attention_heatmap(head.attn.scaled, words, words, f"scores / √{d_head} (row: query, column: word looked at)"
                                        + (", future masked" if causal else ""), mask=head.attn.mask,
                                        diverging=True, y_title="query"),
                 key="att_head_scores")
    with s2:
        ui.plot(figs.attention_heatmap(head.attn.weights, words, words, "weights (each row sums to 1)",
                                        mask=head.attn.mask, probabilities=True, y_title="query"), key="att_head_weights")
    ui.plot(figs.attention_heatmap(head.attn.output, dims, words, "output: weights · V, one new vector per word",
                                    diverging=True), key="att_head_output")
    if causal:
        st.caption(f"With the mask, “{words[0]}” can only look at itself (weight 1), and the last word at "
                   "the whole sentence. Turn the mask off and every word sees every other word.")

ui.code_expander(vectors.relaxed_query, vectors.sentence_queries, vectors.attention, vectors.head_weights, vectors.self_attention)
