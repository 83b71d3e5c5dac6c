"""Checking an untrusted checkpoint's description before anything is built from it.

A checkpoint file may come from anyone. Its JSON description (llmviz.io.checkpoint) is checked field by
field against what llmviz itself writes: every type (a number where a number belongs, not "abc"),
every range (no negative steps, no NaN learning rate), and every size against sane upper bounds (a
model of at most MAX_PARAMS parameters, a tokenizer of at most MAX_VOCAB tokens, at most MAX_HISTORY
history rows, ...), so that nothing huge is allocated and no page trips later over a string where it
expected a loss. Each failure is an `Invalid` whose message names the field and says what was wrong,
in plain words; llmviz.io.checkpoint turns it into a CheckpointError.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields

from llmviz.device import PRECISIONS

# sane upper bounds: far above the tutorial's largest model (10.8 M parameters, 65 tokens, 256 positions)
MAX_PARAMS = 200_000_000  # parameters of the model a file describes
MAX_VOCAB = 1_000_000  # tokens of a tokenizer, rows of an embedding
LIMITS = {"vocab_size": MAX_VOCAB, "block_size": 65_536, "n_embd": 16_384, "n_head": 256, "n_layer": 128,
          "ff_mult": 64, "src_vocab_size": MAX_VOCAB, "src_block_size": 65_536, "n_encoder_layer": 128}
MAX_STEP = 10**9  # optimizer steps
MAX_HISTORY = 200_000  # rows of the training history
MAX_SPECIAL = 1_000  # special tokens
MAX_TOKEN_CHARS = 1_000  # characters of one word or special token
MAX_TOKEN_BYTES = 4_096  # bytes of one BPE token
MAX_VOCAB_BYTES = 16 * 1024 * 1024  # bytes of all BPE tokens together
MAX_KEYS = 200  # keys of a configuration object
DEVICES = ("auto", "cpu", "cuda", "mps")
ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class Invalid(ValueError):
    """The description breaks the schema; the message says which field and why."""


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind(value) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def integer(value, where: str, lo: int = 0, hi: int = MAX_STEP) -> int:
    if type(value) is not int:
        raise Invalid(f"{where} must be a whole number, not {_kind(value)} ({_show(value)})")
    if not lo <= value <= hi:
        raise Invalid(f"{where} must be between {lo:,} and {hi:,} (it is {value:,})" if abs(value) < 10**30
                      else f"{where} must be between {lo:,} and {hi:,} (it is a {len(str(abs(value)))}-digit number)")
    return value


def number(value, where: str, lo: float = -math.inf, hi: float = math.inf, *, nan: bool = False,
           low_open: bool = False, high_open: bool = False) -> float:
    if type(value) not in (int, float):
        raise Invalid(f"{where} must be a number, not {_kind(value)} ({_show(value)})")
    value = float(value)
    if math.isnan(value):
        if nan:
            return value
        raise Invalid(f"{where} must be a number, not NaN")
    below = value <= lo if low_open else value < lo
    above = value >= hi if high_open else value > hi
    if below or above or math.isinf(value):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise Invalid(f"{where} must be in {left}{lo:g}, {hi:g}{right} (it is {value:g})")
    return value


def boolean(value, where: str) -> bool:
    if type(value) is not bool:
        raise Invalid(f"{where} must be true or false, not {_kind(value)} ({_show(value)})")
    return value


def text(value, where: str, max_len: int = 200, choices=None) -> str:
    if type(value) is not str:
        raise Invalid(f"{where} must be text, not {_kind(value)} ({_show(value)})")
    if len(value) > max_len:
        raise Invalid(f"{where} is {len(value):,} characters long; at most {max_len:,} are allowed")
    if choices is not None and value not in choices:
        raise Invalid(f"{where} must be one of {', '.join(map(repr, choices))} (it is {_show(value)})")
    return value


def a_list(value, where: str, max_len: int) -> list:
    if type(value) is not list:
        raise Invalid(f"{where} must be a list, not {_kind(value)} ({_show(value)})")
    if len(value) > max_len:
        raise Invalid(f"{where} has {len(value):,} entries; at most {max_len:,} are allowed")
    return value


def an_object(value, where: str, max_keys: int = MAX_KEYS) -> dict:
    if type(value) is not dict:
        raise Invalid(f"{where} must be an object, not {_kind(value)} ({_show(value)})")
    if len(value) > max_keys:
        raise Invalid(f"{where} has {len(value):,} keys; at most {max_keys:,} are allowed")
    return value


# --- the parts of a checkpoint's description -----------------------------------------------------------

def model_config(data, architecture: str = "decoder-only") -> dict:
    """The fields of the architecture's configuration (ModelConfig, or EncoderDecoderConfig for an
    encoder-decoder), each of its type and within LIMITS (missing ones keep their defaults)."""
    from llmviz.nn.model import FFWD_KINDS, ModelConfig
    from llmviz.nn.encoder_decoder import EncoderDecoderConfig

    data = an_object(data, "model_config")
    out = {}
    for f in fields(EncoderDecoderConfig if architecture == "encoder-decoder" else ModelConfig):
        if f.name not in data:
            continue
        v, where = data[f.name], f"model_config.{f.name}"
        if f.name in LIMITS:
            out[f.name] = integer(v, where, 1, LIMITS[f.name])
        elif f.name == "ffwd":
            out[f.name] = text(v, where, choices=FFWD_KINDS)
        elif f.name == "dropout":
            out[f.name] = number(v, where, 0.0, 1.0, high_open=True)
        elif f.name == "init_std":
            out[f.name] = number(v, where, 0.0, 10.0)
        elif str(f.type) in ("bool", "<class 'bool'>"):
            out[f.name] = boolean(v, where)
        else:  # a field added later without a rule here: its type at least
            default = f.default
            if type(v) is not type(default):
                raise Invalid(f"{where} must be {_kind(default)}, not {_kind(v)} ({_show(v)})")
            out[f.name] = v
    return out


_TRAIN_RULES = {
    "learning_rate": lambda v, w: number(v, w, 0.0, 10.0, low_open=True),
    "batch_size": lambda v, w: integer(v, w, 1, 65_536),
    "max_iters": lambda v, w: integer(v, w, 1, MAX_STEP),
    "eval_interval": lambda v, w: integer(v, w, 1, MAX_STEP),
    "eval_iters": lambda v, w: integer(v, w, 1, 100_000),
    "warmup_iters": lambda v, w: integer(v, w, 0, MAX_STEP),
    "lr_decay": boolean,
    "min_lr": lambda v, w: number(v, w, 0.0, 10.0),
    "grad_clip": lambda v, w: number(v, w, 0.0, 1e6),
    "weight_decay": lambda v, w: number(v, w, 0.0, 10.0),
    "beta1": lambda v, w: number(v, w, 0.0, 1.0, high_open=True),
    "beta2": lambda v, w: number(v, w, 0.0, 1.0, high_open=True),
    "val_fraction": lambda v, w: number(v, w, 0.0, 1.0, low_open=True, high_open=True),
    "seed": lambda v, w: integer(v, w, 0, 2**63 - 1),
    "device": lambda v, w: text(v, w, choices=DEVICES),
    "threads": lambda v, w: None if v is None else integer(v, w, 1, 1024),
    "sample_tokens": lambda v, w: integer(v, w, 0, 100_000),
    "precision": lambda v, w: text(v, w, choices=PRECISIONS),
    "compile": boolean,
    "target_loss": lambda v, w: number(v, w, 0.0, 1e6),
}


def train_config(data) -> dict:
    """The TrainConfig fields, each of its type and range (missing ones keep their defaults)."""
    from llmviz.training.config import TrainConfig

    data = an_object(data, "train_config")
    out = {}
    for f in fields(TrainConfig):
        if f.name in data:
            rule = _TRAIN_RULES.get(f.name)
            v, where = data[f.name], f"train_config.{f.name}"
            if rule is None:  # a field added later without a rule here: its type at least
                if type(v) is not type(f.default):
                    raise Invalid(f"{where} must be {_kind(f.default)}, not {_kind(v)} ({_show(v)})")
                out[f.name] = v
            else:
                out[f.name] = rule(v, where)
    return out


def _specials(data, where: str) -> list[str]:
    specials = a_list(data.get("special_tokens", []), f"{where}.special_tokens", MAX_SPECIAL)
    for i, s in enumerate(specials):
        text(s, f"{where}.special_tokens[{i}]", MAX_TOKEN_CHARS)
        if not s:
            raise Invalid(f"{where}.special_tokens[{i}] is empty")
    if len(set(specials)) != len(specials):
        raise Invalid(f"{where}.special_tokens repeats a token")
    return specials


def tokenizer(data, where: str = "tokenizer", pair: bool = True) -> dict:
    """A tokenizer's to_dict form: its kind, its vocabulary (distinct entries of sane sizes), special tokens;
    a translation's "pair" holds one such tokenizer per side."""
    from llmviz.text.bpe import GPT2_SPLIT_PATTERN

    data = an_object(data, where)
    kinds = ("char", "words", "bpe") + (("pair",) if pair else ())
    kind = text(data.get("kind"), f"{where}.kind", choices=kinds)
    if kind == "pair":
        for side in ("source", "target"):
            tokenizer(data.get(side), f"{where}.{side}", pair=False)
        return data
    specials = _specials(data, where)
    if kind == "char":
        chars = a_list(data.get("chars"), f"{where}.chars", MAX_VOCAB)
        for i, c in enumerate(chars):
            if type(c) is not str or len(c) != 1:
                raise Invalid(f"{where}.chars[{i}] must be one character, not {_show(c)}")
        if len(set(chars)) != len(chars):
            raise Invalid(f"{where}.chars repeats a character")
        n = len(chars)
    elif kind == "words":
        words = a_list(data.get("words"), f"{where}.words", MAX_VOCAB)
        for i, w in enumerate(words):
            text(w, f"{where}.words[{i}]", MAX_TOKEN_CHARS)
        if len(set(words)) != len(words):
            raise Invalid(f"{where}.words repeats a word")
        n = len(words)
    else:
        pattern = data.get("pattern")
        if pattern is not None and pattern != GPT2_SPLIT_PATTERN:
            raise Invalid(f"{where}.pattern is a split pattern llmviz does not use (it uses GPT-2's, or none)")
        merges = a_list(data.get("merges", []), f"{where}.merges", MAX_VOCAB)
        lengths, total = [1] * 256, 256
        for k, m in enumerate(merges):
            at = f"{where}.merges[{k}]"
            an_object(m, at)
            ids = a_list(m.get("pair"), f"{at}.pair", 2)
            if len(ids) != 2:
                raise Invalid(f"{at}.pair must hold two token ids")
            a = integer(ids[0], f"{at}.pair[0]", 0, len(lengths) - 1)
            b = integer(ids[1], f"{at}.pair[1]", 0, len(lengths) - 1)
            for key in ("count", "n_tokens"):
                if key in m:
                    integer(m[key], f"{at}.{key}", 0, 10**15)
            size = lengths[a] + lengths[b]
            if size > MAX_TOKEN_BYTES:
                raise Invalid(f"{at} makes a token of {size:,} bytes; at most {MAX_TOKEN_BYTES:,} are allowed")
            total += size
            if total > MAX_VOCAB_BYTES:
                raise Invalid(f"{where}.merges spell more than {MAX_VOCAB_BYTES:,} bytes of tokens")
            lengths.append(size)
        n = len(lengths)
    if n + len(specials) > MAX_VOCAB:
        raise Invalid(f"the tokenizer has {n + len(specials):,} tokens; at most {MAX_VOCAB:,} are allowed")
    return data


_RECORD = {"step": lambda v, w: integer(v, w, 0, MAX_STEP),
           "train_loss": lambda v, w: number(v, w, 0.0, 1e6), "val_loss": lambda v, w: number(v, w, 0.0, 1e6),
           "lr": lambda v, w: number(v, w, 0.0, 10.0), "tokens_per_s": lambda v, w: number(v, w, 0.0, 1e15),
           "elapsed": lambda v, w: number(v, w, 0.0, 1e12)}


def _other(value, where: str) -> dict | None:
    """A history row's further figures: null, or names -> numbers (other splits' losses, accuracies)."""
    if value is None:
        return None
    value = an_object(value, where, 100)
    for k, v in value.items():
        text(k, f"{where} key", 100)
        number(v, f"{where}[{_show(k)}]", -1e12, 1e12, nan=True)
    return value


def history(rows) -> list[dict]:
    """The training history: rows of the Record fields, numbers where numbers belong."""
    rows = a_list(rows, "history", MAX_HISTORY)
    out = []
    for i, row in enumerate(rows):
        where = f"history[{i}]"
        an_object(row, where)
        keys = set(row) - {"other"}
        if keys != set(_RECORD):
            missing, unknown = sorted(set(_RECORD) - keys), sorted(keys - set(_RECORD))
            raise Invalid(f"{where} must have the fields {', '.join(_RECORD)}"
                          + (f"; it lacks {', '.join(missing)}" if missing else "")
                          + (f"; it has unknown {', '.join(map(_show, unknown[:3]))}" if unknown else ""))
        checked = {k: rule(row[k], f"{where}.{k}") for k, rule in _RECORD.items()}
        if "other" in row:
            checked["other"] = _other(row["other"], f"{where}.other")
        out.append(checked)
    return out


def adapters(data) -> dict | None:
    if data is None:
        return None
    data = an_object(data, "adapters")
    targets = a_list(data.get("targets"), "adapters.targets", 16)
    for i, t in enumerate(targets):
        text(t, f"adapters.targets[{i}]", 50)
    sha = text(data.get("base_sha256"), "adapters.base_sha256", 64)
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise Invalid("adapters.base_sha256 must be 64 hexadecimal digits")
    return {"rank": integer(data.get("rank"), "adapters.rank", 1, 4096),
            "alpha": number(data.get("alpha"), "adapters.alpha", 0.0, 1e6), "targets": targets, "base_sha256": sha}


def optimizer_scalars(data) -> dict:
    """{"scalars": {"<parameter>.<key>": number}} or null: AdamW's non-tensor state."""
    if data is None:
        return {}
    data = an_object(data, "optimizer")
    scalars = an_object(data.get("scalars", {}), "optimizer.scalars", 100_000)
    for key, v in scalars.items():
        if "." not in key:
            raise Invalid(f"optimizer.scalars key {_show(key)} must be '<parameter>.<state>'")
        number(v, f"optimizer.scalars[{_show(key)}]", 0.0, 1e15)
    return scalars


def description(info) -> dict:
    """The whole llmviz document, checked; returns it with the parts made safe to use."""
    from llmviz.training.presets import PRESETS

    info = an_object(info, "the description")
    for key in ("model_config", "tokenizer", "train_config", "history"):
        if key not in info:
            raise Invalid(f"it has no {key}")
    extra = an_object(info.get("extra") or {}, "extra", 10_000)
    presets = ("",) + tuple(PRESETS)
    if "preset" in extra:
        text(extra["preset"], "extra.preset", 50, presets)
    best = info.get("best_val_loss")
    architecture = text(info.get("architecture", "decoder-only"), "architecture", 100)
    return {
        "architecture": architecture,
        "model_config": model_config(info["model_config"], architecture),
        "train_config": train_config(info["train_config"]),
        "tokenizer": tokenizer(info["tokenizer"]),
        "history": history(info["history"]),
        "best_val_loss": float("nan") if best is None else number(best, "best_val_loss", 0.0, 1e6, nan=True),
        "step": integer(info.get("step", 0), "step", 0, MAX_STEP),
        "optimizer": info.get("optimizer") and optimizer_scalars(info["optimizer"]),
        "has_optimizer": bool(info.get("optimizer")),
        "preset": text(info.get("preset", extra.get("preset", "")) or "", "preset", 50, presets),
        "adapters": adapters(info.get("adapters")),
        "weights": text(info.get("weights", "full"), "weights", 20, ("full", "adapters-only")),
        "extra": extra,
    }


# --- the table of tensors of a safetensors file ---------------------------------------------------------

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1}


def tensor_table(header: dict, data_len: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor the header declares, each entry checked: a known dtype, a
    shape of whole numbers, byte offsets inside the file that match the shape (so nothing is read or
    allocated beyond the file's own bytes)."""
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        where = f"tensor {_show(name)}"
        if len(name) > 500:
            raise Invalid(f"a tensor name is {len(name):,} characters long")
        an_object(entry, where)
        dtype = text(entry.get("dtype"), f"{where} dtype", 10, tuple(DTYPE_BYTES))
        shape = a_list(entry.get("shape"), f"{where} shape", 8)
        numel = 1
        for i, d in enumerate(shape):
            numel *= integer(d, f"{where} shape[{i}]", 0, 2**40)
        offsets = a_list(entry.get("data_offsets"), f"{where} data_offsets", 2)
        if len(offsets) != 2:
            raise Invalid(f"{where} data_offsets must be [begin, end]")
        begin = integer(offsets[0], f"{where} data_offsets[0]", 0, 2**62)
        end = integer(offsets[1], f"{where} data_offsets[1]", begin, 2**62)
        if end > data_len:
            raise Invalid(f"{where} ends at byte {end:,} of the data but the file holds {data_len:,}: the file is "
                          "truncated (or damaged)")
        if end - begin != numel * DTYPE_BYTES[dtype]:
            raise Invalid(f"{where} declares a shape of {numel:,} values ({numel * DTYPE_BYTES[dtype]:,} bytes) "
                          f"but holds {end - begin:,} bytes")
        out[name] = (dtype, tuple(shape))
    return out
