"""Counting in plain English: "1 merge", "2 merges", never "1 merges" or "edit(s)"."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """n and the noun, singular for exactly one: plural(1, "merge") -> "1 merge", plural(1200, "merge")
    -> "1,200 merges"; `many` for irregular plurals."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
