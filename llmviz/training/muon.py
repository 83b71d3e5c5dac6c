"""Muon (the NanoGPT speedrun's optimizer, Keller Jordan 2024): momentum, then orthogonalised.

For a weight matrix, AdamW moves each entry by its own normalised gradient. Muon looks at the whole
matrix: it keeps a momentum of the gradient G and replaces it by the nearest matrix with all singular
values equal, U·Vᵀ when G = U·S·Vᵀ. Every direction the gradient points in then moves by the same amount:
directions that a few large singular values would drown out learn too. Computing U·Vᵀ with an SVD is slow
on a GPU; a few Newton–Schulz steps (matrix products only) get close enough:

    X ← G / ‖G‖            (every singular value now in (0, 1])
    repeat 5 times:  A = X·Xᵀ;  X ← a·X + (b·A + c·A²)·X

Each step maps every singular value σ to a·σ + b·σ³ + c·σ⁵ and leaves the singular vectors alone. The
speedrun's quintic (a, b, c) = (3.4445, -4.7750, 2.0315) pushes small σ up fast: after five steps every
singular value that started at 0.15 % of ‖G‖ or more lies between 0.68 and 1.21 (measured here; torch's
bfloat16 version is quoted as "about 0.5 to 1.5"), not at 1 exactly: close enough, and it does not hurt.
Directions far weaker than that stay weak.
The classic cubic (1.5, -0.5, 0) converges to U·Vᵀ itself, slowly. tests/test_modern.py checks both
against torch's SVD, and a whole step against torch.optim.Muon.

Muon is for the matrices inside the blocks; the embedding table, the head and every vector (biases,
norm gains) keep AdamW (llmviz.training.optim), as in the speedrun.
"""

from __future__ import annotations

import math

import torch

QUINTIC = (3.4445, -4.7750, 2.0315)  # the speedrun's coefficients: fast, approximately orthogonal
CUBIC = (1.5, -0.5, 0.0)  # the textbook iteration: converges to U·Vᵀ


def newton_schulz(g: torch.Tensor, steps: int = 5, coefficients=QUINTIC, eps: float = 1e-7) -> torch.Tensor:
    """An approximately orthogonal matrix with the singular vectors of g (U·S'·Vᵀ, S' near 1), in float32."""
    a, b, c = coefficients
    x = g.float()
    wide = x.size(0) <= x.size(1)
    x = x if wide else x.T  # X·Xᵀ is then the smaller square
    x = x / x.norm().clamp(min=eps)  # Frobenius ≥ spectral norm: every singular value ≤ 1
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x if wide else x.T


class Muon(torch.optim.Optimizer):
    """Momentum (Nesterov's by default) orthogonalised by newton_schulz, for 2-D parameters only.

    The step size is scaled by √max(1, rows/cols), as torch.optim.Muon does ("original"), and weight
    decay is decoupled, as in AdamW."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 weight_decay: float = 0.0, ns_steps: int = 5):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      ns_steps=ns_steps))
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon orthogonalises matrices; a parameter of shape {tuple(p.shape)} is not one")

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - momentum)
                update = p.grad.lerp(buf, momentum) if group["nesterov"] else buf
                update = newton_schulz(update, group["ns_steps"]).to(p.dtype)
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * math.sqrt(max(1.0, p.size(0) / p.size(1))))
