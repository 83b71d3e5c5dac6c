"""Reproduce the tutorial's table: LM1 ... LM5 with its hyperparameters on Tiny Shakespeare.

    python bench/bench_lm_table.py                      # 5000 iterations each, as the tutorial (minutes)
    python bench/bench_lm_table.py --iters 1000 --models lm1 lm1-masked

Prints our train/validation losses beside the tutorial's and checks the story: the unmasked LM1
"cheats" (lower loss than the masked one) while its samples are degenerate.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.nn.generate import generate_text  # noqa: E402
from llmviz.training.presets import PRESETS, preset_config  # noqa: E402
from llmviz.training.train import TrainConfig, TrainingRun  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
# the tutorial's numbers after 5000 iterations: (params, train, val)
TUTORIAL = {"lm1": (7_297, 2.216, 2.262), "lm1-masked": (7_297, 2.475, 2.512), "lm2": (8_865, 2.347, 2.383),
            "lm3": (9_921, 2.516, 2.539), "lm4": (54_657, 2.026, 2.090), "lm5": (30_017, 2.050, 2.102),
            "lm5-scaled": (10_788_929, 1.030, 1.626)}


def top_char_share(text: str) -> float:
    """How much of a sample is its most common character: ~0.15 for English, near 1 for 'hhhh...'."""
    return collections.Counter(text).most_common(1)[0][1] / max(1, len(text))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT), help="the corpus (default: Tiny Shakespeare beside the repo)")
    ap.add_argument("--models", nargs="+", default=["lm1", "lm1-masked", "lm2", "lm3", "lm4", "lm5"])
    ap.add_argument("--iters", type=int, default=5000)
    ap.add_argument("--eval-iters", type=int, default=None, help="default: the preset's (100)")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    text = Path(args.text).read_text(encoding="utf-8")
    print(f"corpus: {Path(args.text).name}, {len(text):,} characters, 80/20 split; {args.iters} iterations; "
          f"seed {args.seed}")
    rows = {}
    for name in args.models:
        preset = PRESETS[name]
        train = {**preset.train.to_dict(), "max_iters": args.iters, "seed": args.seed, "threads": args.threads,
                 "eval_interval": min(preset.train.eval_interval, args.iters), "sample_tokens": 0}
        if args.eval_iters:
            train["eval_iters"] = args.eval_iters
        run = TrainingRun.new(preset_config(name, 65), TrainConfig(**train), text)
        t0 = time.perf_counter()
        snap = run.train()
        secs = time.perf_counter() - t0
        last = snap.history[-1]
        sample = generate_text(run.model, run.tokenizer, "\n", 300, seed=args.seed)
        rows[name] = (run.n_params, last.train_loss, last.val_loss, secs, sample)
        ref = TUTORIAL.get(name, (0, float("nan"), float("nan")))
        print(f"  {name:<11} params {run.n_params:>10,}  train {last.train_loss:.3f}  val {last.val_loss:.3f}  "
              f"(tutorial {ref[1]:.3f} / {ref[2]:.3f})  {secs:6.1f} s  {1000 * secs / args.iters:5.1f} ms/it",
              flush=True)

    print()
    print("| model | params (tutorial) | train (tutorial) | val (tutorial) | Δ val | top-char share of a sample | time |")
    print("|---|---|---|---|---|---|---|")
    for name, (params, tr, va, secs, sample) in rows.items():
        ref = TUTORIAL.get(name, (0, float("nan"), float("nan")))
        print(f"| {name} | {params:,} ({ref[0]:,}) | {tr:.3f} ({ref[1]:.3f}) | {va:.3f} ({ref[2]:.3f}) | "
              f"{va - ref[2]:+.3f} | {top_char_share(sample):.2f} | {secs:.0f} s |")
    print()
    for name, (*_, sample) in rows.items():
        print(f"--- {name} sample ---")
        print(sample[:200].rstrip())
    if "lm1" in rows and "lm1-masked" in rows:
        cheat, honest = rows["lm1"], rows["lm1-masked"]
        print()
        print(f"story: unmasked LM1 val {cheat[2]:.3f} < masked {honest[2]:.3f}: {cheat[2] < honest[2]}; "
              f"top-char share of samples {top_char_share(cheat[4]):.2f} (unmasked) vs "
              f"{top_char_share(honest[4]):.2f} (masked)")
    if args.iters == 5000:
        off = [n for n, r in rows.items() if n in TUTORIAL and abs(r[2] - TUTORIAL[n][2]) > 0.1]
        print(f"within ±0.1 of the tutorial's validation loss: {'all' if not off else 'all but ' + ', '.join(off)}")


if __name__ == "__main__":
    main()
