"""How big a run is before anything is allocated: its parameters counted on PyTorch's "meta" device
(shapes, no memory), the same limit a checkpoint's model must keep to be loaded (llmviz.io.weights), and
the memory one training step needs, held against the device's. `validate` (llmviz.training.config) asks
here, so the command line, the pages and fine-tuning are all refused in words before a byte is spent.

A step's memory: the weights, their gradients and AdamW's two moments (4 float32 numbers a parameter),
and the activations the backward pass reads. Per token those are, in float32, about (6 + 2·ff_mult)·C
numbers a block (its norms, q, k, v and the attention's output, the feed-forward's hidden layer before and
after its activation; 2·C for LM3's one C-wide layer, 3·ff_mult·C for ReLU²; with dropout, its masks and
the attention's weights written out, 3·heads·T + 2·C) plus 2·C at the ends and
2·vocab for the logits and their gradient. tests/test_training_memory.py holds it against what autograd
really saves for the backward pass: never below it, at most 1.8 times it (the logits' gradient and the
layers' temporaries come on top of what is saved).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import NamedTuple

import torch

MAX_PARAMS = 200_000_000  # parameters of a model llmviz builds or loads
MAX_LAYERS = 1024  # blocks: beyond, the layout itself takes long; far beyond any model this size limit allows
FLOAT = 4  # bytes of a float32


class StepMemory(NamedTuple):
    params: int
    state_bytes: int  # weights, gradients, AdamW's moments
    activation_bytes: int  # what the backward pass reads, for one batch

    @property
    def total(self) -> int:
        return self.state_bytes + self.activation_bytes


def _layers(cfg) -> int:
    return cfg.n_layer + getattr(cfg, "n_encoder_layer", 0)


def parameters(cfg) -> int:
    """The model's parameters, exactly, from two small layouts on the meta device (a model's count grows
    by the same amount with each block, so n blocks need not be laid out)."""
    from llmviz.nn.encoder_decoder import build_model

    def count(**blocks) -> int:
        with torch.device("meta"):
            return build_model(replace(cfg, **blocks)).num_params()

    if hasattr(cfg, "n_encoder_layer"):
        one = count(n_layer=1, n_encoder_layer=1)
        return (one + (cfg.n_layer - 1) * (count(n_layer=2, n_encoder_layer=1) - one)
                + (cfg.n_encoder_layer - 1) * (count(n_layer=1, n_encoder_layer=2) - one))
    one = count(n_layer=1)
    return one + (cfg.n_layer - 1) * (count(n_layer=2) - one)


def activations(cfg, batch_size: int) -> int:
    """Bytes of the activations one training batch keeps for the backward pass (see the module's text)."""
    ffwd = {"none": 0, "relu": 2}.get(cfg.ffwd, (3 if cfg.ffwd == "relu2" else 2) * cfg.ff_mult)
    # dropout keeps its masks, and the attention then keeps its weights (B, heads, T, T) written out
    dropout = (3 * cfg.n_head * cfg.block_size + 2 * cfg.n_embd) if cfg.dropout > 0 else 0
    per_token = _layers(cfg) * ((6 + ffwd) * cfg.n_embd + dropout) + 2 * cfg.n_embd + 2 * cfg.vocab_size
    return FLOAT * batch_size * cfg.block_size * per_token


def step_memory(cfg, batch_size: int) -> StepMemory:
    n = parameters(cfg)
    return StepMemory(n, 4 * FLOAT * n, activations(cfg, batch_size))


def device_bytes(device: str) -> int | None:
    """The memory of the device a run trains on: a GPU's own, or this machine's (None: unknown)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB"


def problems(cfg, batch_size: int, device: str = "cpu") -> list[str]:
    """Why a model of this configuration, trained in batches of batch_size, cannot be built or trained
    here, in plain words (empty: it fits)."""
    if cfg.problems():
        return []  # said by the configuration itself
    if _layers(cfg) > MAX_LAYERS:
        return [f"{_layers(cfg):,} blocks is more than llmviz builds ({MAX_LAYERS:,}); the tutorial's models have 1 to 6."]
    step = step_memory(cfg, batch_size)
    if step.params > MAX_PARAMS:
        return [f"this model would have {step.params:,} parameters; llmviz builds and loads models of at most "
                f"{MAX_PARAMS:,} (the tutorial's largest has about 11 million). Make n_embd or n_layer smaller."]
    have = device_bytes(device)
    if have is not None and step.total > have:
        return [f"one training step would need about {_gb(step.total)} (weights, gradients and AdamW's moments "
                f"{_gb(step.state_bytes)}; the activations of {batch_size:,} sequences of {cfg.block_size:,} tokens "
                f"{_gb(step.activation_bytes)}), more than this {device}'s {_gb(have)} of memory. Make batch_size "
                "(or block_size, n_embd, n_layer) smaller."]
    return []
