"""LoRA against Hugging Face `peft` (an independent implementation), and what it promises: B = 0 is the
base model, merge = adapter, only adapters train, the base stays bit-identical."""

import pytest
import torch
import torch.nn as nn

from llmviz.nn import lora
from llmviz.errors import LearnerError
from llmviz.nn.model import LanguageModel, ModelConfig

torch.set_num_threads(1)


def peft_lora(linear: nn.Linear, r: int, alpha: float):
    """peft's LoRA on a lone linear layer (inside a wrapper module, as peft expects)."""
    from peft import LoraConfig, get_peft_model

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = linear

        def forward(self, x):
            return self.layer(x)

    return get_peft_model(Wrap(), LoraConfig(r=r, lora_alpha=alpha, target_modules=["layer"], lora_dropout=0.0))


@pytest.mark.parametrize("r,alpha", [(1, 1.0), (4, 8.0), (8, 32.0)])
def test_a_lora_linear_equals_peft_with_the_same_a_and_b(r, alpha):
    torch.manual_seed(r)
    base = nn.Linear(24, 40)
    ours = lora.LoRALinear(nn.Linear(24, 40), r, alpha, {"all": (0, 40)})
    ours.weight.data.copy_(base.weight.data)
    ours.bias.data.copy_(base.bias.data)
    theirs = peft_lora(base, r, alpha)
    layer = theirs.base_model.model.layer
    A, B = torch.randn(r, 24), torch.randn(40, r)
    layer.lora_A["default"].weight.data.copy_(A)
    layer.lora_B["default"].weight.data.copy_(B)
    ours.lora_A["all"].data.copy_(A)
    ours.lora_B["all"].data.copy_(B)
    x = torch.randn(5, 7, 24)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    merged = theirs.merge_and_unload()
    ours.merge()
    assert torch.allclose(ours.weight, merged.layer.weight, atol=1e-6)


def test_initialisation_follows_peft_b_zero_and_a_kaiming_uniform():
    torch.manual_seed(0)
    ours = lora.LoRALinear(nn.Linear(64, 64), 8, 16.0, {"all": (0, 64)})
    theirs = peft_lora(nn.Linear(64, 64), 8, 16.0).base_model.model.layer
    assert torch.count_nonzero(ours.lora_B["all"]) == 0
    bound = theirs.lora_A["default"].weight.abs().max().item()
    a = ours.lora_A["all"]
    assert a.abs().max().item() <= 1 / 64 ** 0.5 + 1e-6 and bound <= 1 / 64 ** 0.5 + 1e-6  # kaiming-uniform(√5)
    assert a.std().item() == pytest.approx(theirs.lora_A["default"].weight.std().item(), rel=0.15)


def test_an_adapter_on_query_updates_only_the_query_rows_of_the_fused_matrix():
    torch.manual_seed(1)
    C = 16
    qkv = nn.Linear(C, 3 * C, bias=False)
    layer = lora.LoRALinear(qkv, 2, 4.0, {"query": (0, C), "value": (2 * C, 3 * C)})
    for p in (*layer.lora_A.values(), *layer.lora_B.values()):
        nn.init.normal_(p)
    x = torch.randn(3, C)
    plain = x @ layer.weight.T
    out = layer(x)
    assert torch.equal(out[:, C:2 * C], plain[:, C:2 * C])  # keys untouched
    for name, rows in (("query", slice(0, C)), ("value", slice(2 * C, 3 * C))):
        # the same as peft on the separate query (or value) matrix
        alone = nn.Linear(C, C, bias=False)
        alone.weight.data.copy_(layer.weight.data[rows])
        theirs = peft_lora(alone, 2, 4.0).base_model.model.layer
        theirs.lora_A["default"].weight.data.copy_(layer.lora_A[name].data)
        theirs.lora_B["default"].weight.data.copy_(layer.lora_B[name].data)
        assert torch.allclose(out[:, rows], theirs(x), atol=1e-5)


def small():
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(vocab_size=20, block_size=8, n_embd=16, n_head=2, n_layer=2))


def test_at_step_zero_the_adapted_model_is_the_base_model_and_merging_changes_nothing_it_computes():
    model = small()
    x = torch.randint(20, (3, 8))
    before = model(x)[0]
    lora.apply_lora(model, 4, 8.0, list(lora.TARGETS))
    assert torch.equal(model(x)[0], before)  # B = 0
    for layer in lora.layers(model).values():
        for b in layer.lora_B.values():
            nn.init.normal_(b, std=0.1)
    adapted = model(x)[0]
    assert not torch.allclose(adapted, before)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    lora.merge(model)
    assert torch.allclose(model(x)[0], adapted, atol=1e-5)
    lora.unmerge(model)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())  # W exactly, not W + ΔW - ΔW
    assert torch.equal(model(x)[0], adapted)
    checks = lora.merge_check(model, x)
    assert checks["merged"] < 1e-5 and checks["unmerged"] == 0.0
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())  # checked on a copy
    parts = model.param_breakdown()
    assert parts["adapters"] == sum(p.numel() for n, p in model.named_parameters() if lora.is_adapter(n))
    assert sum(parts.values()) == model.num_params()


def test_only_adapters_are_trainable_and_bad_requests_are_explained():
    model = small()
    lora.apply_lora(model, 2, 4.0, ["query", "value"])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(lora.is_adapter(n) for n in trainable)
    assert lora.problems(small(), 4, []) and "at least one" in lora.problems(small(), 4, [])[0]
    assert "larger than the matrix" in " ".join(lora.problems(small(), 17, ["query"]))
    assert "unknown" in " ".join(lora.problems(small(), 2, ["attention"]))
    lm1 = LanguageModel(ModelConfig(vocab_size=20, block_size=8, n_embd=16, n_head=1, proj=False, ffwd="none"))
    assert "none of the matrices" in " ".join(lora.problems(lm1, 2, ["attn_out", "ffwd"]))
    with pytest.raises(LearnerError, match="already has adapters"):
        lora.apply_lora(model, 2, 4.0, ["key"])
