"""`python -m llmviz prefer`: preference tuning (DPO) of an instruct model, as the Instruct models page does it.

    python -m llmviz instruct --base pretrained --out chat.safetensors --json   # an instruct model first
    python -m llmviz prefer --checkpoint chat.safetensors --iters 300 --out preferred.safetensors --json

The preferences follow the rule of llmviz.tasks.preference (answers that end their sentence); the JSON line
says the share of sampled answers that follow it before and after, how far the model drifted from the
reference (≈ KL, nats), and the DPO loss on the held-out pairs.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

from llmviz.cli import runs
from llmviz.cli.failure import in_words
from llmviz.io import checkpoint
from llmviz.tasks import instruct, preference
from llmviz.text import corpora
from llmviz.training.config import TrainConfig

DEFAULT_STEPS = 300  # the page's default


def add_prefer(sub) -> None:
    pr = sub.add_parser("prefer", help="preference-tune (DPO) an instruct model: " + preference.RULE)
    pr.add_argument("--checkpoint", required=True, help="an instruct model (python -m llmviz instruct --out FILE)")
    pr.add_argument("--beta", type=float, default=None,
                    help="how far from the reference it may go (smaller = further); default: llmviz.tasks.preference's")
    pr.add_argument("--samples", type=int, default=3, help="answers sampled per held-out prompt to measure the rule")
    pr.add_argument("--out", help="where to save the preference-tuned model (.safetensors)")
    runs.add_report_flags(pr)
    runs.add_dataclass_flags(pr, TrainConfig)
    pr.set_defaults(func=cmd_prefer)


def cmd_prefer(args) -> int:
    runs.one_thread_here()
    if args.out:
        runs.check_out(args.out)
    with in_words(ValueError, OSError):
        ck = checkpoint.load(args.checkpoint)
        flags = runs.overrides(args, TrainConfig)
        steps = flags.get("max_iters") or DEFAULT_STEPS
        cfg = replace(preference.config(instruct.default_config(steps), steps), **flags)
        beta = {} if args.beta is None else {"beta": args.beta}
        run, prompts = preference.start(ck.model, ck.tokenizer, cfg, corpora.shakespeare().text, **beta)
    before = preference.preferred_rate(ck.model, ck.tokenizer, prompts, args.samples)
    done = runs.train_to_end(run, args, "preference tuning")
    if done is None:
        return 1
    snap, seconds = done
    last = snap.history[-1] if snap.history else None
    result = {"iterations": run.step, "seconds": round(seconds, 1), "beta": run.batches.beta, "rule": preference.RULE,
              "preferred_before": before,
              "preferred_after": preference.preferred_rate(run.model, run.tokenizer, prompts, args.samples),
              "drift": preference.drift(run.model, ck.model, ck.tokenizer, prompts[:10]),
              "dpo_val_loss": last.val_loss if last and math.isfinite(last.val_loss) else None,
              "checkpoint": None, "saved": False}
    if args.out:
        extra = {"instruct": True, "preference": {"beta": result["beta"], "rule": preference.RULE}}
        result["checkpoint"] = str(checkpoint.save_run(args.out, run, extra=extra))
        result["saved"] = True
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0
