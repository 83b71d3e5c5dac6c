"""How the weights move (tutorial part 2, "training"): AdamW, its learning-rate schedule, and its memory.

- Only parameters that require gradients are optimised (a frozen body or LoRA adapters train a part).
- Weight decay pulls matrices (2-D and up: linear layers and embeddings) towards zero; biases and
  layer-norm gains are left alone, as in GPT-2 and nanoGPT: shrinking a gain or a bias does not make
  the model simpler, it only fights the layer normalisation.
- AdamW remembers running averages of each parameter's gradient. They are kept by parameter NAME
  (not by position in a list), so a checkpoint's optimizer state finds its parameters again even when
  another set of parameters is trained or frozen.
"""

from __future__ import annotations

import math

import torch


def learning_rate_at(step: int, cfg) -> float:
    """Linear warm-up for warmup_iters steps, then constant or a cosine decay to min_lr at max_iters."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if not cfg.lr_decay:
        return cfg.learning_rate
    span = max(1, cfg.max_iters - cfg.warmup_iters)
    progress = min(1.0, (step - cfg.warmup_iters) / span)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """The trainable parameters in two groups: matrices that decay, and vectors (biases, gains) that do not."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("nothing to train: every parameter of this model is frozen")
    return [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]


def make_optimizer(model: torch.nn.Module, cfg, device: str) -> torch.optim.AdamW:
    # the fused kernel updates all parameters in one call: most of a tiny model's step is overhead
    fused = device in ("cpu", "cuda")
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.learning_rate,
                             betas=(cfg.beta1, cfg.beta2), fused=fused)


def _names_in_order(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> list[str]:
    """The parameter names in the order torch's optimizer state_dict numbers them."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for g in optimizer.param_groups for p in g["params"]]


def state_by_name(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict[str, dict]:
    """AdamW's memory per parameter name: {name: {"step": ..., "exp_avg": ..., "exp_avg_sq": ...}}."""
    state = optimizer.state_dict()["state"]
    return {name: state[i] for i, name in enumerate(_names_in_order(optimizer, model)) if i in state}


def load_state_by_name(optimizer: torch.optim.Optimizer, model: torch.nn.Module, by_name: dict[str, dict]) -> None:
    """Give each parameter its saved memory back; parameters without one start fresh. The current
    optimizer's settings (learning rate, betas, this machine's kernel) are kept."""
    sd = optimizer.state_dict()
    sd["state"] = {i: by_name[name] for i, name in enumerate(_names_in_order(optimizer, model)) if name in by_name}
    optimizer.load_state_dict(sd)
