"""Long work a page can watch: run a function in a background thread, record its progress, stop it.

A page keeps the job in its session state, starts it, and polls `snapshot()` from a fragment a few
times a second. The worker never touches Streamlit; it appends immutable records to the history
under a lock and checks `should_stop()` often (between steps, and inside long steps: between the
forward passes of a loss estimate, between sampled tokens); work that is asked to stop in the middle
of something raises `Stopped`, and the job ends as stopped with what it finished kept.

A page whose learner may simply close the tab starts its job with `start(stop_unwatched_after=s)`:
every `snapshot()` counts as someone watching, and a job nobody has polled for `s` seconds stops
itself (a closed tab polls no more). The command line and the tests start without it and are never
stopped that way. A `Watcher` thread touches the jobs of the sessions whose browser is still connected
(a tab in the background polls slowly, or not at all), so only a closed tab's jobs stop.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmviz.errors import LearnerError

IDLE, RUNNING, STOPPED, FINISHED, FAILED = "idle", "running", "stopped", "finished", "failed"


class JobFailed(LearnerError):
    """A learner error raised while a job runs (e.g. a loss that became NaN)."""


class Stopped(Exception):
    """Raised by work asked to stop in the middle of something (a loss estimate, a sample, a forward
    pass): the job ends as stopped, and nothing half-done is recorded."""


STOP_REQUESTED = "stopped at your request"


@dataclass(frozen=True)
class Snapshot:
    state: str
    reason: str  # why it failed or stopped, in plain words ("" otherwise)
    step: int
    total: int
    elapsed: float  # seconds since start
    history: tuple  # the records appended so far (oldest first)
    extra: dict = field(default_factory=dict)  # the latest values set with job.set(...)
    stopping: bool = False  # a stop was asked and the work has not ended yet
    eta_hint: float | None = None  # seconds left as the work itself estimates them (job.set_eta), if it does

    @property
    def done(self) -> bool:
        return self.state in (STOPPED, FINISHED, FAILED)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left: the work's own estimate if it gives one (measured from its first pass), else the
        pace of the steps so far (None before the first step, and once the job is not running)."""
        if self.state != RUNNING:
            return None
        if self.eta_hint is not None:
            return self.eta_hint
        if self.step <= 0 or self.total <= 0:
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
        self._stop_reason = STOP_REQUESTED
        self._eta: tuple[float, float] | None = None  # (seconds left, when it was said)
        self._seen = time.monotonic()  # the last time someone polled a snapshot
        self._unwatched_after: float | None = None

    # --- used by the page ---
    def start(self, *, stop_unwatched_after: float | None = None) -> "Job":
        """Run the work in a background thread. With stop_unwatched_after=s, the job stops itself once
        nobody has called snapshot() (or touch()) for s seconds: for pages, whose learner may close the
        tab; leave it out where nothing polls (the command line, tests)."""
        if self.state == RUNNING:
            raise RuntimeError("this job is already running")
        self._stop.clear()
        self._stop_reason = STOP_REQUESTED
        self._eta = None
        self._unwatched_after = stop_unwatched_after
        self._seen = time.monotonic()
        self.state, self.reason = RUNNING, ""
        self._t0, self._t1 = time.perf_counter(), None
        self._thread = threading.Thread(target=self._run, name=f"llmviz-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, reason: str = STOP_REQUESTED) -> None:
        """Ask the work to stop at its next check (within one forward pass for the trainer); what it
        built so far is kept. Returns at once: the work ends in its own thread (see `stopping`)."""
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()

    def touch(self) -> None:
        """Someone is watching (snapshot() does this too): keeps a job started with
        stop_unwatched_after alive."""
        self._seen = time.monotonic()

    @property
    def stopping(self) -> bool:
        """A stop was asked and the work is still finishing the pass in progress."""
        return self.state == RUNNING and self._stop.is_set()

    def join(self, timeout: float | None = None) -> "Job":
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    def snapshot(self) -> Snapshot:
        """The job's state now; calling it counts as watching the job (see start's stop_unwatched_after)."""
        self.touch()
        return self.peek()

    def peek(self) -> Snapshot:
        """The same as snapshot() without counting as watching (for the work itself)."""
        with self._lock:
            now = time.perf_counter()
            end = self._t1 if self._t1 is not None else now
            eta = None
            if self._eta is not None and self.state == RUNNING:
                eta = max(0.0, self._eta[0] - (now - self._eta[1]))
            return Snapshot(self.state, self.reason, self._step, self.total,
                            end - self._t0 if self._t0 else 0.0, tuple(self._history), dict(self._extra),
                            self.stopping, eta)

    # --- used by the work ---
    def should_stop(self) -> bool:
        """True once a stop was asked, or once nobody has watched a job started with
        stop_unwatched_after for that long (then it stops itself and says why)."""
        if self._stop.is_set():
            return True
        limit = self._unwatched_after
        if limit is not None and time.monotonic() - self._seen > limit:
            reason = f"stopped because nobody watched it for {limit:g} s (the page was closed)"
            self.stop(reason)
            print(f"llmviz: job {self.name!r} {reason}", file=sys.stderr, flush=True)  # the server's log
            return True
        return False

    def check_stop(self) -> None:
        """Raise Stopped if the work should stop now (for checks in the middle of a step)."""
        if self.should_stop():
            raise Stopped()

    def set_eta(self, seconds_left: float) -> None:
        """Publish the work's own estimate of the time left (snapshot().eta counts it down)."""
        with self._lock:
            self._eta = (float(seconds_left), time.perf_counter())

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
            state, reason = (STOPPED, self._stop_reason) if self._stop.is_set() else (FINISHED, "")
        except Stopped:  # asked to stop in the middle of a step: nothing half-done was recorded
            state, reason = STOPPED, self._stop_reason
        except LearnerError as e:  # the learner asked for something impossible: say so, no traceback
            state, reason = FAILED, str(e)
        except Exception as e:  # an unexpected bug: keep the app alive and say what happened
            traceback.print_exc()
            state, reason = FAILED, f"{type(e).__name__}: {e}"
        except BaseException as e:  # KeyboardInterrupt, SystemExit raised in the work: the job still ends
            state, reason = FAILED, f"interrupted ({type(e).__name__}) before it finished"
        with self._lock:
            self._t1 = time.perf_counter()
            self.state, self.reason = state, reason


def live_jobs(refs) -> list:
    """The running jobs among weak references (each dereferenced once: a job can be collected in between)."""
    return [j for j in (r() for r in refs) if j is not None and j.running]


class Watcher:
    """A thread that, every `every` seconds, touches the running jobs of each session that `connected(session
    id)` says is still connected, and forgets sessions with no running job. A session whose browser is gone
    is not touched, so its jobs (started with stop_unwatched_after) stop by themselves. It holds only weak
    references: a job its session dropped is not kept alive. A look that fails is said, and the thread goes on."""

    def __init__(self, connected: Callable[[str], bool | None], every: float = 1.0):
        self.connected, self.every = connected, every
        self.sessions: dict[str, list] = {}  # session id -> weak references to its jobs
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, session_id: str, job: "Job") -> None:
        """Watch `job` for this session (and start the thread unless it is alive)."""
        with self._lock:
            self.sessions.setdefault(session_id, []).append(weakref.ref(job))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._watch, name="llmviz-tab-watcher", daemon=True)
                self._thread.start()

    def look_once(self) -> None:
        """One look: touch the running jobs of every connected session; forget sessions with none left."""
        with self._lock:
            items = list(self.sessions.items())
        for sid, refs in items:
            live = live_jobs(refs)
            if live and self.connected(sid):
                for job in live:
                    job.touch()
            if not live:
                with self._lock:  # gone unless a job was started in the meantime
                    if self.sessions.get(sid) is refs and not live_jobs(refs):
                        del self.sessions[sid]

    def _watch(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.look_once()
            except Exception:  # the watcher must outlive any one look: background tabs' jobs depend on it
                traceback.print_exc(file=sys.stderr)
