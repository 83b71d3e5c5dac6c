"""The LanceDB tables: exact search equals brute-force cosine on every embedder, stored vectors round-trip,
a reopened table answers the same, provenance is recorded, other embedders' vectors are refused with the
table left intact, filters, the approximate index's measured recall, bad input, background builds, and
nothing touches the network."""

import socket

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from llmviz.retrieval import ann, embedders, rag, vectordb
from llmviz.retrieval.chunking import ChunkConfig, chunk
from llmviz.retrieval.vectordb import VectorDBError, VectorTable
from tests.vector_fixtures import PLAYS, assert_same_ranking, lm_embedder, speech_corpus, word2vec_embedder

torch.set_num_threads(1)
CFG = ChunkConfig("speech", 400, 50)
QUESTIONS = ["a storm at sea sank the ship", "the ghost walks at midnight", "sweet lady, my heart", "wine and bread",
             "the soldier's sword"]


@pytest.fixture(scope="module")
def corpus():
    return speech_corpus(300, long_every=25)


@pytest.fixture(scope="module")
def db(tmp_path_factory, corpus):
    """One database with a table per embedder."""
    path = tmp_path_factory.mktemp("vectors")
    rag.build(corpus, CFG, embedders.LSAConfig(dim=24), path, "lsa")
    rag.build(corpus, CFG, word2vec_embedder(corpus), path, "word2vec")
    rag.build(corpus, CFG, lm_embedder(corpus), path, "lm")
    return path


@pytest.mark.parametrize("name", ["lsa", "word2vec", "lm"])
def test_exact_search_is_brute_force_cosine_on_every_embedder(db, name):
    table = VectorTable.open(db, name)
    ids, vectors = table.vectors()
    for q in QUESTIONS:
        result = table.search(q, k=10)
        assert result.exact and len(result.hits) == 10
        assert_same_ranking([h.id for h in result.hits], [h.score for h in result.hits], ids, vectors, result.vector, 10)
    # and scikit-learn's brute-force cosine neighbours agree on the first question
    qv = table.embed_query(QUESTIONS[0])[0]
    nn = NearestNeighbors(n_neighbors=10, metric="cosine", algorithm="brute").fit(vectors.astype(np.float64))
    dist, rows = nn.kneighbors(qv[None, :].astype(np.float64))
    hits = table.search(QUESTIONS[0], k=10).hits
    np.testing.assert_allclose([h.score for h in hits], 1 - dist[0], atol=1e-5)
    assert {h.id for h in hits[:5]} == set(ids[rows[0][:5]].tolist()) or np.ptp(1 - dist[0][:6]) < 1e-5


def test_stored_vectors_and_rows_round_trip_unchanged(db, corpus):
    table = VectorTable.open(db, "lsa")
    chunks = chunk(corpus, CFG)
    ids, vectors = table.vectors()
    expected = table.embedder.embed([c.text for c in chunks]).astype(np.float32)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, expected[ids])  # bit for bit
    rows = table.columns(["id", "text", "start", "end", "section", "speaker"]).to_pylist()
    for r in rows:
        c = chunks[r["id"]]
        assert (r["text"], r["start"], r["end"]) == (c.text, c.start, c.end)
        assert (r["section"], r["speaker"]) == (c.section, c.speaker)


def test_provenance_is_recorded_with_the_table(db, corpus):
    table = VectorTable.open(db, "lsa")
    p = table.provenance
    assert p.corpus["name"] == "Test plays" and p.corpus["characters"] == len(corpus.text)
    assert p.chunking == {"by": "speech", "size": 400, "overlap": 50}
    assert p.embedder["kind"] == "lsa" and p.embedder["settings"]["dim"] == 24 == p.dim and p.metric == "cosine"
    assert p.embedder["fingerprint"] == table.embedder.fingerprint
    assert p.n_chunks == len(chunk(corpus, CFG)) == table.rows + p.skipped and p.build_seconds > 0
    assert vectordb.describe_tables(db)["lsa"] == p  # the copy beside it says the same
    stats = table.stats()
    assert stats["rows"] == table.rows and stats["dimensions"] == 24 and stats["bytes_on_disk"] > 0


def test_reopening_after_a_restart_gives_the_same_results(db):
    import subprocess
    import sys

    first = VectorTable.open(db, "word2vec").search(QUESTIONS[1], k=7)
    # a new process: nothing shared but the folder
    code = ("import json,sys; from llmviz.retrieval.vectordb import VectorTable; r = VectorTable.open(sys.argv[1], 'word2vec')"
            ".search(sys.argv[2], k=7); print(json.dumps([[h.id, h.score] for h in r.hits]))")
    out = subprocess.run([sys.executable, "-c", code, str(db), QUESTIONS[1]], capture_output=True, text=True, check=True)
    import json

    again = json.loads(out.stdout)
    assert [i for i, _ in again] == [h.id for h in first.hits]
    np.testing.assert_allclose([s for _, s in again], [h.score for h in first.hits], rtol=1e-6)


def test_other_embedders_vectors_are_refused_and_the_table_left_intact(db, corpus):
    table = VectorTable.open(db, "lsa")
    before_rows, before_version = table.rows, table.table.version
    _, before_vectors = table.vectors()
    chunks = chunk(corpus, CFG)[:5]
    other = word2vec_embedder(corpus)
    with pytest.raises(VectorDBError, match="holds lsa vectors of 24 dimensions; these are word2vec vectors of 12"):
        table.add(chunks, other.embed([c.text for c in chunks]), other)
    # same kind and dimension, other weights (a refit on less text): refused too
    refit = embedders.LSAEmbedder.fit([c.text for c in chunk(corpus, CFG)][:-30], embedders.LSAConfig(dim=24))
    assert refit.dim == 24
    with pytest.raises(VectorDBError, match="another lsa embedder"):
        table.add(chunks, refit.embed([c.text for c in chunks]), refit)
    with pytest.raises(VectorDBError, match="12 dimensions cannot be searched"):
        table.search_vector(np.ones(12))
    reopened = VectorTable.open(db, "lsa")
    assert reopened.rows == before_rows and reopened.table.version == before_version
    np.testing.assert_array_equal(reopened.vectors()[1], before_vectors)
    # building over it without replace is refused before any work
    with pytest.raises(VectorDBError, match="already exists"):
        rag.build(corpus, CFG, other, db, "lsa")
    assert VectorTable.open(db, "lsa").table.version == before_version


def test_the_same_embedder_may_add_rows(tmp_path, corpus):
    table = rag.build(corpus, CFG, embedders.LSAConfig(dim=8), tmp_path, "t")
    n = table.rows
    extra = chunk(corpus, CFG)[:3]
    table.add(extra, table.embedder.embed([c.text for c in extra]), table.embedder)
    assert VectorTable.open(tmp_path, "t").rows == n + 3


def test_metadata_filters_search_only_the_matching_rows(db):
    table = VectorTable.open(db, "lsa")
    ids, vectors = table.vectors()
    meta = table.columns(["id", "section", "speaker"]).to_pylist()
    where = vectordb.where_clause(PLAYS[1], "BEATRICE")
    keep = np.array([m["section"] == PLAYS[1] and m["speaker"] == "BEATRICE" for m in meta])
    result = table.search(QUESTIONS[0], k=5, where=where)
    assert result.hits and all(h.section == PLAYS[1] and h.speaker == "BEATRICE" for h in result.hits)
    assert_same_ranking([h.id for h in result.hits], [h.score for h in result.hits], ids[keep], vectors[keep],
                        result.vector, 5)
    assert table.values("section") and set(table.values("section")) == set(PLAYS)
    assert vectordb.where_clause("O'Brien's play") == "section = 'O''Brien''s play'"  # quotes escaped
    assert table.search(QUESTIONS[0], k=5, where=vectordb.where_clause("No such play")).hits == []
    with pytest.raises(VectorDBError, match="cannot be used"):
        table.search(QUESTIONS[0], where="colour = 'red'")


def test_bad_questions_and_k(db):
    table = VectorTable.open(db, "lsa")
    for empty in ("", "   "):
        with pytest.raises(VectorDBError, match="empty question"):
            table.search(empty)
    r = table.search("xyzzy plugh frobozz")
    assert r.hits == [] and r.vector is None and "none of the words" in r.note and "xyzzy" in r.note
    r = table.search("the ship xyzzy")
    assert r.hits and "xyzzy" in r.note and r.known == ["the", "ship"]
    r = table.search("the ship", k=10_000)
    assert len(r.hits) == table.rows and "fewer than k" in r.note
    with pytest.raises(VectorDBError, match="at least 1"):
        table.search("ship", k=0)
    lm = VectorTable.open(db, "lm")
    r = lm.search("✓✓✓")
    assert r.hits == [] and "characters" in r.note


def test_unwritable_or_missing_folders_are_explained(tmp_path, corpus):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(VectorDBError, match="cannot write the vector database"):
        rag.build(corpus, CFG, embedders.LSAConfig(dim=8), blocker / "db")
    with pytest.raises(VectorDBError, match="cannot write"):
        rag.build_job(corpus, CFG, embedders.LSAConfig(dim=8), blocker / "db")
    with pytest.raises(VectorDBError, match="no table 'x'"):
        VectorTable.open(tmp_path / "nothing-here", "x")
    assert vectordb.list_tables(tmp_path / "nothing-here") == []
    assert not (tmp_path / "nothing-here").exists()  # looking does not create anything


def test_approximate_index_recall_is_measured_against_exact_search(tmp_path, corpus):
    table = rag.build(corpus, CFG, embedders.LSAConfig(dim=24), tmp_path, "t")
    assert table.rows >= ann.MIN_ROWS and table.index_info() is None
    with pytest.raises(VectorDBError, match="no approximate index"):
        table.search("ship", exact=False)
    for cfg in (ann.IndexConfig("ivf_pq", num_partitions=1, num_sub_vectors=6), ann.IndexConfig("hnsw", 1)):
        assert ann.build_index(table, cfg) > 0
        info = table.index_info()
        assert info["indexed_rows"] == table.rows and info["distance"] == "cosine"
        for q in QUESTIONS:
            v = table.embed_query(q)[0]
            c = ann.compare(table, v, 10, repeats=1)
            index_hits, _ = table.search_vector(v, 10, exact=False)
            exact_hits, _ = table.search_vector(v, 10, exact=True)
            assert c.index_ids == [h.id for h in index_hits] and c.exact_ids == [h.id for h in exact_hits]
            assert c.recall == len(set(c.index_ids) & set(c.exact_ids)) / 10
            assert c.recall >= 0.6  # one partition, refined: nearly exact
            assert c.exact_ms > 0 and c.index_ms > 0
    ann.drop_index(table)
    assert table.index_info() is None


def test_impossible_indexes_are_refused(tmp_path, corpus):
    small = rag.build(speech_corpus(40), CFG, embedders.LSAConfig(dim=8), tmp_path, "small")
    with pytest.raises(VectorDBError, match="at least 256 rows"):
        ann.build_index(small)
    big = rag.build(corpus, CFG, embedders.LSAConfig(dim=24), tmp_path, "big")
    with pytest.raises(VectorDBError, match="must divide the dimension"):
        ann.check(ann.IndexConfig("ivf_pq", 1, 5), big.rows, big.dim)
    with pytest.raises(VectorDBError, match="partitions"):
        ann.check(ann.IndexConfig("ivf_pq", 1000), big.rows, big.dim)
    with pytest.raises(VectorDBError, match="unknown index"):
        ann.index_job(big, ann.IndexConfig("annoy"))
    assert ann.recall_at_k([1, 2, 3], [3, 4, 5]) == pytest.approx(1 / 3) and ann.recall_at_k([], []) == 1.0


def test_a_background_build_reports_progress_and_a_stop_writes_nothing(tmp_path, corpus):
    job = rag.build_job(corpus, CFG, embedders.LSAConfig(dim=8), tmp_path, "bg").start().join(60)
    snap = job.snapshot()
    assert snap.state == "finished" and snap.step == snap.total == len(chunk(corpus, CFG))
    assert isinstance(job.result, VectorTable) and vectordb.list_tables(tmp_path) == ["bg"]

    class StopAfterOneBatch:  # a job whose learner presses Stop while the first batch is embedded
        total, asked = 0, 0

        def should_stop(self):
            self.asked += 1
            return self.asked > 1

        def set(self, **kw):
            pass

        def advance(self, step=None):
            pass

    assert rag.build(corpus, CFG, embedders.LSAConfig(dim=8), tmp_path, "never", job=StopAfterOneBatch(),
                           batch=16) is None
    assert vectordb.list_tables(tmp_path) == ["bg"]  # nothing written
    failing = rag.build_job(corpus, CFG, embedders.LSAConfig(dim=8), tmp_path, "bg").start().join(60)
    assert failing.snapshot().state == "failed" and "already exists" in failing.snapshot().reason


def test_nothing_reaches_the_network(tmp_path, corpus, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    table = rag.build(corpus, CFG, embedders.LSAConfig(dim=24), tmp_path, "offline")
    ann.build_index(table, ann.IndexConfig("ivf_pq", 1, 6))
    assert VectorTable.open(tmp_path, "offline").search("ship at sea", k=3, exact=False).hits
    from llmviz.retrieval.langchain_rag import VectorTableRetriever

    assert VectorTableRetriever(table=table, k=2).invoke("ship at sea")


def test_foreign_tables_and_a_swapped_embedder_are_refused(tmp_path, corpus):
    import lancedb
    import pyarrow as pa

    lancedb.connect(str(tmp_path)).create_table("foreign", pa.table({"id": [1], "vector": [[0.0, 1.0]]}))
    assert vectordb.describe_tables(tmp_path) == {"foreign": None}
    with pytest.raises(VectorDBError, match="not made by llmviz"):
        VectorTable.open(tmp_path, "foreign")
    rag.build(corpus, CFG, word2vec_embedder(corpus, seed=1), tmp_path, "w")
    word2vec_embedder(corpus, seed=2).save(tmp_path / vectordb.SIDECAR / "w")  # someone swapped the files
    with pytest.raises(VectorDBError, match="not the one that built it"):
        VectorTable.open(tmp_path, "w").search("ship")
