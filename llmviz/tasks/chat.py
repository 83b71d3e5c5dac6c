"""Chat is prompts all the way down (tutorial part 3): the chat format, "memory", the context window, tools.

A chat model sees ONE sequence of tokens. Each turn is a role tag, the text, and an end-of-turn tag:

    <|system|>Be brief.<|end|><|user|>Where is Paris?<|end|><|assistant|>France<|end|>

The tags are special tokens (llmviz.text.tokenizers): one id each, after the ordinary vocabulary. The text
of a turn is always encoded as ordinary text, so a user who types "<|assistant|>" gets those
characters, not a role: the tags can only come from the template.

"Memory" is the conversation pasted back into the prompt at every turn; what no longer fits in the
model's context (block_size) is cut from the front: the model cannot see it, so it forgets it.

A model without chat tokens (a base model) gets a plain transcript it may have seen in its text,
"system: Be brief.\nuser: Hello\nassistant:", and its answer ends where it starts the next "user:" line.
`format_chat` is the one place that maps a conversation to what a model sees: the server, the LangChain
adapters, the chat page and the instruction data all use it, so a model is prompted as it was trained.

Tools (llmviz.tasks.tools) are listed in a system turn at the very start ("tools: calculator(expression)");
a call is an assistant turn that starts with the special token "<|call|>":
`<|assistant|><|call|>calculator{"expression":"123+456"}<|end|>`; the program (never the model, and never
Python's eval) computes it and answers in a tool turn, `<|tool|>579<|end|>`; the assistant then answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from llmviz.errors import LearnerError
from llmviz.nn.model import IGNORE
from llmviz.tasks.tools import CALL, Tool, ToolCall, call_from_openai, format_call, parse_call, tools_text
from llmviz.text.tokenizers import Tokenizer

ROLES = ("system", "user", "assistant", "tool")
ROLE_TOKENS = {r: f"<|{r}|>" for r in ROLES}
END = "<|end|>"  # closes every turn
CHAT_TOKENS = tuple(ROLE_TOKENS.values()) + (END,)  # what a chat model needs (old instruct models have these)
ALL_TOKENS = CHAT_TOKENS + (CALL,)  # with the token that starts a tool call


@dataclass(frozen=True)
class Message:
    role: str  # system, user, assistant or tool
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that calls a tool (one call is what it learns)
    tool_call_id: str = ""  # a tool turn: the call it answers (the API's id; the model never sees it)


def has_chat_template(tokenizer: Tokenizer) -> bool:
    return all(t in tokenizer.special_tokens for t in CHAT_TOKENS)


def has_tool_calls(tokenizer: Tokenizer) -> bool:
    """Whether the model can write a tool call ("<|call|>" is one of its tokens)."""
    return has_chat_template(tokenizer) and CALL in tokenizer.special_tokens


def with_chat_tokens(tokenizer: Tokenizer) -> Tokenizer:
    """The same vocabulary plus the chat's special tokens, "<|call|>" included (their ids come after the
    ordinary tokens and the tokenizer's own special tokens)."""
    extra = [t for t in ALL_TOKENS if t not in tokenizer.special_tokens]
    if not extra:
        return tokenizer
    data = tokenizer.to_dict()
    data["special_tokens"] = [*tokenizer.special_tokens, *extra]
    return type(tokenizer).from_dict(data)


def _message(m) -> Message:
    if isinstance(m, Message):
        return m
    if isinstance(m, Mapping):
        get = m.get
        role = m.get("role")
    else:
        def get(key, default=None):
            return getattr(m, key, default)
        role = m.role
    if role not in ROLES:
        raise LearnerError(f"unknown chat role {role!r}: use one of {', '.join(ROLES)}")
    calls = tuple(call_from_openai(c) for c in (get("tool_calls") or ()))
    if calls and role != "assistant":
        raise LearnerError(f"only the assistant calls tools, not the {role}")
    content = get("content")
    return Message(role, content if isinstance(content, str) else "", calls, get("tool_call_id") or "")


def _check(messages: Iterable) -> list[Message]:
    """Messages (Message, {"role", "content", "tool_calls"?} dicts, or objects with .role and .content)."""
    return [_message(m) for m in messages]


def with_tools(messages: list[Message], tools: Iterable[Tool] = ()) -> list[Message]:
    """The conversation with its tools listed in a system turn at the very start (nothing when no tools)."""
    tools = tuple(tools)
    return [Message("system", tools_text(tools)), *messages] if tools else messages


def encode(tokenizer: Tokenizer, messages, generation_prompt: bool = False,
           tools: Iterable[Tool] = ()) -> tuple[list[int], list[bool]]:
    """The token ids of a conversation, and for each id whether a model learns to write it (the
    assistant's text, its calls and its end tag) or only reads it (everything else: roles, the user, the
    system, the tools' list, tool results). With generation_prompt, the sequence ends with "<|assistant|>":
    the model's turn to write."""
    if not has_chat_template(tokenizer):
        raise LearnerError("this model's tokenizer has no chat tokens: instruction-tune it first")
    ids, learned = [], []
    for m in with_tools(_check(messages), tools):
        tag = [tokenizer.special_id(f"<|{m.role}|>")]
        try:
            if m.tool_calls:
                if not has_tool_calls(tokenizer):
                    raise LearnerError("this model was not tuned to call tools (it has no <|call|> token)")
                body = [tokenizer.special_id(CALL)] + tokenizer.encode_ordinary(format_call(m.tool_calls[0]))
            else:
                body = tokenizer.encode_ordinary(m.content)
            body.append(tokenizer.special_id(END))
        except ValueError as e:
            raise LearnerError(f"the {m.role}'s text cannot be spelled by this model: {e}") from None
        ids += tag + body
        learned += [False] + [m.role == "assistant"] * len(body)
    if generation_prompt:
        ids.append(tokenizer.special_id("<|assistant|>"))
        learned.append(False)
    return ids, learned


def render(tokenizer: Tokenizer, ids) -> str:
    """Ids back to text, the tags written out (what the model sees)."""
    return tokenizer.decode(list(ids))


def training_pair(ids: list[int], learned: list[bool], block_size: int) -> tuple[list[int], list[int]] | None:
    """x and y (y = x shifted by one) of one conversation, y = IGNORE where nothing is learned; None when
    the conversation does not fit the model's context."""
    if len(ids) - 1 > block_size:
        return None
    x = ids[:-1]
    y = [t if learn else IGNORE for t, learn in zip(ids[1:], learned[1:])]
    return x, y


def fit_context(ids: list[int], block_size: int, room: int = 1) -> tuple[list[int], list[int]]:
    """What the model can see of a prompt when it must still write `room` tokens: (forgotten, kept).
    The front is cut: the oldest turns go first."""
    keep = max(1, block_size - room + 1)
    return ids[:-keep] if len(ids) > keep else [], ids[-keep:]


class ChatFormat(NamedTuple):
    prompt: str  # what the model sees, as text (the tags written out)
    stop: tuple[str, ...]  # strings that end the assistant's turn (cut from the answer)
    stop_token_ids: tuple[int, ...]  # special tokens that end it
    template: bool  # True: the tokenizer's chat tokens were used
    ids: tuple[int, ...] | None  # with the template: the prompt's ids (encode them from here, not from the text)
    forbidden: tuple[int, ...] = ()  # tokens the answer may not hold ("<|call|>" when no tool is offered)


def format_chat(messages: Iterable, tokenizer=None, add_generation_prompt: bool = True,
                tools: Iterable[Tool] = ()) -> ChatFormat:
    """A conversation -> what the model is given, and what ends the assistant's answer. With a chat
    template the ids are made turn by turn (the users' text can never become a tag); without one, a
    plain "role: content" transcript. add_generation_prompt=False ends after the last message. `tools`
    are listed in a system turn at the very start.

    The answer ends at "<|end|>" or at any other tag (stop_ids: a model that starts the next turn without
    closing its own has ended it); with no tool offered it may not write "<|call|>" (forbidden), so no tag
    is ever part of the text an answer shows."""
    msgs = _check(messages)
    if tokenizer is not None and has_chat_template(tokenizer):
        tools = tuple(tools)
        ids, _ = encode(tokenizer, msgs, add_generation_prompt, tools)
        forbidden = (tokenizer.special_id(CALL),) if CALL in tokenizer.special_tokens and not tools else ()
        return ChatFormat(render(tokenizer, ids), (), stop_ids(tokenizer), True, tuple(ids), forbidden)
    lines = [f"{m.role}: " + (f"call {format_call(m.tool_calls[0])}" if m.tool_calls else m.content)
             for m in with_tools(msgs, tools)]
    text = "".join(f"{line}\n" for line in lines) + ("assistant:" if add_generation_prompt else "")
    return ChatFormat(text, ("\nuser:", "\nsystem:"), (), False, None)


def stop_ids(tokenizer: Tokenizer) -> tuple[int, ...]:
    """The special tokens that end what an assistant writes: every tag but "<|call|>" (which starts a call
    and is part of the turn); an instruct model closes its turn with "<|end|>"."""
    first = tokenizer.ordinary_vocab_size
    return tuple(first + k for k, t in enumerate(tokenizer.special_tokens) if t != CALL)


def tag_ids(tokenizer: Tokenizer) -> tuple[int, ...]:
    """Every special token's id: what ends a text completion (a text never holds a tag; "<|call|>" included)."""
    first = tokenizer.ordinary_vocab_size
    return tuple(range(first, first + len(tokenizer.special_tokens)))


def assistant_message(text: str) -> Message:
    """What the model wrote in its turn (as decoded, "<|call|>" written out) -> an assistant Message: a tool
    call when it starts with "<|call|>" and parses, otherwise plain text with no tags left in it."""
    if text.startswith(CALL):
        call = parse_call(text[len(CALL):])
        if call is not None:
            return Message("assistant", "", (call,))
    for tag in ALL_TOKENS:
        text = text.replace(tag, "")
    return Message("assistant", text)


def token_kinds(tokenizer: Tokenizer, ids: list[int], learned: list[bool], forgotten: int = 0) -> tuple[list[str], list[str]]:
    """Each token as text and its kind for llmviz.plots.instruct.token_strip: "forgotten" (the first
    `forgotten` tokens, outside the context), "tag", "learned" or "read"."""
    texts, kinds = [], []
    for i, (t, learn) in enumerate(zip(ids, learned)):
        text = tokenizer.decode([t])
        texts.append(text.strip("<|>") if text in ALL_TOKENS else text)  # a tag reads as its name: "user", "end"
        kinds.append("forgotten" if i < forgotten else "tag" if t >= tokenizer.ordinary_vocab_size and not learn
                     else "learned" if learn else "read")
    return texts, kinds
