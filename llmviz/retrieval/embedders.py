"""Embedders: turn a chunk of text into one vector, so that passages about the same thing are close
(tutorial part 4, "embeddings for document search").

Three, built from what the learner has made, so the effect of embedding quality on retrieval shows:

- LSA, the classic baseline: TF-IDF word weights (scikit-learn fits the vocabulary and the inverse
  document frequencies), then a truncated SVD down to `dim` "topics" (latent semantic analysis);
- word2vec: the mean of the chunk's word vectors (a word2vec result of llmviz.concepts.word2vec);
- a language model: the mean of its hidden states over the chunk's tokens (the last block's output after
  the final layer norm: what its head reads to predict the next token).

Every embedder can say which words of a question it knows (a question of unknown words has no vector),
has a fingerprint of its weights (two embedders with the same fingerprint put texts in the same space),
and saves itself next to its table (arrays and JSON, or a safetensors checkpoint: nothing is pickled).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llmviz.errors import LearnerError
from llmviz.concepts.word2vec import _WORD, word_tokens

KINDS = ("lsa", "word2vec", "lm")


class EmbedderError(LearnerError):
    """An embedder that cannot be built or used, with a message meant for the learner."""


def _sha(*arrays, meta: dict | None = None) -> str:
    h = hashlib.sha256(json.dumps(meta or {}, sort_keys=True).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Embedder:
    """The interface: kind, dim, settings (JSON), fingerprint, embed(texts), split_known(text), save/load."""

    kind = ""
    dim = 0

    def settings(self) -> dict:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32; a text with nothing known gets a row of zeros."""
        raise NotImplementedError

    def split_known(self, text: str) -> tuple[list[str], list[str]]:
        """The words (or characters) of a text this embedder knows, and those it ignores."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def identity(self) -> dict:
        """What a table records about the embedder that made its vectors."""
        return {"kind": self.kind, "dim": self.dim, "fingerprint": self.fingerprint, "settings": self.settings()}

    def save(self, folder: Path) -> None:
        raise NotImplementedError


def _split_words(text: str, known) -> tuple[list[str], list[str]]:
    words = word_tokens(text)
    return [w for w in words if w in known], [w for w in words if w not in known]


def _count_matrix(texts: list[str], index: dict[str, int]):
    """(N, V) sparse counts of the known words of each text."""
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for i, t in enumerate(texts):
        ids = [index[w] for w in word_tokens(t) if w in index]
        rows += [i] * len(ids)
        cols += ids
    data = np.ones(len(rows), dtype=np.float64)
    return csr_matrix((data, (rows, cols)), shape=(len(texts), len(index)))  # duplicates are summed


# --- LSA: TF-IDF + truncated SVD ----------------------------------------------------------------------

@dataclass(frozen=True)
class LSAConfig:
    dim: int = 128  # SVD components kept: the vector's length
    min_df: int = 2  # a word must appear in this many chunks to be kept
    max_features: int = 20000  # keep the most frequent words only
    stop_words: bool = False  # leave out scikit-learn's English stop words ("the", "to", "be", ...)
    sublinear_tf: bool = True  # a word's weight grows as 1 + log(count), not count
    seed: int = 0


class LSAEmbedder(Embedder):
    """tf-idf(text) · componentsᵀ, where tf-idf is scikit-learn's TfidfVectorizer maths written out."""

    kind = "lsa"

    def __init__(self, vocabulary: list[str], idf: np.ndarray, components: np.ndarray, cfg: LSAConfig):
        self.vocabulary = list(vocabulary)
        self.index = {w: i for i, w in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)  # (V,)
        self.components = np.asarray(components, dtype=np.float64)  # (dim, V)
        self.cfg = cfg
        self.dim = self.components.shape[0]

    @classmethod
    def fit(cls, texts: list[str], cfg: LSAConfig = LSAConfig()) -> "LSAEmbedder":
        from sklearn.decomposition import TruncatedSVD

        vec = tfidf_vectorizer(cfg, len(texts))
        try:
            x = vec.fit_transform(texts)  # (N, V)
        except ValueError as e:  # "empty vocabulary; perhaps the documents only contain stop words"
            raise EmbedderError(f"LSA found no usable word in the chunks ({e}). Use a longer text.") from None
        dim = min(cfg.dim, x.shape[1] - 1, x.shape[0] - 1)
        if dim < 2:
            raise EmbedderError(f"LSA needs more chunks and words: {x.shape[0]} chunks, {x.shape[1]} words.")
        # one BLAS thread: measured on a 2-core machine, the SVD of the 1 MB corpus's chunks took 0.7 s on one
        # thread and 8 s on two while other work kept the cores busy (threads waiting for each other)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            svd = TruncatedSVD(n_components=dim, random_state=cfg.seed).fit(x)
        return cls(vec.get_feature_names_out().tolist(), vec.idf_, svd.components_, cfg)

    def tfidf(self, texts: list[str]):
        """(N, V) sparse: (1 + log count) · idf, each row scaled to unit length (TfidfVectorizer's defaults)."""
        x = _count_matrix(texts, self.index).tocsr()
        if self.cfg.sublinear_tf:
            x.data = 1.0 + np.log(x.data)
        x = x.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        return x.multiply(1.0 / norms[:, None]).tocsr()

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.tfidf(texts) @ self.components.T, dtype=np.float32)  # (N, dim)

    def split_known(self, text: str):
        return _split_words(text, self.index)

    def settings(self) -> dict:
        return {**asdict(self.cfg), "dim": self.dim, "vocabulary": len(self.vocabulary)}

    @property
    def fingerprint(self) -> str:
        return _sha(self.idf, self.components, meta={"vocabulary": self.vocabulary})

    def describe(self) -> str:
        return f"LSA: TF-IDF over {len(self.vocabulary):,} words, truncated SVD to {self.dim} dimensions"

    def save(self, folder: Path) -> None:
        np.savez(folder / "lsa.npz", idf=self.idf, components=self.components,
                 vocabulary=np.array(self.vocabulary, dtype=str))
        (folder / "lsa.json").write_text(json.dumps(asdict(self.cfg)))

    @classmethod
    def load(cls, folder: Path) -> "LSAEmbedder":
        with np.load(folder / "lsa.npz", allow_pickle=False) as z:
            return cls(z["vocabulary"].tolist(), z["idf"], z["components"],
                       LSAConfig(**json.loads((folder / "lsa.json").read_text())))


def tfidf_vectorizer(cfg: LSAConfig, n_docs: int):
    """scikit-learn's TfidfVectorizer with the settings of an LSAConfig (words as word2vec reads them)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(token_pattern=_WORD.pattern, lowercase=True, min_df=min(cfg.min_df, n_docs),
                           max_features=cfg.max_features, stop_words="english" if cfg.stop_words else None,
                           sublinear_tf=cfg.sublinear_tf, dtype=np.float64)


# --- word2vec: the mean of the words' vectors ---------------------------------------------------------

class Word2VecEmbedder(Embedder):
    """The mean of the word2vec vectors of a text's words (words outside the vocabulary are skipped)."""

    kind = "word2vec"

    def __init__(self, words: list[str], vectors: np.ndarray):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.vectors = np.asarray(vectors, dtype=np.float32)  # (V, dim)
        self.dim = self.vectors.shape[1]

    @classmethod
    def from_result(cls, result) -> "Word2VecEmbedder":
        """From a llmviz.concepts.word2vec.Word2VecResult (the Embeddings page's or the command line's)."""
        return cls(list(result.vocab.words), result.vectors)

    def embed(self, texts: list[str]) -> np.ndarray:
        counts = _count_matrix(texts, self.index)  # (N, V)
        n = np.asarray(counts.sum(axis=1)).ravel()
        sums = counts @ self.vectors.astype(np.float64)  # (N, dim)
        return (sums / np.maximum(n, 1)[:, None]).astype(np.float32)

    def split_known(self, text: str):
        return _split_words(text, self.index)

    def settings(self) -> dict:
        return {"dim": self.dim, "vocabulary": len(self.words)}

    @property
    def fingerprint(self) -> str:
        return _sha(self.vectors, meta={"words": self.words})

    def describe(self) -> str:
        return f"word2vec: the mean of {self.dim}-dimensional vectors of {len(self.words):,} words"

    def save(self, folder: Path) -> None:
        np.savez(folder / "word2vec.npz", vectors=self.vectors, words=np.array(self.words, dtype=str))

    @classmethod
    def load(cls, folder: Path) -> "Word2VecEmbedder":
        with np.load(folder / "word2vec.npz", allow_pickle=False) as z:
            return cls(z["words"].tolist(), z["vectors"])


# --- a language model: the mean of its hidden states ---------------------------------------------------

class _HeadReached(Exception):
    """Raised on the way into a model's head once the last hidden state is read (LMEmbedder)."""


class LMEmbedder(Embedder):
    """The mean over a text's tokens of the model's last hidden state (last block, then the final norm).

    A text longer than the model's context is read in consecutive windows of block_size tokens, each on
    its own (the model cannot see further back), and the mean is over every token of every window."""

    kind = "lm"

    def __init__(self, model, tokenizer, batch_windows: int = 256):
        if (architecture := getattr(model, "architecture", "decoder-only")) != "decoder-only":
            raise EmbedderError(f"this is an {architecture} model (it translates): the lm embedder reads a decoder-only "
                                "language model. Give one made by `python -m llmviz train --preset lm5`.")
        self.model, self.tokenizer = model, tokenizer
        self.dim = model.config.n_embd
        self.batch_windows = batch_windows
        self._fingerprint = None

    def _ids(self, text: str) -> tuple[list[int], list[str]]:
        """The token ids of what the tokenizer can spell, and the pieces it cannot (skipped)."""
        tok = self.tokenizer
        try:
            return tok.encode(text), []
        except ValueError:
            pass
        # spell what it can: character by character for a character tokenizer, word by word otherwise
        ids, unknown = [], []
        for piece in (list(text) if tok.kind == "char" else text.split()):
            try:
                ids += tok.encode(piece)
            except ValueError:
                unknown.append(piece)
        return ids, unknown

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        bs = self.model.config.block_size
        device = next(self.model.parameters()).device
        windows: list[tuple[int, list[int]]] = []  # (text index, ids)
        for i, t in enumerate(texts):
            ids = self._ids(t)[0]
            windows += [(i, ids[j:j + bs]) for j in range(0, len(ids), bs)]
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        counts = np.zeros(len(texts), dtype=np.int64)
        by_len: dict[int, list[tuple[int, list[int]]]] = {}
        for w in windows:
            by_len.setdefault(len(w[1]), []).append(w)
        with torch.inference_mode():
            for length, group in by_len.items():  # same-length windows batch without padding
                for b in range(0, len(group), self.batch_windows):
                    part = group[b:b + self.batch_windows]
                    idx = torch.tensor([ids for _, ids in part], dtype=torch.long, device=device)  # (B, T)
                    h = self._last_hidden(idx)  # (B, T, C) what the head reads
                    h = h.sum(dim=1).double().cpu().numpy()  # (B, C)
                    rows = np.array([i for i, _ in part])
                    np.add.at(sums, rows, h)
                    np.add.at(counts, rows, length)
        return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)

    def _last_hidden(self, idx):
        """The head's input (B, T, C), caught on its way in; the head is skipped and nothing else is kept
        (a batch of 256 windows of lm5-scaled holds about 2.4 GB of attention weights)."""
        seen = []

        def catch(module, inputs):
            seen.append(inputs[0])
            raise _HeadReached

        handle = self.model.lm_head.register_forward_pre_hook(catch)
        try:
            self.model(idx)
        except _HeadReached:
            pass
        finally:
            handle.remove()
        return seen[0]

    def split_known(self, text: str):
        ids, unknown = self._ids(text)
        return ([text] if ids else []), unknown

    def settings(self) -> dict:
        return {"dim": self.dim, "model": self.model.config.to_dict(), "tokenizer": self.tokenizer.kind,
                "vocab_size": self.tokenizer.vocab_size}

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from llmviz.nn.lora import weights_sha256

            self._fingerprint = hashlib.sha256(
                (weights_sha256(self.model) + self.tokenizer.to_json()).encode()).hexdigest()
        return self._fingerprint

    def describe(self) -> str:
        c = self.model.config
        return (f"language model: the mean of its {self.dim}-dimensional hidden states "
                f"({c.n_layer} blocks, context {c.block_size} tokens, {self.tokenizer.kind} tokens)")

    def save(self, folder: Path) -> None:
        from llmviz.io import checkpoint
        from llmviz.training.config import TrainConfig

        checkpoint.save(folder / "lm.safetensors", self.model, self.tokenizer, TrainConfig())

    @classmethod
    def load(cls, folder: Path) -> "LMEmbedder":
        from llmviz.io import checkpoint

        ck = checkpoint.load(folder / "lm.safetensors")
        return cls(ck.model, ck.tokenizer)


def load(folder: Path, kind: str) -> Embedder:
    """The embedder saved in a table's folder."""
    loaders = {"lsa": LSAEmbedder.load, "word2vec": Word2VecEmbedder.load, "lm": LMEmbedder.load}
    if kind not in loaders:
        raise EmbedderError(f"unknown embedder {kind!r}: use one of {', '.join(KINDS)}.")
    try:
        return loaders[kind](Path(folder))
    except (OSError, KeyError, ValueError) as e:
        raise EmbedderError(f"the {kind} embedder saved in {folder} cannot be read ({e}); build the table again.") from None
