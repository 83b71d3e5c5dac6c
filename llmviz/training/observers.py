"""What a training run does besides training, told by the loop (llmviz.training.loop) at its named moments:

    TimeLeft    the time left (llmviz.training.pace), published as the job's ETA
    LookInside  a look inside the model (llmviz.nn.inside) between two steps, at most every few tenths of a second
    TextSamples a text sample after each loss estimate, to read what the model has learned
    Measure     more figures at each estimate (held-out accuracy, BLEU, ...), kept in Record.other
    Agreement   several processes (torchrun) deciding together: the mean of every loss, and the stop
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

import torch

from llmviz import jobs
from llmviz.nn import inside
from llmviz.nn.generate import generate_stream
from llmviz.training import distributed
from llmviz.training.loop import Loop, Observer
from llmviz.training.pace import Pace
from llmviz.training.record import Record
from llmviz.training import retention


class TimeLeft(Observer):
    """The time left, as the job's ETA: the pace's prediction until its first steps and passes are measured."""

    def __init__(self, pace: Pace):
        self.pace = pace
        self.t_last = time.perf_counter()  # the end of the previous step: a step's time is all between two

    def _publish(self, job: jobs.Job, left: float | None) -> None:
        if left is not None:
            job.set_eta(left)

    def on_start(self, loop: Loop) -> None:
        first_estimate = self.pace.passes_per_eval if not loop.job.peek().history else 0
        self._publish(loop.job, self.pace.time_left(loop.step, first_estimate))
        self.t_last = time.perf_counter()

    def on_read(self, loop: Loop, n: int) -> None:
        now = time.perf_counter()
        self.pace.saw_step((now - self.t_last) / n)
        self.t_last = now
        self._publish(loop.job, self.pace.time_left(loop.step))

    def on_pass(self, loop: Loop, done: int, total: int, seconds: float) -> None:
        self.pace.saw_pass(seconds)
        self._publish(loop.job, self.pace.time_left(loop.step, total - done, loop.cfg.sample_tokens))

    def on_tokens(self, loop: Loop, done: int, total: int, seconds: float) -> None:
        self.pace.saw_tokens(done, seconds)
        self._publish(loop.job, self.pace.time_left(loop.step, tokens_left_now=total - done))

    def on_eval(self, loop: Loop, record: Record) -> None:
        self.t_last = time.perf_counter()  # told last: after the sample too


def window_of(batches, block_size: int) -> list[int]:
    """A fixed window of validation text whose attention the live view shows."""
    source = getattr(batches, "inner", batches)
    data = getattr(source, "data", None)
    if isinstance(data, dict) and isinstance(data.get("val"), torch.Tensor):
        return data["val"][:block_size].tolist()
    prompt = batches.prompt()  # another kind of source (e.g. conversations): its sample's start
    if not (isinstance(prompt, list) and all(isinstance(i, int) for i in prompt)):
        raise NoWindow("this batch source has no window of token ids to show")
    return prompt


class NoWindow(ValueError):
    """A batch source with no window of token ids for the look inside (conversations, pairs, ...)."""


class LookInside(Observer):
    """Gradient norms (before clipping: as backpropagation made them) and a probe of the updated model,
    published as the job's extra["grad_norms"] and ["inside"]: the first step, then at most every `every` s."""

    def __init__(self, model, batches, decode: Callable[[list[int]], str], every: float):
        self.model, self.batches, self.decode, self.every = model, batches, decode, every
        self.next_look = time.perf_counter()
        self.norms: dict | None = None
        self.failure = ""  # the first time a look failed for another reason than NoWindow: said once

    def on_backward(self, loop: Loop) -> None:
        if time.perf_counter() >= self.next_look:
            self.norms = inside.grad_norms(self.model)

    def on_step(self, loop: Loop) -> None:
        if self.norms is None:
            return
        norms, self.norms = self.norms, None
        self._publish(loop.job, loop.step, norms)
        self.next_look = time.perf_counter() + self.every

    def _publish(self, job: jobs.Job, step: int, norms: dict) -> None:
        """Between two steps: one consistent set of weights."""
        extra = job.peek().extra
        if not hasattr(self.model, "attention_maps"):  # a model without the parts the look shows (an encoder-decoder)
            job.set(grad_norms=retention.thin((*extra.get("grad_norms", ()), (step, norms)), retention.GRAD_NORMS_KEPT))
            return
        try:
            look = inside.probe(self.model, window_of(self.batches, self.model.config.block_size), self.decode,
                                step, extra.get("inside"))
        except NoWindow:  # no window of text to show: the gradient norms are still published
            look = None
        except jobs.Stopped:  # Stop was pressed during the look: skip it, the loop stops at its next check
            return
        except Exception as e:  # a bug in the look: training goes on without it, but it is said (once), not hidden
            if not self.failure:
                traceback.print_exc()
                self.failure = f"the look inside failed ({type(e).__name__}: {e}); training goes on without it"
                job.set(inside_failure=self.failure)
            look = None
        # a new tuple (readers keep theirs), bounded: a long run keeps points evenly spread over all its steps
        grads = retention.thin((*extra.get("grad_norms", ()), (step, norms)), retention.GRAD_NORMS_KEPT)
        job.set(inside=look, grad_norms=grads)


class TextSamples(Observer):
    """After each recorded estimate, sample_tokens of text from the model (or the batch source's own way
    to show progress, e.g. translations): the job's extra["sample"] and ["samples"] (by step)."""

    def __init__(self, model, batches, tokenizer, tokens: int, seed: int):
        self.model, self.batches, self.tokenizer, self.tokens, self.seed = model, batches, tokenizer, tokens, seed

    def _sample(self, loop: Loop) -> str:
        n = self.tokens
        if n <= 0:
            return ""
        if hasattr(self.batches, "sample"):
            return self.batches.sample(self.model)
        start, ids, t = self.batches.prompt(), [], time.perf_counter()
        for tok in generate_stream(self.model, start, n, seed=self.seed):
            ids.append(tok)
            if loop.interruptible:
                loop.job.check_stop()  # one forward pass per token: Stop is heard between two of them
            if len(ids) % 20 == 0:
                loop.tell("on_tokens", len(ids), n, time.perf_counter() - t)
        loop.tell("on_tokens", len(ids), n, time.perf_counter() - t)
        return self.tokenizer.decode(start + ids)

    def on_eval(self, loop: Loop, record: Record) -> None:
        sample = self._sample(loop)  # a Stop here keeps the record, without this step's sample
        # a new dict (readers keep theirs), bounded like the gradient norms
        samples = retention.thin_samples({**loop.job.peek().extra.get("samples", {}), record.step: sample})
        loop.job.set(sample=sample, samples=samples)


class Measure(Observer):
    """The run's own figures at each estimate (measure(model) -> {name: value}), added to Record.other."""

    def __init__(self, model, measure: Callable[[torch.nn.Module], dict[str, float]]):
        self.model, self.measure = model, measure

    def on_estimate(self, loop: Loop, figures: dict[str, float]) -> dict[str, float]:
        return {**figures, **self.measure(self.model)}


class Agreement(Observer):
    """Several processes decide together (llmviz.training.distributed): every loss is the mean over all
    ranks (the same figures, so the same decisions, on all), and they stop together: each read of the
    steps' losses also asks whether any rank was asked to stop (a rank stopping alone would leave the
    others waiting in the next step's collectives). Told first: the others see the agreed figures."""

    def __init__(self, world: distributed.World):
        self.world = world
        self.stop = False

    def before_step(self, loop: Loop) -> None:
        if self.stop:
            loop.job.check_stop()

    def on_losses(self, loop: Loop, values: list[float]) -> list[float]:
        *values, stop = distributed.all_reduce_mean([*values, float(loop.job.should_stop())], self.world)
        if stop > 0:
            loop.job.stop()  # a rank that was not asked itself stops too, and says it was asked
            self.stop = True
        return values

    def on_estimate(self, loop: Loop, figures: dict[str, float]) -> dict[str, float]:
        return dict(zip(figures, distributed.all_reduce_mean(list(figures.values()), self.world)))
