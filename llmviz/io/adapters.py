"""Adapters-only files: a model's LoRA adapters (llmviz.nn.lora) alone, a tiny file that goes back onto
the exact base model it was trained on and nowhere else.

The file is a checkpoint file (llmviz.io.fileformat) holding `adapter.<name>` tensors; its description
says "weights": "adapters-only" and carries the base's configuration, tokenizer and weights' sha256.
"""

from __future__ import annotations

from dataclasses import asdict

import torch

from llmviz.io import fileformat
from llmviz.io.description import describe
from llmviz.io.fileformat import CheckpointError
from llmviz.io.validation import Invalid
from llmviz.nn import lora
from llmviz.nn.model import LanguageModel
from llmviz.text.tokenizers import Tokenizer
from llmviz.training.config import TrainConfig


def spec_json(spec: lora.AdapterSpec | None) -> dict | None:
    return {**asdict(spec), "targets": list(spec.targets), "tokens": list(spec.tokens)} if spec else None


def adapter_to_bytes(model: LanguageModel, tokenizer: Tokenizer, train_cfg: TrainConfig, history=(), *,
                     preset: str = "", extra: dict | None = None) -> bytes:
    """Only the LoRA adapters (and what is needed to check they meet their base): a tiny file."""
    if model.adapters is None:
        raise CheckpointError("this model has no adapters to save")
    tensors = {f"adapter.{k}": v.detach().cpu().contiguous() for k, v in lora.adapter_state(model).items()}
    meta = {"architecture": "decoder-only", "weights": "adapters-only", "model_config": model.config.to_dict(),
            "tokenizer": tokenizer.to_dict(), "train_config": train_cfg.to_dict(),
            "history": [r._asdict() for r in history], "preset": preset, "adapters": spec_json(model.adapters),
            "extra": extra or {}}
    return fileformat.write(tensors, meta)


def load_adapter(data: bytes, base):
    """Put an adapter-only file's adapters on `base` (the llmviz.io.checkpoint.Checkpoint of the model they
    were trained on), in place, and return it with them. Another base (other weights, shape or tokenizer)
    is refused."""
    try:
        info = describe(fileformat.read(data)[2])
    except Invalid as e:
        raise CheckpointError(f"this is not an adapter file: {e}.") from None
    if info.weights != "adapters-only" or info.adapters is None:
        raise CheckpointError("this file is a whole model, not adapters: load it with llmviz.io.checkpoint.load.")
    spec = info.adapters.spec()
    if base.model.adapters is not None:
        raise CheckpointError("this base model already carries adapters")
    found = lora.weights_sha256(base.model)
    if info.model_cfg != base.model_config or info.tokenizer != base.tokenizer.to_dict() or found != spec.base_sha256:
        raise CheckpointError(f"these adapters were trained on another base model (weights sha256 "
                              f"{spec.base_sha256[:12]}…, this base has {found[:12]}…): adapters only make sense on "
                              f"the exact weights they were trained against. Load the base they came from.")
    tensors = {k[len("adapter."):]: v for k, v in fileformat.tensors(data, "the adapter weights").items()}
    with torch.device("meta"):  # the adapters' expected names and shapes, before the base is touched
        probe = LanguageModel(info.model_cfg)
        lora.apply_lora(probe, spec.rank, spec.alpha, spec.targets, spec.tokens)
    expected = {k: tuple(v.shape) for k, v in lora.adapter_state(probe).items()}
    if expected != {k: tuple(v.shape) for k, v in tensors.items()}:
        raise CheckpointError("the adapter tensors do not match their description in the file")
    lora.apply_lora(base.model, spec.rank, spec.alpha, spec.targets, spec.tokens)
    base.model.load_state_dict(tensors, strict=False)
    base.model.adapters = base.adapters = spec
    return base
