"""Measuring how well a model predicts (tutorial part 2): the loss estimated over many batches, and a
diagnosis when training blows up.

The loss is the mean cross-entropy of the next token: ln(vocab_size) for a model that knows nothing
(every token equally likely), 0 for one that is always sure and right.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from llmviz.training.batches import BatchSource, batch_loss
from llmviz.jobs import Stopped


def eval_passes(model_cfg, batch_size: int, eval_iters: int, n_splits: int = 2) -> tuple[int, int]:
    """(batches per forward pass, forward passes) of one loss estimate over n_splits splits."""
    per_call = max(1, min(eval_iters, 4096 // (batch_size * model_cfg.block_size)))
    return per_call, n_splits * math.ceil(eval_iters / per_call)


@torch.no_grad()
def estimate_loss(model, batches: BatchSource, batch_size: int, eval_iters: int,
                  generator: torch.Generator | None = None, *, should_stop: Callable[[], bool] | None = None,
                  on_pass: Callable[[int, int, float], None] | None = None) -> dict[str, float]:
    """Mean loss over eval_iters random batches of each split, with dropout off (the model is not changed).

    A big model's estimate is many slow forward passes: `should_stop()` is asked before each one (if it
    says yes, llmviz.jobs.Stopped is raised and nothing is returned), and `on_pass(done, total, seconds)`
    hears after each one how many passes are done of how many, and how long the last one took."""
    import time

    # several batches per forward pass: the same mean (equal batch sizes), far less per-call overhead
    per_call, total_passes = eval_passes(model.config, batch_size, eval_iters, len(batches.splits))
    out, passes = {}, 0
    for split in batches.splits:
        total, done = 0.0, 0
        while done < eval_iters:
            if should_stop is not None and should_stop():
                raise Stopped()
            t = time.perf_counter()
            k = min(per_call, eval_iters - done)
            b = batches.batch(split, batch_size * k, generator)
            loss = batch_loss(model, b)
            total += loss.item() * k
            done += k
            passes += 1
            if on_pass is not None:
                on_pass(passes, total_passes, time.perf_counter() - t)
        out[split] = total / eval_iters
    return out


def divergence_message(loss: float, step: int, lr: float, vocab_size: int) -> str | None:
    """A diagnosis when the loss is NaN/inf or has blown far above where training starts (ln vocab).
    `step` is the step the progress bar shows when the diagnosis appears."""
    suggest = _fmt(min(lr / 10, 1e-2))
    when = f"at step {step:,}"
    if not math.isfinite(loss):
        return (f"loss became {'NaN' if math.isnan(loss) else 'infinite'} {when} — the learning rate "
                f"{_fmt(lr)} is probably too high; try ≤ {suggest}")
    start = math.log(vocab_size)
    if loss > 3 * start + 5:
        return (f"loss exploded to {loss:.3g} {when} (a fresh model starts near ln({vocab_size}) = "
                f"{start:.2f}) — the learning rate {_fmt(lr)} is probably too high; try ≤ {suggest}")
    return None


def _fmt(x: float) -> str:
    """3e-4 and 1e-2 rather than 0.0003 and 0.01; 0.5 stays 0.5."""
    m, e = f"{x:.0e}".split("e")
    return f"{m}e{int(e)}" if abs(int(e)) >= 2 else f"{x:g}"
