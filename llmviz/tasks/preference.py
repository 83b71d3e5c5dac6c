"""Preference tuning (tutorial part 3, beyond the slides): what RLHF is for, in its simplest practical form, DPO.

An instruct model answers; people prefer some answers to others. Direct preference optimisation learns
from pairs (a prompt, a chosen answer, a rejected answer) without a reward model: it raises the chosen
answer's log-probability and lowers the rejected one's, each measured RELATIVE to a frozen copy of the
model (the reference), so the model only moves as far as the preferences ask:

    loss = -log σ( β · [ (log π(chosen) - log π_ref(chosen)) - (log π(rejected) - log π_ref(rejected)) ] )

The preferences here follow a rule you can read: **an answer should end its sentence** (with ".", "!" or
"?"). The pairs are lines of the same speaker, one ending properly and one not. How far the tuned model
drifted from the reference is measured as the mean of log π(y) - log π_ref(y) over its own answers y
(an estimate of the KL divergence KL(π ‖ π_ref)).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llmviz.device import pick_device
from llmviz.nn.model import IGNORE
from llmviz.tasks import chat, instruct, instruct_data
from llmviz.tasks.chat import Message
from llmviz.training.batches import Batch
from llmviz.training.train import TrainingError, TrainingRun

RULE = "prefer answers that end their sentence (with '.', '!' or '?')"
# the page's and start's default β, measured on the page's own path with bench/bench_preference.py
BETA = 0.1


def preferred(answer: str) -> bool:
    return answer.rstrip().endswith((".", "!", "?"))


@dataclass(frozen=True)
class Pair:
    prompt: tuple[Message, ...]
    chosen: str
    rejected: str


def make_pairs(style_text: str, n: int = 4000, seed: int = 0, held: bool = False) -> list[Pair]:
    """Style-task prompts with a line that ends its sentence (chosen) and one that does not (rejected)."""
    lines = instruct_data.speaker_lines(style_text)
    rng = random.Random(seed + (1 if held else 0))
    asks = ("Speak as", "Talk like", "Answer as")
    pairs = []
    speakers = [s for s in instruct_data.SPEAKERS if any(map(preferred, lines.get(s, ()))) and
                any(not preferred(x) for x in lines.get(s, ()))]
    for _ in range(n):
        who = rng.choice(speakers)
        good = rng.choice([x for x in lines[who] if preferred(x)])
        bad = rng.choice([x for x in lines[who] if not preferred(x)])
        pairs.append(Pair((Message("user", f"{rng.choice(asks)} {who}."),), f"{who}:\n{good}", f"{who}:\n{bad}"))
    return pairs


def _rows(tokenizer, pairs: list[Pair], which: str, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for p in pairs:
        ids, learned = chat.encode(tokenizer, [*p.prompt, Message("assistant", getattr(p, which))])
        ids, learned = ids[:block_size + 1], learned[:block_size + 1]  # a long line is cut (both sides alike)
        x, y = chat.training_pair(ids, learned, block_size)
        pad = block_size - len(x)
        xs.append(x + [0] * pad)
        ys.append(y + [IGNORE] * pad)
    return torch.tensor(xs), torch.tensor(ys)


def sequence_logprob(model, x: torch.Tensor, y: torch.Tensor, train: bool = False) -> torch.Tensor:
    """log π(answer | prompt) of each row: the sum of the log-probabilities of its learned targets."""
    logits, _ = model(x, train=train)
    logp = F.log_softmax(logits.float(), dim=-1)
    mask = y != IGNORE
    picked = logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


class PreferenceBatches:
    """Chosen/rejected pairs whose batches carry the DPO objective against a frozen reference model."""
    loss_measure = "preference tuning"  # what its loss measures (llmviz.training.runs.measure_of)
    splits = ("train", "val")

    def __init__(self, tokenizer, reference, train: list[Pair], held: list[Pair], block_size: int,
                 beta: float = 0.1, device: str = "cpu"):
        self.tokenizer, self.beta = tokenizer, beta
        self.reference = copy.deepcopy(reference).requires_grad_(False)  # never trained, never changed
        self.data = {s: tuple(t.to(device) for t in (*_rows(tokenizer, ps, "chosen", block_size),
                                                      *_rows(tokenizer, ps, "rejected", block_size)))
                     for s, ps in (("train", train), ("val", held))}
        self.first_prompt = held[0].prompt

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        xc, yc, xr, yr = self.data[split]
        ix = torch.randint(len(xc), (batch_size,), generator=generator).to(xc.device)
        xc, yc, xr, yr = xc[ix], yc[ix], xr[ix], yr[ix]

        def dpo(model, train: bool) -> torch.Tensor:
            return self.terms(model, xc, yc, xr, yr, train)["loss"]

        return Batch({"idx": xc}, yc, dpo)

    def terms(self, model, xc, yc, xr, yr, train: bool = False) -> dict[str, torch.Tensor]:
        """DPO's quantities on rows of pairs: log π of the chosen and rejected answers, their implicit
        rewards β·(log π − log π_ref), the reward margin (chosen − rejected) and the loss −log σ(margin)."""
        with torch.no_grad():
            ref_c, ref_r = sequence_logprob(self.reference, xc, yc), sequence_logprob(self.reference, xr, yr)
        pol_c, pol_r = sequence_logprob(model, xc, yc, train), sequence_logprob(model, xr, yr, train)
        margin = self.beta * ((pol_c - ref_c) - (pol_r - ref_r))
        return {"loss": -F.logsigmoid(margin).mean(), "margin": margin, "chosen": pol_c, "rejected": pol_r}

    @torch.no_grad()
    def measures(self, model, n: int = 64) -> dict[str, float]:
        """DPO's own measures on the first n held-out pairs (what TRL logs): the loss, the mean reward
        margin, the share of pairs whose chosen answer wins, and the mean log π of each answer (nats)."""
        t = self.terms(model, *(v[:n] for v in self.data["val"]))
        return {"dpo_loss": float(t["loss"]), "margin": float(t["margin"].mean()),
                "wins": float((t["margin"] > 0).float().mean()),
                "logp_chosen": float(t["chosen"].mean()), "logp_rejected": float(t["rejected"].mean())}

    def prompt(self) -> list[int]:
        return chat.encode(self.tokenizer, self.first_prompt, generation_prompt=True)[0]


@torch.no_grad()
def preferred_rate(model, tokenizer, prompts, samples: int = 3, seed: int = 0) -> float:
    """Share of sampled answers (temperature 1) that follow the rule."""
    hits = total = 0
    for i, p in enumerate(prompts):
        for k in range(samples):
            hits += preferred(instruct.reply(model, tokenizer, p, temperature=1.0, seed=seed + 100 * i + k))
            total += 1
    return hits / max(1, total)


@torch.no_grad()
def drift(model, reference, tokenizer, prompts, seed: int = 0) -> float:
    """Mean log π(y) - log π_ref(y) over the model's own sampled answers y: how far it moved (≈ KL, nats)."""
    gaps = []
    for i, p in enumerate(prompts):
        y = instruct.reply(model, tokenizer, p, temperature=1.0, seed=seed + i)
        ids, learned = chat.encode(tokenizer, [*p, Message("assistant", y)])
        pair = chat.training_pair(ids, learned, model.config.block_size)
        if pair is None:
            continue
        x, t = (torch.tensor([v]) for v in pair)
        gaps.append(float(sequence_logprob(model, x, t) - sequence_logprob(reference, x, t)))
    return sum(gaps) / max(1, len(gaps))


def start(model, tokenizer, train_cfg, style_text: str, beta: float = BETA, n_pairs: int = 4000, seed: int = 0):
    """(run, held-out prompts): DPO on a copy of an instruct model; the model passed in is the reference."""
    if not chat.has_chat_template(tokenizer):
        raise TrainingError("preference tuning starts from an instruct model: instruction-tune one first")
    held = make_pairs(style_text, 200, seed, held=True)
    batches = PreferenceBatches(tokenizer, model, make_pairs(style_text, n_pairs, seed), held,
                                model.config.block_size, beta, pick_device(train_cfg.device))
    prompts = [p.prompt for p in held[:20]]
    reference = batches.reference
    run = TrainingRun(copy.deepcopy(model).requires_grad_(True), tokenizer, batches, train_cfg,
                      measure=lambda m: {"preferred": preferred_rate(m, tokenizer, prompts, 1),
                                         "drift": drift(m, reference, tokenizer, prompts[:10]),
                                         **batches.measures(m)})
    return run, prompts


def config(base, steps: int = 300):
    """Preference tuning's settings: small steps (the model is already good), few batches per estimate,
    the rule's share measured every tenth of the run."""
    from dataclasses import replace

    return replace(base, learning_rate=1e-4, min_lr=1e-5, warmup_iters=10, max_iters=steps, batch_size=16,
                   eval_interval=max(10, steps // 6), eval_iters=5, sample_tokens=0)


def reading(history) -> str:
    """The preference-tuning run read in words, from its measures ("" before two of them): the rule's share
    before and now, how often the chosen answer wins, which answer's log-probability moved, the drift."""
    rows = [r for r in history if r.other and "margin" in r.other]
    if len(rows) < 2:
        return ""
    a, b = rows[0].other, rows[-1].other
    up_c, up_r = b["logp_chosen"] - a["logp_chosen"], b["logp_rejected"] - a["logp_rejected"]
    if up_c - up_r <= 0:
        moved = "the rejected answers did not fall below the chosen ones yet"
    elif up_c >= 0:
        moved = "it raised the chosen answers and lowered the rejected ones" if up_r < 0 else \
            "it raised both answers, the chosen ones more"
    else:
        moved = "it lowered both answers, the rejected ones more: DPO asks only for the gap"
    return (f"Answers that follow the rule: {a['preferred']:.0%} before, {b['preferred']:.0%} now. On held-out "
            f"pairs the chosen answer wins {b['wins']:.0%} of the time (reward margin {b['margin']:.2f}, DPO loss "
            f"{b['dpo_loss']:.3f}); log π(chosen) went {a['logp_chosen']:.1f} → {b['logp_chosen']:.1f} nats and "
            f"log π(rejected) {a['logp_rejected']:.1f} → {b['logp_rejected']:.1f}: {moved}. Drift from the "
            f"reference: {b['drift']:.2f} nats.")
