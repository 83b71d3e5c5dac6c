"""Saving and loading a trained model: one `.safetensors` file holding everything needed to use it or
to go on training it.

The file is a standard safetensors file (readable by any safetensors tool). Format version 2:
- tensors `model.<name>`: the weights (the model's state_dict);
- tensors `optim.<parameter name>.<key>`: AdamW's running averages per parameter, so training resumes
  exactly (kept by name, so they find their parameter whatever is trained or frozen);
- tensors `rng.<stream>`: the random generators' states;
- a model with LoRA adapters (llmviz.nn.lora) keeps them among its `model.*` tensors; an adapter-only
  file (`adapter_to_bytes`) holds just `adapter.<name>` tensors and loads onto its base model alone;
- header metadata `format` = "llmviz-checkpoint", `version` = "2", and `llmviz`: one JSON document with
  the architecture ("decoder-only" or "encoder-decoder"), the model configuration, the tokenizer with its special tokens,
  the training configuration, the history rows, the best validation loss, the number of steps
  trained, the tutorial preset, the adapters' description (rank, alpha, target matrices, and the
  sha256 of the base weights they belong to) and anything else the caller adds.
Version-1 files (no architecture, optimizer state by position) still load.

Loading parses only JSON and raw tensor bytes: nothing is ever unpickled, so opening a file someone
sent you cannot run their code. Nothing in the file is trusted: the header's size is bounded, its
table of tensors is checked against the file's length, the whole description is checked
(llmviz.io.description: every field's type and range, sane upper bounds on every size), the model is
laid out on PyTorch's "meta" device (shapes, no memory) and every declared tensor's name, type and
shape is compared with it, all before a single tensor is read. Only then do the file's tensors become
the weights. Every refusal is a CheckpointError that says what is wrong, never a traceback.
"""

from __future__ import annotations

import math
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from llmviz.io import atomic, fileformat, weights
from llmviz.io.adapters import adapter_to_bytes, load_adapter, spec_json
from llmviz.io.description import CONFIGS, describe
from llmviz.io.fileformat import FORMAT, MAX_FILE, READABLE_VERSIONS, VERSION, CheckpointError
from llmviz.io.validation import Invalid
from llmviz.nn import lora
from llmviz.nn.encoder_decoder import ARCHITECTURES
from llmviz.nn.lora import AdapterSpec
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.saved import tokenizer_from_dict
from llmviz.text.tokenizers import Tokenizer
from llmviz.training.config import TrainConfig

__all__ = ["ARCHITECTURES", "CONFIGS", "FORMAT", "MAX_FILE", "READABLE_VERSIONS", "VERSION", "Checkpoint",
           "CheckpointError", "adapter_to_bytes", "from_bytes", "load", "load_adapter", "run_to_bytes", "save",
           "save_run", "to_bytes"]


@dataclass
class Checkpoint:
    model: LanguageModel  # on the CPU
    tokenizer: Tokenizer
    model_config: ModelConfig
    train_config: TrainConfig
    history: tuple = ()  # llmviz.training.record.Record rows
    best_val_loss: float = float("nan")
    step: int = 0  # optimizer steps trained so far
    optimizer_state: dict | None = None  # parameter name -> AdamW state (llmviz.training.optim.load_state_by_name)
    rng_state: dict | None = None  # {"batches", "torch"}: random generator states, so resuming is seamless
    preset: str = ""  # the tutorial model it is a version of, or ""
    architecture: str = "decoder-only"
    adapters: AdapterSpec | None = None  # the model carries these adapters (llmviz.nn.lora)
    version: int = VERSION  # the format version the file was written in
    extra: dict = field(default_factory=dict)  # anything else that was saved (e.g. a corpus name)


def to_bytes(model: LanguageModel, tokenizer: Tokenizer, train_cfg: TrainConfig, history=(), *,
             optimizer_state: dict | None = None, step: int | None = None, rng_state: dict | None = None,
             preset: str = "", extra: dict | None = None) -> bytes:
    """The checkpoint as bytes (for a download button, or to write to disk)."""
    state = {**lora.base_state(model), **lora.adapter_state(model)}  # refuses merged adapters
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
    for k, v in (rng_state or {}).items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous()
    scalars = {}
    for name, state in (optimizer_state or {}).items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{name}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{name}.{k}"] = v
    history = [r._asdict() if hasattr(r, "_asdict") else dict(r) for r in history]
    vals = [r["val_loss"] for r in history if math.isfinite(r["val_loss"])]
    meta = {
        "architecture": getattr(model, "architecture", "decoder-only"),
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "train_config": train_cfg.to_dict(),
        "history": history,
        "best_val_loss": min(vals) if vals else None,
        "step": step if step is not None else (history[-1]["step"] if history else 0),
        "optimizer": {"scalars": scalars} if optimizer_state else None,
        "preset": preset,
        "adapters": spec_json(model.adapters),
        "extra": extra or {},
    }
    return fileformat.write(tensors, meta)


def from_bytes(data: bytes) -> Checkpoint:
    """Rebuild the model, tokenizer, configurations, history and optimizer state from to_bytes' output.
    Anything else is refused with a CheckpointError in words (see the module's docstring)."""
    try:
        return _from_bytes(data)
    except CheckpointError:
        raise
    except Invalid as e:
        raise CheckpointError(f"this checkpoint's description is invalid: {e}.") from None
    except Exception as e:  # damage no check foresaw: still words for the learner, the traceback to the log
        traceback.print_exc(file=sys.stderr)
        raise CheckpointError(f"this checkpoint could not be read ({type(e).__name__}: {str(e)[:200]}); "
                              "the file may be damaged.") from None


def _from_bytes(data: bytes) -> Checkpoint:
    table, version, raw = fileformat.read(data)  # the table's offsets inside the file, sizes that match
    info = describe(raw)  # types, ranges and sizes of every field
    if info.architecture not in ARCHITECTURES:
        raise CheckpointError(f"this checkpoint holds a {info.architecture!r} model; this llmviz knows "
                              f"{', '.join(ARCHITECTURES)}.")
    model_cfg = info.model_cfg
    problems = model_cfg.problems()
    if problems:
        raise CheckpointError("this checkpoint's model configuration is invalid: " + " ".join(problems))
    problems = replace(info.train_cfg, device="cpu").problems()  # the device: whatever this machine has, when used
    if problems:
        raise CheckpointError("this checkpoint's training configuration is invalid: " + " ".join(problems))
    try:
        tokenizer = tokenizer_from_dict(info.tokenizer)
    except ValueError as e:  # LearnerError included
        raise CheckpointError(f"this checkpoint's tokenizer is invalid: {e}") from None
    source = getattr(tokenizer, "source", None)  # a translation's source side: every id the encoder reads
    if source is not None and source.vocab_size != getattr(model_cfg, "src_vocab_size", None):
        raise CheckpointError(f"the source tokenizer has {source.vocab_size} tokens but the model's source side "
                              f"{getattr(model_cfg, 'src_vocab_size', 0)}: the file is inconsistent.")
    if tokenizer.vocab_size != model_cfg.vocab_size:  # every id the model can write must have a text
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                              f"{model_cfg.vocab_size}: the file is inconsistent.")
    if info.weights == "adapters-only":
        raise CheckpointError("this file holds LoRA adapters only, not a whole model: load it onto the base model "
                              "it was trained on (llmviz.io.checkpoint.load_adapter).")
    adapters = info.adapters.spec() if info.adapters else None
    model = weights.layout(model_cfg, adapters)  # shapes only, no memory
    scalars = info.optimizer.scalars if info.optimizer else None
    weights.check_tensors(table, model, version, scalars or {})
    tensors = fileformat.tensors(data)
    model = weights.assign(model, tensors)
    return Checkpoint(model, tokenizer, model_cfg, info.train_cfg, info.records, info.best_val_loss, info.step,
                      weights.optimizer_state(scalars, tensors, version, model), weights.rng_state(tensors),
                      info.preset, info.architecture, adapters, version, info.extra)


def save(path: str | Path, model, tokenizer, train_cfg, history=(), **kwargs) -> Path:
    """Write to_bytes(...) to path (".safetensors" is added if missing), atomically (llmviz.io.atomic)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    # never leave a half-written checkpoint behind; two writers of one file never share a temporary
    return atomic.write_bytes(path, to_bytes(model, tokenizer, train_cfg, history, **kwargs))


def load(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file() and path.with_name(path.name + ".safetensors").is_file():
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise CheckpointError(f"{path} is {size / 2**30:.1f} GB; llmviz reads checkpoints of at most "
                                  f"{MAX_FILE / 2**30:.0f} GB.")
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    return from_bytes(data)


def _run_fields(run) -> dict:
    return dict(optimizer_state=run.optimizer_state(), step=run.step, rng_state=run.rng_state(), preset=run.preset)


def run_to_bytes(run, extra: dict | None = None) -> bytes:
    """A TrainingRun's model, tokenizer, history and optimizer state (stop the run first)."""
    return to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, extra=extra, **_run_fields(run))


def save_run(path: str | Path, run, extra: dict | None = None) -> Path:
    return save(path, run.model, run.tokenizer, run.train_cfg, run.history, extra=extra, **_run_fields(run))
