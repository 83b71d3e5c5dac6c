"""One process with N threads vs N processes (torchrun, DistributedDataParallel) with 1 thread each,
at the same effective batch: time per training step (and one process with one thread, for scale).

    python bench/bench_ddp.py                       # fast-cpu, 200 steps, 2 processes, 3 interleaved rounds
    python bench/bench_ddp.py --preset lm5 --iters 300 --procs 2 --rounds 2

The step time is read from the run's last history row (tokens per second since the previous row, so
the start-up, the two loss estimates and torchrun's launch are left out): sequences per step × context
/ tokens per second. The runs alternate, so a busy machine slows both alike; a busy machine hurts two threads in one
process far more than one thread each (llmviz.device.threads_for), so look at the best rounds too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.io import checkpoint  # noqa: E402
from llmviz.training.presets import PRESETS  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def _run(cmd: list[str], out: Path) -> tuple[float, dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    result = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    ck = checkpoint.load(out)
    tokens_per_step = result["effective_batch_size"] * ck.model_config.block_size
    return 1000 * tokens_per_step / ck.history[-1].tokens_per_s, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fast-cpu")
    ap.add_argument("--corpus", default=str(DEFAULT_TEXT) if DEFAULT_TEXT.exists() else "shakespeare")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    batch = PRESETS[args.preset].train.batch_size
    if batch % args.procs:
        raise SystemExit(f"the preset's batch ({batch}) does not split into {args.procs} equal parts")
    common = ["train", "--preset", args.preset, "--corpus", args.corpus, "--iters", str(args.iters),
              "--eval-interval", str(10 * args.iters), "--eval-iters", "2", "--sample-tokens", "0",
              "--device", "cpu", "--json", "--quiet"]
    times: dict[str, list[float]] = {"single": [], "ddp": [], "one": []}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.safetensors"
        runs = {
            "single": [sys.executable, "-m", "llmviz", *common, "--threads", str(args.procs), "--out", str(out)],
            "ddp": [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.procs}",
                    "-m", "llmviz", *common, "--threads", "1", "--batch-size", str(batch // args.procs),
                    "--out", str(out)],
            # what llmviz.device.threads_for picks for this model on a busy machine
            "one": [sys.executable, "-m", "llmviz", *common, "--threads", "1", "--out", str(out)],
        }
        for r in range(args.rounds):
            for name, cmd in runs.items():
                ms, res = _run(cmd, out)
                times[name].append(ms)
                print(f"round {r + 1} {name:<6} {ms:7.1f} ms/step  (world {res['world_size']}, "
                      f"effective batch {res['effective_batch_size']}, val {res['val_loss']:.3f})", flush=True)
    print(f"\n{args.preset}, {args.iters} steps, effective batch {batch}, load average {os.getloadavg()[0]:.1f} "
          f"(best: the least disturbed round; median: what a busy machine gives)")
    for name, label in (("single", f"1 process × {args.procs} threads"), ("ddp", f"{args.procs} processes × 1 thread"),
                        ("one", "1 process × 1 thread")):
        print(f"  {label:<22} best {min(times[name]):6.1f} ms/step   median {statistics.median(times[name]):6.1f}")
    print(f"  processes / threads, best rounds: {min(times['ddp']) / min(times['single']):.2f}x the time per step")


if __name__ == "__main__":
    main()
