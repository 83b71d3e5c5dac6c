"""Searching a vector table: a question embedded by the table's own embedder, its k nearest chunks by
cosine similarity, exactly (every row compared: LanceDB's flat scan) or through an approximate index
(IVF-PQ or HNSW, built by llmviz.retrieval.ann), optionally filtered by play and speaker."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from llmviz.retrieval.database import VectorDBError, check_filter, reading


@dataclass(frozen=True)
class Hit:
    id: int  # the chunk's position in its corpus's chunk list
    score: float  # cosine similarity to the question, 1 = same direction
    text: str
    section: str
    speaker: str
    start: int
    end: int


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    exact: bool  # True: every row compared; False: through the approximate index
    ms: float  # the database's time for this search
    known: list[str] = field(default_factory=list)  # words of the question the embedder knows
    unknown: list[str] = field(default_factory=list)  # words it ignored
    vector: np.ndarray | None = None  # the question's vector (None when it has none)
    note: str = ""  # anything the learner should know (unknown words, k capped, ...)


@dataclass(frozen=True)
class SearchParams:
    nprobes: int = 20  # IVF partitions searched per question
    refine_factor: int | None = 10  # re-rank k × this candidates with the full vectors (None: no re-ranking)
    ef: int | None = None  # HNSW: candidates kept while searching the graph (None: LanceDB's default)


def where_clause(section: str | None = None, speaker: str | None = None) -> str | None:
    """A LanceDB (SQL) filter for one play / section and one speaker; None filters nothing."""
    parts = [f"{col} = '{val.replace(chr(39), chr(39) * 2)}'" for col, val in (("section", section), ("speaker", speaker))
             if val]
    return " AND ".join(parts) or None


class Searchable:
    """The searches of llmviz.retrieval.vectordb.VectorTable, which provides `table` (LanceDB's), `name`,
    `dim`, `rows`, `embedder`, `index_info()` and `_indexed` (whether index_info() last saw an index)."""

    def search_vector(self, vector, k: int = 10, where: str | None = None, exact: bool = True,
                      params: SearchParams = SearchParams()) -> tuple[list[Hit], float]:
        """The k rows closest to a vector by cosine similarity, best first, and the milliseconds it took."""
        v = np.asarray(vector, dtype=np.float32).ravel()
        if v.shape[0] != self.dim:
            raise VectorDBError(f"a vector of {v.shape[0]} dimensions cannot be searched in {self.name!r}, "
                                f"whose vectors have {self.dim}.")
        if k < 1:
            raise VectorDBError(f"k must be at least 1 (it is {k}).")
        q = self.table.search(v, vector_column_name="vector").distance_type("cosine")
        if exact:
            q = q.bypass_vector_index()
        else:
            if not (self._indexed if self._indexed is not None else self.index_info() is not None):
                raise VectorDBError(f"the table {self.name!r} has no approximate index yet: build one, or search exactly.")
            q = q.nprobes(params.nprobes)
            if params.refine_factor:
                q = q.refine_factor(params.refine_factor)
            if params.ef:
                q = q.ef(params.ef)
        if check_filter(where):
            q = q.where(where, prefilter=True)
        q = q.select(["id", "text", "section", "speaker", "start", "end"]).limit(k)
        t0 = time.perf_counter()
        with reading(self.name, where):  # a filter failing on the rows, damaged files: in words
            out = q.to_arrow()
        ms = (time.perf_counter() - t0) * 1000
        rows = out.to_pylist()
        return [Hit(r["id"], 1.0 - float(r["_distance"]), r["text"], r["section"], r["speaker"], r["start"], r["end"])
                for r in rows], ms

    def embed_query(self, query: str) -> tuple[np.ndarray | None, list[str], list[str]]:
        """The question's vector (None when none of its words is known), the known and the ignored words."""
        if not query or not query.strip():
            raise VectorDBError("type a question first: an empty question has nothing to search for.")
        known, unknown = self.embedder.split_known(query)
        vector = self.embedder.embed([query])[0] if known else None
        if vector is not None and not np.any(vector):
            vector = None
        return vector, known, unknown

    def search(self, query: str, k: int = 10, where: str | None = None, exact: bool = True,
               params: SearchParams = SearchParams()) -> SearchResult:
        """Embed a question with the table's own embedder and return its k nearest chunks.
        A question with no known word returns no hit (and says so) rather than arbitrary chunks."""
        vector, known, unknown = self.embed_query(query)
        notes = []
        if vector is None:
            what = "character" if self.embedder.kind == "lm" else "word"
            return SearchResult(query, [], exact, 0.0, known, unknown, None,
                                f"none of the {what}s of the question is known to the {self.embedder.kind} embedder "
                                f"({', '.join(unknown[:10]) or 'none'}), so it has no vector: nothing was searched.")
        if unknown:
            notes.append("ignored (not in the embedder's vocabulary): " + ", ".join(dict.fromkeys(unknown)))
        rows = self.rows
        if k > rows:
            notes.append(f"the table has {rows} chunks, fewer than k = {k}: all of them are returned.")
            k = rows
        hits, ms = self.search_vector(vector, k, where, exact, params)
        if where and not hits:
            notes.append(f"no chunk matches the filter {where}.")
        return SearchResult(query, hits, exact, ms, known, unknown, vector, " ".join(notes))
