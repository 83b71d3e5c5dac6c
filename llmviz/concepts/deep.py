"""Training deep networks (tutorial part 2): why a stack of blocks needs residual connections,
layer normalisation and dropout.

The same small transformer (llmviz.nn.model) is built at several depths, with residual connections and
layer norm switched on or off, and all the variants are trained side by side on the same batches.
At every few steps we record what the tutorial talks about:
- the gradient norm of each layer: without residuals it shrinks layer after layer on its way back
  to the first blocks (vanishing gradients), so those blocks barely learn;
- the scale (root mean square) of the activations leaving each block: it drifts with depth unless
  a norm keeps it steady;
- the loss, and, for the dropout experiment, the gap between training and validation loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from llmviz import jobs
from llmviz.device import threads_for
from llmviz.errors import LearnerError
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.batches import TextBatches, text_problems
from llmviz.training.loss import divergence_message, estimate_loss
from llmviz.training.optim import param_groups


class DeepError(LearnerError):
    """Settings or text that cannot be used, with a message meant for the learner."""

@dataclass(frozen=True)
class Variant:
    n_layer: int  # blocks stacked
    residual: bool = True  # x + f(x) around each sub-layer
    layer_norm: bool = True  # pre-norm in each block and before the head
    dropout: float = 0.0  # probability of zeroing activations while training

    @property
    def label(self) -> str:
        parts = [p for p, on in (("residual", self.residual), ("norm", self.layer_norm)) if on]
        arch = " + ".join(parts) if parts else "plain"
        drop = f" · dropout {self.dropout:g}" if self.dropout else ""
        return f"{self.n_layer} blocks · {arch}{drop}"


@dataclass(frozen=True)
class DeepConfig:
    n_embd: int = 32  # width of the residual stream (the tutorial's LM4/LM5 size)
    n_head: int = 2
    block_size: int = 16  # context length
    batch_size: int = 32
    steps: int = 200  # optimizer steps for every variant
    learning_rate: float = 1e-3
    log_every: int = 5  # steps between two rows of gradient and activation statistics
    eval_every: int = 0  # estimate train/validation loss every this many steps (0: never)
    eval_iters: int = 10  # batches averaged per split for each estimate
    val_fraction: float = 0.2
    max_chars: int | None = 200_000  # the start of the text that is used (None: all of it)
    seed: int = 0  # every variant starts from this seed and sees the same batches
    device: str = "cpu"


class StepStats(NamedTuple):
    variant: int  # index into the experiment's variants
    step: int  # optimizer steps done
    loss: float  # mean training-batch loss since the previous row
    grad_norms: tuple  # one per layer: embeddings, block 1 ... block n, head
    act_rms: tuple  # root mean square of the activations leaving: embeddings, block 1 ... block n


class EvalStats(NamedTuple):
    variant: int
    step: int
    train_loss: float  # estimated with dropout off, like the validation loss
    val_loss: float


@dataclass
class DeepResult:
    variants: list[Variant]
    history: list  # StepStats and EvalStats, in the order they were recorded
    models: list[LanguageModel]
    tokenizer: CharTokenizer


def layer_names(n_layer: int) -> list[str]:
    """The rows of a gradient heatmap: the embeddings, each block, the head."""
    return ["embeddings"] + [f"block {i + 1}" for i in range(n_layer)] + ["head"]


def _layer_of(name: str, n_layer: int) -> int:
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    if name.startswith(("token_embedding", "position_embedding")):
        return 0
    return n_layer + 1  # the final norm and the head


def layer_grad_norms(model: LanguageModel) -> list[float]:
    """The L2 norm of the gradient of each layer's parameters taken together (0 without a gradient)."""
    n_layer = model.config.n_layer
    sq = [torch.zeros(())] * (n_layer + 2)
    for name, p in model.named_parameters():
        if p.grad is not None:
            i = _layer_of(name, n_layer)
            sq[i] = sq[i] + p.grad.detach().float().pow(2).sum().cpu()
    return torch.stack(sq).sqrt().tolist()


def activation_rms(record: dict) -> list[float]:
    """The scale (root mean square) of what leaves the embeddings and each block, from a recorded forward pass."""
    emb = record["token_emb"] + record["pos_emb"] if record["pos_emb"] is not None else record["token_emb"]
    return [x.detach().float().pow(2).mean().sqrt().item() for x in (emb, *record["block_out"])]


def check(text: str, variants: list[Variant], cfg: DeepConfig) -> str:
    """The text actually used, or a DeepError saying what is wrong with the settings."""
    if not variants:
        raise DeepError("choose at least one depth and one architecture to train.")
    text = text[: cfg.max_chars] if cfg.max_chars else text
    for problem in text_problems(len(text), cfg.block_size, cfg.val_fraction):
        raise DeepError(problem)
    for v in variants:
        problems = ModelConfig(vocab_size=2, n_layer=v.n_layer, n_embd=cfg.n_embd, n_head=cfg.n_head,
                               block_size=cfg.block_size, dropout=v.dropout).problems()
        if problems:
            raise DeepError(f"{v.label}: " + " ".join(problems))
    if cfg.steps < 1 or cfg.log_every < 1 or cfg.learning_rate <= 0:
        raise DeepError("steps, the logging interval and the learning rate must be positive.")
    return text


def train_variants(text: str, variants: list[Variant], cfg: DeepConfig, job: jobs.Job | None = None) -> DeepResult:
    """Train every variant for cfg.steps steps, one step each in turn on the same batch, recording
    StepStats every log_every steps and EvalStats every eval_every steps (and at the end)."""

    text = check(text, variants, cfg)
    tok = CharTokenizer().train(text)
    batches = TextBatches(tok.encode(text), cfg.block_size, cfg.val_fraction, cfg.device)
    models, opts = [], []
    for v in variants:
        torch.manual_seed(cfg.seed)  # the same start for every variant of one depth
        mc = ModelConfig(vocab_size=tok.vocab_size, block_size=cfg.block_size, n_embd=cfg.n_embd, n_head=cfg.n_head,
                         n_layer=v.n_layer, residual=v.residual, layer_norm=v.layer_norm, dropout=v.dropout)
        m = LanguageModel(mc).to(cfg.device)
        models.append(m)
        opts.append(torch.optim.AdamW(param_groups(m, 0.01), lr=cfg.learning_rate))
    if cfg.device == "cpu":
        torch.set_num_threads(threads_for(max(m.num_params() for m in models)))
    if job is not None:
        job.total = cfg.steps
    result = DeepResult(list(variants), [], models, tok)

    def record(item):
        result.history.append(item)
        if job is not None:
            job.record(item)

    def evaluate(step):
        gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same evaluation batches every time
        for i, m in enumerate(models):
            gen.manual_seed(cfg.seed + 1)
            losses = estimate_loss(m, batches, cfg.batch_size, cfg.eval_iters, gen)
            record(EvalStats(i, step, losses["train"], losses["val"]))

    gen = torch.Generator().manual_seed(cfg.seed)
    running = [[] for _ in variants]
    if cfg.eval_every:
        evaluate(0)
    for step in range(1, cfg.steps + 1):
        if job is not None and job.should_stop():
            break
        b = batches.batch("train", cfg.batch_size, gen)  # the same batch for every variant
        log = step % cfg.log_every == 0 or step == cfg.steps or step == 1
        for i, (m, opt) in enumerate(zip(models, opts)):
            rec = {} if log else None  # keep the activations on the steps that are logged
            _, loss = m(**b.inputs, targets=b.targets, train=True, record=rec)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            value = loss.item()
            msg = divergence_message(value, step, cfg.learning_rate, tok.vocab_size)
            if msg:
                if job is not None:
                    job.advance(step)  # the bar shows the step the message names
                raise DeepError(f"{variants[i].label}: {msg}")
            running[i].append(value)
            if log:
                record(StepStats(i, step, sum(running[i]) / len(running[i]), tuple(layer_grad_norms(m)),
                                 tuple(activation_rms(rec))))
                running[i] = []
            opt.step()
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            evaluate(step)
        if job is not None:
            job.advance(step)
    return result


def deep_job(text: str, variants: list[Variant], cfg: DeepConfig) -> jobs.Job:
    """A not-yet-started Job training the variants; its result is a DeepResult."""
    check(text, variants, cfg)  # refuse bad settings before a thread starts
    return jobs.Job(lambda job: train_variants(text, variants, cfg, job), total=cfg.steps, name="deep")


def depth_variants(depths, architectures) -> list[Variant]:
    """Every depth with every (residual, layer_norm) pair, in the order given."""
    return [Variant(d, r, n) for d in depths for r, n in architectures]


def dropout_variants(n_layer: int, dropout: float) -> list[Variant]:
    """The same residual + norm model without and with dropout."""
    return [Variant(n_layer, True, True, 0.0), Variant(n_layer, True, True, dropout)]


# residual connections and layer norm, on or off: the learner's choices
ARCHITECTURES = {
    "plain (no residual, no norm)": (False, False),
    "residual only": (True, False),
    "layer norm only": (False, True),
    "residual + layer norm": (True, True),
}

# a small text, a wide model, a high learning rate: it memorises the training split within a few
# hundred steps (measured: validation loss turns up after ~300 steps without dropout)
DROPOUT_CONFIG = DeepConfig(n_embd=64, n_head=4, block_size=32, batch_size=32, steps=600, learning_rate=3e-3,
                            log_every=25, eval_every=50, eval_iters=10, max_chars=10_000)


# --- reading the history ------------------------------------------------------------------------------

def step_stats(history, variant: int) -> list[StepStats]:
    return [h for h in history if isinstance(h, StepStats) and h.variant == variant]


def eval_stats(history, variant: int) -> list[EvalStats]:
    return [h for h in history if isinstance(h, EvalStats) and h.variant == variant]


def gap(history, variant: int) -> float:
    """Validation minus training loss at the last estimate (nan before any)."""
    ev = eval_stats(history, variant)
    return ev[-1].val_loss - ev[-1].train_loss if ev else math.nan
