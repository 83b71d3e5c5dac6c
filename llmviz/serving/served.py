"""The one model an app serves, as every route sees it: the model, its tokenizer and name, its batch
engine, its request log, its limits, and the API key a request must carry; and the work a request may
ask of it: refused up front when it could never be done in bounded time, stopped when its client leaves."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from llmviz.serving import protocol
from llmviz.serving.choices import WATCH_EVERY
from llmviz.serving.engine import BatchEngine, Cancelled
from llmviz.serving.scoring import prompt_logprobs
from llmviz.serving.request_log import RequestLog

MAX_SCORED = 16_384  # prompt tokens that echo with logprobs may score in one request (each costs a window)


class ClientGone(Exception):
    """The client disconnected while its request was being prepared: its work was stopped."""


@dataclass
class ServedModel:
    model: Any
    tokenizer: Any
    name: str
    engine: BatchEngine
    log: RequestLog
    limits: protocol.Limits
    api_key: str | None = None  # None: no key needed
    created: int = field(default_factory=lambda: int(time.time()))

    def authorise(self, header: str) -> None:
        """Refuse a request whose Authorization header is not `Bearer <api_key>` (when a key is set)."""
        if self.api_key is None:
            return
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise protocol.APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                                    None, "missing_api_key")
        if not hmac.compare_digest(given.strip().encode(), self.api_key.encode()):  # constant time: no timing leak
            raise protocol.APIError(401, "Incorrect API key provided.", None, "invalid_api_key")

    def check_model(self, name: str) -> None:
        if not _is_text(name):
            raise protocol.APIError(400, "model must be text (it holds a lone surrogate, which is not a character).",
                                    "model", "invalid_value")
        if name != self.name:
            raise protocol.APIError(404, f"The model '{name}' does not exist. This server serves '{self.name}'.",
                                    "model", "model_not_found")

    def card(self) -> dict:
        return {"id": self.name, "object": "model", "created": self.created, "owned_by": "llmviz"}

    def admit(self, n_choices: int, scored_tokens: int = 0) -> None:
        """Refuse up front (400: retrying cannot help) a request that could never be done: more choices
        than the engine can ever hold, or more prompt tokens to score than MAX_SCORED."""
        room = self.engine.max_waiting
        if n_choices > room:
            raise protocol.APIError(400, f"this request asks for {n_choices} choices (prompts x n); this server "
                                         f"holds at most {room} at once. Send fewer prompts, or a smaller n.",
                                    "prompt", "too_many_choices")
        if scored_tokens > MAX_SCORED:
            raise protocol.APIError(400, f"echo with logprobs scores every prompt token: this request has "
                                         f"{scored_tokens:,}, at most {MAX_SCORED:,} are scored in one request.",
                                    "prompt", "prompt_too_long")

    async def score_prompt(self, ids: list[int], k: int, disconnected: Callable[[], Awaitable[bool]] | None = None):
        """scoring.prompt_logprobs off the event loop, stopped (ClientGone) as soon as the client leaves."""
        stop = threading.Event()
        task = asyncio.ensure_future(run_in_threadpool(prompt_logprobs, self.model, ids, k, self.tokenizer, stop.is_set))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a stopped thread's Cancelled is expected
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=WATCH_EVERY)
                if done:
                    return task.result()
                if disconnected is not None and await disconnected():
                    raise ClientGone()
        except Cancelled:
            raise ClientGone() from None
        finally:
            stop.set()  # the thread stops at its next batch of windows (the handler may have been cancelled)


def _is_text(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
