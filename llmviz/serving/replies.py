"""What each endpoint answers: its request checked and turned into engine jobs (one per choice), and its
choices in OpenAI's shapes, as streamed pieces or whole. llmviz.serving.api sends them either way.

    reply = await for_completion(request_body, served)   # or for_chat(...)
    reply.jobs                      # (prompt ids, SamplingParams) per choice, for the engine
    reply.opening()                 # pieces sent before any token (chat: each choice's role)
    reply.pieces(index, delta)      # the pieces one engine Delta of a choice makes
    reply.whole(index, seq)         # a choice once its sequence has finished
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

from llmviz.errors import LearnerError
from llmviz.nn.sampling import Forbidden
from llmviz.serving import json_mode, protocol
from llmviz.serving.engine import SamplingParams
from llmviz.serving.served import ServedModel
from llmviz.serving import tool_calls
from llmviz.tasks import chat
from llmviz.tasks.tools import CALL


class Reply:
    """One request's answer in the making (a subclass per endpoint gives its choices' shapes)."""
    endpoint = ""  # the URL the request log names

    def __init__(self, head: dict, jobs: list[tuple[list[int], SamplingParams]], n_prompt: int, stream: bool,
                 include_usage: bool):
        self.head, self.jobs, self.n_prompt = head, jobs, n_prompt  # head: id, object, created, model
        self.stream, self.include_usage = stream, include_usage

    def opening(self) -> list[dict]:
        return []

    def pieces(self, index: int, delta) -> list[dict]:
        raise NotImplementedError

    def whole(self, index: int, seq) -> dict:
        raise NotImplementedError


class CompletionReply(Reply):
    """Choices are texts; with echo each starts with its prompt (and the prompt's logprobs)."""
    endpoint = "/v1/completions"

    def __init__(self, head, jobs, n_prompt, stream, include_usage, *, per_prompt: int, prefixes: list[str],
                 echoed: list[dict], logprobs: int | None):
        super().__init__(head, jobs, n_prompt, stream, include_usage)
        self.per_prompt, self.prefixes, self.echoed, self.logprobs = per_prompt, prefixes, echoed, logprobs
        self.started: set[int] = set()  # choices whose first piece was sent

    def _choice(self, i: int, text: str, tokens, finish_reason: str | None, first: bool) -> dict:
        k = i // self.per_prompt  # the prompt of choice i
        lp = protocol.logprobs_block(tokens, len(self.prefixes[k])) if self.logprobs is not None else None
        if first:
            text = self.prefixes[k] + text
            if lp is not None and self.echoed:
                lp = protocol.join(self.echoed[k], lp)
        return protocol.text_choice(i, text, lp, finish_reason)

    def pieces(self, index, delta):
        first = index not in self.started
        self.started.add(index)
        return [self._choice(index, delta.text, delta.tokens, delta.finish_reason, first)]

    def whole(self, index, seq):
        return self._choice(index, seq.text, seq.tokens[:seq.tokens_sent], seq.finish_reason, True)


class ChatReply(Reply):
    """Choices are assistant messages; a stream sends each one's role, its content (or its tool call, as
    OpenAI's tool-call deltas: the id and name first, then the arguments in pieces), then why it ended."""
    endpoint = "/v1/chat/completions"

    def __init__(self, head, jobs, n_prompt, stream, include_usage, *, logprobs: bool,
                 tools: tool_calls.ToolRequest | None = None):
        super().__init__(head, jobs, n_prompt, stream, include_usage)
        self.logprobs, self.tools = logprobs, tools
        self.held: dict[int, tuple[str, list]] = {}  # a choice's text and tokens while it may still be a call
        self.plain: set[int] = set()  # choices known to answer in words
        self.calls: dict[int, tuple[str, int]] = {}  # a choice's call: its id, the arguments' characters sent

    def opening(self):
        return [protocol.chat_delta(i, {"role": "assistant", "content": ""}) for i in range(len(self.jobs))]

    def _content(self, index, text, tokens) -> list[dict]:
        if not text and not tokens:
            return []
        lp = protocol.chat_logprobs(tokens) if self.logprobs else None
        return [protocol.chat_delta(index, {"content": text}, lp)]

    def _call_pieces(self, index, body: str) -> list[dict]:
        """The call written so far (the text after <|call|>) as tool-call deltas."""
        brace = body.find("{")
        if brace < 0:
            return []
        out = []
        if index not in self.calls:
            self.calls[index] = (tool_calls.call_id(), 0)
            out.append(protocol.chat_delta(index, {"tool_calls": [{
                "index": 0, "id": self.calls[index][0], "type": "function",
                "function": {"name": body[:brace], "arguments": ""}}]}))
        call, sent = self.calls[index]
        arguments = body[brace:]
        if len(arguments) > sent:
            self.calls[index] = (call, len(arguments))
            out.append(protocol.chat_delta(index, {"tool_calls": [{"index": 0, "function": {"arguments": arguments[sent:]}}]}))
        return out

    def pieces(self, index, delta):
        out = []
        if self.tools is None or index in self.plain:
            out = self._content(index, delta.text, delta.tokens)
        else:
            text, tokens = self.held.get(index, ("", []))
            text, tokens = text + delta.text, tokens + list(delta.tokens)
            if text.startswith(CALL):
                self.held[index] = (text, tokens)
                out = self._call_pieces(index, text[len(CALL):])
            elif CALL.startswith(text) and not delta.finish_reason:
                self.held[index] = (text, tokens)  # not known yet
            else:
                self.plain.add(index)
                self.held.pop(index, None)
                out = self._content(index, text, tokens)
        if delta.finish_reason:
            text = self.held.get(index, ("", []))[0]
            called = self.tools is not None and tool_calls.split(text, self.tools.callable)[1] is not None
            out.append(protocol.chat_delta(index, {}, None, "tool_calls" if called else delta.finish_reason))
        return out

    def whole(self, index, seq):
        lp = protocol.chat_logprobs(seq.tokens[:seq.tokens_sent]) if self.logprobs else None
        if self.tools is not None:
            content, call = tool_calls.split(seq.text, self.tools.callable)
            if call is not None:
                return protocol.chat_choice(index, None, lp, "tool_calls", [tool_calls.openai_call(call, tool_calls.call_id())])
        return protocol.chat_choice(index, seq.text, lp, seq.finish_reason)


def _head(prefix: str, kind: str, served: ServedModel) -> dict:
    return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": served.name}


def _include_usage(req: protocol.SamplingRequest) -> bool:
    return bool(req.stream_options and req.stream_options.include_usage)


async def for_completion(req: protocol.CompletionRequest, served: ServedModel, disconnected=None) -> CompletionReply:
    """POST /v1/completions: each prompt continued n times (the model's own log-probabilities of an echoed
    prompt computed off the event loop, stopped when `disconnected()` says the client left)."""
    served.check_model(req.model)
    protocol.refuse_unsupported(req)
    tokenizer = served.tokenizer
    protocol.in_range(req.logprobs, 0, protocol.MAX_LOGPROBS, "logprobs")
    params = protocol.sampling(req, req.max_tokens, 16, served.limits, req.logprobs, bool(req.echo))
    params = replace(params, **protocol.adjustments(req, tokenizer.vocab_size))
    # a text never holds a tag: the completion ends at any special token ("<|end|>", the next role, ...)
    params = replace(params, stop_token_ids=chat.tag_ids(tokenizer))
    prompts = protocol.prompts(req.prompt, tokenizer)
    per_prompt = req.n or 1
    scored = sum(len(ids) for _, ids in prompts) if req.echo and req.logprobs is not None else 0
    served.admit(len(prompts) * per_prompt, scored)  # before any work: what could never be done is refused
    jobs = [(ids or protocol.start_ids(tokenizer), params) for _, ids in prompts for _ in range(per_prompt)]
    jobs = [(ids, protocol.seeded(p, i)) for i, (ids, p) in enumerate(jobs)]
    head = _head("cmpl", "text_completion", served)
    echoed = []
    if req.echo and req.logprobs is not None:
        for _, ids in prompts:
            ptoks = await served.score_prompt(ids, req.logprobs, disconnected)
            echoed.append(protocol.prompt_block(ptoks, ids, tokenizer))
    return CompletionReply(head, jobs, sum(len(ids) for _, ids in prompts), bool(req.stream), _include_usage(req),
                           per_prompt=per_prompt, prefixes=[text if req.echo else "" for text, _ in prompts],
                           echoed=echoed, logprobs=req.logprobs)


def _tool_request(req: protocol.ChatRequest) -> tool_calls.ToolRequest | None:
    try:
        tools = tool_calls.read_tools(req.tools)
    except LearnerError as e:
        raise protocol.APIError(400, str(e), "tools", "invalid_tools") from None
    try:
        return tool_calls.read_choice(tools, req.tool_choice)
    except LearnerError as e:
        raise protocol.APIError(400, str(e), "tool_choice") from None


def for_chat(req: protocol.ChatRequest, served: ServedModel) -> ChatReply:
    """POST /v1/chat/completions: the conversation (its tools, calls and tool results too) in the model's chat
    format (llmviz.tasks.chat), answered n times; tool_choice decides what the model may write first
    (llmviz.serving.tool_calls)."""
    served.check_model(req.model)
    protocol.refuse_unsupported(req)
    if not req.messages:
        raise protocol.APIError(400, "messages must hold at least one message.", "messages")
    protocol.in_range(req.top_logprobs, 0, protocol.MAX_TOP_LOGPROBS, "top_logprobs")
    max_tokens = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    k = (req.top_logprobs or 0) if req.logprobs else None
    params = protocol.sampling(req, max_tokens, min(protocol.CHAT_DEFAULT_TOKENS, served.limits.max_tokens),
                               served.limits, k)
    params = replace(params, **protocol.adjustments(req, served.tokenizer.vocab_size))
    unknown = next((m.role for m in req.messages if m.role not in chat.ROLES), None)
    if unknown is not None:
        raise protocol.APIError(400, f"unknown chat role {unknown!r}: use one of {', '.join(chat.ROLES)}", "messages")
    tools = _tool_request(req)
    if tools is not None and tools.choice != "required" and not chat.has_tool_calls(served.tokenizer):
        tools = None  # a model that cannot call tools is not shown them: it answers in words
    messages = [{"role": m.role, "content": protocol.text_content(m.content), "tool_calls": m.tool_calls,
                 "tool_call_id": m.tool_call_id} for m in req.messages]
    try:
        history = tool_calls.read_history(messages)
        fmt = chat.format_chat(history, served.tokenizer, tools=tools.tools if tools else ())
        constraint = tool_calls.grammar(served.tokenizer, tools, params.max_tokens) if tools else None
    except LearnerError as e:
        raise protocol.APIError(400, str(e), "tool_choice" if "tool_choice" in str(e) else "messages") from None
    ids = list(fmt.ids) if fmt.ids is not None else protocol.encode(served.tokenizer, fmt.prompt, "messages")
    calls = constraint is not None
    if (req.response_format or {}).get("type") == "json_object":  # JSON mode: every token keeps it a JSON object
        if calls:
            raise protocol.APIError(400, "response_format json_object cannot be combined with tools: send one or the "
                                         "other.", "response_format")
        if not fmt.stop_token_ids or not json_mode.writable(served.tokenizer):
            raise protocol.APIError(400, "response_format json_object needs an instruct model (one with a token that "
                                         "ends its turn) whose vocabulary can write '{' and '}'.", "response_format")
        constraint = json_mode.constraint(served.tokenizer, fmt.stop_token_ids)
    if constraint is None and fmt.forbidden:  # no tool offered: "<|call|>" is never written
        forbid = Forbidden(served.tokenizer.vocab_size, fmt.forbidden)
        constraint = lambda: forbid  # noqa: E731  (SamplingParams.constraint is a factory)
    params = replace(params, stop=params.stop + fmt.stop, stop_token_ids=fmt.stop_token_ids, constraint=constraint)
    jobs = [(ids, protocol.seeded(params, i)) for i in range(req.n or 1)]
    head = _head("chatcmpl", "chat.completion.chunk" if req.stream else "chat.completion", served)
    return ChatReply(head, jobs, len(ids), bool(req.stream), _include_usage(req), logprobs=bool(req.logprobs),
                     tools=tools if calls else None)
