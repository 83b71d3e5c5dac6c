"""Keyword search (BM25) and hybrid search, beside vector search (tutorial part 4, retrieval as production
systems do it), all three by LanceDB itself.

- BM25: LanceDB's own full-text index on the chunks' text (an inverted index: word -> the chunks that hold
  it). Its analyzer lower-cases, stems English ("horses" -> "horse") and leaves out stop words ("a", "my",
  "for"). A chunk scores Σ over the question's words of idf(word) · tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avglen)):
  rare words weigh most, repeated words saturate, long chunks are discounted. It finds names and rare words
  exactly, and nothing that is said in other words.
- Vectors (llmviz.retrieval.search): the question's embedding against the chunks'; it finds paraphrases,
  and can miss a name the embedder squeezed away.
- Hybrid: both lists fused by LanceDB's reciprocal-rank-fusion reranker: a chunk scores Σ 1 / (60 + rank)
  over the lists it appears in (ranks from 1), so what is near the top of either list, or high in both,
  comes first. Ranks, not scores, are fused: a cosine and a BM25 score are not on one scale.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from llmviz.retrieval.database import VectorDBError
from llmviz.retrieval.search import Hit, SearchParams

COLUMN = "text"  # the column the full-text index covers
RRF_K = 60  # LanceDB's RRFReranker default: a hit at rank r of a list adds 1 / (60 + r)
METHODS = {"vector": "vector search", "bm25": "keyword search (BM25)", "hybrid": "hybrid (vector + BM25, RRF)"}
SCORES = {"vector": "cosine", "bm25": "BM25", "hybrid": "RRF"}
_COLUMNS = ["id", "text", "section", "speaker", "start", "end"]
_WORDS = re.compile(r"[^\W_]+(?:'[^\W\d_]+)*")


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """English stop words (scikit-learn's list): the words that carry no weight in a question."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def content_words(words) -> list[str]:
    """The words that carry weight: stop words left out, each word once, in order."""
    stop = stop_words()
    return list(dict.fromkeys(w.lower() for w in words if w.lower() not in stop))


def words_of(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


@dataclass
class Ranked:
    method: str  # "vector", "bm25" or "hybrid"
    hits: list[Hit]  # best first; Hit.score is the method's score (SCORES)
    ms: float  # the database's time for this search
    note: str = ""  # why there is no hit, or what was left out

    @property
    def ids(self) -> list[int]:
        return [h.id for h in self.hits]


# --- the full-text index --------------------------------------------------------------------------------

def fts_info(table) -> dict | None:
    """The table's full-text index, if any: its name, rows indexed and rows added since."""
    for ix in table.table.list_indices():
        if list(ix.columns) == [COLUMN] and str(ix.index_type).upper() in ("FTS", "INVERTED"):
            stats = table.table.index_stats(ix.name)
            return {"name": ix.name, "indexed_rows": stats.num_indexed_rows, "unindexed_rows": stats.num_unindexed_rows}
    return None


def build_fts(table) -> float:
    """Build (or rebuild) LanceDB's BM25 index on the chunks' text; returns the seconds it took."""
    from lancedb.index import FTS

    t0 = time.perf_counter()
    table.table.create_index(COLUMN, config=FTS(), replace=True)
    return time.perf_counter() - t0


def require_fts(table) -> None:
    if fts_info(table) is None:
        raise VectorDBError(f"the table {table.name!r} has no full-text (BM25) index, so it cannot be searched by "
                            "keywords. Build it: the button on the Vector databases page, or `python -m llmviz "
                            "search-eval --db DIR --table NAME`, which builds it first (tables built now get one).")


def _no_words_note(query: str) -> str:
    words = words_of(query)
    if words and not content_words(words):
        return (f"the question holds only stop words ({', '.join(dict.fromkeys(words))}): the keyword index leaves "
                "them out, so BM25 has nothing to look for. Ask with a word that carries meaning.")
    return "no chunk holds any word of the question (after stemming and leaving out stop words)."


def _hits(rows: list[dict], score: str) -> list[Hit]:
    return [Hit(r["id"], float(r[score]), r["text"], r["section"], r["speaker"], r["start"], r["end"]) for r in rows]


def _run(query, what: str) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    try:
        rows = query.to_arrow().to_pylist()
    except ValueError as e:
        raise VectorDBError(f"the {what} could not be run: {str(e).splitlines()[0]}") from None
    return rows, (time.perf_counter() - t0) * 1000


# --- the searches -----------------------------------------------------------------------------------------

def keyword_search(table, query: str, k: int = 10, where: str | None = None) -> Ranked:
    """The k chunks with the highest BM25 score for the question's words (LanceDB's full-text search)."""
    if not query or not query.strip():
        raise VectorDBError("type a question first: an empty question has nothing to search for.")
    require_fts(table)
    q = table.table.search(query, query_type="fts", fts_columns=COLUMN).select(_COLUMNS + ["_score"])
    if where:
        q = q.where(where, prefilter=True)
    rows, ms = _run(q.limit(k), "keyword search")
    return Ranked("bm25", _hits(rows, "_score"), ms, "" if rows else _no_words_note(query))


def vector_search(table, query: str, k: int = 10, where: str | None = None, exact: bool = True,
                  params: SearchParams = SearchParams()) -> Ranked:
    result = table.search(query, k, where, exact, params)
    return Ranked("vector", result.hits, result.ms, result.note)


def hybrid_search(table, query: str, k: int = 10, where: str | None = None, exact: bool = True,
                  params: SearchParams = SearchParams()) -> Ranked:
    """Vector search and BM25 fused by LanceDB's hybrid search with its reciprocal-rank-fusion reranker."""
    from lancedb.rerankers import RRFReranker

    require_fts(table)
    vector, _, _ = table.embed_query(query)
    if vector is None:  # the embedder knows none of the words: only the keyword list is left
        kw = keyword_search(table, query, k, where)
        kw.method, kw.note = "hybrid", ("the embedder knows none of the question's words, so there is no vector "
                                        "list to fuse: these are BM25's hits. " + kw.note).strip()
        return kw
    q = (table.table.search(query_type="hybrid", vector_column_name="vector", fts_columns=COLUMN)
         .vector(vector).text(query).distance_type("cosine"))
    if exact:
        q = q.bypass_vector_index()
    else:
        q = q.nprobes(params.nprobes)
        if params.refine_factor:
            q = q.refine_factor(params.refine_factor)
    if where:
        q = q.where(where, prefilter=True)
    q = q.rerank(RRFReranker(K=RRF_K)).select(_COLUMNS).limit(k)
    rows, ms = _run(q, "hybrid search")
    note = "" if content_words(words_of(query)) else "only stop words: the keyword list is empty, so this is the vector list."
    return Ranked("hybrid", _hits(rows, "_relevance_score"), ms, note)


def search_by(method: str, table, query: str, k: int = 10, where: str | None = None, exact: bool = True,
              params: SearchParams = SearchParams()) -> Ranked:
    """One of the three searches by its name ("vector", "bm25" or "hybrid")."""
    if method == "bm25":
        return keyword_search(table, query, k, where)
    if method not in ("vector", "hybrid"):
        raise VectorDBError(f"unknown retrieval method {method!r}: use one of {', '.join(METHODS)}.")
    return (vector_search if method == "vector" else hybrid_search)(table, query, k, where, exact, params)


def three_ways(table, query: str, k: int = 10, where: str | None = None, exact: bool = True,
               params: SearchParams = SearchParams()) -> dict[str, Ranked]:
    """The same question by vectors, by keywords and by both (a method that cannot run says why in its note)."""
    out = {"vector": vector_search(table, query, k, where, exact, params)}
    try:
        out["bm25"] = keyword_search(table, query, k, where)
        out["hybrid"] = hybrid_search(table, query, k, where, exact, params)
    except VectorDBError as e:
        for m in ("bm25", "hybrid"):
            out.setdefault(m, Ranked(m, [], 0.0, str(e)))
    return out
