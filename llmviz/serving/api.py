"""An OpenAI-compatible HTTP API over one trained model (tutorial part 4, serving).

Any OpenAI client (the `openai` package, LangChain's ChatOpenAI, curl) can talk to the model:

    GET  /v1/models              the one model served
    POST /v1/completions         continue a prompt (a string or a list of them)
    POST /v1/chat/completions    answer a conversation (llmviz.chat.format_chat turns it into a prompt)

with OpenAI's request fields (max_tokens, temperature, top_p, n, stop, seed, echo, logprobs, stream;
`top_k` too, as llmviz's own extension) and OpenAI's response shapes: integer `created`, `usage` in the
model's tokens, `finish_reason` "stop" or "length", server-sent events ending with `data: [DONE]`.
Fields it does not implement (penalties, logit_bias, tools, ...) are accepted and ignored.

Errors have OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with the HTTP status an
OpenAI client expects; the server never sends a traceback. Requests are decoded together by
llmviz.serving.engine.BatchEngine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import replace
from typing import Any, NamedTuple

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmviz import chat
from llmviz.errors import LearnerError
from llmviz.serving.engine import BatchEngine, Delta, EngineBusy, SamplingParams, prompt_logprobs

# limits a request must respect (OpenAI's where it has one)
MAX_N = 16  # choices per prompt
MAX_STOP = 4  # stop strings
MAX_LOGPROBS = 5  # top log-probabilities per token, completions
MAX_TOP_LOGPROBS = 20  # the same, chat
MAX_BODY = 1024 * 1024  # bytes of request body
CHAT_DEFAULT_TOKENS = 256  # a chat request that sets no max_tokens


# --- errors -------------------------------------------------------------------------------------------

class APIError(Exception):
    """A request the server refuses, as OpenAI words it: status, message, type, param, code."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _error_response(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


# --- requests (the fields this server honours; any other field is ignored) -------------------------------

class StreamOptions(BaseModel):
    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = 16
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    top_k: int | None = None
    n: int | None = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    echo: bool | None = False
    logprobs: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    top_k: int | None = None
    n: int | None = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None


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


# --- turning request fields into what the engine needs -----------------------------------------------

def unspellable(tokenizer, text: str) -> list[str]:
    """The characters (or words) of `text` that the tokenizer has no token for, each once."""
    parts = tokenizer._split_specials(text)[::2]
    if hasattr(tokenizer, "stoi"):
        return list(dict.fromkeys(c for part in parts for c in part if c not in tokenizer.stoi))
    if hasattr(tokenizer, "index"):
        return list(dict.fromkeys(w for part in parts for w in part.lower().split() if w not in tokenizer.index))
    return []


def encode(tokenizer, text: str, param: str) -> list[int]:
    try:
        return tokenizer.encode(text)
    except ValueError as e:
        bad = unspellable(tokenizer, text)
        if bad:
            raise APIError(400, f"the {param} uses {len(bad)} character(s) that this model's tokenizer cannot spell: "
                                f"{', '.join(map(repr, bad[:20]))}{' ...' if len(bad) > 20 else ''}. It only knows "
                                f"the {tokenizer.ordinary_vocab_size} tokens of the text it was trained on.",
                           param, "unspellable_characters") from None
        raise APIError(400, f"the {param} cannot be encoded by this model's tokenizer: {e}", param) from None


def start_ids(tokenizer) -> list[int]:
    """The context of an empty prompt: a newline if the tokenizer has one (a text starts after one)."""
    try:
        return tokenizer.encode("\n") or [0]
    except ValueError:
        return [0]


def _stops(stop) -> tuple[str, ...]:
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > MAX_STOP:
        raise APIError(400, f"stop takes at most {MAX_STOP} strings (got {len(stops)}).", "stop")
    if any(not s for s in stops):
        raise APIError(400, "a stop string cannot be empty.", "stop")
    return stops


def _in(value, lo, hi, param: str, what: str = "") -> None:
    if value is not None and not lo <= value <= hi:
        raise APIError(400, f"{param} must be between {lo} and {hi}{what} (got {value}).", param)


class Limits(NamedTuple):
    max_tokens: int  # the most tokens one choice may generate


def sampling(req, max_tokens: int | None, default_tokens: int, limits: Limits, logprobs: int | None,
             echo: bool = False) -> SamplingParams:
    """Check the sampling fields shared by both endpoints; SamplingParams without the stop tokens."""
    max_tokens = default_tokens if max_tokens is None else max_tokens
    _in(max_tokens, 0 if echo else 1, limits.max_tokens, "max_tokens", " (0 only with echo)" if echo else "")
    _in(req.temperature, 0, 2, "temperature")
    if req.top_p is not None and not 0 < req.top_p <= 1:
        raise APIError(400, f"top_p must be above 0 and at most 1 (got {req.top_p}).", "top_p")
    _in(req.n, 1, MAX_N, "n")
    if req.top_k is not None and req.top_k < 0:
        raise APIError(400, f"top_k cannot be negative (got {req.top_k}).", "top_k")
    return SamplingParams(
        max_tokens=max_tokens, temperature=1.0 if req.temperature is None else req.temperature,
        top_p=req.top_p if req.top_p is not None and req.top_p < 1 else None, top_k=req.top_k or None,
        seed=req.seed, stop=_stops(req.stop), logprobs=logprobs, stream=bool(req.stream))


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

    def cancel(self) -> None:
        for s in self.seqs:
            s.cancel()


def _logprobs_block(tokens, offset_shift: int = 0) -> dict:
    return {"tokens": [t.token for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [dict(t.top) for t in tokens],
            "text_offset": [t.offset + offset_shift for t in tokens]}


def _prompt_block(ptoks: list, ids: list[int], tokenizer) -> dict:
    """The echoed prompt's tokens in a logprobs block: the first token has no log-probability (nothing
    comes before it)."""
    if not ids:
        return _logprobs_block([])
    rest = _logprobs_block(ptoks[1:])
    return {"tokens": [tokenizer.decode(ids[:1])] + rest["tokens"],
            "token_logprobs": [None] + rest["token_logprobs"], "top_logprobs": [None] + rest["top_logprobs"],
            "text_offset": [0] + rest["text_offset"]}


def _join(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


def _chat_logprobs(tokens) -> dict:
    def one(token, lp):
        return {"token": token, "logprob": lp, "bytes": list(token.encode("utf-8"))}

    return {"content": [{**one(t.token, t.logprob), "top_logprobs": [one(s, v) for s, v in t.top]} for t in tokens],
            "refusal": None}


def _sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


# --- the app ---------------------------------------------------------------------------------------

def create_app(model, tokenizer, model_name: str = "llmviz", *, api_key: str | None = None,
               max_tokens: int = 2048, max_batch: int = 64, engine: BatchEngine | None = None,
               log: RequestLog | None = None) -> FastAPI:
    """The FastAPI app serving `model` under the name `model_name`. Its batch engine starts and stops
    with the app (uvicorn's lifespan). With api_key set, every /v1 request must carry
    `Authorization: Bearer <api_key>`."""
    engine = engine or BatchEngine(model, tokenizer, max_batch=max_batch)
    log = log if log is not None else RequestLog()
    limits = Limits(max_tokens)
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
    @app.exception_handler(APIError)
    async def on_api_error(request: Request, e: APIError):
        record(request.url.path, e.status, request.scope.get("t0", time.perf_counter()), detail=e.message)
        return _error_response(e)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, e: RequestValidationError):
        errors = e.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        param = loc[0] if loc else None
        if first.get("type") == "json_invalid" or (not loc and first.get("type") in ("model_attributes_type", "dict_type")):
            err = APIError(400, "We could not parse the JSON body of your request: send a JSON object "
                                "(Content-Type: application/json).", None, "invalid_json")
        elif first.get("type") == "missing":
            err = APIError(400, f"Missing required parameter: '{'.'.join(loc)}'.", param, "missing_required_parameter")
        else:
            err = APIError(400, f"Invalid value for '{'.'.join(loc)}': {first.get('msg', 'invalid')}.", param,
                           "invalid_value")
        return await on_api_error(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, e: StarletteHTTPException):
        message = {404: f"Unknown request URL: {request.method} {request.url.path}.",
                   405: f"Method {request.method} is not allowed on {request.url.path}."}.get(e.status_code, str(e.detail))
        return _error_response(APIError(e.status_code, message, None, "unknown_url" if e.status_code == 404 else None))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, e: Exception):
        record(request.url.path, 500, time.perf_counter(), detail=f"{type(e).__name__}")
        return _error_response(APIError(500, "The server had an error while processing your request.", None, None,
                                        "server_error"))

    app.add_middleware(_BodyLimit)

    def authorised(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                           None, "missing_api_key")
        if not hmac.compare_digest(given.strip().encode(), api_key.encode()):  # constant time: no timing leak
            raise APIError(401, "Incorrect API key provided.", None, "invalid_api_key")

    def check_model(name: str) -> None:
        if name != model_name:
            raise APIError(404, f"The model '{name}' does not exist. This server serves '{model_name}'.", "model",
                           "model_not_found")

    def submit(jobs) -> Choices:
        try:
            return Choices(engine, jobs)
        except EngineBusy as e:
            raise APIError(503, f"The server is overloaded: {e}", None, "overloaded", "server_error") from None

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
    async def completions(req: CompletionRequest, request: Request):
        t0 = request.scope["t0"]
        check_model(req.model)
        _in(req.logprobs, 0, MAX_LOGPROBS, "logprobs")
        params = sampling(req, req.max_tokens, 16, limits, req.logprobs, bool(req.echo))
        if chat.END in tokenizer.special_tokens:
            params = replace(params, stop_token_ids=(tokenizer.special_id(chat.END),))
        prompts = _prompts(req.prompt, tokenizer)
        jobs = [(ids or start_ids(tokenizer), params) for _, ids in prompts for _ in range(req.n or 1)]
        jobs = [(ids, _seeded(p, i)) for i, (ids, p) in enumerate(jobs)]
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
                            yield _sse(APIError(500, d.error or "generation failed", type="server_error").body())
                            break
                        text = d.text
                        lp = _logprobs_block(d.tokens, len(prefix(i))) if req.logprobs is not None else None
                        if i not in started:
                            started.add(i)
                            text = prefix(i) + text
                            if lp is not None and req.echo:
                                lp = _join(_prompt_block(echo_lp[i // per_prompt], prompts[i // per_prompt][1],
                                                         tokenizer), lp)
                        if d.finish_reason:
                            completion += choices.seqs[i].n_sampled
                            finishes.append(d.finish_reason)
                        yield _sse({**head(i), "choices": [{"text": text, "index": i, "logprobs": lp,
                                                            "finish_reason": d.finish_reason}]})
                    else:
                        if req.stream_options and req.stream_options.include_usage:
                            yield _sse({**head(0), "choices": [], "usage": _usage(n_prompt, completion)})
                        yield "data: [DONE]\n\n"
                finally:
                    choices.cancel()
                    gone = len(finishes) < len(choices.seqs) and status == 200  # the client left early
                    record("/v1/completions", status, t0, n_prompt, sum(s.n_sampled for s in choices.seqs), True,
                           ",".join(finishes) + (" (client disconnected)" if gone else ""))

            return StreamingResponse(events(), media_type="text/event-stream")

        out = {}
        async for i, d in choices.deltas(request):
            if d.finish_reason:
                out[i] = d
        if len(out) < len(jobs):
            return JSONResponse({}, status_code=499)  # the client went away; nobody reads this
        if any(d.finish_reason == "error" for d in out.values()):
            raise APIError(500, next(d.error for d in out.values() if d.finish_reason == "error"), type="server_error")
        result = []
        for i in range(len(jobs)):
            seq = choices.seqs[i]
            text = seq.text
            lp = None
            if req.logprobs is not None:
                toks = seq.tokens[:seq.tokens_sent]
                lp = _logprobs_block(toks, len(prefix(i)))
                if req.echo:
                    lp = _join(_prompt_block(echo_lp[i // per_prompt], prompts[i // per_prompt][1], tokenizer), lp)
            result.append({"text": prefix(i) + text, "index": i, "logprobs": lp, "finish_reason": seq.finish_reason})
        completion = sum(s.n_sampled for s in choices.seqs)
        record("/v1/completions", 200, t0, n_prompt, completion, False, ",".join(c["finish_reason"] for c in result))
        return JSONResponse({**head(0), "choices": result, "usage": _usage(n_prompt, completion)})

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)])
    async def chat_completions(req: ChatRequest, request: Request):
        t0 = request.scope["t0"]
        check_model(req.model)
        if not req.messages:
            raise APIError(400, "messages must hold at least one message.", "messages")
        _in(req.top_logprobs, 0, MAX_TOP_LOGPROBS, "top_logprobs")
        max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
        k = (req.top_logprobs or 0) if req.logprobs else None
        params = sampling(req, max_tokens, min(CHAT_DEFAULT_TOKENS, limits.max_tokens), limits, k)
        try:
            fmt = chat.format_chat([{"role": m.role, "content": _text_content(m.content)} for m in req.messages],
                                   tokenizer)
        except LearnerError as e:
            raise APIError(400, str(e), "messages") from None
        ids = encode(tokenizer, fmt.prompt, "messages")
        params = replace(params, stop=params.stop + fmt.stop, stop_token_ids=fmt.stop_token_ids)
        n = req.n or 1
        choices = submit([(ids, _seeded(params, i)) for i in range(n)])
        rid, now = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": rid, "object": "chat.completion.chunk" if req.stream else "chat.completion", "created": now,
                "model": model_name}

        if req.stream:
            async def events():
                completion, finishes, status = 0, [], 200
                try:
                    for i in range(n):
                        yield _sse({**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                         "logprobs": None, "finish_reason": None}]})
                    async for i, d in choices.deltas(request):
                        if d.finish_reason == "error":
                            status = 500
                            yield _sse(APIError(500, d.error or "generation failed", type="server_error").body())
                            break
                        lp = _chat_logprobs(d.tokens) if req.logprobs else None
                        if d.text or d.tokens:
                            yield _sse({**head, "choices": [{"index": i, "delta": {"content": d.text}, "logprobs": lp,
                                                             "finish_reason": None}]})
                        if d.finish_reason:
                            completion += choices.seqs[i].n_sampled
                            finishes.append(d.finish_reason)
                            yield _sse({**head, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                                             "finish_reason": d.finish_reason}]})
                    else:
                        if req.stream_options and req.stream_options.include_usage:
                            yield _sse({**head, "choices": [], "usage": _usage(len(ids), completion)})
                        yield "data: [DONE]\n\n"
                finally:
                    choices.cancel()
                    gone = len(finishes) < len(choices.seqs) and status == 200  # the client left early
                    record("/v1/chat/completions", status, t0, len(ids), sum(s.n_sampled for s in choices.seqs), True,
                           ",".join(finishes) + (" (client disconnected)" if gone else ""))

            return StreamingResponse(events(), media_type="text/event-stream")

        done = {}
        async for i, d in choices.deltas(request):
            if d.finish_reason:
                done[i] = d
        if len(done) < n:
            return JSONResponse({}, status_code=499)
        if any(d.finish_reason == "error" for d in done.values()):
            raise APIError(500, "generation failed", type="server_error")
        result = [{"index": i, "message": {"role": "assistant", "content": s.text, "refusal": None},
                   "logprobs": _chat_logprobs(s.tokens[:s.tokens_sent]) if req.logprobs else None,
                   "finish_reason": s.finish_reason} for i, s in enumerate(choices.seqs)]
        completion = sum(s.n_sampled for s in choices.seqs)
        record("/v1/chat/completions", 200, t0, len(ids), completion, False, ",".join(c["finish_reason"] for c in result))
        return JSONResponse({**head, "choices": result, "usage": _usage(len(ids), completion)})

    return app


class _BodyLimit:
    """Refuse a body larger than MAX_BODY before reading it, and note when each request arrived (a plain
    ASGI middleware: Starlette's @app.middleware("http") costs a task per request)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            scope["t0"] = time.perf_counter()
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > MAX_BODY:
                e = APIError(413, f"The request body is larger than {MAX_BODY // 1024} KiB.")
                return await _error_response(e)(scope, receive, send)
        await self.app(scope, receive, send)


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _seeded(params: SamplingParams, index: int) -> SamplingParams:
    """Choice `index` of a seeded request samples with seed + index: n choices differ, and are reproducible."""
    if params.seed is None or index == 0:
        return params
    return replace(params, seed=params.seed + index)


def _text_content(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(400, "this model reads text only: a message's content parts must be "
                                "{\"type\": \"text\", \"text\": ...}.", "messages")
        texts.append(part["text"])
    return "".join(texts)


def _prompts(prompt, tokenizer) -> list[tuple[str, list[int]]]:
    """The request's prompt(s) as (text, token ids): a string, a list of strings, token ids, or lists of them."""
    if isinstance(prompt, str):
        prompt = [prompt]
    if not prompt:
        raise APIError(400, "prompt cannot be an empty list.", "prompt")
    if all(isinstance(p, int) for p in prompt):
        prompt = [prompt]
    out = []
    for p in prompt:
        if isinstance(p, str):
            out.append((p, encode(tokenizer, p, "prompt")))
        else:
            bad = [t for t in p if not 0 <= t < tokenizer.vocab_size]
            if bad:
                raise APIError(400, f"token ids must be between 0 and {tokenizer.vocab_size - 1} (got {bad[:5]}).",
                               "prompt")
            out.append((tokenizer.decode(list(p)), list(p)))
    return out
