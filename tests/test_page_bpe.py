"""The BPE page, driven through AppTest on a short text so it trains in a blink."""

from __future__ import annotations

import hashlib
import html
import json
import re

from llmviz.text import corpora
from llmviz.text.bpe import BPETokenizer, train_bpe_job
from tests.conftest import open_page

PAGE = "pages/bpe.py"
TEXT = corpora.play_text("hamlet")[:15_000]


def state(text: str = TEXT, **extra) -> dict:
    # "upload" keeps the sidebar from replacing the corpus we hand the page
    return {"corpus_source": corpora.UPLOAD, "corpus": corpora.Corpus("test text", text), **extra}


def spans(at, index: int = 0) -> list[tuple[int, str]]:
    """(id, text) of each coloured token span in the page's index-th token view."""
    body = at.get("html")[index].proto.body
    found = re.findall(r'data-id="(\d+)"[^>]*>(.*?)</span>', body, flags=re.S)
    return [(int(i), html.unescape(t)) for i, t in found]


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_step_through_merges_table_and_chart():
    at = open_page(PAGE, session_state=state(bpe_vocab=320))
    assert not at.exception and not at.error
    tok = BPETokenizer().train(TEXT, 320)
    assert metric(at, "Vocabulary") == "320"
    assert metric(at, "Tokens after BPE") == f"{len(tok.encode(TEXT)):,}"

    # all merges applied: the spans are the tokenizer's own tokens, and they spell the sample back
    at.text_area(key="bpe_sample").set_value("the king & <queen>\nthat is").run()
    got = spans(at)
    assert [i for i, _ in got] == tok.encode("the king & <queen>\nthat is")
    assert "".join(t for _, t in got) == "the king & <queen>\nthat is"  # escaped, not swallowed as HTML

    # no merges: one token per byte
    at.slider(key="bpe_step").set_value(0).run()
    assert [i for i, _ in spans(at)] == list("the king & <queen>\nthat is".encode())
    at.slider(key="bpe_step").set_value(5).run()
    assert [i for i, _ in spans(at)] == tok.encode("the king & <queen>\nthat is", n_merges=5)
    assert any(f"Merge **5**" in m.value for m in at.markdown)

    # the compression chart: 1 byte per token before any merge, the record's length at the end
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    bpt, length, char_ref = fig["data"][0], fig["data"][1], fig["data"][2]
    n_bytes = len(TEXT.encode())
    assert bpt["y"][0] == 1.0 and abs(bpt["y"][-1] - n_bytes / tok.merges[-1].n_tokens) < 1e-9
    assert length["y"][-1] == len(tok.encode(TEXT)) and len(length["y"]) == 320 - 256 + 1
    assert char_ref["y"][0] == n_bytes / len(TEXT)

    # a step slider at the end follows the end when the vocabulary grows
    at.slider(key="bpe_step").set_value(64).run()
    at.slider(key="bpe_vocab").set_value(352).run()
    assert at.slider(key="bpe_step").value == 96
    tok = BPETokenizer().train(TEXT, 352)

    # the merge table, searched
    at.text_input(key="bpe_search").set_value("th").run()
    table = at.dataframe[0].value
    expected = [m.id for m in tok.merges if "th" in m.token.decode("utf-8", "replace").lower()]
    assert list(table["id"]) == expected and expected


def test_tokenize_and_decode_box():
    at = open_page(PAGE, session_state=state(bpe_vocab=300))
    tok = BPETokenizer().train(TEXT, 300)
    at.text_area(key="bpe_try").set_value("naïve 😀 king").run()
    assert [i for i, _ in spans(at, 1)] == tok.encode("naïve 😀 king")
    assert any(c.value == ", ".join(map(str, tok.encode("naïve 😀 king"))) for c in at.code)
    at.text_input(key="bpe_ids").set_value("104, 105").run()
    assert at.success[0].value == "Decoded: 'hi'"
    at.text_input(key="bpe_ids").set_value("1, x").run()
    assert "not a token id" in at.error[0].value
    at.text_input(key="bpe_ids").set_value("99999").run()
    assert "not in this tokenizer's vocabulary" in at.error[0].value
    assert not at.exception
    assert at.get("download_button")


def test_texts_that_cannot_reach_the_vocabulary_are_explained():
    at = open_page(PAGE, session_state=state("aaaaaaaa", bpe_vocab=512))
    assert not at.exception
    assert "supports only 259 tokens" in at.warning[0].value and "repeated" in at.warning[0].value
    at = open_page(PAGE, session_state=state("", bpe_vocab=512))
    assert not at.exception and "empty" in at.error[0].value


def test_big_vocabulary_trains_in_the_background():
    at = open_page(PAGE, session_state=state(bpe_vocab=2400))
    assert not at.exception and not at.metric  # nothing trained yet: a Train button instead
    at.button(key="bpe_train").click().run()
    job = at.session_state["bpe_job"]
    job.join(60)
    at.run()
    assert not at.exception
    tok = BPETokenizer().train(TEXT, 2400)
    assert metric(at, "Vocabulary") == f"{tok.vocab_size:,}"  # the short text runs out of pairs first
    assert "supports only" in at.warning[0].value


def test_a_stopped_run_keeps_what_it_learned():
    job = train_bpe_job(TEXT, 2400).start()
    job.stop()
    job.join(60)
    key = (hashlib.sha1(TEXT.encode()).hexdigest(), 2400)
    at = open_page(PAGE, session_state=state(bpe_vocab=2400, bpe_job=job, bpe_job_key=key))
    assert not at.exception
    assert "stopped at your request" in at.warning[0].value
    assert metric(at, "Vocabulary") == f"{job.result.vocab_size:,}"


def test_the_vocabulary_size_is_kept_when_the_learner_leaves_and_comes_back():
    at = open_page(PAGE, session_state=state())
    at.slider(key="bpe_vocab").set_value(384).run()
    at.switch_page("pages/softmax.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception and at.slider(key="bpe_vocab").value == 384
