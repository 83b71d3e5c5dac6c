"""Training a language model (tutorial part 2, "boilerplate"): draw (x, y) batches from a batch source,
take AdamW steps, and estimate the loss now and then.

`TrainingRun` is the one trainer: it takes a model, a batch source (llmviz.training.batches) and a `TrainConfig`,
and runs the loop in a background `llmviz.jobs.Job`, so a page can watch the loss curve, read text
samples as the model learns, and stop it; `TrainingRun.train()` runs it to the end for the command line
and the tests. A run starts in one of four explicit ways:

    TrainingRun.new(model_cfg, train_cfg, text)       # fresh weights on a text, step 0
    TrainingRun.resume(checkpoint, train_cfg, text)   # the same optimizer, the same step, the same history
    TrainingRun.fine_tune(checkpoint, train_cfg, text, train_only=...)  # its weights, a fresh optimizer at step 0
    TrainingRun.inspect(checkpoint, why)              # nothing to train on: look inside only

Started by torchrun (llmviz.training.distributed), the same run trains on several processes with
DistributedDataParallel: each rank draws its own batches, the gradients are averaged, and the ranks
decide together on every loss estimate, divergence and stop; only rank 0 samples text.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple

import torch

from llmviz.training import distributed
from llmviz import jobs
from llmviz.training.batches import BatchSource, TextBatches, WithReference, batch_loss
from llmviz.device import autocast_dtype, cpu_count, pick_device, threads_for
from llmviz.errors import LearnerError
from llmviz.training.config import TrainConfig, validate
from llmviz.training.loss import divergence_message, estimate_loss
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.presets import preset_config, preset_train_config
from llmviz.training.pace import Pace, Prediction, predict
from llmviz.training.optim import learning_rate_at, load_state_by_name, make_optimizer, state_by_name
from llmviz.text.tokenizers import CharTokenizer, Tokenizer


class Record(NamedTuple):
    """One row of the training history, written at each evaluation."""
    step: int  # optimizer steps done
    train_loss: float  # estimated over eval_iters batches of the training split
    val_loss: float  # the same on the validation split
    lr: float  # learning rate of the last step
    tokens_per_s: float  # training throughput since the previous row
    elapsed: float  # seconds since the start of this run
    other: dict | None = None  # further figures: other splits' losses ({"original": 2.1}), accuracies, ...


def mean_tokens_per_s(history) -> float:
    """Training throughput over a run: the mean of its rows' (the first row, before any step, has none)."""
    speeds = [r.tokens_per_s for r in history if r.tokens_per_s > 0]
    return sum(speeds) / len(speeds) if speeds else 0.0


class TrainingError(LearnerError):
    """Training could not run or ended badly; the message is meant for the learner."""


@dataclass
class Resume:
    """Where a run picks up: its steps so far, its history, AdamW's memory and the random streams."""
    step: int = 0
    history: tuple = ()
    optimizer_state: dict | None = None  # parameter name -> AdamW state (llmviz.training.optim.state_by_name)
    rng_state: dict | None = None  # {"batches", "torch"}: so a resumed run draws what an uninterrupted one would


def _encode(tokenizer: Tokenizer, text: str):
    """The text's token ids: a compact array for the character tokenizer (no list of millions of ints)."""
    try:
        if isinstance(tokenizer, CharTokenizer):
            return torch.from_numpy(tokenizer.encode_array(text))
        return tokenizer.encode(text)
    except ValueError as e:
        raise TrainingError(f"this text does not fit the model's tokenizer: {e}") from None


class TrainingRun:
    """A model, its tokenizer and its batch source, trained in a background job that a page can watch.

        run = TrainingRun.new(preset_config("lm5", 65), TrainConfig(max_iters=2000), text)
        run.start(); ...; snap = run.snapshot()   # snap.history: tuple of Record; snap.extra["sample"]
        run.stop()                                # ends within a forward pass, the model is kept

    A run without a batch source (`inspect`) is for looking inside only: `trainable` is False and
    start() refuses.
    """

    def __init__(self, model: LanguageModel, tokenizer: Tokenizer, batches: BatchSource | None,
                 train_cfg: TrainConfig, *, resume: Resume | None = None, preset: str = "", inspect_only: str = "",
                 measure: Callable[[LanguageModel], dict[str, float]] | None = None, inside_every: float = 0.5):
        resume = resume or Resume()
        problems = train_cfg.problems()
        if tokenizer.vocab_size > model.config.vocab_size:
            problems.append(f"the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                            f"{model.config.vocab_size}: they do not belong together")
        if batches is not None and resume.step >= train_cfg.max_iters >= 1:
            problems.append(f"this model has already trained {resume.step} steps: set max_iters above that "
                            f"to train more")
        if problems:
            raise TrainingError(" ".join(problems))
        self.train_cfg = train_cfg
        self.tokenizer = tokenizer
        self.batches = batches
        self.preset = preset  # the tutorial model this run is a version of ("lm1" ... "fast-cpu"), or ""
        self.measure = measure  # more figures at each evaluation (e.g. held-out accuracy), kept in Record.other
        # a look inside (llmviz.nn.inside: attention, embedding projection, gradient norms) at most every this
        # many seconds while training, published as snapshot().extra["inside"] and ["grad_norms"] (0: never)
        self.inside_every = inside_every
        self.inspect_only = inspect_only if batches is None else ""  # why it cannot train, in plain words
        self.device = pick_device(train_cfg.device)
        # the processes training together (llmviz.training.distributed; one process without torchrun)
        self.world = distributed.world() if batches is not None else distributed.SINGLE
        if self.world.distributed and self.device != self.world.device:
            raise TrainingError(f"this run would train on {self.device}, but the processes torchrun started "
                                f"joined on {self.world.device}: give the same --device to all of them")
        self.model = model.to(self.device)  # the model itself (saved, sampled, looked inside)
        self.model_cfg = model.config
        self.n_params = model.num_params()
        self.n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        # the processes on one machine share its cores: 2 ranks on 2 cores get 1 thread each
        self.threads = train_cfg.threads or threads_for(self.n_params,
                                                        cores=max(1, cpu_count() // self.world.local_size))
        # the matrix products' dtype in training steps and loss estimates (None: float32); see llmviz.device
        self.autocast = autocast_dtype(self.device, train_cfg.precision, self.n_params)
        # the model the training steps call: the model itself, or DDP around it when several processes
        # train (llmviz.training.distributed), compiled or not
        self._step_model = None
        self.reached_target = False  # a validation estimate reached train_cfg.target_loss: the run ended early
        self.optimizer: torch.optim.Optimizer | None = None  # made in the worker thread, on the first start()
        self._pending_optim = resume.optimizer_state  # a checkpoint's AdamW memory, until the optimizer exists
        self._rng_state = resume.rng_state
        self._gen: torch.Generator | None = None
        self._eval_owed = False  # a Stop interrupted the loss estimate of the current step: do it on start
        self._pace: Pace | None = None
        self.job = jobs.Job(self._work, total=train_cfg.max_iters, name="train")
        self.job.advance(resume.step)
        for r in resume.history:
            self.job.record(r)

    # --- the four ways to start ---
    @classmethod
    def new(cls, model_cfg: ModelConfig, train_cfg: TrainConfig, text: str, tokenizer: Tokenizer | None = None,
            preset: str = "") -> "TrainingRun":
        """Fresh weights (seeded) on a text; the vocabulary follows the text's tokenizer (its characters by default)."""
        if not text:
            raise TrainingError("there is no text to train on")
        tokenizer = tokenizer or CharTokenizer().train(text)
        ids = _encode(tokenizer, text)
        model_cfg = replace(model_cfg, vocab_size=tokenizer.vocab_size)  # a preset made for 65 characters adapts
        problems = validate(model_cfg, train_cfg, len(ids))
        if problems:
            raise TrainingError(" ".join(problems))
        torch.manual_seed(train_cfg.seed)  # the initial weights
        model = LanguageModel(model_cfg)
        device = pick_device(train_cfg.device)
        return cls(model, tokenizer, TextBatches(ids, model_cfg.block_size, train_cfg.val_fraction, device),
                   train_cfg, preset=preset)

    @classmethod
    def from_preset(cls, name: str, text: str, **train_overrides) -> "TrainingRun":
        """TrainingRun.from_preset("lm2", text, max_iters=1000): the preset's model and training settings."""
        return cls.new(preset_config(name, 1), preset_train_config(name, **train_overrides), text, preset=name)

    @classmethod
    def _on_text(cls, checkpoint, train_cfg: TrainConfig, text: str) -> TextBatches:
        ids = _encode(checkpoint.tokenizer, text)
        problems = validate(checkpoint.model_config, train_cfg, len(ids))
        if problems:
            raise TrainingError(" ".join(problems))
        return TextBatches(ids, checkpoint.model_config.block_size, train_cfg.val_fraction, pick_device(train_cfg.device))

    @classmethod
    def resume(cls, checkpoint, train_cfg: TrainConfig, text: str) -> "TrainingRun":
        """Go on training a checkpoint up to train_cfg.max_iters steps: its optimizer, step, history and
        random streams, so 15 + 15 steps give the weights 30 would (on the same CPU)."""
        return cls(checkpoint.model, checkpoint.tokenizer, cls._on_text(checkpoint, train_cfg, text), train_cfg,
                   resume=Resume(checkpoint.step, tuple(checkpoint.history), checkpoint.optimizer_state,
                                 checkpoint.rng_state), preset=checkpoint.preset)

    @classmethod
    def fine_tune(cls, checkpoint, train_cfg: TrainConfig, text: str,
                  train_only: Callable[[str], bool] | None = None, original: str | None = None) -> "TrainingRun":
        """Start from a checkpoint's weights with a fresh optimizer at step 0 on a new text. With
        train_only(parameter name) -> bool, the other parameters are frozen (not optimised at all).
        With the original text, its validation loss is measured too (Record.other["original"])."""
        batches = cls._on_text(checkpoint, train_cfg, text)
        if original is not None:
            batches = WithReference(batches, "original", cls._on_text(checkpoint, train_cfg, original))
        model = checkpoint.model
        if train_only is not None:
            for name, p in model.named_parameters():
                p.requires_grad_(bool(train_only(name)))
            if not any(p.requires_grad for p in model.parameters()):
                raise TrainingError("nothing would train: every parameter is frozen")
        return cls(model, checkpoint.tokenizer, batches, train_cfg, preset=checkpoint.preset)

    @classmethod
    def inspect(cls, checkpoint, why: str = "it has no text to train on") -> "TrainingRun":
        """A checkpoint to look inside (generate, probabilities, attention, save), not to train."""
        cfg = replace(checkpoint.train_config, max_iters=max(1, checkpoint.step))
        return cls(checkpoint.model, checkpoint.tokenizer, None, cfg, preset=checkpoint.preset, inspect_only=why,
                   resume=Resume(checkpoint.step, tuple(checkpoint.history), checkpoint.optimizer_state,
                                 checkpoint.rng_state))

    # --- what a page uses ---
    @property
    def trainable(self) -> bool:
        return self.batches is not None

    @property
    def usable(self) -> bool:
        """It has learned something and is not changing: its model can be looked at and generated from."""
        return not self.running and self.step > 0 and self.state != jobs.FAILED

    def start(self, *, stop_unwatched_after: float | None = None) -> "TrainingRun":
        """Train in a background thread. A page passes stop_unwatched_after (seconds) so that a run
        nobody polls any more (a closed tab) stops itself; see llmviz.jobs.Job.start."""
        if not self.trainable:
            raise TrainingError(f"this model was loaded for inspection only: {self.inspect_only}")
        self.job.start(stop_unwatched_after=stop_unwatched_after)
        return self

    def stop(self) -> None:
        """Ask the worker to stop; it does within one forward pass (inside a step, a loss estimate or a
        sample alike), keeping every finished step. Returns at once; start() again resumes."""
        self.job.stop()

    @property
    def stopping(self) -> bool:
        """Stop was asked and the worker is finishing the forward pass in progress."""
        return self.job.stopping

    def predict(self) -> Prediction:
        """How long the rest of this run should take on its device (rough, before anything is measured)."""
        return predict(self.model_cfg, self.train_cfg, self.device, self.step)

    def extend(self, max_iters: int) -> "TrainingRun":
        """Train up to max_iters steps in all (after a run finished, before start() again)."""
        if self.running:
            raise RuntimeError("stop the run before changing its length")
        self.train_cfg = replace(self.train_cfg, max_iters=max_iters)
        self.job.total = max_iters
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
        return self.job.peek().history

    @property
    def best_val_loss(self) -> float:
        vals = [r.val_loss for r in self.history if math.isfinite(r.val_loss)]
        return min(vals) if vals else float("nan")

    @property
    def step(self) -> int:
        return self.job.peek().step

    def mfu(self, tokens_per_s: float) -> float | None:
        """Model FLOPs utilisation at this throughput, on a GPU whose peak is known (llmviz.nn.flops); else None.
        Under torchrun the throughput counts all processes' tokens: each GPU's share is measured against its peak."""
        if self.device != "cuda" or type(self.model) is not LanguageModel:  # the count is a decoder-only one
            return None
        from llmviz.nn import flops

        return flops.mfu(tokens_per_s / self.world.size, self.model, torch.cuda.get_device_name(),
                         bfloat16=self.autocast is not None)

    def optimizer_state(self) -> dict | None:
        """AdamW's memory by parameter name (a loaded run that has not trained since keeps its checkpoint's)."""
        if self.optimizer is None:
            return self._pending_optim
        return state_by_name(self.optimizer, self.model)

    @property
    def effective_batch_size(self) -> int:
        """Sequences per optimizer step: batch_size on each of the world's processes."""
        return self.train_cfg.batch_size * self.world.size

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
            # not job.join(): on Python 3.11 a Thread.join that Ctrl-C interrupted returns at once afterwards,
            # before the thread ends (the model would be saved while it still trains)
            while self.job.running:
                time.sleep(0.02)
        snap = self.snapshot()
        if snap.state == jobs.FAILED:
            raise TrainingError(snap.reason)
        return snap

    # --- the work, in the job's thread ---
    def _autocast(self):
        """The context of a forward pass that learns or estimates: bfloat16 products where chosen."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast)

    def _prepare(self) -> None:
        """Threads, random streams and the optimizer, on the first start (and the same ones after a pause)."""
        cfg = self.train_cfg
        w = self.world
        distributed.bind_device(w)  # this thread's current GPU is this rank's
        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        elif self.device == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matmuls: several times faster, plenty precise here
        if self._gen is None:
            # the random streams: batches, and (torch's global generator) dropout masks; rank r of several
            # processes draws its own (llmviz.training.distributed.train_seed), rank 0 the single process's
            self._gen = torch.Generator()
            if self._rng_state is not None and w.is_main:
                self._gen.set_state(self._rng_state["batches"])
                torch.set_rng_state(self._rng_state["torch"])
            else:
                seed = distributed.train_seed(cfg.seed, w.rank)
                self._gen.manual_seed(seed)
                torch.manual_seed(seed)
                if self._rng_state is not None:
                    # a resumed run saved rank 0's streams only: another rank skips the batches it drew
                    # before, as the same number of processes running on without a pause would have
                    for _ in range(self.job.peek().step):
                        self.batches.batch("train", cfg.batch_size, self._gen)
        if self._step_model is None:
            # DDP starts every rank from rank 0's weights and averages the gradients in backward; compiled,
            # the steps run as fused kernels after a first, slow compilation; loss estimates and text samples
            # keep the plain model (other shapes, no recompilation)
            trained = distributed.wrap(self.model, w)
            self._step_model = torch.compile(trained) if cfg.compile else trained
        if self.optimizer is None:
            self.optimizer = make_optimizer(self.model, cfg, self.device)
            if self._pending_optim:
                load_state_by_name(self.optimizer, self.model, self._pending_optim)
            self._pending_optim = None

    def _sample(self, job: jobs.Job, step: int) -> str:
        from llmviz.nn.generate import generate_stream

        n = self.train_cfg.sample_tokens
        if n <= 0:
            return ""
        if hasattr(self.batches, "sample"):  # a source with its own way to show progress (e.g. translations)
            return self.batches.sample(self.model)
        start, ids, t = self.batches.prompt(), [], time.perf_counter()
        for tok in generate_stream(self.model, start, n, seed=self.train_cfg.seed):
            ids.append(tok)
            if not self.world.distributed:  # several processes stop together, between two steps only
                job.check_stop()  # one forward pass per token: Stop is heard between two of them
            if len(ids) % 20 == 0:
                self._pace.saw_tokens(len(ids), time.perf_counter() - t)
                job.set_eta(self._pace.time_left(step, tokens_left_now=n - len(ids)))
        self._pace.saw_tokens(len(ids), time.perf_counter() - t)
        return self.tokenizer.decode(start + ids)

    def _evaluate(self, job: jobs.Job, step: int, lr: float, tokens_per_s: float, elapsed: float) -> None:
        """Estimate both losses (Stop is heard between their forward passes: then nothing is recorded and
        the estimate is owed to the next start), record them, then write a text sample."""
        cfg, w = self.train_cfg, self.world
        # every estimate uses the same batches; each rank its own (llmviz.training.distributed.eval_seed)
        eval_gen = torch.Generator().manual_seed(distributed.eval_seed(cfg.seed, w.rank))
        self._eval_owed = True

        def on_pass(done: int, total: int, seconds: float) -> None:
            self._pace.saw_pass(seconds)
            left = self._pace.time_left(step, total - done, cfg.sample_tokens)
            if left is not None:
                job.set_eta(left)

        # several processes cannot stop in the middle of an estimate: they stop together, between steps
        with self._autocast():
            losses = estimate_loss(self.model, self.batches, cfg.batch_size, cfg.eval_iters, eval_gen,
                                   should_stop=None if w.distributed else job.should_stop, on_pass=on_pass)
        if w.distributed:  # the mean over all ranks' batches: the same figures, so the same decisions, on all
            losses = dict(zip(losses, distributed.all_reduce_mean(list(losses.values()), w)))
        other = {k: v for k, v in losses.items() if k not in ("train", "val")}
        if self.measure is not None and w.is_main:  # the same weights on every rank: measured once
            other.update(self.measure(self.model))
        other = other or None
        rec = Record(step, losses["train"], losses["val"], lr, tokens_per_s, elapsed, other)
        for value in (rec.train_loss, rec.val_loss):
            msg = divergence_message(value, step, lr, self.model_cfg.vocab_size)
            if msg:
                raise TrainingError(msg)
        job.record(rec)
        self._eval_owed = False
        job.set(best_val_loss=self.best_val_loss)
        if cfg.target_loss > 0 and rec.val_loss <= cfg.target_loss and not self.reached_target:
            self.reached_target = True  # the loop ends after this evaluation (on every rank: the same mean)
            job.set(reached_target=step)
        if not w.is_main:  # text samples are rank 0's (no collectives in them)
            return
        sample = self._sample(job, step)  # a Stop here keeps the record, without this step's sample
        samples = {**job.peek().extra.get("samples", {}), step: sample}  # a new dict: readers keep theirs
        job.set(sample=sample, samples=samples)

    def _stop_hooks(self, job: jobs.Job) -> list:
        """Checks of the stop flag at every block of this thread's forward passes, and at every block's
        output on the way back (backward): a big model's step is interrupted within a fraction of a pass.
        Other threads using the model (none while it trains) are never interrupted."""
        worker = threading.get_ident()

        def before(module, args):
            if threading.get_ident() == worker:
                job.check_stop()

        def after(module, args, out):
            if threading.get_ident() == worker and isinstance(out, torch.Tensor) and out.requires_grad:
                out.register_hook(lambda grad: job.check_stop())

        blocks = list(self.model.blocks) if hasattr(self.model, "blocks") else [self.model]
        return ([b.register_forward_pre_hook(before) for b in blocks]
                + [b.register_forward_hook(after) for b in blocks])

    def _window(self) -> list[int]:
        """A fixed window of validation text whose attention the live view shows."""
        source = getattr(self.batches, "inner", self.batches)
        data = getattr(source, "data", None)
        if isinstance(data, dict) and isinstance(data.get("val"), torch.Tensor):
            return data["val"][: self.model_cfg.block_size].tolist()
        prompt = self.batches.prompt()  # another kind of source (e.g. conversations): its sample's start
        if not (isinstance(prompt, list) and all(isinstance(i, int) for i in prompt)):
            raise TypeError("this batch source has no window of token ids to show")
        return prompt

    def _look_inside(self, job: jobs.Job, step: int, norms: dict) -> None:
        """Publish a look inside, between two steps (one consistent set of weights)."""
        from llmviz.nn import inside

        extra = job.peek().extra
        try:
            look = inside.probe(self.model, self._window(), self.tokenizer.decode, step, extra.get("inside"))
        except (ValueError, TypeError, IndexError, AttributeError):  # no window of text to show, or no such
            look = None  # model parts: the gradient norms are still published
        except jobs.Stopped:  # Stop was pressed during the look: skip it, the loop stops at its next check
            return
        grads = (*extra.get("grad_norms", ()), (step, norms))  # a new tuple: readers keep theirs
        job.set(inside=look, grad_norms=grads)

    def _work(self, job: jobs.Job) -> int:
        # a compiled model cannot run Python hooks inside its kernels, and several processes must all run
        # every step's collectives: then Stop is heard between steps
        hooks = [] if self.train_cfg.compile or self.world.distributed else self._stop_hooks(job)
        try:
            return self._loop(job)
        finally:
            for h in hooks:
                h.remove()

    def _stop_agreed(self, job: jobs.Job, loss: float) -> tuple[float, bool]:
        """The step's loss averaged over all ranks, and whether any rank was asked to stop: one
        collective per step, so every rank stops after the same step (a rank stopping alone would
        leave the others waiting in the next one). One process: its own loss; it checks its stop flag
        itself, before each step and within it."""
        if not self.world.distributed:
            return loss, False
        loss, stop = distributed.all_reduce_mean([loss, float(job.should_stop())], self.world)
        if stop > 0:
            job.stop()  # a rank that was not asked itself stops too, and says it was asked
        return loss, stop > 0

    def _loop(self, job: jobs.Job) -> int:
        cfg = self.train_cfg
        done = job.peek().history
        step = job.peek().step  # 0, a checkpoint's step, or where a stopped run paused
        # the time left: predicted from the model's size until the first forward pass is measured
        self._pace = Pace(self.model_cfg, cfg, guess=predict(self.model_cfg, cfg, self.device, step),
                          n_splits=len(self.batches.splits))
        job.set_eta(self._pace.time_left(step, self._pace.passes_per_eval if not done else 0))
        self._prepare()
        opt, w = self.optimizer, self.world
        params = [p for p in self.model.parameters() if p.requires_grad]
        job.set(params=self.n_params, trainable=self.n_trainable, device=self.device, threads=self.threads)
        t0 = time.perf_counter() - (done[-1].elapsed if done else 0.0)  # elapsed goes on across pauses
        t_mark, tokens = t0, 0
        lr = learning_rate_at(step, cfg)
        next_look = time.perf_counter()  # the first step is looked at, then at most every inside_every seconds
        if not done or self._eval_owed:
            # the loss before any training (≈ ln vocab_size), or the estimate a Stop interrupted
            self._evaluate(job, step, lr, 0.0, time.perf_counter() - t0)
            t_mark = time.perf_counter()
        t_last = time.perf_counter()  # the end of the previous step: a step's time is all that happens between two
        stop = False
        while step < cfg.max_iters and not self.reached_target:
            if stop or not w.distributed:  # several processes: only the stop they agreed on
                job.check_stop()
            lr = learning_rate_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            rng = (self._gen.get_state(), torch.get_rng_state())
            try:
                b = self.batches.batch("train", cfg.batch_size, self._gen)
                with self._autocast():
                    loss = batch_loss(self._step_model, b, train=True)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            except jobs.Stopped:
                # interrupted inside the step: as if it never began (same batch and dropout on the next start)
                self._gen.set_state(rng[0])
                torch.set_rng_state(rng[1])
                opt.zero_grad(set_to_none=True)
                raise
            look = self.inside_every > 0 and w.is_main and time.perf_counter() >= next_look
            if look:
                from llmviz.nn.inside import grad_norms

                norms = grad_norms(self.model)  # before clipping: the gradient as backpropagation made it
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            step += 1
            if look:
                self._look_inside(job, step, norms)
                next_look = time.perf_counter() + self.inside_every
            tokens += b.targets.numel() * w.size  # all ranks' batches (the same shape on every rank)
            # read after the update is queued: no wait for the forward pass on a GPU
            value, stop = self._stop_agreed(job, loss.item())
            job.advance(step)  # the bar shows the step a divergence names
            msg = divergence_message(value, step, lr, self.model_cfg.vocab_size)
            if msg:
                raise TrainingError(msg)
            job.set(batch_loss=value, lr=lr)
            now = time.perf_counter()
            self._pace.saw_step(now - t_last)
            t_last = now
            job.set_eta(self._pace.time_left(step))
            if step % cfg.eval_interval == 0 or step == cfg.max_iters:
                self._evaluate(job, step, lr, tokens / (now - t_mark) if tokens else 0.0, now - t0)
                t_mark, tokens = time.perf_counter(), 0  # do not count evaluation time as training
                t_last = t_mark
        return step
