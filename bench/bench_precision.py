"""float32 against bfloat16 autocast (and, with --compile, torch.compile) per training step, by model size.

    python bench/bench_precision.py                      # this machine's device, the sizes below
    python bench/bench_precision.py --device cuda --compile
    python bench/bench_precision.py --sizes recipe lm5-scaled --threads 2

What `TrainConfig.precision="auto"` picks (llmviz.device.autocast_dtype) is decided from these figures:
each variant's step (forward, backward, clipping, AdamW) is timed in alternating rounds in the same
process, so a busy machine slows all of them alike; the table gives ms per step and the speed-up over
float32. Also printed: the largest difference in the loss between the variants over the timed steps
(same batches, same start), which must stay small.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from llmviz.training.config import TrainConfig  # noqa: E402
from llmviz.nn.model import LanguageModel, ModelConfig  # noqa: E402
from llmviz.training.optim import make_optimizer  # noqa: E402
from llmviz.training.presets import PRESETS  # noqa: E402

LM5 = dict(causal=True, pos_emb=True, ffwd="mlp", ff_mult=4, residual=True, layer_norm=True, proj=True, dropout=0.0,
           init_std=0.02)
# name: (model shape, batch size)
SIZES = {
    "fast-cpu": (dict(n_layer=2, n_head=4, n_embd=96, block_size=64), 12),
    "recipe": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64), 12),  # nanoGPT's CPU recipe, 0.8 M
    "5M": (dict(n_layer=6, n_head=8, n_embd=256, block_size=128), 16),
    "lm5-scaled": ({k: getattr(PRESETS["lm5-scaled"].model, k) for k in ("n_layer", "n_head", "n_embd", "block_size")},
                   8),  # 10.8 M; the tutorial's batch is 64, 8 keeps a CPU step short
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (float32 and bfloat16)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="steps per round")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    variants = [("float32", None, False), ("bfloat16", torch.bfloat16, False)]
    if args.compile:
        variants += [("float32 + compile", None, True), ("bfloat16 + compile", torch.bfloat16, True)]
    print(f"device {dev}, {torch.get_num_threads()} threads; ms per training step, median of {args.rounds} rounds")
    print("| size | params | batch × block | " + " | ".join(v[0] for v in variants) + " | bfloat16 speed-up | max loss diff |")
    print("|---|---|---|" + "---|" * len(variants) + "---|---|", flush=True)
    for size in args.sizes:
        shape, batch = SIZES[size]
        cfg = ModelConfig(vocab_size=65, **{**LM5, **shape})
        tcfg = TrainConfig(weight_decay=0.1, grad_clip=1.0)
        g = torch.Generator().manual_seed(0)
        batches = [torch.randint(65, (batch, cfg.block_size + 1), generator=g).to(dev) for _ in range(args.steps)]
        setups = []
        for name, dtype, comp in variants:
            torch.manual_seed(0)
            model = LanguageModel(cfg).to(dev)
            step_model = torch.compile(model) if comp else model
            setups.append((name, dtype, model, step_model, make_optimizer(model, tcfg, dev), [], []))

        def go(setup):
            name, dtype, model, step_model, opt, times, losses = setup
            if dev == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for xy in batches:
                with torch.autocast(device_type=dev, dtype=dtype, enabled=dtype is not None):
                    _, loss = step_model(xy[:, :-1], xy[:, 1:], train=True)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                losses.append(loss.item())
            times.append((time.perf_counter() - t) / len(batches))

        for s in setups:  # warm-up (and compilation)
            go(s)
            s[5].clear()
            s[6].clear()
        for _ in range(args.rounds):
            for s in setups:
                go(s)
        ms = [1000 * statistics.median(s[5]) for s in setups]
        # the same batches and start: compare the first round's losses of float32 and bfloat16
        diff = max(abs(a - b) for a, b in zip(setups[0][6][:args.steps], setups[1][6][:args.steps]))
        n = sum(p.numel() for p in setups[0][2].parameters())
        print(f"| {size} | {n / 1e6:.2f} M | {batch} × {cfg.block_size} | " + " | ".join(f"{m:.1f}" for m in ms)
              + f" | {ms[0] / ms[1]:.2f}× | {diff:.4f} |", flush=True)


if __name__ == "__main__":
    main()
