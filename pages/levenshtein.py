"""Part 1 · step 1–2: translate word by word with a dictionary; find missing words by edit distance."""

import pandas as pd
import streamlit as st

from llmviz.concepts import lookup
from llmviz.plots import part1 as figs
from llmviz.wording import plural
from pages.shared import part1_inputs, ui

MAX_WORD = 40  # longer words would make an unreadable table

st.title("Literal translation & the Levenshtein lookup")
st.markdown(
    "The simplest translator: split the sentence into **tokens** (here, words) and look each one up in a "
    "French→English dictionary. A word that is not a key — *tables*, *chats*, a typo — would stop us, so "
    "we use the key that is **closest** to it: the one needing the fewest single-letter edits (insert, "
    "delete or substitute). That count is the **Levenshtein distance**, computed by filling a table where "
    "each cell reuses its three neighbours:"
)
st.latex(r"D[i,j] = \min\big(D[i-1,j]+1,\; D[i,j-1]+1,\; D[i-1,j-1] + [a_i \ne b_j]\big),"
         r"\quad D[i,0]=i,\; D[0,j]=j")

inp = part1_inputs.inputs("levenshtein", editor_expanded=True)

# --- the whole sentence, word by word ---
if inp.tokens:
    found = [lookup.translate_word(t, inp.dictionary) for t in inp.tokens]
    st.markdown("**Translation:** " + " ".join(f.value for f in found))

    def how(f: lookup.Lookup) -> str:
        if not lookup.is_word(f.token):
            return "punctuation, copied"
        if f.key is None:
            return "no dictionary, copied"
        if f.exact:
            return "exact key"
        if f.distance >= max(len(f.token), len(f.key)):
            return "closest key, but no letter in common: a blind guess"
        return "closest key"

    st.dataframe(pd.DataFrame({
        "token": [f.token for f in found],
        "key used": [f.key or "—" for f in found],
        "edit distance": [f.distance for f in found],
        "translation": [f.value for f in found],
        "how": [how(f) for f in found],
    }), hide_index=True, key="lev_words")

# --- one query against every key ---
st.subheader("Which key is closest?")
missing = [t for t in inp.tokens if lookup.is_word(t) and t not in inp.dictionary]
st.caption("Words of your sentence that are not keys: " + (", ".join(dict.fromkeys(missing)) or "none")
           + ". Try *tables*, *chats*, *sou*, or a word in another script.")


def _new_query():
    st.session_state.pop("lev_key", None)  # a new query starts from its own closest key


query = st.text_input("Query word", value="tables", key="lev_query", max_chars=MAX_WORD,
                      on_change=_new_query).strip().lower()
if not query:
    st.info("Type a word to compare with the keys.", icon=":material/info:")
elif not inp.dictionary:
    st.info("The dictionary is empty, so there is no key to compare with.", icon=":material/info:")
else:
    ranked = lookup.distances(query, inp.dictionary)
    best_key, best_dist = ranked[0]
    st.markdown(f"**“{query}”** → closest key **“{best_key}”** (distance {best_dist}) → "
                f"**“{inp.dictionary[best_key]}”**")
    ties = [k for k, d in ranked[1:] if d == best_dist]
    if ties:
        st.caption(f"Tied with {', '.join(ties)}: the first key in the dictionary wins the tie.")
    ui.plot(figs.distance_bars(ranked, query), key="lev_bars")

    # --- the DP table for one (query, key) pair ---
    st.subheader("Inside the distance: the dynamic-programming table")
    key = st.selectbox("Key to compare with", [k for k, _ in ranked], key="lev_key",
                       format_func=lambda k: f"{k}  (distance {dict(ranked)[k]})")
    b = key[:MAX_WORD]
    if len(key) > MAX_WORD:
        st.caption(f"The key is cut to its first {MAX_WORD} characters for the picture.")
    table = lookup.levenshtein_table(query, b)
    ops = lookup.alignment(query, b, table)
    ui.plot(figs.levenshtein_figure(query, b, table, ops), key="lev_table")
    edits = [op for op in ops if op.kind != "match"]
    st.markdown(
        f"Reading the outlined path from the top-left corner: **{plural(len(edits), 'edit')}** turn "
        f"“{query}” into “{b}” — " + "; ".join(op.describe() for op in ops)
        + ". Going right is an insert, down a delete, diagonally a keep (free) or a substitution."
    )

ui.code_expander(lookup.tokenize, lookup.translate_word, lookup.distances, lookup.levenshtein_table,
                  lookup.alignment)
