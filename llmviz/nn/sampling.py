"""Sampling (tutorial part 2, "predicting"): from the logits a model gives for the next token to the token.

First the logits are adjusted, as OpenAI's API defines it: `logit_bias` adds a number to chosen tokens'
logits; a token already generated c times loses c * frequency_penalty + (c > 0) * presence_penalty; a
constraint (constrained decoding: a tool call's format, say) sets every token it does not allow to -inf.
Then the logits are divided by the temperature; everything outside the top_k most likely tokens and
outside the smallest set whose probability reaches top_p is set to -inf (its probability becomes exactly
0); one token is drawn from the softmax. Temperature 0 means always the most likely (adjusted) token.

This is the one sampler: generation (`llmviz.nn.generate`, one row) and the server's batch engine
(`llmviz.serving.engine`, one row per request) both call `sample_rows`, so a seed gives the same text
from either. Each row has its own settings and its own `torch.Generator`, and a row's token depends
only on its logits and its generator, never on the rows beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F


class Sampling(NamedTuple):
    """How one row samples (the server's SamplingParams has the same fields and can stand for it)."""
    temperature: float = 1.0  # 0: always the most likely token
    top_k: int | None = None  # keep the k most likely tokens (None or 0: all)
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches top_p (None or 1: all)
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, number added to its logit)
    presence_penalty: float = 0.0  # taken off the logit of every token generated at least once
    frequency_penalty: float = 0.0  # taken off a token's logit once per time it was generated


class Constraint(Protocol):
    """Constrained decoding: which tokens may come next, step by step (None: any)."""

    def allowed(self) -> torch.Tensor | None:
        """A (vocab,) bool tensor, True where a token may come next; None when every token may."""

    def advance(self, token: int) -> None:
        """The token that was chosen."""


class Forbidden:
    """A Constraint that never lets these tokens come, whatever came before (e.g. "<|call|>" when no tool is
    offered: the model answers in words instead of writing a tag as text). Stateless: one serves every row."""

    def __init__(self, vocab_size: int, ids: Sequence[int]):
        self.mask = torch.ones(vocab_size, dtype=torch.bool)
        self.mask[list(ids)] = False

    def allowed(self) -> torch.Tensor:
        return self.mask

    def advance(self, token: int) -> None:
        pass


def adjust_rows(logits: torch.Tensor, settings: Sequence, histories: Sequence[Sequence[int]] | None = None,
                masks: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Logits (B, vocab), row i adjusted by settings[i]'s logit_bias and penalties (histories[i]: the tokens
    that row has generated so far) and by masks[i] (True: allowed; None: no constraint). Settings without
    those fields (an old SamplingParams, a plain Sampling) change nothing."""
    x = None
    for i, s in enumerate(settings):
        bias = getattr(s, "logit_bias", ())
        presence, frequency = getattr(s, "presence_penalty", 0.0) or 0.0, getattr(s, "frequency_penalty", 0.0) or 0.0
        history = histories[i] if histories is not None else ()
        mask = masks[i] if masks is not None else None
        if not bias and not ((presence or frequency) and len(history)) and mask is None:
            continue
        if x is None:
            x = logits.float().clone()
        row = x[i]
        for token, value in bias:
            row[token] += value
        if (presence or frequency) and len(history):
            counts = torch.bincount(torch.as_tensor(list(history), device=row.device), minlength=row.numel())
            counts = counts[:row.numel()].to(row.dtype)
            row -= counts * frequency + (counts > 0).to(row.dtype) * presence
        if mask is not None:
            row.masked_fill_(~mask.to(row.device), float("-inf"))
    return logits if x is None else x


def filter_rows(logits: torch.Tensor, settings: Sequence) -> torch.Tensor:
    """Logits (B, vocab), row i reshaped by settings[i] (anything with temperature, top_k and top_p):
    divided by its temperature, then -inf outside its top_k and outside its top_p."""
    B, V = logits.shape
    temperatures = [[max(s.temperature, 1e-8)] for s in settings]
    x = logits / torch.tensor(temperatures, dtype=logits.dtype, device=logits.device)  # (B, V)
    ks = [s.top_k if s.top_k and 0 < s.top_k < V else V for s in settings]
    tops = [s.top_p if s.top_p is not None and 0 < s.top_p < 1 else None for s in settings]
    if all(k == V for k in ks) and all(t is None for t in tops):
        return x
    sorted_x, order = torch.sort(x, descending=True, dim=-1)  # (B, V)
    if any(k < V for k in ks):
        kth = sorted_x[torch.arange(B), torch.tensor(ks) - 1].view(B, 1)  # each row's k-th largest logit
        x = x.masked_fill(x < kth, float("-inf"))
        sorted_x = sorted_x.masked_fill(sorted_x < kth, float("-inf"))
    if any(t is not None for t in tops):
        p_sorted = F.softmax(sorted_x, dim=-1)
        limit = torch.tensor([[t if t is not None else float("inf")] for t in tops], device=logits.device)
        # drop a token when the more likely ones before it already reach top_p (the first always stays)
        drop_sorted = (p_sorted.cumsum(-1) - p_sorted) >= limit
        x = x.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))  # back to vocabulary order
    return x


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Logits (..., vocab) reshaped for sampling, every row with the same settings (see filter_rows)."""
    rows = logits.reshape(-1, logits.size(-1))
    return filter_rows(rows, [Sampling(temperature, top_k, top_p)] * rows.size(0)).view(logits.shape)


def probabilities(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """The distribution a token is drawn from, for logits (..., vocab): the softmax of the filtered logits,
    or at temperature 0 all the probability on the most likely token."""
    if temperature <= 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).float()
    return F.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)


def sample_rows(logits: torch.Tensor, settings: Sequence, generators: Sequence[torch.Generator | None],
                histories: Sequence[Sequence[int]] | None = None,
                masks: Sequence[torch.Tensor | None] | None = None) -> list[int]:
    """One token per row of logits (B, vocab), row i with settings[i] and generators[i] (None: torch's
    default generator), first adjusted by adjust_rows (histories[i]: row i's generated tokens, for the
    penalties; masks[i]: the tokens a constraint allows).

    Each row's probabilities are divided by noise drawn from that row's own generator, Exp(1), and the
    largest quotient wins (the "exponential race": token i wins with probability p_i; it is what
    torch.multinomial does for one sample). A row at temperature 0 takes its most likely token and draws
    no noise."""
    logits = adjust_rows(logits, settings, histories, masks)
    sampled = [i for i, s in enumerate(settings) if s.temperature > 0]
    greedy = logits.argmax(dim=-1)  # (B,)
    out = greedy.tolist()
    if sampled:
        rows = torch.tensor(sampled, device=logits.device)
        probs = F.softmax(filter_rows(logits[rows].float(), [settings[i] for i in sampled]), dim=-1)  # (S, V)
        noise = torch.empty_like(probs)
        for r, i in enumerate(sampled):
            noise[r].exponential_(generator=generators[i])
        for i, token in zip(sampled, (probs / noise).argmax(dim=-1).tolist()):
            out[i] = token
    return out
