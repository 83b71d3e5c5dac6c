"""LM1's punchline judged from what happened: the verdict, and the pair's defaults giving a clear gap."""

import math

import pytest
import torch

from llmviz.concepts import cheating
from llmviz.text import corpora
from llmviz.training.presets import preset_config
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

torch.set_num_threads(1)
TEXT = "Whether 'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune,\n" * 20
SOUP = "\n" * 150 + "TT\nT\n\n" * 10
PROSE = "And by opposing end them. To die: to sleep;\nNo more; and by a sleep to say we end\nThe heart"


def test_char_mix_distance():
    assert cheating.char_mix_distance(TEXT, TEXT) == pytest.approx(0.0)
    assert cheating.char_mix_distance("zzz", "abc") == pytest.approx(1.0)
    assert cheating.char_mix_distance(PROSE, TEXT) < 0.4 < 0.8 < cheating.char_mix_distance(SOUP, TEXT)
    assert math.isnan(cheating.char_mix_distance("", TEXT))


def test_verdict_says_what_happened():
    shown = cheating.judge(2.151, 2.522, SOUP, PROSE, TEXT)
    assert shown.kind == "shown" and "lower by 0.371" in shown.message and "'⏎'" in shown.message
    # the short run: a gap of 0.115 and two equally garbled samples is not the story yet
    close = cheating.judge(3.108, 3.223, PROSE, PROSE, TEXT)
    assert close.kind == "close" and "Not shown yet" in close.message and "500 steps" in close.message
    alike = cheating.judge(2.1, 2.5, PROSE, PROSE, TEXT)
    assert alike.kind == "alike" and "not clearly worse" in alike.message
    assert cheating.judge(2.6, 2.3, SOUP, PROSE, TEXT).kind == "reversed"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1337])
def test_the_pairs_defaults_show_the_cheat_on_the_default_text(seed):
    """The LM1 page's "Train both" with its defaults (the page's model settings, the pair's steps and
    learning rate) gives a clear loss gap AND a degenerate cheat sample, on the app's default text."""
    text = corpora.shakespeare(corpora.DEFAULT_PLAYS, corpora.DEFAULT_MAX_CHARS).text
    out = {}
    for preset in ("lm1", "lm1-masked"):
        cfg = TrainConfig(learning_rate=cheating.PAIR_LEARNING_RATE, max_iters=cheating.PAIR_STEPS, batch_size=64,
                          eval_interval=cheating.PAIR_STEPS // 10, eval_iters=cheating.PAIR_EVAL_ITERS, seed=seed,
                          sample_tokens=200, device="cpu", threads=1)
        run = TrainingRun.new(preset_config(preset, 65), cfg, text, preset=preset)
        run.inside_every = 0
        snap = run.train()
        out[preset] = (snap.history[-1].val_loss, snap.extra["sample"])
    (vu, su), (vm, sm) = out["lm1"], out["lm1-masked"]
    assert vm - vu >= 0.25, (vu, vm)  # the tutorial's gap is 0.25; a clear one, not 0.1
    v = cheating.judge(vu, vm, su, sm, text)
    assert v.kind == "shown", v.message
