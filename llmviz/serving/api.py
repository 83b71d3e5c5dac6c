"""An OpenAI-compatible HTTP API over one trained model (tutorial part 4, serving).

Any OpenAI client (the `openai` package, LangChain's ChatOpenAI, curl) can talk to the model:

    GET  /v1/models              the one model served
    POST /v1/completions         continue a prompt (a string or a list of them)
    POST /v1/chat/completions    answer a conversation (llmviz.tasks.chat.format_chat turns it into a prompt)

with OpenAI's request fields (max_tokens, temperature, top_p, n, stop, seed, echo, logprobs, stream,
logit_bias, the penalties, tools and tool_choice; `top_k` too, as llmviz's own extension) and OpenAI's
response shapes: integer `created`, `usage` in the model's tokens, `finish_reason` "stop", "length" or
"tool_calls", server-sent events ending with `data: [DONE]`. Fields it does not implement (best_of, suffix,
JSON response formats) are refused with a 400 naming them (llmviz.serving.protocol).

Errors have OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with the HTTP status an
OpenAI client expects; the server never sends a traceback, and a bug answers 500 without dropping the
client's keep-alive connection. What reaches the port is bounded before it costs anything: the API key
is checked before a byte of the body is read, and the body (however it is sent, chunked included) is
counted as it arrives and refused past protocol.MAX_BODY. (FastAPI's own `max_body_size` counts the
same way but answers a declared-too-large body in plain text, outside every middleware, so not in
OpenAI's shape: hence _Guard.) The request fields, their checks and the
pieces of the responses are in llmviz.serving.protocol; what each endpoint answers is in
llmviz.serving.replies; requests are decoded together by llmviz.serving.engine.BatchEngine.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmviz.errors import LearnerError
from llmviz.serving import protocol, replies
from llmviz.serving.choices import Choices
from llmviz.serving.engine import BatchEngine
from llmviz.serving.request_log import RequestLog
from llmviz.serving.served import ClientGone, ServedModel


def create_app(model, tokenizer, model_name: str = "llmviz", *, api_key: str | None = None,
               max_tokens: int = 2048, max_batch: int = 64, engine: BatchEngine | None = None,
               log: RequestLog | None = None) -> FastAPI:
    """The FastAPI app serving `model` under the name `model_name`. Its batch engine starts and stops
    with the app (uvicorn's lifespan). With api_key set, every /v1 request must carry
    `Authorization: Bearer <api_key>`."""
    if api_key is not None and not api_key.strip():
        raise LearnerError("the API key is empty: nobody could send it. Give a key, or none to serve without one.")
    app = FastAPI(title="llmviz model server", version="1", lifespan=_lifespan,
                  description=f"An OpenAI-compatible API over the llmviz model '{model_name}'.")
    app.state.served = ServedModel(model, tokenizer, model_name, engine or BatchEngine(model, tokenizer, max_batch=max_batch),
                                   log if log is not None else RequestLog(), protocol.Limits(max_tokens), api_key)
    app.add_exception_handler(protocol.APIError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)
    app.add_middleware(_Guard)
    app.include_router(router)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    engine = app.state.served.engine
    engine.start()
    try:
        yield
    finally:
        engine.stop()


def served_by(request: Request) -> ServedModel:
    return request.app.state.served


# --- the routes (the key is checked by _Guard, before the body is read) ----------------------------------

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request):
    return {"object": "list", "data": [served_by(request).card()]}


@router.get("/v1/models/{name}")
async def get_model(name: str, request: Request):
    served = served_by(request)
    served.check_model(name)
    return served.card()


@router.post("/v1/completions")
async def completions(req: protocol.CompletionRequest, request: Request):
    try:
        reply = await replies.for_completion(req, served_by(request), request.is_disconnected)
    except ClientGone:
        served_by(request).log.record("/v1/completions", 499, request.scope["t0"], detail="client disconnected")
        return JSONResponse({}, status_code=499)  # nobody reads this
    return await answer(request, reply)


@router.post("/v1/chat/completions")
async def chat_completions(req: protocol.ChatRequest, request: Request):
    return await answer(request, replies.for_chat(req, served_by(request)))


# --- answering: whole, or streamed as server-sent events ----------------------------------------------

async def answer(request: Request, reply: replies.Reply):
    """Submit the reply's choices to the engine and send them back, streamed or (awaited) whole."""
    served = served_by(request)
    choices = Choices(served.engine, reply.jobs)
    if reply.stream:
        return StreamingResponse(_events(request, reply, choices, served.log), media_type="text/event-stream")
    return await _whole(request, reply, choices, served.log)


async def _whole(request: Request, reply: replies.Reply, choices: Choices, log: RequestLog) -> JSONResponse:
    if await choices.finished(request) is None:
        return JSONResponse({}, status_code=499)  # the client went away; nobody reads this
    result = [reply.whole(i, seq) for i, seq in enumerate(choices.seqs)]
    completion = choices.n_sampled
    log.record(reply.endpoint, 200, request.scope["t0"], reply.n_prompt, completion, False,
               ",".join(c["finish_reason"] for c in result))
    return JSONResponse(protocol.response(reply.head, result, protocol.usage(reply.n_prompt, completion)))


async def _events(request: Request, reply: replies.Reply, choices: Choices, log: RequestLog):
    """The one event stream of both endpoints: the reply's pieces as its choices' deltas arrive, then the
    usage if asked for, then [DONE]; a failed choice ends it with an error event."""
    completion, finishes, status = 0, [], 200
    try:
        for piece in reply.opening():
            yield protocol.sse(protocol.response(reply.head, [piece]))
        async for i, d in choices.deltas(request):
            if d.finish_reason == "error":
                status = 500
                yield protocol.sse(protocol.generation_failed(d.error).body())
                break
            if d.finish_reason:
                completion += choices.seqs[i].n_sampled
                finishes.append(d.finish_reason)
            for piece in reply.pieces(i, d):
                yield protocol.sse(protocol.response(reply.head, [piece]))
        else:
            if reply.include_usage:
                yield protocol.sse(protocol.response(reply.head, [], protocol.usage(reply.n_prompt, completion)))
            yield protocol.SSE_DONE
    finally:
        choices.cancel()
        gone = len(finishes) < len(choices.seqs) and status == 200  # the client left early
        log.record(reply.endpoint, status, request.scope["t0"], reply.n_prompt, choices.n_sampled, True,
                   ",".join(finishes) + (" (client disconnected)" if gone else ""))


# --- errors, all in OpenAI's shape --------------------------------------------------------------------

def error_response(e: protocol.APIError) -> JSONResponse:
    """An error in OpenAI's shape, its text escaped to ASCII: a message that quotes what the client sent
    (a model name that is a lone surrogate) can always be sent back."""
    return _ASCIIJSON(e.body(), status_code=e.status)


class _ASCIIJSON(JSONResponse):
    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _on_api_error(request: Request, e: protocol.APIError):
    served_by(request).log.record(request.url.path, e.status, request.scope.get("t0", time.perf_counter()),
                                  detail=e.message)
    return error_response(e)


async def _on_invalid(request: Request, e: RequestValidationError):
    return await _on_api_error(request, protocol.invalid_request(e.errors()))


async def _on_http(request: Request, e: StarletteHTTPException):
    if e.status_code == 413:  # _Guard's count of the body as it arrived
        return await _on_api_error(request, _too_large())
    return error_response(protocol.unknown_url(e.status_code, request.method, request.url.path, str(e.detail)))


def _too_large() -> protocol.APIError:
    return protocol.APIError(413, f"The request body is larger than {protocol.MAX_BODY // 1024} KiB.")


def _server_error() -> protocol.APIError:
    return protocol.APIError(500, "The server had an error while processing your request.", None, None, "server_error")


async def _on_bug(request: Request, e: Exception):  # the last resort; _Guard answers bugs first
    served_by(request).log.record(request.url.path, 500, request.scope.get("t0", time.perf_counter()),
                                  detail=f"{type(e).__name__}")
    return error_response(_server_error())


class _Guard:
    """Every HTTP request, before the app reads it: note when it arrived, refuse a missing or wrong API key
    (and a body whose declared length is too large) without reading the body, and answer a bug with a 500
    in OpenAI's shape without raising it further, which would make uvicorn drop the connection. A plain
    ASGI middleware: Starlette's @app.middleware("http") costs a task per request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope["t0"] = time.perf_counter()
        served: ServedModel = scope["app"].state.served
        headers = dict(scope["headers"])
        try:
            if scope["path"].startswith("/v1"):
                served.authorise(headers.get(b"authorization", b"").decode("latin-1"))
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > protocol.MAX_BODY:
                raise _too_large()
        except protocol.APIError as e:
            served.log.record(scope["path"], e.status, scope["t0"], detail=e.message)
            return await error_response(e)(scope, receive, send)
        started, received = False, 0

        async def receive_counting():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > protocol.MAX_BODY:  # FastAPI raises an HTTPException as it is: _on_http answers it
                    raise StarletteHTTPException(413)
            return message

        async def send_noting(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_counting, send_noting)
        except Exception as e:
            if started:
                raise  # half a response is out: only closing the connection can end it
            traceback.print_exc(file=sys.stderr)  # for the operator; the client gets words
            served.log.record(scope["path"], 500, scope["t0"], detail=type(e).__name__)
            await error_response(_server_error())(scope, receive, send)
