"""Chat as text (tutorial part 3, "roles"): a conversation is turned into the one string a language
model continues, and back.

A model only ever continues text. A chat is a list of messages with roles (system, user, assistant,
tool); to "answer", the model continues a transcript that ends where the assistant's turn begins.

- An instruct model's tokenizer has special tokens for the roles ("<|system|>", "<|user|>",
  "<|assistant|>", "<|tool|>") and "<|end|>" closing each turn: its template is

      <|system|>Be brief.<|end|>
      <|user|>Hello<|end|>
      <|assistant|>

  and the assistant's answer ends when the model writes "<|end|>".
- A base model (no such tokens) gets a plain transcript it may have seen in its text,
  "system: Be brief.\\nuser: Hello\\nassistant:", and stops when it starts the next "user:" line.

`format_chat` is the one place that knows this mapping: the server, the LangChain adapter and the
instruct-tuning data all call it, so a model is always prompted the way it was trained.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from llmviz.errors import LearnerError

ROLES = ("system", "user", "assistant", "tool")
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>", "tool": "<|tool|>"}
END = "<|end|>"  # closes every turn of the template
TEMPLATE_TOKENS = (ROLE_TOKENS["system"], ROLE_TOKENS["user"], ROLE_TOKENS["assistant"], END)


class ChatFormat(NamedTuple):
    prompt: str  # the text the model continues
    stop: tuple[str, ...]  # strings that end the assistant's turn (cut from the answer)
    stop_token_ids: tuple[int, ...]  # special tokens that end it
    template: bool  # True: the tokenizer's chat special tokens were used


def has_chat_template(tokenizer) -> bool:
    """Whether the tokenizer has the special tokens of the chat template (an instruct model's)."""
    specials = set(getattr(tokenizer, "special_tokens", ()) or ())
    return all(t in specials for t in TEMPLATE_TOKENS)


def _messages(messages: Iterable) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        role, content = (m["role"], m.get("content")) if isinstance(m, Mapping) else (m.role, m.content)
        if role not in ROLES:
            raise LearnerError(f"unknown chat role {role!r}: use one of {', '.join(ROLES)}")
        out.append((role, content or ""))
    return out


def format_chat(messages: Iterable, tokenizer=None, add_generation_prompt: bool = True) -> ChatFormat:
    """Messages ({"role", "content"} dicts, or objects with .role and .content) -> the prompt text, and what
    ends the assistant's answer. With add_generation_prompt=False the transcript ends after the last
    message (how a whole conversation is written as training data)."""
    msgs = _messages(messages)
    if tokenizer is not None and has_chat_template(tokenizer):
        text = "".join(f"{ROLE_TOKENS[r]}{c}{END}\n" for r, c in msgs)
        if add_generation_prompt:
            text += ROLE_TOKENS["assistant"]
        return ChatFormat(text, (), (tokenizer.special_id(END),), True)
    text = "".join(f"{r}: {c}\n" for r, c in msgs)
    if add_generation_prompt:
        text += "assistant:"
    return ChatFormat(text, tuple(f"\n{r}:" for r in ("user", "system")), (), False)
