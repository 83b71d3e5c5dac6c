"""Training throughput at nanoGPT's CPU recipe: llmviz's model and trainer vs a tutorial-style reference.

    python bench/bench_speed.py                 # ms per iteration, interleaved rounds (about a minute idle)
    python bench/bench_speed.py --threads-table # 1 vs 2 threads across model sizes
    python bench/bench_speed.py --full          # + our full 2000-iteration run and its validation loss

The reference is written the way the tutorial teaches it: a Python list of Head modules with explicit
Q·Kᵀ matmuls, masked_fill and softmax, torch's default AdamW and thread count, and batches stacked from
Python slices. Both are timed in the same process, alternately, so a busy machine slows both alike:
compare the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from llmviz.nn.model import LanguageModel, ModelConfig  # noqa: E402
from llmviz.training.batches import get_batch, split_data  # noqa: E402
from llmviz.training.optim import make_optimizer  # noqa: E402
from llmviz.training.train import TrainConfig  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
# nanoGPT's "laptop CPU" recipe for Shakespeare characters
RECIPE = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, init_std=0.02)  # nanoGPT inits like GPT-2
RECIPE_TRAIN = dict(batch_size=12, learning_rate=1e-3, warmup_iters=100, lr_decay=True, min_lr=1e-4, max_iters=2000,
                    beta2=0.99, val_fraction=0.1, weight_decay=0.1, grad_clip=1.0, eval_interval=250, eval_iters=20)


# --- the reference: the tutorial's style ----------------------------------------------------------------

class Head(nn.Module):
    def __init__(self, n_embd, head_size, block_size):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))

    def forward(self, x):
        B, T, C = x.shape
        k, q = self.key(x), self.query(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        return wei @ self.value(x)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.heads = nn.ModuleList([Head(n_embd, n_embd // n_head, block_size) for _ in range(n_head)])
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class RefBlock(nn.Module):
    def __init__(self, n_embd, n_head, block_size):
        super().__init__()
        self.sa = MultiHeadAttention(n_embd, n_head, block_size)
        self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(), nn.Linear(4 * n_embd, n_embd))
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class RefModel(nn.Module):
    def __init__(self, vocab_size, n_embd, n_head, n_layer, block_size, **_):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[RefBlock(n_embd, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T))
        logits = self.lm_head(self.ln_f(self.blocks(x)))
        return F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))


def ref_get_batch(data, block_size, batch_size):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    return x, y


# --- timing --------------------------------------------------------------------------------------------

def load_data(path):
    text = Path(path).read_text(encoding="utf-8")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    return data, len(chars)


class Trainer:
    """One way of taking training steps, so several can be timed in turns."""

    def __init__(self, name, make_model, make_opt, batch_fn, threads, clip=1.0):
        self.name, self.threads, self.clip = name, threads, clip
        torch.manual_seed(0)
        self.model = make_model()
        self.opt = make_opt(self.model)
        self.batch_fn = batch_fn
        self.times: list[float] = []

    def steps(self, n):
        torch.set_num_threads(self.threads)
        t0 = time.perf_counter()
        for _ in range(n):
            x, y = self.batch_fn()
            loss = self.model(x, y)
            loss = loss[1] if isinstance(loss, tuple) else loss
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.opt.step()
        self.times.append((time.perf_counter() - t0) / n)


def build_trainers(data, vocab, cores, variants=True):
    cfg = ModelConfig(vocab_size=vocab, **RECIPE)
    tcfg = TrainConfig(**RECIPE_TRAIN)
    train, _ = split_data(data, 0.1)
    g = torch.Generator().manual_seed(0)
    ours_batch = lambda: get_batch(train, cfg.block_size, tcfg.batch_size, g)  # noqa: E731
    ref_batch = lambda: ref_get_batch(train, cfg.block_size, tcfg.batch_size)  # noqa: E731

    def ref_opt(m):
        return torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)

    def ours_opt(m):
        return make_optimizer(m, tcfg, "cpu")

    out = [
        Trainer(f"reference (tutorial style, torch's default {cores} threads)", lambda: RefModel(vocab, **RECIPE),
                ref_opt, ref_batch, cores),
        Trainer(f"llmviz, {cores} threads, fused AdamW", lambda: LanguageModel(cfg), ours_opt, ours_batch, cores),
    ]
    if variants:
        out += [
            Trainer("reference, 1 thread", lambda: RefModel(vocab, **RECIPE), ref_opt, ref_batch, 1),
            Trainer("llmviz, 1 thread, fused AdamW", lambda: LanguageModel(cfg), ours_opt, ours_batch, 1),
            Trainer("llmviz, 1 thread, for-loop AdamW", lambda: LanguageModel(cfg), ref_opt, ours_batch, 1),
            Trainer("llmviz, 1 thread, foreach AdamW", lambda: LanguageModel(cfg),
                    lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1,
                                                foreach=True), ours_batch, 1),
        ]
    return out


def speed_table(data, vocab, rounds, steps, variants):
    cores = torch.get_num_threads()
    trainers = build_trainers(data, vocab, cores, variants)
    for t in trainers:
        t.steps(3)  # warm-up: first calls allocate and pick kernels
        t.times.clear()
    for _ in range(rounds):
        for t in trainers:
            t.steps(steps)
    base = statistics.median(trainers[0].times)
    ref_at = {t.threads: statistics.median(t.times) for t in trainers if t.name.startswith("reference")}
    print(f"\nnanoGPT CPU recipe (n_layer 4, n_head 4, n_embd 128, block 64, batch 12): median of {rounds} rounds "
          f"of {steps} steps, interleaved; load average {os.getloadavg()[0]:.1f} on {cores} cores before the run")
    print("| trainer | ms / iteration | speed-up vs reference | vs reference at the same threads |")
    print("|---|---|---|---|")
    for t in trainers:
        med = statistics.median(t.times)
        same = f"{ref_at[t.threads] / med:.2f}x" if t.threads in ref_at else ""
        print(f"| {t.name} | {1000 * med:.1f} | {base / med:.2f}x | {same} |")
    return trainers


def threads_table(vocab, steps):
    print("\nthreads: ms per training step of our model, 1 vs 2 threads (alternating, median of 3 rounds)")
    print("| model | params | tokens/step | 1 thread | 2 threads | 2 threads faster by |")
    print("|---|---|---|---|---|---|")
    shapes = [("lm5 (tutorial)", dict(n_embd=32, n_head=2, n_layer=2, block_size=16), 64),
              ("nanoGPT CPU recipe", RECIPE, 12),
              ("recipe, batch 64", RECIPE, 64),
              ("n_embd 256, 6 layers", dict(n_embd=256, n_head=8, n_layer=6, block_size=128), 16),
              ("n_embd 384, 6 layers, block 256", dict(n_embd=384, n_head=6, n_layer=6, block_size=256), 8)]
    for label, shape, batch in shapes:
        cfg = ModelConfig(vocab_size=vocab, **{**shape, "dropout": 0.0})
        data = torch.randint(vocab, (100_000,))
        g = torch.Generator().manual_seed(0)
        tcfg = TrainConfig(learning_rate=1e-3)
        ts = {n: Trainer(f"{n}", lambda: LanguageModel(cfg), lambda m: make_optimizer(m, tcfg, "cpu"),
                         lambda: get_batch(data, cfg.block_size, batch, g), n, clip=0) for n in (1, 2)}
        n_steps = max(2, int(steps * 64 * 16 / (batch * cfg.block_size)))
        for t in ts.values():
            t.steps(1)
            t.times.clear()
        for _ in range(3):
            for t in ts.values():
                t.steps(n_steps)
        one, two = (1000 * statistics.median(ts[n].times) for n in (1, 2))
        params = ts[1].model.num_params()
        print(f"| {label} | {params:,} | {batch * cfg.block_size} | {one:.1f} ms | {two:.1f} ms | {one / two:.2f}x |",
              flush=True)


def full_run(text_path, iters):
    from llmviz.training.train import TrainingRun

    text = Path(text_path).read_text(encoding="utf-8")
    cfg = ModelConfig(vocab_size=65, **RECIPE)
    run = TrainingRun.new(cfg, TrainConfig(**{**RECIPE_TRAIN, "max_iters": iters, "sample_tokens": 0}), text)
    t0 = time.perf_counter()
    snap = run.train()
    secs = time.perf_counter() - t0
    last = snap.history[-1]
    print(f"\nllmviz at the recipe, {iters} iterations: train {last.train_loss:.3f}, val {last.val_loss:.3f} "
          f"(target ≤ 1.88), {secs:.0f} s in all ({1000 * secs / iters:.0f} ms/it including evaluations)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="steps per round and trainer")
    ap.add_argument("--no-variants", action="store_true", help="only the reference and llmviz")
    ap.add_argument("--threads-table", action="store_true")
    ap.add_argument("--full", action="store_true", help="also train 2000 iterations and report the val loss")
    ap.add_argument("--iters", type=int, default=2000)
    args = ap.parse_args(argv)
    data, vocab = load_data(args.text)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available by default")
    if args.threads_table:
        threads_table(vocab, args.steps)
    else:
        speed_table(data, vocab, args.rounds, args.steps, not args.no_variants)
    if args.full:
        full_run(args.text, args.iters)


if __name__ == "__main__":
    main()
