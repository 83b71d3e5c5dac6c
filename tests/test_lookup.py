"""Dictionary translation and the Levenshtein DP (tutorial part 1, steps 1–2), checked against the
tutorial's own examples and against python-Levenshtein as an independent implementation."""

import Levenshtein
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from llmviz.concepts import lookup

# short strings over a small alphabet collide often (interesting alignments); add any unicode too
small = st.text(alphabet="abcé猫 ", max_size=8)
anything = st.text(max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.one_of(small, anything), st.one_of(small, anything))
def test_dp_table_agrees_with_python_levenshtein(a, b):
    table = lookup.levenshtein_table(a, b)
    assert table.shape == (len(a) + 1, len(b) + 1)
    assert table[-1, -1] == Levenshtein.distance(a, b) == lookup.levenshtein(a, b)
    # every cell is itself the distance between two prefixes
    i, j = len(a) // 2, len(b) // 2
    assert table[i, j] == Levenshtein.distance(a[:i], b[:j])


@settings(max_examples=300, deadline=None)
@given(st.one_of(small, anything), st.one_of(small, anything))
def test_alignment_is_optimal_and_really_turns_a_into_b(a, b):
    ops = lookup.alignment(a, b)
    assert sum(op.cost for op in ops) == Levenshtein.distance(a, b)
    # replay the edits: the result must be b, and the path must walk from (0, 0) to the corner
    out, i = [], 0
    for op in ops:
        if op.kind in ("match", "substitute"):
            assert op.a_char == a[i]
            out.append(op.b_char)
            i += 1
        elif op.kind == "delete":
            assert op.a_char == a[i]
            i += 1
        else:
            out.append(op.b_char)
    assert "".join(out) == b and i == len(a)
    path = lookup.alignment_path(ops)
    assert path[0] == (0, 0) and path[-1] == (len(a), len(b))
    assert all(0 <= i2 - i1 <= 1 and 0 <= j2 - j1 <= 1 for (i1, j1), (i2, j2) in zip(path, path[1:]))


def test_hand_worked_table_tables_to_table():
    # "tables" -> "table": the diagonal is all zeros, then one deletion of the final "s"
    table = lookup.levenshtein_table("tables", "table")
    assert list(np.diag(table)) == [0, 0, 0, 0, 0, 0]
    assert table[6, 5] == 1 and list(table[:, 0]) == list(range(7)) and list(table[0]) == list(range(6))
    ops = lookup.alignment("tables", "table")
    assert [op.kind for op in ops] == ["match"] * 5 + ["delete"] and ops[-1].a_char == "s"


def test_kitten_sitting_textbook_example():
    ops = lookup.alignment("kitten", "sitting")
    assert sorted(op.kind for op in ops if op.cost) == ["insert", "substitute", "substitute"]
    assert lookup.levenshtein("kitten", "sitting") == 3


def test_empty_strings():
    assert lookup.levenshtein("", "") == 0 and lookup.alignment("", "") == []
    assert [op.kind for op in lookup.alignment("", "ab")] == ["insert", "insert"]
    assert [op.kind for op in lookup.alignment("ab", "")] == ["delete", "delete"]


def test_tutorial_sentence_translates_literally():
    out = lookup.translate(lookup.DEFAULT_SENTENCE, lookup.DEFAULT_DICTIONARY)
    assert " ".join(w.value for w in out) == "the cat is under the table"
    assert all(w.exact for w in out)


def test_sous_selects_under_and_tables_finds_table():
    assert lookup.translate_word("sous", lookup.DEFAULT_DICTIONARY).value == "under"
    hit = lookup.translate_word("tables", lookup.DEFAULT_DICTIONARY)
    assert (hit.key, hit.value, hit.distance, hit.exact) == ("table", "table", 1, False)
    assert lookup.translate_word("chats", lookup.DEFAULT_DICTIONARY).value == "cat"
    assert lookup.closest_key("sou", lookup.DEFAULT_DICTIONARY) == ("sous", 1)


def test_ties_keep_dictionary_order():
    # "lo" is one substitution from both "le" and "la": the first key in the dictionary wins
    ranked = lookup.distances("lo", lookup.DEFAULT_DICTIONARY)
    assert ranked[:2] == [("le", 1), ("la", 1)]
    assert lookup.distances("lo", {"la": "the", "le": "the"})[0] == ("la", 1)


def test_tokenize_punctuation_case_and_scripts():
    assert lookup.tokenize("Le chat, est sous la table!") == ["le", "chat", ",", "est", "sous", "la", "table", "!"]
    assert lookup.tokenize("") == [] and lookup.tokenize("   ") == []
    assert lookup.tokenize("!!! ...") == ["!!!", "..."]
    assert lookup.tokenize("猫 Кошка l'homme") == ["猫", "кошка", "l'homme"]
    out = lookup.translate("la table !!!", lookup.DEFAULT_DICTIONARY)
    assert [w.value for w in out] == ["the", "table", "!!!"] and out[2].key is None


def test_empty_dictionary_leaves_words_alone():
    out = lookup.translate("le chat", {})
    assert [(w.key, w.value) for w in out] == [(None, "le"), (None, "chat")]
    assert lookup.closest_key("x", {}) is None


def test_long_sentence_is_capped():
    assert len(lookup.translate("le " * 200, lookup.DEFAULT_DICTIONARY)) == lookup.MAX_TOKENS


def test_clean_dictionary_explains_what_it_fixed():
    d, notes = lookup.clean_dictionary([[" Le ", "the"], ["le", "THE"], ["", "x"], ["chat", None],
                                        [None, None], ["sous", float("nan")]])
    assert d == {"le": "THE"}
    assert len(notes) == 4 and any("twice" in n for n in notes)
