"""Embeddings: dense vectors for tokens, learned so that similar tokens are close (tutorial part 1, step 10).

A one-hot row says which token it is and nothing else. An autoencoder, trained here in PyTorch,
squeezes a one-hot word through a small bottleneck and gets it back, showing a dense code can carry
the same information. Then the tools to look at any embedding table (word2vec's, see
llmviz.concepts.word2vec, or a language model's): PCA / t-SNE projections (scikit-learn), nearest neighbours
by cosine similarity, and word arithmetic (a - b + c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from llmviz.errors import EmbeddingError

if TYPE_CHECKING:
    from llmviz.concepts.word2vec import Vocab

# t-SNE is quadratic-ish: keep it to the most frequent words
TSNE_MAX_POINTS = 1000


# --- the autoencoder -------------------------------------------------------------------------------

@dataclass
class AutoencoderResult:
    codes: np.ndarray  # (V, bottleneck) the dense code of each one-hot word
    history: list  # (step, loss, accuracy) records; accuracy = share of words reconstructed exactly


def train_autoencoder(vocab_size: int, bottleneck: int, steps: int = 500, lr: float = 0.05,
                      seed: int = 0, log_every: int = 10) -> AutoencoderResult:
    """Squeeze each one-hot row through `bottleneck` numbers and back: encoder Linear(V, k),
    decoder Linear(k, V), cross-entropy against the word's own id."""
    import torch
    from torch import nn

    if vocab_size < 2 or bottleneck < 1:
        raise EmbeddingError("the autoencoder needs at least 2 words and a bottleneck of at least 1.")
    torch.manual_seed(seed)
    enc, dec = nn.Linear(vocab_size, bottleneck, bias=False), nn.Linear(bottleneck, vocab_size)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
    x = torch.eye(vocab_size)  # (V, V) every word's one-hot row
    y = torch.arange(vocab_size)  # (V,) each row must come back as itself
    history = []
    for step in range(1, steps + 1):
        logits = dec(enc(x))  # (V, V)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            acc = (logits.argmax(-1) == y).float().mean().item()
            history.append((step, loss.item(), acc))
    with torch.no_grad():
        codes = enc(x).numpy().copy()  # (V, k) = the encoder's weight, transposed
    return AutoencoderResult(codes, history)


# --- looking at an embedding table ----------------------------------------------------------------

@dataclass
class Projection:
    coords: np.ndarray  # (N, dims)
    labels: list[str]
    method: str  # "pca" or "tsne"
    explained: np.ndarray | None  # PCA: share of the variance along each axis


def project(vectors, labels, method: str = "pca", dims: int = 2, seed: int = 0) -> Projection:
    """Flatten vectors to 2 or 3 dimensions with scikit-learn's PCA or t-SNE."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(vectors, dtype=np.float64)
    labels = [str(s) for s in labels]
    if x.ndim != 2 or len(x) != len(labels):
        raise EmbeddingError(f"expected one vector per label, got {x.shape} vectors for {len(labels)} labels.")
    if dims not in (2, 3):
        raise EmbeddingError("a projection has 2 or 3 dimensions.")
    if len(x) <= dims:
        raise EmbeddingError(f"{len(x)} points are too few for a {dims}-D projection.")
    if not np.isfinite(x).all():
        raise EmbeddingError("the vectors hold NaN or infinite values (training diverged?).")
    if method == "pca":
        k = min(dims, x.shape[1])
        pca = PCA(n_components=k, random_state=seed)
        coords = pca.fit_transform(x)
        if k < dims:  # fewer features than axes: pad with zeros
            coords = np.hstack([coords, np.zeros((len(x), dims - k))])
        explained = np.pad(pca.explained_variance_ratio_, (0, dims - k))
        return Projection(coords, labels, "pca", explained)
    if method == "tsne":
        if len(x) > TSNE_MAX_POINTS:
            raise EmbeddingError(f"t-SNE is limited to {TSNE_MAX_POINTS} points here; show fewer words.")
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
        coords = TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=seed,
                      max_iter=500).fit_transform(x)
        return Projection(coords, labels, "tsne", None)
    raise EmbeddingError(f"unknown projection {method!r}: use 'pca' or 'tsne'.")


def cosine_matrix(vectors) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so a dot product is a cosine."""
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def nearest(vectors, query, k: int = 10, exclude=()) -> list[tuple[int, float]]:
    """The k rows most similar to a query vector by cosine similarity: [(row, cosine), ...], best
    first, ties by row; rows in `exclude` are skipped."""
    unit = cosine_matrix(vectors)
    q = np.asarray(query, dtype=np.float64)
    qn = np.linalg.norm(q)
    sims = unit @ (q / qn if qn else q)  # (V,)
    sims[list(exclude)] = -np.inf
    order = np.lexsort((np.arange(len(sims)), -sims))
    return [(int(i), float(sims[i])) for i in order[:k] if np.isfinite(sims[i])]


def neighbours(vectors, vocab: Vocab, word: str, k: int = 10) -> list[tuple[str, float]]:
    """A word's k nearest other words by cosine similarity."""
    i = vocab.id(word)
    return [(vocab.words[j], s) for j, s in nearest(vectors, vectors[i], k, exclude=[i])]


def analogy(vectors, vocab: Vocab, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
    """Word arithmetic a - b + c (king - man + woman): the nearest words to the resulting vector,
    leaving out the three words themselves; unit vectors are combined, as word2vec does."""
    ia, ib, ic = vocab.id(a), vocab.id(b), vocab.id(c)
    unit = cosine_matrix(vectors)
    target = unit[ia] - unit[ib] + unit[ic]  # (d,)
    return [(vocab.words[j], s) for j, s in nearest(vectors, target, k, exclude=[ia, ib, ic])]


# --- the token-embedding table of a trained language model -----------------------------------------

def embedding_table(model, vocab_size: int) -> np.ndarray:
    """The token-embedding weights of a model: its first nn.Embedding with one row per token."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.Embedding) and m.num_embeddings == vocab_size:
            return m.weight.detach().float().cpu().numpy().copy()
    raise EmbeddingError("this model has no token-embedding table with one row per token.")


def token_category(s: str) -> str:
    """A coarse class for colouring a character-level table: vowel, consonant, digit, ..."""
    if len(s) != 1:
        return "word piece" if s.strip().isalpha() else "other"
    if s.isspace():
        return "whitespace"
    if s.isdigit():
        return "digit"
    if s.isalpha():
        kind = "vowel" if s.lower() in "aeiouy" else "consonant"
        return f"{kind} ({'upper' if s.isupper() else 'lower'} case)"
    return "punctuation"
