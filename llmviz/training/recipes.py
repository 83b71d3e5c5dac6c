"""What changed since GPT-2 (the NanoGPT speedrun's recipe), as changes to one starting recipe, trained one
after another and judged by wall time.

Each change is a setting of the one model family (llmviz.nn.model) or the one trainer (llmviz.training):

    rope       rotary position embeddings instead of a learned position table  (llmviz.nn.rotary)
    qk-norm    each head's queries and keys RMS-normalised before their dot product
    rms-norm   RMSNorm instead of LayerNorm: no mean to subtract, no bias
    relu2      relu(x)² in the feed-forward layer
    zero-init  every block's output projections and the head start at zero
    muon       Muon for the blocks' matrices (llmviz.training.muon), AdamW for the rest
    wsd        warm-up, constant, then a straight decay over the last 40 % (instead of a cosine)
    all        every change at once

Runs are judged by the time they take, not by their steps: a slower step that learns more wins if it gets
to the target loss sooner. So the runs go one after another, each with the whole CPU, never side by side
sharing it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from llmviz.errors import LearnerError
from llmviz.jobs import Job
from llmviz.nn import rotary
from llmviz.nn.model import ReLUSquared, make_norm, zero_outputs
from llmviz.training import muon
from llmviz.training.optim import learning_rate_at
from llmviz.training.presets import PRESETS
from llmviz.training.train import TrainingRun

BASE = "fast-cpu"  # LM5's shape, tuned for a CPU: the recipe each change is measured against
TARGET = 1.88


@dataclass(frozen=True)
class Change:
    name: str
    sentence: str  # what it does, for the learner
    model: dict  # ModelConfig fields it sets
    train: dict  # TrainConfig fields it sets
    code: tuple = ()  # the code behind it


CHANGES = {c.name: c for c in (
    Change("rope", "Rotary position embeddings: queries and keys are turned by an angle that grows with the "
           "position, so attention sees how far apart two tokens are; no position table is learned.",
           {"rope": True, "pos_emb": False}, {}, (rotary.angles, rotary.rotate)),
    Change("qk-norm", "QK-norm: each head's queries and keys are scaled to unit RMS before their dot product, so "
           "the scores cannot grow without bound and a high learning rate stays stable.", {"qk_norm": True}, {},
           ()),
    Change("rms-norm", "RMSNorm: divide by the root mean square, without subtracting the mean or adding a bias; "
           "cheaper than LayerNorm and as good.", {"rms_norm": True}, {}, (make_norm,)),
    Change("relu2", "ReLU²: the feed-forward layer's activation is relu(x)², as cheap as ReLU and sharper.",
           {"ffwd": "relu2"}, {}, (ReLUSquared,)),
    Change("zero-init", "Zero-initialised outputs: each block's output projections and the head start at 0, so "
           "every block begins by adding nothing and the first loss is exactly ln(vocabulary).",
           {"zero_init": True}, {}, (zero_outputs,)),
    Change("muon", "Muon: the blocks' matrices move by their momentum orthogonalised with five Newton–Schulz "
           "steps (every direction of the update gets the same size); embeddings, head and vectors keep AdamW.",
           {}, {"optimizer": "muon", "muon_lr": 0.02}, (muon.newton_schulz, muon.Muon.step)),
    Change("wsd", "Warm-up, constant, decay: the learning rate stays at its peak and falls in a straight line "
           "over the last 40 % of the steps, instead of a cosine from the start.",
           {}, {"lr_decay": False, "cooldown_frac": 0.4}, (learning_rate_at,)),
)}


def settings(names) -> tuple:
    """(ModelConfig, TrainConfig) of the base recipe with the named changes ("all": every one)."""
    names = list(CHANGES) if "all" in names else list(names)
    unknown = [n for n in names if n not in CHANGES]
    if unknown:
        raise LearnerError(f"unknown change {unknown[0]!r}: the changes are {', '.join(CHANGES)} (or all).")
    base = PRESETS[BASE]
    model, train = dict(), dict()
    for n in names:
        model.update(CHANGES[n].model)
        train.update(CHANGES[n].train)
    return replace(base.model, **model), replace(base.train, **train)


def time_to(points, target: float = TARGET) -> float | None:
    """The first time (s) a run's validation loss was at or below target; points: (seconds, loss)."""
    return next((s for s, v in points if v <= target), None)


def loss_at(points, t: float) -> float | None:
    """A run's validation loss at time t, interpolated between its estimates (None before the first)."""
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if s0 <= t <= s1:
            return v0 + (v1 - v0) * (t - s0) / (s1 - s0) if s1 > s0 else v1
    return points[-1][1] if points and t >= points[-1][0] else None


def points_of(history) -> list[tuple[float, float]]:
    return [(r.elapsed, r.val_loss) for r in history]


def ablation(histories: dict, target: float = TARGET, base: str = BASE) -> list[dict]:
    """One row a run: its time to the target, that time against the base recipe's, and its loss at the base
    recipe's time to the target (the loss at equal time)."""
    base_points = points_of(histories.get(base, ()))
    t_base = time_to(base_points, target)
    rows = []
    for name, history in histories.items():
        pts = points_of(history)
        t = time_to(pts, target)
        at = loss_at(pts, t_base) if t_base is not None else None
        rows.append({"run": name, f"seconds to {target}": None if t is None else round(t, 1),
                     f"vs {base}": None if t is None or t_base is None else round(t / t_base, 2),
                     "validation at equal time": None if at is None else round(at, 3),
                     "last validation": round(pts[-1][1], 3) if pts else None})
    return rows


def verdict(rows: list[dict], target: float = TARGET, base: str = BASE) -> str:
    """One sentence read from the table: which run reached the target first, and by how much."""
    key = f"seconds to {target}"
    done = [r for r in rows if r[key] is not None]
    if not done:
        return f"No run has reached a validation loss of {target} yet."
    best = min(done, key=lambda r: r[key])
    base_row = next((r for r in rows if r["run"] == base), None)
    if base_row is None or base_row[key] is None or best["run"] == base:
        return f"{best['run']} reached {target} first, in {best[key]} s."
    return (f"{best['run']} reached {target} in {best[key]} s, {base_row[key] / best[key]:.1f}× as fast as "
            f"{base} ({base_row[key]} s).")


class OneAfterAnother:
    """Train several recipes on one text, one after another, each with the whole CPU: a Job (stop it, and the
    run in progress stops) whose `runs` fill in as they start."""

    def __init__(self, variants: dict[str, tuple], text: str, target: float = TARGET):
        if not variants:
            raise LearnerError("pick at least one recipe to train.")
        self.variants, self.text, self.target = variants, text, target
        self.runs: dict[str, TrainingRun] = {}
        for model_cfg, train_cfg in variants.values():  # refuse impossible settings before anything starts
            problems = model_cfg.problems() + train_cfg.problems()
            if problems:
                raise LearnerError(" ".join(problems))
        self.job = Job(self._work, total=len(variants), name="recipes")

    def _work(self, job: Job) -> None:
        for i, (name, (model_cfg, train_cfg)) in enumerate(self.variants.items()):
            if job.should_stop():
                return
            run = TrainingRun.new(model_cfg, replace(train_cfg, target_loss=self.target), self.text, preset=BASE)
            self.runs[name] = run
            run.start()
            while run.running:
                if job.should_stop():
                    run.stop()
                time.sleep(0.1)
            job.advance(i + 1)

    def start(self, **kw) -> "OneAfterAnother":
        self.job.start(**kw)
        return self

    def stop(self) -> None:
        self.job.stop()

    @property
    def running(self) -> bool:
        return self.job.running

    def snapshot(self):
        return self.job.snapshot()

    def histories(self) -> dict:
        return {name: run.history for name, run in self.runs.items()}
