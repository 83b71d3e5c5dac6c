"""A vector database: chunks stored with their vectors in LanceDB, found again by cosine similarity
(tutorial part 4, "vector databases").

LanceDB is embedded: a database is a folder (by default ~/.cache/llmviz/vectors), a table is a
sub-folder in the Lance columnar format, and there is no server. The same API scales to billions of
vectors on disk or object storage. Each table records how it was made in its schema's metadata (the
corpus, the chunking, the embedder and its fingerprint, the dimension), and keeps its embedder beside it
(`_llmviz/<table>/`), so a question can be embedded the same way after a restart. Vectors from another
embedder, or of another dimension, are refused and the table is left as it was.

A search is exact (every row compared: LanceDB's flat scan) or goes through an approximate index (IVF-PQ
or HNSW, built by llmviz.retrieval.ann, which also measures its recall@k against the exact search).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from llmviz.text import corpora
from llmviz.retrieval import embedders
from llmviz.retrieval.chunking import Chunk
from llmviz.errors import LearnerError

os.environ.setdefault("LANCEDB_LOG", "error")  # LanceDB's Rust side warns on stderr when a table is created

METADATA_KEY = b"llmviz"
FORMAT = 1
SIDECAR = "_llmviz"  # where each table keeps its embedder


class VectorDBError(LearnerError):
    """A database request that cannot be carried out, with a message meant for the learner."""


def default_dir() -> Path:
    return corpora.cache_dir() / "vectors"


def slug(text: str) -> str:
    """A table name LanceDB accepts: letters, digits, '-' and '_'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "table"


def list_tables(db_dir: str | Path) -> list[str]:
    """The tables of a database folder, without opening it (an absent folder has none)."""
    db_dir = Path(db_dir)
    if not db_dir.is_dir():
        return []
    return sorted(p.name[:-6] for p in db_dir.iterdir() if p.name.endswith(".lance") and p.is_dir())


def describe_tables(db_dir: str | Path) -> dict[str, Provenance | None]:
    """Each table of a database folder with its provenance, read from the copy kept beside it (cheap:
    LanceDB is not opened); None for a table that has none."""
    out = {}
    for name in list_tables(db_dir):
        f = Path(db_dir) / SIDECAR / name / "provenance.json"
        try:
            out[name] = Provenance.from_json(f.read_text())
        except (OSError, ValueError, TypeError):
            out[name] = None
    return out


def writable_dir(db_dir: str | Path) -> Path:
    """The database folder, created if needed; refused, saying why, when it cannot be written."""
    db_dir = Path(db_dir).expanduser()
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
        probe = db_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise VectorDBError(f"cannot write the vector database to {db_dir} ({e.strerror or e}): "
                            "choose a folder you can write to.") from None
    return db_dir


def _connect(db_dir: Path):
    import lancedb

    return lancedb.connect(str(db_dir))


# --- what a table records about itself ----------------------------------------------------------------

@dataclass(frozen=True)
class Provenance:
    corpus: dict  # name, characters, sha256 of the text
    chunking: dict  # ChunkConfig.to_dict()
    embedder: dict  # Embedder.identity(): kind, dim, fingerprint, settings
    dim: int
    metric: str = "cosine"
    n_chunks: int = 0  # chunks made from the corpus
    skipped: int = 0  # chunks with no known word (a zero vector can never be found): not stored
    build_seconds: float = 0.0  # chunking, embedding and writing
    built_at: str = ""
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, data: bytes | str) -> "Provenance":
        return cls(**json.loads(data))

    def describe(self) -> str:
        c = self.chunking
        return (f"{self.corpus.get('name', '?')}, chunked by {c.get('by')} (size {c.get('size')}, overlap "
                f"{c.get('overlap')}), embedded by {self.embedder['kind']} in {self.dim} dimensions")


def corpus_identity(corpus: corpora.Corpus) -> dict:
    import hashlib

    return {"name": corpus.name, "characters": corpus.n_chars,
            "sha256": hashlib.sha256(corpus.text.encode()).hexdigest()}


def _schema(dim: int, provenance: Provenance):
    import pyarrow as pa

    return pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string()), pa.field("start", pa.int64()),
                      pa.field("end", pa.int64()), pa.field("section", pa.string()), pa.field("speaker", pa.string()),
                      pa.field("vector", pa.list_(pa.float32(), dim))],
                     metadata={METADATA_KEY: provenance.to_json().encode()})


def _rows(chunks: list[Chunk], vectors: np.ndarray, schema):
    import pyarrow as pa

    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.table({"id": [c.id for c in chunks], "text": [c.text for c in chunks], "start": [c.start for c in chunks],
                     "end": [c.end for c in chunks], "section": [c.section for c in chunks],
                     "speaker": [c.speaker for c in chunks],
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])}, schema=schema)


# --- a search and its hits ----------------------------------------------------------------------------

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


# --- a table ------------------------------------------------------------------------------------------

class VectorTable:
    """One LanceDB table of chunks and vectors, with its provenance and its embedder."""

    def __init__(self, db_dir: Path, name: str, table, provenance: Provenance):
        self.db_dir, self.name, self.table, self.provenance = Path(db_dir), name, table, provenance
        self._embedder: embedders.Embedder | None = None
        self._indexed: bool | None = None  # whether it has a vector index, as last seen by index_info()

    # --- opening and making ---
    @classmethod
    def open(cls, db_dir: str | Path, name: str) -> "VectorTable":
        db_dir = Path(db_dir).expanduser()
        if name not in list_tables(db_dir):
            have = list_tables(db_dir)
            raise VectorDBError(f"there is no table {name!r} in {db_dir}"
                                + (f"; it has: {', '.join(have)}." if have else ": it has no tables yet."))
        table = _connect(db_dir).open_table(name)
        meta = (table.schema.metadata or {}).get(METADATA_KEY)
        if meta is None:
            raise VectorDBError(f"the table {name!r} was not made by llmviz: it does not say how its vectors were made.")
        return cls(db_dir, name, table, Provenance.from_json(meta))

    @classmethod
    def create(cls, db_dir: str | Path, name: str, chunks: list[Chunk], vectors: np.ndarray,
               embedder: embedders.Embedder, provenance: Provenance, replace: bool = False) -> "VectorTable":
        """Store chunks and their vectors in a new table (or, with replace, instead of an existing one).
        Without replace, an existing table takes the rows only if its embedder is the same (see add)."""
        db_dir = writable_dir(db_dir)
        _check_vectors(vectors, len(chunks), embedder)
        if name in list_tables(db_dir) and not replace:
            table = cls.open(db_dir, name)
            table.add(chunks, vectors, embedder)
            return table
        schema = _schema(embedder.dim, provenance)
        sidecar = db_dir / SIDECAR / name
        staging = db_dir / SIDECAR / f".{name}.{os.getpid()}.part"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            embedder.save(staging)
            (staging / "provenance.json").write_text(provenance.to_json())  # readable without opening the table
            table = _connect(db_dir).create_table(name, _rows(chunks, vectors, schema), schema=schema, mode="overwrite")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(sidecar, ignore_errors=True)
        staging.replace(sidecar)
        out = cls(db_dir, name, table, provenance)
        out._embedder = embedder
        return out

    def add(self, chunks: list[Chunk], vectors: np.ndarray, embedder: embedders.Embedder) -> None:
        """Append rows made by the same embedder; anything else is refused and the table is unchanged.
        (The recorded provenance still describes the build that made the table.)"""
        self.check_embedder(embedder)
        _check_vectors(vectors, len(chunks), embedder)
        self.table.add(_rows(chunks, vectors, self.table.schema))

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
            e = embedders.load(self.db_dir / SIDECAR / self.name, self.provenance.embedder["kind"])
            if e.fingerprint != self.provenance.embedder["fingerprint"]:
                raise VectorDBError(f"the embedder saved beside {self.name!r} is not the one that built it: "
                                    "rebuild the table.")
            self._embedder = e
        return self._embedder

    # --- what it holds ---
    @property
    def rows(self) -> int:
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
        if where:
            q = q.where(where)
        out = q.limit(max(1, self.rows)).to_arrow()
        return out.sort_by("id") if "id" in names else out

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every row, in id order: the stored float32 values."""
        t = self.columns(["id", "vector"])
        flat = t["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return t["id"].to_numpy(), np.asarray(flat, dtype=np.float32).reshape(-1, self.dim)

    def values(self, column: str) -> list[str]:
        """The distinct non-empty values of a text column (the plays, the speakers), most rows first."""
        from collections import Counter

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
                "index": self.index_info()}

    # --- searching ---
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
        if where:
            q = q.where(where, prefilter=True)
        q = q.select(["id", "text", "section", "speaker", "start", "end"]).limit(k)
        t0 = time.perf_counter()
        try:
            out = q.to_arrow()
        except ValueError as e:
            if where:
                raise VectorDBError(f"the filter {where!r} cannot be used: {str(e).splitlines()[0]}") from None
            raise
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
        if k < 1:
            raise VectorDBError(f"k must be at least 1 (it is {k}).")
        rows = self.rows
        if k > rows:
            notes.append(f"the table has {rows} chunks, fewer than k = {k}: all of them are returned.")
            k = rows
        hits, ms = self.search_vector(vector, k, where, exact, params)
        if where and not hits:
            notes.append(f"no chunk matches the filter {where}.")
        return SearchResult(query, hits, exact, ms, known, unknown, vector, " ".join(notes))



def _check_vectors(vectors: np.ndarray, n: int, embedder: embedders.Embedder) -> None:
    v = np.asarray(vectors)
    if v.ndim != 2 or v.shape[0] != n or v.shape[1] != embedder.dim:
        raise VectorDBError(f"expected {n} vectors of {embedder.dim} dimensions, got an array of shape {v.shape}.")
    if not np.isfinite(v).all():
        raise VectorDBError("some vectors hold NaN or infinite values: the embedder diverged?")
