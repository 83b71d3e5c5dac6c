"""What watching a run costs: training throughput through the pages' worker (llmviz.training.train.TrainingRun)
while it is polled the way the training panel's fragment polls it, against the same run unwatched.

The poller does, twice a second, what pages/shared/training_panel.py's fragment does on each tick: take a snapshot,
format the progress line, rebuild the loss figure when a record arrived and the live look-inside
figures (attention heatmap, token embedding projection, gradient norms per layer) when the trainer
published a new look, and serialise every figure to JSON (as st.plotly_chart does on every tick).
The trainer takes its looks inside (llmviz.nn.inside) in both phases, watched or not: `--no-inside`
switches them off to measure what they cost the trainer itself.

On a shared machine the load changes from second to second, so separate runs cannot be compared.
Instead ONE long run alternates phases of a few seconds, unwatched and watched; the step counter is
read at each phase boundary, and each watched phase is compared with the unwatched phases on either
side of it (same run, same seconds of the machine's life). Evaluations are off during the measure.

    python bench/bench_polling.py [--preset lm5] [--seconds 40] [--phase 2] [--interval 0.5]

Target: watched throughput >= 90% of unwatched.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import plotly.io as pio  # noqa: E402

from llmviz.text import corpora  # noqa: E402
from llmviz.training.presets import preset_config  # noqa: E402
from llmviz.plots import inside as inside_plots  # noqa: E402
from llmviz.plots import training as training_plots  # noqa: E402
from llmviz.training.train import TrainConfig, TrainingRun  # noqa: E402
from llmviz.wording import plural  # noqa: E402


def corpus_text() -> tuple[str, str]:
    beside = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
    if beside.is_file():
        return "Tiny Shakespeare", beside.read_text(encoding="utf-8")
    c = corpora.shakespeare(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS)
    return c.name, c.text


class PagePoller:
    """One tick of the training panel's fragment."""

    def __init__(self, run: TrainingRun):
        self.run, self.figure, self.seen, self.ticks = run, None, -1, []
        self.inside, self.look_seen = [], None
        tok = run.tokenizer
        self.labels = [tok.decode([i]) for i in range(tok.vocab_size)]

    def tick(self) -> None:
        t = time.perf_counter()
        snap = self.run.snapshot()
        text = f"{snap.state} · step {snap.step:,} of {snap.total:,} · {snap.eta or 0:.0f} s left"
        if len(snap.history) != self.seen:  # the page rebuilds its figure only when a record was added
            self.figure, self.seen = training_plots.loss_curves({"run": snap.history}, baseline=4.17), len(snap.history)
        look, grads = snap.extra.get("inside"), snap.extra.get("grad_norms") or ()
        if look is not None and look.step != self.look_seen:  # ... and the look inside when a new one came
            self.inside = [training_plots.attention_heatmap(look.attention[0, 0], look.tokens, look.causal, annotate=False),
                           inside_plots.embedding_map(look.embedding_xy, self.labels, look.explained),
                           inside_plots.grad_norm_lines(grads)]
            self.look_seen = look.step
        for fig in [self.figure, *self.inside]:
            pio.to_json(fig, validate=False)
        _ = (text, snap.extra.get("sample"))
        self.ticks.append(time.perf_counter() - t)


def measure(text: str, preset: str, seconds: float, phase: float, interval: float, device: str,
            inside: bool = True) -> dict:
    steps = 10_000_000  # stopped by us; no evaluation happens in between
    cfg = TrainConfig(max_iters=steps, eval_interval=steps, eval_iters=1, sample_tokens=0, device=device)
    run = TrainingRun.new(preset_config(preset, 65), cfg, text)
    run.inside_every = 0.5 if inside else 0
    poller = PagePoller(run)
    run.start()
    while len(run.history) < 1:  # the loss estimate before training
        time.sleep(0.01)
    time.sleep(phase)  # warm-up
    marks = [(time.perf_counter(), run.step, False)]
    watched = False
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        watched = not watched
        stop = time.perf_counter() + phase
        while True:
            now = time.perf_counter()
            if now >= stop:
                break
            if watched:
                poller.tick()
                time.sleep(max(0.0, min(interval, stop - time.perf_counter())))
            else:
                time.sleep(stop - now)
        marks.append((time.perf_counter(), run.step, watched))
    run.stop()
    run.join()
    tokens_per_step = cfg.batch_size * run.model_cfg.block_size
    rates = [((s1 - s0) * tokens_per_step / (t1 - t0), w) for (t0, s0, _), (t1, s1, w) in zip(marks, marks[1:])]
    ratios = []
    for i, (rate, w) in enumerate(rates):
        if w and 0 < i < len(rates) - 1:
            ratios.append(rate / ((rates[i - 1][0] + rates[i + 1][0]) / 2))
    return {"ratios": ratios, "on": [r for r, w in rates if w], "off": [r for r, w in rates if not w],
            "poll_ms": 1000 * statistics.mean(poller.ticks), "polls": len(poller.ticks), "device": run.device,
            "threads": run.threads}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="lm5")
    ap.add_argument("--seconds", type=float, default=40, help="length of the measure")
    ap.add_argument("--phase", type=float, default=2.0, help="seconds per watched / unwatched phase")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between polls (the page: 0.5)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-inside", action="store_true", help="the trainer takes no looks inside")
    args = ap.parse_args(argv)
    name, text = corpus_text()
    print(f"corpus: {name} ({len(text):,} chars) · preset {args.preset} (tutorial settings, batch 64) · "
          f"{args.seconds:g} s in phases of {args.phase:g} s · poll every {args.interval:g} s · "
          f"looks inside {'off' if args.no_inside else 'every 0.5 s'}")
    r = measure(text, args.preset, args.seconds, args.phase, args.interval, args.device, not args.no_inside)
    print(f"  device {r['device']}, {plural(r['threads'], 'thread')}; {r['polls']} polls of {r['poll_ms']:.1f} ms on average")
    print(f"  unwatched phases: median {statistics.median(r['off']):>9,.0f} tokens/s "
          f"(min {min(r['off']):,.0f}, max {max(r['off']):,.0f})")
    print(f"  watched phases:   median {statistics.median(r['on']):>9,.0f} tokens/s "
          f"(min {min(r['on']):,.0f}, max {max(r['on']):,.0f})")
    print(f"  per watched phase vs its unwatched neighbours: {', '.join(f'{x:.0%}' for x in r['ratios'])}")
    print(f"median ratio watched / unwatched: {statistics.median(r['ratios']):.1%} (target >= 90%)")


if __name__ == "__main__":
    main()
