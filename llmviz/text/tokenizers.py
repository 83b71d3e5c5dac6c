"""Tokenizers: turn text into integer ids and back (tutorial part 1, "tokenization").

`CharTokenizer` is the tutorial's trivial tokenizer: the sorted distinct characters of a text.
`WordTokenizer` is the slides' tokenizer: the whitespace-separated words of a small vocabulary.
Byte-level BPE lives in `llmviz.text.bpe`; the translation's pair of tokenizers, and rebuilding any
tokenizer from its saved form, in `llmviz.text.saved`.

Every tokenizer can also have **special tokens**: strings such as "<|user|>" or "<EOS>" that mark
structure (who speaks, where a sentence ends) rather than text. Each one is a single token whose id
comes right after the ordinary vocabulary; encoding finds them in the text before anything else,
so they are never cut into characters, words or bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from llmviz.errors import LearnerError


class Tokenizer:
    """The interface every tokenizer shares, and the handling of special tokens.

    A subclass gives its ordinary vocabulary (`ordinary_vocab_size`, `encode_ordinary`, `decode`);
    special tokens take the ids ordinary_vocab_size, ordinary_vocab_size + 1, ... in the order given."""

    kind = "base"

    def __init__(self, special_tokens: Sequence[str] = ()):
        self.special_tokens: list[str] = _checked_special_tokens(special_tokens)
        self._special_index = {s: k for k, s in enumerate(self.special_tokens)}
        # longest first, so that "<|end|>" wins over a special token "<|e" that begins it
        longest_first = sorted(self.special_tokens, key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")") if longest_first else None

    def train(self, text: str, **kwargs) -> "Tokenizer":
        raise NotImplementedError

    @property
    def ordinary_vocab_size(self) -> int:
        """How many ordinary tokens there are (special tokens not counted)."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        """Ordinary tokens plus special tokens: the number of rows of the model's embedding table."""
        return self.ordinary_vocab_size + len(self.special_tokens)

    def special_id(self, name: str) -> int:
        """The id of the special token `name`, e.g. special_id("<EOS>")."""
        if name not in self._special_index:
            raise LearnerError(f"{name!r} is not a special token of this tokenizer; its special tokens are "
                               f"{self.special_tokens or 'none'}")
        return self.ordinary_vocab_size + self._special_index[name]

    def encode(self, text: str) -> list[int]:
        """Text -> ids: each special token's string becomes its single id, the text between is
        encoded with the ordinary vocabulary."""
        return self._encode_around_specials(text, self.encode_ordinary)

    def encode_ordinary(self, text: str) -> list[int]:
        """Text -> ids with the ordinary vocabulary only: special tokens' strings are plain text here."""
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> "Tokenizer":
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    # --- for subclasses ---
    def _split_specials(self, text: str) -> list[str]:
        """The text cut at special tokens: ordinary text at even places, the special tokens at odd ones."""
        return self._special_re.split(text) if self._special_re else [text]

    def _encode_around_specials(self, text: str, encode_ordinary: Callable[[str], list[int]]) -> list[int]:
        if self._special_re is None:
            return encode_ordinary(text)  # no special tokens: nothing to look for
        first_special = self.ordinary_vocab_size
        out: list[int] = []
        for k, part in enumerate(self._special_re.split(text)):
            if k % 2:
                out.append(first_special + self._special_index[part])
            elif part:
                out.extend(encode_ordinary(part))
        return out

    def _specials_dict(self) -> dict:
        """The special tokens for to_dict; left out when there are none, so such files stay as they were."""
        return {"special_tokens": list(self.special_tokens)} if self.special_tokens else {}


def _checked_special_tokens(tokens: Sequence[str]) -> list[str]:
    if isinstance(tokens, str):
        raise LearnerError(f"give the special tokens as a list of strings, e.g. [{tokens!r}], not one string")
    tokens = list(tokens)
    for t in tokens:
        if not isinstance(t, str) or not t:
            raise LearnerError(f"a special token must be a non-empty string, got {t!r}")
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise LearnerError(f"each special token must be given once, but {', '.join(map(repr, repeated))} "
                           f"appears more than once")
    return tokens


class CharTokenizer(Tokenizer):
    """Each distinct character of the training text is a token; ids follow sorted order."""

    kind = "char"

    def __init__(self, chars: Sequence[str] | None = None, *, special_tokens: Sequence[str] = ()):
        super().__init__(special_tokens)
        self.chars: list[str] = list(chars or [])
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = self.chars + self.special_tokens  # id -> text, special tokens included

    def train(self, text: str, **kwargs) -> "CharTokenizer":
        """Take the characters of the text; special tokens' strings are not learned from."""
        ordinary = "".join(self._split_specials(text)[::2])
        if not ordinary:
            raise ValueError("cannot build a character vocabulary from an empty text")
        self.__init__(sorted(set(ordinary)), special_tokens=self.special_tokens)
        return self

    @property
    def ordinary_vocab_size(self) -> int:
        return len(self.chars)

    def encode_ordinary(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in this tokenizer's vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.itos[i] for i in ids)

    def encode_array(self, text: str):
        """The same ids as encode(text), as a compact numpy int32 array, computed without a Python loop:
        for long texts (a 45 MB text is 180 MB this way, about 1.5 GB as a list of Python ints)."""
        import numpy as np

        if self.special_tokens:
            return np.asarray(self.encode(text), dtype=np.int32)
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if not len(points):
            return np.zeros(0, dtype=np.int32)
        known = np.fromiter((ord(c) for c in self.chars), dtype=np.int64, count=len(self.chars))
        lookup = np.full(int(max(points.max(), known.max(initial=0))) + 1, -1, dtype=np.int32)
        lookup[known] = np.arange(len(known), dtype=np.int32)
        ids = lookup[points]
        bad = np.flatnonzero(ids < 0)
        if len(bad):
            raise ValueError(f"character {chr(points[bad[0]])!r} is not in this tokenizer's vocabulary")
        return ids

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars, **self._specials_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        return cls(data["chars"], special_tokens=data.get("special_tokens", ()))


SHOWN_WORDS = 12  # words of the vocabulary an error names (an API response must not carry all of it)


class WordTokenizer(Tokenizer):
    """Whitespace-separated words of a fixed vocabulary, lower-cased; ids follow the vocabulary's order."""

    kind = "words"

    def __init__(self, words: Sequence[str] = (), *, special_tokens: Sequence[str] = ()):
        super().__init__(special_tokens)
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.itos = self.words + self.special_tokens  # id -> text, special tokens included

    def train(self, text: str, **kwargs) -> "WordTokenizer":
        """Take the sorted distinct words of the text; special tokens' strings are not learned from."""
        words = {w for part in self._split_specials(text)[::2] for w in part.lower().split()}
        self.__init__(sorted(words), special_tokens=self.special_tokens)
        return self

    @property
    def ordinary_vocab_size(self) -> int:
        return len(self.words)

    def encode_ordinary(self, text: str) -> list[int]:
        try:
            return [self.index[w] for w in text.lower().split()]
        except KeyError as e:
            shown = ", ".join(self.words[:SHOWN_WORDS]) + (", ..." if len(self.words) > SHOWN_WORDS else "")
            raise ValueError(f"the word {e.args[0]!r} is not in the vocabulary of {len(self.words):,} words "
                             f"({shown})") from None

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "words": self.words, **self._specials_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "WordTokenizer":
        return cls(data["words"], special_tokens=data.get("special_tokens", ()))
