"""The command line: train the tutorial's models and generate text without the app.

    python -m llmviz presets
    python -m llmviz train --preset lm5 --corpus shakespeare --iters 2000 --out lm5.safetensors --json
    python -m llmviz train --resume lm5.safetensors --iters 1000 --out lm5-more.safetensors
    torchrun --standalone --nproc_per_node=2 -m llmviz train --preset fast-cpu --out fast.safetensors --json
    python -m llmviz generate --checkpoint lm5.safetensors --prompt "ROMEO:" --max-new-tokens 300 --top-k 10
    python -m llmviz serve --checkpoint lm5.safetensors --port 8000 --api-key KEY   # an OpenAI-compatible API
    python -m llmviz index --corpus shakespeare --embedder lsa --json      (see llmviz.cli.vectors)
    python -m llmviz search --query "the ghost of my father" --k 5 --check --json

Every ModelConfig and TrainConfig field is a flag (--n-embd, --learning-rate, --lr-decay/--no-lr-decay,
...); a flag left out keeps the preset's value.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import math
import os
import re
import resource
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from llmviz.errors import LearnerError
from llmviz.nn.model import ModelConfig
from llmviz.training.presets import PRESETS
from llmviz.training.config import TrainConfig
from llmviz.nn.encoder_decoder import EncoderDecoderConfig

# flags with a shorter spelling
ALIASES = {"max_iters": ["--iters"], "learning_rate": ["--lr"]}


def _field_comments(cls) -> dict[str, str]:
    """The one-line comment of each dataclass field, reused as the flag's help."""
    out = {}
    for line in inspect.getsource(cls).splitlines():
        m = re.match(r"\s+(\w+): .*?#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2).replace("%", "%%")
    return out


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    group = parser.add_argument_group(f"{cls.__name__} fields (default: the preset's)")
    helps = _field_comments(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        names = ["--" + f.name.replace("_", "-")] + ALIASES.get(f.name, [])
        if f.type in ("bool", bool):
            group.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                               help=helps.get(f.name))
        else:
            kind = {"int": int, "float": float, "str": str, "int | None": int}.get(str(f.type), str)
            group.add_argument(*names, dest=f.name, type=kind, default=None, metavar=f.name.upper(),
                               help=helps.get(f.name))


def _overrides(args, cls) -> dict:
    return {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m llmviz", description="Train and sample the tutorial's language models.")
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("presets", help="list the models of the tutorial")

    tr = sub.add_parser("train", help="train a model and save a checkpoint")
    tr.add_argument("--preset", default=None, choices=list(PRESETS), help="the tutorial model to train (default: lm5)")
    tr.add_argument("--corpus", default="shakespeare",
                    help="shakespeare, python-docs, tiny-shakespeare, or the path of a UTF-8 text file")
    tr.add_argument("--out", help="where to save the checkpoint (.safetensors)")
    tr.add_argument("--resume", metavar="CHECKPOINT",
                    help="go on training a checkpoint (weights, optimizer, history); --iters then counts extra steps")
    tr.add_argument("--json", action="store_true", help="print one final JSON line with the results")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataclass_flags(tr, ModelConfig, skip=("vocab_size",))
    _add_dataclass_flags(tr, EncoderDecoderConfig,  # the translation preset's source side
                         skip={f.name for f in fields(ModelConfig)} | {"src_vocab_size"})
    _add_dataclass_flags(tr, TrainConfig)

    ge = sub.add_parser("generate", help="stream text from a checkpoint")
    ge.add_argument("--checkpoint", required=True)
    ge.add_argument("--prompt", default="\n")
    ge.add_argument("--max-new-tokens", type=int, default=500)
    ge.add_argument("--temperature", type=float, default=1.0)
    ge.add_argument("--top-k", type=int, default=None)
    ge.add_argument("--top-p", type=float, default=None)
    ge.add_argument("--seed", type=int, default=None)
    _finetune_parser(sub)
    _instruct_parsers(sub)

    se = sub.add_parser("serve", help="serve a checkpoint behind an OpenAI-compatible API")
    se.add_argument("--checkpoint", required=True)
    se.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: only this machine can connect)")
    se.add_argument("--port", type=int, default=8000)
    se.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on every request")
    se.add_argument("--name", default=None, help="the model's name in the API (default: the file's name)")
    se.add_argument("--max-batch", type=int, default=64, help="requests decoded together at most")
    se.add_argument("--max-tokens", type=int, default=2048, help="the most tokens one request may ask for")
    se.add_argument("--threads", type=int, default=None, help="CPU threads (default: chosen from the model size)")

    from llmviz.cli import vectors as cli_vectors

    cli_vectors.add_parsers(sub)  # index, search: the vector database
    return ap


def _instruct_parsers(sub) -> None:
    it = sub.add_parser("instruct", help="instruction-tune a checkpoint on the generated chat tasks")
    it.add_argument("--base", required=True,
                    help="a checkpoint, or 'pretrained' for the app's pre-trained Shakespeare base (made once, cached)")
    it.add_argument("--per-task", type=int, default=50, help="held-out questions per task for the final accuracy")
    it.add_argument("--out", help="where to save the instruct model (.safetensors)")
    it.add_argument("--json", action="store_true", help="print one final JSON line with the results")
    it.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataclass_flags(it, TrainConfig)
    ch = sub.add_parser("chat", help="chat with an instruct checkpoint in the terminal")
    ch.add_argument("--checkpoint", required=True)
    ch.add_argument("--system", default="", help="a system message to start the conversation")
    ch.add_argument("--no-tool", action="store_true", help="do not run the calculator for the model")


def _base_checkpoint(name: str, quiet: bool):
    """A checkpoint from a file, or the app's pre-trained base (pre-trained once and cached)."""
    from llmviz.io import checkpoint
    from llmviz.tasks import finetune

    if name != "pretrained":
        return checkpoint.load(name)
    if finetune.cached_base() is None and not quiet:
        print("pre-training the base once (it is cached for next time)…", file=sys.stderr)
    base = finetune.pretrained_base(on_step=None if quiet else _progress)
    if not quiet:
        print(file=sys.stderr)
    return base


def cmd_instruct(args) -> int:
    from llmviz.io import checkpoint
    from llmviz.text import corpora
    from llmviz.tasks import instruct

    problem = _out_problem(args.out) if args.out else None
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        base = _base_checkpoint(args.base, args.quiet)
        cfg = replace(instruct.default_config(), **_overrides(args, TrainConfig))
        run, held = instruct.start(base, cfg, style_text=corpora.shakespeare().text)
    except (LearnerError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    done = _train_to_end(run, args, "instruction tuning")
    if done is None:
        return 1
    _, seconds = done
    tuned = instruct.accuracy(run.model, run.tokenizer, held, args.per_task)
    result = {"iterations": run.step, "seconds": round(seconds, 1),
              "base_accuracy": instruct.accuracy(base.model, base.tokenizer, held, args.per_task),
              "tuned_accuracy": tuned,
              "tool_alone_accuracy": instruct.accuracy(run.model, run.tokenizer, held, args.per_task, use_tool=False)["tool"],
              "tool_executed_accuracy": tuned["tool"], "checkpoint": None}
    if args.out:
        result["checkpoint"] = str(checkpoint.save_run(args.out, run, extra={"instruct": True, "base": args.base}))
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


def cmd_chat(args) -> int:
    from llmviz.tasks import chat, instruct
    from llmviz.io import checkpoint
    from llmviz.tasks.chat import Message

    try:
        ck = checkpoint.load(args.checkpoint)
    except LearnerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not chat.has_chat_template(ck.tokenizer):
        print("error: this checkpoint has no chat tokens: instruction-tune it first (python -m llmviz instruct)",
              file=sys.stderr)
        return 2
    block = ck.model_config.block_size
    turns = [Message("system", args.system)] if args.system else []
    print(f"chatting with {args.checkpoint} (context: {block} tokens); an empty line or Ctrl-D ends", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            break
        try:
            turns.append(Message("user", line))
            ids, _ = chat.encode(ck.tokenizer, turns, generation_prompt=True)
            forgotten, kept = chat.fit_context(ids, block)
            print(f"[prompt: {len(ids)} tokens" + (f"; out of the context, forgotten: {chat.render(ck.tokenizer, forgotten)!r}"
                                                   if forgotten else "") + "]", file=sys.stderr)
            reply, steps = instruct.answer(ck.model, ck.tokenizer, turns, use_tool=not args.no_tool)
        except LearnerError as e:
            print(f"error: {e}", file=sys.stderr)
            turns.pop()
            continue
        for m in steps[:-1]:
            print(f"  [{m.role}: {m.content}]", file=sys.stderr)
        print(f"model> {reply}")
        turns += steps
    return 0


def _finetune_parser(sub) -> None:
    from llmviz.tasks.finetune import METHODS

    ft = sub.add_parser("finetune", help="fine-tune a checkpoint on a domain text: full, frozen body or LoRA")
    ft.add_argument("--base", required=True,
                    help="a checkpoint, or 'pretrained' for the app's pre-trained Shakespeare base (made once, cached)")
    ft.add_argument("--corpus", default="python-docs", help="the domain text (a corpus name or a file)")
    ft.add_argument("--original-corpus", help="the text the base learned, to measure forgetting "
                                              "(default: the corpus its checkpoint names)")
    ft.add_argument("--method", choices=list(METHODS), default="lora")
    ft.add_argument("--rank", type=int, default=4, help="LoRA's rank r")
    ft.add_argument("--alpha", type=float, default=8.0, help="LoRA's alpha: ΔW = B·A · alpha / r")
    ft.add_argument("--targets", nargs="+", default=["query", "value"],
                    help="the matrices LoRA adapts: query key value attn_out ffwd")
    ft.add_argument("--drop-unknown", action="store_true",
                    help="drop the characters of the domain text the base's tokenizer cannot spell")
    ft.add_argument("--out", help="where to save: the adapters alone for LoRA, the whole model otherwise")
    ft.add_argument("--json", action="store_true", help="print one final JSON line with the results")
    ft.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataclass_flags(ft, TrainConfig)


def _train_to_end(run, args, what: str):
    """Train a run to its end with a progress bar (unless --quiet): (final snapshot, seconds), or None after
    saying why it failed. No live view of the inside here, so the run takes no probes."""
    run.inside_every = 0
    t0 = time.perf_counter()
    try:
        snap = run.train(on_step=None if args.quiet else _progress)
    except LearnerError as e:
        if not args.quiet:
            print(file=sys.stderr)
        rank = run.world.rank
        print(f"{f'rank {rank}: ' if rank else ''}{what} failed: {e}", file=sys.stderr)  # a rank may fail alone
        return None
    seconds = time.perf_counter() - t0
    if not args.quiet:
        _progress(snap)
        print(file=sys.stderr)
    return snap, seconds


def _progress(snap, stream=sys.stderr) -> None:
    width = 24
    filled = int(width * snap.fraction)
    last = snap.history[-1] if snap.history else None
    loss = snap.extra.get("batch_loss")
    parts = [f"[{'#' * filled}{'-' * (width - filled)}] {snap.step}/{snap.total}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if last is not None:
        parts.append(f"val {last.val_loss:.3f} @ {last.step}")
    if snap.eta is not None:
        from llmviz.training.pace import describe

        parts.append(f"ETA {describe(snap.eta)}")
    stream.write("\r" + "  ".join(parts) + "   ")
    stream.flush()


def cmd_presets() -> int:
    from llmviz.nn.model import LanguageModel
    from llmviz.training.presets import preset_config

    for name, p in PRESETS.items():
        if p.architecture == "encoder-decoder":
            from llmviz.tasks import seq2seq

            tok = seq2seq.corpus().tokenizer
            n = seq2seq.EncoderDecoder(replace(p.model, vocab_size=tok.target.vocab_size,
                                               src_vocab_size=tok.source.vocab_size)).num_params()
            print(f"{name:<11} {n:>12,} params (French→English words)  {p.title}")
            continue
        n = LanguageModel(preset_config(name, 65)).num_params()
        print(f"{name:<11} {n:>12,} params (65 characters)  {p.title}")
    return 0


def _translation_run(args, checkpoint, preset: str):
    """The encoder-decoder's run: a fresh one on the generated French→English language, or a resumed one."""
    from llmviz.tasks import seq2seq

    if args.resume:
        ck = checkpoint.load(args.resume)
        tcfg = TrainConfig.from_dict({**ck.train_config.to_dict(), **_overrides(args, TrainConfig),
                                      "max_iters": ck.step + (args.max_iters or ck.train_config.max_iters)})
        return seq2seq.resume_run(ck, tcfg), f"resumed {args.resume}"
    model_cfg = replace(PRESETS[preset].model, **_overrides(args, EncoderDecoderConfig))
    tcfg = replace(PRESETS[preset].train, **_overrides(args, TrainConfig))
    return seq2seq.new_run(model_cfg, tcfg, preset=preset), preset


def _architecture(args, checkpoint, preset: str) -> str:
    if args.resume:
        try:
            return checkpoint.load(args.resume).architecture
        except checkpoint.CheckpointError:
            return "decoder-only"  # reported below, where the file is loaded for good
    return PRESETS[preset].architecture


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _out_problem(out: str, add_suffix: bool = True) -> str | None:
    """Why a checkpoint cannot be written at `out` (checked before training, so no training is lost)."""
    from pathlib import Path

    path = Path(out)
    if path.is_dir() or out.endswith(("/", "\\")):
        return f"--out {out} is a folder: give a file name, e.g. {path / 'model.safetensors'}"
    if add_suffix and path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    if path.is_dir():
        return f"--out {out} is a folder: give a file name, e.g. {path / 'model.safetensors'}"
    probe = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "ab"):
            pass
        probe.unlink()
    except OSError as e:
        return f"cannot write the checkpoint to {path}: {e.strerror or e}. Choose another --out."
    return None


def cmd_train(args) -> int:
    """Train in this process, or, started by torchrun, as one of several (llmviz.training.distributed): then
    every process trains and only rank 0 prints progress and the JSON line and writes the checkpoint."""
    from llmviz.training import distributed

    if not distributed.launched():
        return _train(args, distributed.SINGLE)
    try:
        world = distributed.setup(args.device)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.device = world.device  # every rank trains on the device the group was set up for
    if not world.is_main:
        args.quiet = True  # rank 0 speaks for all
    try:
        return _train(args, world)
    finally:
        distributed.shutdown()


def _train(args, world) -> int:
    from llmviz.io import checkpoint
    from llmviz.text.corpora import CorpusError, get_corpus
    from llmviz.training.presets import preset_config
    from llmviz.training.train import TrainingRun

    if args.resume:
        ignored = [_flag(f.name) for f in fields(EncoderDecoderConfig) if getattr(args, f.name, None) is not None]
        ignored += ["--preset"] if args.preset is not None else []
        if ignored:
            print(f"error: {', '.join(ignored)} cannot change the model of a checkpoint: with --resume it is the "
                  "checkpoint's own model that trains on. Leave them out (or train a new model without --resume).",
                  file=sys.stderr)
            return 2
    if args.max_iters is not None and args.max_iters < 1:
        print(f"error: --iters must be at least 1 (it is {args.max_iters})"
              + (": it counts the steps to train after the checkpoint's." if args.resume else "."), file=sys.stderr)
        return 2
    if args.out and world.is_main:  # rank 0 writes it
        problem = _out_problem(args.out)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    preset = args.preset or "lm5"
    translation = _architecture(args, checkpoint, preset) == "encoder-decoder"  # no corpus: its own language
    try:
        corpus = get_corpus(args.corpus) if not translation else None
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if translation:
            run, label = _translation_run(args, checkpoint, preset)
        elif args.resume:
            ck = checkpoint.load(args.resume)
            tcfg = TrainConfig.from_dict({**ck.train_config.to_dict(), **_overrides(args, TrainConfig),
                                          "max_iters": ck.step + (args.max_iters or ck.train_config.max_iters)})
            run = TrainingRun.resume(ck, tcfg, corpus.text)
            label = f"resumed {args.resume}"
        else:
            model_cfg = replace(preset_config(preset, 1), **_overrides(args, ModelConfig))  # vocab: the corpus's
            tcfg = replace(PRESETS[preset].train, **_overrides(args, TrainConfig))
            run = TrainingRun.new(model_cfg, tcfg, corpus.text, preset=preset)
            label = preset
    except (LearnerError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    start_step = run.step
    if not args.quiet:
        from llmviz.training.pace import describe

        what = corpus.describe() if corpus else "the generated French→English language (llmviz.tasks.translation)"
        print(f"{what}\n{label}: {run.n_params:,} parameters on {run.device}"
              f"{f' ({run.threads} threads)' if run.device == 'cpu' else ''}; predicted time: about "
              f"{describe(run.predict().seconds)} (Ctrl-C stops it and keeps the model)", file=sys.stderr)
        if world.distributed:
            from llmviz.training.distributed import BACKENDS

            print(f"{world.size} processes ({BACKENDS[world.device]}): each draws batch_size "
                  f"{run.train_cfg.batch_size}, so each step learns from {run.effective_batch_size} sequences",
                  file=sys.stderr)
    done = _train_to_end(run, args, "training")
    if done is None:
        return 1
    snap, seconds = done
    if not args.quiet:
        if snap.state == "stopped":
            print(f"stopped at step {snap.step}", file=sys.stderr)
        if snap.extra.get("sample"):
            print("sample:\n" + snap.extra["sample"], file=sys.stderr)
    path = None
    if args.out and world.is_main:
        try:
            from llmviz.tasks.seq2seq import language_of

            path = checkpoint.save_run(args.out, run, extra={"corpus": corpus.name} if corpus else language_of(run))
        except OSError as e:  # checked before training; the disk may still fill up meanwhile
            print(f"error: the checkpoint could not be written to {args.out}: {e.strerror or e}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"saved {path}", file=sys.stderr)
    if args.json and world.is_main:
        last = snap.history[-1] if snap.history else None
        done = snap.step - start_step
        nan = float("nan")
        result = {
            "preset": label, "params": run.n_params, "iterations": snap.step,
            "train_loss": last.train_loss if last else nan, "val_loss": last.val_loss if last else nan,
            "best_val_loss": run.best_val_loss, "seconds": round(seconds, 3),
            "ms_per_iter": round(1000 * seconds / done, 3) if done else nan,
            "device": run.device, "threads": run.threads, "state": snap.state,
            "precision": "float32" if run.autocast is None else str(run.autocast).removeprefix("torch."),
            **_throughput(run, snap), "reached_target": run.reached_target,
            "world_size": world.size, "effective_batch_size": run.effective_batch_size,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "checkpoint": str(path) if path else None,
        }
        if translation:  # measured on the held-out sentences at the last evaluation
            figures = (last.other if last else None) or {}
            result["heldout_exact_match"] = figures.get("exact_match", nan)
            result["bleu"] = figures.get("bleu", nan)
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
    return 0


def _throughput(run, snap) -> dict:
    """Training tokens per second (mean over the evaluations) and, on a GPU whose peak is known, MFU."""
    from llmviz.training.record import mean_tokens_per_s

    tokens_per_s = mean_tokens_per_s(snap.history)
    mfu = run.mfu(tokens_per_s)
    return {"tokens_per_s": round(tokens_per_s), "mfu": None if mfu is None else round(mfu, 4)}


def _one_thread_here() -> None:
    """The main thread computes with one CPU thread; the training thread sets its own count.

    PyTorch's OpenMP keeps a pool of helper threads for each thread that runs parallel maths. Once the
    main thread has used two (building the model, say), the training thread's own two-thread maths ran
    1.4x slower on a 2-core CPU (50 against 36 ms a step at nanoGPT's recipe): the main thread's pool
    stays in the way. With one thread here there is no such pool."""
    import torch

    torch.set_num_threads(1)


def cmd_generate(args) -> int:
    from llmviz.io import checkpoint
    from llmviz.nn.generate import generate_stream, sampling_problems

    problems = sampling_problems(args.temperature, args.top_k, args.top_p, args.max_new_tokens)
    if args.seed is not None and not 0 <= args.seed < 2**63:
        problems.append(f"the seed must be between 0 and 2**63 - 1 (it is {args.seed}).")
    if problems:
        print("error: " + " ".join(problems), file=sys.stderr)
        return 2
    try:
        ck = checkpoint.load(args.checkpoint)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        ids = ck.tokenizer.encode(args.prompt)
    except ValueError as e:
        print(f"error: the prompt cannot be encoded: {e}", file=sys.stderr)
        return 2
    if not ids:
        ids = [0]
    out = sys.stdout
    out.write(args.prompt)
    new: list[int] = []
    shown = ""
    for tok in generate_stream(ck.model, ids, args.max_new_tokens, temperature=args.temperature,
                               top_k=args.top_k, top_p=args.top_p, seed=args.seed):
        new.append(tok)
        text = ck.tokenizer.decode(new)  # decode the whole tail: a token may complete a multi-byte character
        out.write(text[len(shown):])
        out.flush()
        shown = text
    out.write("\n")
    return 0


def cmd_finetune(args) -> int:
    from llmviz.io import checkpoint
    from llmviz.tasks import finetune
    from llmviz.text.corpora import get_corpus

    if args.out:
        problem = _out_problem(args.out, add_suffix=False)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    try:
        base = _base_checkpoint(args.base, args.quiet)
        text = get_corpus(args.corpus).text
        if args.drop_unknown:
            text, kept = finetune.drop_unspellable(base.tokenizer, text)
            if not args.quiet:
                print(f"kept {kept:.1%} of the domain text (the characters the base can spell)", file=sys.stderr)
        original = None
        if args.original_corpus:
            original = get_corpus(args.original_corpus).text
        elif base.extra.get("corpus"):
            try:  # the corpus the base's checkpoint names, if it is one this command knows
                original = get_corpus(base.extra["corpus"]).text
            except LearnerError:
                if not args.quiet:
                    print(f"(not measuring forgetting: no text named {base.extra['corpus']!r}; "
                          f"give --original-corpus)", file=sys.stderr)
        how = finetune.FineTuning(args.method, args.rank, args.alpha, tuple(args.targets))
        tcfg = replace(finetune.default_config(base.train_config, args.method), **_overrides(args, TrainConfig))
        run = finetune.start(base, text, tcfg, how, original)
    except (LearnerError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"{finetune.METHODS[args.method]}: {run.n_trainable:,} of {run.n_params:,} parameters train "
              f"({100 * run.n_trainable / run.n_params:.2f} %)", file=sys.stderr)
    done = _train_to_end(run, args, "fine-tuning")
    if done is None:
        return 1
    snap, seconds = done
    path, size = None, None
    if args.out:
        extra = {"corpus": args.corpus, "base": args.base, "method": args.method}
        data = (checkpoint.adapter_to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, extra=extra)
                if args.method == "lora" else checkpoint.run_to_bytes(run, extra=extra))
        path = Path(args.out)
        path.write_bytes(data)
        size = len(data)
    last = snap.history[-1]
    result = {"method": args.method, "trainable": run.n_trainable, "params": run.n_params,
              "trainable_pct": round(100 * run.n_trainable / run.n_params, 3), "iterations": snap.step,
              "val_loss_new": last.val_loss, "val_loss_original": (last.other or {}).get("original"),
              "ms_per_iter": round(1000 * seconds / max(1, snap.step), 3), "bytes": size,
              "file": str(path) if path else None}
    if args.json:
        print(json.dumps(result))
    elif not args.quiet:
        print(json.dumps(result, indent=1), file=sys.stderr)
    return 0


def cmd_serve(args) -> int:
    from pathlib import Path

    import torch

    from llmviz.io import checkpoint
    from llmviz.device import pick_device, threads_for
    from llmviz.serving.server import is_loopback, serve_forever

    try:
        ck = checkpoint.load(args.checkpoint)
    except checkpoint.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = pick_device("auto")
    model = ck.model.to(device)
    if device == "cpu":
        torch.set_num_threads(args.threads or threads_for(model.num_params()))
    name = args.name or Path(args.checkpoint).name.removesuffix(".safetensors")
    base = f"http://{args.host}:{args.port}/v1"
    print(f"serving '{name}' ({model.num_params():,} parameters, {device}) at {base}", file=sys.stderr)
    print(f"  try: curl {base}/completions -H 'Content-Type: application/json'"
          + (" -H 'Authorization: Bearer $KEY'" if args.api_key else "")
          + f" -d '{{\"model\": \"{name}\", \"prompt\": \"ROMEO:\", \"max_tokens\": 50}}'", file=sys.stderr)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: other machines can reach this server"
              + ("" if args.api_key else " and it has no --api-key"), file=sys.stderr)
    serve_forever(model, ck.tokenizer, name, args.host, args.port, args.api_key, max_batch=args.max_batch,
                  max_tokens=args.max_tokens)
    return 0


def parse(argv=None) -> argparse.Namespace:
    """The command line's arguments. Under torchrun every rank parses them: rank 0 alone explains a bad one."""
    from llmviz.training import distributed

    if distributed.launched() and os.environ.get("RANK") != "0":
        with contextlib.redirect_stderr(io.StringIO()):
            return build_parser().parse_args(argv)
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    if args.command in ("train", "finetune", "instruct"):
        _one_thread_here()
    if args.command == "presets":
        return cmd_presets()
    if args.command == "instruct":
        return cmd_instruct(args)
    if args.command == "chat":
        return cmd_chat(args)
    if args.command == "finetune":
        return cmd_finetune(args)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command in ("index", "search"):
        from llmviz.cli import vectors as cli_vectors

        return cli_vectors.run(args)
    return cmd_generate(args)
