"""Training a language model (tutorial part 2, "boilerplate"): the run's set-up, and what a page uses.

`TrainingRun` is the one trainer: it takes a model, a batch source (llmviz.training.batches) and a `TrainConfig`,
and runs the loop (llmviz.training.loop) in a background `llmviz.jobs.Job`, so a page can watch the loss curve,
read text samples as the model learns (llmviz.training.observers), and stop it; `TrainingRun.train()` runs it
to the end for the command line and the tests. A run starts in one of four explicit ways:

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
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

from llmviz import jobs
from llmviz.device import autocast_dtype, cpu_count, pick_device, threads_for
from llmviz.nn import flops
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer, Tokenizer
from llmviz.training import distributed
from llmviz.training.batches import BatchSource, TextBatches, WithReference, shared_ids
from llmviz.training.config import TrainConfig, validate
from llmviz.training.loop import Loop, TrainingError
from llmviz.training.observers import Agreement, LookInside, Measure, TextSamples, TimeLeft
from llmviz.training.optim import load_state_by_name, make_optimizer, state_by_name
from llmviz.training.pace import Pace, Prediction, predict
from llmviz.training.presets import preset_config, preset_train_config


@dataclass
class Resume:
    """Where a run picks up: its steps so far, its history, AdamW's memory and the random streams."""
    step: int = 0
    history: tuple = ()
    optimizer_state: dict | None = None  # parameter name -> AdamW state (llmviz.training.optim.state_by_name)
    rng_state: dict | None = None  # {"batches", "torch"}: so a resumed run draws what an uninterrupted one would

    @classmethod
    def of(cls, checkpoint) -> "Resume":
        return cls(checkpoint.step, tuple(checkpoint.history), checkpoint.optimizer_state, checkpoint.rng_state)


def _text_batches(tokenizer: Tokenizer, model_cfg: ModelConfig, train_cfg: TrainConfig, text: str) -> TextBatches:
    """The text's batches for this model, or a TrainingError that says why it cannot train on them."""
    # a compact array for the character tokenizer (no list of millions of ints), shared by the runs of one text
    encode = (lambda t: torch.from_numpy(tokenizer.encode_array(t))) if isinstance(tokenizer, CharTokenizer) \
        else tokenizer.encode
    try:
        ids = shared_ids(text, tokenizer, encode, pick_device(train_cfg.device))
    except ValueError as e:
        raise TrainingError(f"this text does not fit the model's tokenizer: {e}") from None
    problems = validate(model_cfg, train_cfg, len(ids))
    if problems:
        raise TrainingError(" ".join(problems))
    return TextBatches(ids, model_cfg.block_size, train_cfg.val_fraction, pick_device(train_cfg.device))


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
        self.eval_owed = False  # a Stop interrupted the loss estimate of the current step: do it on start
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
        model_cfg = replace(model_cfg, vocab_size=tokenizer.vocab_size)  # a preset made for 65 characters adapts
        batches = _text_batches(tokenizer, model_cfg, train_cfg, text)
        torch.manual_seed(train_cfg.seed)  # the initial weights
        return cls(LanguageModel(model_cfg), tokenizer, batches, train_cfg, preset=preset)

    @classmethod
    def from_preset(cls, name: str, text: str, **train_overrides) -> "TrainingRun":
        """TrainingRun.from_preset("lm2", text, max_iters=1000): the preset's model and training settings."""
        return cls.new(preset_config(name, 1), preset_train_config(name, **train_overrides), text, preset=name)

    @classmethod
    def _on_text(cls, checkpoint, train_cfg: TrainConfig, text: str) -> TextBatches:
        return _text_batches(checkpoint.tokenizer, checkpoint.model_config, train_cfg, text)

    @classmethod
    def resume(cls, checkpoint, train_cfg: TrainConfig, text: str) -> "TrainingRun":
        """Go on training a checkpoint up to train_cfg.max_iters steps: its optimizer, step, history and
        random streams, so 15 + 15 steps give the weights 30 would (on the same CPU)."""
        return cls(checkpoint.model, checkpoint.tokenizer, cls._on_text(checkpoint, train_cfg, text), train_cfg,
                   resume=Resume.of(checkpoint), preset=checkpoint.preset)

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
                   resume=Resume.of(checkpoint))

    # --- what a page uses ---
    @property
    def trainable(self) -> bool:
        return self.batches is not None and not self.inspect_only

    @property
    def usable(self) -> bool:
        """It has learned something and is not changing: its model can be looked at and generated from."""
        return not self.running and self.step > 0 and self.state != jobs.FAILED

    def start(self, *, stop_unwatched_after: float | None = None) -> "TrainingRun":
        """Train in a background thread. A page passes stop_unwatched_after (seconds) so that a run
        nobody polls any more (a closed tab) stops itself; see llmviz.jobs.Job.start."""
        if not self.trainable:
            raise TrainingError(f"this model is for looking inside only: {self.inspect_only}")
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
    def autocast_context(self):
        """The context of a forward pass that learns or estimates: bfloat16 products where chosen."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device, dtype=self.autocast)

    def _prepare(self) -> None:
        """Threads, random streams and the optimizer, on the first start (and the same ones after a pause)."""
        cfg, w = self.train_cfg, self.world
        distributed.bind_device(w)  # this thread's current GPU is this rank's
        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        elif self.device == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matmuls: several times faster, plenty precise here
        if self._gen is None:  # the random streams: batches, and (torch's global generator) dropout masks
            self._gen = distributed.random_streams(cfg.seed, w, self._rng_state, self.step,
                                                   draw=lambda gen: self.batches.batch("train", cfg.batch_size, gen))
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

    def _observers(self) -> list:
        """What this start does besides training (llmviz.training.observers), in the order they are told."""
        w, cfg = self.world, self.train_cfg
        # the time left: predicted from the model's size (before the random streams are seeded: the
        # prediction's measure of this machine draws random numbers) until the first forward pass is measured
        pace = Pace(self.model_cfg, cfg, guess=predict(self.model_cfg, cfg, self.device, self.step),
                    n_splits=len(self.batches.splits))
        watching = [Agreement(w)] if w.distributed else []
        if not w.is_main:  # the same weights on every rank: rank 0 measures, looks inside and samples
            return [*watching, TimeLeft(pace)]
        if self.measure is not None:
            watching.append(Measure(self.model, self.measure))
        if self.inside_every > 0:
            watching.append(LookInside(self.model, self.batches, self.tokenizer.decode, self.inside_every))
        return [*watching, TextSamples(self.model, self.batches, self.tokenizer, cfg.sample_tokens, cfg.seed),
                TimeLeft(pace)]

    def _work(self, job: jobs.Job) -> int:
        observers = self._observers()
        self._prepare()
        job.set(params=self.n_params, trainable=self.n_trainable, device=self.device, threads=self.threads)
        # several processes must all run every step's collectives: they stop together, between steps
        return Loop(self, job, observers, interruptible=not self.world.distributed).run_to_end()
