"""The Part 1 pages driven like a learner would: change a widget, check the shown result changes
the right way. The numbers on screen are checked against hand-worked values from the tutorial."""

import base64
import json

import numpy as np
import pytest

from tests.conftest import open_page

DEFAULT_ROWS = [["le", "the"], ["chat", "cat"], ["est", "is"], ["sous", "under"], ["la", "the"], ["table", "table"]]


def figures(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def figure(at, key: str) -> dict:
    """The plotly figure drawn with st.plotly_chart(key=key)."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.spec)
    raise KeyError(f"no chart with key {key!r}")


def array(v) -> np.ndarray:
    """A plotly data array: a plain list, or plotly 6+'s base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        return a.reshape([int(s) for s in str(shape).split(",")]) if shape else a
    return np.array(v, dtype=float)


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def no_errors(at):
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert not at.error


# --- Levenshtein ---------------------------------------------------------------------------------


def test_levenshtein_page_translates_and_follows_the_query():
    at = open_page("pages/levenshtein.py")
    no_errors(at)
    assert "**Translation:** the cat is under the table" in texts(at)
    # default query "tables": the DP table is 7x6 with distance 1 in the corner
    z = array(figure(at, "lev_table")["data"][0]["z"])
    assert z.shape == (7, 6) and z[-1, -1] == 1
    bars = figure(at, "lev_bars")["data"][0]
    assert bars["y"][0] == "table"

    at.text_input(key="lev_query").set_value("chats").run()
    no_errors(at)
    assert "closest key **“chat”** (distance 1) → **“cat”**" in texts(at)
    assert at.selectbox(key="lev_key").value == "chat"
    # compare with another key: the table and the spelled-out edits follow
    at.selectbox(key="lev_key").set_value("la").run()
    z = array(figure(at, "lev_table")["data"][0]["z"])
    assert z.shape == (6, 3) and z[-1, -1] == 4
    assert "**4 edit(s)**" in texts(at)


def test_levenshtein_page_uses_closest_key_for_missing_words_in_the_sentence():
    at = open_page("pages/levenshtein.py")
    at.text_input(key="p1_sentence_input").set_value("Les chats est sous la tables.").run()
    no_errors(at)
    assert "**Translation:** the cat is under the table ." in texts(at)
    words = at.dataframe[1].value
    assert list(words["key used"][:2]) == ["le", "chat"]


@pytest.mark.parametrize("sentence", ["", "!!! ...", "猫 Кошка", "le " * 200])
def test_levenshtein_page_survives_odd_sentences(sentence):
    at = open_page("pages/levenshtein.py", session_state={"p1_sentence": sentence})
    no_errors(at)
    if len(sentence) > 500:
        assert any("only the first 32" in w.value for w in at.warning)


def test_levenshtein_page_with_empty_or_duplicated_dictionary():
    at = open_page("pages/levenshtein.py", session_state={"p1_dictionary_rows": []})
    no_errors(at)
    assert any("dictionary is empty" in i.value for i in at.info)
    assert "**Translation:** le chat est sous la table" in texts(at)

    rows = DEFAULT_ROWS + [["chat", "kitty"], ["", "orphan"]]
    at = open_page("pages/levenshtein.py", session_state={"p1_dictionary_rows": rows})
    no_errors(at)
    assert "**Translation:** the kitty is under the table" in texts(at)
    assert any("twice" in c.value for c in at.caption)
