"""The sequences of one request (its prompts x n choices) run by the batch engine, and their deltas
collected on the event loop as they arrive."""

from __future__ import annotations

import asyncio

from fastapi import Request

from llmviz.serving import protocol
from llmviz.serving.engine import BatchEngine, EngineBusy, SamplingParams

# seconds between looks at whether a request's client is still there: its work stops within about this much
# after the client leaves (a look is cheap: no look at all would leave an answer nobody reads being computed)
WATCH_EVERY = 0.05


class Choices:
    """The sequences of one request (prompts x n) and one asyncio queue their deltas arrive on. An engine
    with no room refuses them all with a 503 in OpenAI's shape."""

    def __init__(self, engine: BatchEngine, jobs: list[tuple[list[int], SamplingParams]]):
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.seqs = []
        self.left = len(jobs)
        try:
            for index, (ids, params) in enumerate(jobs):
                put = (lambda i: lambda d: loop.call_soon_threadsafe(self.queue.put_nowait, (i, d)))(index)
                self.seqs.append(engine.submit(ids, params, put))
        except EngineBusy as e:
            self.cancel()
            raise protocol.APIError(503, f"The server is overloaded: {e}", None, "overloaded", "server_error") from None
        except BaseException:
            self.cancel()
            raise

    async def deltas(self, request: Request):
        """(choice index, Delta) pairs until every sequence has finished; a vanished client cancels them. The
        client is looked for every WATCH_EVERY seconds whether deltas arrive or not: a non-streamed answer's
        deltas may come without a pause until its last token, for a client long gone."""
        loop = asyncio.get_running_loop()
        next_look = loop.time() + WATCH_EVERY
        while self.left:
            try:
                index, delta = await asyncio.wait_for(self.queue.get(), timeout=max(0.0, next_look - loop.time()))
            except asyncio.TimeoutError:
                index = None
            if loop.time() >= next_look:
                if await request.is_disconnected():
                    self.cancel()
                    return
                next_look = loop.time() + WATCH_EVERY
            if index is None:
                continue
            if delta.finish_reason:
                self.left -= 1
            yield index, delta

    async def finished(self, request: Request) -> dict | None:
        """Every choice's final Delta by index (a non-streamed answer); None when the client went away; a
        choice that failed raises a 500 in OpenAI's shape."""
        done = {}
        async for i, d in self.deltas(request):
            if d.finish_reason:
                done[i] = d
        if len(done) < len(self.seqs):
            return None
        failed = [d for d in done.values() if d.finish_reason == "error"]
        if failed:
            raise protocol.generation_failed(failed[0].error)
        return done

    @property
    def n_sampled(self) -> int:
        """Tokens sampled so far by all the choices (the usage count)."""
        return sum(s.n_sampled for s in self.seqs)

    def cancel(self) -> None:
        for s in self.seqs:
            s.cancel()
