"""Literal translation with a dictionary, and the Levenshtein lookup of missing keys (tutorial part 1,
steps 1–2).

Tokens are words. A word that is in the dictionary is translated by its value; a word that is not
("tables", "chats", a typo) is mapped to the closest key by edit distance: the fewest single-character
insertions, deletions and substitutions that turn one word into the other. The distance is computed
with the classic dynamic-programming table, which this module also returns whole, together with the
optimal alignment, so the app can draw it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

DEFAULT_DICTIONARY = {"le": "the", "chat": "cat", "est": "is", "sous": "under", "la": "the", "table": "table"}
DEFAULT_SENTENCE = "le chat est sous la table"
MAX_TOKENS = 32  # longer sentences are cut: every picture has one row per token

# a word is a run of letters/digits (any script), apostrophes and hyphens allowed inside;
# a run of punctuation is a token of its own so "table." still finds "table"
_TOKEN = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]+")


def tokenize(sentence: str) -> list[str]:
    """Split a sentence into lowercase word tokens (and punctuation tokens)."""
    return _TOKEN.findall((sentence or "").lower())


def is_word(token: str) -> bool:
    """True for word tokens, False for punctuation ("!!", "…"), which is copied untranslated."""
    return any(ch.isalnum() for ch in token)


def clean_dictionary(pairs) -> tuple[dict[str, str], list[str]]:
    """Turn (key, value) pairs typed by a learner into a dictionary, and say what was fixed.

    Keys are stripped and lowercased like the tokens. Empty keys or values are dropped; a repeated
    key keeps its last value, as a Python dict literal does.
    """
    out: dict[str, str] = {}
    notes: list[str] = []
    for key, value in pairs:
        key = "" if key is None or _is_nan(key) else str(key).strip().lower()
        value = "" if value is None or _is_nan(value) else str(value).strip()
        if not key and not value:
            continue  # a blank row, e.g. one just added in the editor
        if not key:
            notes.append(f"the translation “{value}” has no French word, so it was ignored")
            continue
        if not value:
            notes.append(f"“{key}” has no translation, so it was ignored")
            continue
        if key in out:
            notes.append(f"“{key}” appears twice: the last translation (“{value}”) wins, as in a Python dict")
        out[key] = value
    return out, notes


def _is_nan(x) -> bool:
    return isinstance(x, float) and x != x


# --- edit distance -------------------------------------------------------------------------------


def levenshtein_table(a: str, b: str) -> np.ndarray:
    """The DP table D with D[i, j] = edit distance between a[:i] and b[:j]; D[-1, -1] is the answer."""
    n, m = len(a), len(b)
    d = np.zeros((n + 1, m + 1), dtype=int)
    d[:, 0] = np.arange(n + 1)  # a[:i] -> "" takes i deletions
    d[0, :] = np.arange(m + 1)  # "" -> b[:j] takes j insertions
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i, j] = min(
                d[i - 1, j] + 1,  # delete a[i-1]
                d[i, j - 1] + 1,  # insert b[j-1]
                d[i - 1, j - 1] + cost,  # keep or substitute
            )
    return d


def levenshtein(a: str, b: str) -> int:
    """Edit distance between two strings (insertions, deletions and substitutions all cost 1)."""
    # two rows are enough when the table itself is not needed
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class EditOp:
    kind: str  # "match", "substitute", "delete" or "insert"
    i: int  # row of the DP cell this step arrives at (characters of a used so far)
    j: int  # column of that cell (characters of b used so far)
    a_char: str  # the character of a involved ("" for an insert)
    b_char: str  # the character of b involved ("" for a delete)

    @property
    def cost(self) -> int:
        return 0 if self.kind == "match" else 1

    def describe(self) -> str:
        return {
            "match": f"keep “{self.a_char}”",
            "substitute": f"substitute “{self.a_char}” → “{self.b_char}”",
            "delete": f"delete “{self.a_char}”",
            "insert": f"insert “{self.b_char}”",
        }[self.kind]


def alignment(a: str, b: str, table: np.ndarray | None = None) -> list[EditOp]:
    """One optimal way to turn a into b: walk back from the bottom-right cell of the DP table.

    At each cell we step to a neighbour the value came from (diagonal first, so matches and
    substitutions are preferred to a delete + insert pair). Returned in reading order.
    """
    d = levenshtein_table(a, b) if table is None else table
    i, j = len(a), len(b)
    ops: list[EditOp] = []
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = a[i - 1] == b[j - 1]
            if d[i, j] == d[i - 1, j - 1] + (0 if same else 1):
                ops.append(EditOp("match" if same else "substitute", i, j, a[i - 1], b[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and d[i, j] == d[i - 1, j] + 1:
            ops.append(EditOp("delete", i, j, a[i - 1], ""))
            i -= 1
        else:
            ops.append(EditOp("insert", i, j, "", b[j - 1]))
            j -= 1
    return ops[::-1]


def alignment_path(ops: list[EditOp]) -> list[tuple[int, int]]:
    """The DP cells the alignment visits, from (0, 0) to (len(a), len(b))."""
    return [(0, 0)] + [(op.i, op.j) for op in ops]


# --- dictionary lookup ---------------------------------------------------------------------------


def distances(query: str, keys) -> list[tuple[str, int]]:
    """Edit distance from the query to every key, closest first (ties keep the dictionary's order)."""
    scored = [(key, levenshtein(query, key)) for key in keys]
    return sorted(scored, key=lambda kd: kd[1])  # sorted() is stable


def closest_key(query: str, keys) -> tuple[str, int] | None:
    """The key with the smallest edit distance to the query (None for an empty dictionary)."""
    ranked = distances(query, keys)
    return ranked[0] if ranked else None


@dataclass(frozen=True)
class Lookup:
    token: str  # the word as it appears in the sentence
    key: str | None  # the dictionary key used (None: punctuation, or an empty dictionary)
    value: str  # the translation written out
    distance: int  # edit distance token -> key (0 for an exact hit)

    @property
    def exact(self) -> bool:
        return self.key is not None and self.distance == 0


def translate_word(token: str, dictionary: dict[str, str]) -> Lookup:
    """Translate one token: exact key if present, else the closest key, else leave it as it is."""
    if not is_word(token):
        return Lookup(token, None, token, 0)  # punctuation passes through
    if token in dictionary:
        return Lookup(token, token, dictionary[token], 0)
    best = closest_key(token, dictionary)
    if best is None:
        return Lookup(token, None, token, 0)  # nothing to look up in
    key, dist = best
    return Lookup(token, key, dictionary[key], dist)


def translate(sentence: str, dictionary: dict[str, str], max_tokens: int = MAX_TOKENS) -> list[Lookup]:
    """Word-by-word translation of (at most max_tokens tokens of) a sentence."""
    return [translate_word(t, dictionary) for t in tokenize(sentence)[:max_tokens]]
