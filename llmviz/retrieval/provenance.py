"""What a vector table records about itself: how it was made (the corpus, the chunking, the embedder and
its fingerprint, the dimension), in its schema's metadata, and the columns of its rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from llmviz.retrieval.chunking import Chunk
from llmviz.text import corpora

METADATA_KEY = b"llmviz"
FORMAT = 1


@dataclass(frozen=True)
class Provenance:
    corpus: dict  # name, characters, sha256 of the text, and source when it can be made again
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

    @classmethod
    def of_schema(cls, schema) -> "Provenance | None":
        """The provenance a table's schema carries; None for a table llmviz did not make."""
        meta = (schema.metadata or {}).get(METADATA_KEY)
        return None if meta is None else cls.from_json(meta)

    def describe(self) -> str:
        c = self.chunking
        return (f"{self.corpus.get('name', '?')}, chunked by {c.get('by')} (size {c.get('size')}, overlap "
                f"{c.get('overlap')}), embedded by {self.embedder['kind']} in {self.dim} dimensions")


def corpus_identity(corpus: corpora.Corpus) -> dict:
    out = {"name": corpus.name, "characters": corpus.n_chars, "sha256": hashlib.sha256(corpus.text.encode()).hexdigest()}
    if corpus.source:  # how to make it again ("world:0:200"): its question set can be rebuilt from it
        out["source"] = corpus.source
    return out


def table_schema(dim: int, provenance: Provenance):
    """The table's columns (a chunk, where it comes from, its vector), its provenance in the metadata."""
    import pyarrow as pa

    return pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string()), pa.field("start", pa.int64()),
                      pa.field("end", pa.int64()), pa.field("section", pa.string()), pa.field("speaker", pa.string()),
                      pa.field("vector", pa.list_(pa.float32(), dim))],
                     metadata={METADATA_KEY: provenance.to_json().encode()})


def table_rows(chunks: list[Chunk], vectors: np.ndarray, schema):
    """Chunks and their vectors as the table's rows (a pyarrow Table)."""
    import pyarrow as pa

    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.table({"id": [c.id for c in chunks], "text": [c.text for c in chunks], "start": [c.start for c in chunks],
                     "end": [c.end for c in chunks], "section": [c.section for c in chunks],
                     "speaker": [c.speaker for c in chunks],
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])}, schema=schema)
