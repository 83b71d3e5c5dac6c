"""Time to quality: the shortest CPU wall time to a validation loss ≤ 1.88 on Tiny Shakespeare (90/10 split)
with an LM5-shaped model (pre-norm blocks with residuals), at any size, batch and schedule.

    python bench/bench_fast_cpu.py                      # every candidate below (many minutes)
    python bench/bench_fast_cpu.py --only recipe fast-cpu

Each candidate trains with its own cosine schedule, then the validation loss is estimated once over
200 batches. "train s" counts only the optimizer steps; "total s" also counts the two evaluations.
The winner became the "fast-cpu" preset in llmviz/model.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.model import PRESETS, ModelConfig  # noqa: E402
from llmviz.train import TrainConfig, TrainingRun  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TARGET = 1.88
LM5 = dict(causal=True, pos_emb=True, ffwd="mlp", ff_mult=4, residual=True, layer_norm=True, proj=True, dropout=0.0)
COMMON = dict(val_fraction=0.1, lr_decay=True, beta2=0.99, weight_decay=0.1, grad_clip=1.0, sample_tokens=0)

# name: (model fields, training fields)
CANDIDATES = {
    "recipe": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64),
               dict(batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=2000)),
    "recipe-gpt2-init": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                         dict(batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=2000)),
    "4x128-lr2e-3-1200": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=2e-3, min_lr=2e-4, warmup_iters=50, max_iters=1200)),
    "3x128-lr3e-3-1200": (dict(n_layer=3, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1200)),
    "2x128-lr3e-3-1500": (dict(n_layer=2, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1500)),
    "3x96-lr3e-3-1500": (dict(n_layer=3, n_head=4, n_embd=96, block_size=64, init_std=0.02),
                         dict(batch_size=16, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1500)),
}
if "fast-cpu" in PRESETS:
    p = PRESETS["fast-cpu"]
    CANDIDATES["fast-cpu"] = ({k: v for k, v in p.model.items() if k not in LM5}, {**p.train, "sample_tokens": 0})


def run_candidate(name, text, threads):
    model, train = CANDIDATES[name]
    cfg = ModelConfig(vocab_size=65, **{**LM5, **model})
    tcfg = TrainConfig(**{**COMMON, **train, "eval_interval": train["max_iters"], "eval_iters": 200,
                          "threads": threads})
    run = TrainingRun(cfg, tcfg, text)
    t0 = time.perf_counter()
    snap = run.train()
    total = time.perf_counter() - t0
    last = snap.history[-1]
    tokens = tcfg.max_iters * tcfg.batch_size * cfg.block_size
    train_s = tokens / last.tokens_per_s
    return run.n_params, last.val_loss, train_s, total, tcfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--only", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    text = Path(args.text).read_text(encoding="utf-8")
    print(f"target: validation loss ≤ {TARGET} on {Path(args.text).name}, 90/10 split")
    print("| candidate | params | iters × batch × block | lr | val loss | reaches 1.88 | train s | total s |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.only:
        params, val, train_s, total, t = run_candidate(name, text, args.threads)
        block = {**LM5, **CANDIDATES[name][0]}["block_size"]
        print(f"| {name} | {params:,} | {t.max_iters} × {t.batch_size} × {block} | {t.learning_rate:g} | {val:.3f} | "
              f"{'yes' if val <= TARGET else 'no'} | {train_s:.0f} | {total:.0f} |", flush=True)


if __name__ == "__main__":
    main()
