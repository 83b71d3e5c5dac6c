"""What changed since GPT-2, measured: the fast-cpu recipe with each of the speedrun's changes alone, and all
of them together, on Tiny Shakespeare (90/10 split), 2 threads, a fresh process per run, in alternating order.

    python bench/bench_modern.py                    # every variant, one round
    python bench/bench_modern.py --rounds 2 --only fast-cpu muon all
    python bench/bench_modern.py --only fast-cpu muon@muon_lr=0.04 qk-norm@learning_rate=0.004

A variant may carry settings after "@" (TrainConfig or ModelConfig fields, comma-separated: re-tuning a
change's learning rate is part of judging it fairly).

Each run trains fast-cpu's schedule with `target_loss` 1.88 (a validation estimate every 100 steps over 20
batches): "to 1.88 s" is the wall time of training until the first estimate at or below 1.88 ("-" if the
schedule ended first). "val at T s" is the validation estimate interpolated at the baseline's time to 1.88
(the loss at equal time), "final val" the last estimate. Speed is judged against the time, not the steps:
a slower step that learns more wins if it gets there sooner.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_nanogpt import fresh  # noqa: E402
from llmviz.training.recipes import loss_at, time_to  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TARGET = 1.88
# the variants: the base recipe (fast-cpu), each change alone, "all", or changes joined by "+" ("relu2+wsd")
VARIANTS = ["fast-cpu", "rope", "qk-norm", "rms-norm", "relu2", "zero-init", "muon", "wsd", "all"]


def run_variant(name: str, text_path: str, threads: int) -> list[tuple[float, float]]:
    """(seconds, validation loss) at each estimate of one run, the clock started when training starts."""
    from dataclasses import replace

    from llmviz.training import recipes
    from llmviz.training.train import TrainingRun

    name, _, tuned = name.partition("@")
    cfg, tcfg = recipes.settings([] if name == recipes.BASE else name.split("+"))
    for item in filter(None, tuned.split(",")):
        key, value = item.split("=")
        if hasattr(tcfg, key):
            tcfg = replace(tcfg, **{key: type(getattr(tcfg, key))(value)})
        elif hasattr(cfg, key):
            cfg = replace(cfg, **{key: type(getattr(cfg, key))(value)})
        else:
            raise SystemExit(f"{key!r} is neither a TrainConfig nor a ModelConfig field")
    text = Path(text_path).read_text(encoding="utf-8")
    tcfg = replace(tcfg, target_loss=TARGET, threads=threads, sample_tokens=0)
    run = TrainingRun.new(cfg, tcfg, text)
    start = time.perf_counter()
    snap = run.train()
    wall = time.perf_counter() - start
    hist = [(r.elapsed, r.val_loss) for r in snap.history]
    return [(s * wall / hist[-1][0], v) for s, v in hist] if hist and hist[-1][0] > 0 else hist


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", nargs="*", default=VARIANTS)
    args = ap.parse_args(argv)
    if not Path(args.text).is_file():
        sys.exit(f"benchmark corpus not found at {args.text}")
    runs: dict[str, list] = {n: [] for n in args.only}
    for r in range(args.rounds):
        order = args.only if r % 2 == 0 else args.only[::-1]
        for name in order:
            runs[name].append(fresh(run_variant, name, args.text, args.threads))
            print(f"round {r + 1} {name}: to 1.88 in {time_to(runs[name][-1])} s", file=sys.stderr, flush=True)
    base = [t for pts in runs.get("fast-cpu", []) if (t := time_to(pts))]
    t_base = sorted(base)[len(base) // 2] if base else None
    print(f"| variant | to {TARGET} s (median) | vs fast-cpu | val at {t_base and round(t_base, 1)} s | final val |")
    print("|---|---|---|---|---|")
    for name, all_points in runs.items():
        times = sorted(t for pts in all_points if (t := time_to(pts)))
        med = times[len(times) // 2] if times else None
        at = [v for pts in all_points if t_base and (v := loss_at(pts, t_base)) is not None]
        print(f"| {name} | {f'{med:.1f}' if med else '-'} | {f'{med / t_base:.2f}x' if med and t_base else '-'} | "
              f"{f'{sum(at) / len(at):.3f}' if at else '-'} | {sum(p[-1][1] for p in all_points) / len(all_points):.3f} |")


if __name__ == "__main__":
    main()
