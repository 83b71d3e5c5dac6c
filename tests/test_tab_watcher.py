"""The thread that keeps a connected background tab's jobs alive: it survives a job collected while it
looks, and a watcher that died is started again by the next job."""

from __future__ import annotations

import threading

import pages.shared.ui as ui


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


def test_a_job_collected_while_the_watcher_looks_does_not_kill_it(monkeypatch):
    job = Job()
    job.running = False  # ended: its session is forgotten, which dereferences again
    monkeypatch.setattr(ui, "_by_session", {"s": [Vanishing(job)]})
    monkeypatch.setattr(ui, "_connected", lambda sid: True)
    ui._watch_once()
    assert ui._by_session == {}


def test_connected_sessions_jobs_are_touched(monkeypatch):
    job = Job()
    monkeypatch.setattr(ui, "_by_session", {"s": [lambda: job]})
    monkeypatch.setattr(ui, "_connected", lambda sid: True)
    ui._watch_once()
    assert job.touched == 1 and "s" in ui._by_session


def test_a_dead_watcher_thread_is_started_again(monkeypatch):
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    started = []
    monkeypatch.setattr(ui, "_watcher", {"thread": dead})
    monkeypatch.setattr(ui, "_watch_connected_sessions", lambda: started.append(1))
    ui._ensure_watcher()
    ui._watcher["thread"].join(5)
    assert ui._watcher["thread"] is not dead and started == [1]
