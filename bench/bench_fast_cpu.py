"""Time to quality: the shortest CPU wall time to a validation loss ≤ 1.88 on Tiny Shakespeare (90/10 split)
with an LM5-shaped model (pre-norm blocks with residuals), at any size, batch and schedule.

    python bench/bench_fast_cpu.py --to-target          # fast-cpu against nanoGPT's recipe, wall clock
    python bench/bench_fast_cpu.py --to-target --threads 1 2 --rounds 2
    python bench/bench_fast_cpu.py                      # every candidate below (many minutes)
    python bench/bench_fast_cpu.py --only recipe fast-cpu

--to-target: wall time from the text on disk to a model whose validation loss is ≤ 1.88, side by side
with nanoGPT's CPU recipe as bench/nanogpt_reference.py re-implements it (2000 steps, its schedule and
evaluations), in alternating order. fast-cpu trains as its preset says, with `target_loss`: it estimates
the validation loss every 100 steps (20 batches) and stops at the first estimate ≤ 1.88 (or at the end of its
schedule); the clock then stops, and both
models' validation loss is measured again, untimed, over 200 batches of 12 × 64 (the loss reported),
so a lucky estimate cannot pass for the target. Each run has a fresh process of its own.

Each candidate trains with its own cosine schedule, then the validation loss is estimated once over
200 batches. "train s" counts only the optimizer steps of that run; "total s" also counts the two
evaluations. On a shared machine those seconds drift with the load, so a second phase times each
candidate's step against the recipe's in alternating short rounds ("ms/it" and "vs recipe": the
estimated wall time of the whole run, iterations x ms/it, relative to the recipe's 2000 iterations).
The winner became the "fast-cpu" preset in llmviz/nn/model.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.nn.model import ModelConfig  # noqa: E402
from llmviz.training.presets import PRESETS  # noqa: E402
from llmviz.training.train import TrainConfig, TrainingRun  # noqa: E402

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
    "3x128-lr3e-3-1500": (dict(n_layer=3, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1500)),
    "4x128-lr3e-3-1000": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1000)),
    "3x128-b16-lr3e-3-1000": (dict(n_layer=3, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                              dict(batch_size=16, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1000)),
    "2x128-lr3e-3-1000": (dict(n_layer=2, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1000)),
    "2x128-lr4e-3-1200": (dict(n_layer=2, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=4e-3, min_lr=4e-4, warmup_iters=50, max_iters=1200)),
    "2x96-lr4e-3-1500": (dict(n_layer=2, n_head=4, n_embd=96, block_size=64, init_std=0.02),
                         dict(batch_size=12, learning_rate=4e-3, min_lr=4e-4, warmup_iters=50, max_iters=1500)),
    "2x128-b8-lr3e-3-1800": (dict(n_layer=2, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                             dict(batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1800)),
    "2x96-lr5e-3-1300": (dict(n_layer=2, n_head=4, n_embd=96, block_size=64, init_std=0.02),
                         dict(batch_size=12, learning_rate=5e-3, min_lr=5e-4, warmup_iters=50, max_iters=1300)),
    "2x96-lr4e-3-2000": (dict(n_layer=2, n_head=4, n_embd=96, block_size=64, init_std=0.02),
                         dict(batch_size=12, learning_rate=4e-3, min_lr=4e-4, warmup_iters=50, max_iters=2000)),
    "2x128-lr3e-3-1300": (dict(n_layer=2, n_head=4, n_embd=128, block_size=64, init_std=0.02),
                          dict(batch_size=12, learning_rate=3e-3, min_lr=3e-4, warmup_iters=50, max_iters=1300)),
}
if "fast-cpu" in PRESETS:
    p = PRESETS["fast-cpu"]
    CANDIDATES["fast-cpu"] = ({k: v for k, v in p.model.to_dict().items() if k not in LM5 and k != "vocab_size"},
                              {**p.train.to_dict(), "sample_tokens": 0})


def run_candidate(name, text, threads, seed=1337):
    model, train = CANDIDATES[name]
    cfg = ModelConfig(vocab_size=65, **{**LM5, **model})
    tcfg = TrainConfig(**{**COMMON, **train, "eval_interval": train["max_iters"], "eval_iters": 200,
                          "threads": threads, "seed": seed})
    run = TrainingRun.new(cfg, tcfg, text)
    t0 = time.perf_counter()
    snap = run.train()
    total = time.perf_counter() - t0
    last = snap.history[-1]
    tokens = tcfg.max_iters * tcfg.batch_size * cfg.block_size
    train_s = tokens / last.tokens_per_s
    return run.n_params, last.val_loss, train_s, total, tcfg


def step_times(names, rounds=4, steps=5, threads=1):
    """ms per optimizer step of each candidate's shape, timed in alternating rounds."""
    import statistics

    import torch

    from llmviz.training.batches import get_batch
    from llmviz.training.optim import make_optimizer

    torch.set_num_threads(threads)
    data = torch.randint(65, (200_000,))
    g = torch.Generator().manual_seed(0)
    setups = {}
    for name in names:
        model, train = CANDIDATES[name]
        cfg = ModelConfig(vocab_size=65, **{**LM5, **model})
        tcfg = TrainConfig(**{**COMMON, **train})
        from llmviz.nn.model import LanguageModel

        m = LanguageModel(cfg)
        setups[name] = (m, make_optimizer(m, tcfg, "cpu"), cfg.block_size, tcfg.batch_size, [])

    def go(name, n):
        m, opt, block, batch, times = setups[name]
        t0 = time.perf_counter()
        for _ in range(n):
            x, y = get_batch(data, block, batch, g)
            _, loss = m(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
        times.append((time.perf_counter() - t0) / n)

    for name in names:
        go(name, 2)
        setups[name][4].clear()
    for _ in range(rounds):
        for name in names:
            go(name, steps)
    return {name: 1000 * statistics.median(s[4]) for name, s in setups.items()}


def final_val_loss(model, data, seed=7) -> float:
    """Validation loss over 200 batches of 12 x 64 tokens (untimed, the same for both sides)."""
    import torch

    from llmviz.training.batches import get_batch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        losses = []
        for _ in range(200):
            x, y = get_batch(data, 64, 12, g)
            losses.append(model(x.long().contiguous(), y.long().contiguous())[1].item())
    return sum(losses) / len(losses)


def to_target(path: Path, threads: int) -> dict:
    """fast-cpu until its validation estimate reaches TARGET: wall seconds from reading the text."""
    from dataclasses import replace

    import torch

    torch.set_num_threads(1)  # as `python -m llmviz train` does: the training thread sets its own count
    t0 = time.perf_counter()
    text = path.read_text(encoding="utf-8")
    p = PRESETS["fast-cpu"]
    tcfg = replace(p.train, target_loss=TARGET, sample_tokens=0, threads=threads)
    run = TrainingRun.new(p.model, tcfg, text)
    run.inside_every = 0  # as the command line trains
    run.train()
    seconds = time.perf_counter() - t0
    val = run.batches.data["val"]
    return {"seconds": seconds, "steps": run.step, "reached": run.reached_target,
            "val": final_val_loss(run.model, val.long() if val.dtype != torch.long else val)}


def nanogpt_recipe(path: Path, threads: int) -> dict:
    """nanoGPT's CPU recipe, whole (2000 steps), wall seconds from reading the text."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    import nanogpt_reference as nanogpt

    torch.set_num_threads(threads)
    torch.manual_seed(1337)
    t0 = time.perf_counter()
    text = path.read_text(encoding="utf-8")
    ids = nanogpt.encode(text)
    n = int(0.9 * len(ids))
    tr = nanogpt.Trainer(ids[:n], ids[n:], vocab_size=int(ids.max()) + 1)
    tr.run()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "steps": tr.iter_num, "reached": True,
            "val": final_val_loss(tr.model, torch.from_numpy(ids[n:].astype(np.int64)))}


def main_to_target(args) -> None:
    import os

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_nanogpt import fresh

    path = Path(args.text)
    print(f"wall time to validation loss ≤ {TARGET} on {path.name} (90/10 split), from the text on disk; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print("| threads | round | nanoGPT recipe s | its val | fast-cpu s | steps | its val | fast-cpu / nanoGPT |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for threads in args.threads or [1, 2]:
        for r in range(args.rounds):
            order = ("nanogpt", "fast") if r % 2 == 0 else ("fast", "nanogpt")
            # each in a fresh process, as from its command line
            res = {side: fresh(nanogpt_recipe if side == "nanogpt" else to_target, path, threads) for side in order}
            a, b = res["nanogpt"], res["fast"]
            print(f"| {threads} | {r + 1} | {a['seconds']:.1f} | {a['val']:.3f} | {b['seconds']:.1f} | {b['steps']} | "
                  f"{b['val']:.3f} | {b['seconds'] / a['seconds']:.2f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--only", nargs="+", default=list(CANDIDATES))
    ap.add_argument("--threads", type=int, nargs="+", default=None)
    ap.add_argument("--to-target", action="store_true", help="fast-cpu's wall time to the target vs nanoGPT's recipe")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--no-timing", action="store_true", help="skip the alternating step-time phase")
    args = ap.parse_args(argv)
    if not Path(args.text).exists():
        print(f"skipped: {args.text} is not there")
        return
    if args.to_target:
        return main_to_target(args)
    args.threads = args.threads[0] if args.threads else None
    text = Path(args.text).read_text(encoding="utf-8")
    print(f"target: validation loss ≤ {TARGET} on {Path(args.text).name}, 90/10 split, seed {args.seed}")
    print("| candidate | params | iters × batch × block | lr | val loss | reaches 1.88 | train s | total s |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    results = {}
    for name in args.only:
        params, val, train_s, total, t = run_candidate(name, text, args.threads, args.seed)
        results[name] = (val, t.max_iters)
        block = {**LM5, **CANDIDATES[name][0]}["block_size"]
        print(f"| {name} | {params:,} | {t.max_iters} × {t.batch_size} × {block} | {t.learning_rate:g} | {val:.3f} | "
              f"{'yes' if val <= TARGET else 'no'} | {train_s:.0f} | {total:.0f} |", flush=True)

    if args.no_timing:
        return
    names = ["recipe"] + [n for n in results if n != "recipe"]
    ms = step_times(names)
    base = 2000 * ms["recipe"]
    print("\nstep time, alternating rounds on one thread (the same for every candidate, so load drift cancels):")
    print("| candidate | val loss | ms/it | iterations | est. train s | vs recipe |")
    print("|---|---|---|---|---|---|")
    for name in names:
        val, iters = results.get(name, (float("nan"), CANDIDATES[name][1]["max_iters"]))
        est = iters * ms[name]
        print(f"| {name} | {val:.3f} | {ms[name]:.1f} | {iters} | {est / 1000:.0f} | {est / base:.2f}x |")


if __name__ == "__main__":
    main()
