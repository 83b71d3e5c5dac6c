"""Part 1 · step 6: softmax — from scores to probabilities; temperature, √d scaling, stability."""

import streamlit as st

from llmviz.concepts import vectors
from llmviz.plots import part1 as figs
from pages.shared import part1_inputs, ui



@st.cache_data(show_spinner=False, max_entries=32)
def scaling(dims: tuple, n_keys: int):
    """The same random draws for the same settings: computed once, not on every rerun (0.4 s)."""
    return vectors.scaling_experiment(list(dims), n_keys=n_keys)


st.title("Softmax: from scores to a soft lookup")
st.markdown(
    "q·Kᵀ gives every key a **score**. Picking the single best one (argmax) is a hard decision that "
    "gradients cannot flow through. **Softmax** turns the scores into probabilities instead: exponentiate, "
    "then divide by the sum, so every key gets a positive weight and the weights add up to 1. The value "
    "returned is the weighted average of all values, softmax(q·Kᵀ)·V. The **temperature** T sharpens "
    "(T < 1) or flattens (T > 1) the distribution."
)
st.latex(r"\mathrm{softmax}(s)_i = \frac{e^{s_i/T}}{\sum_j e^{s_j/T}} \qquad "
         r"\text{value} = \mathrm{softmax}\!\left(\frac{q K^\top}{\sqrt{d}}\right) V")

inp = part1_inputs.inputs("softmax", sentence=False)
if not inp.dictionary:
    st.stop()
m = vectors.dictionary_matrices(inp.dictionary)
d = len(m.in_vocab)

c1, c2, c3 = st.columns([2, 2, 1])
query = c1.text_input("Query word", value="sous", key="sm_query", max_chars=40).strip().lower()
temperature = c2.slider("Temperature T", 0.05, 5.0, 0.3, 0.05, key="sm_temp")
scale = c3.toggle("divide by √d", value=True, key="sm_scale")

q, key, strength = vectors.relaxed_query(query, m.keys, m.in_vocab)
if key is not None and key != query:
    st.caption(f"“{query}” is not a key: q = {strength:.2f} × onehot({key}), its closest key.")
_, hard = vectors.hard_lookup(q, m.K, m.V)
shown = vectors.scaled_scores(q, m.K, scale)
weights, soft = vectors.soft_lookup(q, m.K, m.V, scale=scale, temperature=temperature)
ui.plot(figs.scores_and_probs(m.keys, shown, weights,
                               f"scores q·Kᵀ{'/√' + str(d) if scale else ''} and softmax at T = {temperature:.2f}"),
         key="sm_probs")

st.subheader("Soft lookup versus the hard one")
hard_word, _ = vectors.decode(hard, m.out_vocab)
soft_word, _ = vectors.decode(soft, m.out_vocab)
ui.plot(figs.compare_values(m.out_vocab, {"hard: q·Kᵀ·V": hard, "soft: softmax(·)·V": soft}), key="sm_compare")
st.markdown(f"**Hard lookup:** “{hard_word or '—'}” · **Soft lookup:** “{soft_word or '—'}”")
if hard_word and soft_word and hard_word != soft_word:
    sharers = [k for k, v in zip(m.keys, m.values) if v == soft_word]
    st.markdown(
        f"They disagree: the weights are so flat that “{soft_word}”, the translation of "
        f"{len(sharers)} key(s) ({', '.join(sharers)}), collects {soft[m.out_vocab.index(soft_word)]:.2f} in total, "
        f"more than the {soft[m.out_vocab.index(hard_word)]:.2f} of “{hard_word}”. Lower the temperature."
    )

st.subheader("Why divide by √d?")
st.markdown(
    "Real queries and keys are dense vectors of width d. If their entries have variance 1, the dot "
    "product q·k has variance **d**: the wider the vectors, the further apart the scores, and softmax "
    "collapses onto a single key — a hard lookup again, with vanishing gradients. Dividing by √d brings "
    "the variance back to 1. Random q and K, averaged over 200 draws:"
)
n_keys = st.slider("number of keys", 2, 32, 8, key="sm_keys")
dims = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
unscaled, scaled = scaling(tuple(dims), n_keys)
ui.plot(figs.scaling_figure(dims, unscaled, scaled, n_keys), key="sm_scaling")

st.subheader("Numerically stable softmax")
st.markdown(
    "e^s overflows a 64-bit float as soon as s > 709.8. Since softmax(s) = softmax(s − c) for any c, "
    "subtracting the largest score first changes nothing mathematically and keeps every exponent ≤ 0. "
    "Shift the scores and compare:"
)
shift = st.slider("add this to every score", 0, 1000, 0, 10, key="sm_shift")
o = vectors.overflow_demo(shown, shift, temperature)
# written out, so that nan reads "nan" as the text says (a table shows a missing number as "None")
st.dataframe({"key": m.keys, "score / T": [f"{x:.4g}" for x in o.scores],
              "naive exp(s)/Σexp(s)": [f"{x:.4g}" for x in o.naive],
              "stable (max subtracted)": [f"{x:.4g}" for x in o.stable]}, hide_index=True, key="sm_stable")
if o.overflowed:
    st.markdown("**The naive softmax overflowed:** e^s is ∞, and ∞/∞ is *nan*. The stable one still gives the "
                "same probabilities as before the shift.")

ui.code_expander(vectors.softmax, vectors.naive_softmax, vectors.soft_lookup, vectors.overflow_demo,
                  vectors.scaling_experiment)
