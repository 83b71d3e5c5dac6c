"""Rotary position embeddings (RoPE, Su et al. 2021; GPT-NeoX, LLaMA, the NanoGPT speedrun).

Instead of adding a learned position vector to each token, rotate each head's query and key by an angle
that grows with the position: the pair of channels (x_i, x_{i+d/2}) of position t turns by t·θ_i, with
θ_i = base^(-2i/d) (fast turns in the first pairs, slow ones in the last). Written as complex numbers,
z_i = x_i + j·x_{i+d/2} becomes z_i·e^{j·t·θ_i}. Then q_m·k_n depends on m − n only: attention sees how
far apart two tokens are, never where they stand, and no parameter is learned.
"""

from __future__ import annotations

import torch

BASE = 10_000.0


def angles(length: int, head_size: int, device=None, base: float = BASE) -> torch.Tensor:
    """(length, head_size // 2): the angle t·θ_i of each position t and channel pair i."""
    theta = base ** (-torch.arange(0, head_size, 2, device=device, dtype=torch.float32) / head_size)
    return torch.outer(torch.arange(length, device=device, dtype=torch.float32), theta)


def rotate(x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """x (..., T, d) with its channel pairs (i, i + d/2) at position t turned by phi[t, i]."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    cos, sin = phi.cos(), phi.sin()
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).to(x.dtype)
