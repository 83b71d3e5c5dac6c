"""A checkpoint's description (its `llmviz` metadata), checked before anything is built from it.

A checkpoint file may come from anyone. Its JSON description is checked, field by field, by the pydantic
models below (llmviz.io.validation): every type (a number where a number belongs, not "abc"), every
range (no negative steps, no NaN learning rate), and every size against sane upper bounds (a tokenizer
of at most MAX_VOCAB tokens, at most MAX_HISTORY history rows, ...), so that nothing huge is allocated
and no page trips later over a string where it expected a loss. The configurations' models are made from
their dataclasses' own fields (a field added there is checked by its type at once) with the bounds
declared here; what a configuration means (n_embd divisible by n_head, ...) stays in its `.problems()`.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Annotated, Any, Literal, get_type_hints

from annotated_types import MaxLen, MinLen
from pydantic import (AfterValidator, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationInfo, create_model,
                      field_validator, model_validator)

from llmviz.device import PRECISIONS
from llmviz.io.validation import Checked, check, distinct, number, refusal, show, text, whole
from llmviz.nn.encoder_decoder import EncoderDecoderConfig
from llmviz.nn.lora import AdapterSpec
from llmviz.nn.model import FFWD_KINDS, ModelConfig
from llmviz.text.bpe import GPT2_SPLIT_PATTERN
from llmviz.training.config import OPTIMIZERS, TrainConfig
from llmviz.training.presets import PRESETS
from llmviz.training.record import Record

# sane upper bounds: far above the tutorial's largest model (10.8 M parameters, 65 tokens, 256 positions)
MAX_VOCAB = 1_000_000  # tokens of a tokenizer, rows of an embedding
MAX_STEP = 10**9  # optimizer steps
MAX_HISTORY = 200_000  # rows of the training history
MAX_SPECIAL = 1_000  # special tokens
MAX_TOKEN_CHARS = 1_000  # characters of one word or special token
MAX_TOKEN_BYTES = 4_096  # bytes of one BPE token
MAX_VOCAB_BYTES = 16 * 1024 * 1024  # bytes of all BPE tokens together
DEVICES = ("auto", "cpu", "cuda", "mps")
CONFIGS = {"decoder-only": ModelConfig, "encoder-decoder": EncoderDecoderConfig}  # one per ARCHITECTURES

# the bounds of the configurations' fields; a field without one here is checked by its type
MODEL_BOUNDS = {
    "vocab_size": whole(1, MAX_VOCAB), "block_size": whole(1, 65_536), "n_embd": whole(1, 16_384),
    "n_head": whole(1, 256), "n_layer": whole(1, 128), "ff_mult": whole(1, 64), "ffwd": Literal[FFWD_KINDS],
    "dropout": number(0.0, 1.0, high_open=True), "init_std": number(0.0, 10.0),
    "src_vocab_size": whole(1, MAX_VOCAB), "src_block_size": whole(1, 65_536), "n_encoder_layer": whole(1, 128),
}
TRAIN_BOUNDS = {
    "learning_rate": number(0.0, 10.0, low_open=True), "batch_size": whole(1, 65_536),
    "max_iters": whole(1, MAX_STEP), "eval_interval": whole(1, MAX_STEP), "eval_iters": whole(1, 100_000),
    "warmup_iters": whole(0, MAX_STEP), "min_lr": number(0.0, 10.0), "grad_clip": number(0.0, 1e6),
    "weight_decay": number(0.0, 10.0), "beta1": number(0.0, 1.0, high_open=True),
    "beta2": number(0.0, 1.0, high_open=True), "val_fraction": number(0.0, 1.0, low_open=True, high_open=True),
    "seed": whole(0, 2**63 - 1), "device": Literal[DEVICES], "threads": whole(1, 1024) | None,
    "sample_tokens": whole(0, 100_000), "precision": Literal[PRECISIONS], "target_loss": number(0.0, 1e6),
    "optimizer": Literal[OPTIMIZERS], "muon_lr": number(0.0, 10.0, low_open=True),
    "muon_momentum": number(0.0, 1.0, high_open=True), "cooldown_frac": number(0.0, 1.0),
}
HISTORY_BOUNDS = {  # one row of the training history: a Record
    "step": whole(0, MAX_STEP), "train_loss": number(0.0, 1e6), "val_loss": number(0.0, 1e6),
    "lr": number(0.0, 10.0), "tokens_per_s": number(0.0, 1e15), "elapsed": number(0.0, 1e12),
    # further figures: other splits' losses, accuracies
    "other": Annotated[dict[text(100), number(-1e12, 1e12, nan=True)], MaxLen(100)] | None,
}


def fields_model(cls, bounds: dict, base: type[Checked] = Checked) -> type[Checked]:
    """The pydantic model of a dataclass's (or NamedTuple's) fields: each with its bound from `bounds`,
    or its own type, and its own default."""
    hints = get_type_hints(cls)
    if hasattr(cls, "_fields"):  # a NamedTuple
        defaults = {name: cls._field_defaults.get(name, ...) for name in cls._fields}
    else:
        defaults = {f.name: f.default for f in fields(cls)}
    return create_model(cls.__name__, __base__=base,
                        **{name: (bounds.get(name, hints[name]), default) for name, default in defaults.items()})


class _Row(Checked):
    @model_validator(mode="before")
    @classmethod
    def _all_fields(cls, row):
        if isinstance(row, dict):
            need = [name for name in Record._fields if name != "other"]
            keys = set(row) - {"other"}
            if keys != set(need):
                missing, unknown = [k for k in need if k not in keys], sorted(keys - set(need), key=str)
                raise ValueError(f"must have the fields {', '.join(need)}"
                                 + (f"; it lacks {', '.join(missing)}" if missing else "")
                                 + (f"; it has unknown {', '.join(map(show, unknown[:3]))}" if unknown else ""))
        return row


CONFIG_MODELS = {architecture: fields_model(cfg, MODEL_BOUNDS) for architecture, cfg in CONFIGS.items()}
TRAIN_MODEL = fields_model(TrainConfig, TRAIN_BOUNDS)
Row = fields_model(Record, HISTORY_BOUNDS, _Row)


# --- tokenizers, in their to_dict form --------------------------------------------------------------------

def _one_character(c: str) -> str:
    if len(c) != 1:
        raise ValueError(f"must be one character, not {show(c)}")
    return c


class _Vocabulary(Checked):
    special_tokens: Annotated[list[Annotated[str, MinLen(1), MaxLen(MAX_TOKEN_CHARS)]], MaxLen(MAX_SPECIAL),
                              distinct("repeats a token")] = []

    def ordinary(self) -> int:
        raise NotImplementedError

    @model_validator(mode="after")
    def _bounded(self):
        n = self.ordinary() + len(self.special_tokens)
        if n > MAX_VOCAB:
            raise refusal((), f"has {n:,} tokens; at most {MAX_VOCAB:,} are allowed")
        return self


class Chars(_Vocabulary):
    chars: Annotated[list[Annotated[str, AfterValidator(_one_character)]], MaxLen(MAX_VOCAB),
                     distinct("repeats a character")]

    def ordinary(self) -> int:
        return len(self.chars)


class Words(_Vocabulary):
    words: Annotated[list[text(MAX_TOKEN_CHARS)], MaxLen(MAX_VOCAB), distinct("repeats a word")]

    def ordinary(self) -> int:
        return len(self.words)


class Merge(Checked):
    pair: Annotated[list[whole(0, MAX_VOCAB)], MaxLen(2)]
    count: whole(0, 10**15) = 0
    n_tokens: whole(0, 10**15) = 0


def _gpt2_or_none(pattern: str | None) -> str | None:
    if pattern is not None and pattern != GPT2_SPLIT_PATTERN:
        raise ValueError("is a split pattern llmviz does not use (it uses GPT-2's, or none)")
    return pattern


class BPE(_Vocabulary):
    pattern: Annotated[str | None, AfterValidator(_gpt2_or_none)] = None
    merges: Annotated[list[Merge], MaxLen(MAX_VOCAB)] = []

    def ordinary(self) -> int:
        return 256 + len(self.merges)

    @field_validator("merges")
    @classmethod
    def _spelled(cls, merges: list[Merge]) -> list[Merge]:
        """Each merge joins two tokens made before it, into a token of a bounded number of bytes."""
        lengths, total = [1] * 256, 256
        for k, m in enumerate(merges):
            if len(m.pair) != 2:
                raise refusal((k, "pair"), "must hold two token ids")
            for side, i in enumerate(m.pair):
                if i >= len(lengths):
                    raise refusal((k, "pair", side), f"must be between 0 and {len(lengths) - 1:,} (it is {i:,})", i)
            size = lengths[m.pair[0]] + lengths[m.pair[1]]
            if size > MAX_TOKEN_BYTES:
                raise refusal((k,), f"makes a token of {size:,} bytes; at most {MAX_TOKEN_BYTES:,} are allowed")
            total += size
            if total > MAX_VOCAB_BYTES:
                raise refusal((), f"spell more than {MAX_VOCAB_BYTES:,} bytes of tokens")
            lengths.append(size)
        return merges


def by_kind(models: dict[str, type[Checked]]):
    """A tokenizer's to_dict form, checked by the model of its "kind" (and kept as it is)."""
    def checked(data: dict) -> dict:
        kind = data.get("kind")
        if not (isinstance(kind, str) and kind in models):
            raise refusal(("kind",), f"must be one of {', '.join(map(repr, models))} (it is {show(kind)})", kind)
        models[kind].model_validate(data)
        return data
    return Annotated[dict, AfterValidator(checked)]


SIDES = {"char": Chars, "words": Words, "bpe": BPE}


class Pair(Checked):
    """A translation's tokenizers: one per side."""
    source: by_kind(SIDES)
    target: by_kind(SIDES)


# --- the whole description ------------------------------------------------------------------------------

def _hexadecimal(sha: str) -> str:
    if sha and not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError("must be 64 hexadecimal digits")
    return sha


NULL = Field(None, validate_default=True)  # a field left out reads as null: "must be a list, not null"


class Adapters(Checked):
    targets: Annotated[list[text(50)], MaxLen(16)] = NULL
    base_sha256: Annotated[text(64), AfterValidator(_hexadecimal)] = NULL
    rank: whole(1, 4096) = NULL
    alpha: number(0.0, 1e6) = NULL
    tokens: Annotated[list[whole(0, 10_000_000)], MaxLen(100_000)] = []  # files before it: none

    def spec(self) -> AdapterSpec:
        return AdapterSpec(self.rank, self.alpha, tuple(self.targets), self.base_sha256, tuple(self.tokens))


def _named_state(key: str) -> str:
    if "." not in key:
        raise ValueError("must be '<parameter>.<state>'")
    return key


class Optimizer(Checked):
    """AdamW's state that is not a tensor: "<parameter>.<key>" -> number."""
    scalars: Annotated[dict[Annotated[str, AfterValidator(_named_state)], number(0.0, 1e15)], MaxLen(100_000)] = {}


def _model_config(data, info: ValidationInfo) -> ModelConfig:
    """The configuration of the description's architecture (a ModelConfig for an unknown one)."""
    architecture = info.data.get("architecture")
    checked = CONFIG_MODELS.get(architecture, CONFIG_MODELS["decoder-only"]).model_validate(data)
    return CONFIGS.get(architecture, ModelConfig)(**checked.model_dump())


def _train_config(data) -> TrainConfig:
    return TrainConfig(**TRAIN_MODEL.model_validate(data).model_dump())


class Description(Checked):
    """The llmviz document of a checkpoint (or of an adapters-only file), checked."""
    model_config = ConfigDict(protected_namespaces=())

    architecture: text(100) = "decoder-only"  # an unknown one is named by llmviz.io.checkpoint
    model_cfg: Annotated[ModelConfig, PlainValidator(_model_config)] = Field(alias="model_config")
    tokenizer: by_kind({**SIDES, "pair": Pair})
    train_cfg: Annotated[TrainConfig, PlainValidator(_train_config)] = Field(alias="train_config")
    history: Annotated[list[Row], MaxLen(MAX_HISTORY)]
    best_val_loss: Annotated[number(0.0, 1e6, nan=True) | None,
                             AfterValidator(lambda v: math.nan if v is None else v)] = math.nan
    step: whole(0, MAX_STEP) = 0
    optimizer: Annotated[Optimizer | None, BeforeValidator(lambda v: v or None)] = None  # None: not saved
    preset: Annotated[Literal[("",) + tuple(PRESETS)], BeforeValidator(lambda v: v or "")] = ""
    adapters: Adapters | None = None
    weights: Literal["full", "adapters-only"] = "full"
    extra: Annotated[dict[str, Any], MaxLen(10_000), BeforeValidator(lambda v: v or {})] = {}

    @model_validator(mode="before")
    @classmethod
    def _preset_of_version_1(cls, info):
        """Version 1 kept the preset among the extras."""
        if isinstance(info, dict) and "preset" not in info and isinstance(info.get("extra"), dict):
            return {**info, "preset": info["extra"].get("preset", "")}
        return info

    @property
    def records(self) -> tuple[Record, ...]:
        return tuple(Record(**row.model_dump()) for row in self.history)


def describe(info) -> Description:
    """The whole llmviz document, checked (an Invalid in words if it is not what llmviz writes)."""
    return check(Description, info)
