"""Instruction tuning from the app's pre-trained base at the default settings.

    python bench/bench_instruct.py                  # 5,000 steps, accuracy measured every 250 steps
    python bench/bench_instruct.py --steps 6000 --every 500

Prints, for each checkable task, the wall time (training and measuring) until held-out exact match first
reaches 90 % (or what it reached), the base model's and the tuned model's held-out accuracy per task, and
arithmetic accuracy with the model alone against the calculator run for it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.text import corpora  # noqa: E402
from llmviz.tasks import finetune, instruct, instruct_data  # noqa: E402
from llmviz.wording import plural  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--every", type=int, default=250, help="steps between two accuracy measurements")
    ap.add_argument("--per-task", type=int, default=20, help="held-out questions per task while training")
    ap.add_argument("--final", type=int, default=50, help="held-out questions per task at the end")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    base = finetune.pretrained_base()  # made once on this machine, then cached
    cfg = replace(instruct.default_config(args.steps), eval_interval=args.every, sample_tokens=0, threads=args.threads)
    run, held = instruct.start(base, cfg, style_text=corpora.shakespeare().text, per_task=args.per_task)
    t0 = time.perf_counter()
    snap = run.train()
    wall = time.perf_counter() - t0
    print(f"{args.steps} steps in {wall:.0f} s (accuracy measured every {args.every} steps, {args.per_task} "
          f"questions a task, included in the time); {run.n_params:,} parameters, {plural(args.threads, 'thread')}")
    print()
    print("| task | first ≥ 90 % at step | wall time then | best while training |")
    print("|---|---|---|---|")
    for task in instruct_data.CHECKABLE:
        key = f"acc {task}"
        hit = next((r for r in snap.history if r.other and r.other.get(key, 0) >= 0.9), None)
        best = max(r.other.get(key, 0) for r in snap.history if r.other)
        print(f"| {task} | {hit.step if hit else 'not reached'} | {f'{hit.elapsed:.0f} s' if hit else '—'} | {best:.0%} |")
    b = instruct.accuracy(base.model, base.tokenizer, held, args.final)
    t = instruct.accuracy(run.model, run.tokenizer, held, args.final)
    alone = instruct.accuracy(run.model, run.tokenizer, held, args.final, use_tool=False)["tool"]
    print()
    print(f"| held-out accuracy ({args.final} a task) | " + " | ".join(instruct.TASKS) + " |")
    print("|---|" + "---|" * len(instruct.TASKS))
    print("| base (continues a transcript) | " + " | ".join(f"{b[k]:.0%}" for k in instruct.TASKS) + " |")
    print("| instruction-tuned | " + " | ".join(f"{t[k]:.0%}" for k in instruct.TASKS) + " |")
    print()
    print(f"arithmetic: the model alone {alone:.0%}, the calculator run for it {t['tool']:.0%}")


if __name__ == "__main__":
    main()
