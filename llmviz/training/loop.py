"""The training loop (tutorial part 2, "boilerplate"), as nanoGPT's train.py writes it: get a batch, forward,
backward, step; every eval_interval steps, estimate the loss on both splits and record it.

Everything else a run may do is an observer (llmviz.training.observers), told what happens at named
moments; the loop trains the same without any:

    on_start(loop)                       once, before the first loss estimate or step
    before_step(loop)                    before a step draws its batch (several processes: their agreed stop)
    on_backward(loop)                    the gradients as backpropagation made them, not yet clipped or applied
    on_step(loop)                        a step was taken (loop.step counts it; its loss is still on the device)
    on_losses(loop, values) -> values    the steps' losses, read from the device, before they are checked
    on_read(loop, n)                     n steps' losses were read and checked
    on_pass(loop, done, total, seconds)  one forward pass of a loss estimate
    on_estimate(loop, figures) -> figures  a loss estimate's figures, before they are checked and recorded
    on_eval(loop, record)                the estimate was recorded (a text sample may follow)
    on_tokens(loop, done, total, seconds)  tokens of a text sample (told by the observer that samples)

Observers are told in their order; a moment that returns its value hands it to the next observer.

The per-step loss stays on the device: on a CPU it is read after every step (reading it costs nothing
there), on a GPU every READ_EVERY steps and at each evaluation, all those steps' losses in one wait, so the
GPU never idles while Python waits for a number. A NaN or exploding loss is reported with its own step.

Stop (llmviz.jobs) is heard before every step, and, in one process, within a step (at every block of the
forward and backward passes: a big model's step is interrupted within a fraction of a pass), between the
forward passes of a loss estimate and between sampled tokens. A step interrupted is undone: the next start
draws the same batch and dropout masks. Several processes stop together, between two steps only.
"""

from __future__ import annotations

import contextlib
import threading
import time

import torch

from llmviz import jobs
from llmviz.errors import LearnerError
from llmviz.training import distributed
from llmviz.training.batches import batch_loss
from llmviz.training.loss import divergence_message, estimate_loss
from llmviz.training.optim import learning_rate_at
from llmviz.training.record import Record

READ_EVERY = 10  # steps between two reads of the per-step loss on a GPU


def read_every(device: str) -> int:
    """Steps between two reads of the per-step loss: every step on a CPU (a read costs nothing there),
    READ_EVERY on a GPU (each read waits until the device has done all it was given)."""
    return 1 if device == "cpu" else READ_EVERY


def train_step(model, batch, opt, params, grad_clip: float, autocast=contextlib.nullcontext,
               on_backward=None) -> torch.Tensor:
    """One step of training, the loop's and the one pace.measure times: forward (in the run's autocast),
    backward, `on_backward()` (the gradients as backpropagation made them), clip to grad_clip, step.
    Returns the loss, still on the device."""
    with autocast():
        loss = batch_loss(model, batch, train=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if on_backward is not None:
        on_backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    opt.step()
    return loss


class TrainingError(LearnerError):
    """Training could not run or ended badly; the message is meant for the learner."""


class Observer:
    """A part of training the loop can do without: each moment (see the module's doc) does nothing here."""

    def on_start(self, loop: "Loop") -> None: ...
    def before_step(self, loop: "Loop") -> None: ...
    def on_backward(self, loop: "Loop") -> None: ...
    def on_step(self, loop: "Loop") -> None: ...
    def on_losses(self, loop: "Loop", values: list[float]) -> list[float]: return values
    def on_read(self, loop: "Loop", n: int) -> None: ...
    def on_pass(self, loop: "Loop", done: int, total: int, seconds: float) -> None: ...
    def on_estimate(self, loop: "Loop", figures: dict[str, float]) -> dict[str, float]: return figures
    def on_eval(self, loop: "Loop", record: Record) -> None: ...
    def on_tokens(self, loop: "Loop", done: int, total: int, seconds: float) -> None: ...


class Loop:
    """One start of a TrainingRun (llmviz.training.train), from the job's step to max_iters or the target loss.
    `interruptible`: Stop may be heard in the middle of work (one process); else between steps only."""

    def __init__(self, run, job: jobs.Job, observers: list[Observer], *, interruptible: bool = True):
        self.run, self.job, self.observers, self.interruptible = run, job, observers, interruptible
        self.cfg = run.train_cfg
        self.step = job.peek().step  # 0, a checkpoint's step, or where a stopped run paused
        self.lr = learning_rate_at(self.step, self.cfg)  # the learning rate of the last step
        self.read_every = read_every(run.device)
        self.unread: list[tuple[int, float, torch.Tensor]] = []  # (step, lr, loss on the device) not read yet
        history = job.peek().history
        self.t0 = time.perf_counter() - (history[-1].elapsed if history else 0.0)  # elapsed goes on across pauses
        self.t_mark, self.tokens = self.t0, 0  # tokens trained on since t_mark (all ranks')

    def tell(self, moment: str, *args) -> None:
        for observer in self.observers:
            getattr(observer, moment)(self, *args)

    def _handed_on(self, moment: str, value):
        for observer in self.observers:
            value = getattr(observer, moment)(self, value)
        return value

    def run_to_end(self) -> int:
        """Train until max_iters (or the target loss); returns the step reached. Raises jobs.Stopped on a
        Stop, TrainingError on a diverging loss."""
        run, cfg = self.run, self.cfg
        opt = run.optimizer
        params = [p for p in run.model.parameters() if p.requires_grad]
        hooks = self.interruptible and not cfg.compile  # a compiled model runs no Python hooks in its kernels
        with stop_within_passes(run.model, self.job) if hooks else contextlib.nullcontext():
            self.tell("on_start")
            if not self.job.peek().history or run.eval_owed:
                self.evaluate()  # the loss before any training (≈ ln vocab_size), or the one a Stop interrupted
            while self.step < cfg.max_iters and not run.reached_target:
                if self.interruptible:
                    self.job.check_stop()
                self.tell("before_step")
                self.lr = learning_rate_at(self.step, cfg)
                for group in opt.param_groups:
                    group["lr"] = self.lr * group.get("lr_scale", 1.0)  # Muon's matrices move at their own rate
                with self._undone_if_stopped():
                    batch = run.batches.batch("train", cfg.batch_size, run._gen)
                    loss = train_step(run._step_model, batch, opt, params, cfg.grad_clip, run.autocast_context,
                                      on_backward=lambda: self.tell("on_backward"))
                self.step += 1
                self.tokens += batch.targets.numel() * run.world.size  # the same shape on every rank
                self.unread.append((self.step, self.lr, loss.detach()))
                self.job.advance(self.step)
                self.tell("on_step")
                at_eval = self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters
                if at_eval or self.step % self.read_every == 0:
                    self.read_losses()
                if at_eval:
                    self.evaluate()
        return self.step

    @contextlib.contextmanager
    def _undone_if_stopped(self):
        """A step interrupted by Stop is as if it never began: the same batch and dropout on the next start."""
        gen, rng = self.run._gen.get_state(), torch.get_rng_state()
        try:
            yield
        except jobs.Stopped:
            self.run._gen.set_state(gen)
            torch.set_rng_state(rng)
            self.run.optimizer.zero_grad(set_to_none=True)
            raise

    def read_losses(self) -> None:
        """The losses of the steps since the last read, from the device in one wait: checked for a
        divergence (named at its own step, which the progress bar then shows) and published."""
        values = torch.stack([loss.float() for _, _, loss in self.unread]).tolist()
        values = self._handed_on("on_losses", values)  # several processes: the mean over all ranks
        for (step, lr, _), value in zip(self.unread, values):
            msg = divergence_message(value, step, lr, self.run.model_cfg.vocab_size)
            if msg:
                self.job.advance(step)
                raise TrainingError(msg)
        self.job.set(batch_loss=values[-1], lr=self.unread[-1][1])
        n, self.unread = len(self.unread), []
        self.tell("on_read", n)

    def evaluate(self) -> None:
        """Estimate both losses and record them (a Stop between the estimate's forward passes records
        nothing: the estimate is owed to the next start), then tell the observers (a text sample)."""
        run, cfg = self.run, self.cfg
        now = time.perf_counter()
        tokens_per_s, elapsed = (self.tokens / (now - self.t_mark) if self.tokens else 0.0), now - self.t0
        # every estimate uses the same batches; each rank its own (llmviz.training.distributed.eval_seed)
        gen = torch.Generator().manual_seed(distributed.eval_seed(cfg.seed, run.world.rank))
        run.eval_owed = True
        with run.autocast_context():
            losses = estimate_loss(run.model, run.batches, cfg.batch_size, cfg.eval_iters, gen,
                                   should_stop=self.job.should_stop if self.interruptible else None,
                                   on_pass=lambda done, total, s: self.tell("on_pass", done, total, s))
        figures = self._handed_on("on_estimate", losses)
        other = {k: v for k, v in figures.items() if k not in ("train", "val")} or None
        rec = Record(self.step, figures["train"], figures["val"], self.lr, tokens_per_s, elapsed, other)
        for value in (rec.train_loss, rec.val_loss):
            msg = divergence_message(value, self.step, self.lr, run.model_cfg.vocab_size)
            if msg:
                raise TrainingError(msg)
        self.job.record(rec)
        run.eval_owed = False
        self.job.set(best_val_loss=run.best_val_loss)
        if cfg.target_loss > 0 and rec.val_loss <= cfg.target_loss and not run.reached_target:
            run.reached_target = True  # the loop ends after this evaluation (on every rank: the same mean)
            self.job.set(reached_target=self.step)
        self.tell("on_eval", rec)
        self.t_mark, self.tokens = time.perf_counter(), 0  # evaluation time is not training time


@contextlib.contextmanager
def stop_within_passes(model: torch.nn.Module, job: jobs.Job):
    """Checks of the stop flag at every block of this thread's forward passes, and at every block's
    output on the way back (backward). Other threads using the model are never interrupted."""
    worker = threading.get_ident()

    def before(module, args):
        if threading.get_ident() == worker:
            job.check_stop()

    def after(module, args, out):
        if threading.get_ident() == worker and isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda grad: job.check_stop())

    blocks = list(model.blocks) if hasattr(model, "blocks") else [model]
    hooks = [b.register_forward_pre_hook(before) for b in blocks] + [b.register_forward_hook(after) for b in blocks]
    try:
        yield
    finally:
        for h in hooks:
            h.remove()
