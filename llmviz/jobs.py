"""Long work a page can watch: run a function in a background thread, record its progress, stop it.

A page keeps the job in its session state, starts it, and polls `snapshot()` from a fragment a few
times a second. The worker never touches Streamlit; it appends immutable records to the history
under a lock and checks `should_stop()` between steps, so Stop is honoured within one step.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmviz.errors import LearnerError

IDLE, RUNNING, STOPPED, FINISHED, FAILED = "idle", "running", "stopped", "finished", "failed"


class JobFailed(LearnerError):
    """A learner error raised while a job runs (e.g. a loss that became NaN)."""


@dataclass(frozen=True)
class Snapshot:
    state: str
    reason: str  # why it failed or stopped, in plain words ("" otherwise)
    step: int
    total: int
    elapsed: float  # seconds since start
    history: tuple  # the records appended so far (oldest first)
    extra: dict = field(default_factory=dict)  # the latest values set with job.set(...)

    @property
    def done(self) -> bool:
        return self.state in (STOPPED, FINISHED, FAILED)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace so far (None before the first step)."""
        if self.step <= 0 or self.total <= 0 or self.state != RUNNING:
            return None
        return self.elapsed / self.step * (self.total - self.step)


class Job:
    """Runs `work(job)` in a daemon thread. `work` reports with job.advance(), job.record(),
    job.set(), checks job.should_stop(), and may raise a LearnerError("plain-words reason")."""

    def __init__(self, work: Callable[["Job"], Any], total: int = 0, name: str = "job"):
        self._work = work
        self.name = name
        self.total = total
        self.state = IDLE
        self.reason = ""
        self.result: Any = None
        self._step = 0
        self._history: list = []
        self._extra: dict = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._t1: float | None = None

    # --- used by the page ---
    def start(self) -> "Job":
        if self.state == RUNNING:
            raise RuntimeError("this job is already running")
        self._stop.clear()
        self.state, self.reason = RUNNING, ""
        self._t0, self._t1 = time.perf_counter(), None
        self._thread = threading.Thread(target=self._run, name=f"llmviz-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the work to stop at its next step; what it built so far is kept."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> "Job":
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def snapshot(self) -> Snapshot:
        with self._lock:
            end = self._t1 if self._t1 is not None else time.perf_counter()
            return Snapshot(self.state, self.reason, self._step, self.total,
                            end - self._t0 if self._t0 else 0.0, tuple(self._history), dict(self._extra))

    # --- used by the work ---
    def should_stop(self) -> bool:
        return self._stop.is_set()

    def advance(self, step: int | None = None) -> None:
        with self._lock:
            self._step = self._step + 1 if step is None else step

    def record(self, item) -> None:
        """Append one immutable record (e.g. a namedtuple of step and losses) to the history."""
        with self._lock:
            self._history.append(item)

    def set(self, **values) -> None:
        """Publish latest values (a text sample, a current matrix) for the page to show."""
        with self._lock:
            self._extra.update(values)

    def _run(self) -> None:
        try:
            self.result = self._work(self)
            state, reason = (STOPPED, "stopped at your request") if self._stop.is_set() else (FINISHED, "")
        except LearnerError as e:  # the learner asked for something impossible: say so, no traceback
            state, reason = FAILED, str(e)
        except Exception as e:  # an unexpected bug: keep the app alive and say what happened
            traceback.print_exc()
            state, reason = FAILED, f"{type(e).__name__}: {e}"
        with self._lock:
            self._t1 = time.perf_counter()
            self.state, self.reason = state, reason
