"""`python -m llmviz presets` and `train`: the tutorial's models, trained from the command line.

    python -m llmviz train --preset lm5 --corpus shakespeare --iters 2000 --out lm5.safetensors --json
    python -m llmviz train --resume lm5.safetensors --iters 1000 --out lm5-more.safetensors
    torchrun --standalone --nproc_per_node=2 -m llmviz train --preset fast-cpu --out fast.safetensors --json

Under torchrun every process trains (llmviz.training.distributed); rank 0 alone prints the progress and
the JSON line and writes the checkpoint.
"""

from __future__ import annotations

import json
import math
import resource
import sys
from dataclasses import fields, replace

from llmviz.cli import runs
from llmviz.cli.failure import Unfinished, in_words
from llmviz.device import threads_reason
from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.nn.encoder_decoder import EncoderDecoderConfig
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.tasks import seq2seq
from llmviz.text.corpora import get_corpus
from llmviz.training import distributed
from llmviz.training.config import TrainConfig
from llmviz.training.pace import say
from llmviz.training.presets import PRESETS, preset_config
from llmviz.training.record import mean_tokens_per_s
from llmviz.training.train import TrainingRun
from llmviz.wording import plural


def add_presets(sub) -> None:
    sub.add_parser("presets", help="list the models of the tutorial").set_defaults(func=cmd_presets)


def add_train(sub) -> None:
    tr = sub.add_parser("train", help="train a model (--out saves it as a checkpoint)")
    tr.add_argument("--preset", default=None, choices=list(PRESETS), help="the tutorial model to train (default: lm5)")
    tr.add_argument("--corpus", default="shakespeare",
                    help="shakespeare, python-docs, tiny-shakespeare, or the path of a UTF-8 text file")
    tr.add_argument("--out", help="where to save the checkpoint (.safetensors)")
    tr.add_argument("--resume", metavar="CHECKPOINT",
                    help="go on training a checkpoint (weights, optimizer, history); --iters then counts extra steps")
    runs.add_report_flags(tr)
    runs.add_dataclass_flags(tr, ModelConfig, skip=("vocab_size",))
    runs.add_dataclass_flags(tr, EncoderDecoderConfig,  # the translation preset's source side
                             skip={f.name for f in fields(ModelConfig)} | {"src_vocab_size"})
    runs.add_dataclass_flags(tr, TrainConfig)
    tr.set_defaults(func=cmd_train)


def cmd_presets(args) -> int:
    for name, p in PRESETS.items():
        if p.architecture == "encoder-decoder":
            tok = seq2seq.corpus().tokenizer
            n = seq2seq.EncoderDecoder(replace(p.model, vocab_size=tok.target.vocab_size,
                                               src_vocab_size=tok.source.vocab_size)).num_params()
            print(f"{name:<11} {n:>12,} params (French→English words)  {p.title}")
            continue
        n = LanguageModel(preset_config(name, 65)).num_params()
        print(f"{name:<11} {n:>12,} params (65 characters)  {p.title}")
    return 0


def cmd_train(args) -> int:
    """Train in this process, or, started by torchrun, as one of several (llmviz.training.distributed): then
    every process trains and only rank 0 prints progress and the JSON line and writes the checkpoint."""
    runs.one_thread_here()
    if not distributed.launched():
        return _train(args, distributed.SINGLE)
    with in_words(ValueError, RuntimeError):
        world = distributed.setup(args.device)
    args.device = world.device  # every rank trains on the device the group was set up for
    if not world.is_main:
        args.quiet = True  # rank 0 speaks for all
    try:
        return _train(args, world)
    finally:
        distributed.shutdown()


def _train(args, world) -> int:
    _check_flags(args)
    if args.out is not None and world.is_main:  # rank 0 writes it; an empty --out is refused, not ignored
        runs.check_out(args.out)
    preset = args.preset or "lm5"
    translation = _architecture(args, preset) == "encoder-decoder"  # no corpus: its own language
    corpus = None if translation else get_corpus(args.corpus)
    with in_words(ValueError):
        run, label = _run(args, corpus, preset, translation)
    start_step = run.step
    if not args.quiet:
        _announce(run, label, corpus, world)
    done = runs.train_to_end(run, args, "training")
    if done is None:
        return 1
    snap, seconds = done
    if not args.quiet:
        if snap.state == "stopped":
            print(f"stopped at step {snap.step}", file=sys.stderr)
        if snap.extra.get("sample"):
            print("sample:\n" + snap.extra["sample"], file=sys.stderr)
    path = _save(args, run, corpus) if args.out is not None and world.is_main else None
    if args.out is None and world.is_main and not args.quiet:
        print(NOT_SAVED, file=sys.stderr)
    if args.json and world.is_main:
        result = {"preset": label, **_figures(run, snap, seconds, snap.step - start_step, world),
                  "checkpoint": str(path) if path else None, "saved": bool(path)}
        if translation:  # measured on the held-out sentences at the last evaluation
            other = (snap.history[-1].other if snap.history else None) or {}
            result.update(heldout_exact_match=other.get("exact_match", math.nan), bleu=other.get("bleu", math.nan))
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
    return 0


NOT_SAVED = ("nothing was saved: without --out the trained model is gone when the command ends "
             "(--out FILE.safetensors keeps it, for generate, serve or --resume)")


def _check_flags(args) -> None:
    if args.resume:
        ignored = [runs.flag(f.name) for f in fields(EncoderDecoderConfig) if getattr(args, f.name, None) is not None]
        ignored += ["--preset"] if args.preset is not None else []
        if ignored:
            raise LearnerError(f"{', '.join(ignored)} cannot change the model of a checkpoint: with --resume it is "
                               "the checkpoint's own model that trains on. Leave them out (or train a new model "
                               "without --resume).")
    if args.max_iters is not None and args.max_iters < 1:
        raise LearnerError(f"--iters must be at least 1 (it is {args.max_iters})"
                           + (": it counts the steps to train after the checkpoint's." if args.resume else "."))


def _architecture(args, preset: str) -> str:
    if args.resume:
        try:
            return checkpoint.load(args.resume).architecture
        except checkpoint.CheckpointError:
            return "decoder-only"  # reported later, where the file is loaded for good
    return PRESETS[preset].architecture


def _run(args, corpus, preset: str, translation: bool):
    """(the run, its label): a resumed checkpoint, or a new one of the preset with the flags given. The
    encoder-decoder trains on the generated French→English language, the others on the corpus."""
    if args.resume:
        ck = checkpoint.load(args.resume)
        tcfg = TrainConfig.from_dict({**ck.train_config.to_dict(), **runs.overrides(args, TrainConfig),
                                      "max_iters": ck.step + (args.max_iters or ck.train_config.max_iters)})
        run = seq2seq.resume_run(ck, tcfg) if translation else TrainingRun.resume(ck, tcfg, corpus.text)
        return run, f"resumed {args.resume}"
    tcfg = replace(PRESETS[preset].train, **runs.overrides(args, TrainConfig))
    if translation:
        model_cfg = replace(PRESETS[preset].model, **runs.overrides(args, EncoderDecoderConfig))
        return seq2seq.new_run(model_cfg, tcfg, preset=preset), preset
    model_cfg = replace(preset_config(preset, 1), **runs.overrides(args, ModelConfig))  # vocab: the corpus's
    return TrainingRun.new(model_cfg, tcfg, corpus.text, preset=preset), preset


def _announce(run, label: str, corpus, world) -> None:
    what = corpus.describe() if corpus else "the generated French→English language (llmviz.tasks.translation)"
    why = "as --threads asked" if run.train_cfg.threads else threads_reason(run.n_params, run.threads)
    threads = f" ({plural(run.threads, 'thread')}: {why})" if run.device == "cpu" else ""
    print(f"{what}\n{label}: {run.n_params:,} parameters on {run.device}{threads}; predicted time: "
          f"{say(run.predict().seconds)} (Ctrl-C stops it and keeps the model)", file=sys.stderr)
    if world.distributed:
        print(f"{world.size} processes ({distributed.BACKENDS[world.device]}): each draws batch_size "
              f"{run.train_cfg.batch_size}, so each step learns from {run.effective_batch_size} sequences",
              file=sys.stderr)


def _save(args, run, corpus):
    try:
        path = checkpoint.save_run(args.out, run, extra={"corpus": corpus.name} if corpus else seq2seq.language_of(run))
    except OSError as e:  # checked before training; the disk may still fill up meanwhile
        raise Unfinished(f"the checkpoint could not be written to {args.out}: {e.strerror or e}") from e
    if not args.quiet:
        print(f"saved {path}", file=sys.stderr)
    return path


def _figures(run, snap, seconds: float, steps: int, world) -> dict:
    """The JSON line's figures (NaN where there is none yet)."""
    last = snap.history[-1] if snap.history else None
    nan = math.nan
    tokens_per_s = mean_tokens_per_s(snap.history)  # mean over the evaluations
    mfu = run.mfu(tokens_per_s)  # on a GPU whose peak is known
    return {
        "params": run.n_params, "iterations": snap.step,
        "train_loss": last.train_loss if last else nan, "val_loss": last.val_loss if last else nan,
        "best_val_loss": run.best_val_loss, "seconds": round(seconds, 3),
        "ms_per_iter": round(1000 * seconds / steps, 3) if steps else nan,
        "device": run.device, "threads": run.threads, "state": snap.state,
        "precision": "float32" if run.autocast is None else str(run.autocast).removeprefix("torch."),
        "tokens_per_s": round(tokens_per_s), "mfu": None if mfu is None else round(mfu, 4),
        "reached_target": run.reached_target,
        "world_size": world.size, "effective_batch_size": run.effective_batch_size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
