"""Scoring a prompt (`echo` with `logprobs`): each prompt token's log-probability given the tokens before it,
in batches of windows that stop as soon as the client has left: each batch is sized to last about PASS_S
seconds on this machine, so a client that leaves costs at most that much more work."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from llmviz.serving.engine import Cancelled, TokenLogprob, token_logprob

PASS_S = 0.05  # seconds one batch of windows should take (measured as they run)
FIRST, LEAST, MOST = 16, 4, 256  # windows in the first batch, in the smallest and in the largest


@torch.no_grad()
def prompt_logprobs(model, ids: Sequence[int], k: int, tokenizer,
                    cancelled: Callable[[], bool] | None = None) -> list[TokenLogprob | None]:
    """For each prompt token, its log-probability given the tokens before it (None for the first: nothing
    comes before it), each window cropped to block_size and padded like the engine's batches. Raises
    Cancelled between batches of windows once `cancelled()` is true (its client left)."""
    T = model.config.block_size
    device = next(model.parameters()).device
    ids = list(ids)
    out: list[TokenLogprob | None] = [None]
    offset = len(tokenizer.decode(ids[:1])) if ids else 0
    start, size = 1, FIRST
    while start < len(ids):
        if cancelled is not None and cancelled():
            raise Cancelled()
        t = time.perf_counter()
        positions = range(start, min(len(ids), start + size))
        rows, last = [], []
        for j in positions:
            ctx = ids[max(0, j - T):j]
            rows.append(ctx + [0] * (T - len(ctx)))
            last.append(len(ctx) - 1)
        logits, _ = model(torch.tensor(rows, dtype=torch.long, device=device))
        logits = logits[torch.arange(len(rows), device=device), torch.tensor(last, device=device)]
        logp = F.log_softmax(logits.float(), dim=-1).cpu()
        for r, j in enumerate(positions):
            info = token_logprob(logp[r], ids[j], k, tokenizer)
            out.append(info._replace(offset=offset))
            offset += len(info.token)
        start += len(positions)
        took = time.perf_counter() - t  # the next batch sized to last about PASS_S, at most twice this one
        size = max(LEAST, min(MOST, 2 * size, int(size * PASS_S / max(took, 1e-6))))
    return out
