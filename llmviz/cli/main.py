"""The command line: train the tutorial's models and generate text without the app.

    python -m llmviz presets
    python -m llmviz train --preset lm5 --corpus shakespeare --iters 2000 --out lm5.safetensors --json
    python -m llmviz train --resume lm5.safetensors --iters 1000 --out lm5-more.safetensors
    torchrun --standalone --nproc_per_node=2 -m llmviz train --preset fast-cpu --out fast.safetensors --json
    python -m llmviz prefer --checkpoint chat.safetensors --iters 300 --json   # DPO (see llmviz.cli.preference)
    python -m llmviz generate --checkpoint lm5.safetensors --prompt "ROMEO:" --max-new-tokens 300 --top-k 10
    python -m llmviz serve --checkpoint lm5.safetensors --port 8000 --api-key KEY   # an OpenAI-compatible API
    python -m llmviz index --corpus shakespeare --embedder lsa --json      (see llmviz.cli.vectors)
    python -m llmviz search --query "the ghost of my father" --k 5 --check --json
    python -m llmviz search-eval --db DIR --json      recall@k and MRR per method (see llmviz.cli.retrieval_eval)
    python -m llmviz rag-eval --checkpoint chat.safetensors --db DIR --json

Every ModelConfig and TrainConfig field is a flag (--n-embd, --learning-rate, --lr-decay/--no-lr-decay,
...); a flag left out keeps the preset's value. Each command is a function of its parsed arguments
(`set_defaults(func=...)`); one that cannot do what it is asked raises a LearnerError, said here in words.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os

from llmviz.cli import failure, generation, preference, retrieval_eval, serve, training, tuning, vectors
from llmviz.errors import LearnerError
from llmviz.training import distributed

# each adds one command, in the order `--help` lists them
COMMANDS = (training.add_presets, training.add_train, generation.add_generate, tuning.add_finetune,
            tuning.add_instruct, preference.add_prefer, generation.add_chat, serve.add_serve, vectors.add_index, vectors.add_search,
            retrieval_eval.add_search_eval, retrieval_eval.add_rag_eval)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m llmviz", description="Train and sample the tutorial's language models.",
                                 epilog="python -m llmviz COMMAND --help lists that command's settings.")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return ap


def parse(argv=None) -> argparse.Namespace:
    """The command line's arguments. Under torchrun every rank parses them: rank 0 alone explains a bad one."""
    if distributed.launched() and os.environ.get("RANK") != "0":
        with contextlib.redirect_stderr(io.StringIO()):
            return build_parser().parse_args(argv)
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    try:
        return args.func(args)
    except LearnerError as e:
        failure.complain(e)
        return failure.exit_status(e)
    except KeyboardInterrupt:  # a command that can say more about what Ctrl-C left says it itself
        failure.complain(f"stopped (Ctrl-C) before `{args.command}` was done: nothing was written.")
        return failure.INTERRUPTED
    except BrokenPipeError:  # the reader stopped reading (`| head`): not a failure of the command
        failure.quiet_stdout()
        return 0
