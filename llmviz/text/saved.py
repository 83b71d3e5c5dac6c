"""Any tokenizer rebuilt from its saved (`to_dict()`) form, by its "kind", as checkpoints store it, and
the translation's pair of tokenizers (a source and a target of any kind), which is saved the same way.

This module sits above every kind of tokenizer (`llmviz.text.tokenizers`, `llmviz.text.bpe`), so the
base class never needs to know its subclasses.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmviz.text.bpe import BPETokenizer
from llmviz.text.tokenizers import CharTokenizer, Tokenizer, WordTokenizer


class PairTokenizer(Tokenizer):
    """A source and a target tokenizer, for translation: the encoder reads `source`, the decoder writes
    `target`. As a Tokenizer it stands for the target side, what the model predicts."""

    kind = "pair"

    def __init__(self, source: Tokenizer, target: Tokenizer):
        super().__init__()
        self.source, self.target = source, target

    @property
    def ordinary_vocab_size(self) -> int:
        return self.target.vocab_size

    def encode(self, text: str) -> list[int]:
        return self.target.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.target.decode(ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "source": self.source.to_dict(), "target": self.target.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "PairTokenizer":
        return cls(tokenizer_from_dict(data["source"]), tokenizer_from_dict(data["target"]))


def tokenizer_from_dict(data: dict) -> Tokenizer:
    """Rebuild any tokenizer from its `to_dict()` form (used by checkpoints), by its "kind"."""
    kinds = {c.kind: c for c in (CharTokenizer, WordTokenizer, BPETokenizer, PairTokenizer)}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(kinds)}")
    return kinds[kind].from_dict(data)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A tokenizer of any kind, from a file written by its `save`."""
    return tokenizer_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
