"""Time to translate: an encoder-decoder trained from scratch at the transformer page's default settings
(the "translation" preset) on the generated French→English language, until the held-out exact match
reaches 90 %.

    python bench/bench_translation.py                  # the preset's seed
    python bench/bench_translation.py --seeds 1337 1 2 # several seeds, one after the other

Wall time counts everything the page's run does after Train is pressed: the optimizer steps and every
evaluation (losses, then greedy translation of 400 held-out sentences for exact match and BLEU), from
the first step to the evaluation that first reaches the target. Building the corpus (once per process)
is timed apart. Tokens/s is the trainer's figure (target positions per second of optimizer steps,
padding included) and the same counting only real target tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from llmviz.tasks import seq2seq  # noqa: E402
from llmviz.nn.model import IGNORE  # noqa: E402
from llmviz.training.presets import PRESETS  # noqa: E402

TARGET = 90.0


def real_token_share(batches, batch_size: int, n: int = 50) -> float:
    g = torch.Generator().manual_seed(0)
    real = total = 0
    for _ in range(n):
        y = batches.batch("train", batch_size, g).targets
        real += int((y != IGNORE).sum())
        total += y.numel()
    return real / total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[PRESETS["translation"].train.seed])
    args = ap.parse_args()
    p = PRESETS["translation"]
    t0 = time.perf_counter()
    corpus = seq2seq.corpus()
    print(f"corpus: {len(corpus.train):,} training pairs, {len(corpus.heldout):,} held-out "
          f"({time.perf_counter() - t0:.1f} s to generate) · load average {os.getloadavg()[0]:.1f}")
    rows = []
    for seed in args.seeds:
        run = seq2seq.new_run(p.model, replace(p.train, seed=seed, device="cpu"), corpus)
        share = real_token_share(run.batches, run.train_cfg.batch_size)
        snap = run.train()
        hist = snap.history
        hit = next((r for r in hist if r.other and r.other["exact_match"] >= TARGET), None)
        speeds = [r.tokens_per_s for r in hist if r.tokens_per_s > 0]
        tps = sum(speeds) / len(speeds)
        last = hist[-1]
        rows.append((seed, run.n_params, run.threads, hit, last, tps, share))
        for r in hist:
            print(f"  seed {seed} step {r.step:>5}  train {r.train_loss:.3f}  held-out {r.val_loss:.3f}  "
                  f"exact {r.other['exact_match']:5.1f} %  BLEU {r.other['bleu']:5.1f}  {r.elapsed:6.1f} s")
    print()
    print("| seed | params | threads | time to ≥ 90 % exact match | step | BLEU then | after 1000 steps: exact / BLEU / s "
          "| tokens/s (padded) | tokens/s (real) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for seed, n, threads, hit, last, tps, share in rows:
        when = f"{hit.elapsed:.0f} s" if hit else "not reached"
        print(f"| {seed} | {n:,} | {threads} | {when} | {hit.step if hit else '-'} | "
              f"{hit.other['bleu']:.1f} | " if hit else f"| {seed} | {n:,} | {threads} | {when} | - | - | ", end="")
        print(f"{last.other['exact_match']:.1f} % / {last.other['bleu']:.1f} / {last.elapsed:.0f} s | "
              f"{tps:,.0f} | {tps * share:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
