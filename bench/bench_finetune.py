"""Fine-tuning three ways from the same pre-trained base on the same domain text, for the same steps.

    python bench/bench_finetune.py                     # the app's pre-trained Shakespeare base -> the Python reference
    python bench/bench_finetune.py --iters 600 --ranks 1 4 16

For each method: the share of weights that train, ms per step, the validation loss on the NEW text and
on the ORIGINAL text (before -> after: a rising original loss is forgetting), and the bytes of what must
be kept (the whole model for full and frozen fine-tuning, the adapters alone for LoRA).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.io import checkpoint  # noqa: E402
from llmviz.tasks import finetune
from llmviz.text.corpora import get_corpus  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="python-docs")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    base = finetune.pretrained_base()  # made once on this machine, then cached
    text, original = get_corpus(args.corpus).text, get_corpus(base.extra.get("corpus", "shakespeare")).text
    full_bytes = len(checkpoint.to_bytes(base.model, base.tokenizer, base.train_config))
    print(f"base: {sum(p.numel() for p in base.model.parameters()):,} parameters, {full_bytes:,} bytes; "
          f"domain text: {args.corpus}; {args.iters} steps each, {args.threads} thread(s)")
    methods = [("full", finetune.FineTuning("full")), ("frozen", finetune.FineTuning("frozen"))]
    methods += [(f"lora r={r}", finetune.FineTuning("lora", rank=r, alpha=2.0 * r)) for r in args.ranks]
    rows = []
    for label, how in methods:
        cfg = finetune.default_config(base.train_config, how.method)
        from dataclasses import replace

        cfg = replace(cfg, max_iters=args.iters, eval_interval=args.iters, eval_iters=50, sample_tokens=0,
                      threads=args.threads)
        run = finetune.start(base, text, cfg, how, original)
        t0 = time.perf_counter()
        snap = run.train()
        secs = time.perf_counter() - t0
        first, last = snap.history[0], snap.history[-1]
        # what must be kept to use the result: the adapters alone, or the whole model (without optimizer state)
        data = (checkpoint.adapter_to_bytes(run.model, run.tokenizer, run.train_cfg) if how.method == "lora"
                else checkpoint.to_bytes(run.model, run.tokenizer, run.train_cfg))
        rows.append((label, 100 * run.n_trainable / run.n_params, 1000 * secs / args.iters, first.val_loss,
                     last.val_loss, first.other["original"], last.other["original"], len(data), cfg.learning_rate))
        print(f"  {label:<10} done in {secs:.0f} s", flush=True)
    print()
    print("| method | trains | lr | ms/step | new-text loss | original-text loss | bytes to keep | smaller than the model |")
    print("|---|---|---|---|---|---|---|---|")
    for label, pct, ms, n0, n1, o0, o1, size, lr in rows:
        print(f"| {label} | {pct:.2f} % | {lr:g} | {ms:.1f} | {n0:.3f} → {n1:.3f} | {o0:.3f} → {o1:.3f} | "
              f"{size:,} | {full_bytes / size:.0f}× |")


if __name__ == "__main__":
    main()
