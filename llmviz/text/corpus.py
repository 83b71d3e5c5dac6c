"""What a text to learn from is: its name, its characters, its named parts (the plays, the sections),
and the name to ask llmviz.text.corpora.get_corpus for to make it again."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property

from llmviz.errors import LearnerError


class CorpusError(LearnerError):
    """A text that cannot be used, with a message meant for the learner."""


@dataclass(frozen=True)
class Corpus:
    name: str  # what the learner picked, e.g. "Shakespeare (8 plays)"
    text: str
    # where each named part of the text starts, in order: ((offset, title), ...), e.g. the plays
    sections: tuple[tuple[int, str], ...] = ()
    # what get_corpus takes to make this text again ("world:0:200"); "" when it cannot (an upload, a pick of plays)
    source: str = ""

    def section_at(self, offset: int) -> str:
        """The title of the part that holds this character offset ("" when the text has no parts)."""
        starts = [s for s, _ in self.sections]
        i = bisect.bisect_right(starts, offset) - 1
        return self.sections[i][1] if i >= 0 else ""

    @property
    def n_chars(self) -> int:
        return len(self.text)

    @cached_property
    def _coded(self):
        """(sorted distinct characters, one int32 id per character): computed once per corpus, as a
        compact array (4 bytes a character) instead of a Python list (8 bytes a character plus objects)."""
        import numpy as np

        points = np.frombuffer(self.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if not len(points):
            return (), np.zeros(0, dtype=np.int32)
        present = np.flatnonzero(np.bincount(points))  # the distinct code points, sorted
        lookup = np.zeros(int(present[-1]) + 1, dtype=np.int32)
        lookup[present] = np.arange(len(present), dtype=np.int32)
        return tuple(map(chr, present.tolist())), lookup[points]

    @property
    def chars(self) -> tuple[str, ...]:
        """The text's distinct characters, sorted: the character tokenizer's vocabulary."""
        return self._coded[0]

    @property
    def char_ids(self):
        """The text as character-tokenizer ids (a read-only numpy int32 array, made once per corpus)."""
        ids = self._coded[1]
        ids.flags.writeable = False
        return ids

    @cached_property
    def n_distinct(self) -> int:
        return len(self.chars)

    def describe(self) -> str:
        return f"{self.name}: {self.n_chars:,} characters, {self.n_distinct} distinct"
