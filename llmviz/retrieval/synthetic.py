"""Synthetic vectors, for a table large enough that an approximate index has something to trade (tutorial
part 4, "vector databases at scale").

The built-in plays give a few thousand chunks: exact search over them takes a millisecond, and an index has
nothing to win. A table of N synthetic vectors shows the trade at any size. They are drawn from a mixture of
Gaussian clusters (real embeddings are clustered too; uniform random vectors in 128 dimensions have no
near neighbours worth the name), and the questions asked of the table are new draws from the same mixture,
not rows of the table. Everything follows from the seed: the same settings give the same table.

A synthetic table has no text: its embedder (`SyntheticEmbedder`, kept beside the table like any other)
knows no word, so a typed question finds nothing and says why; its vectors are searched directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from llmviz.retrieval.embedders import Embedder, EmbedderError

KIND = "synthetic"
# Gaussian clusters of the mixture. Fewer clusters than an index has partitions: each cluster is cut across
# several partitions, so a question's neighbours lie in more than one and nprobes matters (measured on
# 50,000 x 128, IVF-PQ of 224 partitions, refine 10: 1 probe finds 46% of the exact top 10, 4 find 92%,
# 8 find 99%). With 1,000 clusters, each fell inside one partition and a single probe found them all.
CLUSTERS = 50
SPREAD = 0.5  # each vector: its cluster's centre + SPREAD × a standard normal draw
MAX_ROWS = 1_000_000
MAX_DIM = 1024


class SyntheticEmbedder(Embedder):
    """Stands for the embedder of a table of synthetic vectors: it embeds no text, and draws vectors."""

    kind = KIND

    def __init__(self, dim: int, seed: int = 0, clusters: int = CLUSTERS):
        if not 1 <= dim <= MAX_DIM:
            raise EmbedderError(f"synthetic vectors need between 1 and {MAX_DIM} dimensions; {dim} were asked for.")
        self.dim, self.seed, self.clusters = int(dim), int(seed), int(clusters)
        self.centres = np.random.default_rng(self.seed).normal(size=(self.clusters, self.dim)).astype(np.float32)

    def draw(self, n: int, stream: int = 0) -> np.ndarray:
        """n vectors of the mixture (stream 0 makes the table's rows; another stream, new questions)."""
        rng = np.random.default_rng([self.seed, stream])
        picks = rng.integers(0, self.clusters, n)
        return (self.centres[picks] + SPREAD * rng.normal(size=(n, self.dim))).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)

    def split_known(self, text: str) -> tuple[list[str], list[str]]:
        return [], text.split()

    def settings(self) -> dict:
        return {"dim": self.dim, "seed": self.seed, "clusters": self.clusters, "spread": SPREAD}

    @property
    def fingerprint(self) -> str:
        return f"{KIND}-" + "-".join(str(v) for v in self.settings().values())

    def describe(self) -> str:
        return (f"synthetic: {self.dim}-dimensional vectors from a mixture of {self.clusters:,} clusters "
                f"(seed {self.seed}); no text")

    def save(self, folder: Path) -> None:
        (Path(folder) / "synthetic.json").write_text(json.dumps(self.settings()))

    @classmethod
    def load(cls, folder: Path) -> "SyntheticEmbedder":
        s = json.loads((Path(folder) / "synthetic.json").read_text())
        return cls(s["dim"], s["seed"], s["clusters"])


def check_rows(n: int) -> None:
    if not 1 <= n <= MAX_ROWS:
        raise EmbedderError(f"a synthetic table holds between 1 and {MAX_ROWS:,} vectors; {n:,} were asked for.")
