"""Chunking: cut a text into the passages a vector database stores and retrieves (tutorial part 4).

A question is answered from a few passages, not from a whole corpus, so the corpus is cut first. The
text is read as blocks separated by blank lines: a speech in Shakespeare ("HAMLET:" and its lines), a
paragraph elsewhere. Two ways to make chunks of them:

- "speech": every block is one chunk, so each chunk has one speaker;
- "paragraphs": consecutive blocks are packed together until the next one would pass the size.

A block longer than the size is cut into windows of at most `size` characters, cut at a space, each
starting `overlap` characters before the previous one ended: a sentence cut in two is whole in one of
them. Every chunk keeps where it comes from (its character span, its play or section, its speaker), so
a hit can be shown in context and a search can be filtered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmviz.text.corpora import Corpus
from llmviz.errors import LearnerError

BY = ("speech", "paragraphs")
MIN_SIZE = 20  # characters: below this a chunk is a word or two
_BLOCK = re.compile(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*")  # lines up to the next blank line
_SPEAKER = re.compile(r"([^\n:]{1,40}):[ \t]*\n")  # "First Citizen:" on the block's first line


class ChunkingError(LearnerError):
    """Chunk settings that cannot work on this text, with a message meant for the learner."""


@dataclass(frozen=True)
class ChunkConfig:
    by: str = "paragraphs"  # "speech": one block between blank lines each; "paragraphs": blocks packed up to size
    size: int = 600  # the most characters in one chunk
    overlap: int = 100  # characters shared by consecutive windows of a block longer than size

    def to_dict(self) -> dict:
        return {"by": self.by, "size": self.size, "overlap": self.overlap}


@dataclass(frozen=True)
class Chunk:
    id: int  # position in the list of chunks
    text: str
    start: int  # character span in the corpus: text == corpus.text[start:end]
    end: int
    section: str  # the play (or part of the text) it comes from, "" if the text has none
    speaker: str  # who speaks, "" when unknown or when the chunk holds several speakers


def blocks(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of the blocks of a text: runs of non-blank lines, stripped."""
    return [m.span() for m in _BLOCK.finditer(text)]


def speaker_of(block: str) -> str:
    """The speaker of a Tiny-Shakespeare-shaped speech ("HAMLET:\\n..." -> "HAMLET"), else ""."""
    m = _SPEAKER.match(block)
    return m.group(1).strip() if m else ""


def windows(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into spans of at most `size` characters, each ending at a space when one is
    near, the next starting `overlap` characters before (at a word start)."""
    out = []
    s = start
    while True:
        while s < end and text[s].isspace():
            s += 1
        if end - s <= size:
            if s < end:
                out.append((s, end))
            return out
        e = s + size
        space = text.rfind(" ", s + size // 2, e + 1)
        cut = text.rfind("\n", s + size // 2, e + 1)
        e = max(space, cut) if max(space, cut) > s else e  # no space in the second half: cut the word
        out.append((s, e))
        nxt = max(e - overlap, s + 1)
        # start the next window at the beginning of a word
        while nxt < e and not (text[nxt - 1].isspace() and not text[nxt].isspace()):
            nxt += 1
        s = nxt if overlap > 0 and nxt < e else e


def check(cfg: ChunkConfig, n_chars: int) -> None:
    """Refuse settings that cannot give useful chunks, saying why."""
    if cfg.by not in BY:
        raise ChunkingError(f"chunk by {cfg.by!r}? Use one of: {', '.join(BY)}.")
    if cfg.size < MIN_SIZE:
        raise ChunkingError(f"a chunk of {cfg.size} characters is a word or two: use at least {MIN_SIZE}.")
    if not 0 <= cfg.overlap <= cfg.size // 2:
        raise ChunkingError(f"the overlap ({cfg.overlap}) must be between 0 and half the chunk size "
                            f"({cfg.size // 2}); more and consecutive windows would mostly repeat each other.")
    if n_chars == 0:
        raise ChunkingError("the text is empty: there is nothing to cut into chunks.")
    if cfg.size >= n_chars:
        raise ChunkingError(f"the chunk size ({cfg.size:,} characters) is as large as the whole text "
                            f"({n_chars:,}): one chunk would be the whole text and a search could only ever "
                            "return it. Choose a smaller size or a longer text.")


def chunk(corpus: Corpus, cfg: ChunkConfig = ChunkConfig()) -> list[Chunk]:
    """The chunks of a corpus, in reading order."""
    text = corpus.text
    check(cfg, len(text.strip()))
    spans: list[tuple[int, int, str]] = []  # (start, end, speaker)
    if cfg.by == "speech":
        for s, e in blocks(text):
            who = speaker_of(text[s:e])
            spans += [(a, b, who) for a, b in windows(text, s, e, cfg.size, cfg.overlap)]
    else:
        group: list[tuple[int, int]] = []

        def flush():
            if group:
                who = {speaker_of(text[a:b]) for a, b in group}
                spans.append((group[0][0], group[-1][1], who.pop() if len(who) == 1 else ""))
                group.clear()

        for s, e in blocks(text):
            if e - s > cfg.size:  # too long for any chunk: cut on its own
                flush()
                who = speaker_of(text[s:e])
                spans += [(a, b, who) for a, b in windows(text, s, e, cfg.size, cfg.overlap)]
            else:
                if group and e - group[0][0] > cfg.size:
                    flush()
                group.append((s, e))
        flush()
    return [Chunk(i, text[s:e], s, e, corpus.section_at(s), who) for i, (s, e, who) in enumerate(spans)]
