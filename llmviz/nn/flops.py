"""How much arithmetic a training step is, and how much of a GPU's peak it uses (model FLOPs utilisation).

A training step on one token costs about 6 floating-point operations per weight of every matrix product:
2 for the forward pass (a multiply and an add), 4 for the backward pass (the gradient of the input and
of the weight). Attention adds its own products, which have no weights: Q·Kᵀ and the weights times V,
2·T·C each per token and layer forward, three times that with the backward pass. So, per token,

    flops ≈ 6 · (weights in matrix products) + 12 · n_layer · T · C

(the PaLM paper's estimate, used by nanoGPT's `estimate_mfu`; T is the context, C the width).
Model FLOPs utilisation (MFU) is the achieved rate, flops per token × tokens per second, as a share of
the device's peak: 30-50 % is good for a small model on a big GPU, where much time goes to other work.
"""

from __future__ import annotations

import torch.nn as nn

# dense (no sparsity) peak tensor-core FLOP/s: (bfloat16, TF32), from the makers' data sheets; looked up by
# the first key found in the device's name, so a longer name comes before its prefix (A100 before A10, L40S
# before L4)
PEAK_FLOPS = {
    "H200": (989e12, 495e12),
    "H100": (989e12, 495e12),  # SXM; the PCIe card peaks at about 756 / 378
    "A100": (312e12, 156e12),
    "L40S": (362e12, 183e12),
    "A10": (125e12, 62.5e12),
    "L4": (121e12, 60e12),
}


def matmul_weights(model: nn.Module) -> int:
    """Weights that take part in a matrix product: every Linear layer's weight (the head included),
    not the embedding tables (a look-up), the biases or the layer norms (no product)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: nn.Module, context: int | None = None) -> float:
    """Forward and backward FLOPs of one training token (see the module's docstring)."""
    cfg = model.config
    T = context or cfg.block_size
    return 6 * matmul_weights(model) + 12 * cfg.n_layer * T * cfg.n_embd


def peak_flops(device_name: str, bfloat16: bool = True) -> float | None:
    """The device's dense peak, or None when it is not in PEAK_FLOPS (MFU is then not shown)."""
    for key, (bf16, tf32) in PEAK_FLOPS.items():
        if key in device_name:
            return bf16 if bfloat16 else tf32
    return None


def mfu(tokens_per_s: float, model: nn.Module, device_name: str, bfloat16: bool = True) -> float | None:
    """Model FLOPs utilisation in [0, 1], or None for a device whose peak is unknown (a CPU, say)."""
    peak = peak_flops(device_name, bfloat16)
    if peak is None or tokens_per_s <= 0:
        return None
    return tokens_per_s * flops_per_token(model) / peak
