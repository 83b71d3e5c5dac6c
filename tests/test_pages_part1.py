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
    assert "**4 edits**" in texts(at)


def test_levenshtein_page_uses_closest_key_for_missing_words_in_the_sentence():
    at = open_page("pages/levenshtein.py")
    at.text_input(key="p1_sentence_input").set_value("Les chats est sous la tables.").run()
    no_errors(at)
    assert "**Translation:** the cat is under the table ." in texts(at)
    words = at.dataframe[1].value
    assert list(words["key used"][:2]) == ["le", "chat"]


ODD_SENTENCES = ["", "!!! ...", "猫 Кошка", "le " * 200, "la la la", "l'homme-orchestre"]


def test_levenshtein_page_survives_odd_sentences():
    at = open_page("pages/levenshtein.py")
    for sentence in ODD_SENTENCES:
        at.text_input(key="p1_sentence_input").set_value(sentence).run()
        no_errors(at)
        assert any("only the first 32" in w.value for w in at.warning) == (len(sentence) > 500)
        assert any("sentence is empty" in i.value for i in at.info) == (sentence == "")


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


# --- one-hot -------------------------------------------------------------------------------------


def test_one_hot_page_vector_follows_the_chosen_token():
    at = open_page("pages/one_hot.py")
    no_errors(at)
    vocab = ["chat", "est", "la", "le", "sous", "table"]
    assert list(at.dataframe[1].value["token"]) == vocab  # [0] is the dictionary editor
    assert list(at.dataframe[2].value["token"]) == ["cat", "is", "table", "the", "under"]
    for token in ("chat", "sous", "table"):
        at.selectbox(key="oh_token").set_value(token).run()
        z = array(figure(at, "oh_vector")["data"][0]["z"]).ravel()
        assert list(z) == [1.0 if v == token else 0.0 for v in vocab]
    # the sentence matrix: one row per token, its 1 in the token's column
    m = array(figure(at, "oh_sentence")["data"][0]["z"])
    sentence = ["le", "chat", "est", "sous", "la", "table"]
    assert m.shape == (6, 6) and [vocab[i] for i in m.argmax(axis=1)] == sentence


def test_one_hot_page_grows_with_the_dictionary_and_the_slider():
    rows = DEFAULT_ROWS + [["chien", "dog"]]
    at = open_page("pages/one_hot.py", session_state={"p1_dictionary_rows": rows, "p1_sentence": "le chien mange"})
    no_errors(at)
    assert at.metric[0].value == "7"
    m = array(figure(at, "oh_sentence")["data"][0]["z"])
    assert m.shape == (3, 7) and list(m.sum(axis=1)) == [1, 1, 0]  # "mange" is unknown: an all-zero row
    assert "*mange*" in texts(at)
    at.slider(key="oh_extra").set_value(50_000).run()
    assert at.metric[0].value == "50,007"


def test_one_hot_page_with_empty_dictionary():
    at = open_page("pages/one_hot.py", session_state={"p1_dictionary_rows": [], "p1_sentence": ""})
    no_errors(at)
    assert at.metric[0].value == "0"


# --- the dictionary as a matrix product ----------------------------------------------------------


def test_matrix_dictionary_page_sous_selects_under():
    at = open_page("pages/matrix_dictionary.py")
    no_errors(at)
    keys = ["le", "chat", "est", "sous", "la", "table"]  # K's rows, in the dictionary's order
    scores = array(figure(at, "md_scores")["data"][0]["z"]).ravel()
    assert [keys[i] for i in np.flatnonzero(scores)] == ["sous"]
    value = array(figure(at, "md_value")["data"][0]["z"]).ravel()
    assert list(value) == [0, 0, 0, 0, 1]  # cat, is, table, the, under
    assert "**“under”**" in texts(at)

    at.text_input(key="md_query").set_value("chat").run()
    assert "**“cat”**" in texts(at)
    scores = array(figure(at, "md_scores")["data"][0]["z"]).ravel()
    assert scores[keys.index("chat")] == 1 and scores.sum() == 1


def test_matrix_dictionary_page_missing_word_selects_nothing_until_relaxed():
    at = open_page("pages/matrix_dictionary.py")
    at.text_input(key="md_query").set_value("tables").run()
    no_errors(at)
    assert not array(figure(at, "md_scores")["data"][0]["z"]).any()
    assert "**Decoded:** nothing" in texts(at)
    at.toggle(key="md_relax").set_value(True).run()
    scores = array(figure(at, "md_scores")["data"][0]["z"]).ravel()
    assert scores[5] == pytest.approx(5 / 6)  # one edit out of six letters, at the row of "table"
    assert "**“table”**" in texts(at)


def test_matrix_dictionary_page_odd_inputs():
    at = open_page("pages/matrix_dictionary.py", session_state={"p1_dictionary_rows": []})
    no_errors(at)
    at = open_page("pages/matrix_dictionary.py", session_state={"p1_dictionary_rows": [["猫", "cat"]]})
    at.text_input(key="md_query").set_value("猫").run()
    no_errors(at)
    assert "**“cat”**" in texts(at)
    at.text_input(key="md_query").set_value("").run()
    no_errors(at)


# --- the shared dictionary and sentence ----------------------------------------------------------


def test_sentence_and_dictionary_carry_across_part1_pages():
    at = open_page("pages/levenshtein.py", session_state={"p1_dictionary_rows": DEFAULT_ROWS + [["chien", "dog"]]})
    at.text_input(key="p1_sentence_input").set_value("le chien est sous la table").run()
    assert "**Translation:** the dog is under the table" in texts(at)
    at.switch_page("pages/one_hot.py").run()
    no_errors(at)
    assert at.text_input(key="p1_sentence_input").value == "le chien est sous la table"
    assert "chien" in list(at.dataframe[1].value["token"])
    at.button(key="p1_reset").click().run()
    assert at.text_input(key="p1_sentence_input").value == "le chat est sous la table"
    assert "chien" not in list(at.dataframe[1].value["token"])
    at.switch_page("pages/levenshtein.py").run()
    assert "**Translation:** the cat is under the table" in texts(at)


def test_dictionary_edits_carry_across_pages_and_back():
    at = open_page("pages/levenshtein.py")
    # what the table editor sends when the learner changes chat's translation and adds a row
    at.session_state["p1_dictionary_editor_levenshtein_0"] = {
        "edited_rows": {1: {"English (value)": "kitty"}}, "deleted_rows": [],
        "added_rows": [{"French (key)": "chien", "English (value)": "dog"}]}
    at.run()
    no_errors(at)
    assert "**Translation:** the kitty is under the table" in texts(at)
    assert any("7 entries" in c.value for c in at.caption)
    at.switch_page("pages/one_hot.py").run()
    assert "chien" in list(at.dataframe[1].value["token"])
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/levenshtein.py").run()
    assert "**Translation:** the kitty is under the table" in texts(at)
    # the editor on screen was redrawn from the edited rows, not from the tutorial's
    assert list(at.dataframe[0].value.iloc[:, 1])[1] == "kitty" and len(at.dataframe[0].value) == 7


# --- cosine --------------------------------------------------------------------------------------

VOCAB = ["chat", "est", "la", "le", "sous", "table"]


def test_cosine_page_near_miss_and_mix():
    at = open_page("pages/cosine.py")
    no_errors(at)
    # the default query is 0.95·table: cosine 1 with table, dot product 0.95
    assert "**Best match:** “table” (cosine 1.000)" in texts(at)
    cos = array(figure(at, "cos_bars")["data"][0]["x"])
    dots = array(figure(at, "cos_dots")["data"][0]["x"])
    assert cos[VOCAB.index("table")] == pytest.approx(1.0) and dots[VOCAB.index("table")] == pytest.approx(0.95)
    # shrinking A changes the dot product but not the cosine
    at.slider(key="cos_wa").set_value(0.3).run()
    assert array(figure(at, "cos_dots")["data"][0]["x"])[VOCAB.index("table")] == pytest.approx(0.3)
    assert array(figure(at, "cos_bars")["data"][0]["x"])[VOCAB.index("table")] == pytest.approx(1.0)
    # mixing in more of B (chat) than A flips the winner
    at.slider(key="cos_wb").set_value(0.6).run()
    no_errors(at)
    assert "**Best match:** “chat”" in texts(at) and "**“cat”**" in texts(at)
    cos = array(figure(at, "cos_bars")["data"][0]["x"])
    assert cos[VOCAB.index("chat")] == pytest.approx(0.6 / np.hypot(0.3, 0.6))


def test_cosine_page_noise_zero_vector_and_same_word():
    at = open_page("pages/cosine.py")
    at.slider(key="cos_noise").set_value(0.5).run()
    before = array(figure(at, "cos_q")["data"][0]["z"])
    at.button(key="cos_reroll").click().run()
    after = array(figure(at, "cos_q")["data"][0]["z"])
    assert not np.allclose(before, after)
    at.slider(key="cos_noise").set_value(0.0).run()
    at.slider(key="cos_wa").set_value(0.0).run()
    no_errors(at)
    assert "**Best match:** none" in texts(at)
    at.selectbox(key="cos_b").set_value("table").run()
    no_errors(at)


# --- softmax -------------------------------------------------------------------------------------

KEYS = ["le", "chat", "est", "sous", "la", "table"]


def test_softmax_page_temperature_and_the_soft_lookup():
    at = open_page("pages/softmax.py")
    no_errors(at)
    assert at.slider(key="sm_temp").value == pytest.approx(0.3)
    probs = array(figure(at, "sm_probs")["data"][1]["y"])
    e = np.exp(1 / np.sqrt(6) / 0.3)  # by hand: score 1/√6 for sous, 0 for the rest
    assert probs[KEYS.index("sous")] == pytest.approx(e / (e + 5)) and probs.sum() == pytest.approx(1)
    assert "**Hard lookup:** “under” · **Soft lookup:** “under”" in texts(at)
    # T = 1: so flat that "the" (le + la) outweighs "under"
    at.slider(key="sm_temp").set_value(1.0).run()
    probs = array(figure(at, "sm_probs")["data"][1]["y"])
    e = np.exp(1 / np.sqrt(6))
    assert probs[KEYS.index("sous")] == pytest.approx(e / (e + 5))
    assert "**Soft lookup:** “the”" in texts(at) and "They disagree" in texts(at)
    # without √d scaling the score is a full 1 again
    at.toggle(key="sm_scale").set_value(False).run()
    probs = array(figure(at, "sm_probs")["data"][1]["y"])
    assert probs[KEYS.index("sous")] == pytest.approx(np.e / (np.e + 5))


def test_softmax_page_naive_overflows_and_scaling_plot():
    at = open_page("pages/softmax.py")
    table = at.dataframe[-1].value
    assert "nan" not in set(table.iloc[:, 2])
    at.slider(key="sm_shift").set_value(800).run()
    no_errors(at)
    table2 = at.dataframe[-1].value
    assert set(table2.iloc[:, 2]) == {"nan"}  # naive: nan everywhere, written "nan" as the text says (not "None")
    assert np.allclose(table2.iloc[:, 3].astype(float), table.iloc[:, 3].astype(float))  # stable: unchanged
    assert "overflowed" in texts(at)
    fig = figure(at, "sm_scaling")
    unscaled, scaled = array(fig["data"][0]["y"]), array(fig["data"][1]["y"])
    assert unscaled[-1] > 0.9 and scaled[-1] < 0.6  # d = 1024: collapsed vs still soft
    at.slider(key="sm_keys").set_value(2).run()
    assert array(figure(at, "sm_scaling")["data"][1]["y"]).min() >= 0.5  # 2 keys: the max is at least 1/2


def test_softmax_page_missing_and_empty_query():
    at = open_page("pages/softmax.py")
    at.text_input(key="sm_query").set_value("tables").run()
    no_errors(at)
    assert "**Hard lookup:** “table”" in texts(at)
    at.text_input(key="sm_query").set_value("").run()
    no_errors(at)


# --- attention -----------------------------------------------------------------------------------


def test_attention_page_translates_the_sentence_and_leaks_when_flat():
    at = open_page("pages/attention.py")
    no_errors(at)
    assert "**Attention translates:** the cat is under the table" in texts(at)
    w = array(figure(at, "att_weights")["data"][0]["z"])
    assert w.shape == (6, 6) and np.allclose(w.sum(axis=1), 1)
    assert [KEYS[i] for i in w.argmax(axis=1)] == ["le", "chat", "est", "sous", "la", "table"]
    # bare one-hot queries (s = 1): every word is outvoted by the two keys that give "the",
    # 2/(e^(1/√6) + 5) > e^(1/√6)/(e^(1/√6) + 5)
    at.slider(key="att_sharp").set_value(1.0).run()
    assert "**Attention translates:** the the the the the the" in texts(at)
    assert "answer for *chat* (the instead of cat)" in texts(at)
    # words missing from the dictionary are relaxed to their closest key
    at.slider(key="att_sharp").set_value(5.0).run()
    at.text_input(key="p1_sentence_input").set_value("les chats sous la tables").run()
    no_errors(at)
    assert "**Attention translates:** the cat under the table" in texts(at)


def _sdpa_output(words, d_head, seed, causal):
    import torch
    import torch.nn.functional as F

    from llmviz.concepts import vectors

    X = vectors.one_hot_matrix(words, sorted(set(words)))
    q, k, v = (torch.tensor(X @ W) for W in vectors.head_weights(X.shape[1], d_head, seed=seed))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()


def test_attention_page_head_causal_mask_reroll_and_size():
    at = open_page("pages/attention.py")
    words = ["le", "chat", "est", "sous", "la", "table"]
    weights = array(figure(at, "att_head_weights")["data"][0]["z"])
    upper = np.triu(np.ones((6, 6), dtype=bool), k=1)
    assert np.isnan(weights[upper]).all() and np.allclose(np.nansum(weights, axis=1), 1)  # masked: drawn empty
    assert weights[0, 0] == pytest.approx(1.0)  # the first word only sees itself
    out = array(figure(at, "att_head_output")["data"][0]["z"])
    assert np.allclose(out, _sdpa_output(words, 4, 0, True), atol=1e-6)

    at.toggle(key="att_causal").set_value(False).run()
    weights = array(figure(at, "att_head_weights")["data"][0]["z"])
    assert not np.isnan(weights).any() and (weights[upper] > 0).all()
    assert np.allclose(array(figure(at, "att_head_output")["data"][0]["z"]), _sdpa_output(words, 4, 0, False), atol=1e-6)

    q_before = array(figure(at, "att_head_Q")["data"][0]["z"])
    at.button(key="att_reroll").click().run()
    q_after = array(figure(at, "att_head_Q")["data"][0]["z"])
    assert q_before.shape == q_after.shape == (6, 4) and not np.allclose(q_before, q_after)
    assert np.allclose(array(figure(at, "att_head_output")["data"][0]["z"]), _sdpa_output(words, 4, 1, False), atol=1e-6)
    at.slider(key="att_dhead").set_value(7).run()
    assert array(figure(at, "att_head_Q")["data"][0]["z"]).shape == (6, 7)


def test_attention_page_odd_sentences():
    at = open_page("pages/attention.py")
    for sentence in ODD_SENTENCES + ["猫 猫 猫"]:
        at.text_input(key="p1_sentence_input").set_value(sentence).run()
        no_errors(at)
        words = [w for w in sentence.split() if any(c.isalnum() for c in w)]
        if words:  # one row per word (at most 32) in the self-attention weights
            n = min(len(words), 32)
            assert array(figure(at, "att_head_weights")["data"][0]["z"]).shape == (n, n)


# --- odd dictionaries on every page --------------------------------------------------------------

PART1_PAGES = ["pages/levenshtein.py", "pages/one_hot.py", "pages/matrix_dictionary.py", "pages/cosine.py",
               "pages/softmax.py", "pages/attention.py"]


@pytest.mark.parametrize("rows", [
    [["100%", "percent"], ["a_b", "x"], ["{", "brace"], ["猫", "cat"], ["猫", "kitty"]],  # odd keys, a duplicate
    [["seul", "alone"]],  # a single entry
    [[None, None], ["", ""]],  # only blank rows
])
def test_every_part1_page_takes_odd_dictionaries(rows):
    at = open_page(PART1_PAGES[0], session_state={"p1_dictionary_rows": rows, "p1_sentence": "猫 seul {"})
    for page in PART1_PAGES:
        at.switch_page(page).run()
        no_errors(at)


def test_latex_text_escapes_what_katex_would_choke_on():
    from pages.shared.part1_inputs import latex_text

    assert latex_text("chat") == "chat"
    assert latex_text("100%_{x}") == r"100\%\_\{x\}"
    assert latex_text("a\\b^c~") == r"a\textbackslash{}b\^{}c\~{}"
