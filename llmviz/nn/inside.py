"""Looking inside a model while it learns (tutorial part 2): what the training panel shows live.

Taken by the trainer itself between two optimizer steps (llmviz.training.observers.LookInside), so every figure
comes from one consistent set of weights, never from a half-updated step; a page only reads the
published result. Each probe is cheap (one forward pass over one window, a 2-D projection of the
token-embedding table, one norm per layer), and the trainer takes one at most every few tenths of a
second, so watching does not slow training down.

- `grad_norms`: the gradient's size at each layer (embedding, block 1 ... n, head) after a backward
  pass. Without residual connections the early layers' gradients fade; with them they stay alive.
- `project`: the token-embedding table in 2-D (PCA), with its axes kept pointing the same way from
  one probe to the next, so characters drift into groups instead of flipping about.
- `probe`: all of it, plus the attention weights of one fixed window of text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# the groups a character falls into, to colour the embedding projection
GROUPS = ("vowel", "consonant", "capital vowel", "capital consonant", "digit", "punctuation", "whitespace", "other")


def char_group(token: str) -> str:
    """The group a token (one character, usually) belongs to, for colouring."""
    if not token or len(token) != 1:
        return "other"
    c = token
    if c.isspace():
        return "whitespace"
    if c.isdigit():
        return "digit"
    if c.isalpha():
        vowel = c.lower() in "aeiouy"
        if c.isupper():
            return "capital vowel" if vowel else "capital consonant"
        return "vowel" if vowel else "consonant"
    if c.isprintable():
        return "punctuation"
    return "other"


def layer_of(param_name: str) -> str:
    """Which layer a parameter belongs to: "embedding", "block 1" ..., or "head" (final norm included)."""
    if param_name.startswith(("token_embedding", "position_embedding")):
        return "embedding"
    if param_name.startswith("blocks."):
        return f"block {int(param_name.split('.')[1]) + 1}"
    return "head"


@torch.no_grad()
def grad_norms(model: torch.nn.Module) -> dict[str, float]:
    """The L2 norm of the gradient of each layer's parameters together (after loss.backward()),
    in the order data flows: embedding, block 1, ..., head. Layers without a gradient are left out."""
    sq: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            layer = layer_of(name)
            sq[layer] = sq.get(layer, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {k: math.sqrt(v) for k, v in sq.items()}


def project(table: np.ndarray, previous_axes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the rows of `table` (vocab, C) to 2-D: (coordinates (vocab, 2), axes (2, C), the share of
    the variance each axis explains). Each axis is flipped, if needed, to point the way the previous
    probe's did (a principal axis has no sign of its own)."""
    # torch's SVD, not numpy's: numpy's BLAS starts its own threads, which fight the trainer's for the
    # cores (a 65 x 128 SVD took 70 ms inside a training run instead of 1 ms)
    x = torch.as_tensor(np.asarray(table), dtype=torch.float64)
    x = x - x.mean(dim=0)
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    x, s, axes = x.numpy(), s.numpy(), vt[:2].numpy().copy()
    if axes.shape[0] < 2:  # a one-dimensional table
        axes = np.vstack([axes, np.zeros_like(axes)])
        s = np.append(s, 0.0)
    if previous_axes is not None and previous_axes.shape == axes.shape:
        for i in range(2):
            if axes[i] @ previous_axes[i] < 0:
                axes[i] = -axes[i]
    total = float((s ** 2).sum()) or 1.0
    return x @ axes.T, axes, (s[:2] ** 2) / total


@dataclass(frozen=True)
class Inside:
    """One look inside, taken at `step`."""
    step: int
    tokens: tuple  # the window's tokens, as text
    attention: np.ndarray  # (n_layer, n_head, T, T) attention weights over the window
    causal: bool
    embedding_xy: np.ndarray  # (vocab, 2): each token's row of the embedding table, projected
    explained: np.ndarray  # (2,) share of the variance on each axis
    axes: np.ndarray  # (2, C) the projection's axes, to keep the next probe's pointing the same way


@torch.no_grad()
def probe(model, window: list[int], decode, step: int, previous: Inside | None = None) -> Inside:
    """Attention over `window` (token ids, at most block_size) and the embedding table in 2-D."""
    device = next(model.parameters()).device
    idx = torch.tensor(window[-model.config.block_size:], dtype=torch.long, device=device)
    att = model.attention_maps(idx).float().cpu().numpy()
    table = model.token_embedding.weight.detach().float().cpu().numpy()
    xy, axes, explained = project(table, previous.axes if previous is not None else None)
    return Inside(step, tuple(decode([int(i)]) for i in idx.tolist()), att, bool(model.config.causal), xy,
                  explained, axes)
