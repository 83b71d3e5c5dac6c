"""A training run as an LM page sets it up (tutorial part 2): the preset with the learner's changes,
checked in plain words, with its predicted time; the run built from it, or from a checkpoint to go on
training; and the model's parameters by component for its diagram.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training import pace
from llmviz.training.config import TrainConfig, validate
from llmviz.training.presets import preset_config
from llmviz.training.train import TrainingError, TrainingRun


class Plan(NamedTuple):
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    problems: list[str]  # what stops it from training, in plain words (empty: it can train)
    guess: pace.Prediction | None  # how long it should take (None while it has problems)


def plan(preset: str, vocab_size: int, n_chars: int, model: dict, **train) -> Plan:
    """The preset's network for this vocabulary with the `model` settings changed, the TrainConfig of
    `train` (eval_interval at most max_iters), what is wrong with them for a text of n_chars, and the
    predicted time of the run."""
    model_cfg = replace(preset_config(preset, vocab_size), **model)
    train_cfg = TrainConfig(**{**train, "eval_interval": min(train["eval_interval"], train["max_iters"])})
    problems = validate(model_cfg, train_cfg, n_chars)
    guess = None if problems else pace.predict(model_cfg, train_cfg, train_cfg.device)
    return Plan(model_cfg, train_cfg, problems, guess)


def build(model_cfg, train_cfg, text: str, text_name: str, preset: str, checkpoint=None) -> TrainingRun:
    """A new run on `text`, or a checkpoint that goes on training on it (resumed); a checkpoint that cannot
    train on it (its tokenizer cannot spell it) is loaded for inspection only. Raises TrainingError."""
    if checkpoint is None:
        return TrainingRun.new(model_cfg, train_cfg, text, preset=preset)
    try:
        return TrainingRun.resume(checkpoint, train_cfg, text)
    except TrainingError as e:
        return TrainingRun.inspect(checkpoint, f"it cannot train on the sidebar's text '{text_name}': {e}")


def going_on(checkpoint, more_iters: int, device: str) -> TrainConfig:
    """The checkpoint's own training settings, for more_iters more steps on `device`."""
    return TrainConfig.from_dict({**checkpoint.train_config.to_dict(), "max_iters": checkpoint.step + more_iters,
                                  "device": device})


def param_counts(model_cfg: ModelConfig) -> dict[str, int]:
    """The network's parameters by component, in the order data flows through them."""
    return LanguageModel(model_cfg).param_breakdown()
