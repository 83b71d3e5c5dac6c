"""The assistant base and its instruction tuning, end to end, through the command line's own JSON.

    python bench/bench_assistant.py                       # the defaults: --base pretrained
    python bench/bench_assistant.py --iters 1500 --own    # and the learner's own small model too

Runs `python -m llmviz instruct --base pretrained --json` (pre-training the assistant base first when it is
not cached: then `pretrain_seconds` is its time) and prints the figures the issue asks for: the context
(`block_size`), instruction tuning's `seconds`, held-out accuracy of the tuned model and of the base on
context, tool, memory and passages, the memory questions with the first turn pushed out of the window
(`forgotten_accuracy`), and the tokens added. With --own it also trains a learner's own model
(`train --preset fast-cpu` on Tiny Shakespeare, 300 steps) and instruction-tunes it (200 steps), which
must succeed and list `added_tokens`. Record `uptime` beside the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("context", "tool", "memory", "passages")


def cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "llmviz", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"`llmviz {' '.join(args)}` failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(res: dict) -> None:
    print(f"context: {res['block_size']} tokens; instruction tuning {res['iterations']} steps in {res['seconds']} s"
          + (f"; the base pre-trained in {res['pretrain_seconds']} s" if res.get("pretrain_seconds") else
             " (the base was cached)"))
    print("| task | base | tuned |\n|---|---|---|")
    for task in TASKS:
        if task in res["tuned_accuracy"]:
            print(f"| {task} | {res['base_accuracy'][task]:.2f} | {res['tuned_accuracy'][task]:.2f} |")
    print(f"memory with the first turn pushed out of the window: {res['forgotten_accuracy']}")
    print(f"tokens added: {' '.join(res['added_tokens'])}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=None, help="instruction-tuning steps (default: the command's)")
    ap.add_argument("--per-task", type=int, default=20)
    ap.add_argument("--own", action="store_true", help="also instruction-tune a learner's own small model")
    args = ap.parse_args(argv)
    extra = ["--iters", str(args.iters)] if args.iters else []
    table(cli("instruct", "--base", "pretrained", "--per-task", str(args.per_task), "--json", "--quiet", *extra))
    if args.own:
        corpus = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
        with tempfile.TemporaryDirectory() as tmp:
            own = str(Path(tmp) / "own.safetensors")
            cli("train", "--preset", "fast-cpu", "--corpus", str(corpus) if corpus.is_file() else "shakespeare",
                "--iters", "300", "--out", own, "--json", "--quiet")
            print("\nthe learner's own model (fast-cpu, 300 steps):")
            table(cli("instruct", "--base", own, "--iters", "200", "--per-task", "10", "--json", "--quiet"))


if __name__ == "__main__":
    main()
