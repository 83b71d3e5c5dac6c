"""word2vec: learn a dense vector for each word from the words seen around it (tutorial part 1, step 10).

Skip-gram with negative sampling (SGNS), trained in PyTorch: cut the text into words, keep the
frequent ones as the vocabulary, pair every word with its neighbours within a window, and teach
each word's vector to score high against its true neighbours and low against random "noise" words.
Words used in similar contexts end up with similar vectors; llmviz.concepts.embeddings looks at the result.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from llmviz.device import threads_for
from llmviz.errors import EmbeddingError
from llmviz.jobs import Job

# fewer words than this and neither training nor a projection says anything
MIN_VOCAB = 5


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


def pair_count(n: int, window: int) -> int:
    """How many (center, context) pairs skipgram_pairs makes from n words: 2·(n − d) for each distance d."""
    return sum(2 * (n - d) for d in range(1, window + 1) if d < n)


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

    # every epoch's subsampled words are drawn up front, so the number of steps is known exactly
    kept = [subsample(ids, vocab.counts, cfg.subsample, rng) for _ in range(cfg.epochs)]
    sizes = [pair_count(len(k), cfg.window) for k in kept]
    if not any(sizes):
        raise EmbeddingError("the text is too short to form any (word, context) pair.")
    if job is not None:
        job.total = sum(max(1, -(-n // cfg.batch_size)) for n in sizes)

    history, step, running, epoch_f = [], 0, [], 0.0
    for epoch, epoch_ids in enumerate(kept):
        centers, contexts = skipgram_pairs(epoch_ids, cfg.window)
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
                if not np.isfinite(rec[2]):  # a job ends as failed with this message
                    raise EmbeddingError(f"the loss became {rec[2]} at step {step}: lower the learning rate.")
                history.append(rec)
                if job is not None:
                    job.record(rec)
            if job is not None:
                job.advance(min(step, job.total))
        if job is not None:
            job.set(vectors=_vectors(model), vocab=vocab, epoch=epoch + 1)
    return Word2VecResult(vocab, _vectors(model), history, epoch_f)


def _vectors(model) -> np.ndarray:
    return model.center.weight.detach().cpu().numpy().copy()


def word2vec_job(tokens: list[str], cfg: Word2VecConfig):
    """A not-yet-started Job that trains word2vec; its result is a Word2VecResult."""
    build_vocab(tokens, cfg.min_count, cfg.max_vocab)  # refuse bad input before a thread starts
    return Job(lambda job: train_word2vec(tokens, cfg, job), total=1, name="word2vec")
