"""`python -m llmviz serve`: a checkpoint behind an OpenAI-compatible API.

    python -m llmviz serve --checkpoint lm5.safetensors --port 8000 --api-key KEY
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from llmviz.device import pick_device, threads_for
from llmviz.errors import LearnerError
from llmviz.io import checkpoint


def add_serve(sub) -> None:
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
    se.set_defaults(func=cmd_serve)


def check_serve_args(args) -> None:
    """Refuse, before loading anything, settings with which the server would start and then fail everyone."""
    if args.max_batch < 1:
        raise LearnerError(f"--max-batch must be at least 1 (got {args.max_batch}): with no room in a batch, "
                           "every request would wait for ever.")
    if args.max_tokens < 1:
        raise LearnerError(f"--max-tokens must be at least 1 (got {args.max_tokens}).")
    if not 0 <= args.port <= 65535:
        raise LearnerError(f"--port must be between 0 and 65535 (got {args.port}).")
    if args.api_key is not None and not args.api_key.strip():
        raise LearnerError("--api-key is empty: no client could send it, so every request would be refused. "
                           "Give a key, or leave --api-key out to serve without one.")
    if args.threads is not None and args.threads < 1:
        raise LearnerError(f"--threads must be at least 1 (got {args.threads}).")


def cmd_serve(args) -> int:
    # imported here: the server brings in FastAPI, which every other command would wait for at start-up
    from llmviz.serving.server import is_loopback, serve_forever

    check_serve_args(args)
    ck = checkpoint.load(args.checkpoint)
    device = pick_device("auto")
    model = ck.model.to(device)
    if device == "cpu":
        torch.set_num_threads(args.threads or threads_for(model.num_params()))
    name = args.name or Path(args.checkpoint).name.removesuffix(".safetensors")
    base = f"http://{args.host}:{args.port}/v1"

    def announce() -> None:
        print(f"serving '{name}' ({model.num_params():,} parameters, {device}) at {base}", file=sys.stderr)
        print(f"  try: curl {base}/completions -H 'Content-Type: application/json'"
              + (" -H 'Authorization: Bearer $KEY'" if args.api_key else "")
              + f" -d '{{\"model\": \"{name}\", \"prompt\": \"ROMEO:\", \"max_tokens\": 50}}'", file=sys.stderr)
        if not is_loopback(args.host):
            print(f"warning: listening on {args.host}: other machines can reach this server"
                  + ("" if args.api_key else " and it has no --api-key"), file=sys.stderr)

    serve_forever(model, ck.tokenizer, name, args.host, args.port, args.api_key, announce=announce,
                  max_batch=args.max_batch, max_tokens=args.max_tokens)
    return 0
