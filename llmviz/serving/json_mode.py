"""JSON mode (`response_format: {"type": "json_object"}`): decoding constrained so the answer is a JSON object.

The model still chooses every token; before each choice the tokens that could not continue a valid JSON
object are masked (their logit set to -inf, as for a tool call's format). What "could continue" means is a
small pushdown automaton over the answer's bytes (JSON's structure is ASCII; any byte from 0x80 up is
allowed inside a string): a state is (the open brackets, where it is, a detail, spaces in a row), and a token
is allowed from a state when each of its bytes takes the automaton to a next state. Once the object closes,
only the tokens that end the turn are allowed. Whitespace outside strings is limited to MAX_SPACES in a row,
so a model cannot fill its answer with blanks; a string's raw control characters are refused, as JSON does.

    make = json_mode.constraint(tokenizer, end_ids)   # SamplingParams.constraint: one automaton per choice
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

MAX_SPACES = 16  # whitespace characters in a row outside strings (a newline and an indent of 15)
_SPACE, _DIGITS, _HEX = frozenset(b" \t\n\r"), frozenset(b"0123456789"), frozenset(b"0123456789abcdefABCDEF")
_LITERALS = {ord("t"): b"rue", ord("f"): b"alse", ord("n"): b"ull"}
_SPACED = {"start", "value", "key_or_close", "key", "colon", "after", "value_or_close"}
_NUMBER_ENDS = {"n0", "nint", "nfrac", "nexp"}  # a number may end here
START = ("", "start", None, 0)  # (open brackets, mode, detail, spaces in a row)
DONE = ("", "done", None, 0)


def _done(stack: str) -> tuple:
    """A value just ended: what follows it in its container, or the end of the object."""
    return (stack, "after", None, 0) if stack else DONE


def _value(stack: str, b: int):
    if b == ord("{"):
        return (stack + "{", "key_or_close", None, 0)
    if b == ord("["):
        return (stack + "[", "value_or_close", None, 0)
    if b == ord('"'):
        return (stack, "string", (False, 0), 0)
    if b == ord("-"):
        return (stack, "n-", None, 0)
    if b == ord("0"):
        return (stack, "n0", None, 0)
    if b in _DIGITS:
        return (stack, "nint", None, 0)
    if b in _LITERALS:
        return (stack, "lit", _LITERALS[b], 0)
    return None


def _close(stack: str, b: int):
    if stack and b == ord("}" if stack[-1] == "{" else "]"):
        return _done(stack[:-1])
    return None


_NUMBER = {  # mode -> {byte kind: next mode}; a byte of no kind listed ends the number (if it may end)
    "n-": {"0": "n0", "1": "nint"},
    "n0": {".": "n.", "e": "ne"},
    "nint": {"0": "nint", "1": "nint", ".": "n.", "e": "ne"},
    "n.": {"0": "nfrac", "1": "nfrac"},
    "nfrac": {"0": "nfrac", "1": "nfrac", "e": "ne"},
    "ne": {"+": "nes", "0": "nexp", "1": "nexp"},
    "nes": {"0": "nexp", "1": "nexp"},
    "nexp": {"0": "nexp", "1": "nexp"},
}


def _kind(b: int) -> str:
    if b == ord("0"):
        return "0"
    if b in _DIGITS:
        return "1"
    return {ord("."): ".", ord("e"): "e", ord("E"): "e", ord("+"): "+", ord("-"): "+"}.get(b, "")


def step(state: tuple, b: int):
    """The state after one more byte, or None if no JSON object starts with what came and this byte."""
    stack, mode, detail, spaces = state
    if mode == "string":
        is_key, escape = detail
        if escape == 0:
            if b == ord('"'):
                return (stack, "colon", None, 0) if is_key else _done(stack)
            if b == ord("\\"):
                return (stack, "string", (is_key, 1), 0)
            return None if b < 0x20 else state
        if escape == 1:
            if b in b'"\\/bfnrt':
                return (stack, "string", (is_key, 0), 0)
            return (stack, "string", (is_key, -4), 0) if b == ord("u") else None
        return (stack, "string", (is_key, escape + 1), 0) if b in _HEX else None  # \uXXXX: hex digits left
    if mode in _NUMBER:
        nxt = _NUMBER[mode].get(_kind(b))
        if nxt is not None:
            return (stack, nxt, None, 0)
        return step(_done(stack), b) if mode in _NUMBER_ENDS else None
    if mode == "lit":
        if b != detail[0]:
            return None
        return _done(stack) if len(detail) == 1 else (stack, "lit", detail[1:], 0)
    if b in _SPACE and mode in _SPACED:
        return (stack, mode, detail, spaces + 1) if spaces < MAX_SPACES else None
    if mode == "start":
        return ("{", "key_or_close", None, 0) if b == ord("{") else None
    if mode in ("key_or_close", "key"):
        if b == ord('"'):
            return (stack, "string", (True, 0), 0)
        return _close(stack, b) if mode == "key_or_close" else None
    if mode == "colon":
        return (stack, "value", None, 0) if b == ord(":") else None
    if mode == "value":
        return _value(stack, b)
    if mode == "value_or_close":
        return _close(stack, b) or _value(stack, b)
    if mode == "after":
        if b == ord(","):
            return (stack, "key" if stack[-1] == "{" else "value", None, 0)
        return _close(stack, b)
    return None  # done: the object has closed


def feed(state: tuple, data: bytes):
    for b in data:
        state = step(state, b)
        if state is None:
            return None
    return state


class Vocabulary:
    """A tokenizer's tokens as bytes (special tokens: None, never allowed in the object) and the mask of each
    automaton state met so far (the states repeat: inside a string, most tokens lead back to the same one)."""

    def __init__(self, tokenizer):
        from llmviz.text.bpe import BPETokenizer

        n, ordinary = tokenizer.vocab_size, tokenizer.ordinary_vocab_size
        if isinstance(tokenizer, BPETokenizer):
            self.bytes = [tokenizer.vocab[i] if i < ordinary else None for i in range(n)]
        else:
            self.bytes = [tokenizer.decode([i]).encode("utf-8") if i < ordinary else None for i in range(n)]
        self.masks: dict[tuple, torch.Tensor] = {}

    def mask(self, state: tuple, end_ids: Sequence[int]) -> torch.Tensor:
        key = (state, tuple(end_ids))
        got = self.masks.get(key)
        if got is None:
            if state == DONE:
                allowed = [False] * len(self.bytes)
            else:
                allowed = [b is not None and len(b) > 0 and feed(state, b) is not None for b in self.bytes]
            got = torch.tensor(allowed, dtype=torch.bool)
            if state == DONE or not got.any():  # closed, or (a vocabulary missing a needed byte) stuck: end
                got[list(end_ids)] = True
            if len(self.masks) > 20_000:
                self.masks.clear()
            self.masks[key] = got
        return got


@functools.lru_cache(maxsize=8)
def vocabulary(tokenizer) -> Vocabulary:
    return Vocabulary(tokenizer)


class JSONObject:
    """The Constraint (llmviz.nn.sampling) of one answer: allowed() the tokens that keep it a JSON object's
    beginning (or, once it has closed, end_ids: the tokens that end the turn); advance(token) after each."""

    def __init__(self, vocab: Vocabulary, end_ids: Sequence[int]):
        self.vocab, self.end_ids, self.state = vocab, tuple(end_ids), START
        self.masked: list[int] = []  # how many tokens were masked at each step (what the constraint did)

    def allowed(self) -> torch.Tensor:
        mask = self.vocab.mask(self.state, self.end_ids)
        self.masked.append(int((~mask).sum()))
        return mask

    def advance(self, token: int) -> None:
        if token in self.end_ids:
            self.state = DONE
            return
        data = self.vocab.bytes[token] if 0 <= token < len(self.vocab.bytes) else None
        nxt = feed(self.state, data) if data else None
        self.state = nxt if nxt is not None else DONE  # a token the mask did not allow (no constraint given it)

    @property
    def closed(self) -> bool:
        return self.state == DONE


def writable(tokenizer) -> bool:
    """Whether this vocabulary can write the smallest JSON object, "{}"."""
    state = START
    for ch in b"{}":
        if not any(b and b[0] == ch for b in vocabulary(tokenizer).bytes):
            return False
        state = step(state, ch)
    return state == DONE


def constraint(tokenizer, end_ids: Sequence[int]):
    """The factory of each choice's JSONObject (SamplingParams.constraint)."""
    vocab = vocabulary(tokenizer)
    return lambda: JSONObject(vocab, end_ids)
