"""The FLOPs the training panel's MFU is built on, counted independently by torch's FlopCounterMode."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from llmviz.nn import flops
from llmviz.nn.model import LanguageModel
from llmviz.training.presets import PRESETS


@pytest.mark.parametrize("preset", ["lm1", "lm3", "lm5", "fast-cpu", "lm5-scaled"])
def test_flops_per_token_equals_torch_count_of_a_training_step(preset):
    torch.manual_seed(0)
    model = LanguageModel(PRESETS[preset].model)
    B, T = 2, model.config.block_size
    idx = torch.randint(model.config.vocab_size, (B, T))
    # record={} takes the explicit attention path, whose products torch's counter sees (the fused CPU
    # kernel is not counted); both compute the same full T x T products
    with FlopCounterMode(display=False) as counter:
        _, loss = model(idx, idx, train=True, record={})
        loss.backward()
    assert flops.flops_per_token(model) * B * T == counter.get_total_flops()


def test_mfu_is_share_of_the_devices_peak_and_unknown_elsewhere():
    model = LanguageModel(PRESETS["lm5-scaled"].model)
    per_token = flops.flops_per_token(model)
    tokens_per_s = 0.25 * 312e12 / per_token  # a quarter of an A100's bfloat16 peak
    assert flops.mfu(tokens_per_s, model, "NVIDIA A100-SXM4-80GB") == pytest.approx(0.25)
    assert flops.mfu(tokens_per_s, model, "NVIDIA A100-SXM4-80GB", bfloat16=False) == pytest.approx(0.5)
    assert flops.mfu(tokens_per_s, model, "cpu") is None
    assert flops.mfu(0.0, model, "NVIDIA H100 80GB HBM3") is None
