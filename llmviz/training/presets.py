"""The tutorial's models, LM1 ... LM5 and two more, as named settings of the one network in llmviz.nn.model.

Each preset is typed: a `ModelConfig` (what the network is) and a `TrainConfig` (how the tutorial
trains it). Every preset is checked when this module is imported, so a typo or an impossible value
fails at once, not when a learner presses Train.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmviz.nn.model import ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.nn.encoder_decoder import EncoderDecoderConfig, architecture_of

# the tutorial's training settings for LM1-LM5
TUTORIAL_TRAINING = TrainConfig(learning_rate=3e-4, batch_size=64, max_iters=5000, eval_interval=200, eval_iters=100)


@dataclass(frozen=True)
class Preset:
    title: str
    description: str  # what this model adds and why, in one paragraph
    model: ModelConfig  # vocab_size is a placeholder (65): it follows the text the model trains on
    train: TrainConfig = TUTORIAL_TRAINING

    @property
    def architecture(self) -> str:
        """"decoder-only" (LM1-LM5) or "encoder-decoder" (the translation transformer)."""
        return architecture_of(self.model)


_SMALL = dict(block_size=16, n_embd=32, n_head=2, dropout=0.0)
_NO_EXTRAS = dict(pos_emb=False, ffwd="none", residual=False, layer_norm=False)
_LM5 = dict(causal=True, proj=True, pos_emb=True, ffwd="mlp", ff_mult=4, residual=True, layer_norm=True)


def _small(**kw) -> ModelConfig:
    """The tutorial's small size (block 16, n_embd 32, 2 heads, no dropout) with what this model changes."""
    return ModelConfig(**{**_SMALL, **kw})


PRESETS: dict[str, Preset] = {
    "lm1": Preset(
        "LM1 · one attention head (unmasked)",
        "Token embedding -> one attention head -> a linear layer to the vocabulary. Nothing stops a "
        "position from attending to the tokens after it, so during training its attention also averages "
        "the characters to come, the one it must predict among them: its loss looks better, but at "
        "generation time the future is not there and the samples are garbage. This is the 'cheating' model.",
        _small(n_head=1, n_layer=1, causal=False, proj=False, **_NO_EXTRAS),
    ),
    "lm1-masked": Preset(
        "LM1 · masked attention",
        "The same single head, with the causal mask: attention scores to later positions are set to "
        "-inf before the softmax, so each position only sees itself and the past. The loss is now "
        "honest (higher than the cheating model's) and the samples start to look like text.",
        _small(n_head=1, n_layer=1, causal=True, proj=False, **_NO_EXTRAS),
    ),
    "lm2": Preset(
        "LM2 · multi-head attention + positions",
        "Several smaller heads look for different things in parallel and a projection mixes their "
        "results; a learned position embedding tells the model where each token sits, which plain "
        "attention (a weighted average) cannot know.",
        _small(n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="none", residual=False,
               layer_norm=False),
    ),
    "lm3": Preset(
        "LM3 · + a feed-forward layer",
        "Attention gathers information from other positions; a feed-forward layer (Linear + ReLU) then "
        "lets each position think about what it gathered, on its own.",
        _small(n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="relu", residual=False,
               layer_norm=False),
    ),
    "lm4": Preset(
        "LM4 · stacked blocks with residual connections",
        "Four transformer blocks (attention + a 4x wider two-layer feed-forward) one after the other. "
        "Each block adds its result to its input (x + f(x)), a residual path that lets gradients reach "
        "the first blocks, so depth helps instead of hurting.",
        _small(n_layer=4, **{**_LM5, "layer_norm": False}),
    ),
    "lm5": Preset(
        "LM5 · layer normalisation + dropout",
        "Layer normalisation before each sub-layer and before the head keeps activations at a steady "
        "scale so training stays stable; dropout (off at this small size) fights over-fitting once "
        "the model is scaled up. Two blocks already match LM4's four.",
        _small(n_layer=2, **_LM5),
    ),
    "lm5-scaled": Preset(
        "LM5 · scaled up (10.8 M parameters)",
        "LM5 with a 256-character context, 384-wide embeddings, 6 heads, 6 blocks and dropout 0.2: the "
        "size of nanoGPT's 'baby GPT'. It writes convincing pseudo-Shakespeare, but needs a GPU: one "
        "step takes tens of seconds on a small CPU.",
        ModelConfig(block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2, **_LM5),
        replace(TUTORIAL_TRAINING, eval_interval=500, eval_iters=200),
    ),
    "fast-cpu": Preset(
        "LM5 · fast on a CPU",
        "Not in the tutorial: the quickest way we measured to a validation loss of 1.88 on Tiny Shakespeare "
        "(90/10 split) on a small CPU: about 24 s on two idle cores, under a quarter of the time nanoGPT's CPU "
        "recipe takes there (bench/bench_fast_cpu.py --to-target). LM5's shape with a 64-character context and "
        "96-wide embeddings in 2 blocks of 4 heads, GPT-2's small initial weights, and a high learning rate "
        "that warms up for 50 steps and then decays along a cosine over 1100 steps of 16 sequences.",
        ModelConfig(block_size=64, n_embd=96, n_head=4, n_layer=2, dropout=0.0, init_std=0.02, **_LM5),
        TrainConfig(learning_rate=4e-3, min_lr=4e-4, warmup_iters=50, lr_decay=True, max_iters=1100, batch_size=16,
                    beta2=0.99, weight_decay=0.1, grad_clip=1.0, val_fraction=0.1, eval_interval=100, eval_iters=20),
    ),
    "translation": Preset(
        "The transformer · French → English",
        "The full transformer of 'Attention is all you need', small: an encoder of 2 blocks reads the French "
        "sentence with self-attention that looks both ways, a decoder of 2 LM5-style blocks writes the English "
        "one token by token, each block adding cross-attention to the encoder's output. 64-wide embeddings, "
        "4 heads, GPT-2's small initial weights; a high learning rate that warms up for 50 steps and decays "
        "along a cosine over 1000 steps of 64 sentence pairs. It learns the generated French→English language "
        "of llmviz.tasks.translation, held-out adjective–noun combinations included, in about a minute on a CPU.",
        EncoderDecoderConfig(block_size=32, src_block_size=32, n_embd=64, n_head=4, n_layer=2, n_encoder_layer=2,
                             dropout=0.0, init_std=0.02, **_LM5),
        TrainConfig(learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, lr_decay=True, max_iters=1000, batch_size=64,
                    beta2=0.99, grad_clip=1.0, eval_interval=100, eval_iters=5),
    ),
}


def _check(presets: dict[str, Preset]) -> None:
    for name, p in presets.items():
        problems = p.model.problems() + p.train.problems()
        if problems or not p.title or not p.description:
            raise ValueError(f"preset {name!r} is broken: {' '.join(problems) or 'it needs a title and a description'}")


_check(PRESETS)


def _get(name: str) -> Preset:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_config(name: str, vocab_size: int) -> ModelConfig:
    """The preset's network for a vocabulary of vocab_size tokens."""
    return replace(_get(name).model, vocab_size=vocab_size)


def preset_train_config(name: str, **overrides) -> TrainConfig:
    """The tutorial's training settings for a preset, with any field overridden."""
    return replace(_get(name).train, **overrides)
