"""Saving and loading a trained model: one `.safetensors` file holding everything needed to use it or
to go on training it.

The file is a standard safetensors file (readable by any safetensors tool):
- tensors `model.<name>`: the weights (the model's state_dict);
- tensors `optim.<i>.<name>`: AdamW's running averages for parameter i, so training resumes exactly;
- header metadata `format` = "llmviz-checkpoint", `version` = "1", and `llmviz`: one JSON document with
  the model configuration, the tokenizer, the training configuration, the history rows, the best
  validation loss, the number of steps trained and the optimizer's settings.
Loading parses only JSON and raw tensor bytes: nothing is ever unpickled, so opening a file someone
sent you cannot run their code.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llmviz.model import LanguageModel, ModelConfig
from llmviz.tokenizers import Tokenizer, tokenizer_from_dict
from llmviz.train import Record, TrainConfig

FORMAT, VERSION = "llmviz-checkpoint", 1
MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


class CheckpointError(ValueError):
    """The file is not a usable llmviz checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model: LanguageModel  # on the CPU, in eval mode
    tokenizer: Tokenizer
    model_config: ModelConfig
    train_config: TrainConfig
    history: tuple = ()  # llmviz.train.Record rows
    best_val_loss: float = float("nan")
    step: int = 0  # optimizer steps trained so far
    optimizer_state: dict | None = None  # for torch.optim.AdamW.load_state_dict, or None
    rng_state: dict | None = None  # {"batches", "torch"}: random generator states, so resuming is seamless
    extra: dict = field(default_factory=dict)  # anything else that was saved (e.g. a corpus name)


def to_bytes(model: LanguageModel, tokenizer: Tokenizer, train_cfg: TrainConfig, history=(), optimizer=None,
             step: int | None = None, extra: dict | None = None, rng_state: dict | None = None) -> bytes:
    """The checkpoint as bytes (for a download button, or to write to disk)."""
    from safetensors.torch import save

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for k, v in (rng_state or {}).items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous()
    optim_meta = None
    if optimizer is not None:
        # an optimizer, or the state_dict of one (a loaded run that has not trained since)
        sd = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        scalars = {}
        for i, state in sd["state"].items():
            for k, v in state.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim.{i}.{k}"] = v.detach().cpu().contiguous()
                else:
                    scalars[f"{i}.{k}"] = v
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
        optim_meta = {"param_groups": groups, "scalars": scalars}
    history = [r._asdict() if hasattr(r, "_asdict") else dict(r) for r in history]
    vals = [r["val_loss"] for r in history if math.isfinite(r["val_loss"])]
    meta = {
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "train_config": train_cfg.to_dict(),
        "history": history,
        "best_val_loss": min(vals) if vals else None,
        "step": step if step is not None else (history[-1]["step"] if history else 0),
        "optimizer": optim_meta,
        "extra": extra or {},
    }
    return save(tensors, metadata={"format": FORMAT, "version": str(VERSION), "llmviz": json.dumps(meta)})


def _header(data: bytes) -> dict:
    if len(data) < 8:
        raise CheckpointError("this is not an llmviz checkpoint: the file is too short to be a safetensors file.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("this is not an llmviz checkpoint: it does not start with a safetensors header "
                              "(the file may be truncated or of another kind).")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not valid JSON.") from None
    if not isinstance(header, dict):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not a JSON object.")
    return header


def from_bytes(data: bytes) -> Checkpoint:
    """Rebuild the model, tokenizer, configurations, history and optimizer state from to_bytes' output."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    meta = _header(data).get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError("this safetensors file was not written by llmviz (it has no llmviz metadata), "
                              "so there is no configuration or tokenizer to rebuild the model from.")
    try:
        version = int(meta.get("version", "0"))
    except ValueError:
        version = -1
    if version != VERSION:
        raise CheckpointError(f"this checkpoint has format version {meta.get('version')!r}; this llmviz reads "
                              f"version {VERSION}.")
    try:
        info = json.loads(meta["llmviz"])
        model_cfg = ModelConfig.from_dict(info["model_config"])
        train_cfg = TrainConfig.from_dict(info["train_config"])
        tokenizer = tokenizer_from_dict(info["tokenizer"])
        history = tuple(Record(**r) for r in info["history"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"this checkpoint's description is damaged ({type(e).__name__}: {e}).") from None
    problems = model_cfg.problems()
    if problems:
        raise CheckpointError("this checkpoint's model configuration is invalid: " + " ".join(problems))
    if tokenizer.vocab_size > model_cfg.vocab_size:
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                              f"{model_cfg.vocab_size}: the file is inconsistent.")
    try:
        tensors = load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the weights in this checkpoint cannot be read ({e}); the file may be truncated.") from None

    model = LanguageModel(model_cfg)
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError("the weights do not match the model configuration saved with them: "
                              + " ".join(line.strip() for line in first[1:4])) from None
    model.eval()

    optimizer_state = None
    if info.get("optimizer"):
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                state.setdefault(int(i), {})[name] = v
        for key, v in info["optimizer"].get("scalars", {}).items():
            i, name = key.split(".", 1)
            state.setdefault(int(i), {})[name] = v
        optimizer_state = {"state": state, "param_groups": info["optimizer"]["param_groups"]}

    rng_state = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")} or None
    best = info.get("best_val_loss")
    return Checkpoint(model, tokenizer, model_cfg, train_cfg, history,
                      float(best) if best is not None else float("nan"), int(info.get("step", 0)),
                      optimizer_state, rng_state, info.get("extra") or {})


def save(path: str | Path, model, tokenizer, train_cfg, history=(), optimizer=None, step=None, extra=None,
         rng_state=None) -> Path:
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(to_bytes(model, tokenizer, train_cfg, history, optimizer, step, extra, rng_state))
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def load(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file() and path.with_name(path.name + ".safetensors").is_file():
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return from_bytes(path.read_bytes())


def _optimizer_of(run):
    # a run loaded from a checkpoint creates its optimizer when it next trains; until then its state waits
    return run.optimizer if run.optimizer is not None else getattr(run, "_optim_state", None)


def run_to_bytes(run, extra: dict | None = None) -> bytes:
    """A TrainingRun's model, tokenizer, history and optimizer state (stop the run first)."""
    return to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, _optimizer_of(run), run.step, extra,
                    run.rng_state())


def save_run(path: str | Path, run, extra: dict | None = None) -> Path:
    return save(path, run.model, run.tokenizer, run.train_cfg, run.history, _optimizer_of(run), run.step, extra,
                run.rng_state())
