"""nanoGPT's model and training step, re-implemented for side-by-side speed measurements.

This follows karpathy/nanoGPT (model.py and train.py) as its README's CPU recipe runs it:

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

What matters for speed and is kept: Q, K and V in one Linear; torch's fused scaled_dot_product_attention
(is_causal); GELU MLP 4x wide; LayerNorm with bias; the head tied to the token embedding; GPT-2's init
(normal 0.02, residual projections 0.02/sqrt(2 n_layer)); AdamW on two groups (matrices decay) with
torch's default implementation on a CPU (nanoGPT asks for the fused kernel on CUDA only); batches built
by stacking Python slices of the token array; the loss read with .item() every step (log_interval=1);
learning rate set every step; grad clipping 1.0; no thread setting (torch's default).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc, self.gelu, self.c_proj = nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(n_embd), CausalSelfAttention(n_embd, n_head)
        self.ln_2, self.mlp = nn.LayerNorm(n_embd), MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.block_size = block_size
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(0, t, dtype=torch.long, device=idx.device))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas)  # no fused kernel off CUDA


def encode(text: str) -> np.ndarray:
    """The text as character ids (sorted characters), as nanoGPT's shakespeare_char/prepare.py writes them."""
    stoi = {c: i for i, c in enumerate(sorted(set(text)))}
    return np.array([stoi[c] for c in text], dtype=np.uint16)


def get_batch(data: np.ndarray, block_size: int, batch_size: int):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy(data[i:i + block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + block_size].astype(np.int64)) for i in ix])
    return x, y


def get_lr(it, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000):
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)


class Trainer:
    """nanoGPT's train.py loop on a CPU, one iteration at a time (so a benchmark can interleave it)."""

    def __init__(self, train_data: np.ndarray, val_data: np.ndarray, vocab_size=65, block_size=64, batch_size=12,
                 n_layer=4, n_head=4, n_embd=128, max_iters=2000, eval_interval=250, eval_iters=20):
        self.model = GPT(vocab_size, block_size, n_layer, n_head, n_embd)
        self.opt = self.model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
        self.data = {"train": train_data, "val": val_data}
        self.block_size, self.batch_size, self.max_iters = block_size, batch_size, max_iters
        self.eval_interval, self.eval_iters = eval_interval, eval_iters
        self.iter_num, self.losses = 0, []
        self.X, self.Y = get_batch(train_data, block_size, batch_size)

    @torch.no_grad()
    def estimate_loss(self):
        self.model.eval()
        out = {}
        for split in ("train", "val"):
            losses = torch.zeros(self.eval_iters)
            for k in range(self.eval_iters):
                _, loss = self.model(*get_batch(self.data[split], self.block_size, self.batch_size))
                losses[k] = loss.item()
            out[split] = losses.mean().item()
        self.model.train()
        return out

    def step(self):
        lr = get_lr(self.iter_num, lr_decay_iters=self.max_iters)
        for group in self.opt.param_groups:
            group["lr"] = lr
        if self.iter_num % self.eval_interval == 0:
            self.losses.append((self.iter_num, self.estimate_loss()))
        _, loss = self.model(self.X, self.Y)
        self.X, self.Y = get_batch(self.data["train"], self.block_size, self.batch_size)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        loss.item()  # log_interval=1
        self.iter_num += 1

    def run(self):
        while self.iter_num <= self.max_iters:  # nanoGPT evaluates at max_iters, then stops
            if self.iter_num == self.max_iters:
                self.losses.append((self.iter_num, self.estimate_loss()))
                break
            self.step()
        return self.losses[-1][1]
