"""Stop is honoured within about one forward pass wherever the worker is (a loss estimate, a training
step, a text sample), the time left is known from the start, and a job nobody watches stops itself."""

import threading
import time

import pytest
import torch

from llmviz import jobs
from llmviz.training.loss import estimate_loss
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.pace import describe, n_evaluations, predict
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n" * 200
# a deliberately slow model for a small CPU: about half a second per forward pass of 16 sequences
BIG = dict(block_size=256, n_embd=384, n_head=6, n_layer=6)


def big_run(**train):
    cfg = ModelConfig(vocab_size=len(set(TEXT)), **BIG)
    base = dict(max_iters=100, eval_interval=50, eval_iters=200, batch_size=16, sample_tokens=0, threads=1)
    return TrainingRun.new(cfg, TrainConfig(**{**base, **train}), TEXT)


def stop_and_time(run) -> float:
    t = time.perf_counter()
    run.stop()
    assert run.stopping or not run.running
    run.join(30)
    return time.perf_counter() - t


def wait_for(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_stop_inside_a_long_first_loss_estimate_takes_effect_at_once():
    # the first estimate alone is 2 x 200 forward passes (minutes on a small CPU)
    run = big_run()
    run.start()
    wait_for(lambda: run.snapshot().eta is not None, 30)  # the time left is known before the first step
    time.sleep(1.0)  # now inside the estimate's forward passes
    snap = run.snapshot()
    assert snap.state == "running" and snap.step == 0 and not snap.history
    assert snap.eta > 30
    assert stop_and_time(run) < 3.0
    snap = run.snapshot()
    assert snap.state == jobs.STOPPED and snap.reason == jobs.STOP_REQUESTED
    assert snap.step == 0 and snap.history == ()  # no half estimate recorded
    # started again, it owes the estimate and makes it first
    run.extend(1)
    run.train_cfg = run.train_cfg.__class__(**{**run.train_cfg.to_dict(), "eval_iters": 1})
    snap = run.train()
    assert snap.state == jobs.FINISHED and [r.step for r in snap.history] == [0, 1]


def test_stop_inside_a_training_step_leaves_the_step_undone():
    run = big_run(eval_iters=1)
    run.start()
    wait_for(lambda: run.history)  # the first estimate is done: now in step 1 (seconds long)
    time.sleep(0.3)
    before = [p.detach().clone() for p in run.model.parameters()]
    assert stop_and_time(run) < 3.0
    assert run.state == jobs.STOPPED and run.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))  # no half update
    assert all(p.grad is None for p in run.model.parameters())


def test_stop_inside_a_text_sample_keeps_the_estimate():
    run = big_run(eval_iters=1, sample_tokens=100_000)
    run.start()
    wait_for(lambda: run.history)  # recorded; now sampling 100,000 tokens
    time.sleep(0.3)
    assert stop_and_time(run) < 3.0
    assert run.state == jobs.STOPPED and len(run.history) == 1


def test_estimate_loss_asks_before_every_forward_pass():
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=10, block_size=64, n_embd=16, n_head=2))
    from llmviz.training.batches import TextBatches

    batches = TextBatches(torch.randint(10, (5000,)), 64, 0.5)
    passes, asked = [], []

    def should_stop():
        asked.append(len(passes))
        return len(passes) == 3

    with pytest.raises(jobs.Stopped):
        estimate_loss(model, batches, 64, 10, should_stop=should_stop,
                      on_pass=lambda done, total, s: passes.append((done, total)))
    assert passes == [(1, 20), (2, 20), (3, 20)] and asked == [0, 1, 2, 3]


def test_a_long_run_is_predicted_before_it_starts():
    cfg = ModelConfig(vocab_size=65, **BIG)
    long = predict(cfg, TrainConfig(batch_size=128, max_iters=5000, eval_iters=200))
    short = predict(ModelConfig(vocab_size=65), TrainConfig(batch_size=32, max_iters=500, eval_iters=20))
    assert long.long and long.seconds > 3600 and not short.long and short.seconds < 120
    assert describe(42) == "42 s" and describe(600) == "10 min" and describe(4800) == "1 h 20 min"
    assert [n_evaluations(s, 1000, 200) for s in (0, 199, 200, 999, 1000)] == [5, 5, 4, 1, 0]
    assert n_evaluations(0, 1050, 200) == 6  # and one at the end


@pytest.mark.slow
def test_a_job_nobody_watches_stops_itself_and_says_why():
    ticks = []

    def work(job):
        while not job.should_stop():
            ticks.append(1)
            time.sleep(0.01)

    watched = jobs.Job(work).start(stop_unwatched_after=0.5)
    unwatched = jobs.Job(work).start(stop_unwatched_after=0.5)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        watched.snapshot()  # a page polling
        time.sleep(0.1)
    unwatched.join(5)
    assert unwatched.state == jobs.STOPPED and "nobody watched it" in unwatched.snapshot().reason
    assert watched.running
    watched.stop()
    watched.join(5)
    assert watched.snapshot().reason == jobs.STOP_REQUESTED
    # the command line and the tests poll nothing and are never stopped that way
    plain = jobs.Job(work).start()
    time.sleep(0.8)
    assert plain.running
    plain.stop()
    plain.join(5)


def test_the_worker_reading_its_own_state_does_not_count_as_watching():
    run = TrainingRun.new(ModelConfig(vocab_size=len(set(TEXT)), block_size=16, n_embd=16, n_head=2),
                          TrainConfig(max_iters=10**6, eval_interval=5, eval_iters=1, batch_size=4,
                                      sample_tokens=5, threads=1), TEXT)
    run.start(stop_unwatched_after=0.7)
    run.join(10)
    assert run.state == jobs.STOPPED and "nobody watched" in run.snapshot().reason and run.step > 0


def test_a_prediction_is_said_as_the_range_it_holds_to_and_the_words_follow_the_numbers():
    from llmviz.training import pace

    low, high = pace.SPREAD
    assert low < 1 < high  # a band around the estimate, not beside it
    assert pace.say(40) == f"{round(40 * low)} to {round(40 * high)} s"  # "30 to 60 s"
    assert pace.say(300) == f"{round(300 * low / 60)} to {round(300 * high / 60)} min"
    assert pace.say(100) == f"{round(100 * low)} s to 2 min"  # units differ: each end says its own
    assert pace.say(0.5) == "1 s"  # both ends read the same: one figure
    assert pace.say(40, (0.5, 2.0)) == "20 to 80 s" != pace.say(40)
    # the estimate is calibrated: the same arithmetic scaled by what the benchmark measured
    cfg = ModelConfig(vocab_size=65)
    t = TrainConfig(batch_size=32, max_iters=500, eval_iters=20)
    raw = pace.predict(cfg, t, rate=1e10)
    assert raw.step_s == pytest.approx(3 * pace._CALIBRATION * pace._forward_s(cfg, 32 * cfg.block_size, 1e10))


def test_a_measured_prediction_times_real_steps_of_a_copy_and_leaves_the_run_untouched():
    from llmviz.training import pace

    run = TrainingRun.new(ModelConfig(vocab_size=len(set(TEXT)), block_size=16, n_embd=16, n_head=2),
                          TrainConfig(max_iters=300, eval_interval=100, eval_iters=2, batch_size=4, sample_tokens=0,
                                      threads=1), TEXT)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    threads = torch.get_num_threads()
    m = pace.measure(run)
    guess = run.predict()
    assert m.step_s > 0 and m.seconds == pytest.approx(guess.seconds * m.step_s / guess.step_s)
    assert m.eval_pass_s == pytest.approx(guess.eval_pass_s * m.step_s / guess.step_s)
    # the run has not moved: same weights, no step, no optimizer, the process's threads as they were
    assert all(torch.equal(v, before[k]) for k, v in run.model.state_dict().items())
    assert run.step == 0 and run.optimizer is None and torch.get_num_threads() == threads
    run.train()
    assert run.step == 300  # and it still trains from its start
