"""What watching a run costs: training throughput through the pages' worker (llmviz.train.TrainingRun)
while it is polled the way the training panel's fragment polls it, against the same run unwatched.

The poller does, twice a second, what pages/_training.py's fragment does on each tick: take a snapshot,
build the loss-curve figure and serialise it to JSON (as st.plotly_chart does). Runs alternate
(unwatched, watched, unwatched, ...) in one process so both see the same machine.

    python bench/bench_polling.py [--preset lm5] [--steps 400] [--repeats 3] [--interval 0.5]

Target: watched throughput >= 90% of unwatched.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmviz import corpora  # noqa: E402
from llmviz.model import preset_config  # noqa: E402
from llmviz.plots import training as P  # noqa: E402
from llmviz.train import TrainConfig, TrainingRun  # noqa: E402


def corpus_text() -> tuple[str, str]:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
    if beside.is_file():
        return "Tiny Shakespeare", beside.read_text(encoding="utf-8")
    c = corpora.shakespeare(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS)
    return c.name, c.text


def poll_like_the_page(run: TrainingRun, interval: float, done: threading.Event, ticks: list) -> None:
    while not done.wait(interval):
        t = time.perf_counter()
        snap = run.snapshot()
        text = f"{snap.state} · step {snap.step:,} of {snap.total:,} · {snap.eta or 0:.0f} s left"
        P.loss_curves({"run": snap.history}).to_json()
        _ = (text, snap.extra.get("sample"))
        ticks.append(time.perf_counter() - t)


def one_run(text: str, preset: str, steps: int, watched: bool, interval: float, device: str) -> dict:
    cfg = TrainConfig(max_iters=steps, eval_interval=max(1, steps // 4), eval_iters=20, device=device)
    run = TrainingRun(preset_config(preset, 65), cfg, text)
    done, ticks = threading.Event(), []
    poller = threading.Thread(target=poll_like_the_page, args=(run, interval, done, ticks), daemon=True)
    t0 = time.perf_counter()
    run.start()
    if watched:
        poller.start()
    run.join()
    wall = time.perf_counter() - t0
    done.set()
    if watched:
        poller.join()
    assert run.state == "finished", run.snapshot().reason
    hist = run.history
    # training tokens per second of training time (the trainer's own measure, evaluations excluded)
    speeds = [r.tokens_per_s for r in hist if r.tokens_per_s > 0]
    return {"tokens_per_s": statistics.mean(speeds), "steps_per_s": steps / wall, "polls": len(ticks),
            "poll_ms": 1000 * statistics.mean(ticks) if ticks else 0.0, "device": run.device, "threads": run.threads}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="lm5")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between polls (the page: 0.5)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    name, text = corpus_text()
    print(f"corpus: {name} ({len(text):,} chars) · preset {args.preset} · {args.steps} steps · "
          f"poll every {args.interval}s · {args.repeats} pairs of runs")
    one_run(text, args.preset, 20, False, args.interval, args.device)  # warm-up: first-run costs out of the way
    rows = {False: [], True: []}
    for i in range(args.repeats):
        for watched in (False, True) if i % 2 == 0 else (True, False):
            r = one_run(text, args.preset, args.steps, watched, args.interval, args.device)
            rows[watched].append(r)
            print(f"  {'watched  ' if watched else 'unwatched'}: {r['tokens_per_s']:>9,.0f} tokens/s  "
                  f"{r['steps_per_s']:6.1f} steps/s  {r['polls']:3d} polls of {r['poll_ms']:.1f} ms  "
                  f"({r['device']}, {r['threads']} thread(s))")
    base = statistics.median(r["tokens_per_s"] for r in rows[False])
    seen = statistics.median(r["tokens_per_s"] for r in rows[True])
    base_s = statistics.median(r["steps_per_s"] for r in rows[False])
    seen_s = statistics.median(r["steps_per_s"] for r in rows[True])
    print(f"median tokens/s unwatched {base:,.0f}, watched {seen:,.0f}: ratio {seen / base:.1%} (target >= 90%)")
    print(f"median steps/s incl. evaluations: unwatched {base_s:.1f}, watched {seen_s:.1f}: ratio {seen_s / base_s:.1%}")


if __name__ == "__main__":
    main()
