"""llmviz.training.memory: a model's parameters counted without building it, and a training step's
memory predicted, against independent references: the real model's count, and the bytes autograd saves
for the backward pass (counted by saved_tensors_hooks); the refusal's words follow the numbers."""

from dataclasses import replace

import pytest
import torch

from llmviz.nn.encoder_decoder import EncoderDecoder, EncoderDecoderConfig
from llmviz.nn.model import LanguageModel
from llmviz.training import memory
from llmviz.training.presets import preset_config

torch.set_num_threads(1)
SHAPES = [dict(n_embd=64, n_layer=2, n_head=4, block_size=64), dict(n_embd=32, n_layer=3, n_head=2, block_size=32),
          dict(n_embd=64, n_layer=2, n_head=4, block_size=64, ffwd="relu2"),
          dict(n_embd=64, n_layer=2, n_head=4, block_size=64, dropout=0.2)]


def saved_bytes(model, batch: int, vocab: int) -> int:
    """Bytes of the tensors autograd keeps for the backward pass (each storage once, the weights not)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in weights:
            kept[s.data_ptr()] = s.nbytes()
        return t

    idx = torch.randint(0, vocab, (batch, model.config.block_size))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(idx, idx, train=True)
    return sum(kept.values())


@pytest.mark.parametrize("preset", ["lm2", "lm3", "lm4", "lm5", "fast-cpu"])
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_parameters_exactly_and_activations_never_under_what_autograd_keeps(preset, shape):
    cfg = replace(preset_config(preset, 65), **SHAPES[shape])
    if cfg.problems():
        pytest.skip("not a configuration of this preset")
    model = LanguageModel(cfg)
    assert memory.parameters(cfg) == model.num_params()
    kept = saved_bytes(model, 4, 65)
    assert kept <= memory.activations(cfg, 4) <= 1.8 * kept


def test_an_encoder_decoders_parameters_are_counted_exactly():
    cfg = EncoderDecoderConfig(vocab_size=50, block_size=16, n_embd=32, n_head=2, n_layer=3, src_vocab_size=70,
                               src_block_size=12, n_encoder_layer=2)
    assert memory.parameters(cfg) == EncoderDecoder(cfg).num_params()


def test_the_refusal_follows_the_numbers(monkeypatch):
    cfg = preset_config("lm5", 65)
    monkeypatch.setattr(memory, "device_bytes", lambda device: 10**9)
    step = memory.step_memory(cfg, 1000)
    fits = step.total < 10**9
    assert (memory.problems(cfg, 1000) == []) == fits
    big = 10 * int(10**9 / memory.activations(cfg, 1)) + 1  # a batch ten times what 1 GB holds
    (said,) = memory.problems(cfg, big)
    assert f"{big:,} sequences" in said and "1.0 GB of memory" in said
    assert f"{memory.step_memory(cfg, big).total / 1e9:,.1f} GB" in said
    monkeypatch.setattr(memory, "device_bytes", lambda device: None)  # unknown: only the model's size is held
    assert memory.problems(cfg, big) == []
    assert "blocks" in memory.problems(replace(cfg, n_layer=memory.MAX_LAYERS + 1), 1)[0]
