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

A tool call is an assistant turn in a fixed format, `calc(123+456)`; the program (never the model, and
never Python's eval) computes it and answers in a `tool` turn; the assistant then answers from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from llmviz.errors import LearnerError
from llmviz.nn.model import IGNORE
from llmviz.text.tokenizers import CharTokenizer, Tokenizer

ROLES = ("system", "user", "assistant", "tool")
ROLE_TOKENS = {r: f"<|{r}|>" for r in ROLES}
END = "<|end|>"  # closes every turn
CHAT_TOKENS = tuple(ROLE_TOKENS.values()) + (END,)


@dataclass(frozen=True)
class Message:
    role: str  # system, user, assistant or tool
    content: str


def has_chat_template(tokenizer: Tokenizer) -> bool:
    return all(t in tokenizer.special_tokens for t in CHAT_TOKENS)


def with_chat_tokens(tokenizer: CharTokenizer) -> CharTokenizer:
    """The same characters plus the chat's special tokens (their ids come after the characters)."""
    if has_chat_template(tokenizer):
        return tokenizer
    extra = [t for t in CHAT_TOKENS if t not in tokenizer.special_tokens]
    return CharTokenizer(tokenizer.chars, special_tokens=[*tokenizer.special_tokens, *extra])


def _check(messages: Iterable) -> list[Message]:
    """Messages ({"role", "content"} dicts, or objects with .role and .content) as Message."""
    out = []
    for m in messages:
        role, content = (m["role"], m.get("content")) if isinstance(m, Mapping) else (m.role, m.content)
        if role not in ROLES:
            raise LearnerError(f"unknown chat role {role!r}: use one of {', '.join(ROLES)}")
        out.append(Message(role, content or ""))
    return out


def encode(tokenizer: Tokenizer, messages, generation_prompt: bool = False) -> tuple[list[int], list[bool]]:
    """The token ids of a conversation, and for each id whether a model learns to write it (the
    assistant's text and its end tag) or only reads it (everything else: roles, the user, the system, tool
    results). With generation_prompt, the sequence ends with "<|assistant|>": the model's turn to write."""
    if not has_chat_template(tokenizer):
        raise LearnerError("this model's tokenizer has no chat tokens: instruction-tune it first")
    ids, learned = [], []
    for m in _check(messages):
        tag = [tokenizer.special_id(f"<|{m.role}|>")]
        try:
            body = tokenizer.encode_ordinary(m.content) + [tokenizer.special_id(END)]
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


def format_chat(messages: Iterable, tokenizer=None, add_generation_prompt: bool = True) -> ChatFormat:
    """A conversation -> what the model is given, and what ends the assistant's answer. With a chat
    template the ids are made turn by turn (the users' text can never become a tag); without one, a
    plain "role: content" transcript. add_generation_prompt=False ends after the last message."""
    msgs = _check(messages)
    if tokenizer is not None and has_chat_template(tokenizer):
        ids, _ = encode(tokenizer, msgs, add_generation_prompt)
        return ChatFormat(render(tokenizer, ids), (), (tokenizer.special_id(END),), True, tuple(ids))
    text = "".join(f"{m.role}: {m.content}\n" for m in msgs) + ("assistant:" if add_generation_prompt else "")
    return ChatFormat(text, ("\nuser:", "\nsystem:"), (), False, None)


# --- tools ------------------------------------------------------------------------------------------

_CALL = re.compile(r"^calc\((\d{1,6})\s*([+\-*])\s*(\d{1,6})\)$")


def parse_call(text: str) -> tuple[int, str, int] | None:
    """calc(a+b), calc(a-b) or calc(a*b) with whole numbers -> (a, op, b); anything else -> None."""
    m = _CALL.match(text.strip())
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def calculator(text: str) -> str:
    """The tool: computes a well-formed call; a malformed one gets an error message (nothing is evaluated)."""
    call = parse_call(text)
    if call is None:
        return "error: expected calc(<number><+ - *><number>)"
    a, op, b = call
    return str(a + b if op == "+" else a - b if op == "-" else a * b)


def token_kinds(tokenizer: Tokenizer, ids: list[int], learned: list[bool], forgotten: int = 0) -> tuple[list[str], list[str]]:
    """Each token as text and its kind for llmviz.plots.instruct.token_strip: "forgotten" (the first
    `forgotten` tokens, outside the context), "tag", "learned" or "read"."""
    texts, kinds = [], []
    for i, (t, learn) in enumerate(zip(ids, learned)):
        text = tokenizer.decode([t])
        texts.append(text.strip("<|>") if text in CHAT_TOKENS else text)  # a tag reads as its name: "user", "end"
        kinds.append("forgotten" if i < forgotten else "tag" if t >= tokenizer.ordinary_vocab_size and not learn
                     else "learned" if learn else "read")
    return texts, kinds
