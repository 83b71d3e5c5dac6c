"""Predicting the next token (tutorial part 2): how a text becomes training examples, and what a
trained model does with one prompt, step by step.

- `xy_pairs` / `batch_grid`: a block of block_size tokens x and its target y, x shifted by one; each
  position t of the block is one example "given x[:t+1], predict y[t]".
- `trace`: follows one prompt through a model, as the tutorial's slides do: token ids -> embedding
  rows -> attention weights per head -> each block's output -> logits -> softmax -> sampled token.
- The slides' tiny model: block_size 3, a vocabulary of 6 words and n_embd 4, small enough to read
  every number.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from llmviz.nn.sampling import Sampling, probabilities, sample_rows
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import Tokenizer, WordTokenizer


# --- from a text to (x, y) examples --------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    context: list[int]  # the tokens the model sees
    target: int  # the token it must predict next


def xy_block(ids, start: int, block_size: int) -> tuple[list[int], list[int]]:
    """x = ids[start : start+block_size] and y = the same window one token later."""
    if block_size < 1:
        raise ValueError("block_size must be at least 1")
    if not 0 <= start <= len(ids) - block_size - 1:
        raise ValueError(f"a block of {block_size} tokens plus its target needs start between 0 and "
                         f"{len(ids) - block_size - 1} (the text has {len(ids)} tokens)")
    window = ids[start:start + block_size + 1]  # a list, or a compact array (llmviz.text.corpora.Corpus.char_ids)
    window = window.tolist() if hasattr(window, "tolist") else list(window)
    return window[:-1], window[1:]


def xy_pairs(ids, start: int, block_size: int) -> list[Example]:
    """The block_size examples hidden in one block: contexts of length 1, 2, ..., block_size."""
    x, y = xy_block(ids, start, block_size)
    return [Example(x[:t + 1], y[t]) for t in range(block_size)]


def batch_grid(ids, block_size: int, batch_size: int, seed: int = 0) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """batch_size random blocks, as llmviz.training.batches.get_batch draws them: (starts, x rows, y rows)."""
    high = len(ids) - block_size
    if high < 1:
        raise ValueError(f"the text has {len(ids)} tokens: too short for block_size {block_size}")
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(high, (batch_size,), generator=g).tolist()
    xs, ys = zip(*(xy_block(ids, s, block_size) for s in starts))
    return starts, list(xs), list(ys)


# --- one prompt through the model ----------------------------------------------------------------------

@dataclass
class Trace:
    tokens: list[str]  # the prompt's tokens as text (cropped to block_size)
    ids: list[int]
    token_emb: torch.Tensor  # (T, C) rows of the token-embedding table
    pos_emb: torch.Tensor | None  # (T, C) rows of the position-embedding table, if the model has one
    attention: list[torch.Tensor]  # per block: (n_head, T, T) weights, row i = how much i draws from j
    block_out: list[torch.Tensor]  # per block: (T, C) its output
    logits: torch.Tensor  # (vocab,) at the last position, as computed
    probs: torch.Tensor  # (vocab,) after temperature / top-k / top-p and softmax
    sampled: int  # the token drawn from probs
    causal: bool


@torch.no_grad()
def trace(model: LanguageModel, ids, tokenizer: Tokenizer, temperature: float = 1.0, top_k: int | None = None,
          top_p: float | None = None, seed: int | None = 0) -> Trace:
    """Run one prompt through the model and keep every intermediate result it records on the way."""
    cfg: ModelConfig = model.config
    ids = list(ids)[-cfg.block_size:]
    if not ids:
        raise ValueError("give at least one token of prompt")
    device = next(model.parameters()).device
    rec: dict = {}
    logits, _ = model(torch.tensor([ids], dtype=torch.long, device=device), record=rec)  # (1, T, vocab)
    logits = logits[0, -1].float()  # (vocab,) the last position predicts
    probs = probabilities(logits, temperature, top_k, top_p)
    g = torch.Generator(device=probs.device)
    if seed is not None:
        g.manual_seed(seed)
    sampled = sample_rows(logits.view(1, -1), [Sampling(temperature, top_k, top_p)], [g])[0]
    pos = rec["pos_emb"]
    return Trace([tokenizer.decode([i]) for i in ids], ids, rec["token_emb"][0].cpu(),
                 pos.cpu() if pos is not None else None, [w[0].cpu() for w in rec["attention"]],
                 [x[0].cpu() for x in rec["block_out"]], logits.cpu(), probs.cpu(), sampled, cfg.causal)


# --- the slides' tiny model ----------------------------------------------------------------------------

SLIDE_WORDS = ("the", "cat", "dog", "is", "under", "table")  # a vocabulary of 6 words
SLIDE_MODEL = dict(block_size=3, n_embd=4, n_head=1, n_layer=1, causal=True, pos_emb=True, ffwd="none",
                   residual=False, layer_norm=False, proj=False)  # one head, as in the slides
SLIDE_PROMPT = "the cat is"


def slide_text(n_sentences: int = 400, seed: int = 0) -> str:
    """'the cat is under the table' and 'the dog is under the table', in a random order."""
    rng = random.Random(seed)
    return " ".join(f"the {rng.choice(('cat', 'dog'))} is under the table" for _ in range(n_sentences))


def slide_model(steps: int = 300, seed: int = 0) -> tuple[LanguageModel, WordTokenizer, list[float]]:
    """The slides' model (6 words, block_size 3, n_embd 4) trained on slide_text; returns the loss per step."""
    tok = WordTokenizer(SLIDE_WORDS)
    data = torch.tensor(tok.encode(slide_text(seed=seed)), dtype=torch.long)
    torch.manual_seed(seed)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, **SLIDE_MODEL))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    g = torch.Generator().manual_seed(seed)
    bs = SLIDE_MODEL["block_size"]
    losses = []
    for _ in range(steps):
        ix = torch.randint(len(data) - bs, (32,), generator=g)
        x = torch.stack([data[i:i + bs] for i in ix])  # (32, 3)
        y = torch.stack([data[i + 1:i + bs + 1] for i in ix])  # (32, 3)
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return model, tok, losses


def entropy_bits(probs) -> float:
    """How unsure a distribution is, in bits (0: certain; log2(vocab): uniform)."""
    return -sum(p * math.log2(p) for p in (float(q) for q in probs) if p > 0)


MEANINGS = {"block_size": "context length: the most tokens the model looks at",
            "batch_size": "windows per training step",
            "vocab_size": "distinct tokens (here: characters of the text)",
            "n_embd": "width of each token's vector", "n_head": "attention heads per block",
            "n_layer": "blocks stacked", "dropout": "fraction of activations zeroed in training"}


def setting_names(block_size: int, batch_size: int, vocab_size: int, model_cfg=None, train_cfg=None) -> dict:
    """The names the tutorial uses, what each means, its value on the page (the sliders, the text) and,
    given a trained run's configs, that run's value: columns of a table."""
    page = {"block_size": block_size, "batch_size": batch_size, "vocab_size": vocab_size}
    table = {"name": list(MEANINGS), "meaning": list(MEANINGS.values()),
             "on this page": [str(page[k]) if k in page else "—" for k in MEANINGS]}
    if model_cfg is not None:
        table["your last run"] = [str(getattr(train_cfg if k == "batch_size" else model_cfg, k)) for k in MEANINGS]
    return table
