"""The tutorial's models, LM1 ... LM5 and two more, as named settings of the one network in llmviz.nn.model.

Each preset is typed: a `ModelConfig` (what the network is) and a `TrainConfig` (how the tutorial
trains it). It also holds everything else known about the model, in one place: the tutorial's results
for it, what it adds to the model before it (the parts its diagram highlights), the settings and the
code its page shows, and that page's text (an LM page of the app is drawn from its preset alone).
Every preset is checked when this module is imported, so a typo or an impossible value fails at once,
not when a learner presses Train.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from llmviz.nn.model import Block, FeedForward, LanguageModel, ModelConfig, MultiHeadAttention
from llmviz.training.config import TrainConfig
from llmviz.nn.encoder_decoder import EncoderDecoderConfig, architecture_of

# the tutorial's training settings for LM1-LM5
TUTORIAL_TRAINING = TrainConfig(learning_rate=3e-4, batch_size=64, max_iters=5000, eval_interval=200, eval_iters=100)


# the parts of the architecture diagram a model can add (llmviz.plots.training.architecture_dot)
PARTS = frozenset({"attention", "mask", "position", "ffwd", "blocks", "residual", "norm", "dropout"})
# the model settings a page can offer as sliders, in the order they are drawn (the others define the model)
KNOBS = ("block_size", "n_embd", "n_head", "n_layer", "dropout")


class Reference(NamedTuple):
    """The tutorial's result on Tiny Shakespeare after 5000 iterations."""
    params: int
    train_loss: float
    val_loss: float


@dataclass(frozen=True)
class Page:
    """The model's page of the app: its heading and what it says beside the preset's description."""
    paragraphs: tuple[str, ...]  # markdown, after the description
    title: str = ""  # "" -> the preset's title
    caption: str = ""  # a note under the paragraphs


@dataclass(frozen=True)
class Preset:
    title: str
    description: str  # what this model adds and why, in one paragraph
    model: ModelConfig  # vocab_size is a placeholder (65): it follows the text the model trains on
    train: TrainConfig = TUTORIAL_TRAINING
    reference: Reference | None = None  # the tutorial's result, None if it has none
    new_parts: frozenset[str] = frozenset()  # what it adds to the model before it (PARTS)
    knobs: tuple[str, ...] = ()  # the model settings its page offers (KNOBS)
    code: tuple = ()  # the code that makes it what it is: the parts of llmviz.nn.model its settings switch on
    page: Page | None = None  # its page of the app, if it has one

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


_SCALED = ("LM5 with a 256-character context, 384-wide embeddings, 6 heads, 6 blocks and dropout 0.2: the "
           "size of nanoGPT's 'baby GPT'. It writes convincing pseudo-Shakespeare, but needs a GPU: one "
           "step takes tens of seconds on a small CPU.")
_ATTENTION_CODE = (MultiHeadAttention.forward, LanguageModel.forward)

PRESETS: dict[str, Preset] = {
    "lm1": Preset(
        "LM1 · one attention head (unmasked)",
        "Token embedding -> one attention head -> a linear layer to the vocabulary. Nothing stops a "
        "position from attending to the tokens after it, so during training its attention also averages "
        "the characters to come, the one it must predict among them: its loss looks better, but at "
        "generation time the future is not there and the samples are garbage. This is the 'cheating' model.",
        _small(n_head=1, n_layer=1, causal=False, proj=False, **_NO_EXTRAS),
        reference=Reference(7_297, 2.216, 2.262), new_parts=frozenset({"attention"}),
        knobs=("block_size", "n_embd"), code=_ATTENTION_CODE,
        page=Page((
            "The smallest language model of the tutorial: each token id picks a row of the **token embedding** "
            "table, **one attention head** lets each position gather information from the others, and a **linear "
            "layer** turns the result into one score (logit) per token of the vocabulary. Softmax makes the scores "
            "probabilities of the next token. Training pushes up the probability of the token that really came "
            "next.",), title="LM1 · one attention head"),
    ),
    "lm1-masked": Preset(
        "LM1 · masked attention",
        "The same single head, with the causal mask: attention scores to later positions are set to "
        "-inf before the softmax, so each position only sees itself and the past. The loss is now "
        "honest (higher than the cheating model's) and the samples start to look like text.",
        _small(n_head=1, n_layer=1, causal=True, proj=False, **_NO_EXTRAS),
        reference=Reference(7_297, 2.475, 2.512), new_parts=frozenset({"mask"}),
        knobs=("block_size", "n_embd"), code=_ATTENTION_CODE,
    ),
    "lm2": Preset(
        "LM2 · multi-head attention + positions",
        "Several smaller heads look for different things in parallel and a projection mixes their "
        "results; a learned position embedding tells the model where each token sits, which plain "
        "attention (a weighted average) cannot know.",
        _small(n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="none", residual=False,
               layer_norm=False),
        reference=Reference(8_865, 2.347, 2.383), new_parts=frozenset({"attention", "position"}),
        knobs=("block_size", "n_embd", "n_head"), code=_ATTENTION_CODE,
        page=Page((
            "Attention is a weighted average: shuffle the context and the average stays the same, so LM1 cannot "
            "tell *\"dog bites man\"* from *\"man bites dog\"*. A **position embedding** (one learned vector per "
            "position, added to the token's vector) fixes that. **Multi-head** attention splits `n_embd` into "
            "`n_head` smaller heads that each choose what to look at, and a linear projection mixes their "
            "results.",)),
    ),
    "lm3": Preset(
        "LM3 · + a feed-forward layer",
        "Attention gathers information from other positions; a feed-forward layer (Linear + ReLU) then "
        "lets each position think about what it gathered, on its own.",
        _small(n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="relu", residual=False,
               layer_norm=False),
        reference=Reference(9_921, 2.516, 2.539), new_parts=frozenset({"ffwd"}),
        knobs=("block_size", "n_embd", "n_head"), code=(FeedForward, Block.forward),
        page=Page((
            "Attention is *communication*: each position collects a weighted average of the others' values. It "
            "has no non-linearity of its own, so on its own it cannot do much with what it collected. The "
            "**feed-forward** layer is *computation*: the same small Linear + ReLU applied to every position "
            "separately. In the tutorial this does not help yet (validation 2.54 vs LM2's 2.38): one more layer "
            "without a residual path is harder to train. LM4 fixes that.",)),
    ),
    "lm4": Preset(
        "LM4 · stacked blocks with residual connections",
        "Four transformer blocks (attention + a 4x wider two-layer feed-forward) one after the other. "
        "Each block adds its result to its input (x + f(x)), a residual path that lets gradients reach "
        "the first blocks, so depth helps instead of hurting.",
        _small(n_layer=4, **{**_LM5, "layer_norm": False}),
        reference=Reference(54_657, 2.026, 2.090), new_parts=frozenset({"blocks", "residual", "ffwd"}),
        knobs=("block_size", "n_embd", "n_head", "n_layer"), code=(Block.forward, FeedForward),
        page=Page((
            "A **block** is attention followed by a feed-forward network that is 4× wider inside "
            "(`n_embd → 4·n_embd → n_embd`). Stacking blocks lets later ones build on what earlier ones found. "
            "Without help, depth makes training harder: the gradient has to pass through every layer and fades. "
            "The **residual connection** `x + f(x)` gives it a straight path from the loss to the first block, so "
            "each block only has to learn a correction. With 4 blocks the tutorial reaches validation 2.09, the "
            "best so far.",), caption="Try n_layer 1 vs 4, and compare the runs on the Compare runs page."),
    ),
    "lm5": Preset(
        "LM5 · layer normalisation + dropout",
        "Layer normalisation before each sub-layer and before the head keeps activations at a steady "
        "scale so training stays stable; dropout (off at this small size) fights over-fitting once "
        "the model is scaled up. Two blocks already match LM4's four.",
        _small(n_layer=2, **_LM5),
        reference=Reference(30_017, 2.050, 2.102), new_parts=frozenset({"norm", "dropout"}),
        knobs=KNOBS, code=(Block, LanguageModel.forward),
        page=Page((
            "**Layer normalisation** rescales each position's vector to mean 0 and variance 1 (then a learned "
            "scale and shift), before attention, before the feed-forward and before the head. Activations then "
            "keep the same scale from block to block, so a higher learning rate and more blocks stay stable. "
            "**Dropout** zeroes a random fraction of activations while training, so the model cannot lean on any "
            "single one: it matters once the model is big enough to memorise its text. The tutorial's LM5 "
            "reaches validation 2.10 with 2 blocks (30,017 parameters), as good as LM4 with 4.",),
            caption=f"Scaled up — {_SCALED} The tutorial reports train 1.03 / validation 1.63 for it: a large "
                    "gap, over-fitting. To train it, set block_size 256, n_embd 384, n_head 6, n_layer 6 and "
                    "dropout 0.2. That is a GPU job (nanoGPT trains a model this size for 5000 steps in about 3 "
                    "minutes on an A100); a small CPU takes about half a minute per step (watch the ETA)."),
    ),
    "lm5-scaled": Preset(
        "LM5 · scaled up (10.8 M parameters)",
        _SCALED,
        ModelConfig(block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2, **_LM5),
        replace(TUTORIAL_TRAINING, eval_interval=500, eval_iters=200),
        reference=Reference(10_788_929, 1.030, 1.626),
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
    "assistant": Preset(
        "LM5 · the assistant's base (a 384-token context)",
        "Not in the tutorial: the base of Parts 3 and 4, sized so that a conversation, three passages or an "
        "agent's prompt fit in what it reads. It reads byte-level BPE tokens (llmviz.text.bpe, 2,048 of them, "
        "learned on the plays): a token is about 2.9 characters of Shakespeare, so its 384-token context holds "
        "some 1,100 characters, where a character model would need a context three times as long (measured: "
        "about twice the compute per 800 characters). LM5's shape, 96-wide embeddings in 3 blocks of 4 heads, "
        "with rotary position embeddings in place of learned ones (a head that looks a fixed distance back is "
        "then the same at every one of the 384 positions: copying from the context, which answering from "
        "passages needs, came only with them in our measurements), GPT-2's small initial weights, a warm-up of "
        "50 steps and a cosine decay over 1,200 steps of 16 sequences.",
        ModelConfig(block_size=384, n_embd=96, n_head=4, n_layer=3, dropout=0.0, init_std=0.02,
                    **{**_LM5, "pos_emb": False}, rope=True),
        TrainConfig(learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, lr_decay=True, max_iters=1200, batch_size=16,
                    beta2=0.99, weight_decay=0.1, grad_clip=1.0, val_fraction=0.1, eval_interval=200, eval_iters=10),
    ),
    "translation": Preset(
        "The transformer · French → English",
        "The full transformer of 'Attention is all you need', small: an encoder of 2 blocks reads the French "
        "sentence with self-attention that looks both ways, a decoder of 2 LM5-style blocks writes the English "
        "one token by token, each block adding cross-attention to the encoder's output. 64-wide embeddings, "
        "4 heads, GPT-2's small initial weights; a high learning rate that warms up for 50 steps and decays "
        "along a cosine over 1000 steps of 64 sentence pairs. It learns the generated French→English language "
        "of llmviz.tasks.translation, held-out adjective–noun combinations included, in 1,000 steps on a CPU.",
        EncoderDecoderConfig(block_size=32, src_block_size=32, n_embd=64, n_head=4, n_layer=2, n_encoder_layer=2,
                             dropout=0.0, init_std=0.02, **_LM5),
        TrainConfig(learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, lr_decay=True, max_iters=1000, batch_size=64,
                    beta2=0.99, grad_clip=1.0, eval_interval=100, eval_iters=5),
    ),
}


def _check(presets: dict[str, Preset]) -> None:
    for name, p in presets.items():
        problems = p.model.problems() + p.train.problems()
        if not p.title or not p.description:
            problems.append("it needs a title and a description.")
        if set(p.knobs) - set(KNOBS) or set(p.new_parts) - PARTS:
            problems.append(f"its knobs must be among {', '.join(KNOBS)} and its new parts among {', '.join(sorted(PARTS))}.")
        if problems:
            raise ValueError(f"preset {name!r} is broken: {' '.join(problems)}")


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


def short_name(name: str) -> str:
    """"LM2", "LM1 masked": the model's name without what it adds (a run is named after it)."""
    return PRESETS[name].title.split(" · ")[0] + (" masked" if name == "lm1-masked" else "")


def settings_code(name: str) -> str:
    """The preset's network as code: the ModelConfig fields that differ from the defaults."""
    p = _get(name)
    differs = {k: v for k, v in p.model.to_dict().items() if v != getattr(ModelConfig(), k) and k != "vocab_size"}
    return (f"# {p.title}: the settings of llmviz.nn.model.ModelConfig that differ from its defaults\nModelConfig(\n"
            + "".join(f"    {k}={v!r},\n" for k, v in differs.items()) + ")")
