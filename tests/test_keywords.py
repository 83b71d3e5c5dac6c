"""Keyword (BM25) and hybrid search by LanceDB: BM25 scores against a case computed by hand, hybrid's fusion
against the reciprocal-rank formula over the two lists, stop words, and a table without a full-text index."""

import math

import numpy as np
import pytest

from llmviz.retrieval import keywords
from llmviz.retrieval.chunking import Chunk
from llmviz.retrieval.database import VectorDBError
from llmviz.retrieval.embedders import Word2VecEmbedder
from llmviz.retrieval.provenance import Provenance
from llmviz.retrieval.vectordb import VectorTable

# words the English analyzer keeps as they are (no stop word, nothing to stem)
DOCS = ["cat cat dog", "dog bird", "bird bird bird fish", "fish", "owl"]


def make_table(path, full_text=True):
    words = sorted({w for d in DOCS for w in d.split()})
    vectors = np.random.default_rng(0).normal(size=(len(words), 6))
    embedder = Word2VecEmbedder(words, vectors)
    chunks = [Chunk(i, d, 0, len(d), "", "") for i, d in enumerate(DOCS)]
    prov = Provenance({"name": "hand"}, {}, embedder.identity(), embedder.dim, n_chunks=len(chunks))
    return VectorTable.create(path, "hand", chunks, embedder.embed(DOCS), embedder, prov, full_text=full_text)


def bm25_by_hand(query: str) -> dict[int, float]:
    """Okapi BM25 as Lucene (and LanceDB) define it: k1 = 1.2, b = 0.75, idf = ln(1 + (N − n + ½) / (n + ½))."""
    docs = [d.split() for d in DOCS]
    avg = sum(map(len, docs)) / len(docs)
    out = {}
    for i, d in enumerate(docs):
        score = 0.0
        for w in query.split():
            n = sum(w in other for other in docs)
            tf = d.count(w)
            if tf:
                idf = math.log(1 + (len(docs) - n + 0.5) / (n + 0.5))
                score += idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * len(d) / avg))
        if score:
            out[i] = score
    return out


def test_bm25_scores_are_the_hand_computed_ones(tmp_path):
    table = make_table(tmp_path)
    for query in ["cat bird", "fish", "dog fish owl"]:
        got = keywords.keyword_search(table, query, k=10)
        expected = bm25_by_hand(query)
        assert {h.id: round(h.score, 4) for h in got.hits} == {i: round(s, 4) for i, s in expected.items()}
        assert [h.score for h in got.hits] == sorted((h.score for h in got.hits), reverse=True)


def test_hybrid_is_reciprocal_rank_fusion_of_the_two_lists(tmp_path):
    table = make_table(tmp_path)
    for query in ["cat bird", "fish owl", "dog"]:
        k = len(DOCS)  # both lists complete, so the fusion can be recomputed from them
        vector_ids = [h.id for h in table.search(query, k).hits]
        bm25_ids = keywords.keyword_search(table, query, k).ids
        fused = {}
        for ranking in (vector_ids, bm25_ids):
            for rank, i in enumerate(ranking, 1):
                fused[i] = fused.get(i, 0.0) + 1 / (keywords.RRF_K + rank)
        got = keywords.hybrid_search(table, query, k)
        assert {h.id: round(h.score, 6) for h in got.hits} == {i: round(s, 6) for i, s in fused.items()}
        assert [round(h.score, 6) for h in got.hits] == sorted((round(s, 6) for s in fused.values()), reverse=True)


def test_a_question_of_stop_words_is_told_why_bm25_finds_nothing(tmp_path):
    table = make_table(tmp_path)
    got = keywords.keyword_search(table, "a my for the", k=3)
    assert got.hits == [] and "only stop words" in got.note and "a, my, for, the" in got.note
    assert "no chunk holds" in keywords.keyword_search(table, "zebra", k=3).note
    assert keywords.content_words(["A", "horse", "my", "kingdom", "for", "a", "horse"]) == ["horse", "kingdom"]


def test_a_table_without_a_full_text_index_says_how_to_build_it(tmp_path):
    table = make_table(tmp_path, full_text=False)
    assert keywords.fts_info(table) is None
    with pytest.raises(VectorDBError, match="no full-text .BM25. index.*search-eval"):
        keywords.keyword_search(table, "cat", 3)
    ways = keywords.three_ways(table, "cat", 3)
    assert ways["vector"].hits and not ways["bm25"].hits and "full-text" in ways["hybrid"].note
    keywords.build_fts(table)
    assert keywords.keyword_search(table, "cat", 3).ids == [0]
    assert table.stats()["full_text_index"]["indexed_rows"] == len(DOCS)
