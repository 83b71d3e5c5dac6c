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

import plotly.io as pio  # noqa: E402

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
    figure, seen = None, -1
    while not done.wait(interval):
        t = time.perf_counter()
        snap = run.snapshot()
        text = f"{snap.state} · step {snap.step:,} of {snap.total:,} · {snap.eta or 0:.0f} s left"
        if len(snap.history) != seen:  # the page rebuilds its figure only when a record was added
            figure, seen = P.loss_curves({"run": snap.history}), len(snap.history)
        pio.to_json(figure, validate=False)  # what st.plotly_chart sends on every tick
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
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between polls (the page: 0.5)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    name, text = corpus_text()
    print(f"corpus: {name} ({len(text):,} chars) · preset {args.preset} · {args.steps} steps · "
          f"poll every {args.interval}s · {args.repeats} pairs of runs")
    one_run(text, args.preset, 20, False, args.interval, args.device)  # warm-up: first-run costs out of the way
    ratios, duty = [], []
    for i in range(args.repeats):
        # a pair of runs back to back (order alternating): both see about the same load on a shared machine
        pair = {}
        for watched in (False, True) if i % 2 == 0 else (True, False):
            pair[watched] = one_run(text, args.preset, args.steps, watched, args.interval, args.device)
        w, u = pair[True], pair[False]
        ratios.append(w["tokens_per_s"] / u["tokens_per_s"])
        duty.append(w["polls"] * w["poll_ms"] / 1000 / (args.steps / w["steps_per_s"]))
        print(f"  pair {i + 1}: unwatched {u['tokens_per_s']:>9,.0f} tokens/s · watched {w['tokens_per_s']:>9,.0f} "
              f"tokens/s ({w['polls']} polls of {w['poll_ms']:.1f} ms) · ratio {ratios[-1]:.1%}  "
              f"[{u['device']}, {u['threads']} thread(s)]")
    print(f"median ratio watched / unwatched: {statistics.median(ratios):.1%} (target >= 90%); "
          f"pairs: {', '.join(f'{r:.0%}' for r in ratios)}")
    print(f"the poller's busy time: {statistics.median(duty):.1%} of the run's wall time (median)")

if __name__ == "__main__":
    main()
