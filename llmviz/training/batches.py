"""Where a trainer's examples come from (tutorial part 2, "batches"): a batch source.

A language model learns from (x, y) pairs where y is x shifted by one token. The trainer does not
care how they are made: it asks a batch source for `batch(split, batch_size, generator)` and gets a
`Batch` whose `inputs` go to the model and whose `targets` are the tokens to predict. A target equal to
llmviz.nn.model.IGNORE is not learned from, which is how instruction data keeps the prompt out of the loss
and how padded translation pairs hide their padding: those only swap the batch source, not the trainer.

`TextBatches` is the tutorial's source: random windows of one long text, split by position into a
training part and a validation part.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections.abc import Callable
from typing import NamedTuple, Protocol

import torch

from llmviz.errors import LearnerError


class Batch(NamedTuple):
    inputs: dict  # keyword arguments of the model's forward, e.g. {"idx": (B, T) token ids}
    targets: torch.Tensor  # (B, T) the tokens to predict (IGNORE where nothing is to be learned)
    # how this batch's loss is computed, when it is not the next-token cross-entropy of the model's forward
    # (e.g. preference tuning compares two answers against a frozen reference): objective(model, train)
    objective: Callable[[torch.nn.Module, bool], torch.Tensor] | None = None


def batch_loss(model, batch: Batch, train: bool = False) -> torch.Tensor:
    """The loss a trainer minimises on a batch: its own objective, or the model's next-token loss."""
    if batch.objective is not None:
        return batch.objective(model, train)
    return model(**batch.inputs, targets=batch.targets, train=train)[1]


class BatchSource(Protocol):
    """What a trainer needs from its data."""
    splits: tuple[str, ...]  # e.g. ("train", "val"): the trainer learns from "train" and reports every split

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch: ...

    def prompt(self) -> list[int]:
        """A few token ids to start the text samples shown while the model learns."""
        ...


def split_data(ids: torch.Tensor, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut by position: the first part trains, the last val_fraction validates (no shuffling)."""
    n = len(ids) - int(len(ids) * val_fraction)
    return ids[:n], ids[n:]


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None):
    """batch_size random windows of the 1-D token tensor: x (B, T) and y (B, T), y being x shifted by one."""
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,) window starts
    # one gather instead of a Python loop of slices
    windows = data[ix.to(data.device)[:, None] + torch.arange(block_size + 1, device=data.device)]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


def min_tokens(block_size: int, val_fraction: float) -> int:
    """The shortest text whose training and validation splits both hold one example of block_size + 1."""
    need = block_size + 1
    n = need
    while int(n * val_fraction) < need or n - int(n * val_fraction) < need:
        n += 1
    return n


def text_problems(n_tokens: int, block_size: int, val_fraction: float) -> list[str]:
    """Why a text of n_tokens tokens cannot be split into examples of block_size + 1 tokens (empty if it can)."""
    if not 0 < val_fraction < 1:
        return [f"val_fraction must be between 0 and 1 (it is {val_fraction}); the tutorial uses 0.2."]
    n_val = int(n_tokens * val_fraction)
    need = block_size + 1
    for split, n in (("validation", n_val), ("training", n_tokens - n_val)):
        if n < need:
            return [f"The text is too short: {n_tokens:,} tokens, so its {split} split has {n:,}, but one "
                    f"example needs block_size + 1 = {need}. Use a text of at least "
                    f"{min_tokens(block_size, val_fraction):,} tokens (characters, with the character "
                    f"tokenizer) or a smaller block_size."]
    return []


_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # (text, tokenizer, device) -> token ids
_shared_lock = threading.Lock()


def shared_key(text: str, tokenizer, device: str = "cpu") -> tuple[str, str, str]:
    """What makes two runs' token ids the same: the text, the tokenizer (all of it) and the device."""
    return (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest(),
            hashlib.blake2b(json.dumps(tokenizer.to_dict(), sort_keys=True).encode(), digest_size=16).hexdigest(),
            str(device))


def shared_ids(text: str, tokenizer, encode: Callable[[str], object], device: str = "cpu") -> torch.Tensor:
    """The text's token ids (int32 where they fit: half the memory of int64) on `device`, made once and shared
    by every run of this text and tokenizer while one of them holds them (a session's runs of one corpus hold
    one copy, not one each). encode(text) -> ids is called only when no run holds them."""
    key = shared_key(text, tokenizer, device)
    with _shared_lock:
        ids = _shared.get(key)
    if ids is None:
        ids = torch.as_tensor(encode(text))
        ids = (ids.to(torch.int32) if len(ids) and int(ids.max()) < 2**31 else ids.long()).to(device)
        with _shared_lock:
            ids = _shared.setdefault(key, ids)
    return ids


class TextBatches:
    """Random windows of block_size tokens from one token sequence, cut into training and validation."""
    splits = ("train", "val")

    def __init__(self, ids, block_size: int, val_fraction: float, device: str = "cpu"):
        problems = text_problems(len(ids), block_size, val_fraction)
        if problems:
            raise LearnerError(problems[0])
        self.block_size = block_size
        # int32: half the memory of int64 for a long text; each batch is made int64 for the model. Views of
        # the ids (no copy) when they are already int32 on the device, e.g. shared_ids shared by several runs
        ids = torch.as_tensor(ids)
        compact = ids if ids.dtype == torch.int32 else ids.to(torch.int32) if len(ids) and int(ids.max()) < 2**31 \
            else ids.long()
        train, val = split_data(compact.to(device), val_fraction)
        self.data = {"train": train, "val": val}

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        x, y = get_batch(self.data[split], self.block_size, batch_size, generator)
        return Batch({"idx": x.long()}, y.long())

    def prompt(self) -> list[int]:
        return self.data["val"][:1].tolist()  # the first validation token


class WithReference:
    """A batch source plus one more split that is measured but never trained on, e.g. the ORIGINAL text
    while a model is fine-tuned on a new one: its loss going up is forgetting, made visible."""

    def __init__(self, batches: BatchSource, name: str, reference: TextBatches):
        self.inner, self.name, self.reference = batches, name, reference
        self.splits = (*batches.splits, name)

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        if split == self.name:
            return self.reference.batch("val", batch_size, generator)
        return self.inner.batch(split, batch_size, generator)

    def prompt(self) -> list[int]:
        return self.inner.prompt()
