"""From a dictionary to attention with vectors (tutorial part 1, steps 3–8).

Tokens become one-hot rows over a sorted vocabulary. A dictionary becomes two matrices: K stacks the
one-hot keys and V the one-hot values, so for a one-hot query q, q·Kᵀ picks the matching key and
q·Kᵀ·V returns its value. Relax the one-hot query, replace the hard pick by a softmax, scale by √d,
stack all queries in Q, and the lookup is attention: softmax(Q·Kᵀ/√d)·V. Give it learned projections
W^Q, W^K, W^V and it is an attention head.

Plain NumPy on purpose: every intermediate matrix is small enough to print and to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmviz.concepts.lookup import closest_key

# --- vocabularies and one-hot --------------------------------------------------------------------


def vocabulary(tokens) -> list[str]:
    """The sorted distinct tokens: position i in this list is dimension i of every one-hot vector."""
    return sorted(set(tokens))


def one_hot(token: str, vocab: list[str]) -> np.ndarray:
    """A vector of len(vocab) zeros with a single 1 at the token's position (all zeros if unknown)."""
    v = np.zeros(len(vocab))
    if token in vocab:
        v[vocab.index(token)] = 1.0
    return v


def one_hot_matrix(tokens, vocab: list[str]) -> np.ndarray:
    """One one-hot row per token: (n_tokens, len(vocab))."""
    index = {t: i for i, t in enumerate(vocab)}
    m = np.zeros((len(tokens), len(vocab)))
    for row, t in enumerate(tokens):
        if t in index:
            m[row, index[t]] = 1.0
    return m


# --- a dictionary as a matrix product ------------------------------------------------------------


@dataclass(frozen=True)
class DictionaryMatrices:
    keys: list[str]  # the dictionary's keys, in its own order: row i of K and of V
    values: list[str]  # values[i] is the translation of keys[i]
    in_vocab: list[str]  # sorted keys: the columns of K (and the length of a query)
    out_vocab: list[str]  # sorted distinct values: the columns of V
    K: np.ndarray  # (n_entries, len(in_vocab)) one-hot keys
    V: np.ndarray  # (n_entries, len(out_vocab)) one-hot values


def dictionary_matrices(dictionary: dict[str, str]) -> DictionaryMatrices:
    """Build K and V so that row i of V is the translation of the key in row i of K."""
    keys, values = list(dictionary), list(dictionary.values())
    in_vocab, out_vocab = vocabulary(keys), vocabulary(values)
    return DictionaryMatrices(keys, values, in_vocab, out_vocab,
                              one_hot_matrix(keys, in_vocab), one_hot_matrix(values, out_vocab))


def hard_lookup(q: np.ndarray, K: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dictionary lookup as two products: scores = q·Kᵀ selects a row, scores·V is the value."""
    scores = q @ K.T  # (n_entries,) 1 at the matching key for a one-hot q
    return scores, scores @ V  # (len(out_vocab),)


def relaxed_query(word: str, keys: list[str], in_vocab: list[str]) -> tuple[np.ndarray, str | None, float]:
    """The query vector of a word: its one-hot if it is a key, else a shrunk one-hot of the closest key.

    "tables" is one edit away from the 5-letter "table", so it becomes (1 − 1/6)·one_hot(table): a
    near-miss still points at the right row, just less strongly. Returns (q, key used, strength).
    """
    if word in keys:
        return one_hot(word, in_vocab), word, 1.0
    best = closest_key(word, keys) if word else None  # an empty word is close to nothing
    if best is None:
        return np.zeros(len(in_vocab)), None, 0.0
    key, dist = best
    strength = max(0.0, 1.0 - dist / max(len(word), len(key), 1))
    return strength * one_hot(key, in_vocab), key, strength


def mixed_query(vocab: list[str], mix: dict[str, float], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A query that is no longer one-hot: Σ weight·onehot(token), plus Gaussian noise of size `noise`.

    {"table": 0.95} is the tutorial's "tables ≈ 0.95·table"; {"le": 0.5, "la": 0.5} sits halfway.
    The noise vector has expected length `noise` whatever the vocabulary size.
    """
    q = np.zeros(len(vocab))
    for token, weight in mix.items():
        q += weight * one_hot(token, vocab)
    if noise and len(vocab):
        q += noise * np.random.default_rng(seed).standard_normal(len(vocab)) / np.sqrt(len(vocab))
    return q


def two_word_mix(word_a: str, weight_a: float, word_b: str, weight_b: float) -> dict[str, float]:
    """The mix of mixed_query for "weight_a·A + weight_b·B"; the same word twice adds its weights."""
    return {word_a: weight_a + weight_b} if word_a == word_b else {word_a: weight_a, word_b: weight_b}


def plane_of(q: np.ndarray, vocab: list[str], a: str, b: str) -> tuple[tuple[float, float], float]:
    """q's coordinates along onehot(a) and onehot(b), and the length of the rest of q (off that plane)."""
    ia, ib = vocab.index(a), vocab.index(b)
    rest = np.delete(q, [ia, ib])
    return (float(q[ia]), float(q[ib])), float(np.linalg.norm(rest))


def sentence_queries(words: list[str], keys: list[str], in_vocab: list[str], length: float) -> np.ndarray:
    """Q: one relaxed query per word (relaxed_query), stretched to `length`, stacked as rows (T, d)."""
    return length * np.stack([relaxed_query(w, keys, in_vocab)[0] for w in words])


# --- decoding a vector ---------------------------------------------------------------------------


def cosine_similarity(q: np.ndarray, M: np.ndarray) -> np.ndarray:
    """cos of the angle between q and each row of M; 0 where either vector is zero (no direction)."""
    M = np.atleast_2d(M)
    norms = np.linalg.norm(M, axis=1) * np.linalg.norm(q)
    dots = M @ q
    return np.divide(dots, norms, out=np.zeros_like(dots, dtype=float), where=norms > 0)


def decode(vec: np.ndarray, vocab: list[str], metric: str = "cosine") -> tuple[str | None, np.ndarray]:
    """The token whose one-hot vector is most similar to vec, and the similarity to every token.

    With one-hot rows the cosine is just the vector's component divided by its length, so the
    winner is the largest component either way; None when vec is all zeros (nothing to decode).
    """
    E = np.eye(len(vocab))  # the one-hot vector of every token
    sims = E @ vec if metric == "dot" else cosine_similarity(vec, E)
    if len(vocab) == 0 or not np.any(vec):
        return None, sims
    return vocab[int(np.argmax(sims))], sims


# --- softmax -------------------------------------------------------------------------------------


def softmax(x, temperature: float = 1.0, axis: int = -1) -> np.ndarray:
    """exp(x/T) normalised to sum to 1, computed stably by subtracting the max first.

    exp(x − c) / Σ exp(x − c) is the same for any c; with c = max(x) the largest exponent is 0, so
    nothing overflows. −∞ scores (a mask) get exactly 0 probability.
    """
    x = np.asarray(x, dtype=float) / temperature
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a fully masked row (all −∞) would give −∞ − −∞ = nan
    e = np.exp(x - m)
    total = np.sum(e, axis=axis, keepdims=True)
    # a row with nothing left to attend to gets all-zero weights rather than nan
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def naive_softmax(x, axis: int = -1) -> np.ndarray:
    """The textbook exp(x) / Σ exp(x): exp(710) is already inf in float64, and inf/inf is nan."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(x, dtype=float))
        return e / np.sum(e, axis=axis, keepdims=True)


def scaled_scores(q: np.ndarray, K: np.ndarray, scale: bool = True) -> np.ndarray:
    """The scores q·Kᵀ, divided by √d when `scale` (d: the width of the keys)."""
    scores = q @ K.T
    return scores / np.sqrt(K.shape[-1]) if scale else scores


@dataclass(frozen=True)
class Overflow:
    """The naive and the stable softmax of the same scores shifted by a constant."""
    scores: np.ndarray  # (scores + shift) / T, what both exponentiate
    naive: np.ndarray  # exp(s) / Σ exp(s): nan once exp overflows
    stable: np.ndarray  # the max subtracted first: unchanged by the shift
    overflowed: bool  # the naive one gave nan


def overflow_demo(scores: np.ndarray, shift: float, temperature: float = 1.0) -> Overflow:
    """Add `shift` to every score and compare the textbook softmax with the stable one."""
    s = (np.asarray(scores, dtype=float) + shift) / temperature
    naive = naive_softmax(s)
    return Overflow(s, naive, softmax(s), bool(np.isnan(naive).any()))


def soft_lookup(q: np.ndarray, K: np.ndarray, V: np.ndarray, scale: bool = True,
                temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """softmax(q·Kᵀ/√d)·V: every value contributes, weighted by how well its key matches q."""
    scores = q @ K.T  # (n_entries,)
    if scale:
        scores = scores / np.sqrt(K.shape[-1])
    weights = softmax(scores, temperature)
    return weights, weights @ V


def scaling_experiment(dims, n_keys: int = 8, trials: int = 200, seed: int = 0):
    """Why divide by √d: the mean largest softmax weight for random q, K of width d.

    Each entry of q and k is N(0, 1), so q·k has variance d: without scaling the scores spread out
    as d grows and the softmax collapses onto one key (weight → 1); dividing by √d keeps the
    variance at 1 and the distribution soft. Returns (unscaled, scaled) arrays, one value per d.
    """
    rng = np.random.default_rng(seed)
    unscaled, scaled = [], []
    for d in dims:
        q = rng.standard_normal((trials, 1, d))
        K = rng.standard_normal((trials, n_keys, d))
        s = (q @ K.transpose(0, 2, 1))[:, 0, :]  # (trials, n_keys)
        unscaled.append(softmax(s).max(axis=-1).mean())
        scaled.append(softmax(s / np.sqrt(d)).max(axis=-1).mean())
    return np.array(unscaled), np.array(scaled)


# --- attention -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionSteps:
    scores: np.ndarray  # Q·Kᵀ, (n_queries, n_keys)
    scaled: np.ndarray  # Q·Kᵀ/√d, with −∞ where masked
    weights: np.ndarray  # softmax of each row: how much each query takes from each value
    output: np.ndarray  # weights·V, (n_queries, d_v)
    mask: np.ndarray | None  # True where a score was hidden (None: nothing hidden)


def attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, causal: bool = False) -> AttentionSteps:
    """Attention(Q, K, V) = softmax(Q·Kᵀ/√d)·V, keeping every intermediate step."""
    d = Q.shape[-1]
    scores = Q @ K.T  # (T_q, T_k)
    scaled = scores / np.sqrt(d)
    mask = None
    if causal:
        mask = np.triu(np.ones(scores.shape, dtype=bool), k=1)
        scaled = np.where(mask, -np.inf, scaled)  # exp(−∞) = 0: the future gets no weight
    weights = softmax(scaled, axis=-1)
    return AttentionSteps(scores, scaled, weights, weights @ V, mask)


def head_weights(d_in: int, d_head: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random W^Q, W^K, W^V of shape (d_in, d_head), as a freshly initialised head would have.

    Drawn from N(0, 1/d_in), like PyTorch's default Linear init in spirit, so the projected vectors
    keep a sensible size whatever d_in is. Training would then learn them.
    """
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((d_in, d_head)) / np.sqrt(max(d_in, 1)) for _ in range(3))


@dataclass(frozen=True)
class HeadSteps:
    q: np.ndarray  # X·W^Q, (T, d_head)
    k: np.ndarray  # X·W^K, (T, d_head)
    v: np.ndarray  # X·W^V, (T, d_head)
    attn: AttentionSteps


def self_attention(X: np.ndarray, Wq: np.ndarray, Wk: np.ndarray, Wv: np.ndarray,
                   causal: bool = False) -> HeadSteps:
    """One self-attention head: queries, keys and values are all projections of the same rows X."""
    q, k, v = X @ Wq, X @ Wk, X @ Wv  # (T, d_head) each
    return HeadSteps(q, k, v, attention(q, k, v, causal=causal))
