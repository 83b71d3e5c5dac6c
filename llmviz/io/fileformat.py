"""The checkpoint file's format: a standard safetensors file, read without trusting a byte of it.

A safetensors file is 8 bytes (the header's length), a JSON header (each tensor's name, dtype, shape and
byte offsets, plus `__metadata__`: text keys and values) and the tensors' raw bytes. An llmviz file's
metadata says `format` = "llmviz-checkpoint", `version` = "2" (or "1"), and `llmviz`: the description
(a JSON document, checked by llmviz.io.description). Here the header's size is bounded and every table
entry is checked against the file's own length before a single tensor is read; nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Annotated, Literal

from annotated_types import MaxLen
from pydantic import TypeAdapter, ValidationInfo, model_validator

from llmviz.errors import LearnerError
from llmviz.io.validation import Checked, check, refusal, text, whole

FORMAT, VERSION = "llmviz-checkpoint", 2
READABLE_VERSIONS = (1, 2)
MAX_HEADER = 16 * 1024 * 1024  # the JSON header (safetensors allows 100 MB; ours are kilobytes, a big BPE a few MB)
MAX_FILE = 2 * 1024**3  # bytes of a checkpoint file read from disk
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
               "BOOL": 1}


class CheckpointError(LearnerError):
    """The file is not a usable llmviz checkpoint; the message says why."""


class Entry(Checked):
    """One tensor of the table: a known dtype, a shape of whole numbers, byte offsets inside the file that
    match the shape (so nothing is read or allocated beyond the file's own bytes)."""
    dtype: Literal[tuple(DTYPE_BYTES)]
    shape: Annotated[list[whole(0, 2**40)], MaxLen(8)]
    data_offsets: Annotated[list[whole(0, 2**62)], MaxLen(2)]

    @model_validator(mode="after")
    def _inside_the_file(self, info: ValidationInfo) -> "Entry":
        if len(self.data_offsets) != 2:
            raise refusal(("data_offsets",), "must be [begin, end]")
        (begin, end), data_len = self.data_offsets, info.context["data_len"]
        if end < begin:
            raise refusal(("data_offsets",), f"ends at byte {end:,}, before it begins (at {begin:,})")
        if end > data_len:
            raise refusal((), f"ends at byte {end:,} of the data but the file holds {data_len:,}: the file is "
                              "truncated (or damaged)")
        numel = math.prod(self.shape)
        if end - begin != numel * DTYPE_BYTES[self.dtype]:
            raise refusal((), f"declares a shape of {numel:,} values ({numel * DTYPE_BYTES[self.dtype]:,} bytes) "
                              f"but holds {end - begin:,} bytes")
        return self


TABLE = TypeAdapter(dict[text(500), Entry])


def write(tensors: dict, description: dict) -> bytes:
    """The file's bytes: the tensors and the description, with the format's name and version."""
    from safetensors.torch import save

    return save(tensors, metadata={"format": FORMAT, "version": str(VERSION), "llmviz": json.dumps(description)})


def parse_json(text: str | bytes):
    """JSON that may be hostile: deep nesting and giant numbers are refused like any other bad JSON."""
    return json.loads(text)  # RecursionError and the int-digits ValueError are caught by the callers


def header(data: bytes) -> tuple[dict, int]:
    """The safetensors header (a JSON object) and its length."""
    if len(data) < 8:
        raise CheckpointError("this is not an llmviz checkpoint: the file is too short to be a safetensors file.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER and 8 + n <= len(data):
        raise CheckpointError(f"this checkpoint's header is {n:,} bytes; llmviz reads headers of at most "
                              f"{MAX_HEADER:,} bytes.")
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("this is not an llmviz checkpoint: it does not start with a safetensors header "
                              "(the file may be truncated or of another kind).")
    try:
        found = parse_json(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not valid JSON.") from None
    if not isinstance(found, dict):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not a JSON object.")
    return found, n


def tensor_table(found: dict, data_len: int) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (dtype, shape) of every tensor the header declares, each entry checked (see Entry)."""
    entries = {k: v for k, v in found.items() if k != "__metadata__"}
    table = check(TABLE, entries, ("tensors",), context={"data_len": data_len})
    return {name: (e.dtype, tuple(e.shape)) for name, e in table.items()}


def version(meta) -> int:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("this safetensors file was not written by llmviz (it has no llmviz metadata), "
                              "so there is no configuration or tokenizer to rebuild the model from.")
    v = meta.get("version", "0")
    found = int(v) if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 5 else -1
    if found not in READABLE_VERSIONS:
        raise CheckpointError(f"this checkpoint has format version {meta.get('version')!r}; this llmviz reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}.")
    return found


def read(data: bytes) -> tuple[dict, int, object]:
    """The table of tensors, the format version and the description (parsed JSON, not yet checked)."""
    found, n = header(data)
    table = tensor_table(found, len(data) - 8 - n)
    meta = found.get("__metadata__") or {}
    found_version = version(meta)
    doc = meta.get("llmviz")
    if not isinstance(doc, str):
        raise CheckpointError("this checkpoint has no llmviz description (no configuration or tokenizer).")
    try:
        return table, found_version, parse_json(doc)
    except (ValueError, RecursionError):
        raise CheckpointError("this checkpoint's description is not valid JSON.") from None


def tensors(data: bytes, what: str = "the weights in this checkpoint") -> dict:
    """The file's tensors (only once its table has been checked against what they are for)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{what} cannot be read ({e}); the file may be truncated.") from None
