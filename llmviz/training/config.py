"""The training settings (tutorial part 2, "hyperparameters"): what the trainer is told, checked in words.

The model's own settings are llmviz.nn.model.ModelConfig; these are how it is trained: the learning rate and
its schedule, the batch, how long, how often the loss is estimated, AdamW's knobs, the split, the seed.
`validate` says every reason a model and these settings cannot train on a text of a given length.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from llmviz.training import memory
from llmviz.training.batches import text_problems
from llmviz.device import PRECISIONS, pick_device
from llmviz.nn.model import ModelConfig

OPTIMIZERS = ("adamw", "muon")


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = field(default=3e-4, metadata={"help": "AdamW step size (the tutorial's value)"})
    batch_size: int = field(default=64, metadata={"help": "sequences per step"})
    max_iters: int = field(default=5000, metadata={
        "help": "optimizer steps in total (a resumed run continues up to this step)"})
    eval_interval: int = field(default=200, metadata={
        "help": "estimate the losses every this many steps (and at the last step)"})
    eval_iters: int = field(default=100, metadata={"help": "batches averaged per split for each estimate"})
    warmup_iters: int = field(default=0, metadata={"help": "steps over which the learning rate ramps up from 0"})
    lr_decay: bool = field(default=False, metadata={"help": "cosine decay from learning_rate to min_lr by max_iters"})
    min_lr: float = field(default=3e-5, metadata={"help": "the learning rate at the end of the cosine decay"})
    grad_clip: float = field(default=0.0, metadata={"help": "clip the gradient norm to this (0: no clipping)"})
    weight_decay: float = field(default=0.01, metadata={
        "help": "AdamW's decoupled weight decay, on matrices only (torch's default value)"})
    beta1: float = field(default=0.9, metadata={"help": "AdamW's momentum of the gradient"})
    beta2: float = field(default=0.999, metadata={"help": "AdamW's momentum of the squared gradient"})
    val_fraction: float = field(default=0.2, metadata={
        "help": "the end of the text held out for validation (the tutorial: 80/20)"})
    seed: int = field(default=1337, metadata={"help": "same seed, same settings, same CPU: the same run"})
    device: str = field(default="auto", metadata={"help": '"auto", "cpu", "cuda" or "mps"'})
    threads: int | None = field(default=None, metadata={"help": "CPU threads (None: chosen from the model size)"})
    sample_tokens: int = field(default=200, metadata={
        "help": "length of the text sample generated at each evaluation (0: none)"})
    precision: str = field(default="auto", metadata={
        "help": '"auto" (bfloat16 on a GPU that has it, float32 elsewhere), "float32" or "bfloat16"'})
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the training steps (a compilation first; pays off on a GPU)"})
    target_loss: float = field(default=0.0, metadata={
        "help": "stop as soon as a validation estimate is at or below this (0: never)"})
    optimizer: str = field(default="adamw", metadata={
        "help": '"adamw", or "muon": the blocks\' matrices move by orthogonalised momentum (the speedrun), the rest by AdamW'})
    muon_lr: float = field(default=0.02, metadata={"help": "Muon's step size for the blocks' matrices"})
    muon_momentum: float = field(default=0.95, metadata={"help": "Muon's momentum (Nesterov's)"})
    cooldown_frac: float = field(default=0.0, metadata={
        "help": "> 0: warm-up, constant, then a linear decay to min_lr over this last fraction of the steps (WSD)"})

    def problems(self) -> list[str]:
        """What makes these settings unusable, in plain words (empty when they are fine)."""
        out = []
        for name in ("learning_rate", "min_lr", "grad_clip", "weight_decay", "beta1", "beta2", "val_fraction"):
            if not math.isfinite(getattr(self, name)):
                out.append(f"{name} must be a finite number (it is {getattr(self, name)}).")
        if out:
            return out
        if self.learning_rate <= 0:
            out.append(f"The learning rate must be positive (it is {self.learning_rate}); the tutorial uses 3e-4.")
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be at least 1 (it is {getattr(self, name)}).")
        if self.warmup_iters < 0 or self.min_lr < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            out.append("warmup_iters, min_lr, grad_clip and weight_decay cannot be negative.")
        if self.lr_decay and self.min_lr > self.learning_rate:
            out.append(f"min_lr ({self.min_lr}) is above the learning rate ({self.learning_rate}): the decay would go up.")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            out.append("beta1 and beta2 must be in [0, 1).")
        if not 0 < self.val_fraction < 1:
            out.append(f"val_fraction must be between 0 and 1 (it is {self.val_fraction}); the tutorial uses 0.2.")
        if not 0 <= self.seed < 2**63:
            out.append(f"seed must be between 0 and 2**63 - 1 (it is {self.seed}).")
        if self.sample_tokens < 0:
            out.append(f"sample_tokens cannot be negative (it is {self.sample_tokens}).")
        if self.threads is not None and self.threads < 1:
            out.append(f"threads must be at least 1 (it is {self.threads}).")
        if self.precision not in PRECISIONS:
            out.append(f"precision must be one of {', '.join(PRECISIONS)} (it is {self.precision!r}).")
        if self.optimizer not in OPTIMIZERS:
            out.append(f"optimizer must be one of {', '.join(OPTIMIZERS)} (it is {self.optimizer!r}).")
        if not (math.isfinite(self.muon_lr) and self.muon_lr > 0):
            out.append(f"muon_lr must be a positive number (it is {self.muon_lr}).")
        if not (math.isfinite(self.muon_momentum) and 0 <= self.muon_momentum < 1):
            out.append(f"muon_momentum must be in [0, 1) (it is {self.muon_momentum}).")
        if not (math.isfinite(self.cooldown_frac) and 0 <= self.cooldown_frac <= 1):
            out.append(f"cooldown_frac is a fraction of the steps, from 0 to 1 (it is {self.cooldown_frac}).")
        if not (math.isfinite(self.target_loss) and self.target_loss >= 0):
            out.append(f"target_loss must be 0 (never stop early) or a positive loss (it is {self.target_loss}).")
        try:
            pick_device(self.device)
        except ValueError as e:
            out.append(str(e))
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})



def validate(model_cfg: ModelConfig, train_cfg: TrainConfig, n_tokens: int) -> list[str]:
    """Every reason these settings cannot train on a text of n_tokens tokens, in plain words."""
    out = model_cfg.problems() + train_cfg.problems()
    if not out:  # its size and a step's memory, predicted before anything is allocated
        out += memory.problems(model_cfg, train_cfg.batch_size, pick_device(train_cfg.device))
    if 0 < train_cfg.val_fraction < 1:
        out += text_problems(n_tokens, model_cfg.block_size, train_cfg.val_fraction)
    return out
