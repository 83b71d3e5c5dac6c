"""Embeddings: dense vectors learned so that similar tokens are close (tutorial part 1, step 10).

Two ways to learn them, both trained here in PyTorch:
- word2vec, skip-gram with negative sampling (SGNS): a word's vector should score high against
  the words seen around it and low against random words;
- an autoencoder: a one-hot word squeezed through a small bottleneck and reconstructed, showing a
  dense code can carry the same information as a one-hot row.
Then the tools to look at any embedding table: PCA / t-SNE projections (scikit-learn), nearest
neighbours by cosine similarity, and word arithmetic (a - b + c).
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

# fewer words than this and neither training nor a projection says anything
MIN_VOCAB = 5
# t-SNE is quadratic-ish: keep it to the most frequent words
TSNE_MAX_POINTS = 1000


class EmbeddingError(ValueError):
    """Input that cannot be used, with a message meant for the learner."""


# --- words and vocabulary ------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters, with inner apostrophes (o'er, king's)


def word_tokens(text: str) -> list[str]:
    """Lower-cased words of a text; digits and punctuation are dropped."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocab:
    words: tuple[str, ...]  # most frequent first
    counts: tuple[int, ...]  # corpus count of each word
    n_distinct: int  # distinct words in the corpus, before min count and cap
    n_tokens: int  # words in the corpus

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def index(self) -> dict[str, int]:
        idx = self.__dict__.get("_index")
        if idx is None:
            idx = {w: i for i, w in enumerate(self.words)}
            object.__setattr__(self, "_index", idx)
        return idx

    def id(self, word: str) -> int:
        """The row of a word, or an EmbeddingError that says why it is missing."""
        word = word.strip().lower()
        if not word:
            raise EmbeddingError("type a word first.")
        if word not in self.index:
            close = difflib.get_close_matches(word, self.words, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise EmbeddingError(
                f"'{word}' is not in the vocabulary ({len(self):,} words that appear often enough).{hint}")
        return self.index[word]

    def encode(self, tokens: list[str]) -> np.ndarray:
        """Ids of the tokens that are in the vocabulary (the others are dropped, as word2vec does)."""
        idx = self.index
        return np.fromiter((idx[t] for t in tokens if t in idx), dtype=np.int64)

    def search(self, fragment: str, limit: int = 20) -> list[str]:
        """Vocabulary words containing `fragment`, most frequent first."""
        fragment = fragment.strip().lower()
        return [w for w in self.words if fragment in w][:limit] if fragment else []


def build_vocab(tokens: list[str], min_count: int = 5, max_size: int = 2000) -> Vocab:
    """The words seen at least min_count times, the max_size most frequent of them."""
    if min_count < 1 or max_size < 1:
        raise EmbeddingError("the minimum count and the vocabulary cap must be at least 1.")
    counts = Counter(tokens)
    # ties broken alphabetically so the vocabulary does not depend on dict order
    ranked = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    kept = ranked[:max_size]
    if len(kept) < MIN_VOCAB:
        raise EmbeddingError(
            f"The text has {len(tokens):,} words, {len(counts):,} distinct, and only {len(kept)} of them "
            f"appear at least {min_count} times; embeddings need at least {MIN_VOCAB}. "
            "Lower the minimum count or use a longer text.")
    return Vocab(tuple(w for w, _ in kept), tuple(c for _, c in kept), len(counts), len(tokens))


def vocab_note(vocab: Vocab, min_count: int, max_size: int) -> str:
    """One sentence on what the minimum count and the cap did to the vocabulary."""
    if len(vocab) < max_size:
        return (f"Only {len(vocab):,} of the {vocab.n_distinct:,} distinct words appear at least {min_count} "
                f"times, fewer than the cap of {max_size:,}: the vocabulary has {len(vocab):,} words.")
    covered = sum(vocab.counts) / max(1, vocab.n_tokens)
    return (f"The {len(vocab):,} most frequent of {vocab.n_distinct:,} distinct words; they cover "
            f"{covered:.0%} of the {vocab.n_tokens:,} words of the text.")


# --- skip-gram pairs ------------------------------------------------------------------------------

def skipgram_pairs(ids, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(center, context) ids: every word paired with each word at most `window` positions away,
    in reading order (by center position, then context position)."""
    ids = np.asarray(ids, dtype=np.int64)
    if window < 1:
        raise EmbeddingError("the window must be at least 1.")
    n = len(ids)
    pos, ctx = [], []
    for off in range(-window, window + 1):
        if off == 0 or abs(off) >= n:
            continue
        p = np.arange(max(0, -off), n - max(0, off))
        pos.append(p)
        ctx.append(p + off)
    if not pos:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos, ctx = np.concatenate(pos), np.concatenate(ctx)
    order = np.lexsort((ctx, pos))
    return ids[pos[order]], ids[ctx[order]]


def subsample(ids: np.ndarray, counts, threshold: float, rng: np.random.Generator) -> np.ndarray:
    """word2vec's subsampling: drop very frequent words ("the", "and") with probability
    1 - sqrt(threshold / frequency), so rarer, more telling contexts count more."""
    if threshold <= 0:
        return ids
    freq = np.asarray(counts, dtype=float) / float(np.sum(counts))
    keep = np.minimum(1.0, np.sqrt(threshold / freq))
    return ids[rng.random(len(ids)) < keep[ids]]


# --- word2vec: skip-gram with negative sampling ---------------------------------------------------

@dataclass(frozen=True)
class Word2VecConfig:
    min_count: int = 5  # a word must appear this often to get a vector
    max_vocab: int = 2000  # keep the most frequent words only
    window: int = 2  # context words on each side of the center word
    dim: int = 50  # embedding width
    negatives: int = 5  # random "noise" words scored against each true pair
    epochs: int = 5  # passes over the pairs
    batch_size: int = 1024
    lr: float = 0.01
    subsample: float = 1e-3  # 0 turns subsampling off
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10  # steps between two points of the loss curve


@dataclass
class Word2VecResult:
    vocab: Vocab
    vectors: np.ndarray  # (V, dim) the input ("center") embeddings, the ones word2vec keeps
    history: list  # (step, epoch, loss) records
    epochs_done: float


def _torch_sgns():
    import torch
    from torch import nn

    class SkipGram(nn.Module):
        """Two tables: a word's vector as a center (v) and as a context (u)."""

        def __init__(self, vocab_size: int, dim: int):
            super().__init__()
            self.center = nn.Embedding(vocab_size, dim)
            self.context = nn.Embedding(vocab_size, dim)
            nn.init.uniform_(self.center.weight, -0.5 / dim, 0.5 / dim)
            nn.init.zeros_(self.context.weight)  # as the original word2vec

        def forward(self, c, o, neg):
            v = self.center(c)  # (B, d)
            u = self.context(o)  # (B, d)
            un = self.context(neg)  # (B, K, d)
            pos = (v * u).sum(-1)  # (B,)
            negs = torch.bmm(un, v.unsqueeze(-1)).squeeze(-1)  # (B, K)
            # -log σ(u·v) - Σ log σ(-u_k·v): true pairs up, noise pairs down
            return -(nn.functional.logsigmoid(pos) + nn.functional.logsigmoid(-negs).sum(-1)).mean()

    return SkipGram


def train_word2vec(tokens: list[str], cfg: Word2VecConfig, job=None) -> Word2VecResult:
    """Train SGNS on a list of words. With a llmviz.jobs.Job, reports each logged step, publishes
    the vectors after each epoch and stops early on request (what was learned is kept)."""
    import torch

    from llmviz.device import threads_for

    vocab = build_vocab(tokens, cfg.min_count, cfg.max_vocab)
    ids = vocab.encode(tokens)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = _torch_sgns()(len(vocab), cfg.dim).to(cfg.device)
    if cfg.device == "cpu":
        torch.set_num_threads(threads_for(2 * len(vocab) * cfg.dim))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # negatives drawn from the unigram distribution raised to 3/4, as in the paper
    noise = torch.tensor(np.asarray(vocab.counts, dtype=float) ** 0.75, dtype=torch.float)
    noise = (noise / noise.sum()).to(cfg.device)

    # the total is estimated from the first epoch's pairs (subsampling changes it a little)
    n_pairs = len(skipgram_pairs(subsample(ids, vocab.counts, cfg.subsample, np.random.default_rng(cfg.seed)), cfg.window)[0])
    steps_per_epoch = max(1, -(-n_pairs // cfg.batch_size))
    if n_pairs == 0:
        raise EmbeddingError("the text is too short to form any (word, context) pair.")
    if job is not None:
        job.total = steps_per_epoch * cfg.epochs

    history, step, running, epoch_f = [], 0, [], 0.0
    for epoch in range(cfg.epochs):
        centers, contexts = skipgram_pairs(subsample(ids, vocab.counts, cfg.subsample, rng), cfg.window)
        perm = rng.permutation(len(centers))
        c_all = torch.from_numpy(centers[perm]).to(cfg.device)
        o_all = torch.from_numpy(contexts[perm]).to(cfg.device)
        n_batches = max(1, -(-len(c_all) // cfg.batch_size))
        for b in range(n_batches):
            if job is not None and job.should_stop():
                return Word2VecResult(vocab, _vectors(model), history, epoch_f)
            c = c_all[b * cfg.batch_size:(b + 1) * cfg.batch_size]  # (B,)
            o = o_all[b * cfg.batch_size:(b + 1) * cfg.batch_size]  # (B,)
            neg = torch.multinomial(noise, len(c) * cfg.negatives, replacement=True).view(len(c), cfg.negatives)
            loss = model(c, o, neg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            epoch_f = epoch + (b + 1) / n_batches
            running.append(loss.item())
            if len(running) == cfg.log_every or b == n_batches - 1:
                rec = (step, round(epoch_f, 4), float(np.mean(running)))
                running = []
                if not np.isfinite(rec[2]):
                    _fail(job, f"the loss became {rec[2]} at step {step}: lower the learning rate.")
                history.append(rec)
                if job is not None:
                    job.record(rec)
            if job is not None:
                job.advance(min(step, job.total))
        if job is not None:
            job.set(vectors=_vectors(model), vocab=vocab, epoch=epoch + 1)
    if job is not None:  # the total was an estimate: end the progress bar at the true count
        job.total = step
        job.advance(step)
    return Word2VecResult(vocab, _vectors(model), history, epoch_f)


def _vectors(model) -> np.ndarray:
    return model.center.weight.detach().cpu().numpy().copy()


def _fail(job, message: str):
    from llmviz.jobs import JobFailed

    raise JobFailed(message) if job is not None else EmbeddingError(message)


def word2vec_job(tokens: list[str], cfg: Word2VecConfig):
    """A not-yet-started Job that trains word2vec; its result is a Word2VecResult."""
    from llmviz.jobs import Job

    build_vocab(tokens, cfg.min_count, cfg.max_vocab)  # refuse bad input before a thread starts
    return Job(lambda job: train_word2vec(tokens, cfg, job), total=1, name="word2vec")


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


def token_label(s: str) -> str:
    """A token made visible: a space, a newline and a tab would otherwise draw as nothing."""
    return s.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥") or "∅"


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


def project_embedding_table(weight_matrix, labels, method: str = "pca", dims: int = 2, seed: int = 0) -> Projection:
    """Project any model's token-embedding table (a tensor or array, one row per label)."""
    w = weight_matrix.detach().float().cpu().numpy() if hasattr(weight_matrix, "detach") else weight_matrix
    return project(w, labels, method, dims, seed)
