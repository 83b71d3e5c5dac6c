"""LM1's punchline (tutorial part 2): the unmasked model "cheats", judged from what actually happened.

Without the causal mask, every position of a training block attends to the whole block, the tokens
after it included. LM1 has no position embedding, so it cannot tell *where* a token sits: it cannot
pick out "the next position". What it can use is *which* tokens are in the window: attention averages
their vectors, and the token it must predict is always among them. Knowing the bag of characters of
the next few positions narrows the guess to the handful of characters present (about 10 of 65 in a
16-character window), which lowers the loss, but only modestly: the bag does not say which of them
comes next. At generation time the last position has no future in its window, the habit of favouring
"characters that are present" misleads it, and the text degenerates (often into newlines or one
repeated character).

This module judges a pair of runs from their losses and their samples, instead of assuming the story.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from llmviz.text.whitespace import visible

# the pair's training settings: seconds on a small CPU (the page says its predicted time), long enough for the cheat to pay
PAIR_STEPS = 500
PAIR_LEARNING_RATE = 3e-3
PAIR_EVAL_ITERS = 20

# the punchline as the LM1 page tells it, before the pair is trained
PUNCHLINE = (
    "During training every position of a block must predict the token after it — and **without the mask, "
    "attention also draws on the tokens after it**, the answer among them. LM1 has no position embedding, so it "
    "cannot tell *where* a token sits and cannot simply copy \"the next position\". What it can use is *which* "
    "characters are in the window: its attention averages their vectors, a bag of the characters present, and the "
    "one it must predict is always in that bag. That narrows the guess to the dozen or so characters of a "
    "16-character window out of 65, but not to one of them: the loss drops, only modestly (the tutorial: 2.22 "
    "vs 2.48 on Tiny Shakespeare). At generation time the last position has no future in its window; favouring "
    "\"characters that are present\" now misleads it, and its text falls apart (often into newlines or one "
    "repeated letter). The masked model's loss is the honest one, and its samples start to look like text."
)

CLEAR_GAP = 0.15  # validation loss (nats) by which the cheat must win to call it clear (tutorial: 0.25)
CLEAR_WORSE = 0.15  # how much further from the text's mix of characters the cheat's sample must be


def pair_settings(train_cfg, learning_rate: float, steps: int):
    """The page's training settings (a llmviz.training.config.TrainConfig) for the pair: its own learning rate
    and steps, about ten evaluations of PAIR_EVAL_ITERS batches, and a text sample at each."""
    return replace(train_cfg, learning_rate=learning_rate, max_iters=steps, eval_interval=max(10, steps // 10),
                   eval_iters=PAIR_EVAL_ITERS, sample_tokens=train_cfg.sample_tokens or 200)


def char_mix_distance(sample: str, text: str) -> float:
    """How far the sample's mix of characters is from the text's: the total variation distance between
    the two character frequency distributions, 0 (the same mix) to 1 (nothing in common)."""
    if not sample or not text:
        return math.nan
    a, b = Counter(sample), Counter(text)
    na, nb = len(sample), len(text)
    return 0.5 * sum(abs(a[c] / na - b[c] / nb) for c in set(a) | set(b))


def commonest(sample: str) -> tuple[str, float]:
    """The sample's most frequent character and the share of the sample it makes up."""
    if not sample:
        return "", 0.0
    ch, n = Counter(sample).most_common(1)[0]
    return ch, n / len(sample)


@dataclass(frozen=True)
class Verdict:
    kind: str  # "shown" (lower loss, worse text), "close" (no clear loss gap), "alike" (gap, similar text), "reversed"
    gap: float  # masked validation loss minus unmasked validation loss (positive: the cheat is lower)
    distance_unmasked: float  # char_mix_distance of each sample to the training text
    distance_masked: float
    message: str  # the verdict in plain words


def judge(unmasked_val: float, masked_val: float, unmasked_sample: str, masked_sample: str, text: str) -> Verdict:
    """Say what the pair's runs show: is the cheating model's loss clearly lower AND its text clearly
    less like the training text than the honest model's?"""
    gap = masked_val - unmasked_val
    du, dm = char_mix_distance(unmasked_sample, text), char_mix_distance(masked_sample, text)
    ppl = f"perplexity {math.exp(unmasked_val):.1f} vs {math.exp(masked_val):.1f}"
    ch, share = commonest(unmasked_sample)
    soup = f"; {share:.0%} of its sample is '{visible(ch)}'" if share >= 0.3 else ""
    worse = math.isfinite(du) and math.isfinite(dm) and du - dm >= CLEAR_WORSE
    if not (math.isfinite(gap)):
        return Verdict("close", gap, du, dm, "No validation loss yet: train the pair first.")
    if gap < -CLEAR_GAP:
        return Verdict("reversed", gap, du, dm,
                       f"Unexpected: the honest model's validation loss is lower by {-gap:.3f} ({ppl}). Try another "
                       "seed or more steps.")
    if gap < CLEAR_GAP:
        return Verdict("close", gap, du, dm,
                       f"Not shown yet: the validation losses are close ({unmasked_val:.3f} vs {masked_val:.3f}, a gap "
                       f"of {gap:.3f}), so neither model has learned enough for the cheat to pay. Train longer or "
                       f"with a higher learning rate (the pair's defaults: {PAIR_STEPS} steps at {PAIR_LEARNING_RATE:g}).")
    if worse:
        return Verdict("shown", gap, du, dm,
                       f"Shown: the cheating model's validation loss is lower by {gap:.3f} ({ppl}), yet its text is "
                       f"further from the training text's mix of characters ({du:.2f} vs {dm:.2f}, where 0 is the "
                       f"same mix{soup}). A lower loss bought by peeking does not make a better writer.")
    return Verdict("alike", gap, du, dm,
                   f"Half shown: the cheating model's validation loss is lower by {gap:.3f} ({ppl}), but its sample is "
                   f"not clearly worse than the honest model's (distance to the text's mix of characters {du:.2f} vs "
                   f"{dm:.2f}). Read both samples; train longer and the cheat's text usually falls apart.")
