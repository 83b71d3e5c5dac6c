"""Measuring how well a model predicts (tutorial part 2): the loss estimated over many batches, and a
diagnosis when training blows up.

The loss is the mean cross-entropy of the next token: ln(vocab_size) for a model that knows nothing
(every token equally likely), 0 for one that is always sure and right.
"""

from __future__ import annotations

import math

import torch

from llmviz.batches import BatchSource


@torch.no_grad()
def estimate_loss(model, batches: BatchSource, batch_size: int, eval_iters: int,
                  generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean loss over eval_iters random batches of each split, with dropout off (the model is not changed)."""
    block = model.config.block_size
    # several batches per forward pass: the same mean (equal batch sizes), far less per-call overhead
    per_call = max(1, min(eval_iters, 4096 // (batch_size * block)))
    out = {}
    for split in batches.splits:
        total, done = 0.0, 0
        while done < eval_iters:
            k = min(per_call, eval_iters - done)
            b = batches.batch(split, batch_size * k, generator)
            _, loss = model(**b.inputs, targets=b.targets)
            total += loss.item() * k
            done += k
        out[split] = total / eval_iters
    return out


def divergence_message(loss: float, step: int, lr: float, vocab_size: int) -> str | None:
    """A diagnosis when the loss is NaN/inf or has blown far above where training starts (ln vocab)."""
    suggest = _fmt(min(lr / 10, 1e-2))
    if not math.isfinite(loss):
        return (f"loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step} — the learning rate "
                f"{_fmt(lr)} is probably too high; try ≤ {suggest}")
    start = math.log(vocab_size)
    if loss > 3 * start + 5:
        return (f"loss exploded to {loss:.3g} at step {step} (a fresh model starts near ln({vocab_size}) = "
                f"{start:.2f}) — the learning rate {_fmt(lr)} is probably too high; try ≤ {suggest}")
    return None


def _fmt(x: float) -> str:
    """3e-4 and 1e-2 rather than 0.0003 and 0.01; 0.5 stays 0.5."""
    m, e = f"{x:.0e}".split("e")
    return f"{m}e{int(e)}" if abs(int(e)) >= 2 else f"{x:g}"
