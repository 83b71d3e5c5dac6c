"""What a session keeps of its training runs, and within what bounds (a learner may press Train all afternoon).

Every run holds its model, and while it can still train, its gradients, AdamW's two moments per weight and
its text's token ids; the app keeps a session's runs so that the other pages can look at them. Without a
bound that is memory without end. So:

- `Budget`: at most this many runs and this many bytes per session; `to_let_go` says which runs go when a
  new one would exceed it: the oldest first, runs no page shows before the ones a page shows, never a run
  still training; `let_go_words` says so in words, for the page.
- `run_bytes` / `session_bytes`: what runs hold, counted by the memory really allocated: two runs of one
  text share its token ids (llmviz.training.batches.shared_ids), and a shared block is counted once.
- `lighten`: a run that will not train again (its page was reset) keeps its model and lets go of what only
  training needs (AdamW's state, the gradients).
- `thin`: a history that grows with every step or every look (text samples, gradient norms) stays bounded:
  past `limit` points it keeps the first, the last and points about evenly spaced between, so a plot of it
  still spans the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from llmviz.wording import plural

SAMPLES_KEPT = 64  # text samples kept per run (the slider "sample written at step")
GRAD_NORMS_KEPT = 400  # looks at the gradient norms kept per run (points of its line plot)


@dataclass(frozen=True)
class Budget:
    runs: int = 12  # runs kept per session
    bytes: int = 1 << 30  # and the memory they may hold together (1 GiB)

    def describe(self) -> str:
        return f"{plural(self.runs, 'run')} and {size_words(self.bytes)}"


def size_words(n: int) -> str:
    """1536 -> "1.5 KB"; 3_500_000 -> "3.3 MB" (powers of 1,024)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return plural(int(n), "byte")


def _tensors(obj, depth: int = 6, seen: set | None = None) -> Iterable[torch.Tensor]:
    """Every tensor reachable from obj (a module's parameters, gradients and buffers, an optimizer's state,
    tensors in dicts, lists and plain objects' attributes), a few levels deep."""
    seen = set() if seen is None else seen
    if obj is None or depth < 0 or id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool)):
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield obj
        if obj.grad is not None:
            yield obj.grad
    elif isinstance(obj, torch.nn.Module):
        yield from _tensors(list(obj.parameters()) + list(obj.buffers()), depth, seen)
    elif isinstance(obj, torch.optim.Optimizer):
        yield from _tensors(list(obj.state.values()), depth, seen)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v, depth - 1, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v, depth - 1, seen)
    elif hasattr(obj, "__dict__") and not callable(obj):
        yield from _tensors(vars(obj), depth - 1, seen)


def storages(run) -> dict[tuple, int]:
    """The memory blocks a llmviz.training.train.TrainingRun holds: (device, address) -> bytes. Its model (and
    any model its batch source holds, e.g. DPO's frozen reference), the gradients, AdamW's state (or a
    checkpoint's, until it trains) and the batch source's token ids."""
    blocks = {}
    held = (run.model, getattr(run, "optimizer", None), getattr(run, "_pending_optim", None), run.batches)
    for t in _tensors(held):
        s = t.untyped_storage()
        if s.device.type != "meta":
            blocks[(str(s.device), s.data_ptr())] = s.nbytes()
    return blocks


def run_bytes(run) -> int:
    return sum(storages(run).values())


def session_bytes(runs: Iterable) -> int:
    """What these runs hold together, each shared block (one text's token ids) counted once."""
    blocks: dict = {}
    for run in runs:
        blocks.update(storages(run))
    return sum(blocks.values())


def to_let_go(named: dict, budget: Budget, keep: Iterable[str] = ()) -> list[str]:
    """The runs to let go (oldest first) so that the others fit the budget. `named`: name -> run, oldest first;
    `keep`: names a page shows now, let go only after every other. The newest run (just asked for) and a run
    still training (or stopping) are never let go: the session then stays over its budget until they end."""
    keep = set(keep)
    left = dict(named)
    older = list(named)[:-1]
    candidates = [n for n in older if n not in keep] + [n for n in older if n in keep]
    gone = []
    for name in candidates:
        if len(left) <= budget.runs and session_bytes(left.values()) <= budget.bytes:
            break
        if left[name].running:
            continue
        gone.append(name)
        del left[name]
    return gone


def let_go_words(gone: Sequence[tuple[str, int]], budget: Budget, left: int, left_bytes: int) -> str:
    """What the page says when runs were let go: which, how much they held, the budget, what is kept."""
    if not gone:
        return ""
    names = [f"**{n}**" for n, _ in gone]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    held = size_words(sum(b for _, b in gone))
    which = (f"the oldest run, {listed} ({held}), was" if len(gone) == 1
             else f"the {len(gone)} oldest runs, {listed} ({held} together), were")
    over = ("" if left <= budget.runs and left_bytes <= budget.bytes
            else " It is still over the budget: the runs left are training or new, and are kept.")
    return (f"To keep this session within its memory budget ({budget.describe()}), {which} let go: the other "
            f"pages and Compare runs no longer show {'it' if len(gone) == 1 else 'them'}. "
            f"{plural(left, 'run')} kept, holding {size_words(left_bytes)}.{over} To keep a run for good, save "
            "it from its page (Save the model) before training more.")


def lighten(run) -> bool:
    """Let go of what only training needs (AdamW's state, the gradients) once the run has stopped; its model
    stays, to look at and compare, and it trains no more (`trainable` is then False). False while it runs."""
    if run.running:
        return False
    run.optimizer, run._pending_optim, run._step_model = None, None, None
    for p in run.model.parameters():
        p.grad = None
    run.inspect_only = run.inspect_only or "its page was reset, so what it needed to train more was let go"
    return True


def thin(points: Sequence, limit: int, step: Callable = lambda p: p[0]) -> tuple:
    """At most `limit` points (limit >= 4): all of them while they fit; past that the first point of each of
    limit / 2 equal stretches of steps, and the last point. Thinned again as points come, the points kept
    stay spread over the whole run: no two neighbours more than two stretches apart."""
    points = tuple(points)
    if len(points) <= limit:
        return points
    first, last = step(points[0]), step(points[-1])
    width = (last - first) / (limit // 2) or 1
    kept, seen = [], set()
    for p in points[:-1]:
        stretch = int((step(p) - first) // width)
        if stretch not in seen:
            seen.add(stretch)
            kept.append(p)
    return (*kept, points[-1])


def thin_samples(samples: dict, limit: int | None = None) -> dict:
    """A run's text samples by step, bounded like `thin` (to SAMPLES_KEPT unless told)."""
    return dict(thin(tuple(samples.items()), limit or SAMPLES_KEPT))
