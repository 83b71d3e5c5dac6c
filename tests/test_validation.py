"""Untrusted JSON checked the one way llmviz does it: strict pydantic models with explicit bounds, the first
refusal in plain words that name the field; a checkpoint's configurations are checked by models made
from their own dataclasses."""

from dataclasses import dataclass, fields
from typing import Annotated, get_type_hints

import pytest
from annotated_types import MaxLen

from llmviz.io import description
from llmviz.io.validation import Checked, Invalid, check, number, text, whole
from llmviz.nn.encoder_decoder import EncoderDecoderConfig
from llmviz.nn.model import ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.training.record import Record


class Part(Checked):
    size: whole(1, 100) = 1
    rate: number(0.0, 1.0, high_open=True) = 0.5
    name: text(5) = ""


class Whole(Checked):
    parts: Annotated[list[Part], MaxLen(3)] = []
    table: dict[Annotated[str, MaxLen(3)], number(0.0, 1.0)] = {}


@pytest.mark.parametrize("data, words", [
    ({"parts": [{}, {"size": "7"}]}, "parts[1].size must be a whole number, not text ('7')"),
    ({"parts": [{"size": True}]}, "parts[0].size must be a whole number, not true/false (True)"),
    ({"parts": [{"size": 2.0}]}, "parts[0].size must be a whole number, not a number (2.0)"),
    ({"parts": [{"size": 101}]}, "parts[0].size must be between 1 and 100 (it is 101)"),
    ({"parts": [{"size": 10**40}]}, "parts[0].size must be between 1 and 100 (it is a 41-digit number)"),
    ({"parts": [{"rate": 1}]}, "parts[0].rate must be in [0, 1) (it is 1)"),
    ({"parts": [{"rate": float("nan")}]}, "parts[0].rate must be a number, not NaN"),
    ({"parts": [{"rate": "3e-4"}]}, "parts[0].rate must be a number, not text ('3e-4')"),
    ({"parts": [{"name": "toolong"}]}, "parts[0].name is 7 characters long; at most 5 are allowed"),
    ({"parts": [{}] * 4}, "parts has 4 entries; at most 3 are allowed"),
    ({"table": {"a.b": "x"}}, "table['a.b'] must be a number, not text ('x')"),
    ({"table": {"long key": 1.0}}, "table key 'long key' is 8 characters long; at most 3 are allowed"),
    ({"parts": 5}, "parts must be a list, not a whole number (5)"),
    ([], "it must be an object, not a list ([])"),
])
def test_the_first_refusal_names_the_field_in_plain_words(data, words):
    with pytest.raises(Invalid) as refused:
        check(Whole, data)
    assert str(refused.value) == words


def test_what_passes_is_kept_with_numbers_as_numbers():
    checked = check(Whole, {"parts": [{"size": 3, "rate": 0, "unknown": "ignored"}], "table": {"a": 1}})
    assert checked.parts[0] == Part(size=3, rate=0.0) and type(checked.parts[0].rate) is float
    assert checked.table == {"a": 1.0}


def test_a_configuration_is_checked_by_a_model_made_from_its_dataclass():
    @dataclass(frozen=True)
    class Config:
        width: int = 4
        fancy: bool = False  # no bound declared: checked by its type

    model = description.fields_model(Config, {"width": whole(1, 8)})
    assert Config(**check(model, {}).model_dump()) == Config()
    assert check(model, {"width": 8, "fancy": True, "other": 1}).model_dump() == {"width": 8, "fancy": True}
    with pytest.raises(Invalid, match="width must be between 1 and 8"):
        check(model, {"width": 9})
    with pytest.raises(Invalid, match="fancy must be true or false, not text"):
        check(model, {"fancy": "yes"})


def test_every_number_a_checkpoint_describes_has_an_explicit_bound():
    # a field added to a configuration or to the history must say how big it may be, or files could
    # make llmviz allocate anything
    for cls, bounds in ((ModelConfig, description.MODEL_BOUNDS), (EncoderDecoderConfig, description.MODEL_BOUNDS),
                        (TrainConfig, description.TRAIN_BOUNDS), (Record, description.HISTORY_BOUNDS)):
        hints = get_type_hints(cls)
        names = cls._fields if hasattr(cls, "_fields") else [f.name for f in fields(cls)]
        unbounded = [n for n in names if n not in bounds and hints[n] is not bool]
        assert unbounded == [], (cls.__name__, unbounded)
    assert set(description.MODEL_BOUNDS) <= {f.name for f in fields(EncoderDecoderConfig)}
    assert set(description.TRAIN_BOUNDS) <= {f.name for f in fields(TrainConfig)}
