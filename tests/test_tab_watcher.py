"""The thread that keeps a connected background tab's jobs alive (llmviz.jobs.Watcher): it survives a job
collected while it looks, a watcher that died is started again by the next job, and a job of a tab that
closed stops by itself, a page's model server included: within a bounded time, its shutdown in the job's
thread, never in the caller's."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from llmviz import jobs
from llmviz.serving import server as server_module


class Job:
    running = True
    touched = 0

    def touch(self):
        self.touched += 1


class Vanishing:
    """A weak reference whose job is collected between two dereferences."""

    def __init__(self, job):
        self.calls, self.job = 0, job

    def __call__(self):
        self.calls += 1
        return self.job if self.calls == 1 else None


def test_a_job_collected_while_the_watcher_looks_does_not_kill_it():
    job = Job()
    job.running = False  # ended: its session is forgotten, which dereferences again
    watcher = jobs.Watcher(lambda sid: True)
    watcher.sessions["s"] = [Vanishing(job)]
    watcher.look_once()
    assert watcher.sessions == {}


def test_connected_sessions_jobs_are_touched_and_others_not():
    here, gone = Job(), Job()
    watcher = jobs.Watcher(lambda sid: sid == "here")
    watcher.sessions.update(here=[lambda: here], gone=[lambda: gone])
    watcher.look_once()
    assert here.touched == 1 and gone.touched == 0 and set(watcher.sessions) == {"here", "gone"}


def test_a_dead_watcher_thread_is_started_again():
    watcher = jobs.Watcher(lambda sid: True, every=0.01)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    watcher._thread = dead
    job = jobs.Job(lambda j: time.sleep(0.05))
    job.start()
    watcher.add("s", job)
    assert watcher._thread is not dead and watcher._thread.is_alive()


def test_a_look_that_fails_does_not_end_the_watcher(capsys):
    calls = []

    def connected(sid):
        calls.append(sid)
        if len(calls) == 1:
            raise RuntimeError("a bug in one look")
        return True

    watcher = jobs.Watcher(connected, every=0.01)
    job = jobs.Job(lambda j: [time.sleep(0.01) for _ in range(100) if not j.should_stop()])
    job.start()
    watcher.add("s", job)
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    job.stop()
    assert len(calls) >= 3 and watcher._thread.is_alive() and "a bug in one look" in capsys.readouterr().err


def held_while(connected: dict, job: jobs.Job, unwatched: float) -> jobs.Watcher:
    watcher = jobs.Watcher(lambda sid: connected["now"], every=0.05)
    job.start(stop_unwatched_after=unwatched)
    watcher.add("tab", job)
    return watcher


class SlowServer:
    """A server whose shutdown takes long (uvicorn's graceful shutdown, a slow client)."""
    running, error, base_url, model_name = True, "", "http://127.0.0.1:1/v1", "m"

    def stop(self, timeout: float = 10):
        time.sleep(1.0)
        self.running = False


def test_a_held_server_stops_in_its_own_thread_and_stop_returns_at_once():
    srv = SlowServer()
    job = server_module.held(srv, every=0.01)
    job.start()
    time.sleep(0.1)
    t = time.perf_counter()
    job.stop()
    assert time.perf_counter() - t < 0.05  # the page's thread does not wait for the shutdown
    assert job.running and srv.running
    job.join(5)
    assert job.state == jobs.STOPPED and not srv.running


def test_a_server_that_stops_by_itself_fails_its_job_in_words():
    srv = SlowServer()
    srv.running, srv.error = False, "port gone"
    srv.stop = lambda timeout=10: None
    job = server_module.held(srv, every=0.01).start()
    job.join(5)
    assert job.state == jobs.FAILED and job.reason == "the server stopped by itself: port gone"


@pytest.mark.slow
def test_a_real_server_held_for_a_tab_stops_within_seconds_of_the_tab_closing():
    import httpx
    import torch

    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.text.tokenizers import CharTokenizer

    tok = CharTokenizer().train("ROMEO: hello")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=8, n_embd=8, n_head=2, n_layer=1))
    srv = server_module.Server(model, tok, "tiny").start()
    connected = {"now": True}
    job = server_module.held(srv, every=0.05)
    held_while(connected, job, unwatched=0.5)
    time.sleep(1.5)  # three times the unwatched limit: the connected tab keeps it
    assert job.running and httpx.get(srv.base_url + "/models").status_code == 200
    connected["now"] = False  # the tab is closed
    t = time.perf_counter()
    job.join(10)
    took = time.perf_counter() - t
    assert job.state == jobs.STOPPED and "nobody watched it" in job.reason
    assert took < 0.5 + 3.0  # the unwatched limit, then uvicorn's graceful shutdown (2 s at most)
    assert not srv.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
