"""The live look inside a training model: gradient norms per layer, the embedding projection, the probe
the trainer publishes between steps."""

import numpy as np
import pytest
import torch

from llmviz.nn import inside
from llmviz.nn.model import LanguageModel
from llmviz.plots import inside as inside_plots
from llmviz.training.presets import preset_config
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

torch.set_num_threads(1)
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40


def test_char_groups():
    assert [inside.char_group(c) for c in "aZb E7,\n"] == ["vowel", "capital consonant", "consonant", "whitespace",
                                                          "capital vowel", "digit", "punctuation", "whitespace"]
    assert inside.char_group("ab") == "other"


def test_grad_norms_per_layer_match_the_parameters_gradients():
    torch.manual_seed(0)
    model = LanguageModel(preset_config("lm5", 20))
    idx = torch.randint(0, 20, (4, 16))
    _, loss = model(idx, targets=idx)
    loss.backward()
    norms = inside.grad_norms(model)
    assert list(norms) == ["embedding", "block 1", "block 2", "head"]
    block1 = torch.cat([p.grad.flatten() for n, p in model.named_parameters() if n.startswith("blocks.0.")])
    assert norms["block 1"] == pytest.approx(float(block1.norm()), rel=1e-5)


def test_projection_is_pca_and_keeps_its_orientation():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 8)) * np.array([5, 3, 1, 1, 1, 1, 1, 1])
    xy, axes, explained = inside.project(table)
    centred = table - table.mean(0)
    assert np.allclose(np.abs(axes @ axes.T), np.eye(2), atol=1e-9)
    assert explained[0] >= explained[1] and np.isclose(xy[:, 0].var() / centred.var(0).sum(), explained[0])
    # a slightly changed table projects onto axes pointing the same way as before, not flipped
    _, axes2, _ = inside.project(table + 0.01 * rng.normal(size=table.shape), -axes)
    assert (np.sum(axes2 * -axes, axis=1) > 0).all()


def test_training_publishes_a_look_inside_between_steps():
    run = TrainingRun.new(preset_config("lm5", 1), TrainConfig(max_iters=30, eval_interval=30, eval_iters=1,
                                                               batch_size=8, sample_tokens=0), TEXT)
    run.inside_every = 0.0001
    snap = run.train()
    look, grads = snap.extra["inside"], snap.extra["grad_norms"]
    assert look.attention.shape == (2, 2, 16, 16) and look.causal
    assert np.allclose(look.attention.sum(-1), 1.0, atol=1e-5)
    assert "".join(look.tokens) == TEXT[int(len(TEXT) * 0.8):][:16]  # the start of the validation text
    assert look.embedding_xy.shape == (run.model_cfg.vocab_size, 2)
    assert [s for s, _ in grads] == sorted(s for s, _ in grads) and grads[-1][0] == look.step
    fig = inside_plots.grad_norm_lines(grads)
    assert [t.name for t in fig.data] == ["embedding", "block 1", "block 2", "head"]
    emb = inside_plots.embedding_map(look.embedding_xy, [run.tokenizer.decode([i]) for i in range(run.tokenizer.vocab_size)])
    assert sum(len(t.x) for t in emb.data) == run.model_cfg.vocab_size
    # switched off, nothing is published
    quiet = TrainingRun.new(preset_config("lm5", 1), TrainConfig(max_iters=5, eval_interval=5, eval_iters=1,
                                                                 batch_size=8, sample_tokens=0), TEXT)
    quiet.inside_every = 0
    assert "inside" not in quiet.train().extra
