"""The training panel stays responsive with a slow model: a long run is predicted before it starts, Stop
returns at once and the run ends within a forward pass, Reset lets no second run start while the first
still computes, Continue follows the max_iters set now, and a session whose browser is gone has its
runs stopped within seconds."""

import pytest
import time

import torch

from llmviz.io import checkpoint
from llmviz.text import corpora
from llmviz.training.presets import preset_config
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun
from tests.conftest import open_page

torch.set_num_threads(1)
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 60
# the scaled LM5 of the report: seconds per forward pass on a small CPU
SLOW = dict(lm5_block=256, lm5_embd=384, lm5_heads=6, lm5_layers=6, lm5_batch=32, lm5_iters=100,
            lm5_eval_iters=200, lm5_sample=0)


def session(**extra):
    return {"corpus_source": corpora.UPLOAD, "corpus": corpora.Corpus("test text", TEXT), **extra}


def current_run(at, prefix="lm5"):
    return at.session_state["runs"][at.session_state[f"{prefix}_current"]]


def clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_a_slow_run_is_predicted_and_stopped_at_once():
    at = open_page("pages/lm5.py", session_state=session(**SLOW))
    clean(at)
    assert any("predicted to take" in w.value for w in at.warning)  # before anything starts
    assert any("Predicted time:" in c.value for c in at.caption)
    at.button(key="lm5_train").click().run()
    run = current_run(at)
    deadline = time.monotonic() + 30
    while run.snapshot().eta is None and time.monotonic() < deadline:  # the time left, before the first step
        time.sleep(0.05)
    time.sleep(1.0)  # inside the first loss estimate: 2 x 200 forward passes
    snap = run.snapshot()
    assert snap.state == "running"
    assert snap.step == 0 and snap.eta is not None  # the time left is shown before the first step
    t = time.perf_counter()
    at.button(key="lm5_stop").click().run()
    assert time.perf_counter() - t < 3.0  # the page is not frozen by a join on the worker
    if run.running:
        assert "stopping" in at.progress[0].proto.text and at.button(key="lm5_stop").disabled
    run.join(10)
    assert run.state == "stopped" and run.step == 0 and run.history == ()
    assert time.perf_counter() - t < 5.0
    at.run()
    clean(at)


def test_reset_lets_no_second_run_start_until_the_first_has_stopped():
    at = open_page("pages/lm5.py", session_state=session(**SLOW))
    at.button(key="lm5_train").click().run()
    first = current_run(at)
    time.sleep(1.0)
    at.button(key="lm5_reset").click().run()
    if first.running:  # still finishing its forward pass
        assert at.button(key="lm5_train").disabled
        assert any("Waiting for" in c.value for c in at.caption)
    first.join(10)
    assert first.state == "stopped"
    at.run()
    assert not at.button(key="lm5_train").disabled


def test_continue_on_a_loaded_checkpoint_trains_the_max_iters_set_now():
    data = checkpoint.run_to_bytes(TrainingRun.new(preset_config("lm2", 1), TrainConfig(
        max_iters=10, eval_interval=10, eval_iters=1, batch_size=8, sample_tokens=0), TEXT).start().join(60))
    small = dict(lm2_iters=5000, lm2_eval_interval=10, lm2_eval_iters=1, lm2_batch=8, lm2_sample=0)
    at = open_page("pages/lm2.py", session_state=session(**small))
    at.file_uploader(key="lm2_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    clean(at)
    at.slider(key="lm2_iters").set_value(30).run()  # changed after loading: 30 more steps, not 5000
    at.button(key="lm2_continue").click().run()
    loaded = current_run(at, "lm2")
    assert loaded.join(60).snapshot().step == 40 and loaded.state == "finished"


@pytest.mark.slow
def test_a_session_whose_browser_is_gone_has_its_run_stopped_within_seconds(monkeypatch):
    import pages.shared.ui

    monkeypatch.setattr(pages.shared.ui, "UNWATCHED_S", 2.0)
    long = dict(lm2_iters=5000, lm2_eval_interval=1000, lm2_eval_iters=1, lm2_batch=8, lm2_sample=0)
    gone = open_page("pages/lm2.py", session_state=session(**long))
    here = open_page("pages/lm2.py", session_state=session(**long))
    gone.button(key="lm2_train").click().run()
    here.button(key="lm2_train").click().run()
    lost, kept = current_run(gone, "lm2"), current_run(here, "lm2")
    # `gone` is never run again (no fragment polls, no rerun): its browser is gone; `here` keeps polling
    t = time.perf_counter()
    while time.perf_counter() - t < 6 and lost.running:
        here.run()
        time.sleep(0.5)
    assert lost.state == "stopped" and "nobody watched it" in lost.snapshot().reason
    assert time.perf_counter() - t < 5.0
    assert kept.running
    kept.stop()
    kept.join(10)
