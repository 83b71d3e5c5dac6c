"""Checking untrusted JSON, the one way llmviz does it: pydantic models, strict (a number where a number
belongs, never "3e-4" turned into one), with explicit bounds on every size, and the first refusal put in
plain words that name the field ("history[0].train_loss must be a number, not text ('abc')").

The server's requests are pydantic models too (llmviz.serving.protocol); this module adds what an
untrusted file needs on top: whole numbers and numbers within bounds, bounded text, and the words.
Each refusal is an `Invalid`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from annotated_types import MaxLen
from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


class Invalid(ValueError):
    """Untrusted data breaks its model; the message says which field and why."""


class Checked(BaseModel):
    """A part of an untrusted document: strict types; unknown fields are ignored (never kept)."""
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def kind(value) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def whole(lo: int, hi: int):
    """A whole number (not true/false, not 2.0) in [lo, hi]."""
    def within(value: int) -> int:
        if not lo <= value <= hi:
            it = f"{value:,}" if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"
            raise ValueError(f"must be between {lo:,} and {hi:,} (it is {it})")
        return value
    return Annotated[int, Strict(), AfterValidator(within)]


def number(lo: float, hi: float, *, nan: bool = False, low_open: bool = False, high_open: bool = False):
    """A number (a whole one is taken as a float) in [lo, hi], either end open; NaN only if `nan`."""
    def within(value: float) -> float:
        if math.isnan(value):
            if nan:
                return value
            raise ValueError("must be a number, not NaN")
        below = value <= lo if low_open else value < lo
        above = value >= hi if high_open else value > hi
        if below or above or math.isinf(value):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise ValueError(f"must be in {left}{lo:g}, {hi:g}{right} (it is {value:g})")
        return value
    return Annotated[float, Strict(), AfterValidator(within)]


def text(max_len: int = 200):
    return Annotated[str, Strict(), MaxLen(max_len)]


def distinct(what: str):
    """A list whose entries are all different; `what` says the repeat ("repeats a word")."""
    def check(items: list) -> list:
        if len(set(items)) != len(items):
            raise ValueError(what)
        return items
    return AfterValidator(check)


def refusal(loc: tuple, words: str, value: Any = None) -> ValidationError:
    """A refusal at `loc` (relative to the part being checked), to raise from a validator that looks at
    several fields at once."""
    return ValidationError.from_exception_data("refused", [InitErrorDetails(
        type=PydanticCustomError("refused", "{words}", {"words": words}), loc=loc, input=value)])


def where(loc: tuple) -> str:
    """A pydantic location in the words of JSON: model_config.n_layer, history[3].lr, scalars['a.b']."""
    parts = []
    for i, part in enumerate(loc):
        if part == "[key]":  # the key itself was refused, not its value
            parts[-1] = f" key {show(loc[i - 1])}"
        elif isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if part.isidentifier() else f"[{show(part)}]")
    return "".join(parts).removeprefix(".")


def words(error: dict) -> str:
    """One pydantic error in plain words."""
    at, kind_, value, ctx = where(error["loc"]), error["type"], error.get("input"), error.get("ctx") or {}
    expected = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false",
                "string_type": "text", "list_type": "a list", "dict_type": "an object", "model_type": "an object",
                "model_attributes_type": "an object"}
    if kind_ in expected:
        said = f"must be {expected[kind_]}, not {kind(value)} ({show(value)})"
    elif kind_ == "missing":
        return f"it has no {at}"
    elif kind_ == "too_long":
        entries = "keys" if ctx.get("field_type") == "Dictionary" else "entries"
        said = f"has {ctx['actual_length']:,} {entries}; at most {ctx['max_length']:,} are allowed"
    elif kind_ == "string_too_short":
        said = "is empty" if ctx["min_length"] == 1 else f"must have at least {ctx['min_length']:,} characters"
    elif kind_ == "string_too_long":
        said = f"is {len(value):,} characters long; at most {ctx['max_length']:,} are allowed"
    elif kind_ == "literal_error":
        said = f"must be one of {ctx['expected']} (it is {show(value)})"
    elif kind_ == "value_error":
        said = str(ctx["error"])
    elif kind_ == "refused":
        said = ctx["words"]
    else:  # a check with no words of its own here: pydantic's
        said = error["msg"][0].lower() + error["msg"][1:]
    return f"{at or 'it'} {said}"


def check(model, data, prefix: tuple = (), context: dict | None = None):
    """`data` validated by `model` (a pydantic model, or a TypeAdapter); the first refusal as an Invalid."""
    validate = model.validate_python if isinstance(model, TypeAdapter) else model.model_validate
    try:
        return validate(data, strict=True, context=context)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise Invalid(words({**first, "loc": prefix + tuple(first["loc"])})) from None
