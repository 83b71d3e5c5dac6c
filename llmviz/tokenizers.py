"""Tokenizers: turn text into integer ids and back (tutorial part 1, "tokenization").

`CharTokenizer` is the tutorial's trivial tokenizer: the sorted distinct characters of a text.
"""

from __future__ import annotations

import json
from pathlib import Path


class Tokenizer:
    """The interface every tokenizer shares."""

    kind = "base"

    def train(self, text: str, **kwargs) -> "Tokenizer":
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict) -> "Tokenizer":
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Tokenizer":
        return tokenizer_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class CharTokenizer(Tokenizer):
    """Each distinct character of the training text is a token; ids follow sorted order."""

    kind = "char"

    def __init__(self, chars: list[str] | None = None):
        self.chars: list[str] = list(chars or [])
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    def train(self, text: str, **kwargs) -> "CharTokenizer":
        if not text:
            raise ValueError("cannot build a character vocabulary from an empty text")
        self.__init__(sorted(set(text)))
        return self

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in this tokenizer's vocabulary") from None

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        return cls(data["chars"])


def tokenizer_from_dict(data: dict) -> Tokenizer:
    """Rebuild any tokenizer from its `to_dict()` form (used by checkpoints)."""
    kinds = {c.kind: c for c in (CharTokenizer,)}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(kinds)}")
    return kinds[kind].from_dict(data)
