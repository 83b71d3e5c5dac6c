"""Streamlit helpers shared by the Part 1 pages (not a page itself): the learner's dictionary and
sentence, which carry from page to page through st.session_state.

The dictionary lives in st.session_state[ROWS_KEY] as a list of [french, english] rows. The table
editor shows those rows; each edit is folded back into them by a callback and the editor is redrawn
under a fresh key, so an edit made on one page is what every other Part 1 page sees.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import streamlit as st

from llmviz import lookup

ROWS_KEY = "p1_dictionary_rows"  # the learner's dictionary, as typed (list of [key, value])
SENTENCE_KEY = "p1_sentence"  # the learner's sentence
_SENTENCE_INPUT = "p1_sentence_input"  # the text box's own widget state
_VERSION_KEY = "p1_editor_version"  # bumped after each edit: a new editor key starts from the new rows
COLUMNS = ["French (key)", "English (value)"]
MAX_CHARS = 2000


class Part1Inputs(NamedTuple):
    dictionary: dict[str, str]  # cleaned: lowercase keys, no empties, duplicates resolved
    sentence: str
    tokens: list[str]  # at most lookup.MAX_TOKENS tokens of the sentence


def default_rows() -> list[list[str]]:
    return [[k, v] for k, v in lookup.DEFAULT_DICTIONARY.items()]


def apply_edits(rows: list[list], delta: dict) -> list[list]:
    """Apply a data_editor edit state (edited_rows, deleted_rows, added_rows) to the rows it was drawn from."""
    rows = [list(r) for r in rows]
    for index, changes in (delta.get("edited_rows") or {}).items():
        for column, value in changes.items():
            if column in COLUMNS and int(index) < len(rows):
                rows[int(index)][COLUMNS.index(column)] = value
    deleted = {int(i) for i in delta.get("deleted_rows") or []}
    rows = [r for i, r in enumerate(rows) if i not in deleted]
    for added in delta.get("added_rows") or []:
        rows.append([added.get(c) for c in COLUMNS])
    return rows


def _editor_key() -> str:
    return f"p1_dictionary_editor_{st.session_state.get(_VERSION_KEY, 0)}"


def _commit_edits() -> None:
    delta = st.session_state.get(_editor_key()) or {}
    st.session_state[ROWS_KEY] = apply_edits(st.session_state.get(ROWS_KEY, default_rows()), delta)
    st.session_state[_VERSION_KEY] = st.session_state.get(_VERSION_KEY, 0) + 1


def _commit_sentence() -> None:
    st.session_state[SENTENCE_KEY] = st.session_state[_SENTENCE_INPUT]


def _reset() -> None:
    st.session_state[ROWS_KEY] = default_rows()
    st.session_state[_VERSION_KEY] = st.session_state.get(_VERSION_KEY, 0) + 1
    st.session_state[SENTENCE_KEY] = lookup.DEFAULT_SENTENCE
    st.session_state.pop(_SENTENCE_INPUT, None)  # the box is redrawn from the shared sentence


def inputs(sentence: bool = True, editor_expanded: bool = False) -> Part1Inputs:
    """Draw the sentence box and the dictionary editor; return what the page should compute with."""
    st.session_state.setdefault(ROWS_KEY, default_rows())
    st.session_state.setdefault(SENTENCE_KEY, lookup.DEFAULT_SENTENCE)
    text = st.session_state[SENTENCE_KEY]
    if sentence:
        # the box starts from the shared sentence and writes back on change; its own widget state does
        # not survive a page switch, the shared key does
        text = st.text_input("Sentence to translate (French)", value=text, key=_SENTENCE_INPUT,
                             max_chars=MAX_CHARS, on_change=_commit_sentence,
                             help="Shared by every Part 1 page. Words are split on spaces and punctuation.")

    rows = st.session_state[ROWS_KEY]
    dictionary, notes = lookup.clean_dictionary(rows)
    summary = ", ".join(f"{k}→{v}" for k, v in list(dictionary.items())[:8])
    if len(dictionary) > 8:
        summary += ", …"
    with st.expander(f"Dictionary ({len(dictionary)} entries: {summary or 'empty'}) — edit it here; "
                     "every Part 1 page uses it", expanded=editor_expanded, icon=":material/translate:"):
        st.data_editor(
            pd.DataFrame(rows, columns=COLUMNS, dtype="object"),
            key=_editor_key(), num_rows="dynamic", hide_index=True, on_change=_commit_edits,
            column_config={c: st.column_config.TextColumn(c) for c in COLUMNS},
        )
        st.button("Back to the tutorial's dictionary and sentence", key="p1_reset", on_click=_reset,
                  icon=":material/restart_alt:")
    for note in notes:
        st.caption(f":material/info: {note}")
    if not dictionary:
        st.info("The dictionary is empty: add a row (French word, English word) in the table above.",
                icon=":material/info:")

    tokens = lookup.tokenize(text)
    if len(tokens) > lookup.MAX_TOKENS:
        st.warning(f"The sentence has {len(tokens)} tokens; only the first {lookup.MAX_TOKENS} are used, "
                   "because every picture below has one row per token.", icon=":material/content_cut:")
        tokens = tokens[: lookup.MAX_TOKENS]
    if sentence and not tokens:
        st.info("The sentence is empty: type a few French words above.", icon=":material/info:")
    return Part1Inputs(dictionary, text, tokens)
