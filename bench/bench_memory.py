"""Peak memory (RSS) of the command line training LM5 (target: under 600 MB).

    python bench/bench_memory.py                 # lm5 on Tiny Shakespeare, 500 iterations
    python bench/bench_memory.py --preset lm4 --iters 2000 --corpus shakespeare

Runs `python -m llmviz train ... --json` in a child process and reports its peak resident set size,
next to what importing torch alone costs in the same way.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def peak_mb(cmd: list[str]) -> tuple[float, str]:
    """Run cmd in a fresh child (a fresh process, so the peak is its own) and return its peak RSS in MB."""
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=ROOT, check=True)
    lines = out.stdout.strip().splitlines()
    return int(lines[-1]) / 1024, "\n".join(lines[:-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="lm5")
    ap.add_argument("--corpus", default=str(DEFAULT_TEXT) if DEFAULT_TEXT.is_file() else "shakespeare")
    ap.add_argument("--iters", type=int, default=500)
    args = ap.parse_args(argv)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >= 0
    torch_only, _ = peak_mb([sys.executable, "-c", "import torch"])
    train, out = peak_mb([sys.executable, "-m", "llmviz", "train", "--preset", args.preset, "--corpus", args.corpus,
                          "--iters", str(args.iters), "--json", "--quiet"])
    res = json.loads(out.strip().splitlines()[-1])
    print("| process | peak RSS |")
    print("|---|---|")
    print(f"| python -c 'import torch' | {torch_only:.0f} MB |")
    print(f"| python -m llmviz train --preset {args.preset} --iters {args.iters} ({Path(args.corpus).name}) | "
          f"{train:.0f} MB (target < 600 MB) |")
    print(f"\nthe run: {res['params']:,} parameters, val loss {res['val_loss']:.3f}, {res['ms_per_iter']:.1f} ms/it")


if __name__ == "__main__":
    main()
