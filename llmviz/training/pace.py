"""How long training takes: a prediction before a run starts, and the time left while it runs.

Before a run starts, `predict(model_cfg, train_cfg)` estimates its duration from the arithmetic it will
do (about 2 multiply-adds per weight per token for a forward pass, 3 times that for a training step,
plus attention's T×T products) at this machine's measured speed on a matrix product, plus a fixed cost
per layer and forward pass. It is rough, so it is quoted as a range (`say`: the prediction times SPREAD,
the band that bench/bench_pace.py measured actual / predicted to fall in), which still tells a one-minute
run from a ten-hour one before anything is allocated.
Where the run already exists and is long (the assistant base's pre-training), `measure(run)` times two
of its real steps on a copy of its model instead (two seconds): the arithmetic's speed does not carry
from one CPU to another (measured: 4.3 times too long on one 2-core machine).

While a run goes, `Pace` replaces the guesses with measurements: the first forward pass of the first
loss estimate gives the time per evaluation pass, the first steps the time per step, the first sample
the time per generated token. `time_left` adds up what remains.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from llmviz.training.loss import eval_passes

LONG_RUN_S = 10 * 60  # a run predicted to take longer than this is worth a warning before it starts
_OVERHEAD_S = (400e-6, 150e-6)  # fixed cost per forward pass and per layer on a CPU (kernel calls, Python)
_EFFICIENCY = 0.5  # a whole model reaches about half the speed of one large matrix product
# the arithmetic above, against the pages' default language models timed on a shared 2-core CPU
# (bench/bench_pace.py): unscaled, they took 1.3 to 2.4 times as long (Python between the products, the
# optimizer, the first steps' warm-up), so the estimate is scaled by their middle; scaled, two sessions of the
# bench measured 0.65 to 1.49 times it (the machine's speed, measured in 50 ms, moves with its load), so it is
# quoted as that band. Not calibrated: the encoder-decoder (padded batches, held-out translations at each
# evaluation), whose page says its benchmark's figures instead
_CALIBRATION = 1.6
SPREAD = (0.6, 1.5)


def forward_flops_per_token(cfg) -> float:
    """Floating-point operations of one token's forward pass (2 per weight of each matrix product,
    plus attention's scores and weighted sums over the block_size positions)."""
    c = cfg.n_embd
    per_block = 3 * c * c + (c * c if cfg.proj else 0)  # query/key/value and the heads' projection
    if cfg.ffwd == "relu":
        per_block += c * c
    elif cfg.ffwd == "mlp":
        per_block += 2 * cfg.ff_mult * c * c
    weights = cfg.n_layer * per_block + c * cfg.vocab_size  # + the head
    return 2.0 * weights + 4.0 * cfg.n_layer * cfg.block_size * c


_rates: dict = {}


def machine_flops(device: str = "cpu", max_age: float = 600.0) -> float:
    """Floating-point operations per second of a matrix product on this device, measured (about 50 ms)
    and remembered for max_age seconds (so a machine busy with other work is measured again)."""
    hit = _rates.get(device)
    if hit and time.monotonic() - hit[1] < max_age:
        return hit[0]
    import torch

    n = 384
    a = torch.randn(1024, n, device=device)
    b = torch.randn(n, 4 * n, device=device)
    flops, reps, t0 = 2.0 * 1024 * n * 4 * n, 0, time.perf_counter()
    torch.mm(a, b)  # warm up
    t0 = time.perf_counter()
    while True:
        torch.mm(a, b)
        reps += 1
        if device == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t0
        if elapsed > 0.04 or reps >= 200:
            break
    rate = flops * reps / max(elapsed, 1e-9)
    _rates[device] = (rate, time.monotonic())
    return rate


@dataclass(frozen=True)
class Prediction:
    seconds: float  # the whole run
    step_s: float  # one training step
    eval_pass_s: float  # one forward pass of a loss estimate
    token_s: float  # one generated token of a text sample

    @property
    def long(self) -> bool:
        return self.seconds > LONG_RUN_S


def _forward_s(cfg, tokens: int, rate: float) -> float:
    return tokens * forward_flops_per_token(cfg) / (rate * _EFFICIENCY) + _OVERHEAD_S[0] + cfg.n_layer * _OVERHEAD_S[1]


def n_evaluations(step: int, max_iters: int, eval_interval: int) -> int:
    """How many loss estimates a run does after `step` up to max_iters (every eval_interval steps, and at the end)."""
    if step >= max_iters:
        return 0
    return max_iters // eval_interval - step // eval_interval + (0 if max_iters % eval_interval == 0 else 1)


def predict(model_cfg, train_cfg, device: str = "cpu", start_step: int = 0, rate: float | None = None) -> Prediction:
    """How long training model_cfg with train_cfg from start_step would take on this device, roughly."""
    rate = rate or machine_flops(device)
    t = train_cfg
    step_s = 3 * _CALIBRATION * _forward_s(model_cfg, t.batch_size * model_cfg.block_size, rate)
    per_call, passes = eval_passes(model_cfg, t.batch_size, t.eval_iters)
    pass_s = _CALIBRATION * _forward_s(model_cfg, per_call * t.batch_size * model_cfg.block_size, rate)
    token_s = _CALIBRATION * _forward_s(model_cfg, model_cfg.block_size, rate)
    evals = n_evaluations(start_step, t.max_iters, t.eval_interval) + (1 if start_step == 0 else 0)
    total = (t.max_iters - start_step) * step_s + evals * (passes * pass_s + t.sample_tokens * token_s)
    return Prediction(total, step_s, pass_s, token_s)


def measure(run, steps: int = 2) -> Prediction:
    """The run's duration from its own steps: `steps` real training steps (forward, backward, AdamW) of a
    copy of its model on its own batches, timed after a first one that warms up; the run itself is
    untouched. predict()'s arithmetic scaled by the measured step, for a long run about to start: it reads
    this machine at this workload, where predict() only scales one matrix product's speed (on one 2-core
    CPU that put the assistant base's pre-training at 2,104 s when it took 490 s; measured: 378 s;
    bench/RESULTS.md)."""
    import copy

    import torch

    from llmviz.training.loop import train_step
    from llmviz.training.optim import make_optimizer

    guess = run.predict()
    model = copy.deepcopy(run.model).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(model, run.train_cfg, run.device)
    gen = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    if run.device == "cpu":
        torch.set_num_threads(run.threads)  # the threads the run will train on
    try:
        for i in range(steps + 1):
            if i == 1:
                t0 = time.perf_counter()
            batch = run.batches.batch("train", run.train_cfg.batch_size, gen)
            train_step(model, batch, opt, params, run.train_cfg.grad_clip, run.autocast_context)
        if run.device == "cuda":
            torch.cuda.synchronize()
        step_s = (time.perf_counter() - t0) / steps
    finally:
        torch.set_num_threads(threads)
    r = step_s / guess.step_s
    return Prediction(guess.seconds * r, step_s, guess.eval_pass_s * r, guess.token_s * r)


def describe(seconds: float) -> str:
    """42 s, 3 min, 1 h 20 min, 2 days."""
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 59.5 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{seconds / 86400:.0f} days"


def say(seconds: float, spread: tuple[float, float] = SPREAD) -> str:
    """A predicted duration as the range it is known to within: "30 s to 1 min", "4 to 8 min"; one figure when
    both ends read the same ("about 2 s" is said "2 s")."""
    low, high = describe(seconds * spread[0]), describe(seconds * spread[1])
    if low == high:
        return low
    lo_n, _, lo_unit = low.partition(" ")
    hi_n, _, hi_unit = high.partition(" ")
    if lo_unit == hi_unit and lo_n.isdigit() and hi_n.isdigit():  # "4 to 8 min", not "4 min to 8 min"
        return f"{lo_n} to {high}"
    return f"{low} to {high}"


class Pace:
    """The time a running training has left, from what it has measured so far (a prediction until then)."""

    def __init__(self, model_cfg, train_cfg, guess: Prediction | None = None, n_splits: int = 2):
        self.cfg = train_cfg
        # batches per forward pass of a loss estimate, and passes per estimate (over every split)
        self.per_call, self.passes_per_eval = eval_passes(model_cfg, train_cfg.batch_size, train_cfg.eval_iters,
                                                          n_splits)
        self.step_s = guess.step_s if guess else None
        self.pass_s = guess.eval_pass_s if guess else None
        self.token_s = guess.token_s if guess else 0.0
        self.measured_step = self.measured_pass = False

    def saw_pass(self, seconds: float) -> None:
        self.pass_s = seconds if not self.measured_pass else 0.7 * self.pass_s + 0.3 * seconds
        if not self.measured_step:  # a step is a forward and a backward pass: about 3 forward passes
            self.step_s = 3 * seconds / self.per_call
        self.measured_pass = True

    def saw_step(self, seconds: float) -> None:
        self.step_s = seconds if not self.measured_step else 0.9 * self.step_s + 0.1 * seconds
        self.measured_step = True

    def saw_tokens(self, n: int, seconds: float) -> None:
        if n > 0:
            self.token_s = seconds / n

    def time_left(self, step: int, passes_left_now: int = 0, tokens_left_now: int = 0) -> float | None:
        """Seconds to the end: the steps after `step`, the evaluations they include, and what is left of
        the evaluation (passes) and sample (tokens) in progress; None before anything is known."""
        if self.step_s is None or self.pass_s is None:
            return None
        c = self.cfg
        evals = n_evaluations(step, c.max_iters, c.eval_interval)
        per_eval = self.passes_per_eval * self.pass_s + c.sample_tokens * self.token_s
        return ((c.max_iters - step) * self.step_s + evals * per_eval + passes_left_now * self.pass_s
                + tokens_left_now * self.token_s)

