"""Tool calls through OpenAI's API (tutorial part 4): the request's `tools` and `tool_choice`, the calls in
a conversation's history, and the one grammar that makes the model write a well-formed call.

The model only ever writes text in the format it was trained on (llmviz.tasks.tools):

    <|call|>calculator{"expression":"123+456"}<|end|>

and the server maps it onto OpenAI's shape, `tool_calls = [{id, type: "function", function: {name,
arguments}}]` with `finish_reason: "tool_calls"`. Which calls it may write is decided token by token
(constrained decoding, `CallGrammar`): every token that could not continue a well-formed call to one of
the listed tools gets probability 0, so an unknown name or broken JSON can never come out of it.

- tool_choice "none": `<|call|>` is masked at every step; the model answers in words;
- "auto": the first token is the model's choice; if it is `<|call|>`, the rest must be a valid call;
- "required": the first token must be `<|call|>`; {"type": "function", "function": {"name": N}}: the same,
  and only N may follow.

Near the end of max_tokens the grammar allows only the shortest way to close the call, so a forced call is
always complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import NamedTuple

import torch

from llmviz.errors import LearnerError
from llmviz.tasks import chat, tools as tool_defs
from llmviz.tasks.tools import CALL, Tool, ToolCall

CHOICES = ("none", "auto", "required")


class ToolRequest(NamedTuple):
    """What a request asks of tools: the tools the model reads, and the ones its call may name."""
    tools: tuple[Tool, ...]  # all the tools listed, in the prompt
    choice: str  # "none", "auto" or "required" (a named function is "required" with one callable tool)
    callable: tuple[Tool, ...]  # the tools a call may name


def call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def read_tools(tools: Sequence | None) -> tuple[Tool, ...]:
    """The request's tools, checked (a LearnerError names what is wrong)."""
    parsed = []
    for k, t in enumerate(tools or ()):
        try:
            parsed.append(tool_defs.from_openai(t))
        except LearnerError as e:
            raise LearnerError(f"tools[{k}]: {e}") from None
    names = [t.name for t in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LearnerError(f"each tool's name must be given once: {', '.join(twice)}")
    return tuple(parsed)


def read_choice(tools: tuple[Tool, ...], tool_choice) -> ToolRequest | None:
    """tool_choice over the request's tools, checked; None without tools."""
    if not tools:
        if tool_choice not in (None, "none"):
            raise LearnerError("tool_choice needs tools: list the tools the model may call")
        return None
    if tool_choice is None or isinstance(tool_choice, str):
        if tool_choice not in (None, *CHOICES):
            raise LearnerError(f"tool_choice must be one of {', '.join(CHOICES)} or "
                               "{\"type\": \"function\", \"function\": {\"name\": ...}}, not " + repr(tool_choice))
        return ToolRequest(tools, tool_choice or "auto", tools)
    fn = tool_choice.get("function") if tool_choice.get("type") == "function" else None
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise LearnerError("a named tool_choice is {\"type\": \"function\", \"function\": {\"name\": ...}}")
    if name not in [t.name for t in tools]:
        raise LearnerError(f"tool_choice names {name!r}, which is not among the tools "
                           f"({', '.join(t.name for t in tools)})")
    return ToolRequest(tools, "required", tuple(t for t in tools if t.name == name))


def read_history(messages: Sequence[dict]) -> list[chat.Message]:
    """OpenAI's messages ({"role", "content", "tool_calls"?, "tool_call_id"?}) as chat Messages: an assistant's
    calls kept, each tool message tied to a call made before it and not answered yet."""
    out, open_calls = [], {}
    for k, m in enumerate(messages):
        role, content = m["role"], m.get("content") or ""
        if role not in chat.ROLES:
            raise LearnerError(f"messages[{k}] has the unknown role {role!r}: use one of {', '.join(chat.ROLES)}")
        calls = ()
        if role == "assistant" and m.get("tool_calls"):
            try:
                pairs = [(c.get("id") or call_id(), tool_defs.call_from_openai(c)) for c in m["tool_calls"]]
            except LearnerError as e:
                raise LearnerError(f"messages[{k}].tool_calls: {e}") from None
            open_calls.update(pairs)
            calls = tuple(c for _, c in pairs)
        tool_call_id = ""
        if role == "tool":
            tool_call_id = m.get("tool_call_id") or ""
            if tool_call_id not in open_calls:
                raise LearnerError(f"messages[{k}] is a tool result for call {tool_call_id!r}, but no assistant "
                                   "message before it made that call: send the assistant's message with its "
                                   "tool_calls first")
            del open_calls[tool_call_id]
        out.append(chat.Message(role, content, tool_calls=calls, tool_call_id=tool_call_id))
    return out


def split(text: str, callable_tools: Sequence[Tool]) -> tuple[str | None, ToolCall | None]:
    """A finished answer as (content, call): a well-formed call to a listed tool gives (None, call);
    anything else is content (a broken or unknown call is never passed off as a call)."""
    if text.startswith(CALL):
        call = tool_defs.parse_call(text[len(CALL):])
        tool = next((t for t in callable_tools if call is not None and t.name == call.name), None)
        if tool is not None and set(call.arguments) == set(tool.parameters):
            return None, call
    return text, None


def openai_call(call: ToolCall, id: str) -> dict:
    return {"id": id, "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, separators=(",", ":"),
                                                                     ensure_ascii=False)}}


# --- the grammar of a call, token by token ---------------------------------------------------------------

def call_pieces(tool: Tool) -> list[str | None]:
    """A call to `tool` as literal pieces and string values (None): ['calculator{"expression":"', None, '"}']."""
    raw = [tool.name, "{"]
    for k, p in enumerate(tool.parameters):
        raw += ([","] if k else []) + [json.dumps(p, ensure_ascii=False), ":", '"', None, '"']
    out: list[str | None] = []
    for piece in raw + ["}"]:
        if piece is not None and out and out[-1] is not None:
            out[-1] += piece
        else:
            out.append(piece)
    return out


def match(text: str, pieces: list[str | None]) -> str | None:
    """How `text` (what follows <|call|>) stands against a call made of `pieces`: None if it cannot begin
    one; otherwise the shortest text that completes it ("" when it is complete)."""
    pos = 0
    for k, piece in enumerate(pieces):
        rest = "".join(p for p in pieces[k + 1:] if p is not None)
        if piece is None:  # a string value: anything but a quote, a backslash or a control character
            while pos < len(text) and text[pos] != '"':
                if text[pos] == "\\" or ord(text[pos]) < 0x20:
                    return None
                pos += 1
            if pos == len(text):
                return rest
            continue
        n = min(len(piece), len(text) - pos)
        if text[pos:pos + n] != piece[:n]:
            return None
        pos += n
        if pos == len(text):
            return piece[n:] + rest
    return "" if pos == len(text) else None


class CallGrammar:
    """A Constraint (llmviz.nn.sampling) for one answer: what tool_choice allows first, then a call's grammar."""

    def __init__(self, tokenizer, request: ToolRequest, max_tokens: int):
        self.vocab = tokenizer.vocab_size
        self.call, self.end = tokenizer.special_id(CALL), tokenizer.special_id(chat.END)
        self.texts = [tokenizer.decode([i]) for i in range(tokenizer.ordinary_vocab_size)]
        self.request, self.budget = request, max_tokens
        self.tools = [t for t in request.callable if _spellable(tokenizer, t)]
        self.pieces = [call_pieces(t) for t in self.tools]
        self.phase = "first"  # then "call" (writing a call) or "text" (answering in words)
        self.text = ""  # the call so far, after <|call|>
        self.steps = 0

    def _only(self, ids) -> torch.Tensor:
        mask = torch.zeros(self.vocab, dtype=torch.bool)
        mask[list(ids) or [self.end]] = True  # nothing fits: end the turn (what was written is no call)
        return mask

    def allowed(self) -> torch.Tensor | None:
        if self.phase == "first" and self.request.choice == "required":
            return self._only([self.call])
        if self.phase in ("first", "text"):
            if self.phase == "first" and self.request.choice == "auto" and self.tools:
                return None
            mask = torch.ones(self.vocab, dtype=torch.bool)
            mask[self.call] = False
            return mask
        closings = [c for c in (match(self.text, p) for p in self.pieces) if c is not None]
        if not closings or "" in closings:
            return self._only([self.end])
        left = self.budget - self.steps
        if left <= min(map(len, closings)) + 1:  # just enough tokens left: the shortest way to close
            shortest = min(closings, key=len)
            return self._only([i for i, t in enumerate(self.texts) if t and shortest.startswith(t)])
        return self._only([i for i, t in enumerate(self.texts)
                           if t and any(match(self.text + t, p) is not None for p in self.pieces)])

    def advance(self, token: int) -> None:
        self.steps += 1
        if self.phase == "first":
            self.phase = "call" if token == self.call else "text"
        elif self.phase == "call" and token < len(self.texts):
            self.text += self.texts[token]


def _spellable(tokenizer, tool: Tool) -> bool:
    try:
        tokenizer.encode_ordinary(tool_defs.format_call(ToolCall(tool.name, {p: "" for p in tool.parameters})))
        return True
    except ValueError:
        return False


def grammar(tokenizer, request: ToolRequest, max_tokens: int):
    """The factory of each choice's CallGrammar (SamplingParams.constraint); refuses what cannot be written."""
    if not chat.has_tool_calls(tokenizer):
        if request.choice == "required":
            raise LearnerError("this model was not trained to call tools (its tokenizer has no <|call|> token): "
                               "instruction-tune it with tools, or send tool_choice \"none\" or \"auto\"")
        return None
    spellable = [t for t in request.callable if _spellable(tokenizer, t)]
    if request.choice == "required" and not spellable:
        raise LearnerError(f"this model's tokenizer cannot spell a call to {', '.join(t.name for t in request.callable)}")
    return lambda: CallGrammar(tokenizer, request, max_tokens)
