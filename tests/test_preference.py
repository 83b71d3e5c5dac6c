"""Preference tuning (DPO): the loss against a direct formula, the rule, and a short run that moves the
model towards the chosen answers while the reference stays as it was."""

import math

import torch
import torch.nn.functional as F

from llmviz.tasks import chat, preference
from llmviz.training.batches import batch_loss
from llmviz.tasks.chat import Message
from llmviz.nn.model import IGNORE, LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig

torch.set_num_threads(1)

STYLE = ("HAMLET:\nTo be, or not to be.\n\nHAMLET:\nAy, there's the rub,\n\nHAMLET:\nWords, words, words.\n\n"
         "HAMLET:\nThe rest is silence\n\nROMEO:\nBut soft!\n\nROMEO:\nIt is the east, and\n\n"
         "ROMEO:\nGood night, good night!\n\nROMEO:\nShe speaks\n")
TOK = chat.with_chat_tokens(CharTokenizer().train(STYLE + "Speak as Talk like Answer as HAMLET ROMEO."))


def tiny(seed=0):
    torch.manual_seed(seed)
    return LanguageModel(ModelConfig(vocab_size=TOK.vocab_size, block_size=48, n_embd=32, n_head=2, n_layer=2))


def test_pairs_follow_the_rule():
    pairs = preference.make_pairs(STYLE, 50)
    assert all(preference.preferred(p.chosen) and not preference.preferred(p.rejected) for p in pairs)
    assert all(p.chosen.split(":")[0] == p.rejected.split(":")[0] for p in pairs)  # the same speaker
    assert preference.make_pairs(STYLE, 50) == pairs and preference.make_pairs(STYLE, 50, held=True) != pairs


def test_sequence_logprob_is_the_sum_over_the_answer_only():
    model = tiny()
    ids, learned = chat.encode(TOK, [Message("user", "Speak as ROMEO."), Message("assistant", "ROMEO:\nBut soft!")])
    x, y = chat.training_pair(ids, learned, 48)
    got = preference.sequence_logprob(model, torch.tensor([x]), torch.tensor([y]))
    with torch.no_grad():
        logp = F.log_softmax(model(torch.tensor([x]))[0][0], -1)
    expected = sum(float(logp[t, tok]) for t, tok in enumerate(y) if tok != IGNORE)
    assert math.isclose(float(got.detach()), expected, rel_tol=1e-5)


def test_dpo_starts_at_ln2_and_a_short_run_prefers_the_chosen_answers():
    model = tiny()
    pairs = preference.make_pairs(STYLE, 200)
    batches = preference.PreferenceBatches(TOK, model, pairs, preference.make_pairs(STYLE, 20, held=True), 48, beta=0.5)
    b = batches.batch("val", 16, torch.Generator().manual_seed(0))
    with torch.no_grad():  # a figure read, not a loss to learn from: no graph, no tensor with grad to a scalar
        start = float(batch_loss(model, b))
    assert math.isclose(start, math.log(2), rel_tol=1e-6)  # policy = reference
    cfg = TrainConfig(learning_rate=3e-3, batch_size=16, max_iters=40, eval_interval=20, eval_iters=2,
                      sample_tokens=0, threads=1, weight_decay=0.0)
    run, prompts = preference.start(model, TOK, cfg, STYLE, beta=0.5, n_pairs=200)
    ref_before = {k: v.clone() for k, v in run.batches.reference.state_dict().items()}
    snap = run.train()
    assert snap.history[-1].val_loss < snap.history[0].val_loss < math.log(2) + 1e-6
    assert {"preferred", "drift", "dpo_loss", "margin", "wins", "logp_chosen", "logp_rejected"} <= set(
        snap.history[-1].other)
    first, last = snap.history[0].other, snap.history[-1].other
    assert math.isclose(first["dpo_loss"], math.log(2), rel_tol=1e-5) and abs(first["margin"]) < 1e-5
    assert last["margin"] > 0 and last["dpo_loss"] < math.log(2) and last["wins"] > 0.5
    assert preference.reading(snap.history).startswith("Answers that follow the rule:")
    assert all(torch.equal(v, ref_before[k]) for k, v in run.batches.reference.state_dict().items())
    xc, yc, xr, yr = run.batches.data["val"]

    @torch.no_grad()
    def margin(m):
        return float((preference.sequence_logprob(m, xc, yc) - preference.sequence_logprob(m, xr, yr)).mean())

    assert margin(run.model) > margin(model)  # the chosen answers gained on the rejected ones
    assert preference.drift(model, model, TOK, prompts[:3]) == 0.0


def test_dpo_measures_follow_the_formula_on_the_held_out_pairs():
    model, other = tiny(), tiny(1)
    held = preference.make_pairs(STYLE, 8, held=True)
    batches = preference.PreferenceBatches(TOK, model, preference.make_pairs(STYLE, 8), held, 48, beta=0.3)
    got = batches.measures(other, n=8)
    xc, yc, xr, yr = batches.data["val"]
    lp = {name: [float(preference.sequence_logprob(m, x[i:i + 1], y[i:i + 1]).detach()) for i in range(8)]
          for name, (m, x, y) in {"pc": (other, xc, yc), "pr": (other, xr, yr), "rc": (model, xc, yc),
                                  "rr": (model, xr, yr)}.items()}
    margins = [0.3 * ((lp["pc"][i] - lp["rc"][i]) - (lp["pr"][i] - lp["rr"][i])) for i in range(8)]
    loss = sum(math.log1p(math.exp(-m)) for m in margins) / 8  # -log sigmoid(m)
    assert math.isclose(got["dpo_loss"], loss, rel_tol=1e-4)
    assert math.isclose(got["margin"], sum(margins) / 8, rel_tol=1e-4, abs_tol=1e-5)
    assert got["wins"] == sum(m > 0 for m in margins) / 8
    assert math.isclose(got["logp_chosen"], sum(lp["pc"]) / 8, rel_tol=1e-5)


class Row:
    def __init__(self, step, **other):
        self.step, self.other = step, other


def measured(preferred, wins, margin, loss, chosen, rejected, drift=1.0):
    return dict(preferred=preferred, wins=wins, margin=margin, dpo_loss=loss, logp_chosen=chosen,
                logp_rejected=rejected, drift=drift)


def test_the_caption_is_written_from_the_measures():
    start = Row(0, **measured(0.7, 0.5, 0.0, 0.693, -40.0, -45.0))
    assert preference.reading([start]) == ""  # one estimate: nothing to read yet
    text = preference.reading([start, Row(300, **measured(0.95, 0.9, 2.5, 0.1, -38.0, -60.0, 4.2))])
    for words in ("70% before, 95% now", "wins 90%", "margin 2.50", "raised the chosen answers and lowered",
                  "-40.0 → -38.0", "4.20 nats"):
        assert words in text, (words, text)
    text = preference.reading([start, Row(300, **measured(0.75, 1.0, 9.0, 0.002, -70.0, -120.0))])
    assert "lowered both answers, the rejected ones more" in text and "75% now" in text
    text = preference.reading([start, Row(300, **measured(0.7, 0.4, -0.1, 0.8, -40.0, -44.0))])
    assert "did not fall below" in text
