"""Translating with an encoder-decoder (tutorial part 2, "the transformer"): padded batches of sentence
pairs for the one trainer, decoding token by token (greedy and beam search), held-out exact match and
BLEU, and contextual embeddings read from the encoder.

Decoding starts the target with <BOS>, encodes the source once, and asks the decoder for the next
token again and again until it writes <EOS>. Like llmviz.nn.generate it never changes the model (no
train/eval switch, no gradients), so a page can decode while nobody else is training it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from llmviz.concepts.embeddings import project
from llmviz.device import pick_device
from llmviz.nn.encoder_decoder import EncoderDecoder, EncoderDecoderConfig
from llmviz.nn.model import IGNORE
from llmviz.tasks.translation import TUTORIAL, Corpus, make_corpus, words_fr
from llmviz.text.saved import PairTokenizer
from llmviz.text.tokenizers import WordTokenizer
from llmviz.training.batches import Batch
from llmviz.training.train import Resume, TrainingError, TrainingRun

N_EVAL = 400  # held-out sentences translated at each evaluation (exact match and BLEU)


@lru_cache(maxsize=4)
def corpus(seed: int = 0, n_train: int = 20_000, n_heldout: int = 1_000) -> Corpus:
    """make_corpus, made once per process (about a second)."""
    return make_corpus(seed, n_train, n_heldout)


def encode_source(tokenizer: WordTokenizer, words: list[str]) -> list[int]:
    """Source words -> ids; a word outside the vocabulary becomes <UNK>."""
    unk = tokenizer.special_id("<UNK>")
    return [tokenizer.index.get(w, unk) for w in words]


def _pad(rows: list[list[int]], pad: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out


class PairBatches:
    """A batch source of (French, English) pairs, padded to the longest of each batch:
    inputs {"src", "tgt", "src_mask", "tgt_mask"} and targets = tgt shifted by one, IGNORE on padding.

        src  le  chat est  sous la  table <PAD>        tgt  <BOS> the cat is under the  table
                                                       y    the   cat is  under the table <EOS>
    "val" is the held-out set (adjective–noun combinations never trained on). At each evaluation the
    trainer also records `metrics` (exact match, BLEU: its `measure`) and shows a `sample` (a few translations)."""

    loss_measure = "translation"  # what its loss measures (llmviz.training.runs.measure_of)
    splits = ("train", "val")

    def __init__(self, corpus_: Corpus, device: str = "cpu", n_eval: int = N_EVAL):
        self.corpus, self.device = corpus_, device
        tok = corpus_.tokenizer
        self.src_tok, self.tgt_tok = tok.source, tok.target
        self.src_pad, self.tgt_pad = self.src_tok.special_id("<PAD>"), self.tgt_tok.special_id("<PAD>")
        self.bos, self.eos = self.tgt_tok.special_id("<BOS>"), self.tgt_tok.special_id("<EOS>")
        self.data = {"train": self._tensors(corpus_.train), "val": self._tensors(corpus_.heldout)}
        self.eval_pairs = corpus_.heldout[:n_eval]
        # decoding further than the longest reference (plus a margin) cannot turn a translation right
        self.eval_len = max((len(p.en.split()) for p in self.eval_pairs), default=0) + 3

    def _tensors(self, pairs) -> tuple:
        src = [encode_source(self.src_tok, words_fr(p.fr)) for p in pairs]
        tgt = [[self.bos, *self.tgt_tok.encode(p.en), self.eos] for p in pairs]
        lens = torch.tensor([[len(s), len(t)] for s, t in zip(src, tgt)])
        return _pad(src, self.src_pad).to(self.device), _pad(tgt, self.tgt_pad).to(self.device), lens

    def lengths(self) -> tuple[int, int]:
        """The longest source and target (with <BOS>) of the corpus: the model's block sizes must hold them."""
        return (max(int(d[2][:, 0].max()) for d in self.data.values()),
                max(int(d[2][:, 1].max()) - 1 for d in self.data.values()))

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        src, tgt, lens = self.data[split]
        ix = torch.randint(len(src), (batch_size,), generator=generator)  # (B,)
        S, T = (int(v) for v in lens[ix].max(0).values)  # cut the padding no row of this batch needs
        ix = ix.to(self.device)
        s, t = src[ix, :S], tgt[ix, :T]  # (B, S), (B, T + 1)
        x, y = t[:, :-1].clone(), t[:, 1:].clone()
        pad = y == self.tgt_pad
        x[pad] = self.tgt_pad  # a shorter sentence's <EOS> is read by nobody: padding too
        y[pad] = IGNORE  # padding is not learned from
        return Batch({"src": s, "tgt": x, "src_mask": s != self.src_pad, "tgt_mask": x != self.tgt_pad}, y)

    def prompt(self) -> list[int]:
        return [self.bos]

    def translate(self, model, sentences: list[str], max_len: int | None = None) -> list[str]:
        src = [encode_source(self.src_tok, words_fr(s)) for s in sentences]
        out = greedy(model, src, self.src_pad, self.bos, self.eos, max_len)
        return [self.tgt_tok.decode(ids) for ids in out]

    def metrics(self, model) -> dict[str, float]:
        """Exact sentence match (%) and BLEU of greedy translations of the held-out sentences."""
        hyps = self.translate(model, [p.fr for p in self.eval_pairs], self.eval_len)
        refs = [p.en for p in self.eval_pairs]
        return {"exact_match": exact_match(hyps, refs), "bleu": bleu(hyps, refs)}

    def sample(self, model) -> str:
        shown = [TUTORIAL[0], *(p.fr for p in self.eval_pairs[:2])]
        return "\n".join(f"{fr} → {en}" for fr, en in zip(shown, self.translate(model, shown)))


# --- decoding -------------------------------------------------------------------------------------------

def _device(model) -> torch.device:
    return next(model.parameters()).device


def _source(model, src_ids: list[list[int]], src_pad: int):
    src = _pad(src_ids, src_pad).to(_device(model))  # (B, S)
    return src, src != src_pad


@torch.no_grad()
def greedy(model: EncoderDecoder, src_ids: list[list[int]], src_pad: int, bos: int, eos: int,
           max_len: int | None = None) -> list[list[int]]:
    """The most likely token at each step, for a batch of sources at once; the ids between <BOS> and
    <EOS> (both left out) of each translation."""
    if not src_ids:
        return []
    src, src_mask = _source(model, src_ids, src_pad)
    memory = model.encode(src, src_mask)  # (B, S, C), computed once
    max_len = min(max_len or model.config.block_size, model.config.block_size)
    out = torch.full((len(src_ids), 1), bos, dtype=torch.long, device=src.device)  # (B, 1)
    done = torch.zeros(len(src_ids), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits = model.decode(out, memory, src_mask)[:, -1]  # (B, vocab): the next token after each prefix
        nxt = logits.argmax(-1).masked_fill(done, eos)  # a finished sentence keeps writing <EOS>
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos
        if bool(done.all()) or out.size(1) >= model.config.block_size:
            break
    rows = out[:, 1:].tolist()
    return [r[:r.index(eos)] if eos in r else r for r in rows]


@dataclass
class Hypothesis:
    ids: list[int]  # after <BOS>, without <EOS>
    logprob: float  # the sum of its tokens' log-probabilities (<EOS> included when finished)
    finished: bool


@torch.no_grad()
def beam_search(model: EncoderDecoder, src_ids: list[int], src_pad: int, bos: int, eos: int, width: int = 3,
                max_len: int | None = None) -> list[Hypothesis]:
    """Keep the `width` most likely partial translations at each step instead of one; returns the
    finished ones, most likely first. width=1 is greedy decoding."""
    src, src_mask = _source(model, [src_ids], src_pad)
    memory = model.encode(src, src_mask)  # (1, S, C)
    limit = min(max_len or model.config.block_size, model.config.block_size)
    beams = [Hypothesis([], 0.0, False)]
    finished: list[Hypothesis] = []
    for _ in range(limit):
        tgt = torch.tensor([[bos, *h.ids] for h in beams], device=src.device)  # (k, t)
        k = len(beams)
        logp = F.log_softmax(model.decode(tgt, memory.expand(k, -1, -1), src_mask.expand(k, -1))[:, -1], -1)
        total = logp + torch.tensor([h.logprob for h in beams], device=src.device)[:, None]  # (k, vocab)
        top = torch.topk(total.flatten(), min(width, total.numel()))
        candidates = []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            b, tok = divmod(flat, total.size(1))
            if tok == eos:
                finished.append(Hypothesis(beams[b].ids, score, True))
            else:
                candidates.append(Hypothesis(beams[b].ids + [tok], score, False))
        # log-probabilities only go down: once the best finished beats every live beam, nothing can win
        best_done = max((h.logprob for h in finished), default=float("-inf"))
        beams = [h for h in candidates if h.logprob > best_done]
        if not beams or len(beams[0].ids) + 1 >= model.config.block_size:
            break
    out = sorted(finished, key=lambda h: -h.logprob)[:width]
    return out or sorted(beams, key=lambda h: -h.logprob)[:width]


@dataclass
class Step:
    token: str  # the token chosen at this step
    prob: float  # its probability
    runners_up: list[tuple[str, float]]  # the next most likely tokens and their probabilities


@dataclass
class Trace:
    """One sentence translated greedily, with everything the page draws."""
    src_words: list[str]  # as the encoder read them (<UNK> where a word is unknown)
    out_words: list[str]  # <BOS> ... <EOS>
    steps: list[Step]  # one per output token after <BOS>
    cross_attention: np.ndarray  # (n_layer, n_head, steps, S): row t is the step that wrote steps[t].token
    encoder_attention: np.ndarray  # (n_encoder_layer, n_head, S, S)
    memory: np.ndarray  # (S, C): the encoder's contextual vector of each source word


@torch.no_grad()
def trace(model: EncoderDecoder, tokenizer: PairTokenizer, sentence: str, runners_up: int = 4) -> Trace:
    """Greedy decoding of one French sentence, step by step, then one recorded pass over the result."""
    src_tok, tgt_tok = tokenizer.source, tokenizer.target
    words = words_fr(sentence)[:model.config.src_block_size]
    src_ids = encode_source(src_tok, words)
    bos, eos = tgt_tok.special_id("<BOS>"), tgt_tok.special_id("<EOS>")
    if not src_ids:
        return Trace([], ["<BOS>"], [], np.zeros((0,)), np.zeros((0,)), np.zeros((0,)))
    src, src_mask = _source(model, [src_ids], src_tok.special_id("<PAD>"))
    memory = model.encode(src, src_mask)
    ids, steps = [bos], []
    while len(ids) < model.config.block_size:
        probs = F.softmax(model.decode(torch.tensor([ids], device=src.device), memory, src_mask)[0, -1], -1)
        top = torch.topk(probs, runners_up + 1)
        chosen = int(top.indices[0])
        steps.append(Step(tgt_tok.decode([chosen]), float(top.values[0]),
                          [(tgt_tok.decode([int(i)]), float(p)) for p, i in zip(top.values[1:], top.indices[1:])]))
        ids.append(chosen)
        if chosen == eos:
            break
    record: dict = {}
    model(src, torch.tensor([ids], device=src.device), record=record)
    stack = lambda maps: torch.stack([m[0] for m in maps]).cpu().numpy()  # noqa: E731  (layers, heads, ., .)
    # position t reads token t and writes token t + 1: the last position (after the last word) wrote nothing
    cross = stack(record["cross_attention"])[:, :, :len(steps)]
    return Trace([src_tok.decode([i]) for i in src_ids], [tgt_tok.decode([i]) for i in ids], steps,
                 cross, stack(record["encoder_attention"]), record["memory"][0].cpu().numpy())


# --- measuring translations -----------------------------------------------------------------------------

def exact_match(hyps: list[str], refs: list[str]) -> float:
    """The share of translations identical to the reference, in %."""
    return 100.0 * sum(h.split() == r.split() for h, r in zip(hyps, refs)) / max(1, len(refs))


def bleu(hyps: list[str], refs: list[str]) -> float:
    """Corpus BLEU (0-100) by sacrebleu, the field's reference implementation: the geometric mean of
    1- to 4-gram precisions times a brevity penalty."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hyps, [refs]).score) if refs else 0.0


# --- contextual embeddings ------------------------------------------------------------------------------

@dataclass
class Contextual:
    word: str
    static: np.ndarray  # (C,) the word's row of the source embedding table: the same in every sentence
    vectors: np.ndarray  # (N, C) the encoder's output at the word, one per sentence
    sentences: list[str]  # the N sentences
    prev_words: list[str]  # the word before it in each sentence (its nearest context), "" at the start


@torch.no_grad()
def contextual(model: EncoderDecoder, tokenizer: PairTokenizer, word: str, sentences: list[str],
               limit: int = 200) -> Contextual:
    """The same source word in many sentences: one static embedding, many contextual vectors."""
    src_tok = tokenizer.source
    if word not in src_tok.index:
        raise ValueError(f"{word!r} is not a source word")
    rows, where, kept = [], [], []
    for s in sentences:
        w = words_fr(s)[:model.config.src_block_size]
        if word in w:
            rows.append(encode_source(src_tok, w))
            where.append(w.index(word))
            kept.append(s)
            if len(kept) >= limit:
                break
    C = model.config.n_embd
    static = model.src_embedding.weight[src_tok.index[word]].cpu().numpy()
    if not rows:
        return Contextual(word, static, np.zeros((0, C)), [], [])
    src, mask = _source(model, rows, src_tok.special_id("<PAD>"))
    memory = model.encode(src, mask)  # (N, S, C)
    vecs = memory[torch.arange(len(rows)), torch.tensor(where)].cpu().numpy()
    prev = [words_fr(s)[i - 1] if i > 0 else "" for s, i in zip(kept, where)]
    return Contextual(word, static, vecs, kept, prev)


def cosines(c: Contextual) -> tuple[np.ndarray, np.ndarray]:
    """Each contextual vector's cosine similarity to the static embedding, and the (N, N) table between them."""
    v = c.vectors / np.maximum(np.linalg.norm(c.vectors, axis=1, keepdims=True), 1e-12)
    s = c.static / max(np.linalg.norm(c.static), 1e-12)
    return v @ s, v @ v.T


# --- runs -----------------------------------------------------------------------------------------------

def new_run(model_cfg: EncoderDecoderConfig, train_cfg, corpus_: Corpus | None = None, preset: str = "translation"):
    """A fresh (seeded) encoder-decoder on the language, ready for TrainingRun.start() / train()."""
    corpus_ = corpus_ or corpus()
    tok = corpus_.tokenizer
    model_cfg = replace(model_cfg, vocab_size=tok.target.vocab_size, src_vocab_size=tok.source.vocab_size)
    problems = model_cfg.problems() + train_cfg.problems()
    batches = PairBatches(corpus_, pick_device(train_cfg.device))
    S, T = batches.lengths()
    if S > model_cfg.src_block_size or T > model_cfg.block_size:
        problems.append(f"the longest sentences have {S} source and {T} target tokens (with <BOS>); the model "
                        f"takes {model_cfg.src_block_size} and {model_cfg.block_size}")
    if problems:
        raise TrainingError(" ".join(problems))
    torch.manual_seed(train_cfg.seed)  # the initial weights
    return TrainingRun(EncoderDecoder(model_cfg), tok, batches, train_cfg, preset=preset, measure=batches.metrics)


def resume_run(checkpoint, train_cfg):
    """Go on training an encoder-decoder checkpoint on the language it was trained on."""
    settings = checkpoint.extra.get("language") or {}
    corpus_ = corpus(**settings)
    if corpus_.tokenizer.to_dict() != checkpoint.tokenizer.to_dict():
        raise TrainingError("this checkpoint's vocabularies are not this language's")
    batches = PairBatches(corpus_, pick_device(train_cfg.device))
    return TrainingRun(checkpoint.model, checkpoint.tokenizer, batches, train_cfg, preset=checkpoint.preset,
                       measure=batches.metrics,
                       resume=Resume.of(checkpoint))


def language_of(run) -> dict:
    """What to store in a checkpoint's extra so the run can be resumed on the same sentences."""
    return {"language": run.batches.corpus.settings} if isinstance(run.batches, PairBatches) else {}


def beam_translations(model: EncoderDecoder, tokenizer: PairTokenizer, sentence: str, width: int = 3) -> list[tuple[str, float]]:
    """A French sentence's `width` best translations by beam search, with each one's probability."""
    src_tok, tgt_tok = tokenizer.source, tokenizer.target
    src = encode_source(src_tok, words_fr(sentence)[:model.config.src_block_size])
    if not src:
        return []
    hyps = beam_search(model, src, src_tok.special_id("<PAD>"), tgt_tok.special_id("<BOS>"),
                       tgt_tok.special_id("<EOS>"), width)
    return [(tgt_tok.decode(h.ids), float(np.exp(h.logprob))) for h in hyps]


def project_contextual(c: Contextual) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA of the static embedding (row 0) and the contextual vectors; (coords, share of variance per axis)."""
    p = project(np.vstack([c.static[None], c.vectors]), [c.word] * (len(c.vectors) + 1), "pca", 2)
    return p.coords, p.explained
