"""The tokenizer interface: the character and word tokenizers, special tokens for every kind of
tokenizer (byte-level BPE included), and rebuilding any tokenizer from its saved form."""

from __future__ import annotations

import json

import pytest

from llmviz.text.bpe import BPETokenizer
from llmviz.errors import LearnerError
from llmviz.text.saved import load_tokenizer, tokenizer_from_dict
from llmviz.text.tokenizers import CharTokenizer, Tokenizer, WordTokenizer

TEXT = "the cat sat on the mat. the dog sat under the table. " * 20
SPECIALS = ["<BOS>", "<EOS>", "<PAD>"]
KINDS = ["char", "words", "bpe"]


def trained(kind: str, special_tokens=()) -> Tokenizer:
    """A tokenizer of the given kind trained on TEXT."""
    if kind == "char":
        return CharTokenizer(special_tokens=special_tokens).train(TEXT)
    if kind == "words":
        return WordTokenizer(special_tokens=special_tokens).train(TEXT)
    return BPETokenizer(special_tokens=special_tokens).train(TEXT, 300)


# --- the character tokenizer -------------------------------------------------------------------------

def test_char_tokenizer_round_trip_and_save(tmp_path):
    text = "hello, world! 日本"
    tok = CharTokenizer().train(text)
    assert tok.vocab_size == len(set(text)) and tok.chars == sorted(set(text))
    assert tok.decode(tok.encode(text)) == text
    tok.save(tmp_path / "c.json")
    assert load_tokenizer(tmp_path / "c.json").chars == tok.chars
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        tok.encode("z")


# --- the word tokenizer ------------------------------------------------------------------------------

def test_word_tokenizer_trains_on_lower_case_words():
    tok = WordTokenizer().train("The cat sat.  the CAT")
    assert tok.words == ["cat", "sat.", "the"]
    assert tok.encode("The Cat") == [2, 0] and tok.decode([2, 0]) == "the cat"
    with pytest.raises(ValueError, match="'dog' is not in the vocabulary"):
        tok.encode("the dog")


def test_word_tokenizer_round_trips_through_its_dict(tmp_path):
    tok = WordTokenizer(["the", "cat", "dog"])
    loaded = tokenizer_from_dict(tok.to_dict())
    assert isinstance(loaded, WordTokenizer) and loaded.words == tok.words
    assert loaded.encode("the dog") == tok.encode("the dog") == [0, 2]
    tok.save(tmp_path / "w.json")
    assert load_tokenizer(tmp_path / "w.json").words == tok.words


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'morse'"):
        tokenizer_from_dict({"kind": "morse"})


# --- special tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_special_ids_come_after_the_vocabulary(kind):
    plain, tok = trained(kind), trained(kind, SPECIALS)
    n = plain.vocab_size
    assert plain.special_tokens == [] and tok.special_tokens == SPECIALS
    assert tok.ordinary_vocab_size == n and tok.vocab_size == n + 3
    assert [tok.special_id(s) for s in SPECIALS] == [n, n + 1, n + 2]
    with pytest.raises(LearnerError, match="'<UNK>' is not a special token"):
        tok.special_id("<UNK>")


@pytest.mark.parametrize("kind, decoded", [
    ("char", "<BOS>the cat sat<EOS><PAD><PAD>"),
    ("words", "<BOS> the cat sat <EOS> <PAD> <PAD>"),  # words are joined by spaces, special tokens too
    ("bpe", "<BOS>the cat sat<EOS><PAD><PAD>"),
])
def test_encode_and_decode_special_tokens(kind, decoded):
    plain, tok = trained(kind), trained(kind, SPECIALS)
    bos, eos, pad = (tok.special_id(s) for s in SPECIALS)
    ids = tok.encode("<BOS>the cat sat<EOS><PAD><PAD>")
    assert ids == [bos, *plain.encode("the cat sat"), eos, pad, pad]
    assert tok.decode(ids) == decoded
    assert tok.encode("the dog sat") == plain.encode("the dog sat")  # without special tokens: as before


def test_the_longest_special_token_wins_and_case_matters():
    tok = CharTokenizer(list("<|>end"), special_tokens=["<|e", "<|end|>"])
    assert tok.encode("<|end|><|e<|en") == [7, 6, 6, 4]  # "<|end|>", "<|e", "<|e" then "n"
    tok = WordTokenizer(["the"], special_tokens=["<BOS>"])
    assert tok.encode("<BOS> THE") == [1, 0]
    with pytest.raises(ValueError, match="'<bos>' is not in the vocabulary"):
        tok.encode("<bos>")  # a special token is matched exactly, before the words are lower-cased


@pytest.mark.parametrize("kind", KINDS)
def test_training_does_not_learn_from_special_tokens(kind):
    plain = trained(kind)
    with_marks = type(plain)(special_tokens=SPECIALS)
    text = "<BOS>" + TEXT.replace(". ", ".<EOS><PAD> ")  # the same text between the special tokens
    with_marks = with_marks.train(text, 300) if kind == "bpe" else with_marks.train(text)
    assert with_marks.special_tokens == SPECIALS
    assert with_marks.encode(TEXT) == plain.encode(TEXT)  # the same ordinary vocabulary


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_are_saved_and_loaded(kind, tmp_path):
    tok = trained(kind, SPECIALS)
    data = json.loads(tok.to_json())
    assert data["special_tokens"] == SPECIALS
    loaded = tokenizer_from_dict(data)
    assert type(loaded) is type(tok) and loaded.special_tokens == SPECIALS
    assert loaded.vocab_size == tok.vocab_size
    text = "<BOS>the dog sat<EOS><PAD>"
    assert loaded.encode(text) == tok.encode(text) and loaded.decode(tok.encode(text)) == tok.decode(tok.encode(text))
    tok.save(tmp_path / "t.json")
    assert load_tokenizer(tmp_path / "t.json").special_id("<PAD>") == tok.special_id("<PAD>")


@pytest.mark.parametrize("kind", KINDS)
def test_a_dict_without_special_tokens_still_loads(kind):
    data = trained(kind).to_dict()
    assert "special_tokens" not in data  # tokenizers without special tokens are saved as they always were
    loaded = tokenizer_from_dict(data)
    assert loaded.special_tokens == [] and loaded.vocab_size == trained(kind).vocab_size


def test_a_dict_saved_before_special_tokens_existed_loads():
    assert tokenizer_from_dict({"kind": "char", "chars": ["a", "b"]}).encode("ba") == [1, 0]
    assert tokenizer_from_dict({"kind": "words", "words": ["the", "cat"]}).encode("the cat") == [0, 1]
    assert tokenizer_from_dict({"kind": "bpe", "pattern": None, "merges": []}).vocab_size == 256


@pytest.mark.parametrize("make", [
    lambda s: CharTokenizer(["a"], special_tokens=s),
    lambda s: WordTokenizer(["a"], special_tokens=s),
    lambda s: BPETokenizer(special_tokens=s),
    lambda s: tokenizer_from_dict({"kind": "char", "chars": ["a"], "special_tokens": s}),
])
@pytest.mark.parametrize("specials, message", [
    (["<EOS>", ""], "non-empty string, got ''"),
    (["<EOS>", 3], "non-empty string, got 3"),
    (["<EOS>", "<PAD>", "<EOS>"], "'<EOS>' appears more than once"),
    ("<EOS>", "as a list of strings"),
])
def test_bad_special_tokens_are_refused(make, specials, message):
    with pytest.raises(LearnerError, match=message):
        make(specials)
