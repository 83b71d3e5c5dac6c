"""How good the time predictions are: each page's default run, predicted (llmviz.training.pace.predict) and
then trained, actual / predicted; and the time left the running pace said at a third of the run against the
time the rest actually took.

    python bench/bench_pace.py                 # LM1 pair, LM2-LM5 and the transformer at their pages' defaults
    python bench/bench_pace.py --iters 300     # every run cut to 300 steps (its evaluations kept in proportion)

The band the app quotes around a prediction (llmviz.training.pace.SPREAD) should hold every language model's
ratio printed here (the encoder-decoder's prediction is not calibrated, and its page does not quote it); on a machine shared with other work, say its load (uptime) beside the figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.concepts import cheating  # noqa: E402
from llmviz.tasks import seq2seq  # noqa: E402
from llmviz.text import corpora  # noqa: E402
from llmviz.training import pace  # noqa: E402
from llmviz.training.presets import PRESETS, preset_config  # noqa: E402
from llmviz.training.train import TrainingRun  # noqa: E402


def page_runs(text: str, iters: int | None):
    """(name, a fresh run) at each page's defaults, as the pages build them."""
    def cut(cfg):
        if not iters:
            return cfg
        scale = iters / cfg.max_iters
        return replace(cfg, max_iters=iters, eval_interval=max(1, round(cfg.eval_interval * scale)))

    lm1 = PRESETS["lm1"]
    pair = cheating.pair_settings(lm1.train, cheating.PAIR_LEARNING_RATE, cheating.PAIR_STEPS)
    yield "LM1 masked (the pair)", TrainingRun.new(preset_config("lm1-masked", 1), cut(pair), text, preset="lm1")
    for name in ("lm2", "lm3", "lm4", "lm5"):
        p = PRESETS[name]
        yield name.upper(), TrainingRun.new(preset_config(name, 1), cut(p.train), text, preset=name)
    t = PRESETS["translation"]
    yield "transformer", seq2seq.new_run(t.model, cut(t.train))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=0, help="cut every run to this many steps (0: the defaults)")
    args = parser.parse_args()
    text = corpora.shakespeare().text
    print(f"{'run':24} {'steps':>6} {'predicted':>10} {'actual':>8} {'ratio':>6}  {'left said at 1/3':>16} "
          f"{'left took':>9} {'ratio':>6}")
    ratios = []
    for name, run in page_runs(text, args.iters):
        predicted = run.predict().seconds
        third = run.train_cfg.max_iters // 3
        said = took_from = None
        t0 = time.perf_counter()
        run.start()
        while run.running:
            snap = run.snapshot()
            if said is None and snap.step >= third and snap.eta is not None:
                said, took_from = snap.eta, time.perf_counter()
            time.sleep(0.05)
        end = time.perf_counter()
        actual = end - t0
        if name != "transformer":  # its prediction is not calibrated (llmviz.training.pace): shown, not counted
            ratios.append(actual / predicted)
        left = f"{said:16.1f} {end - took_from:9.1f} {(end - took_from) / said:6.2f}" if said else f"{'-':>16}"
        print(f"{name:24} {run.train_cfg.max_iters:6} {predicted:10.1f} {actual:8.1f} {actual / predicted:6.2f}  {left}",
              flush=True)
    low, high = pace.SPREAD
    print(f"actual / predicted, language models: {min(ratios):.2f} to {max(ratios):.2f}; the band the app quotes: {low:g} to {high:g} "
          f"({'holds' if low <= min(ratios) and max(ratios) <= high else 'does NOT hold'})")


if __name__ == "__main__":
    main()
