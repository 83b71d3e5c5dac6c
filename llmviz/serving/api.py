"""An OpenAI-compatible HTTP API over one trained model (tutorial part 4, serving).

Any OpenAI client (the `openai` package, LangChain's ChatOpenAI, curl) can talk to the model:

    GET  /v1/models              the one model served
    POST /v1/completions         continue a prompt (a string or a list of them)
    POST /v1/chat/completions    answer a conversation (llmviz.tasks.chat.format_chat turns it into a prompt)

with OpenAI's request fields (max_tokens, temperature, top_p, n, stop, seed, echo, logprobs, stream;
`top_k` too, as llmviz's own extension) and OpenAI's response shapes: integer `created`, `usage` in the
model's tokens, `finish_reason` "stop" or "length", server-sent events ending with `data: [DONE]`.
Fields it does not implement (penalties, logit_bias, tools, ...) are accepted and ignored.

Errors have OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with the HTTP status an
OpenAI client expects; the server never sends a traceback. The request fields, their checks and the
pieces of the responses are in llmviz.serving.protocol; requests are decoded together by
llmviz.serving.engine.BatchEngine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import threading
import time
import uuid
from dataclasses import replace
from typing import NamedTuple

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmviz.tasks import chat
from llmviz.errors import LearnerError
from llmviz.serving import protocol
from llmviz.serving.engine import BatchEngine, EngineBusy, SamplingParams, prompt_logprobs

# --- the live request log --------------------------------------------------------------------------

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

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)


# --- running a request's sequences and collecting their deltas -----------------------------------------

class Choices:
    """The sequences of one request (prompts x n) and one asyncio queue their deltas arrive on."""

    def __init__(self, engine: BatchEngine, jobs: list[tuple[list[int], SamplingParams]]):
        loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.seqs = []
        self.left = len(jobs)
        try:
            for index, (ids, params) in enumerate(jobs):
                put = (lambda i: lambda d: loop.call_soon_threadsafe(self.queue.put_nowait, (i, d)))(index)
                self.seqs.append(engine.submit(ids, params, put))
        except BaseException:
            self.cancel()
            raise

    async def deltas(self, request: Request):
        """(choice index, Delta) pairs until every sequence has finished; a vanished client cancels them."""
        while self.left:
            try:
                index, delta = await asyncio.wait_for(self.queue.get(), timeout=1.0)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    self.cancel()
                    return
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
            raise protocol.APIError(500, failed[0].error or "generation failed", type="server_error")
        return done

    def cancel(self) -> None:
        for s in self.seqs:
            s.cancel()


# --- the app ---------------------------------------------------------------------------------------

def create_app(model, tokenizer, model_name: str = "llmviz", *, api_key: str | None = None,
               max_tokens: int = 2048, max_batch: int = 64, engine: BatchEngine | None = None,
               log: RequestLog | None = None) -> FastAPI:
    """The FastAPI app serving `model` under the name `model_name`. Its batch engine starts and stops
    with the app (uvicorn's lifespan). With api_key set, every /v1 request must carry
    `Authorization: Bearer <api_key>`."""
    engine = engine or BatchEngine(model, tokenizer, max_batch=max_batch)
    log = log if log is not None else RequestLog()
    limits = protocol.Limits(max_tokens)
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    app = FastAPI(title="llmviz model server", version="1", lifespan=lifespan,
                  description=f"An OpenAI-compatible API over the llmviz model '{model_name}'.")
    app.state.engine, app.state.log, app.state.model_name = engine, log, model_name

    def record(endpoint, status, t0, prompt=0, completion=0, stream=False, detail=""):
        log.add(LogEntry(time.time(), endpoint, status, prompt, completion, time.perf_counter() - t0, stream, detail))

    # errors, all in OpenAI's shape
    @app.exception_handler(protocol.APIError)
    async def on_api_error(request: Request, e: protocol.APIError):
        record(request.url.path, e.status, request.scope.get("t0", time.perf_counter()), detail=e.message)
        return protocol.error_response(e)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError):
        errors = e.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        param = loc[0] if loc else None
        if first.get("type") == "json_invalid" or (not loc and first.get("type") in ("model_attributes_type", "dict_type")):
            err = protocol.APIError(400, "We could not parse the JSON body of your request: send a JSON object "
                             "(Content-Type: application/json).", None, "invalid_json")
        elif first.get("type") == "missing":
            err = protocol.APIError(400, f"Missing required parameter: '{'.'.join(loc)}'.", param, "missing_required_parameter")
        else:
            err = protocol.APIError(400, f"Invalid value for '{'.'.join(loc)}': {first.get('msg', 'invalid')}.", param,
                             "invalid_value")
        return await on_api_error(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException):
        message = {404: f"Unknown request URL: {request.method} {request.url.path}.",
                   405: f"Method {request.method} is not allowed on {request.url.path}."}.get(e.status_code, str(e.detail))
        return protocol.error_response(protocol.APIError(e.status_code, message, None, "unknown_url" if e.status_code == 404 else None))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, e: Exception):
        record(request.url.path, 500, time.perf_counter(), detail=f"{type(e).__name__}")
        return protocol.error_response(protocol.APIError(500, "The server had an error while processing your request.", None, None,
                                           "server_error"))

    app.add_middleware(_BodyLimit)

    def authorised(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise protocol.APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                             None, "missing_api_key")
        if not hmac.compare_digest(given.strip().encode(), api_key.encode()):  # constant time: no timing leak
            raise protocol.APIError(401, "Incorrect API key provided.", None, "invalid_api_key")

    def check_model(name: str) -> None:
        if name != model_name:
            raise protocol.APIError(404, f"The model '{name}' does not exist. This server serves '{model_name}'.", "model",
                             "model_not_found")

    def submit(jobs) -> Choices:
        try:
            return Choices(engine, jobs)
        except EngineBusy as e:
            raise protocol.APIError(503, f"The server is overloaded: {e}", None, "overloaded", "server_error") from None

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    async def list_models():
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{name}", dependencies=[Depends(authorised)])
    async def get_model(name: str):
        check_model(name)
        return model_card()

    def model_card() -> dict:
        return {"id": model_name, "object": "model", "created": created, "owned_by": "llmviz"}

    @app.post("/v1/completions", dependencies=[Depends(authorised)])
    async def completions(req: protocol.CompletionRequest, request: Request):
        t0 = request.scope["t0"]
        check_model(req.model)
        protocol.in_range(req.logprobs, 0, protocol.MAX_LOGPROBS, "logprobs")
        params = protocol.sampling(req, req.max_tokens, 16, limits, req.logprobs, bool(req.echo))
        if chat.END in tokenizer.special_tokens:
            params = replace(params, stop_token_ids=(tokenizer.special_id(chat.END),))
        prompts = protocol.prompts(req.prompt, tokenizer)
        jobs = [(ids or protocol.start_ids(tokenizer), params) for _, ids in prompts for _ in range(req.n or 1)]
        jobs = [(ids, protocol.seeded(p, i)) for i, (ids, p) in enumerate(jobs)]
        n_prompt = sum(len(ids) for _, ids in prompts)
        rid, now = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        echo_lp = {}
        if req.echo and req.logprobs is not None:
            for k, (_, ids) in enumerate(prompts):
                echo_lp[k] = await run_in_threadpool(prompt_logprobs, model, ids, req.logprobs, tokenizer)
        choices = submit(jobs)
        per_prompt = req.n or 1

        def prefix(i):  # what echo puts before choice i's text
            return prompts[i // per_prompt][0] if req.echo else ""

        def head(i):
            return {"id": rid, "object": "text_completion", "created": now, "model": model_name}

        if req.stream:
            async def events():
                completion, finishes, status = 0, [], 200
                try:
                    started = set()
                    async for i, d in choices.deltas(request):
                        if d.finish_reason == "error":
                            status = 500
                            yield protocol.sse(protocol.APIError(500, d.error or "generation failed", type="server_error").body())
                            break
                        text = d.text
                        lp = protocol.logprobs_block(d.tokens, len(prefix(i))) if req.logprobs is not None else None
                        if i not in started:
                            started.add(i)
                            text = prefix(i) + text
                            if lp is not None and req.echo:
                                lp = protocol.join(protocol.prompt_block(echo_lp[i // per_prompt], prompts[i // per_prompt][1],
                                                         tokenizer), lp)
                        if d.finish_reason:
                            completion += choices.seqs[i].n_sampled
                            finishes.append(d.finish_reason)
                        yield protocol.sse({**head(i), "choices": [{"text": text, "index": i, "logprobs": lp,
                                                            "finish_reason": d.finish_reason}]})
                    else:
                        if req.stream_options and req.stream_options.include_usage:
                            yield protocol.sse({**head(0), "choices": [], "usage": protocol.usage(n_prompt, completion)})
                        yield "data: [DONE]\n\n"
                finally:
                    choices.cancel()
                    gone = len(finishes) < len(choices.seqs) and status == 200  # the client left early
                    record("/v1/completions", status, t0, n_prompt, sum(s.n_sampled for s in choices.seqs), True,
                           ",".join(finishes) + (" (client disconnected)" if gone else ""))

            return StreamingResponse(events(), media_type="text/event-stream")

        out = await choices.finished(request)
        if out is None:
            return JSONResponse({}, status_code=499)  # the client went away; nobody reads this
        result = []
        for i in range(len(jobs)):
            seq = choices.seqs[i]
            text = seq.text
            lp = None
            if req.logprobs is not None:
                toks = seq.tokens[:seq.tokens_sent]
                lp = protocol.logprobs_block(toks, len(prefix(i)))
                if req.echo:
                    lp = protocol.join(protocol.prompt_block(echo_lp[i // per_prompt], prompts[i // per_prompt][1], tokenizer), lp)
            result.append({"text": prefix(i) + text, "index": i, "logprobs": lp, "finish_reason": seq.finish_reason})
        completion = sum(s.n_sampled for s in choices.seqs)
        record("/v1/completions", 200, t0, n_prompt, completion, False, ",".join(c["finish_reason"] for c in result))
        return JSONResponse({**head(0), "choices": result, "usage": protocol.usage(n_prompt, completion)})

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    async def chat_completions(req: protocol.ChatRequest, request: Request):
        t0 = request.scope["t0"]
        check_model(req.model)
        if not req.messages:
            raise protocol.APIError(400, "messages must hold at least one message.", "messages")
        protocol.in_range(req.top_logprobs, 0, protocol.MAX_TOP_LOGPROBS, "top_logprobs")
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        k = (req.top_logprobs or 0) if req.logprobs else None
        params = protocol.sampling(req, max_tokens, min(protocol.CHAT_DEFAULT_TOKENS, limits.max_tokens), limits, k)
        try:
            fmt = chat.format_chat([{"role": m.role, "content": protocol.text_content(m.content)} for m in req.messages],
                                   tokenizer)
        except LearnerError as e:
            raise protocol.APIError(400, str(e), "messages") from None
        ids = list(fmt.ids) if fmt.ids is not None else protocol.encode(tokenizer, fmt.prompt, "messages")
        params = replace(params, stop=params.stop + fmt.stop, stop_token_ids=fmt.stop_token_ids)
        n = req.n or 1
        choices = submit([(ids, protocol.seeded(params, i)) for i in range(n)])
        rid, now = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": rid, "object": "chat.completion.chunk" if req.stream else "chat.completion", "created": now,
                "model": model_name}

        if req.stream:
            async def events():
                completion, finishes, status = 0, [], 200
                try:
                    for i in range(n):
                        yield protocol.sse({**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                         "logprobs": None, "finish_reason": None}]})
                    async for i, d in choices.deltas(request):
                        if d.finish_reason == "error":
                            status = 500
                            yield protocol.sse(protocol.APIError(500, d.error or "generation failed", type="server_error").body())
                            break
                        lp = protocol.chat_logprobs(d.tokens) if req.logprobs else None
                        if d.text or d.tokens:
                            yield protocol.sse({**head, "choices": [{"index": i, "delta": {"content": d.text}, "logprobs": lp,
                                                             "finish_reason": None}]})
                        if d.finish_reason:
                            completion += choices.seqs[i].n_sampled
                            finishes.append(d.finish_reason)
                            yield protocol.sse({**head, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                                             "finish_reason": d.finish_reason}]})
                    else:
                        if req.stream_options and req.stream_options.include_usage:
                            yield protocol.sse({**head, "choices": [], "usage": protocol.usage(len(ids), completion)})
                        yield "data: [DONE]\n\n"
                finally:
                    choices.cancel()
                    gone = len(finishes) < len(choices.seqs) and status == 200  # the client left early
                    record("/v1/chat/completions", status, t0, len(ids), sum(s.n_sampled for s in choices.seqs), True,
                           ",".join(finishes) + (" (client disconnected)" if gone else ""))

            return StreamingResponse(events(), media_type="text/event-stream")

        done = await choices.finished(request)
        if done is None:
            return JSONResponse({}, status_code=499)  # the client went away; nobody reads this
        result = [{"index": i, "message": {"role": "assistant", "content": s.text, "refusal": None},
                   "logprobs": protocol.chat_logprobs(s.tokens[:s.tokens_sent]) if req.logprobs else None,
                   "finish_reason": s.finish_reason} for i, s in enumerate(choices.seqs)]
        completion = sum(s.n_sampled for s in choices.seqs)
        record("/v1/chat/completions", 200, t0, len(ids), completion, False, ",".join(c["finish_reason"] for c in result))
        return JSONResponse({**head, "choices": result, "usage": protocol.usage(len(ids), completion)})

    return app


class _BodyLimit:
    """Refuse a body larger than protocol.MAX_BODY before reading it, and note when each request arrived (a plain
    ASGI middleware: Starlette's @app.middleware("http") costs a task per request)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope["t0"] = time.perf_counter()
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > protocol.MAX_BODY:
                e = protocol.APIError(413, f"The request body is larger than {protocol.MAX_BODY // 1024} KiB.")
                return await protocol.error_response(e)(scope, receive, send)
        await self.app(scope, receive, send)
