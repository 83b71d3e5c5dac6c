"""Whitespace made visible: a space, a newline or a tab is a token like any other, but it draws as
nothing. Every table, chart and label of the app shows them with the same symbols."""

from __future__ import annotations

SYMBOLS = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}
EMPTY = "∅"  # the empty string, which would otherwise be an invisible label
_TABLE = str.maketrans(SYMBOLS)


def visible(text: str) -> str:
    """The text with each space shown as ␣, newline as ⏎, tab as ⇥ and carriage return as ␍;
    an empty text is shown as ∅."""
    return text.translate(_TABLE) or EMPTY


def marked(text: str) -> str:
    """Running text with its line breaks kept but made visible (⏎ before each), tabs as ⇥ and carriage
    returns as ␍; spaces stay spaces, so the text still reads. A sample that is mostly newlines then
    shows as a column of ⏎ instead of an empty block."""
    return text.replace("\t", "⇥").replace("\r", "␍").replace("\n", "⏎\n")
