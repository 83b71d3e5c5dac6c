"""Byte-level BPE against independent oracles: a merge example worked by hand, Hugging Face `tokenizers`
trained on the same texts (special tokens included), a naive recount of pair frequencies, and
encode/decode round trips."""

from __future__ import annotations

import json
import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmviz.text import corpora
from llmviz.jobs import FINISHED, STOPPED
from llmviz.text.bpe import GPT2_SPLIT_PATTERN, BPEError, BPETokenizer, gpt2_byte_to_unicode, merge_pair, train_bpe_job
from llmviz.errors import LearnerError
from llmviz.text.saved import load_tokenizer, tokenizer_from_dict

hf = pytest.importorskip("tokenizers")


# --- oracles ---------------------------------------------------------------------------------------

def hf_merges(text: str, vocab_size: int) -> list[tuple[bytes, bytes]]:
    """The merges Hugging Face's byte-level BPE trainer learns, as pairs of byte strings."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    to_byte = {c: b for b, c in gpt2_byte_to_unicode().items()}
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m.split(" ") if isinstance(m, str) else m for m in merges]
    return [(bytes(to_byte[c] for c in a), bytes(to_byte[c] for c in b)) for a, b in merges], tok


def our_merges(tok: BPETokenizer) -> list[tuple[bytes, bytes]]:
    return [(tok.vocab[m.pair[0]], tok.vocab[m.pair[1]]) for m in tok.merges]


def naive_counts(words: list[list[int]]) -> Counter:
    """Recount every adjacent pair of every chunk occurrence from scratch."""
    counts = Counter()
    for w in words:
        counts.update(zip(w, w[1:]))
    return counts


def mixed_unicode_text(n: int = 20_000, seed: int = 0) -> str:
    """A deterministic text full of ties and multi-byte characters (accents, CJK, emoji)."""
    rng = random.Random(seed)
    return "".join(rng.choice("héllo wörld 日本語 テキスト 😀🎉 ñañaña \n") for _ in range(n))


# --- the textbook example --------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [None, GPT2_SPLIT_PATTERN])
def test_textbook_example(pattern):
    # worked by hand: aa occurs 4 times -> 256; then (256, a) and (a, b) both occur twice, and the
    # Hugging Face tie-break prefers the pair of plain bytes (a, b) -> 257; then (256, 257) -> 258
    tok = BPETokenizer(pattern).train("aaabdaaabac", 259)
    assert [m.pair for m in tok.merges] == [(97, 97), (97, 98), (256, 257)]
    assert [m.count for m in tok.merges] == [4, 2, 2]
    assert [m.token for m in tok.merges] == [b"aa", b"ab", b"aaab"]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tok.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"
    assert tok.vocab_size == 259


def test_merge_pair_is_left_to_right_and_non_overlapping():
    assert merge_pair([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge_pair([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 9) == [9, 3, 9]
    assert merge_pair([], (1, 2), 9) == []


# --- exact equality with Hugging Face --------------------------------------------------------------

@pytest.mark.parametrize("name, text, vocab_size", [
    ("python docs", corpora.python_docs().text, 512),
    ("hamlet", corpora.play_text("hamlet"), 600),
    ("mixed unicode", mixed_unicode_text(), 400),
])
def test_merges_equal_hugging_face(name, text, vocab_size):
    theirs, _ = hf_merges(text, vocab_size)
    tok = BPETokenizer().train(text, vocab_size)
    assert len(theirs) == vocab_size - 256
    assert our_merges(tok) == theirs


def test_merges_equal_hugging_face_on_tiny_shakespeare(tiny_shakespeare):
    theirs, _ = hf_merges(tiny_shakespeare, 512)
    assert our_merges(BPETokenizer().train(tiny_shakespeare, 512)) == theirs


def test_encoding_equals_hugging_face():
    text = corpora.python_docs().text
    train, held_out = text[:200_000], text[200_000:260_000] + " 日本語 😀 naïve"
    theirs, hf_tok = hf_merges(train, 500)
    tok = BPETokenizer().train(train, 500)
    to_byte = {c: b for b, c in gpt2_byte_to_unicode().items()}
    hf_tokens = [bytes(to_byte[c] for c in t) for t in hf_tok.encode(held_out).tokens]
    assert [tok.vocab[i] for i in tok.encode(held_out)] == hf_tokens


# --- the merge records ------------------------------------------------------------------------------

def test_records_match_a_naive_recount():
    text = corpora.play_text("macbeth")[:30_000]
    tok = BPETokenizer().train(text, 256 + 40)
    words = [list(c.encode("utf-8")) for c in tok.split(text)]
    for m in tok.merges:
        counts = naive_counts(words)
        best = max(counts.values())
        assert counts[m.pair] == m.count == best  # the most frequent pair, with its true count
        words = [merge_pair(w, m.pair, m.id) for w in words]
        assert m.n_tokens == sum(map(len, words))
        assert m.token == tok.vocab[m.pair[0]] + tok.vocab[m.pair[1]]
    assert len(tok.encode(text)) == tok.merges[-1].n_tokens


def test_encoding_with_fewer_merges_equals_a_smaller_tokenizer():
    text = corpora.play_text("the-tempest")[:40_000]
    big = BPETokenizer().train(text, 356)
    for k in (0, 1, 17, 60):
        small = BPETokenizer().train(text, 256 + k)
        sample = text[5_000:7_000]
        assert big.encode(sample, n_merges=k) == small.encode(sample)
    assert big.encode("hello", n_merges=0) == list(b"hello")


def test_compression_grows_with_merges():
    text = corpora.play_text("hamlet")[:50_000]
    tok = BPETokenizer().train(text, 400)
    n = [m.n_tokens for m in tok.merges]
    assert all(a > b for a, b in zip(n, n[1:]))  # every merge removes at least one token
    # a merge removes at most `count` tokens (fewer when occurrences overlap, as in "aaa")
    assert len(text.encode("utf-8")) - tok.merges[0].count <= n[0] < len(text.encode("utf-8"))


# --- round trips --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained() -> BPETokenizer:
    return BPETokenizer().train(corpora.play_text("hamlet")[:60_000] + mixed_unicode_text(3_000), 450)


@pytest.mark.parametrize("text", [
    "", " ", "\n\n", "a", "hello world", "😀🎉👩‍👩‍👧", "日本語のテキスト", "naïve café", "e\u0301 a\u0300 n\u0303",
    "  leading and trailing spaces  ", "tabs\tand\r\nwindows lines", "I'm you'll they'd 123 4567",
    "\x00\x01 control", "\U0010ffff",
])
def test_round_trip_examples(trained, text):
    ids = trained.encode(text)
    assert trained.decode(ids) == text
    assert b"".join(trained.vocab[i] for i in ids) == text.encode("utf-8")


def test_round_trip_long_random_unicode(trained):
    rng = random.Random(1)
    # any code point but the surrogates, which UTF-8 cannot encode
    points = [rng.choice([rng.randrange(0x80), rng.randrange(0x80, 0xD800), rng.randrange(0xE000, 0x110000)])
              for _ in range(20_000)]
    text = "".join(map(chr, points))
    assert trained.decode(trained.encode(text)) == text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_round_trip_any_unicode(trained, text):
    assert trained.decode(trained.encode(text)) == text


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=2, max_size=400), st.booleans())
def test_training_on_any_text_round_trips(text, split):
    tok = BPETokenizer(GPT2_SPLIT_PATTERN if split else None).train(text, 300)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    if tok.merges:
        assert len(ids) == tok.merges[-1].n_tokens
    assert len(ids) <= len(text.encode("utf-8"))


# --- save and load -----------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [GPT2_SPLIT_PATTERN, None])
def test_save_load_round_trip(tmp_path, pattern):
    text = corpora.play_text("macbeth")[:20_000] + " 日本語 😀"
    tok = BPETokenizer(pattern).train(text, 300)
    path = tmp_path / "bpe.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == "bpe" and len(data["merges"]) == 44
    assert data["merges"][0]["token"] == tok.merges[0].token.decode("utf-8", "backslashreplace")
    loaded = load_tokenizer(path)
    assert isinstance(loaded, BPETokenizer)
    assert loaded.merges == tok.merges and loaded.pattern == pattern
    assert loaded.encode(text) == tok.encode(text)
    assert tokenizer_from_dict(tok.to_dict()).vocab == tok.vocab


def test_load_rejects_a_merge_of_unknown_tokens():
    with pytest.raises(ValueError, match="does not exist"):
        BPETokenizer.from_dict({"kind": "bpe", "pattern": None, "merges": [{"pair": [97, 300]}]})


# --- bad input ---------------------------------------------------------------------------------------

def test_bad_requests_say_what_is_wrong():
    assert issubclass(BPEError, LearnerError)  # shown to the learner as a refusal, not as a bug
    with pytest.raises(BPEError, match="at least 256"):
        BPETokenizer().train("hello", 200)
    with pytest.raises(BPEError, match="empty"):
        BPETokenizer().train("", 300)
    with pytest.raises(BPEError, match="whole number"):
        BPETokenizer().train("hello", 300.5)
    with pytest.raises(TypeError):
        BPETokenizer().train(b"hello", 300)
    tok = BPETokenizer().train("hello", 256)
    assert tok.merges == [] and tok.encode("hi") == [104, 105]
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tok.decode([256])
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tok.decode([-1])


def test_vocabulary_larger_than_the_text_supports():
    text = "the cat sat on the mat"
    tok = BPETokenizer().train(text, 10_000)
    # oracle: merging stops exactly when every chunk is a single token
    assert all(len(tok.encode(c)) == 1 for c in tok.split(text))
    assert tok.vocab_size < 10_000
    assert str(tok.vocab_size) in tok.stop_reason and "10000" in tok.stop_reason


@pytest.mark.parametrize("n", [2, 7, 1000])
def test_one_repeated_character(n):
    tok = BPETokenizer().train("a" * n, 400)
    # a merge can at best halve the run, and training goes on until one token covers it all
    assert math.ceil(math.log2(n)) <= len(tok.merges) < n
    assert our_merges(tok) == hf_merges("a" * n, 400)[0]
    assert tok.encode("a" * n) == [tok.vocab_size - 1]
    assert "repeated" in tok.stop_reason
    with pytest.raises(BPEError):
        BPETokenizer().train("", 400)


def test_single_character_text_has_nothing_to_merge():
    tok = BPETokenizer().train("x", 300)
    assert tok.merges == [] and "256" in tok.stop_reason


# --- stopping and the background job ---------------------------------------------------------------

def test_should_stop_and_on_merge():
    heard = []
    tok = BPETokenizer().train(corpora.play_text("hamlet")[:20_000], 400, on_merge=heard.append,
                               should_stop=lambda: len(heard) >= 5)
    assert len(tok.merges) == 5 and heard == tok.merges
    assert "stopped" in tok.stop_reason


def test_job_trains_and_reports_progress():
    job = train_bpe_job(corpora.play_text("hamlet")[:20_000], 300).start().join(30)
    snap = job.snapshot()
    assert snap.state == FINISHED and snap.step == snap.total == 44
    assert job.result.vocab_size == 300


def test_job_can_be_stopped():
    job = train_bpe_job(corpora.python_docs().text, 5_000).start()
    job.stop()  # arrives while the text is still being split: honoured before the first merge
    job.join(30)
    assert job.snapshot().state == STOPPED
    assert job.result.vocab_size < 5_000 and "stopped" in job.result.stop_reason


# --- special tokens ----------------------------------------------------------------------------------

SPECIALS = ["<|e", "<|end|>", "<|user|>", "<BOS>"]  # "<|e" begins "<|end|>": the longer one must win


def hf_style(tok: BPETokenizer, ids: list[int]) -> list[str]:
    """Our tokens written as Hugging Face writes them: GPT-2 characters, special tokens as they are."""
    byte_to_char = gpt2_byte_to_unicode()
    first_special = tok.ordinary_vocab_size
    return [tok.special_tokens[i - first_special] if i >= first_special
            else "".join(byte_to_char[b] for b in tok.vocab[i]) for i in ids]


def test_special_tokens_equal_hugging_face():
    text = corpora.python_docs().text[:100_000]
    _, hf_tok = hf_merges(text, 400)
    hf_tok.add_special_tokens(SPECIALS)
    tok = BPETokenizer(special_tokens=SPECIALS).train(text, 400)
    assert [tok.special_id(s) for s in SPECIALS] == [hf_tok.token_to_id(s) for s in SPECIALS] == [400, 401, 402, 403]
    sample = "<|user|> def f(x):<|end|><|end|x  return<|e x<BOS>日本語 😀<BOS><BOS>\n<|user|"
    assert hf_style(tok, tok.encode(sample)) == hf_tok.encode(sample).tokens


@pytest.fixture(scope="module")
def trained_with_specials() -> BPETokenizer:
    return BPETokenizer(special_tokens=SPECIALS).train(corpora.play_text("hamlet")[:30_000], 350)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SPECIALS), st.text(max_size=20)), max_size=12).map("".join))
def test_round_trip_with_special_tokens(trained_with_specials, text):
    tok = trained_with_specials
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    # "<|user|>" overlaps no other special token, so each occurrence is exactly one id
    assert ids.count(tok.special_id("<|user|>")) == text.count("<|user|>")


def test_special_tokens_in_the_training_text_are_never_merged():
    text = "<|user|>hello there<|end|><|user|>hello again<|end|>" * 50
    tok = BPETokenizer(special_tokens=SPECIALS).train(text, 300)
    assert not any(b"|" in m.token or b"<" in m.token for m in tok.merges)
    assert len(tok.encode(text)) == tok.merges[-1].n_tokens  # the specials count as one token each
    assert tok.tokens("<|end|>") == [(tok.special_id("<|end|>"), b"<|end|>")]
    assert tok.encode("<|end|>", n_merges=0) == [tok.special_id("<|end|>")]
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tok.decode([tok.vocab_size])
