"""The transformer behind LM1-LM5: parameter counts against the tutorial, shapes, the causal mask, and
the fused attention against the textbook formula and a tutorial-style list of heads."""

import math

import pytest
import torch
import torch.nn.functional as F

from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.presets import PRESETS, preset_config

torch.set_num_threads(1)  # tiny models: one thread is far faster (see llmviz.device.threads_for)

# the tutorial's table (vocabulary of 65 characters)
TUTORIAL_PARAMS = {"lm1": 7_297, "lm1-masked": 7_297, "lm2": 8_865, "lm3": 9_921, "lm4": 54_657,
                   "lm5": 30_017, "lm5-scaled": 10_788_929}
SMALL = [n for n in PRESETS if n != "lm5-scaled" and PRESETS[n].architecture == "decoder-only"]


def test_presets_come_in_tutorial_order():
    assert list(PRESETS)[:7] == list(TUTORIAL_PARAMS)
    for p in PRESETS.values():
        assert p.title and len(p.description) > 80


def test_fast_cpu_preset_is_lm5_shaped_and_trainable():
    from llmviz.training.presets import preset_train_config

    lm5, fast = preset_config("lm5", 65), preset_config("fast-cpu", 65)
    for flag in ("causal", "pos_emb", "ffwd", "residual", "layer_norm", "proj"):
        assert getattr(fast, flag) == getattr(lm5, flag)
    t = preset_train_config("fast-cpu")
    assert t.lr_decay and t.warmup_iters > 0 and t.min_lr < t.learning_rate and t.val_fraction == 0.1


@pytest.mark.parametrize("name", list(TUTORIAL_PARAMS))
def test_parameter_count_matches_the_tutorial(name):
    model = LanguageModel(preset_config(name, 65))
    assert model.num_params() == TUTORIAL_PARAMS[name]
    parts = model.param_breakdown()
    assert sum(parts.values()) == TUTORIAL_PARAMS[name]
    cfg = model.config
    # components worked out by hand from the architecture
    assert parts["token embedding"] == 65 * cfg.n_embd
    assert parts["head"] == cfg.n_embd * 65 + 65
    assert parts["position embedding"] == (cfg.block_size * cfg.n_embd if cfg.pos_emb else 0)
    assert parts["layer norms"] == (2 * cfg.n_embd * (2 * cfg.n_layer + 1) if cfg.layer_norm else 0)


@pytest.mark.parametrize("name", SMALL)
def test_shapes_and_initial_loss(name):
    torch.manual_seed(0)
    model = LanguageModel(preset_config(name, 65))
    cfg = model.config
    idx = torch.randint(65, (8, cfg.block_size))
    logits, loss = model(idx)
    assert logits.shape == (8, cfg.block_size, 65) and loss is None
    _, loss = model(idx, torch.randint(65, (8, cfg.block_size)))
    # an untrained model is about uniformly unsure: cross-entropy ≈ ln(vocab), a little above with
    # PyTorch's default init (unit-variance embeddings give uneven logits; the GPT-2 init is tighter, below)
    assert math.log(65) - 0.1 < loss.item() < math.log(65) + 0.8
    maps = model.attention_maps(idx[0])
    assert maps.shape == (cfg.n_layer, cfg.n_head, cfg.block_size, cfg.block_size)
    assert torch.allclose(maps.sum(-1), torch.ones(maps.shape[:-1]), atol=1e-5)


def test_gpt2_style_init_starts_at_ln_vocab():
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=65, init_std=0.02))
    idx = torch.randint(65, (16, 16))
    _, loss = model(idx, torch.randint(65, (16, 16)))
    assert abs(loss.item() - math.log(65)) < 0.05


@pytest.mark.parametrize("name", SMALL)
def test_causal_mask_blocks_the_future(name):
    torch.manual_seed(1)
    model = LanguageModel(preset_config(name, 65))
    T = model.config.block_size
    a = torch.randint(65, (1, T))
    b = a.clone()
    b[0, T // 2:] = (b[0, T // 2:] + 7) % 65  # change the second half only
    la, _ = model(a)
    lb, _ = model(b)
    earlier_same = torch.allclose(la[0, : T // 2], lb[0, : T // 2], atol=1e-6)
    if model.config.causal:
        assert earlier_same
        assert model.attention_maps(a).triu(1).abs().max() == 0
    else:
        assert not earlier_same  # the unmasked LM1 sees the future: that is how it cheats


@pytest.mark.parametrize("name", SMALL)
def test_fused_attention_equals_the_explicit_formula(name):
    torch.manual_seed(2)
    model = LanguageModel(preset_config(name, 65))
    idx = torch.randint(65, (4, model.config.block_size))
    fused, _ = model(idx)
    rec = {}
    explicit, _ = model(idx, record=rec)  # recording computes softmax(Q·Kᵀ/√d)·V to keep the weights
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert len(rec["attention"]) == len(rec["block_out"]) == model.config.n_layer


def test_attention_maps_equal_a_tutorial_style_head_by_head_computation():
    """An independent oracle: the tutorial's Head, one query/key/value per head, written out."""
    torch.manual_seed(3)
    cfg = ModelConfig(vocab_size=65, block_size=10, n_embd=24, n_head=3, n_layer=1, layer_norm=False)
    model = LanguageModel(cfg)
    idx = torch.randint(65, (10,))
    x = model.token_embedding(idx) + model.position_embedding(torch.arange(10))  # (T, C)
    Wq, Wk, Wv = model.blocks[0].attn.qkv.weight.split(24, dim=0)  # each (C, C), rows = output features
    hs = 8
    for h in range(3):
        rows = slice(h * hs, (h + 1) * hs)
        q, k = x @ Wq[rows].T, x @ Wk[rows].T  # (T, hs)
        scores = torch.empty(10, 10)
        for i in range(10):
            for j in range(10):
                scores[i, j] = (q[i] @ k[j]) / math.sqrt(hs) if j <= i else float("-inf")
        expected = F.softmax(scores, dim=-1)
        assert torch.allclose(model.attention_maps(idx)[0, h], expected, atol=1e-5)


def test_invalid_configuration_is_explained():
    with pytest.raises(ValueError, match="divisible by n_head"):
        LanguageModel(ModelConfig(n_embd=30, n_head=4))
    assert "ffwd must be one of" in " ".join(ModelConfig(ffwd="big").problems())
    assert ModelConfig().problems() == []
    with pytest.raises(ValueError, match="block_size"):
        LanguageModel(ModelConfig(block_size=4))(torch.zeros(1, 5, dtype=torch.long))


def test_config_round_trips_through_a_dict():
    cfg = preset_config("lm4", 80)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(KeyError, match="unknown preset"):
        preset_config("lm9", 65)


def test_dropout_only_when_the_trainer_asks():
    torch.manual_seed(4)
    model = LanguageModel(ModelConfig(vocab_size=65, dropout=0.5))
    idx = torch.randint(65, (2, 16))
    assert not torch.allclose(model(idx, train=True)[0], model(idx, train=True)[0])
    model.train()  # the module's mode plays no part: inference is deterministic in either mode
    assert torch.equal(model(idx)[0], model(idx)[0])
    model.eval()
    assert torch.equal(model(idx)[0], model(idx)[0])


def test_ignored_targets_do_not_count_in_the_loss():
    from llmviz.nn.model import IGNORE

    torch.manual_seed(5)
    model = LanguageModel(ModelConfig(vocab_size=11, block_size=6, n_embd=8, n_head=2))
    idx, y = torch.randint(11, (3, 6)), torch.randint(11, (3, 6))
    masked = y.clone()
    masked[:, :4] = IGNORE  # a prompt the model must not learn to write
    logits, loss = model(idx, masked)
    expected = F.cross_entropy(logits[:, 4:].reshape(-1, 11), y[:, 4:].reshape(-1))
    assert torch.allclose(loss, expected)
