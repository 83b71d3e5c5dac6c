"""Streamlit helpers shared by the Part 1 pages (not a page itself): the learner's dictionary and
sentence, which carry from page to page through st.session_state.

The dictionary lives in st.session_state[ROWS_KEY] as a list of [french, english] rows. Each page's
table editor starts from a snapshot of those rows taken when the page is entered, and writes its
edited table back to ROWS_KEY on every run, so an edit made on one page is what every other Part 1
page sees. The snapshot stays fixed while the learner edits (the editor's own state is a list of
changes relative to the data it was drawn from), and is retaken whenever the editor's state is gone:
on a new page, or after visiting a page without the editor.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import streamlit as st

from llmviz.concepts import lookup

ROWS_KEY = "p1_dictionary_rows"  # the learner's dictionary, as typed (list of [key, value])
SENTENCE_KEY = "p1_sentence"  # the learner's sentence
_SENTENCE_INPUT = "p1_sentence_input"  # the text box's own widget state
_SNAPSHOT_KEY = "p1_dictionary_snapshot"  # the rows the editor on screen was drawn from
_VERSION_KEY = "p1_editor_version"  # bumped by "reset": a new editor key starts from the new rows
COLUMNS = ["French (key)", "English (value)"]
MAX_CHARS = 2000


class Part1Inputs(NamedTuple):
    dictionary: dict[str, str]  # cleaned: lowercase keys, no empties, duplicates resolved
    sentence: str
    tokens: list[str]  # at most lookup.MAX_TOKENS tokens of the sentence


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}",
                  **{c: "\\" + c for c in "{}$&#_%"}}


def latex_text(s: str) -> str:
    """A token made safe to put inside \\text{...} (learners may type keys like "100%" or "a_b")."""
    return "".join(_LATEX_ESCAPES.get(c, c) for c in s)


def default_rows() -> list[list[str]]:
    return [[k, v] for k, v in lookup.DEFAULT_DICTIONARY.items()]


def _editor_key(page: str) -> str:
    return f"p1_dictionary_editor_{page}_{st.session_state.get(_VERSION_KEY, 0)}"


def _commit_sentence() -> None:
    st.session_state[SENTENCE_KEY] = st.session_state[_SENTENCE_INPUT]


def _reset() -> None:
    st.session_state[ROWS_KEY] = default_rows()
    st.session_state[_SNAPSHOT_KEY] = default_rows()
    st.session_state[_VERSION_KEY] = st.session_state.get(_VERSION_KEY, 0) + 1
    st.session_state[SENTENCE_KEY] = lookup.DEFAULT_SENTENCE
    st.session_state.pop(_SENTENCE_INPUT, None)  # the box is redrawn from the shared sentence


def inputs(page: str, sentence: bool = True, editor_expanded: bool = False) -> Part1Inputs:
    """Draw the sentence box and the dictionary editor; return what the page should compute with.

    `page` names the calling page: each page has its own editor.
    """
    st.session_state.setdefault(ROWS_KEY, default_rows())
    st.session_state.setdefault(SENTENCE_KEY, lookup.DEFAULT_SENTENCE)
    text = st.session_state[SENTENCE_KEY]
    if sentence:
        # the box starts from the shared sentence and writes back on change; its own widget state does
        # not survive a page switch, the shared key does
        text = st.text_input("Sentence to translate (French)", value=text, key=_SENTENCE_INPUT,
                             max_chars=MAX_CHARS, on_change=_commit_sentence,
                             help="Shared by every Part 1 page. Words are split on spaces and punctuation.")

    key = _editor_key(page)
    if key not in st.session_state:  # no editor state to continue from: start from the shared rows
        st.session_state[_SNAPSHOT_KEY] = [list(r) for r in st.session_state[ROWS_KEY]]
    # the label is written after the editor has run, so it shows this run's edits
    label = st.empty()
    with st.expander("Edit the dictionary — every Part 1 page uses it", expanded=editor_expanded,
                     icon=":material/translate:"):
        edited = st.data_editor(
            pd.DataFrame(st.session_state[_SNAPSHOT_KEY], columns=COLUMNS, dtype="object"),
            key=key, num_rows="dynamic", hide_index=True,
            column_config={c: st.column_config.TextColumn(c) for c in COLUMNS},
        )
        st.button("Back to the tutorial's dictionary and sentence", key="p1_reset", on_click=_reset,
                  icon=":material/restart_alt:")
    rows = edited.astype(object).where(edited.notna(), None).values.tolist()
    st.session_state[ROWS_KEY] = rows
    dictionary, notes = lookup.clean_dictionary(rows)
    summary = ", ".join(f"{k}→{v}" for k, v in list(dictionary.items())[:8])
    if len(dictionary) > 8:
        summary += ", …"
    label.caption(f":material/translate: **Dictionary**, {len(dictionary)} entries: {summary or 'empty'}")
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
