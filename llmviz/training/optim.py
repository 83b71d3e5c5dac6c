"""How the weights move (tutorial part 2, "training"): AdamW (or Muon for the blocks' matrices), the
learning-rate schedule, and the optimizer's memory.

- Only parameters that require gradients are optimised (a frozen body or LoRA adapters train a part).
- Weight decay pulls matrices (2-D and up: linear layers and embeddings) towards zero; biases and
  layer-norm gains are left alone, as in GPT-2 and nanoGPT: shrinking a gain or a bias does not make
  the model simpler, it only fights the layer normalisation.
- AdamW remembers running averages of each parameter's gradient. They are kept by parameter NAME
  (not by position in a list), so a checkpoint's optimizer state finds its parameters again even when
  another set of parameters is trained or frozen.
- optimizer="muon" (the speedrun's recipe, llmviz.training.muon): the 2-D matrices inside the blocks move
  by Muon's orthogonalised momentum at their own rate (muon_lr); embeddings, the head and every vector keep
  AdamW. The schedule scales both rates alike.
- The schedule: warm-up, then constant; a cosine decay to min_lr (lr_decay), or warm-up/constant/decay
  ("WSD", cooldown_frac > 0: constant, then a straight line down to min_lr over the last fraction of steps).
"""

from __future__ import annotations

import math

import torch

from llmviz.training.muon import Muon


def learning_rate_at(step: int, cfg) -> float:
    """Linear warm-up for warmup_iters steps, then constant, a cosine decay to min_lr at max_iters, or
    (cooldown_frac > 0) constant until the last cooldown_frac of the steps and a linear decay to min_lr."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    cooldown = round(cfg.cooldown_frac * cfg.max_iters)
    if cooldown > 0:
        left = cfg.max_iters - step  # steps still to take, this one included
        if left >= cooldown:
            return cfg.learning_rate
        return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * left / cooldown
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


def muon_matrices(model: torch.nn.Module) -> list[str]:
    """The names of the trainable matrices Muon moves: 2-D weights inside the blocks (not an embedding
    table, not the head)."""
    tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return [n for n, p in model.named_parameters()
            if p.requires_grad and p.dim() == 2 and id(p) not in tables and not n.startswith("lm_head")]


class Optimizers:
    """Several optimizers stepped as one (Muon for the matrices, AdamW for the rest). Each group's
    learning rate is the schedule's rate times the group's "lr_scale"."""

    def __init__(self, *parts: torch.optim.Optimizer):
        self.parts = parts

    @property
    def param_groups(self) -> list[dict]:
        return [g for part in self.parts for g in part.param_groups]

    def step(self) -> None:
        for part in self.parts:
            part.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)


def make_optimizer(model: torch.nn.Module, cfg, device: str) -> Optimizers:
    """AdamW for every trainable parameter, or (optimizer="muon") Muon for the blocks' matrices and AdamW
    for the rest."""
    by_muon = set(muon_matrices(model)) if cfg.optimizer == "muon" else set()
    muon = {id(p) for n, p in model.named_parameters() if n in by_muon}
    groups = [{**g, "params": [p for p in g["params"] if id(p) not in muon]} for g in param_groups(model, cfg.weight_decay)]
    groups = [g for g in groups if g["params"]]
    # the fused kernel updates all parameters in one call: most of a tiny model's step is overhead
    parts = [torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2),
                               fused=device in ("cpu", "cuda"))] if groups else []
    if muon:
        matrices = [p for p in model.parameters() if id(p) in muon]
        parts.append(Muon([{"params": matrices, "lr_scale": cfg.muon_lr / cfg.learning_rate}], lr=cfg.muon_lr,
                          momentum=cfg.muon_momentum))
    return Optimizers(*parts)


def _names_in_order(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> list[str]:
    """The parameter names in the order torch's optimizer state_dict numbers them."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for g in optimizer.param_groups for p in g["params"]]


def _parts(optimizer) -> tuple:
    return optimizer.parts if isinstance(optimizer, Optimizers) else (optimizer,)


def state_by_name(optimizer, model: torch.nn.Module) -> dict[str, dict]:
    """The optimizer's memory per parameter name: AdamW's {"step", "exp_avg", "exp_avg_sq"}, Muon's
    {"momentum_buffer"}."""
    out = {}
    for part in _parts(optimizer):
        state = part.state_dict()["state"]
        out.update({name: state[i] for i, name in enumerate(_names_in_order(part, model)) if i in state})
    return out


def load_state_by_name(optimizer, model: torch.nn.Module, by_name: dict[str, dict]) -> None:
    """Give each parameter its saved memory back; parameters without one start fresh. The current
    optimizer's settings (learning rate, betas, this machine's kernel) are kept."""
    for part in _parts(optimizer):
        sd = part.state_dict()
        sd["state"] = {i: by_name[name] for i, name in enumerate(_names_in_order(part, model)) if name in by_name}
        part.load_state_dict(sd)
