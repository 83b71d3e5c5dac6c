"""What the training commands (train, finetune, instruct) share: a config's fields as flags, --out checked
before any step, the progress bar, and a run trained to its end.

Every field of a config dataclass becomes a flag whose help is the field's own sentence
(`dataclasses.field(metadata={"help": ...})`); a flag left out is None, so the preset's value stays.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

from llmviz.errors import LearnerError
from llmviz.io import atomic
from llmviz.training.pace import describe

# flags with a shorter spelling
ALIASES = {"max_iters": ["--iters"], "learning_rate": ["--lr"]}
TYPES = {"int": int, "float": float, "str": str, "int | None": int}  # annotations are strings (PEP 563)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    group = parser.add_argument_group(f"{cls.__name__} fields (default: the preset's)")
    for f in fields(cls):
        if f.name in skip:
            continue
        names = [flag(f.name)] + ALIASES.get(f.name, [])
        sentence = f.metadata.get("help")
        sentence = sentence.replace("%", "%%") if sentence else None  # argparse formats help with %
        if f.type in ("bool", bool):
            group.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=sentence)
        else:
            group.add_argument(*names, dest=f.name, type=TYPES.get(str(f.type), str), default=None,
                               metavar=f.name.upper(), help=sentence)


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one final JSON line with the results")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def overrides(args, cls) -> dict:
    """The fields of cls given on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}


def check_out(out: str, add_suffix: bool = True) -> Path:
    """Refuse an `out` a checkpoint cannot be written at (checked before training, so no training is lost):
    empty, a folder, a name too long, a folder that cannot be written. The path it will be written at."""
    if not out or not out.strip():
        raise LearnerError("--out is empty: give a file name, e.g. --out model.safetensors (or leave --out out to "
                           "save nothing).")
    path = Path(out)
    try:
        folder = out.endswith(("/", "\\")) or path.is_dir()
        if add_suffix and not folder and path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        if folder or path.is_dir():
            raise LearnerError(f"--out {out} is a folder: give a file name, e.g. {path / 'model.safetensors'}")
        atomic.probe(path)  # what saving will meet, with the temporary saving writes
    except OSError as e:
        shown = out if len(out) <= 80 else f"{out[:60]}... ({len(out)} characters)"
        raise LearnerError(f"cannot write the checkpoint to {shown}: {e.strerror or e}. Choose another --out.") from e
    return path


def one_thread_here() -> None:
    """The main thread computes with one CPU thread; the training thread sets its own count.

    PyTorch's OpenMP keeps a pool of helper threads for each thread that runs parallel maths. Once the
    main thread has used two (building the model, say), the training thread's own two-thread maths ran
    1.4x slower on a 2-core CPU (50 against 36 ms a step at nanoGPT's recipe): the main thread's pool
    stays in the way. With one thread here there is no such pool."""
    torch.set_num_threads(1)


def progress(snap) -> None:
    width = 24
    filled = int(width * snap.fraction)
    last = snap.history[-1] if snap.history else None
    loss = snap.extra.get("batch_loss")
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {snap.step}/{snap.total}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if last is not None:
        parts.append(f"val {last.val_loss:.3f} @ {last.step}")
    if snap.eta is not None:
        parts.append(f"ETA {describe(snap.eta)}")
    sys.stderr.write("\r" + "  ".join(parts) + "   ")
    sys.stderr.flush()


def train_to_end(run, args, what: str):
    """Train a run to its end with a progress bar (unless --quiet): (final snapshot, seconds), or None after
    saying why it failed. No live view of the inside here, so the run takes no probes."""
    run.inside_every = 0
    t0 = time.perf_counter()
    try:
        snap = run.train(on_step=None if args.quiet else progress)
    except LearnerError as e:
        if not args.quiet:
            print(file=sys.stderr)
        rank = run.world.rank
        print(f"{f'rank {rank}: ' if rank else ''}{what} failed: {e}", file=sys.stderr)  # a rank may fail alone
        return None
    seconds = time.perf_counter() - t0
    if not args.quiet:
        progress(snap)
        print(file=sys.stderr)
    return snap, seconds
