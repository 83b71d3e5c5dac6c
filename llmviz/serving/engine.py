"""Dynamic batching: many requests decoded together by one model (tutorial part 4, serving).

Generating one token for one request costs a whole forward pass; for a small model most of that cost
is overhead, so a pass over 16 sequences costs little more than a pass over one. The engine keeps one
scheduler thread that, at every step, puts every active request's context in one batch, runs one
forward pass, and samples each request's next token. A request that arrives while a step runs joins
at the next step; a request that ends leaves at once.

Each sequence is right-padded to the model's block_size, so every forward pass has the same shape
whatever the company: the causal mask keeps padding out of the real positions, and a fixed shape
makes a row's logits identical however many rows the batch has. Each request samples with its own
seeded `torch.Generator` (llmviz.nn.sampling's `sample_rows`, the one sampler, the whole batch at once),
so a request with a seed gets exactly the text it gets when it is alone. Its text is a
llmviz.nn.generate.StreamText: cut before a stop string, streamed without half of one.

The engine never blocks on a consumer: it hands results to a callback (the HTTP layer puts them on
its own queue), so a slow or vanished client cannot stall the others. Every request it accepted ends
with one final Delta, whatever happens: finished, failed ("error", with words), or shut down; only a
request its client cancelled ends without one (nobody is waiting for it).
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F

from llmviz.errors import LearnerError
from llmviz.nn.generate import StreamText
from llmviz.nn.sampling import Constraint, sample_rows

log = logging.getLogger(__name__)


class EngineBusy(LearnerError):
    """Too many requests are waiting; try again shortly."""


class EngineError(RuntimeError):
    """The model failed while computing a step (a bug, not the request's fault)."""


class Cancelled(Exception):
    """A computation was stopped because nobody waits for its result any more."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 16  # tokens to generate at most
    temperature: float = 1.0  # 0: always the most likely token
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches top_p
    top_k: int | None = None  # keep the k most likely tokens
    seed: int | None = None  # the same seed and prompt give the same text (None: a random seed)
    stop: tuple[str, ...] = ()  # generation ends before the first of these strings (not included)
    stop_token_ids: tuple[int, ...] = ()  # generation ends at one of these tokens (not included)
    logprobs: int | None = None  # also return the model's top-k log-probabilities per token (None: none)
    stream: bool = False  # hand out text as it is generated, not only at the end
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, number added to its logit), llmviz.nn.sampling
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    constraint: Callable[[], Constraint] | None = None  # makes each sequence's constraint (constrained decoding)


class TokenLogprob(NamedTuple):
    token: str  # the token's text
    logprob: float  # the model's own log-probability (before temperature, top-k, top-p)
    top: tuple[tuple[str, float], ...]  # the most likely tokens at that step and their log-probabilities
    offset: int  # where the token's text starts in the completion


class Delta(NamedTuple):
    """What a sequence hands out: new text (maybe empty), the tokens behind it, and once, the end."""
    text: str
    tokens: tuple[TokenLogprob, ...]
    finish_reason: str | None  # None while it runs, then "stop", "length" or "error"
    error: str = ""


@dataclass
class Seq:
    """One request being decoded: its context, its random generator and what it has produced."""
    ids: list[int]  # the context: prompt then generated tokens
    params: SamplingParams
    on_delta: Callable[[Delta], None]
    tokenizer: object
    generator: torch.Generator
    n_prompt: int
    generated: list[int] = field(default_factory=list)  # the completion's tokens (a stop token not included)
    n_sampled: int = 0  # tokens sampled, a final stop token included (the usage count)
    out: StreamText = field(init=False, repr=False)  # the completion's text, cut at a stop string; what was handed out
    constraint: Constraint | None = field(init=False, repr=False)  # what may come next (constrained decoding)
    tokens: list[TokenLogprob] = field(default_factory=list)
    tokens_sent: int = 0
    finish_reason: str | None = None
    cancelled: bool = False
    t_submit: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.out = StreamText(self.tokenizer, self.params.stop)
        self.constraint = self.params.constraint() if self.params.constraint is not None else None

    @property
    def text(self) -> str:
        """The completion so far (decoded)."""
        return self.out.text

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.cancelled

    def cancel(self) -> None:
        """Drop this request at the next step (its client went away)."""
        self.cancelled = True

    def _needs_text(self) -> bool:
        p = self.params
        return p.stream or bool(p.stop) or p.logprobs is not None

    def _release(self, finish: str | None) -> None:
        """Hand out the text that is safe to show and the tokens that start in it; at the end, all the text
        and drop the other tokens (those of a stop string)."""
        text = self.out.take(final=finish is not None)
        fresh = self.tokens[self.tokens_sent:]
        tokens = tuple(t for t in fresh if t.offset < self.out.shown)
        self.tokens_sent = len(self.tokens) if finish else self.tokens_sent + len(tokens)
        if text or tokens or finish:
            self.on_delta(Delta(text, tokens, finish))

    def add(self, token: int, logprob: TokenLogprob | None) -> None:
        """Take one sampled token; decide whether the sequence ends; hand out what can be handed out."""
        p = self.params
        self.ids.append(token)
        self.n_sampled += 1
        if self.constraint is not None:
            self.constraint.advance(token)
        if token in p.stop_token_ids:
            return self.finish("stop")
        self.generated.append(token)
        if self._needs_text():
            before = len(self.out.text)
            stopped = self.out.add(token)
            if logprob is not None:
                self.tokens.append(logprob._replace(offset=min(before, len(self.out.text))))
            if stopped:
                return self.finish("stop")
        if len(self.generated) >= p.max_tokens:
            return self.finish("length")
        if p.stream:
            self._release(None)

    def fail(self, message: str) -> None:
        """End with finish_reason "error" and one final Delta saying why (a consumer that fails too is logged)."""
        self.finish_reason = "error"
        try:
            self.on_delta(Delta("", (), "error", message))
        except Exception:
            log.exception("a request's consumer failed while being told that it failed")

    def finish(self, reason: str) -> None:
        if not self._needs_text():
            self.out.text = self.tokenizer.decode(self.generated)
        self.finish_reason = reason
        self._release(reason)


class BatchEngine:
    """One model, many requests: submit() from any thread; a scheduler thread decodes them together.

        engine = BatchEngine(model, tokenizer).start()
        out = engine.complete(tokenizer.encode("ROMEO:"), SamplingParams(max_tokens=50, seed=1))
        engine.stop()
    """

    def __init__(self, model, tokenizer, max_batch: int = 64, max_waiting: int = 1024):
        if getattr(model, "architecture", "decoder-only") != "decoder-only":
            raise LearnerError(f"this is an {model.architecture} model: it answers a source sentence, not a prompt, "
                               "so it cannot be served as a completion API. Serve a decoder-only language model.")
        if max_batch < 1 or max_waiting < 1:
            raise LearnerError(f"the batch engine needs room for at least one request (max_batch={max_batch}, "
                               f"max_waiting={max_waiting}).")
        self.model, self.tokenizer = model, tokenizer
        self.block_size = model.config.block_size
        self.device = next(model.parameters()).device
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self._waiting: collections.deque[Seq] = collections.deque()
        self._active: list[Seq] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # counters for the curious (and the benchmark): steps, tokens, and how full the batches were
        self.steps = 0
        self.tokens_generated = 0
        self.batch_sizes: collections.Counter = collections.Counter()

    # --- used by any thread ---
    def start(self) -> "BatchEngine":
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="llmviz-batch-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        """Finish the step in progress, end every request (finish_reason "error"), stop the thread. A step
        still running after `timeout` sends nothing more: its requests have had their final Delta."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._cond:  # submit() refuses from now on: nothing can join these lists after they are emptied
            ending = list(self._waiting) + self._active
            self._waiting.clear()
            self._active = []
        for s in ending:
            if not s.done:
                s.fail("the server is shutting down")

    @property
    def running(self) -> bool:
        with self._cond:
            return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def load(self) -> tuple[int, int]:
        """(requests being decoded, requests waiting for a place in the batch)."""
        with self._cond:
            return len(self._active), len(self._waiting)

    def batch_size_counts(self) -> dict[int, int]:
        """How many steps ran with each batch size so far (a copy: the engine thread goes on counting)."""
        with self._cond:
            return dict(self.batch_sizes)

    def submit(self, prompt_ids: Sequence[int], params: SamplingParams, on_delta: Callable[[Delta], None]) -> Seq:
        """Queue one request; on_delta is called from the scheduler thread (keep it quick: hand the delta
        to a queue). With params.stream, deltas come as text is generated; otherwise one, at the end."""
        ids = list(prompt_ids)
        if not ids:
            raise LearnerError("give at least one token of context")
        seed = params.seed if params.seed is not None else secrets.randbits(63)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        seq = Seq(ids, params, on_delta, self.tokenizer, gen, len(ids))
        if params.max_tokens <= 0:
            seq.finish("length")
            return seq
        with self._cond:
            if self._stopping or self._thread is None or not self._thread.is_alive():
                raise EngineError("the engine is not running")
            if len(self._waiting) >= self.max_waiting:
                raise EngineBusy(f"{len(self._waiting)} requests are already waiting; try again shortly")
            self._waiting.append(seq)
            self._cond.notify()
        return seq

    def complete(self, prompt_ids: Sequence[int], params: SamplingParams, timeout: float | None = None) -> Seq:
        """Submit and wait until the sequence ends (for in-process use and tests)."""
        done = threading.Event()
        seq = self.submit(prompt_ids, params, lambda d: done.set() if d.finish_reason else None)
        if not done.wait(timeout):
            seq.cancel()
            raise TimeoutError("the completion did not finish in time")
        return seq

    # --- the scheduler thread ---
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._waiting and not self._active:
                    self._cond.wait()
                if self._stopping:
                    return
                while self._waiting and len(self._active) < self.max_batch:
                    self._active.append(self._waiting.popleft())
            batch = [s for s in self._active if not s.done]
            if batch:
                try:
                    self._step(batch)
                except Exception as e:  # a bug in a step must not take the server down with it
                    log.exception("a batch step failed")
                    for s in batch:
                        if not s.done:
                            s.fail(f"{type(e).__name__} while generating")
            with self._cond:
                self._active = [s for s in self._active if not s.done]

    @torch.no_grad()
    def _step(self, batch: list[Seq]) -> None:
        T = self.block_size
        rows, last = [], []
        for s in batch:
            ctx = s.ids[-T:]
            rows.append(ctx + [0] * (T - len(ctx)))  # right padding: the causal mask hides it
            last.append(len(ctx) - 1)
        idx = torch.tensor(rows, dtype=torch.long, device=self.device)  # (B, T)
        logits, _ = self.model(idx)  # (B, T, vocab)
        logits = logits[torch.arange(len(batch), device=self.device), torch.tensor(last, device=self.device)]  # (B, vocab)
        want = [s.params.logprobs for s in batch]
        logp = F.log_softmax(logits.float(), dim=-1).cpu() if any(k is not None for k in want) else None
        masks = [s.constraint.allowed() if s.constraint is not None else None for s in batch]
        tokens = sample_rows(logits, [s.params for s in batch], [s.generator for s in batch],
                             [s.generated for s in batch], masks)
        with self._cond:
            self.steps += 1
            self.batch_sizes[len(batch)] += 1
            self.tokens_generated += len(batch)
        for i, (s, tok) in enumerate(zip(batch, tokens)):
            if s.done:  # cancelled meanwhile, or ended by stop() while this step ran
                continue
            p = s.params
            try:
                info = token_logprob(logp[i], tok, p.logprobs, self.tokenizer) if p.logprobs is not None else None
                s.add(tok, info)
            except Exception as e:  # this request's text or its consumer failed: it alone ends, and says so
                log.exception("a request failed while taking its token")
                s.fail(f"{type(e).__name__} while handing out the text")


def token_logprob(logp: torch.Tensor, token: int, k: int, tokenizer) -> TokenLogprob:
    """The log-probability of `token` under a row of log-probabilities (vocab,), and the k best."""
    top = []
    if k > 0:
        values, ids = torch.topk(logp, min(k, logp.numel()))
        top = [(tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, ids)]
    return TokenLogprob(tokenizer.decode([token]), float(logp[token]), tuple(top), 0)
