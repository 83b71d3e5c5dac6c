"""What dynamic batching buys: the OpenAI-compatible server under 1, 4, 16 and 64 concurrent clients.

A model (LM5 at the tutorial's size, trained briefly on the built-in Shakespeare, or --checkpoint) is
served by `python -m llmviz serve` in its own process on 127.0.0.1; each client sends completion
requests one after the other (a fixed count per level, and a time limit per level). Per level:
generated tokens/s, p50/p99 latency, errors, and the server's resident memory before and after.

    python bench/bench_serve.py [--checkpoint FILE] [--max-tokens 32] [--requests 256] [--seconds 90]

Only 127.0.0.1 is ever contacted. Targets: 0 errors in at least 1,000 requests; 16 clients get at
least 4x the single-client tokens/s; memory does not grow over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

LEVELS = (1, 4, 16, 64)
PROMPTS = ["ROMEO:", "JULIET:", "First Citizen:\n", "KING RICHARD III:\nNow is the"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_checkpoint(path: Path, steps: int) -> None:
    from llmviz.io import checkpoint
    from llmviz.text import corpora
    from llmviz.training.train import TrainingRun

    text = corpora.shakespeare(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS).text
    run = TrainingRun.from_preset("lm5", text, max_iters=steps, eval_interval=steps, eval_iters=5, sample_tokens=0)
    run.train()
    checkpoint.save_run(path, run)


class Connection:
    """A bare keep-alive HTTP/1.1 client: a load generator must cost the shared CPU as little as possible
    (httpx spends several times the server's own time per request at 64 connections)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def level(port: int, model: str, clients: int, per_client: int, max_tokens: int, seconds: float) -> dict:
    latencies, tokens, errors = [], 0, 0
    deadline = time.perf_counter() + seconds

    async def client(k: int):
        nonlocal tokens, errors
        conn = Connection(port)
        try:
            for i in range(per_client):
                if time.perf_counter() > deadline:
                    return
                body = {"model": model, "prompt": PROMPTS[(k + i) % len(PROMPTS)], "max_tokens": max_tokens,
                        "temperature": 0.8, "seed": k * 1000 + i}
                t0 = time.perf_counter()
                try:
                    status, out = await conn.post("/v1/completions", body)
                    if status != 200:
                        raise ValueError(out)
                    tokens += out["usage"]["completion_tokens"]
                    latencies.append(time.perf_counter() - t0)
                except (OSError, ValueError, KeyError, IndexError, asyncio.IncompleteReadError):
                    errors += 1
                    conn.close()
                    conn = Connection(port)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: float("nan"))
    return {"clients": clients, "requests": len(lat) + errors, "errors": errors, "tokens": tokens, "seconds": wall,
            "tokens_per_s": tokens / wall, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help="serve this checkpoint (default: LM5 trained --train-steps steps)")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--max-tokens", type=int, default=32, help="tokens per request")
    ap.add_argument("--requests", type=int, default=256, help="requests per level (split over its clients)")
    ap.add_argument("--seconds", type=float, default=90, help="time limit per level")
    ap.add_argument("--rounds", type=int, default=2,
                    help="run the levels this many times: memory that keeps growing from round to round is a leak")
    args = ap.parse_args()

    from tests.browser import free_port

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.checkpoint) if args.checkpoint else Path(tmp) / "lm5.safetensors"
        if not args.checkpoint:
            print(f"training LM5 for {args.train_steps} steps...", file=sys.stderr)
            make_checkpoint(path, args.train_steps)
        port = free_port()
        log = open(Path(tmp) / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "llmviz", "serve", "--checkpoint", str(path), "--port",
                                 str(port), "--name", "bench"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(base + "/models", timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        print(Path(log.name).read_text(), file=sys.stderr)
                        return 1
                    time.sleep(0.2)
            asyncio.run(level(port, "bench", 4, 4, args.max_tokens, 30))  # warm up
            rss_start = rss_mb(proc.pid)
            rss_rounds, all_rows = [], []
            for k in range(args.rounds):
                rows = []
                for clients in LEVELS:
                    before = rss_mb(proc.pid)
                    row = asyncio.run(level(port, "bench", clients, max(1, args.requests // clients), args.max_tokens,
                                            args.seconds))
                    row.update(rss_before=before, rss_after=rss_mb(proc.pid))
                    rows.append(row)
                    print(f"round {k + 1}, {clients:>3} clients: {row['tokens_per_s']:8.0f} tokens/s  "
                          f"p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  {row['requests']} requests, "
                          f"{row['errors']} errors  RSS {before:.0f} -> {row['rss_after']:.0f} MB", file=sys.stderr)
                rss_rounds.append(rss_mb(proc.pid))
                all_rows += rows
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()

    single = rows[0]["tokens_per_s"]
    print(f"\n{args.max_tokens} tokens per request, {args.requests} requests per level, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| clients | requests | errors | tokens/s | vs 1 client | p50 latency | p99 latency | server RSS before → after |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['tokens_per_s']:,.0f} | "
              f"{r['tokens_per_s'] / single:.1f}× | {r['p50_ms']:,.0f} ms | {r['p99_ms']:,.0f} ms | "
              f"{r['rss_before']:.0f} → {r['rss_after']:.0f} MB |")
    total = sum(r["requests"] for r in all_rows)
    errors = sum(r["errors"] for r in all_rows)
    ratio = rows[2]["tokens_per_s"] / single
    print(f"\nThe table is the last of {args.rounds} rounds. {total} requests in all, {errors} errors; 16 clients / "
          f"1 client = {ratio:.1f}× tokens/s; server RSS {rss_start:.0f} MB after warm-up, "
          + ", ".join(f"{r:.0f} MB after round {k + 1}" for k, r in enumerate(rss_rounds)))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
