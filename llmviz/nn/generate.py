"""Generating text (tutorial part 2, "predicting"): turn the last position's logits into a probability
distribution, reshape it with temperature, top-k and top-p, sample one token, append it, repeat.

The context is cropped to the model's block_size, because that is all it was trained to look at. The
sampling itself is llmviz.nn.sampling's, the same the server's batch engine uses.

`StreamText` turns generated tokens into the text a stream can show: decoded as they come, cut before
the first stop string, never showing half a character or the start of what may become a stop string.
The server's engine, the LangChain adapter and instruction tuning's answers all end their text with it
(through `generate_until` where the tokens come from `generate_stream`).

Generation never changes the model: no switching between training and evaluation modes (dropout is
off unless the trainer asks for it), no gradients. Many threads can generate from one model at once,
and a seed gives the same text whoever else is generating.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from typing import NamedTuple

import math

import torch
import torch.nn.functional as F

from llmviz.errors import LearnerError
from llmviz.nn.sampling import Constraint, Sampling, probabilities, sample_rows


def sampling_problems(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                      max_new_tokens: int | None = None) -> list[str]:
    """What makes these sampling settings unusable, in plain words (empty when they are fine)."""
    out = []
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        out.append(f"the temperature must be a number ≥ 0 (it is {temperature}); 0 always picks the most likely token.")
    if top_k is not None and top_k < 1:
        out.append(f"top-k must be at least 1 (it is {top_k}); leave it out to keep every token.")
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        out.append(f"top-p must be in (0, 1] (it is {top_p}); 1 keeps every token.")
    if max_new_tokens is not None and max_new_tokens < 1:
        out.append(f"the number of tokens to generate must be at least 1 (it is {max_new_tokens}).")
    return out


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def _as_ids(ids, device) -> torch.Tensor:
    t = torch.as_tensor(list(ids) if not isinstance(ids, torch.Tensor) else ids, dtype=torch.long, device=device)
    return t.view(1, -1)  # (1, T)


@torch.no_grad()
def next_token_probs(model, ids: Sequence[int] | torch.Tensor, temperature: float = 1.0,
                     top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """The model's probability for every token of the vocabulary to come after `ids` (1-D, on the CPU)."""
    idx = _as_ids(ids, _model_device(model))[:, -model.config.block_size:]  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context")
    logits, _ = model(idx)
    logits = logits[0, -1].float()  # (vocab,) the last position predicts the next token
    return probabilities(logits, temperature, top_k, top_p).cpu()


@torch.no_grad()
def generate_stream(model, ids: Sequence[int] | torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                    logit_bias: dict[int, float] | None = None, presence_penalty: float = 0.0,
                    frequency_penalty: float = 0.0, constraint: Constraint | None = None) -> Iterator[int]:
    """Yield max_new_tokens sampled token ids one by one, each conditioned on the prompt and the ones before.
    logit_bias, the penalties and a constraint (constrained decoding) adjust the logits first (see
    llmviz.nn.sampling). Impossible settings (a NaN or negative temperature, top-p 0, ...) raise a LearnerError."""
    problems = sampling_problems(temperature, top_k or None, top_p)
    if problems:
        raise LearnerError(" ".join(problems))
    device = _model_device(model)
    generator = None
    if seed is not None:
        # the noise drawn on an accelerator needs a generator living there
        generator = torch.Generator(device=device).manual_seed(seed)
    idx = _as_ids(ids, device)  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context (e.g. a newline)")
    how = [Sampling(temperature, top_k, top_p, tuple((logit_bias or {}).items()), presence_penalty, frequency_penalty)]
    generated: list[int] = []
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])  # crop: the model sees block_size tokens at most
        mask = constraint.allowed() if constraint is not None else None
        nxt = sample_rows(logits[:, -1, :], how, [generator], [generated], [mask])[0]
        generated.append(nxt)
        if constraint is not None:
            constraint.advance(nxt)
        idx = torch.cat([idx[:, -model.config.block_size:], idx.new_tensor([[nxt]])], dim=1)  # keep what is still needed
        yield nxt


class StreamText:
    """Generated tokens as text: decoded as they come, cut before the first stop string, and what is safe
    to show so far.

        out = StreamText(tokenizer, stop=("\\n\\n",))
        for token in tokens:
            if out.add(token):  # a stop string: out.text ends before it
                break
            show(out.take())  # the new text, less a possible start of a stop string or half a character
        show(out.take(final=True))  # the generation is over: the rest
    """

    def __init__(self, tokenizer, stop: Sequence[str] = ()):
        self.tokenizer, self.stop = tokenizer, tuple(stop)
        self.text = ""  # the text so far, cut before a stop string once one is reached
        self.stopped = False  # a stop string was reached
        self.shown = 0  # characters of text handed out by take()
        self._pending: list[int] = []  # the tokens after the last complete character
        self._stable = ""  # the text of the tokens before them, decoded for good
        self._searched = 0  # stop strings were looked for up to here

    def _decode(self) -> str:
        """The text so far. Characters and bytes decode piece by piece, so only the tokens since the last
        complete character are decoded again (a long stream stays linear); other tokenizers decode whole."""
        tail = self.tokenizer.decode(self._pending)
        text = self._stable + tail
        if getattr(self.tokenizer, "kind", "") in ("char", "bpe") and not tail.endswith("\ufffd"):
            self._stable, self._pending = text, []  # no half character pending
        return text

    def add(self, token: int) -> bool:
        """Take one generated token; True once the text has reached a stop string (it is then cut before
        the first one)."""
        self._pending.append(token)
        text = self._decode()
        if self.stop:
            start = max(0, self._searched - max(map(len, self.stop)) + 1)  # a stop string may end in the new text
            hits = [i for i in (text.find(s, start) for s in self.stop) if i >= 0]
            self._searched = len(text)
            if hits:
                text, self.stopped = text[:min(hits)], True
        self.text = text
        return self.stopped

    def safe(self) -> int:
        """How many characters of the text can be shown: all but a start of a stop string at its end, or half
        a character (a byte-level token may end in the middle of one)."""
        if self.stopped:
            return len(self.text)
        n = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self.text)), n, -1):
                if self.text.endswith(s[:k]):
                    n = k
                    break
        if self.text.endswith("\ufffd"):
            n = max(n, 1)
        return len(self.text) - n

    def take(self, final: bool = False) -> str:
        """The text not handed out yet that can be shown now; final (nothing more will come): all of it."""
        upto = len(self.text) if final else self.safe()
        out, self.shown = self.text[self.shown:upto], max(self.shown, upto)
        return out


def generate_until(model, tokenizer, ids: Sequence[int], max_new_tokens: int, stop: Sequence[str] = (),
                   stop_token_ids: Container[int] = (), on_text: Callable[[str], None] | None = None,
                   **sampling) -> str:
    """The text generated after ids, ended before the first stop string or stop token (neither included).
    on_text, if given, receives the text piece by piece as it becomes safe to show (see StreamText).
    sampling: generate_stream's temperature, top_k, top_p and seed."""
    out = StreamText(tokenizer, stop)
    for token in generate_stream(model, ids, max_new_tokens, **sampling):
        if token in stop_token_ids or out.add(token):
            break
        if on_text is not None and (piece := out.take()):
            on_text(piece)
    if on_text is not None and (rest := out.take(final=True)):
        on_text(rest)
    return out.text


def generate_text(model, tokenizer, prompt: str, max_new_tokens: int, **kwargs) -> str:
    """The prompt's continuation as text (not including the prompt)."""
    ids = tokenizer.encode(prompt) if prompt else [0]
    return tokenizer.decode(list(generate_stream(model, ids, max_new_tokens, **kwargs)))


class Choice(NamedTuple):
    """One generated token and how sure the model was: its probability and the likeliest alternatives."""
    id: int
    prob: float  # the model's own probability for this token (temperature 1, nothing filtered)
    top: tuple  # ((id, prob), ...) the model's k most likely tokens at this point, most likely first


@torch.no_grad()
def generate_traced(model, ids: Sequence[int] | torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
                    k: int = 5) -> Iterator[Choice]:
    """generate_stream's tokens (the same ones for the same seed), each with the model's probability for
    it and its k most likely alternatives, so the text can be coloured by how sure the model was."""
    device = _model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    idx = _as_ids(ids, device)  # (1, T)
    if idx.size(1) == 0:
        raise ValueError("give at least one token of context (e.g. a newline)")
    how = [Sampling(temperature, top_k, top_p)]
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        last = logits[:, -1, :]  # (1, vocab)
        nxt = sample_rows(last, how, [generator])[0]
        probs = F.softmax(last[0].float(), dim=-1)  # (vocab,) the model's own distribution
        p, i = torch.topk(probs, min(k, probs.numel()))
        idx = torch.cat([idx[:, -model.config.block_size:], idx.new_tensor([[nxt]])], dim=1)
        yield Choice(nxt, float(probs[nxt]), tuple(zip(i.tolist(), p.tolist())))
