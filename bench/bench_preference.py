"""Preference tuning (DPO) of an instruct model: the share of its answers that follow the rule, before and
after, and how far it drifted from the reference.

    python -m llmviz instruct --base pretrained --out chat.safetensors     # an instruct model first
    python bench/bench_preference.py --checkpoint chat.safetensors [--steps 300 --betas 0.05 0.1 0.5]

Each β runs the page's own path (instruct.default_config, then preference.config; 300 steps by default):
the rule's share of sampled answers before and after, the drift, and DPO's own measures on held-out pairs
after the run (its loss, the reward margin, the share of pairs whose chosen answer wins).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.io import checkpoint  # noqa: E402
from llmviz.text import corpora  # noqa: E402
from llmviz.tasks import instruct, preference  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--betas", type=float, nargs="+", default=[0.05, 0.1, 0.5])
    ap.add_argument("--samples", type=int, default=5, help="answers sampled per held-out prompt")
    args = ap.parse_args(argv)
    ck = checkpoint.load(args.checkpoint)
    style = corpora.shakespeare().text
    prompts = [p.prompt for p in preference.make_pairs(style, 200, held=True)[:40]]
    before = preference.preferred_rate(ck.model, ck.tokenizer, prompts, args.samples)
    print(f"rule: {preference.RULE}; {len(prompts)} held-out prompts × {args.samples} sampled answers")
    print()
    print("| β | steps | preferred before | preferred after | drift (≈ KL, nats) | DPO loss | reward margin | "
          "chosen wins | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for beta in args.betas:
        cfg = preference.config(instruct.default_config(args.steps), args.steps)
        run, _ = preference.start(ck.model, ck.tokenizer, cfg, style, beta)
        t0 = time.perf_counter()
        run.train()
        secs = time.perf_counter() - t0
        after = preference.preferred_rate(run.model, ck.tokenizer, prompts, args.samples)
        drift = preference.drift(run.model, ck.model, ck.tokenizer, prompts)
        dpo = run.batches.measures(run.model)
        print(f"| {beta:g} | {args.steps} | {before:.0%} | {after:.0%} | {drift:.3f} | {dpo['dpo_loss']:.3f} | "
              f"{dpo['margin']:.2f} | {dpo['wins']:.0%} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
