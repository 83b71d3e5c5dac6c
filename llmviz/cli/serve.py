"""`python -m llmviz serve`: a checkpoint behind an OpenAI-compatible API.

    python -m llmviz serve --checkpoint lm5.safetensors --port 8000 --api-key KEY
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from llmviz.device import pick_device, threads_for
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


def cmd_serve(args) -> int:
    # imported here: the server brings in FastAPI, which every other command would wait for at start-up
    from llmviz.serving.server import is_loopback, serve_forever

    ck = checkpoint.load(args.checkpoint)
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
