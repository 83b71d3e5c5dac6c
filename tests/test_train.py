"""The trainer: batches, split, validation of settings, schedule, learning, stop, divergence, seeds."""

import math
import re
import time

import pytest
import torch

from llmviz import jobs
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.presets import preset_config
from llmviz.training.batches import TextBatches, get_batch, split_data
from llmviz.training.loss import estimate_loss
from llmviz.training.optim import learning_rate_at
from llmviz.training.config import TrainConfig, validate
from llmviz.training import loop
from llmviz.training.record import Record
from llmviz.training.train import TrainingError, TrainingRun

torch.set_num_threads(1)  # tiny models: one thread is far faster (see llmviz.device.threads_for)

# a small repetitive text a tiny model can learn quickly
TEXT = ("the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n" * 60)
TINY = ModelConfig(vocab_size=0, block_size=16, n_embd=32, n_head=2, n_layer=1)


def tiny_cfg(text=TEXT, **kw):
    return ModelConfig(**{**TINY.to_dict(), "vocab_size": len(set(text)), **kw})


def fast(**kw):
    base = dict(max_iters=40, eval_interval=20, eval_iters=4, batch_size=16, learning_rate=3e-3, sample_tokens=20)
    return TrainConfig(**{**base, **kw})


def test_batches_are_windows_and_targets_are_shifted_by_one():
    data = torch.arange(1000)
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(data, 8, 32, g)
    assert x.shape == y.shape == (32, 8)
    for row_x, row_y in zip(x, y):
        s = int(row_x[0])
        assert torch.equal(row_x, data[s:s + 8]) and torch.equal(row_y, data[s + 1:s + 9])
    # every window can be drawn, including the last one
    starts = set()
    for _ in range(200):
        starts |= set(get_batch(torch.arange(20), 8, 16, g)[0][:, 0].tolist())
    assert starts == set(range(12))


def test_split_is_by_position():
    data = torch.arange(100)
    train, val = split_data(data, 0.2)
    assert torch.equal(train, torch.arange(80)) and torch.equal(val, torch.arange(80, 100))


def test_validate_explains_bad_settings():
    assert validate(tiny_cfg(), fast(), 5000) == []
    msgs = " ".join(validate(tiny_cfg(n_embd=30, n_head=4), fast(learning_rate=0), 5000))
    assert "divisible by n_head" in msgs and "learning rate must be positive" in msgs
    msgs = " ".join(validate(tiny_cfg(block_size=64), fast(), 200))  # validation split: 40 tokens
    assert "validation split has 40" in msgs and "block_size" in msgs
    # how short, and what the minimum is: the smallest text whose both splits hold block_size + 1 tokens
    msgs = " ".join(validate(tiny_cfg(block_size=64), fast(), 100))
    assert re.search(r"too short: 100 tokens.*block_size \+ 1 = 65.*at least 325 tokens", msgs)
    assert validate(tiny_cfg(block_size=64), fast(), 325) == [] and validate(tiny_cfg(block_size=64), fast(), 324)
    assert any("val_fraction" in m for m in validate(tiny_cfg(), fast(val_fraction=1.0), 5000))
    with pytest.raises(TrainingError, match="learning rate"):
        TrainingRun.new(tiny_cfg(), fast(learning_rate=-1), TEXT)


def test_learning_rate_schedule():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay=True, max_iters=2000)
    assert learning_rate_at(0, cfg) == pytest.approx(1e-3 / 101)
    assert learning_rate_at(99, cfg) == pytest.approx(1e-3 * 100 / 101)
    assert learning_rate_at(100, cfg) == pytest.approx(1e-3)
    assert learning_rate_at(1050, cfg) == pytest.approx((1e-3 + 1e-4) / 2)  # half-way down the cosine
    assert learning_rate_at(2000, cfg) == pytest.approx(1e-4)
    assert learning_rate_at(1500, TrainConfig(learning_rate=3e-4)) == 3e-4  # the tutorial: constant


def test_estimate_loss_is_the_mean_over_batches():
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=10, block_size=8, n_embd=16, n_head=2))
    data = torch.randint(10, (500,))
    batches = TextBatches(torch.cat([data, data]), 8, val_fraction=0.5)  # its validation split is `data`
    est = estimate_loss(model, batches, batch_size=4, eval_iters=50, generator=torch.Generator().manual_seed(1))
    # oracle: the exact mean over every window of the split, which 200 random windows approximate
    with torch.no_grad():
        windows = torch.stack([data[i:i + 9] for i in range(len(data) - 8)])
        _, exact = model(windows[:, :-1], windows[:, 1:])
    assert est["val"] == pytest.approx(exact.item(), abs=0.05)


def test_training_lowers_the_loss_and_records_history():
    run = TrainingRun.new(tiny_cfg(), fast(max_iters=200, eval_interval=50), TEXT)
    snap = run.train()
    assert snap.state == jobs.FINISHED and snap.step == 200
    hist = snap.history
    assert [r.step for r in hist] == [0, 50, 100, 150, 200]
    assert all(isinstance(r, Record) for r in hist)
    assert hist[0].val_loss == pytest.approx(math.log(run.tokenizer.vocab_size), abs=0.8)
    assert hist[-1].train_loss < hist[0].train_loss - 1.0
    assert hist[-1].val_loss < hist[0].val_loss - 1.0
    assert all(r.tokens_per_s > 0 for r in hist[1:]) and hist[-1].elapsed > hist[1].elapsed
    assert set(snap.extra["samples"]) == {0, 50, 100, 150, 200}
    assert snap.extra["sample"] == snap.extra["samples"][200] and len(snap.extra["sample"]) == 21
    assert snap.extra["best_val_loss"] == min(r.val_loss for r in hist) == run.best_val_loss


def test_stop_is_honoured_within_one_step_and_the_model_is_kept():
    run = TrainingRun.new(tiny_cfg(), fast(max_iters=100_000, eval_interval=100_000), TEXT)
    before = [p.detach().clone() for p in run.model.parameters()]
    run.start()
    deadline = time.time() + 30
    while run.snapshot().step < 5 and time.time() < deadline:
        time.sleep(0.01)
    at_stop = run.snapshot().step
    run.stop()
    run.join(30)
    snap = run.snapshot()
    assert snap.state == jobs.STOPPED
    assert at_stop <= snap.step <= at_stop + 1
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    # it can go on from there: the page's play/pause
    assert run.extend(snap.step + 10).train().step == snap.step + 10


def test_huge_learning_rate_is_diagnosed():
    run = TrainingRun.new(tiny_cfg(), fast(learning_rate=1e4, max_iters=300, eval_interval=1000), TEXT)
    with pytest.raises(TrainingError) as err:
        run.train()
    msg = str(err.value)
    assert run.state == jobs.FAILED and run.snapshot().reason == msg
    assert "learning rate 1e4 is probably too high" in msg and "try ≤ 1e-2" in msg
    # the step named is the step the progress bar shows
    assert f"at step {run.snapshot().step:,}" in msg
    assert ("NaN" in msg) or ("exploded" in msg)


def test_on_a_gpu_the_step_losses_are_read_every_few_steps_with_the_same_result(monkeypatch):
    cfg = fast(max_iters=20, eval_interval=10)
    every_step = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT).train()
    reads, read = [], loop.Loop.read_losses
    monkeypatch.setattr(loop.Loop, "read_losses", lambda self: (reads.append(self.step), read(self))[1])
    monkeypatch.setattr(loop, "read_every", lambda device: 4)  # as on a GPU: no wait for the device every step
    deferred = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT).train()
    assert reads == [4, 8, 10, 12, 16, 20]  # and at each evaluation
    losses = lambda h: [(r.step, r.train_loss, r.val_loss) for r in h]  # noqa: E731
    assert losses(deferred.history) == losses(every_step.history)
    assert deferred.extra["batch_loss"] == every_step.extra["batch_loss"] and deferred.extra["lr"] == every_step.extra["lr"]
    # a divergence read late is named at its own step, the one the progress bar then shows
    diverging = dict(learning_rate=1e4, max_iters=300, eval_interval=1000)
    messages = []
    for every in (1, 50):
        monkeypatch.setattr(loop, "read_every", lambda device: every)  # noqa: B023
        run = TrainingRun.new(tiny_cfg(), fast(**diverging), TEXT)
        with pytest.raises(TrainingError) as err:
            run.train()
        assert f"at step {run.snapshot().step:,}" in str(err.value) and run.snapshot().step < 50
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_a_run_trains_the_same_without_its_observers(monkeypatch):
    # samples, the look inside, the time left: none of them may touch the random streams or the weights
    cfg = fast(max_iters=30, eval_interval=10)
    watched = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT)
    watched.inside_every = 1e-4
    snap = watched.train()
    assert "inside" in snap.extra and snap.extra["samples"][30]
    monkeypatch.setattr(TrainingRun, "_observers", lambda self: [])
    alone = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT).train()
    assert "inside" not in alone.extra and "samples" not in alone.extra
    assert [(r.train_loss, r.val_loss) for r in alone.history] == [(r.train_loss, r.val_loss) for r in snap.history]


def test_seeded_runs_are_reproducible():
    cfg = fast(max_iters=30, eval_interval=10)
    a = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT).train().history
    b = TrainingRun.new(tiny_cfg(dropout=0.1), cfg, TEXT).train().history
    c = TrainingRun.new(tiny_cfg(dropout=0.1), fast(max_iters=30, eval_interval=10, seed=7), TEXT).train().history
    losses = lambda h: [(r.step, r.train_loss, r.val_loss) for r in h]  # noqa: E731
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def test_snapshot_is_cheap_to_poll_while_training():
    run = TrainingRun.new(tiny_cfg(), fast(max_iters=300, eval_interval=50), TEXT).start()
    seen = []
    while run.running:
        snap = run.snapshot()
        seen.append(len(snap.history))
        samples = snap.extra.get("samples", {})
        list(samples.items())  # iterating while the worker goes on must be safe
        time.sleep(0.005)
    run.join()
    assert run.state == jobs.FINISHED and seen == sorted(seen)


def test_a_tokenizer_that_does_not_fit_is_refused():
    from llmviz.text.tokenizers import CharTokenizer

    tok = CharTokenizer().train("abc")
    with pytest.raises(TrainingError, match="tokenizer"):
        TrainingRun.new(tiny_cfg(), fast(), TEXT, tokenizer=tok)
    with pytest.raises(TrainingError, match="do not belong together"):
        TrainingRun(LanguageModel(tiny_cfg(vocab_size=5)), CharTokenizer().train(TEXT), None, fast())
    # a configuration's vocabulary follows the text's
    assert TrainingRun.new(tiny_cfg(vocab_size=65), fast(), TEXT).model.config.vocab_size == len(set(TEXT))


def test_from_preset_uses_the_tutorial_settings():
    run = TrainingRun.from_preset("lm3", TEXT, max_iters=7)
    assert run.model_cfg.ffwd == "relu" and run.model_cfg.vocab_size == len(set(TEXT))
    assert run.train_cfg.learning_rate == 3e-4 and run.train_cfg.batch_size == 64 and run.train_cfg.max_iters == 7
    with pytest.raises(KeyError, match="unknown preset"):
        TrainingRun.from_preset("lm9", TEXT)


def test_presets_train_on_real_text(tiny_shakespeare):
    run = TrainingRun.new(preset_config("lm5", 65), TrainConfig(max_iters=60, eval_interval=60, eval_iters=5),
                      tiny_shakespeare[:200_000])
    snap = run.train()
    assert run.model.config.vocab_size == run.tokenizer.vocab_size == len(set(tiny_shakespeare[:200_000]))
    assert snap.history[-1].val_loss < snap.history[0].val_loss


def test_thread_count_follows_model_size_and_machine_load():
    from llmviz.device import threads_for

    assert threads_for(30_017, cores=2, load=0) == 1  # the tutorial's LM5: a second thread gains little
    assert threads_for(816_705, cores=2, load=0.2) == 2  # nanoGPT's CPU recipe on an idle machine
    assert threads_for(240_000, cores=2, load=0.1) == 2  # fast-cpu: 1.47x faster with two, idle
    assert threads_for(816_705, cores=2, load=1.8) == 1  # ... but not while other work keeps a core busy
    assert threads_for(10_788_929, cores=2, load=6.0) == 1
    assert threads_for(816_705, cores=16, load=0.0) == 3  # about a thread per 250 k parameters
    assert threads_for(10_788_929, cores=16, load=4.0) == 12  # the idle cores at most
    run = TrainingRun.new(tiny_cfg(), fast(threads=None), TEXT)
    assert run.threads == 1
    assert TrainingRun.new(tiny_cfg(), fast(threads=2), TEXT).threads == 2  # overridable


def test_busy_cores_sees_work_running_now():
    """The cores other work keeps busy are measured now, not read from the lagging load average: a thread
    spinning in this process shows as about one busy core."""
    import sys
    import threading

    from llmviz import device

    if not sys.platform.startswith("linux"):
        pytest.skip("measured from /proc/stat on Linux only")
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            pass

    spinner = threading.Thread(target=spin, daemon=True)
    device._busy.clear()
    spinner.start()
    try:
        busy = device.busy_cores(window=0.3, max_age=0)
    finally:
        stop.set()
        spinner.join()
    assert 0.6 <= busy <= device.cpu_count() + 0.01
