"""Chunking: spans that are exact slices of the text, speakers and plays kept, windows that respect the
size and overlap, packing, and every impossible setting refused in plain words."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmviz.text import corpora
from llmviz.retrieval.chunking import ChunkConfig, ChunkingError, blocks, chunk, speaker_of, windows
from tests.vector_fixtures import PLAYS, speech_corpus


def test_speech_chunks_are_the_blocks_with_their_speaker_and_play():
    corpus = speech_corpus(30)
    chunks = chunk(corpus, ChunkConfig("speech", 2000, 0))
    assert len(chunks) == 30 == len(blocks(corpus.text))
    for c in chunks:
        assert corpus.text[c.start:c.end] == c.text
        assert c.speaker == c.text.split(":\n", 1)[0]
    assert [c.section for c in chunks[:1]] == [PLAYS[0]] and chunks[-1].section == PLAYS[-1]
    assert [c.id for c in chunks] == list(range(30))


def test_long_speeches_are_cut_into_overlapping_windows_that_keep_the_speaker():
    corpus = speech_corpus(20, long_every=4)
    cfg = ChunkConfig("speech", 120, 40)
    chunks = chunk(corpus, cfg)
    assert len(chunks) > 20
    assert all(len(c.text) <= cfg.size and corpus.text[c.start:c.end] == c.text for c in chunks)
    first_block = blocks(corpus.text)[0]  # a long one (i = 0)
    parts = [c for c in chunks if first_block[0] <= c.start < first_block[1]]
    assert len(parts) > 1 and {c.speaker for c in parts} == {speaker_of(corpus.text[slice(*first_block)])}
    for a, b in zip(parts, parts[1:]):
        assert a.start < b.start < a.end  # consecutive windows overlap
        assert a.end - b.start <= cfg.overlap
    # together they cover the whole block
    assert parts[0].start == first_block[0] and parts[-1].end == first_block[1]


def test_paragraphs_are_packed_up_to_the_size():
    corpus = speech_corpus(40)
    chunks = chunk(corpus, ChunkConfig("paragraphs", 300, 50))
    assert 1 < len(chunks) < 40
    assert all(len(c.text) <= 300 for c in chunks)
    # no chunk could have taken the next block too
    spans = blocks(corpus.text)
    for c in chunks[:-1]:
        nxt = next(s for s in spans if s[0] >= c.end)
        assert nxt[1] - c.start > 300
    # a chunk names its speaker only when all its speeches are by one speaker
    for c in chunks:
        who = {speaker_of(corpus.text[a:b]) for a, b in spans if c.start <= a < c.end}
        assert c.speaker == (who.pop() if len(who) == 1 else "")


def test_python_docs_sections_are_its_topics():
    corpus = corpora.python_docs()
    chunks = chunk(corpus, ChunkConfig("paragraphs", 800, 100))
    by_section = {c.section for c in chunks}
    assert "assert" in by_section and "if" in by_section
    c = next(c for c in chunks if c.section == "assert")
    assert "assert" in c.text


@pytest.mark.parametrize("cfg, text, words", [
    (ChunkConfig("speech", 5000, 0), "HAMLET:\nTo be, or not to be.\n", "as large as the whole text"),
    (ChunkConfig("speech", 10, 0), "x " * 100, "at least"),
    (ChunkConfig("speech", 100, 60), "x " * 100, "half the chunk size"),
    (ChunkConfig("lines", 100, 0), "x " * 100, "speech, paragraphs"),
    (ChunkConfig("speech", 100, 0), "   \n\n ", "empty"),
])
def test_impossible_settings_are_refused(cfg, text, words):
    with pytest.raises(ChunkingError, match=words):
        chunk(corpora.Corpus("t", text), cfg)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab \n", min_size=1, max_size=400), st.integers(20, 80), st.integers(0, 40))
def test_windows_cover_every_character_within_the_size(text, size, overlap):
    overlap = min(overlap, size // 2)
    spans = windows(text, 0, len(text), size, overlap)
    covered = set()
    for s, e in spans:
        assert 0 < e - s <= size
        covered |= set(range(s, e))
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered
    assert [s for s, _ in spans] == sorted({s for s, _ in spans})  # always moves forward
