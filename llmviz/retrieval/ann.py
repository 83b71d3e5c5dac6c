"""Approximate nearest neighbours: an index that finds most of the nearest vectors while reading a
fraction of them (tutorial part 4, "vector databases" at scale).

Exact search compares the question with every row: the right answer, at a cost that grows with the
table. An index trades a little of that exactness for speed, and the trade is measured here, never
assumed: recall@k is the share of the exact top k that the index also returns, for the same question.

- IVF-PQ: k-means cuts the vectors into `num_partitions` clusters (the inverted file, IVF); a search
  visits the `nprobes` clusters whose centres are nearest. Inside, each vector is stored compressed by
  product quantization (PQ): cut into `num_sub_vectors` pieces, each replaced by the nearest of 256
  learned codes (1 byte). `refine_factor` re-ranks the best k × refine_factor candidates with the full
  vectors, which wins back most of what the compression lost.
- HNSW (LanceDB's IVF_HNSW_SQ): inside each cluster, a graph linking every vector to `m` near ones; a
  search walks the graph greedily, keeping `ef` candidates; vectors are stored as 8-bit scalars (SQ).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from llmviz.jobs import Job
from llmviz.retrieval import evaluate, sidecar, synthetic
from llmviz.retrieval.chunking import Chunk
from llmviz.retrieval.database import VectorDBError, slug
from llmviz.retrieval.provenance import Provenance
from llmviz.retrieval.search import SearchParams
from llmviz.retrieval.vectordb import VectorTable

KINDS = {"ivf_pq": "IVF-PQ", "hnsw": "HNSW (IVF_HNSW_SQ)"}
MIN_ROWS = 256  # an 8-bit product quantizer learns 256 codes per sub-vector from the rows
ROWS_PER_PARTITION = 32  # each partition's centre is learned from at least this many rows
INDEX_RECORD = "index.json"  # beside the table: the settings its index was built with
PROBE_SHARE = 0.1  # the default nprobes searches about a tenth of the partitions: approximate, not exact in disguise


@dataclass(frozen=True)
class IndexConfig:
    kind: str = "ivf_pq"  # "ivf_pq" (inverted file + product quantization) or "hnsw" (IVF + HNSW graph)
    num_partitions: int | None = None  # IVF clusters; None: √rows, at most rows / 256
    num_sub_vectors: int | None = None  # IVF-PQ: pieces each vector is cut into (must divide dim); None: dim / 4
    m: int = 20  # HNSW: links per node
    ef_construction: int = 300  # HNSW: candidates kept while building the graph


@dataclass(frozen=True)
class Comparison:
    k: int
    exact_ids: list[int]
    index_ids: list[int]
    exact_ms: float  # median of the repeats
    index_ms: float
    recall: float  # |index ∩ exact| / |exact|: the share of the true top k the index found

    @property
    def speedup(self) -> float:
        return self.exact_ms / self.index_ms if self.index_ms > 0 else float("inf")


def recall_at_k(found, truth) -> float:
    """The share of the true nearest ids that were found (1.0 when there is nothing to find)."""
    truth = set(truth)
    return len(truth & set(found)) / len(truth) if truth else 1.0


def timed(fn, repeats: int = 5) -> tuple[float, object]:
    """The median wall time of fn() in milliseconds over `repeats` runs (after one warm-up), and its result."""
    out = fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def max_partitions(rows: int) -> int:
    return max(1, rows // ROWS_PER_PARTITION)


def default_partitions(rows: int) -> int:
    """About √rows clusters (the usual IVF rule of thumb), within what the rows can train."""
    return min(max_partitions(rows), max(1, round(rows ** 0.5)))


def default_nprobes(partitions: int) -> int:
    """About a tenth of the partitions (at least 1, fewer than all when there are several): with every
    partition probed an "approximate" search would be exact by construction and teach nothing."""
    return max(1, min(partitions - 1, round(partitions * PROBE_SHARE))) if partitions > 1 else 1


def sub_vector_choices(dim: int) -> list[int]:
    """The sub-vector counts a dim-wide vector can be split into: its divisors."""
    return [d for d in range(1, dim + 1) if dim % d == 0]


def default_sub_vectors(dim: int) -> int:
    """dim / 4 (4 values per byte-sized code keeps small vectors precise), else the nearest divisor."""
    for per in (4, 8, 2, 16):
        if dim % per == 0:
            return dim // per
    return 1


def check(cfg: IndexConfig, rows: int, dim: int) -> tuple[int, int | None]:
    """The partitions and sub-vectors an index would use, or a refusal that says why."""
    if cfg.kind not in KINDS:
        raise VectorDBError(f"unknown index {cfg.kind!r}: use one of {', '.join(KINDS)}.")
    if rows < MIN_ROWS:
        raise VectorDBError(f"an approximate index learns its clusters and codes from the rows: it needs at least "
                            f"{MIN_ROWS} rows and this table has {rows}. Exact search is instant at this size.")
    parts = cfg.num_partitions or default_partitions(rows)
    if not 1 <= parts <= max_partitions(rows):
        raise VectorDBError(f"{parts} partitions for {rows:,} rows: use between 1 and {max_partitions(rows)} "
                            f"(each partition's centre is learned from at least {ROWS_PER_PARTITION} rows).")
    subs = None
    if cfg.kind == "ivf_pq":
        subs = cfg.num_sub_vectors or default_sub_vectors(dim)
        if subs < 1 or dim % subs:
            raise VectorDBError(f"the number of sub-vectors ({subs}) must divide the dimension ({dim}).")
    return parts, subs


def build_index(table: VectorTable, cfg: IndexConfig = IndexConfig()) -> float:
    """Build (or rebuild) a table's approximate index on its vectors, for cosine distance; returns seconds."""
    from lancedb.index import HnswSq, IvfPq

    parts, subs = check(cfg, table.rows, table.dim)
    if cfg.kind == "ivf_pq":
        config = IvfPq(distance_type="cosine", num_partitions=parts, num_sub_vectors=subs)
    else:
        config = HnswSq(distance_type="cosine", num_partitions=parts, m=cfg.m, ef_construction=cfg.ef_construction)
    t0 = time.perf_counter()
    table.table.create_index("vector", config=config, replace=True)
    seconds = time.perf_counter() - t0
    table.index_info()  # the table now knows it has an index
    with contextlib.suppress(OSError):  # LanceDB does not report the partitions: kept beside the table
        _record(table).write_text(json.dumps({"kind": cfg.kind, "num_partitions": parts, "num_sub_vectors": subs}))
    return seconds


def _record(table: VectorTable) -> Path:
    return Path(table.db_dir) / sidecar.SIDECAR / table.name / INDEX_RECORD


def built_partitions(table: VectorTable) -> int | None:
    """The partitions the table's index was built with (recorded when built here), None if unknown or no index."""
    if table.index_info() is None:
        return None
    try:
        return int(json.loads(_record(table).read_text())["num_partitions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def drop_index(table: VectorTable) -> None:
    info = table.index_info()
    if info:
        table.table.drop_index(info["name"])
        table.index_info()


def compare(table: VectorTable, vector, k: int = 10, where: str | None = None,
            params: SearchParams = SearchParams(), repeats: int = 5) -> Comparison:
    """Exact search and the index on the same vector: recall@k of the index, median latency of each."""
    k = min(k, table.rows)
    exact_ms, (exact_hits, _) = timed(lambda: table.search_vector(vector, k, where, True), repeats)
    index_ms, (index_hits, _) = timed(lambda: table.search_vector(vector, k, where, False, params), repeats)
    e, i = [h.id for h in exact_hits], [h.id for h in index_hits]
    return Comparison(k, e, i, exact_ms, index_ms, recall_at_k(i, e))


def index_job(table: VectorTable, cfg: IndexConfig):
    """A not-yet-started Job that builds the table's index; its result is the seconds it took."""
    check(cfg, table.rows, table.dim)  # refuse bad settings before a thread starts
    return Job(lambda job: build_index(table, cfg), total=1, name="vector-index")


@dataclass(frozen=True)
class SweepPoint:
    nprobes: int
    refine_factor: int | None
    recall: float  # mean recall@k against exact search over the questions
    ms: float  # median latency of one search through the index
    exact_ms: float  # median latency of the exact search, the same questions


def probe_steps(partitions: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to every partition: the nprobes a curve is measured at."""
    return tuple(sorted({min(partitions, 2 ** i) for i in range(max(1, partitions).bit_length() + 1)}))


def say_point(point: SweepPoint, k: int, partitions: int) -> str:
    """One setting of the index measured, in words: what it finds of the exact top k, and at what speed."""
    how = f"re-ranking {point.refine_factor}× k candidates" if point.refine_factor else "no re-ranking"
    text = (f"Searching {point.nprobes} of {partitions} partitions with {how}, the index finds {point.recall:.0%} of "
            f"the exact top {k} in {point.ms:.2f} ms; exact search takes {point.exact_ms:.2f} ms.")
    if point.ms >= point.exact_ms:
        return text + (" The index is no faster here: the table is small enough to read whole. Make a table of "
                       "synthetic vectors (100,000 or more) to see the trade.")
    lost = "nothing" if point.recall >= 1 else f"{1 - point.recall:.0%} of the neighbours"
    return text + f" {point.exact_ms / point.ms:.1f}× faster, at the cost of {lost}."


def exact_truth(table: VectorTable, queries, k: int) -> tuple[list[list[int]], float]:
    """The exact top k ids of each question vector, and the median milliseconds of one exact search."""
    times, truth = [], []
    for q in queries:
        ms, (hits, _) = timed(lambda q=q: table.search_vector(q, k, None, True), 1)
        times.append(ms)
        truth.append([h.id for h in hits])
    return truth, statistics.median(times) if times else 0.0


def measure(table: VectorTable, queries, truth: list[list[int]], k: int, params: SearchParams,
            exact_ms: float = 0.0) -> SweepPoint:
    """The index at one setting: mean recall@k against the exact top k (truth), median latency."""
    times, recalls = [], []
    for q, t in zip(queries, truth):
        ms, (hits, _) = timed(lambda q=q: table.search_vector(q, k, None, False, params), 1)
        times.append(ms)
        recalls.append(recall_at_k([h.id for h in hits], t))
    return SweepPoint(params.nprobes, params.refine_factor, statistics.fmean(recalls) if recalls else 0.0,
                      statistics.median(times) if times else 0.0, exact_ms)


def sweep(table: VectorTable, queries, k: int = 10, partitions: int | None = None,
          refine: tuple[int | None, ...] = (None, 10), job=None) -> list[SweepPoint]:
    """Recall@k and latency of the index at each nprobes (probe_steps of its partitions) × refine factor,
    on the same questions (vectors) as exact search: the recall-versus-latency curve."""
    if table.index_info() is None:
        raise VectorDBError(f"the table {table.name!r} has no approximate index yet: build one to draw its curve.")
    probes = probe_steps(partitions or default_partitions(table.rows))
    k = min(k, table.rows)
    truth, exact_ms = exact_truth(table, queries, k)
    out = []
    if job is not None:
        job.total = len(probes) * len(refine)
    for p in probes:
        for r in refine:
            if job is not None and job.should_stop():
                return out
            out.append(measure(table, queries, truth, k, SearchParams(nprobes=p, refine_factor=r), exact_ms))
            if job is not None:
                job.advance(len(out))
    return out


def sweep_job(table: VectorTable, queries, k: int = 10, partitions: int | None = None):
    """A not-yet-started Job that measures the curve; its result is the list of SweepPoints."""
    if table.index_info() is None:
        raise VectorDBError(f"the table {table.name!r} has no approximate index yet: build one to draw its curve.")
    return Job(lambda job: sweep(table, queries, k, partitions, job=job), total=1, name="vector-sweep")


# --- questions to measure with, and a table large enough to need an index -------------------------------

def query_vectors(table: VectorTable, n: int = 20, seed: int = 0) -> np.ndarray:
    """Question vectors to measure an index with: new draws from a synthetic table's mixture, else the
    table's question set (llmviz.retrieval.evaluate) embedded by its own embedder."""
    if table.provenance.embedder["kind"] == synthetic.KIND:
        return table.embedder.draw(n, stream=1 + seed)
    _, questions = evaluate.questions_for(table, n, seed)
    vectors = [v for v in (table.embed_query(q.text)[0] for q in questions[:n]) if v is not None]
    if not vectors:
        raise VectorDBError(f"no question of the table {table.name!r} has a word its embedder knows: nothing to measure.")
    return np.stack(vectors)


def synthetic_table(db_dir: str | Path, rows: int, dim: int = 128, seed: int = 0, name: str | None = None,
                    job=None) -> VectorTable | None:
    """A table of `rows` synthetic vectors (llmviz.retrieval.synthetic), replacing one of the same name.
    With a Job: progress while drawing, and stop (nothing written, None returned)."""
    synthetic.check_rows(rows)
    t0 = time.perf_counter()
    embedder = synthetic.SyntheticEmbedder(dim, seed)
    name = name or slug(f"synthetic-{rows}x{dim}")
    if job is not None:
        job.set(phase="drawing the vectors")
    vectors = embedder.draw(rows, stream=0)
    if job is not None:
        if job.should_stop():
            return None
        job.set(phase="writing the table")
    corpus = {"name": f"synthetic vectors ({rows:,} × {dim}, seed {seed})", "source": f"synthetic:{rows}:{dim}:{seed}"}
    prov = Provenance(corpus, {}, embedder.identity(), dim, n_chunks=rows,
                      build_seconds=round(time.perf_counter() - t0, 3),
                      built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    chunks = [Chunk(i, "", 0, 0, "", "") for i in range(rows)]
    return VectorTable.create(db_dir, name, chunks, vectors, embedder, prov, replace=True, full_text=False)


def synthetic_job(db_dir, rows: int, dim: int = 128, seed: int = 0, name: str | None = None):
    """A not-yet-started Job that writes a synthetic table; its result is the VectorTable (None if stopped)."""
    synthetic.check_rows(rows)
    synthetic.SyntheticEmbedder(dim, seed)  # refuses a bad dimension before a thread starts
    return Job(lambda job: synthetic_table(db_dir, rows, dim, seed, name, job), total=1, name="vector-synthetic")
