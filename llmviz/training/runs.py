"""The session's training runs side by side (tutorial part 2, the results table).

Every run the learner starts is kept under a name; this module turns those runs into comparable
records (settings, parameter count, final and best losses, speed), puts the tutorial's reference
results beside them, and exports the table as CSV. Runs are compared like with like: `measure_of` says what a
run's loss measures (next-token cross-entropy per character or per BPE token, translation, instruction
tuning, the DPO loss), and `by_measure` groups a session's runs by it, so that one axis never mixes them. It also ties a run's life to its owner: the
worker stops once the owner's sentinel object is garbage-collected (a browser session that went away).
"""

from __future__ import annotations

import csv
import io
import math
import weakref
from dataclasses import dataclass

from llmviz.training.presets import PRESETS, Reference
from llmviz.training.record import mean_tokens_per_s

REFERENCE_NOTE = ("the tutorial's single-seed runs on Tiny Shakespeare (character level, 5000 steps, "
                  "its default settings): expect ±0.05 noise")

# the settings shown for each run, in this order (ModelConfig / TrainConfig field names)
SETTINGS = ("block_size", "n_embd", "n_head", "n_layer", "dropout", "causal", "learning_rate", "batch_size",
            "max_iters", "eval_interval", "eval_iters")


@dataclass(frozen=True)
class RunRecord:
    name: str
    preset: str  # "lm1" ... "lm5", or "" when unknown
    state: str  # idle, running, stopped, finished, failed
    settings: dict  # SETTINGS -> value
    params: int
    steps: int
    train_loss: float  # at the last evaluation (nan before any)
    val_loss: float
    best_val_loss: float
    tokens_per_s: float  # mean training throughput over the evaluations so far
    elapsed: float  # seconds of training, evaluations included
    device: str
    differs: tuple = ()  # how its settings differ from the tutorial's model of the same name, in words
    measure: Measure | None = None  # what its loss measures (None: a language model's cross-entropy)


    def reference(self) -> Reference | None:
        """The tutorial's result for this run's model (llmviz.training.presets), None if it has none."""
        p = PRESETS.get(self.preset)
        return p.reference if p and (self.measure is None or self.measure.task == "language model") else None

    @property
    def cross_entropy(self) -> bool:
        return self.measure is None or self.measure.cross_entropy


def record_of(name: str, run, preset: str = "") -> RunRecord:
    """The comparable summary of a llmviz.training.train.TrainingRun."""
    snap = run.snapshot()
    hist = snap.history
    last = hist[-1] if hist else None
    vals = [r.val_loss for r in hist if math.isfinite(r.val_loss)]
    m, t = run.model_cfg, run.train_cfg
    settings = {k: getattr(m, k) if hasattr(m, k) else getattr(t, k) for k in SETTINGS}
    preset = preset or run.preset
    return RunRecord(
        name=name, preset=preset, state=snap.state, settings=settings,
        params=int(run.n_params), steps=snap.step,
        train_loss=last.train_loss if last else math.nan, val_loss=last.val_loss if last else math.nan,
        best_val_loss=min(vals) if vals else math.nan,
        tokens_per_s=mean_tokens_per_s(hist),
        elapsed=last.elapsed if last else 0.0, device=str(run.device),
        differs=tuple(differences(preset, m, t, snap.step)), measure=measure_of(run),
    )


# the settings that make a run comparable with the tutorial's figures (its vocabulary follows the text)
_COMPARED_MODEL = ("block_size", "n_embd", "n_head", "n_layer", "dropout", "causal", "pos_emb", "ffwd",
                   "residual", "layer_norm")
_COMPARED_TRAIN = ("learning_rate", "batch_size")


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def differences(preset: str, model_cfg, train_cfg, steps: int) -> list[str]:
    """How a run differs from the tutorial's run of `preset` (the one whose figures it is compared
    with), e.g. ["n_layer 3 (tutorial 2)", "300 steps (tutorial 5000)"]; empty when it is the same."""
    p = PRESETS.get(preset)
    if p is None or p.reference is None:
        return []
    out = [f"{k} {_fmt(getattr(model_cfg, k))} (tutorial {_fmt(getattr(p.model, k))})"
           for k in _COMPARED_MODEL if getattr(model_cfg, k) != getattr(p.model, k)]
    out += [f"{k} {_fmt(getattr(train_cfg, k))} (tutorial {_fmt(getattr(p.train, k))})"
            for k in _COMPARED_TRAIN if getattr(train_cfg, k) != getattr(p.train, k)]
    if steps < p.train.max_iters:
        out.append(f"{steps:,} steps (tutorial {p.train.max_iters:,})")
    return out


def _round(x: float, nd: int = 3):
    return round(x, nd) if isinstance(x, float) and math.isfinite(x) else None


def perplexity(loss: float) -> float:
    """e^loss: the number of equally likely tokens the model is as unsure as (nan stays nan)."""
    return math.exp(loss) if math.isfinite(loss) and loss < 700 else math.nan


def uniform_loss(vocab_size: int) -> float:
    """ln(vocab_size): the loss of a model that knows nothing and gives every token the same probability."""
    return math.log(vocab_size) if vocab_size > 0 else math.nan


# the results first (what a learner compares), then how each run was made
RESULT_COLUMNS = ("run", "model", "params", "steps", "train loss", "val loss", "val perplexity", "best val loss",
                  "tutorial val", "differs from the tutorial", "state")


def table_rows(records: list[RunRecord], with_reference: bool = True) -> list[dict]:
    """One flat dict per run (the columns of the comparison table): the results and the tutorial's beside
    them first (RESULT_COLUMNS), then the settings, the speed and the tutorial's other figures."""
    rows = []
    for r in records:
        ref = r.reference() if with_reference else None
        row = {"run": r.name, "model": r.preset, "params": r.params, "steps": r.steps,
               "train loss": _round(r.train_loss), "val loss": _round(r.val_loss),
               "val perplexity": _round(perplexity(r.val_loss), 2) if r.cross_entropy else None,
               "best val loss": _round(r.best_val_loss)}
        if with_reference:
            row["tutorial val"] = ref[2] if ref else None
            row["differs from the tutorial"] = ("; ".join(r.differs) or "same settings") if ref else ""
        row.update({"state": r.state, **r.settings, "tokens/s": round(r.tokens_per_s),
                    "seconds": round(r.elapsed, 1), "device": r.device})
        if with_reference:
            row.update({"tutorial params": ref[0] if ref else None, "tutorial train": ref[1] if ref else None})
        rows.append(row)
    return rows


def reference_rows(titles: dict[str, str] | None = None) -> list[dict]:
    """The tutorial's table itself: model, params, train loss, validation loss."""
    titles = titles or {}
    return [{"model": titles.get(k, k), "params": p.reference.params, "train loss": p.reference.train_loss,
             "val loss": p.reference.val_loss} for k, p in PRESETS.items() if p.reference]


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV text (columns: the union of the rows' keys, in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


@dataclass(frozen=True)
class Measure:
    """What a run's loss measures: runs with the same Measure can share an axis, others cannot."""
    label: str  # e.g. "language model · nats per character"
    task: str  # "language model", "translation", "instruction tuning", "preference tuning"
    axis: str  # the loss axis's title
    cross_entropy: bool = True  # a cross-entropy in nats: perplexity and ln(vocabulary) apply

    def __str__(self) -> str:
        return self.label


_UNITS = {"char": "character", "words": "word", "bpe": "BPE token"}


def measure_of(run) -> Measure:
    """What this llmviz.training.train.TrainingRun's loss measures. A batch source says what it trains for in
    `loss_measure` ("translation", "instruction tuning", "preference tuning"); plain text is a language
    model; the tokenizer gives the unit (a loss per character is not a loss per BPE token)."""
    task = getattr(run.batches, "loss_measure", "")
    if not task:
        inner = getattr(run.batches, "inner", None)  # a source wrapped with a reference split
        task = getattr(inner, "loss_measure", "") or (
            "translation" if getattr(run.model, "architecture", "") == "encoder-decoder" else "language model")
    if task == "preference tuning":
        return Measure("preference tuning · DPO loss", task, "DPO loss: −log σ(β · margin)", cross_entropy=False)
    if task == "translation":
        return Measure("translation · nats per English word", task, "cross-entropy loss per English word (nats)")
    unit = _UNITS.get(getattr(run.tokenizer, "kind", ""), "token")
    if task == "instruction tuning":
        return Measure(f"instruction tuning · nats per answer {unit}", task, f"cross-entropy loss per answer {unit} (nats)")
    return Measure(f"{task} · nats per {unit}", task, f"cross-entropy loss per {unit} (nats)")


def by_measure(named_runs: dict) -> dict[Measure, list[str]]:
    """The runs' names grouped by what their loss measures: the group with the most runs first (on a tie, the
    one holding the latest run), each group's names in the session's order."""
    groups: dict[Measure, list[str]] = {}
    for name, run in named_runs.items():
        groups.setdefault(measure_of(run), []).append(name)
    order = list(named_runs)
    return dict(sorted(groups.items(), key=lambda g: (-len(g[1]), -max(order.index(n) for n in g[1]))))


def unique_name(base: str, taken) -> str:
    """base, or "base (2)", "base (3)", ... whichever is not taken yet."""
    if base not in taken:
        return base
    n = 2
    while f"{base} ({n})" in taken:
        n += 1
    return f"{base} ({n})"


class Sentinel:
    """A small object whose only job is to be collected together with its owner's state."""

    __slots__ = ("__weakref__", "label")

    def __init__(self, label: str = ""):
        self.label = label


def stop_when_dropped(run, label: str = "") -> Sentinel:
    """A sentinel that stops `run` when it is garbage-collected: keep it next to the run in a
    per-user store (a Streamlit session state); when that store goes away, the worker ends too."""
    sentinel = Sentinel(label)
    weakref.finalize(sentinel, run.stop)
    return sentinel
