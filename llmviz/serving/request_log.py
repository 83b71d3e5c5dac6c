"""The server's live request log: the last requests it answered, for a page to show."""

from __future__ import annotations

import collections
import threading
import time
from typing import NamedTuple


class LogEntry(NamedTuple):
    time: float  # when it ended (seconds since the epoch)
    endpoint: str
    status: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    stream: bool
    detail: str  # finish reasons, or the error message


class RequestLog:
    """The last `size` requests, for a page to show (thread-safe)."""

    def __init__(self, size: int = 200):
        self._entries: collections.deque[LogEntry] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self.total = 0

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)
            self.total += 1

    def record(self, endpoint: str, status: int, t0: float, prompt: int = 0, completion: int = 0,
               stream: bool = False, detail: str = "") -> None:
        """Log a request that arrived at time.perf_counter() `t0` and ends now."""
        self.add(LogEntry(time.time(), endpoint, status, prompt, completion, time.perf_counter() - t0, stream, detail))

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)
