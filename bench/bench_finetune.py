"""Fine-tuning three ways from the same pre-trained base on the same domain text, for the same steps.

    python bench/bench_finetune.py                     # the app's assistant base (the page's default) -> the Python reference
    python bench/bench_finetune.py --base small        # the quick 64-character base
    python bench/bench_finetune.py --iters 600 --ranks 1 4 16 64
    python bench/bench_finetune.py --targets query value --no-new-token-rows   # the LoRA paper's choice, for contrast

Every method runs at the page's defaults (llmviz.tasks.finetune.FineTuning and config_for: LoRA on every
linear layer with its own learning rate and alpha, and the embedding and head rows of the tokens the new text
relies on). For each: the share of weights that train, ms per step, the validation loss on the NEW text and
on the ORIGINAL text (before -> after: a rising original loss is forgetting), and the bytes of what must
be kept beside the base (only what trained); then the page's sentence, written from the numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.io import checkpoint  # noqa: E402
from llmviz.tasks import finetune, finetune_compare  # noqa: E402
from llmviz.text.corpora import get_corpus  # noqa: E402
from llmviz.wording import plural  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="python-docs")
    ap.add_argument("--base", choices=list(finetune.BASES), default="assistant",
                    help="the app's assistant base (the page's default) or the quick small one")
    ap.add_argument("--iters", type=int, default=finetune.STEPS)
    ap.add_argument("--ranks", type=int, nargs="+", default=[4, finetune.FineTuning.rank])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--targets", nargs="+", default=list(finetune.FineTuning.targets))
    ap.add_argument("--new-token-rows", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)

    base = finetune.pretrained_base(finetune.BASES[args.base])  # made once on this machine, then cached
    text, original = get_corpus(args.corpus).text, get_corpus(base.extra.get("corpus", "shakespeare")).text
    full_bytes = len(checkpoint.to_bytes(base.model, base.tokenizer, base.train_config))
    print(f"base: {sum(p.numel() for p in base.model.parameters()):,} parameters, {full_bytes:,} bytes; "
          f"domain text: {args.corpus}; {args.iters} steps each, {plural(args.threads, 'thread')}")
    methods = [("full", finetune.FineTuning("full")), ("frozen", finetune.FineTuning("frozen"))]
    methods += [(f"lora r={r}", finetune.FineTuning("lora", rank=r, targets=tuple(args.targets),
                                                    new_token_rows=args.new_token_rows)) for r in args.ranks]
    print(f"LoRA on {', '.join(args.targets)}; new tokens' rows: "
          f"{len(finetune.new_tokens(base.tokenizer, text, original)) if args.new_token_rows else 'off'}")
    rows, done = [], {}
    for label, how in methods:
        cfg = replace(finetune.config_for(base.train_config, how.method, args.iters), eval_interval=args.iters,
                      eval_iters=50, sample_tokens=0, threads=args.threads)
        run = finetune.start(base, text, cfg, how, original)
        t0 = time.perf_counter()
        snap = run.train()
        secs = time.perf_counter() - t0
        first, last = snap.history[0], snap.history[-1]
        size = finetune_compare.bytes_to_keep(run)  # only what trained: adapters, trained tensors, or the whole model
        rows.append((label, 100 * run.n_trainable / run.n_params, 1000 * secs / args.iters, first.val_loss,
                     last.val_loss, first.other["original"], last.other["original"], size, cfg.learning_rate))
        done[label] = run
        print(f"  {label:<10} done in {secs:.0f} s", flush=True)
    print()
    print("| method | trains | lr | ms/step | new-text loss | original-text loss | bytes to keep | smaller than the model |")
    print("|---|---|---|---|---|---|---|---|")
    for label, pct, ms, n0, n1, o0, o1, size, lr in rows:
        print(f"| {label} | {pct:.2f} % | {lr:g} | {ms:.1f} | {n0:.3f} → {n1:.3f} | {o0:.3f} → {o1:.3f} | "
              f"{size:,} | {full_bytes / size:.0f}× |")
    print()
    for label in done:
        if label.startswith("lora"):  # the page's sentence under its table, for each rank
            print(finetune_compare.reading(finetune_compare.measures({"full": done["full"], "lora": done[label]})))


if __name__ == "__main__":
    main()
