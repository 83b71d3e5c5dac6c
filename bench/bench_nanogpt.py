"""llmviz's trainer against nanoGPT's, at nanoGPT's README CPU recipe, in the same process.

    python bench/bench_nanogpt.py                        # 1 and 2 threads, whole runs (several minutes)
    python bench/bench_nanogpt.py --threads 2 --rounds 3
    python bench/bench_nanogpt.py --iters 500            # a shorter run (same schedule, scaled)
    python bench/bench_nanogpt.py --profile --threads 1 2  # where one step's time goes, both sides

nanoGPT's side is bench/nanogpt_reference.py (its model and train.py loop as the recipe runs them:
4 layers, 4 heads, n_embd 128, block 64, batch 12, 2000 steps, an estimate of both losses over 20
batches every 250 steps). llmviz's side is `TrainingRun` exactly as `python -m llmviz train` runs it
(model, batches, AdamW, schedule, loss estimates, divergence checks, the time-left estimate; no text
samples, as nanoGPT writes none), on the same shape, schedule and evaluation. Each round runs both
whole, one after the other, in alternating order, so a busy machine slows both alike: compare the
per-round ratio. Each run has a fresh process of its own, as each would from its command line (in one
process, the second trainer's threads would compete with the first's idle OpenMP pool). Also printed: each side's ms per optimizer step with evaluation left out, and the
final validation loss.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nanogpt_reference as nanogpt  # noqa: E402
from llmviz.training.config import TrainConfig  # noqa: E402
from llmviz.nn.model import ModelConfig  # noqa: E402
from llmviz.training.train import TrainingRun  # noqa: E402
from llmviz.wording import plural  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
SHAPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64)


def fresh(fn, *args):
    """fn(*args) in a new process (spawned: nothing of this one's threads or memory)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def run_nanogpt(ids: np.ndarray, iters: int, eval_interval: int, seed: int, threads: int) -> tuple[float, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    n = int(0.9 * len(ids))
    t = time.perf_counter()
    tr = nanogpt.Trainer(ids[:n], ids[n:], vocab_size=int(ids.max()) + 1, batch_size=12, max_iters=iters,
                         eval_interval=eval_interval, eval_iters=20, **SHAPE)
    final = tr.run()
    return time.perf_counter() - t, final["val"]


def run_llmviz(text: str, iters: int, eval_interval: int, seed: int, threads: int) -> tuple[float, float]:
    cfg = ModelConfig(vocab_size=65, causal=True, pos_emb=True, ffwd="mlp", residual=True, layer_norm=True,
                      proj=True, dropout=0.0, init_std=0.02, **SHAPE)
    tcfg = TrainConfig(batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay=True,
                       max_iters=iters, beta2=0.99, weight_decay=0.1, grad_clip=1.0, val_fraction=0.1,
                       eval_interval=eval_interval, eval_iters=20, threads=threads, seed=seed, sample_tokens=0)
    torch.set_num_threads(1)  # as `python -m llmviz train` does: the training thread sets its own count
    t = time.perf_counter()
    run = TrainingRun.new(cfg, tcfg, text)
    run.inside_every = 0  # as the command line trains: nobody is watching the inside
    snap = run.train()
    return time.perf_counter() - t, snap.history[-1].val_loss


def profile(text: str, ids: np.ndarray, threads: int, steps: int = 30, rounds: int = 5) -> None:
    """Where one step's time goes, phase by phase (wall clock, alternating rounds, median), on both sides:
    nanoGPT's step as its train.py takes it, and the body of llmviz's training loop step (llmviz.training.loop)."""
    from llmviz.training.batches import batch_loss

    torch.set_num_threads(threads)
    n = int(0.9 * len(ids))
    ng = nanogpt.Trainer(ids[:n], ids[n:], **SHAPE)
    cfg = ModelConfig(vocab_size=65, dropout=0.0, init_std=0.02, **SHAPE)
    tcfg = TrainConfig(batch_size=12, learning_rate=1e-3, beta2=0.99, weight_decay=0.1, grad_clip=1.0,
                       val_fraction=0.1, threads=threads)
    run = TrainingRun.new(cfg, tcfg, text)
    run._prepare()
    params = [p for p in run.model.parameters() if p.requires_grad]
    phases = ("batch", "forward + loss", "backward", "clip", "AdamW step", "zero_grad + .item()")

    def nanogpt_step():
        t = [time.perf_counter()]
        x, y = nanogpt.get_batch(ng.data["train"], 64, 12)
        t.append(time.perf_counter())
        _, loss = ng.model(x, y)
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(ng.model.parameters(), 1.0)
        t.append(time.perf_counter())
        ng.opt.step()
        t.append(time.perf_counter())
        ng.opt.zero_grad(set_to_none=True)
        loss.item()
        t.append(time.perf_counter())
        return t

    def llmviz_step():
        t = [time.perf_counter()]
        b = run.batches.batch("train", 12, run._gen)
        t.append(time.perf_counter())
        loss = batch_loss(run.model, b, train=True)
        t.append(time.perf_counter())
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        t.append(time.perf_counter())
        run.optimizer.step()
        t.append(time.perf_counter())
        loss.item()
        t.append(time.perf_counter())
        return t

    sides = {"nanoGPT": (nanogpt_step, []), "llmviz": (llmviz_step, [])}
    for step, _ in sides.values():
        for _ in range(5):
            step()
    for _ in range(rounds):
        for step, per_round in sides.values():
            sums = [0.0] * len(phases)
            for _ in range(steps):
                t = step()
                for i in range(len(phases)):
                    sums[i] += t[i + 1] - t[i]
            per_round.append([1000 * x / steps for x in sums])
    med = {k: [statistics.median(r[i] for r in v[1]) for i in range(len(phases))] for k, v in sides.items()}
    print(f"\none step at {plural(threads, 'thread')}, ms, median of {rounds} alternating rounds of {steps} steps")
    print("| phase | nanoGPT | llmviz |")
    print("|---|---|---|")
    for i, ph in enumerate(phases):
        print(f"| {ph} | {med['nanoGPT'][i]:.2f} | {med['llmviz'][i]:.2f} |")
    print(f"| whole step | {sum(med['nanoGPT']):.2f} | {sum(med['llmviz']):.2f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--profile", action="store_true", help="where one step's time goes, instead of whole runs")
    args = ap.parse_args(argv)
    path = Path(args.text)
    if not path.exists():
        print(f"skipped: {path} is not there")
        return
    text = path.read_text(encoding="utf-8")
    ids = nanogpt.encode(text)
    if args.profile:
        for threads in args.threads:
            profile(text, ids, threads)
        return
    eval_interval = max(1, args.iters // 8)
    print(f"nanoGPT's CPU recipe: {args.iters} steps of 12 x 64, 4 x 128, losses estimated over 20 batches "
          f"every {eval_interval} steps; {args.rounds} rounds per thread count")
    print("| threads | round | nanoGPT s | llmviz s | llmviz / nanoGPT | nanoGPT val | llmviz val |")
    print("|---|---|---|---|---|---|---|", flush=True)
    for threads in args.threads:
        torch.set_num_threads(threads)
        ratios = []
        for r in range(args.rounds):
            order = ("nanogpt", "llmviz") if r % 2 == 0 else ("llmviz", "nanogpt")
            res = {}
            for side in order:
                if side == "nanogpt":
                    res[side] = fresh(run_nanogpt, ids, args.iters, eval_interval, args.seed, threads)
                else:
                    res[side] = fresh(run_llmviz, text, args.iters, eval_interval, args.seed, threads)
            ratio = res["llmviz"][0] / res["nanogpt"][0]
            ratios.append(ratio)
            print(f"| {threads} | {r + 1} | {res['nanogpt'][0]:.1f} | {res['llmviz'][0]:.1f} | {ratio:.3f} | "
                  f"{res['nanogpt'][1]:.3f} | {res['llmviz'][1]:.3f} |", flush=True)
        print(f"| {threads} | median | | | {statistics.median(ratios):.3f} | | |", flush=True)


if __name__ == "__main__":
    main()
