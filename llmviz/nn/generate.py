"""Generating text (tutorial part 2, "predicting"): turn the last position's logits into a probability
distribution, reshape it with temperature, top-k and top-p, sample one token, append it, repeat.

The context is cropped to the model's block_size, because that is all it was trained to look at.

Generation never changes the model: no switching between training and evaluation modes (dropout is
off unless the trainer asks for it), no gradients. Many threads can generate from one model at once,
and a seed gives the same text whoever else is generating.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import math

import torch
import torch.nn.functional as F

from llmviz.errors import LearnerError


def sampling_problems(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                      max_new_tokens: int | None = None) -> list[str]:
    """What makes these sampling settings unusable, in plain words (empty when they are fine)."""
    out = []
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        out.append(f"the temperature must be a number ≥ 0 (it is {temperature}); 0 always picks the most likely token.")
    if top_k is not None and top_k < 1:
        out.append(f"top-k must be at least 1 (it is {top_k}); leave it out to keep every token.")
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        out.append(f"top-p must be in (0, 1] (it is {top_p}); 1 keeps every token.")
    if max_new_tokens is not None and max_new_tokens < 1:
        out.append(f"the number of tokens to generate must be at least 1 (it is {max_new_tokens}).")
    return out


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def _as_ids(ids, device) -> torch.Tensor:
    t = torch.as_tensor(list(ids) if not isinstance(ids, torch.Tensor) else ids, dtype=torch.long, device=device)
    return t.view(1, -1)  # (1, T)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Logits (..., vocab) reshaped for sampling: divided by the temperature, then everything outside
    the top_k most likely tokens and outside the smallest set whose probability reaches top_p is set to
    -inf (so its probability becomes exactly 0)."""
    logits = logits / max(temperature, 1e-8)
    if top_k is not None and 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1) the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = F.softmax(sorted_logits, dim=-1).cumsum(-1)  # (..., vocab)
        # drop a token when the more likely ones before it already reach top_p (the first always stays)
        drop_sorted = (cum - F.softmax(sorted_logits, dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of logits (B, vocab) -> (B, 1). Temperature 0 means always the most likely."""
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    probs = F.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)  # (B, vocab)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


@torch.no_grad()
def next_token_probs(model, ids: Sequence[int] | torch.Tensor, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The model's probability for every token of the vocabulary to come after `ids` (1-D, on the CPU)."""
    idx = _as_ids(ids, _model_device(model))[:, -model.config.block_size:]  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context")
    logits, _ = model(idx)
    logits = logits[0, -1].float()  # (vocab,) the last position predicts the next token
    if temperature <= 0:
        return F.one_hot(logits.argmax(), logits.numel()).float().cpu()
    return F.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1).cpu()


@torch.no_grad()
def generate_stream(model, ids: Sequence[int] | torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> Iterator[int]:
    """Yield max_new_tokens sampled token ids one by one, each conditioned on the prompt and the ones before.
    Impossible settings (a NaN or negative temperature, top-p 0, ...) raise a LearnerError."""
    problems = sampling_problems(temperature, top_k or None, top_p)
    if problems:
        raise LearnerError(" ".join(problems))
    device = _model_device(model)
    generator = None
    if seed is not None:
        # multinomial on an accelerator needs a generator living there
        generator = torch.Generator(device=device).manual_seed(seed)
    idx = _as_ids(ids, device)  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context (e.g. a newline)")
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])  # crop: the model sees block_size tokens at most
        nxt = sample_next(logits[:, -1, :], temperature, top_k, top_p, generator)  # (1, 1)
        idx = torch.cat([idx[:, -model.config.block_size:], nxt], dim=1)  # keep only what is still needed
        yield int(nxt)


def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, **kwargs) -> str:
    """The prompt's continuation as text (not including the prompt)."""
    ids = tokenizer.encode(prompt) if prompt else [0]
    return tokenizer.decode(list(generate_stream(model, ids, max_new_tokens, **kwargs)))


class Choice(NamedTuple):
    """One generated token and how sure the model was: its probability and the likeliest alternatives."""
    id: int
    prob: float  # the model's own probability for this token (temperature 1, nothing filtered)
    top: tuple  # ((id, prob), ...) the model's k most likely tokens at this point, most likely first


@torch.no_grad()
def generate_traced(model, ids: Sequence[int] | torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                    k: int = 5) -> Iterator[Choice]:
    """generate_stream's tokens (the same ones for the same seed), each with the model's probability for
    it and its k most likely alternatives, so the text can be coloured by how sure the model was."""
    device = _model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    idx = _as_ids(ids, device)  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context (e.g. a newline)")
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        last = logits[:, -1, :]  # (1, vocab)
        nxt = sample_next(last, temperature, top_k, top_p, generator)  # (1, 1)
        probs = F.softmax(last[0].float(), dim=-1)  # (vocab,) the model's own distribution
        p, i = torch.topk(probs, min(k, probs.numel()))
        idx = torch.cat([idx[:, -model.config.block_size:], nxt], dim=1)
        yield Choice(int(nxt), float(probs[int(nxt)]), tuple(zip(i.tolist(), p.tolist())))
