"""What a session keeps of its runs: one copy of a text's token ids for all its runs, a budget of runs and
bytes whose oldest runs are let go (and said so in words), a reset run lighter by AdamW's state, and text
samples and gradient norms bounded however long a run trains."""

from __future__ import annotations

import gc

import pytest
import torch

from llmviz.nn.model import ModelConfig
from llmviz.training import retention
from llmviz.training.config import TrainConfig
from llmviz.training.retention import Budget
from llmviz.training.train import TrainingError, TrainingRun

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, wherefore art thou?\n" * 40
TINY = dict(block_size=8, n_embd=8, n_head=2, n_layer=1)


def run_on(text=TEXT, **train):
    cfg = ModelConfig(vocab_size=1, **TINY)
    return TrainingRun.new(cfg, TrainConfig(**{"max_iters": 4, "eval_interval": 4, "eval_iters": 1, "batch_size": 4,
                                               "sample_tokens": 0, **train}), text)


def token_bytes(run) -> int:
    return run.batches.data["train"].untyped_storage().nbytes()


def test_runs_of_one_text_share_its_token_ids_and_count_them_once():
    a, b = run_on(), run_on(learning_rate=3e-3)
    other = run_on(TEXT.upper())
    ptr = lambda r: r.batches.data["train"].untyped_storage().data_ptr()  # noqa: E731
    assert ptr(a) == ptr(b) != ptr(other)
    assert token_bytes(a) == 4 * len(TEXT)  # int32, the whole text (training and validation views of one block)
    together = retention.session_bytes([a, b])
    assert together == retention.run_bytes(a) + retention.run_bytes(b) - token_bytes(a)
    assert torch.equal(a.batches.data["val"], b.batches.data["val"])


def test_the_shared_ids_are_not_kept_once_no_run_holds_them():
    from llmviz.training import batches

    a = run_on(TEXT.lower())
    key = batches.shared_key(TEXT.lower(), a.tokenizer)
    assert batches._shared[key] is a.batches.data["train"]._base
    del a
    gc.collect()
    assert key not in batches._shared  # the cache itself holds nothing: the memory goes with the last run


def test_run_bytes_count_the_model_gradients_and_adamw_state():
    run = run_on()
    n = sum(p.numel() for p in run.model.parameters())
    before = retention.run_bytes(run)
    assert before == 4 * n + token_bytes(run)
    run.train()
    after = retention.run_bytes(run)
    # float32 gradients and AdamW's two moments per weight (and its step counters)
    assert after >= before + 3 * 4 * n
    assert retention.lighten(run)
    assert retention.run_bytes(run) == before
    assert not run.trainable
    with pytest.raises(TrainingError, match="reset"):
        run.start()


def test_a_running_run_is_not_lightened():
    class Running:
        running = True
    assert not retention.lighten(Running())


class Fake:
    def __init__(self, mb: float, running: bool = False):
        self.model = torch.nn.Linear(int(mb * 2**20 / 4), 1, bias=False)
        self.batches, self.running = None, running


def test_the_oldest_runs_no_page_shows_are_let_go_first():
    named = {n: Fake(0.01) for n in ("a", "b", "c", "d", "e")}
    assert retention.to_let_go(named, Budget(runs=3)) == ["a", "b"]
    assert retention.to_let_go(named, Budget(runs=3), keep={"a"}) == ["b", "c"]
    assert retention.to_let_go(named, Budget(runs=3), keep={"a", "b", "c", "d"}) == ["a", "b"]
    assert retention.to_let_go(named, Budget(runs=5)) == []


def test_the_byte_budget_lets_go_until_the_rest_fits_never_a_training_or_the_newest_run():
    named = {"a": Fake(1), "b": Fake(1, running=True), "c": Fake(1), "d": Fake(1)}
    assert retention.to_let_go(named, Budget(runs=10, bytes=int(2.5 * 2**20))) == ["a", "c"]
    # nothing else can go: the training run and the newest stay, over the budget
    assert retention.to_let_go(named, Budget(runs=10, bytes=2**20)) == ["a", "c"]
    assert retention.to_let_go({"new": Fake(5)}, Budget(runs=1, bytes=2**20)) == []


def test_the_words_follow_the_numbers():
    one = retention.let_go_words([("lm1", 3 * 2**20)], Budget(runs=12), 12, 200 * 2**20)
    assert "the oldest run, **lm1** (3.0 MB), was let go" in one and "12 runs and 1.0 GB" in one
    assert "12 runs kept, holding 200.0 MB" in one and "still over" not in one and "show it." in one
    two = retention.let_go_words([("lm1", 2**20), ("lm2 (2)", 2**19)], Budget(runs=3, bytes=2**29), 4, 2**30)
    assert "the 2 oldest runs, **lm1** and **lm2 (2)** (1.5 MB together), were let go" in two
    assert "3 runs and 512.0 MB" in two and "4 runs kept, holding 1.0 GB" in two and "still over the budget" in two
    assert "show them." in two
    assert retention.let_go_words([], Budget(), 3, 10) == ""
    assert retention.size_words(1) == "1 byte" and retention.size_words(1536) == "1.5 KB"


def test_thin_keeps_a_bounded_evenly_spread_history():
    points = ()
    for step in range(1, 20_001):
        points = retention.thin((*points, (step, step * 0.5)), 40)
        assert len(points) <= 40
    steps = [p[0] for p in points]
    assert steps[0] == 1 and steps[-1] == 20_000 and steps == sorted(steps)
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert max(gaps) <= 3 * (20_000 / len(steps))  # no stretch of the run left without points
    assert len(points) >= 20
    short = tuple((s, 0) for s in range(10))
    assert retention.thin(short, 40) == short


def test_a_long_run_keeps_a_bounded_number_of_samples_and_gradient_norms(monkeypatch):
    monkeypatch.setattr(retention, "GRAD_NORMS_KEPT", 8)
    monkeypatch.setattr(retention, "SAMPLES_KEPT", 6)
    run = run_on(max_iters=40, eval_interval=1, sample_tokens=2)
    run.inside_every = 1e-9  # a look after every step
    snap = run.train()
    grads, samples = snap.extra["grad_norms"], snap.extra["samples"]
    assert 4 <= len(grads) <= 8 and grads[0][0] == 1 and grads[-1][0] == 40
    assert 3 <= len(samples) <= 6 and 40 in samples and 0 in samples
    assert len(snap.history) == 41  # the loss curve keeps every estimate
