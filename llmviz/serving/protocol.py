"""OpenAI's API as this server speaks it: the request fields it honours, the checks on them with
OpenAI's error shape, and the pieces of its responses (logprobs blocks, usage, server-sent events).

Shapes follow the official `openai` client's types: completions' logprobs are {tokens, token_logprobs,
top_logprobs, text_offset}; chat's are {content: [{token, logprob, bytes, top_logprobs}]}; an error is
{"error": {"message", "type", "param", "code"}} with the HTTP status the client maps to its exceptions
(400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 5xx InternalServerError).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, NamedTuple

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from llmviz.serving.engine import SamplingParams

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


def error_response(e: APIError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


def invalid_request(errors: list[dict]) -> APIError:
    """A body that FastAPI could not read into a request (its validation errors), as OpenAI words it."""
    first = errors[0] if errors else {}
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    param = loc[0] if loc else None
    if first.get("type") == "json_invalid" or (not loc and first.get("type") in ("model_attributes_type", "dict_type")):
        return APIError(400, "We could not parse the JSON body of your request: send a JSON object "
                             "(Content-Type: application/json).", None, "invalid_json")
    if first.get("type") == "missing":
        return APIError(400, f"Missing required parameter: '{'.'.join(loc)}'.", param, "missing_required_parameter")
    return APIError(400, f"Invalid value for '{'.'.join(loc)}': {first.get('msg', 'invalid')}.", param, "invalid_value")


def unknown_url(status: int, method: str, path: str, detail: str) -> APIError:
    """An HTTP error of the routing itself (no such URL, a method the URL does not take)."""
    message = {404: f"Unknown request URL: {method} {path}.",
               405: f"Method {method} is not allowed on {path}."}.get(status, detail)
    return APIError(status, message, None, "unknown_url" if status == 404 else None)


def generation_failed(message: str) -> APIError:
    return APIError(500, message or "generation failed", type="server_error")


# --- requests: the fields this server honours, those it refuses by name; any other is ignored -------------

class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingRequest(BaseModel):
    """The fields both endpoints share: which model, how to sample, when to stop, whether to stream."""
    model_config = ConfigDict(extra="ignore")
    model: str
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    top_k: int | None = None
    n: int | None = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    logit_bias: dict[str, float] | None = None  # token id (as a string) -> -100..100 added to its logit
    presence_penalty: float | None = 0.0
    frequency_penalty: float | None = 0.0


class CompletionRequest(SamplingRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = 16
    echo: bool | None = False
    logprobs: int | None = None
    best_of: int | None = None  # refused (above 1)
    suffix: str | None = None  # refused


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict] | None = None
    tool_calls: list[dict] | None = None  # an assistant's calls, as the server sent them
    tool_call_id: str | None = None  # a tool message: the call it answers


class ChatRequest(SamplingRequest):
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = None
    tools: list[Any] | None = None  # [{"type": "function", "function": {"name", "description", "parameters"}}]
    tool_choice: str | dict | None = None  # "none", "auto", "required" or {"type": "function", "function": {"name"}}
    parallel_tool_calls: bool | None = None  # accepted: this model makes at most one call per turn anyway
    response_format: dict | None = None  # {"type": "text"} or {"type": "json_object"}; json_schema is refused
    functions: Any = None  # OpenAI's old spelling of tools: refused
    function_call: Any = None


def refuse_unsupported(req: SamplingRequest) -> None:
    """A 400 naming each field this server does not implement, rather than ignoring it silently."""
    if getattr(req, "best_of", None) not in (None, 1):
        raise APIError(400, "best_of is not supported: ask for n choices (with logprobs) and pick the best yourself.",
                       "best_of", "unsupported_parameter")
    if getattr(req, "suffix", None):
        raise APIError(400, "suffix is not supported: this model only continues text left to right (no insertion).",
                       "suffix", "unsupported_parameter")
    fmt = getattr(req, "response_format", None)
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type", "text") not in ("text", "json_object")):
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise APIError(400, f"response_format {kind!r} is not supported: this server answers in text or, with "
                            "{\"type\": \"json_object\"}, with a JSON object (no JSON schema).",
                       "response_format", "unsupported_parameter")
    for old in ("functions", "function_call"):
        if getattr(req, old, None) is not None:
            raise APIError(400, f"{old} is OpenAI's old spelling: send tools and tool_choice instead.", old,
                           "unsupported_parameter")


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


def stops(stop) -> tuple[str, ...]:
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > MAX_STOP:
        raise APIError(400, f"stop takes at most {MAX_STOP} strings (got {len(stops)}).", "stop")
    if any(not s for s in stops):
        raise APIError(400, "a stop string cannot be empty.", "stop")
    return stops


def in_range(value, lo, hi, param: str, what: str = "") -> None:
    if value is not None and not lo <= value <= hi:
        raise APIError(400, f"{param} must be between {lo} and {hi}{what} (got {value}).", param)


class Limits(NamedTuple):
    max_tokens: int  # the most tokens one choice may generate


def sampling(req, max_tokens: int | None, default_tokens: int, limits: Limits, logprobs: int | None,
             echo: bool = False) -> SamplingParams:
    """Check the sampling fields shared by both endpoints; SamplingParams without the stop tokens."""
    max_tokens = default_tokens if max_tokens is None else max_tokens
    in_range(max_tokens, 0 if echo else 1, limits.max_tokens, "max_tokens", " (0 only with echo)" if echo else "")
    in_range(req.temperature, 0, 2, "temperature")
    if req.top_p is not None and not 0 < req.top_p <= 1:
        raise APIError(400, f"top_p must be above 0 and at most 1 (got {req.top_p}).", "top_p")
    in_range(req.n, 1, MAX_N, "n")
    in_range(req.seed, -2**63, 2**64 - MAX_N, "seed", " (a 64-bit integer)")  # seed + choice index must fit
    if req.top_k is not None and req.top_k < 0:
        raise APIError(400, f"top_k cannot be negative (got {req.top_k}).", "top_k")
    return SamplingParams(
        max_tokens=max_tokens, temperature=1.0 if req.temperature is None else req.temperature,
        top_p=req.top_p if req.top_p is not None and req.top_p < 1 else None, top_k=req.top_k or None,
        seed=req.seed, stop=stops(req.stop), logprobs=logprobs, stream=bool(req.stream))



def adjustments(req: SamplingRequest, vocab_size: int) -> dict:
    """logit_bias and the penalties, checked, as SamplingParams' fields (llmviz.nn.sampling applies them)."""
    in_range(req.presence_penalty, -2, 2, "presence_penalty")
    in_range(req.frequency_penalty, -2, 2, "frequency_penalty")
    bias = []
    for key, value in (req.logit_bias or {}).items():
        if not key.isdigit() or not 0 <= int(key) < vocab_size:
            raise APIError(400, f"logit_bias keys are token ids between 0 and {vocab_size - 1} (got {key!r}).",
                           "logit_bias")
        in_range(value, -100, 100, "logit_bias", f" for token {key}")
        bias.append((int(key), float(value)))
    return {"logit_bias": tuple(bias), "presence_penalty": req.presence_penalty or 0.0,
            "frequency_penalty": req.frequency_penalty or 0.0}


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def seeded(params: SamplingParams, index: int) -> SamplingParams:
    """Choice `index` of a seeded request samples with seed + index: n choices differ, and are reproducible."""
    if params.seed is None or index == 0:
        return params
    return replace(params, seed=params.seed + index)


def text_content(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(400, "this model reads text only: a message's content parts must be "
                                "{\"type\": \"text\", \"text\": ...}.", "messages")
        texts.append(part["text"])
    return "".join(texts)


def prompts(prompt, tokenizer) -> list[tuple[str, list[int]]]:
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


# --- pieces of responses ---------------------------------------------------------------------------

def logprobs_block(tokens, offset_shift: int = 0) -> dict:
    return {"tokens": [t.token for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [dict(t.top) for t in tokens],
            "text_offset": [t.offset + offset_shift for t in tokens]}


def prompt_block(ptoks: list, ids: list[int], tokenizer) -> dict:
    """The echoed prompt's tokens in a logprobs block: the first token has no log-probability (nothing
    comes before it)."""
    if not ids:
        return logprobs_block([])
    rest = logprobs_block(ptoks[1:])
    return {"tokens": [tokenizer.decode(ids[:1])] + rest["tokens"],
            "token_logprobs": [None] + rest["token_logprobs"], "top_logprobs": [None] + rest["top_logprobs"],
            "text_offset": [0] + rest["text_offset"]}


def join(a: dict, b: dict) -> dict:
    return {k: a[k] + b[k] for k in a}


def chat_logprobs(tokens) -> dict:
    def one(token, lp):
        return {"token": token, "logprob": lp, "bytes": list(token.encode("utf-8"))}

    return {"content": [{**one(t.token, t.logprob), "top_logprobs": [one(s, v) for s, v in t.top]} for t in tokens],
            "refusal": None}


def text_choice(index: int, text: str, logprobs: dict | None, finish_reason: str | None) -> dict:
    """A completion's choice, whole or as a streamed piece."""
    return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish_reason}


def chat_choice(index: int, content: str | None, logprobs: dict | None, finish_reason: str | None,
                tool_calls: list[dict] | None = None) -> dict:
    """A chat answer's choice, whole: its content, or (content None) its tool calls."""
    message = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish_reason}


def chat_delta(index: int, delta: dict, logprobs: dict | None = None, finish_reason: str | None = None) -> dict:
    """A piece of a streamed chat answer's choice: its role first, then its content, then why it ended."""
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def response(head: dict, choices: list[dict], usage: dict | None = None) -> dict:
    """A response, or one event of a stream: the head (id, object, created, model), choices, usage."""
    return {**head, "choices": choices} if usage is None else {**head, "choices": choices, "usage": usage}


def sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


SSE_DONE = "data: [DONE]\n\n"  # a stream's last event
