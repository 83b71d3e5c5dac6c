"""`python -m llmviz finetune` and `instruct`: a trained checkpoint (or the app's pre-trained base) trained
further, on a domain text (full, frozen body or LoRA) or on the generated chat tasks.

    python -m llmviz finetune --base pretrained --corpus python-docs --method lora --out adapters.safetensors
    python -m llmviz instruct --base pretrained --out chat.safetensors --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace

from llmviz.cli import runs
from llmviz.cli.failure import Unfinished, in_words
from llmviz.errors import LearnerError
from llmviz.io import atomic, checkpoint
from llmviz.tasks import finetune, finetune_compare, instruct
from llmviz.text import corpora
from llmviz.training import pace
from llmviz.training.config import TrainConfig

BASE_HELP = ("a checkpoint, or 'pretrained' for the app's assistant base (a 384-token BPE model of the plays, made "
             "once and cached), or 'pretrained-small' for the quick 64-character base")


def add_finetune(sub) -> None:
    ft = sub.add_parser("finetune", help="fine-tune a checkpoint on a domain text: full, frozen body or LoRA")
    ft.add_argument("--base", required=True, help=BASE_HELP)
    ft.add_argument("--corpus", default="python-docs", help="the domain text (a corpus name or a file)")
    ft.add_argument("--original-corpus", help="the text the base learned, to measure forgetting "
                                              "(default: the corpus its checkpoint names)")
    ft.add_argument("--method", choices=list(finetune.METHODS), default="lora")
    ft.add_argument("--rank", type=int, default=finetune.FineTuning.rank, help="LoRA's rank r")
    ft.add_argument("--alpha", type=float, default=finetune.FineTuning.alpha, help="LoRA's alpha: ΔW = B·A · alpha / r")
    ft.add_argument("--targets", nargs="+", default=list(finetune.FineTuning.targets),
                    help="the matrices LoRA adapts (default: all of them): query key value attn_out ffwd")
    ft.add_argument("--new-token-rows", action=argparse.BooleanOptionalAction, default=True,
                    help="LoRA also trains the embedding and head rows of the tokens the new text relies on: "
                         "those the original text never uses, and those the new text uses at least "
                         f"{finetune.RELIED_ON:g}× as often, as peft's trainable_token_indices does (default: on)")
    ft.add_argument("--drop-unknown", action="store_true",
                    help="drop the characters of the domain text the base's tokenizer cannot spell")
    ft.add_argument("--out", help="where to save: the adapters alone for LoRA, the whole model otherwise")
    runs.add_report_flags(ft)
    runs.add_dataclass_flags(ft, TrainConfig)
    ft.set_defaults(func=cmd_finetune)


def add_instruct(sub) -> None:
    it = sub.add_parser("instruct", help="instruction-tune a checkpoint on the generated chat tasks")
    it.add_argument("--base", required=True, help=BASE_HELP)
    it.add_argument("--per-task", type=int, default=50, help="held-out questions per task for the final accuracy")
    it.add_argument("--out", help="where to save the instruct model (.safetensors)")
    runs.add_report_flags(it)
    runs.add_dataclass_flags(it, TrainConfig)
    it.set_defaults(func=cmd_instruct)


PRETRAINED = {"pretrained": finetune.ASSISTANT_BASE, "pretrained-small": finetune.SMALL_BASE}


def _base_checkpoint(name: str, quiet: bool):
    """A checkpoint from a file, or one of the app's pre-trained bases (pre-trained once and cached)."""
    if name not in PRETRAINED:
        return checkpoint.load(name)
    how = PRETRAINED[name]

    def said(seconds):
        if not quiet:
            print(f"pre-training the base once (it is cached for next time): {pace.say(seconds)} "
                  f"here; Ctrl-C stops it", file=sys.stderr)
    base = finetune.pretrained_base(how, on_step=None if quiet else runs.progress, on_start=said)
    if not quiet and "pretrain_seconds" in base.extra:
        print(file=sys.stderr)
    return base


def _check_lora(args) -> None:
    if args.method != "lora":
        return
    if not (math.isfinite(args.alpha) and args.alpha > 0):
        raise LearnerError(f"--alpha must be a positive number (it is {args.alpha}): the adapters add B·A · alpha / r "
                           "to each weight, so with alpha 0 they could never change the model. LoRA's usual: 2 × r.")


def cmd_finetune(args) -> int:
    runs.one_thread_here()
    _check_lora(args)
    if args.out is not None:
        runs.check_out(args.out, add_suffix=False)
    with in_words(ValueError):
        base = _base_checkpoint(args.base, args.quiet)
        text = corpora.get_corpus(args.corpus).text
        if args.drop_unknown:
            text, kept = finetune.drop_unspellable(base.tokenizer, text)
            if not args.quiet:
                print(f"kept {kept:.1%} of the domain text (the characters the base can spell)", file=sys.stderr)
        original = None
        if args.original_corpus:
            original = corpora.get_corpus(args.original_corpus).text
        elif base.extra.get("corpus"):
            try:  # the corpus the base's checkpoint names, if it is one this command knows
                original = corpora.get_corpus(base.extra["corpus"]).text
            except LearnerError:
                if not args.quiet:
                    print(f"(not measuring forgetting: no text named {base.extra['corpus']!r}; "
                          f"give --original-corpus)", file=sys.stderr)
        how = finetune.FineTuning(args.method, args.rank, args.alpha, tuple(args.targets), args.new_token_rows)
        # the page's settings: its default number of steps, ten loss estimates
        tcfg = replace(finetune.config_for(base.train_config, args.method, finetune.STEPS),
                       **runs.overrides(args, TrainConfig))
        run = finetune.start(base, text, tcfg, how, original)
    if not args.quiet:
        print(f"{finetune.METHODS[args.method]}: {run.n_trainable:,} of {run.n_params:,} parameters train "
              f"({100 * run.n_trainable / run.n_params:.2f} %)", file=sys.stderr)
    done = runs.train_to_end(run, args, "fine-tuning")
    if done is None:
        return 1
    snap, seconds = done
    path, size = None, None
    if args.out:
        extra = {"corpus": args.corpus, "base": args.base, "method": args.method}
        data = (checkpoint.adapter_to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, extra=extra)
                if args.method == "lora" else checkpoint.run_to_bytes(run, extra=extra))
        try:  # whole or not at all, through a temporary of its own (two runs may write one file)
            path = atomic.write_bytes(args.out, data)
        except OSError as e:  # checked before training; the disk may still fill up meanwhile
            raise Unfinished(f"the fine-tuned {'adapters' if args.method == 'lora' else 'model'} could not be written "
                             f"to {args.out}: {e.strerror or e}") from e
        size = len(data)
    last = snap.history[-1]
    first = snap.history[0]
    result = {"method": args.method, "trainable": run.n_trainable, "params": run.n_params,
              "trainable_pct": round(100 * run.n_trainable / run.n_params, 3), "iterations": snap.step,
              "new_token_rows": len(run.model.adapters.tokens) if run.model.adapters is not None else 0,
              "val_loss_new_start": first.val_loss, "val_loss_original_start": (first.other or {}).get("original"),
              "val_loss_new": last.val_loss, "val_loss_original": (last.other or {}).get("original"),
              "bytes_to_keep": finetune_compare.bytes_to_keep(run),
              "ms_per_iter": round(1000 * seconds / max(1, snap.step), 3), "bytes": size,
              "file": str(path) if path else None}
    if args.json:
        print(json.dumps(result))
    elif not args.quiet:
        print(json.dumps(result, indent=1), file=sys.stderr)
    return 0


def cmd_instruct(args) -> int:
    runs.one_thread_here()
    if args.per_task < 1:
        raise LearnerError(f"--per-task must be at least 1 (it is {args.per_task}): the final accuracy is measured "
                           "on that many held-out questions of each task.")
    if args.out is not None:
        runs.check_out(args.out)
    with in_words(ValueError, OSError):
        base = _base_checkpoint(args.base, args.quiet)
        cfg = replace(instruct.default_config(), **runs.overrides(args, TrainConfig))
        run, held = instruct.start(base, cfg, style_text=corpora.shakespeare().text)
    if not args.quiet and run.added_tokens:
        print(f"the base's vocabulary grows by {len(run.added_tokens)} tokens, which start untrained (the average "
              f"of the old rows): {' '.join(run.added_tokens)}", file=sys.stderr)
    done = runs.train_to_end(run, args, "instruction tuning")
    if done is None:
        return 1
    _, seconds = done
    saved = None
    if args.out is not None:  # saved before the evaluation: a Ctrl-C during it loses no training
        extra = {"instruct": True, "base": args.base, "added_tokens": run.added_tokens}
        try:
            saved = str(checkpoint.save_run(args.out, run, extra=extra))
        except OSError as e:
            raise Unfinished(f"the instruct model could not be written to {args.out}: {e.strerror or e}") from e
        if not args.quiet:
            print(f"saved {saved}; measuring the accuracies (Ctrl-C skips it, the file stays)", file=sys.stderr)
    try:
        result = _instruct_figures(args, run, base, held, seconds)
    except KeyboardInterrupt:
        raise Unfinished("stopped (Ctrl-C) while measuring the accuracies: "
                         + (f"the instruct model was saved to {saved} before they began." if saved
                            else "no --out was given, so nothing was saved.")) from None
    result["checkpoint"] = saved
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


def _instruct_figures(args, run, base, held, seconds) -> dict:
    tuned = instruct.accuracy(run.model, run.tokenizer, held, args.per_task)
    alone = instruct.accuracy(run.model, run.tokenizer, [e for e in held if e.task == "tool"], args.per_task,
                              use_tool=False)
    result = {"iterations": run.step, "seconds": round(seconds, 1), "block_size": run.model_cfg.block_size,
              "pretrain_seconds": base.extra.get("pretrain_seconds"), "added_tokens": run.added_tokens,
              "tasks": sorted({e.task for e in held}),
              "base_accuracy": instruct.accuracy(base.model, base.tokenizer, held, args.per_task),
              "tuned_accuracy": tuned,
              "forgotten_accuracy": instruct.forgetting(run.model, run.tokenizer, held, args.per_task),
              "tool_alone_accuracy": alone.get("tool"), "tool_executed_accuracy": tuned.get("tool"),
              "checkpoint": None}
    return result
