"""A training run's history: one `Record` per loss estimate, and the throughput over a run."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """One row of the training history, written at each evaluation."""
    step: int  # optimizer steps done
    train_loss: float  # estimated over eval_iters batches of the training split
    val_loss: float  # the same on the validation split
    lr: float  # learning rate of the last step
    tokens_per_s: float  # training throughput since the previous row
    elapsed: float  # seconds since the start of this run
    other: dict | None = None  # further figures: other splits' losses ({"original": 2.1}), accuracies, ...


def mean_tokens_per_s(history) -> float:
    """Training throughput over a run: the mean of its rows' (the first row, before any step, has none)."""
    speeds = [r.tokens_per_s for r in history if r.tokens_per_s > 0]
    return sum(speeds) / len(speeds) if speeds else 0.0
