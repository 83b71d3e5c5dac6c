"""A vector database: chunks stored with their vectors in LanceDB, found again by cosine similarity
(tutorial part 4, "vector databases").

LanceDB is embedded: a database is a folder (by default ~/.cache/llmviz/vectors), a table is a
sub-folder in the Lance columnar format, and there is no server. The same API scales to billions of
vectors on disk or object storage. Each table records how it was made in its schema's metadata (the
corpus, the chunking, the embedder and its fingerprint, the dimension: llmviz.retrieval.provenance), and
keeps its embedder beside it (`_llmviz/<table>/`: llmviz.retrieval.sidecar), so a question can be
embedded the same way after a restart. Vectors from another embedder, or of another dimension, are
refused and the table is left as it was.

A search (llmviz.retrieval.search) is exact (every row compared: LanceDB's flat scan) or goes through an
approximate index (IVF-PQ or HNSW, built by llmviz.retrieval.ann, which also measures its recall@k
against the exact search).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from llmviz.retrieval import embedders, keywords, sidecar
from llmviz.retrieval.chunking import Chunk
from llmviz.retrieval.database import (VectorDBError, check_filter, check_name, connect, default_dir, list_tables,
                                      reading, slug, writable_dir)
from llmviz.retrieval.provenance import Provenance, corpus_identity, table_rows, table_schema
from llmviz.retrieval.search import Hit, Searchable, SearchParams, SearchResult, where_clause
from llmviz.retrieval.sidecar import SIDECAR, describe_tables

# what callers have always imported from here
__all__ = ["SIDECAR", "Hit", "Provenance", "SearchParams", "SearchResult", "VectorDBError", "VectorTable",
           "corpus_identity", "default_dir", "describe_tables", "list_tables", "slug", "where_clause",
           "writable_dir"]


class VectorTable(Searchable):
    """One LanceDB table of chunks and vectors, with its provenance and its embedder (its searches are
    llmviz.retrieval.search.Searchable's)."""

    def __init__(self, db_dir: Path, name: str, table, provenance: Provenance):
        self.db_dir, self.name, self.table, self.provenance = Path(db_dir), name, table, provenance
        self._embedder: embedders.Embedder | None = None
        self._indexed: bool | None = None  # whether it has a vector index, as last seen by index_info()

    # --- opening and making ---
    @classmethod
    def open(cls, db_dir: str | Path, name: str) -> "VectorTable":
        db_dir = Path(db_dir).expanduser()
        check_name(name)
        if name not in list_tables(db_dir):
            have = list_tables(db_dir)
            raise VectorDBError(f"there is no table {name!r} in {db_dir}"
                                + (f"; it has: {', '.join(have)}." if have else ": it has no tables yet."))
        with reading(name):
            table = connect(db_dir).open_table(name)
            recorded = Provenance.of_schema(table.schema)
        if recorded is None:
            raise VectorDBError(f"the table {name!r} was not made by llmviz: it does not say how its vectors were made.")
        return cls(db_dir, name, table, recorded)

    @classmethod
    def create(cls, db_dir: str | Path, name: str, chunks: list[Chunk], vectors: np.ndarray,
               embedder: embedders.Embedder, provenance: Provenance, replace: bool = False,
               full_text: bool = True) -> "VectorTable":
        """Store chunks and their vectors in a new table (or, with replace, instead of an existing one), with
        a full-text (BM25) index on their text unless full_text is False (synthetic vectors have no text).
        Without replace, an existing table takes the rows only if its embedder is the same (see add)."""
        db_dir = writable_dir(db_dir)
        check_name(name)
        _check_vectors(vectors, len(chunks), embedder)
        if name in list_tables(db_dir) and not replace:
            table = cls.open(db_dir, name)
            table.add(chunks, vectors, embedder)
            return table
        schema = table_schema(embedder.dim, provenance)
        with sidecar.saving(db_dir, name, embedder, provenance):
            try:
                table = connect(db_dir).create_table(name, table_rows(chunks, vectors, schema), schema=schema,
                                                     mode="overwrite")
            except (RuntimeError, OSError):  # the old table's files are damaged: replacing it means removing them
                shutil.rmtree(db_dir / f"{name}.lance")
                table = connect(db_dir).create_table(name, table_rows(chunks, vectors, schema), schema=schema)
        out = cls(db_dir, name, table, provenance)
        out._embedder = embedder
        if full_text:
            keywords.build_fts(out)
        return out

    def add(self, chunks: list[Chunk], vectors: np.ndarray, embedder: embedders.Embedder) -> None:
        """Append rows made by the same embedder; anything else is refused and the table is unchanged.
        (The recorded provenance still describes the build that made the table.)"""
        self.check_embedder(embedder)
        _check_vectors(vectors, len(chunks), embedder)
        self.table.add(table_rows(chunks, vectors, self.table.schema))

    def check_embedder(self, embedder: embedders.Embedder) -> None:
        mine = self.provenance.embedder
        if embedder.kind != mine["kind"] or embedder.dim != self.provenance.dim:
            raise VectorDBError(
                f"the table {self.name!r} holds {mine['kind']} vectors of {self.provenance.dim} dimensions; these are "
                f"{embedder.kind} vectors of {embedder.dim}. Vectors from different embedders cannot be compared: "
                "build a new table (or replace this one). The table was left as it was.")
        if embedder.fingerprint != mine["fingerprint"]:
            raise VectorDBError(
                f"the table {self.name!r} was built by another {mine['kind']} embedder (same kind and dimension, "
                "different weights: retrained?). Its vectors would not be comparable: build a new table (or replace "
                "this one). The table was left as it was.")

    @property
    def embedder(self) -> embedders.Embedder:
        """The embedder that made the table's vectors (read from beside the table on first use)."""
        if self._embedder is None:
            self._embedder = sidecar.load_embedder(self.db_dir, self.name, self.provenance)
        return self._embedder

    # --- what it holds ---
    @property
    def rows(self) -> int:
        with reading(self.name):
            return self.table.count_rows()

    @property
    def dim(self) -> int:
        return self.provenance.dim

    def bytes_on_disk(self) -> int:
        folder = self.db_dir / f"{self.name}.lance"
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())

    def columns(self, names: list[str], where: str | None = None):
        """Some columns of every row (optionally filtered), as a pyarrow Table in id order."""
        q = self.table.search().select(names)
        if check_filter(where):
            q = q.where(where)
        with reading(self.name, where):
            out = q.limit(max(1, self.rows)).to_arrow()
        return out.sort_by("id") if "id" in names else out

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every row, in id order: the stored float32 values."""
        t = self.columns(["id", "vector"])
        flat = t["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return t["id"].to_numpy(), np.asarray(flat, dtype=np.float32).reshape(-1, self.dim)

    def values(self, column: str) -> list[str]:
        """The distinct non-empty values of a text column (the plays, the speakers), most rows first."""
        counts = Counter(self.columns([column])[column].to_pylist())
        return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if v]

    def index_info(self) -> dict | None:
        """The vector index, if any: kind, distance, rows indexed, unindexed rows, bytes."""
        self._indexed = False
        for ix in self.table.list_indices():
            if list(ix.columns) == ["vector"]:
                stats = self.table.index_stats(ix.name)
                self._indexed = True
                return {"name": ix.name, "type": stats.index_type, "distance": stats.distance_type,
                        "indexed_rows": stats.num_indexed_rows, "unindexed_rows": stats.num_unindexed_rows,
                        "bytes": getattr(ix, "size_bytes", None)}
        return None

    def stats(self) -> dict:
        p = self.provenance
        return {"table": self.name, "rows": self.rows, "dimensions": self.dim, "bytes_on_disk": self.bytes_on_disk(),
                "build_seconds": p.build_seconds, "embedder": p.embedder["kind"], "corpus": p.corpus.get("name"),
                "chunking": p.chunking, "chunks": p.n_chunks, "skipped": p.skipped, "built_at": p.built_at,
                "index": self.index_info(), "full_text_index": keywords.fts_info(self)}


def _check_vectors(vectors: np.ndarray, n: int, embedder: embedders.Embedder) -> None:
    v = np.asarray(vectors)
    if v.ndim != 2 or v.shape[0] != n or v.shape[1] != embedder.dim:
        raise VectorDBError(f"expected {n} vectors of {embedder.dim} dimensions, got an array of shape {v.shape}.")
    if not np.isfinite(v).all():
        raise VectorDBError("some vectors hold NaN or infinite values: the embedder diverged?")
