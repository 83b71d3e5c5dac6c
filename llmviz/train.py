"""Training a language model (tutorial part 2, "boilerplate"): split the text, draw random (x, y)
batches where y is x shifted by one, take AdamW steps, and estimate the loss now and then.

`TrainingRun` runs that loop in a background `llmviz.jobs.Job`, so a page can watch the loss curve,
read text samples as the model learns, and stop it; `TrainingRun.train()` runs it to the end for the
command line and the tests.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import torch

from llmviz import jobs
from llmviz.device import pick_device, threads_for
from llmviz.model import LanguageModel, ModelConfig
from llmviz.tokenizers import CharTokenizer, Tokenizer


@dataclass
class TrainConfig:
    learning_rate: float = 3e-4  # AdamW step size (the tutorial's value)
    batch_size: int = 64  # sequences per step
    max_iters: int = 5000  # optimizer steps in total (a resumed run continues up to this step)
    eval_interval: int = 200  # estimate the losses every this many steps (and at the last step)
    eval_iters: int = 100  # batches averaged per split for each estimate
    warmup_iters: int = 0  # steps over which the learning rate ramps up from 0
    lr_decay: bool = False  # cosine decay from learning_rate to min_lr by max_iters
    min_lr: float = 3e-5  # the learning rate at the end of the cosine decay
    grad_clip: float = 0.0  # clip the gradient norm to this (0: no clipping)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay (torch's default, as the tutorial)
    beta1: float = 0.9  # AdamW's momentum of the gradient
    beta2: float = 0.999  # AdamW's momentum of the squared gradient
    val_fraction: float = 0.2  # the end of the text held out for validation (the tutorial: 80/20)
    seed: int = 1337  # same seed, same settings, same CPU: the same run
    device: str = "auto"  # "auto", "cpu", "cuda" or "mps"
    threads: int | None = None  # CPU threads (None: chosen from the model size)
    sample_tokens: int = 200  # length of the text sample generated at each evaluation (0: none)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Record(NamedTuple):
    """One row of the training history, written at each evaluation."""
    step: int  # optimizer steps done
    train_loss: float  # estimated over eval_iters batches of the training split
    val_loss: float  # the same on the validation split
    lr: float  # learning rate of the last step
    tokens_per_s: float  # training throughput since the previous row
    elapsed: float  # seconds since the start of this run


class TrainingError(RuntimeError):
    """Training could not run or ended badly; the message is meant for the learner."""


def preset_train_config(name: str, **overrides) -> TrainConfig:
    """The tutorial's training settings for a preset of llmviz.model.PRESETS, with any field overridden."""
    from llmviz.model import PRESETS

    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return TrainConfig(**{**PRESETS[name].train, **overrides})


def _fmt(x: float) -> str:
    """3e-4 and 1e-2 rather than 0.0003 and 0.01; 0.5 stays 0.5."""
    m, e = f"{x:.0e}".split("e")
    return f"{m}e{int(e)}" if abs(int(e)) >= 2 else f"{x:g}"


def min_tokens(block_size: int, val_fraction: float) -> int:
    """The shortest text whose training and validation splits both hold one example of block_size + 1."""
    need = block_size + 1
    n = need
    while int(n * val_fraction) < need or n - int(n * val_fraction) < need:
        n += 1
    return n


def validate(model_cfg: ModelConfig, train_cfg: TrainConfig, n_tokens: int) -> list[str]:
    """Every reason these settings cannot train on a text of n_tokens tokens, in plain words."""
    out = model_cfg.problems()
    t = train_cfg
    if t.learning_rate <= 0:
        out.append(f"The learning rate must be positive (it is {t.learning_rate}); the tutorial uses 3e-4.")
    for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
        if getattr(t, name) < 1:
            out.append(f"{name} must be at least 1 (it is {getattr(t, name)}).")
    if t.warmup_iters < 0 or t.min_lr < 0 or t.grad_clip < 0 or t.weight_decay < 0:
        out.append("warmup_iters, min_lr, grad_clip and weight_decay cannot be negative.")
    if t.lr_decay and t.min_lr > t.learning_rate:
        out.append(f"min_lr ({t.min_lr}) is above the learning rate ({t.learning_rate}): the decay would go up.")
    if not (0 <= t.beta1 < 1 and 0 <= t.beta2 < 1):
        out.append("beta1 and beta2 must be in [0, 1).")
    if not 0 < t.val_fraction < 1:
        out.append(f"val_fraction must be between 0 and 1 (it is {t.val_fraction}); the tutorial uses 0.2.")
    else:
        n_val = int(n_tokens * t.val_fraction)
        need = model_cfg.block_size + 1
        for split, n in (("validation", n_val), ("training", n_tokens - n_val)):
            if n < need:
                out.append(f"The text is too short: {n_tokens:,} tokens, so its {split} split has {n:,}, but one "
                           f"example needs block_size + 1 = {need}. Use a text of at least "
                           f"{min_tokens(model_cfg.block_size, t.val_fraction):,} tokens (characters, with the "
                           f"character tokenizer) or a smaller block_size.")
                break
    if t.threads is not None and t.threads < 1:
        out.append(f"threads must be at least 1 (it is {t.threads}).")
    try:
        pick_device(t.device)
    except ValueError as e:
        out.append(str(e))
    return out


def split_data(ids: torch.Tensor, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut by position: the first part trains, the last val_fraction validates (no shuffling)."""
    n = len(ids) - int(len(ids) * val_fraction)
    return ids[:n], ids[n:]


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator | None = None):
    """batch_size random windows of the 1-D token tensor: x (B, T) and y (B, T), y being x shifted by one."""
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,) window starts
    # one gather instead of a Python loop of slices
    windows = data[ix.to(data.device)[:, None] + torch.arange(block_size + 1, device=data.device)]  # (B, T+1)
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def estimate_loss(model: LanguageModel, splits: dict[str, torch.Tensor], batch_size: int, eval_iters: int,
                  generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean loss over eval_iters random batches of each split, with dropout off."""
    was_training = model.training
    model.eval()
    block = model.config.block_size
    # several batches per forward pass: the same mean (equal batch sizes), far less per-call overhead
    per_call = max(1, min(eval_iters, 4096 // (batch_size * block)))
    out = {}
    try:
        for name, data in splits.items():
            total, done = 0.0, 0
            while done < eval_iters:
                k = min(per_call, eval_iters - done)
                x, y = get_batch(data, block, batch_size * k, generator)
                _, loss = model(x, y)
                total += loss.item() * k
                done += k
            out[name] = total / eval_iters
    finally:
        model.train(was_training)
    return out


def learning_rate_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up for warmup_iters steps, then constant or a cosine decay to min_lr at max_iters."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if not cfg.lr_decay:
        return cfg.learning_rate
    span = max(1, cfg.max_iters - cfg.warmup_iters)
    progress = min(1.0, (step - cfg.warmup_iters) / span)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: LanguageModel, cfg: TrainConfig, device: str) -> torch.optim.AdamW:
    # the fused kernel updates all parameters in one call: most of a tiny model's step is overhead
    fused = device in ("cpu", "cuda")
    return torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2),
                             weight_decay=cfg.weight_decay, fused=fused)


def divergence_message(loss: float, step: int, lr: float, vocab_size: int) -> str | None:
    """A diagnosis when the loss is NaN/inf or has blown far above where training starts (ln vocab)."""
    suggest = _fmt(min(lr / 10, 1e-2))
    if not math.isfinite(loss):
        return (f"loss became {'NaN' if math.isnan(loss) else 'infinite'} at step {step} — the learning rate "
                f"{_fmt(lr)} is probably too high; try ≤ {suggest}")
    start = math.log(vocab_size)
    if loss > 3 * start + 5:
        return (f"loss exploded to {loss:.3g} at step {step} (a fresh model starts near ln({vocab_size}) = "
                f"{start:.2f}) — the learning rate {_fmt(lr)} is probably too high; try ≤ {suggest}")
    return None


class TrainingRun:
    """A model, its tokenizer and data, trained in a background job that a page can watch.

        run = TrainingRun(preset_config("lm5", 65), TrainConfig(max_iters=2000), text)
        run.start(); ...; snap = run.snapshot()   # snap.history: tuple of Record; snap.extra["sample"]
        run.stop()                                # ends at the next step, the model is kept

    Pass a `llmviz.checkpoint.Checkpoint` as `checkpoint` to resume it (weights, optimizer, history).
    With text=None (a checkpoint, or a model and its tokenizer, required) the run is for inspection
    only: its model, tokenizer and history are there, `trainable` is False and start() refuses.
    """

    def __init__(self, model_cfg: ModelConfig | None, train_cfg: TrainConfig, text: str | None,
                 tokenizer: Tokenizer | None = None, model: LanguageModel | None = None, checkpoint=None):
        self.train_cfg = train_cfg
        self.start_step = 0
        history: list[Record] = []
        self._optim_state = None
        self._rng_state = None
        self._gen = None
        if checkpoint is not None:
            model, tokenizer = checkpoint.model, checkpoint.tokenizer
            history = list(checkpoint.history)
            self.start_step = checkpoint.step
            self._optim_state = checkpoint.optimizer_state
            self._rng_state = checkpoint.rng_state
        if text is None and (tokenizer is None or model is None):
            raise TrainingError("without a text, give a checkpoint or a model and its tokenizer to inspect")
        self.tokenizer = tokenizer or CharTokenizer().train(text)
        try:
            ids = self.tokenizer.encode(text) if text is not None else None
        except ValueError as e:
            raise TrainingError(f"this text does not fit the model's tokenizer: {e}") from None
        if model is not None:
            model_cfg = model.config
            if model_cfg.vocab_size != self.tokenizer.vocab_size:
                raise TrainingError(f"the tokenizer has {self.tokenizer.vocab_size} tokens but the model expects "
                                    f"{model_cfg.vocab_size}: they do not belong together")
        elif model_cfg is None:
            raise TrainingError("give a model configuration, a model or a checkpoint")
        elif model_cfg.vocab_size != self.tokenizer.vocab_size:
            # the vocabulary comes from the text: a preset made for 65 characters adapts to this one
            model_cfg = replace(model_cfg, vocab_size=self.tokenizer.vocab_size)
        problems = validate(model_cfg, train_cfg, len(ids)) if ids is not None else model_cfg.problems()
        if ids is not None and self.start_step >= train_cfg.max_iters:
            problems.append(f"this model has already trained {self.start_step} steps: set max_iters above that "
                            f"to train more")
        if problems:
            raise TrainingError(" ".join(problems))
        self.device = pick_device(train_cfg.device)
        torch.manual_seed(train_cfg.seed)  # the initial weights
        self.model = (model or LanguageModel(model_cfg)).to(self.device)
        self.model_cfg = self.model.config
        self.n_params = self.model.num_params()
        self.threads = train_cfg.threads or threads_for(self.n_params)
        self.trainable = ids is not None
        self.splits = {}  # none for an inspect-only run
        if ids is not None:
            train, val = split_data(torch.tensor(ids, dtype=torch.long), train_cfg.val_fraction)
            self.splits = {"train": train.to(self.device), "val": val.to(self.device)}
        self.optimizer = None  # made in the worker thread, on the first start()
        self.job = jobs.Job(self._work, total=train_cfg.max_iters, name="train")
        self.job.advance(self.start_step)
        for r in history:
            self.job.record(r)

    @classmethod
    def from_preset(cls, name: str, text: str, **train_overrides) -> "TrainingRun":
        """TrainingRun.from_preset("lm2", text, max_iters=1000): the preset's model and training settings."""
        from llmviz.model import preset_config

        return cls(preset_config(name, 1), preset_train_config(name, **train_overrides), text)

    # --- what a page uses ---
    def start(self) -> "TrainingRun":
        if not self.trainable:
            raise TrainingError("this model was loaded for inspection only: it has no text to train on")
        self.job.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop after the step in progress; start() again resumes where it stopped."""
        self.job.stop()

    def extend(self, max_iters: int) -> "TrainingRun":
        """Train up to max_iters steps in all (after a run finished, before start() again)."""
        if self.running:
            raise RuntimeError("stop the run before changing its length")
        self.train_cfg.max_iters = self.job.total = max_iters
        return self

    def join(self, timeout: float | None = None) -> "TrainingRun":
        self.job.join(timeout)
        return self

    def snapshot(self) -> jobs.Snapshot:
        return self.job.snapshot()

    @property
    def state(self) -> str:
        return self.job.state

    @property
    def running(self) -> bool:
        return self.job.running

    @property
    def history(self) -> tuple:
        return self.job.snapshot().history

    @property
    def best_val_loss(self) -> float:
        vals = [r.val_loss for r in self.history if math.isfinite(r.val_loss)]
        return min(vals) if vals else float("nan")

    @property
    def step(self) -> int:
        return self.job.snapshot().step

    def rng_state(self) -> dict | None:
        """The random streams' state, so a resumed run draws the batches an uninterrupted one would."""
        if self._gen is None:
            return self._rng_state
        return {"batches": self._gen.get_state(), "torch": torch.get_rng_state()}

    def train(self, on_step=None, poll: float = 0.25) -> jobs.Snapshot:
        """Run to the end and return the final snapshot; on_step(snapshot) is called while it trains.
        Ctrl-C stops it cleanly (the model is kept); a failure raises TrainingError."""
        self.start()
        try:
            while self.job.running:
                self.job.join(poll)
                if on_step is not None:
                    on_step(self.snapshot())
        except KeyboardInterrupt:
            self.stop()
            self.job.join()
        snap = self.snapshot()
        if snap.state == jobs.FAILED:
            raise TrainingError(snap.reason)
        return snap

    # --- the work, in the job's thread ---
    def _sample(self) -> str:
        from llmviz.generate import generate_stream

        if self.train_cfg.sample_tokens <= 0:
            return ""
        start = self.splits["val"][:1].tolist()  # the first validation token as a prompt
        ids = list(generate_stream(self.model, start, self.train_cfg.sample_tokens, seed=self.train_cfg.seed))
        return self.tokenizer.decode(start + ids)

    def _work(self, job: jobs.Job):
        cfg, model = self.train_cfg, self.model
        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        elif self.device == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matmuls: several times faster, plenty precise here
        if self._gen is None:
            # the random streams: batches, and (torch's global generator) dropout masks
            self._gen = torch.Generator()
            if self._rng_state is not None:
                self._gen.set_state(self._rng_state["batches"])
                torch.set_rng_state(self._rng_state["torch"])
            else:
                self._gen.manual_seed(cfg.seed)
                torch.manual_seed(cfg.seed)
        gen = self._gen
        eval_gen = torch.Generator()  # loss estimates: reseeded so every estimate uses the same batches
        if self.optimizer is None:
            self.optimizer = make_optimizer(model, cfg, self.device)
            if self._optim_state is not None:
                self.optimizer.load_state_dict(self._optim_state)
                for group in self.optimizer.param_groups:  # this machine's kernel, not the saving one's
                    group.update(fused=self.optimizer.defaults["fused"], foreach=self.optimizer.defaults["foreach"])
                self._optim_state = None
        opt = self.optimizer
        job.set(params=self.n_params, device=self.device, threads=self.threads)
        model.train()
        done = job.snapshot().history
        t0 = time.perf_counter() - (done[-1].elapsed if done else 0.0)  # elapsed goes on across pauses
        t_mark, tokens = t0, 0
        step = job.snapshot().step  # 0, a checkpoint's step, or where a stopped run paused
        lr = learning_rate_at(step, cfg)
        best = self.best_val_loss

        def evaluate():
            nonlocal t_mark, tokens, best
            now = time.perf_counter()
            eval_gen.manual_seed(cfg.seed + 1)
            losses = estimate_loss(model, self.splits, cfg.batch_size, cfg.eval_iters, eval_gen)
            tps = tokens / (now - t_mark) if tokens else 0.0
            rec = Record(step, losses["train"], losses["val"], lr, tps, now - t0)
            for value in (rec.train_loss, rec.val_loss):
                msg = divergence_message(value, step, lr, self.model_cfg.vocab_size)
                if msg:
                    raise jobs.JobFailed(msg)
            job.record(rec)
            best = min(best, rec.val_loss) if math.isfinite(best) else rec.val_loss
            sample = self._sample()
            samples = {**job.snapshot().extra.get("samples", {}), step: sample}  # a new dict: readers keep theirs
            job.set(sample=sample, samples=samples, best_val_loss=best)
            t_mark, tokens = time.perf_counter(), 0  # do not count evaluation time as training

        if not job.snapshot().history:
            evaluate()  # the loss before any training (≈ ln vocab_size)
        while step < cfg.max_iters:
            if job.should_stop():
                break
            lr = learning_rate_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            x, y = get_batch(self.splits["train"], self.model_cfg.block_size, cfg.batch_size, gen)
            _, loss = model(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            tokens += x.numel()
            value = loss.item()
            msg = divergence_message(value, step, lr, self.model_cfg.vocab_size)
            if msg:
                raise jobs.JobFailed(msg)
            job.set(batch_loss=value, lr=lr)
            job.advance(step)
            if step % cfg.eval_interval == 0 or step == cfg.max_iters:
                evaluate()
        # stopped between evaluations: no final estimate, so that Stop takes effect within one step
        return step
