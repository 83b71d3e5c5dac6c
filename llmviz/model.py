"""The language models of tutorial part 2: LM1 ... LM5 as presets of one small decoder-only transformer.

Each model of the tutorial adds one idea to the previous one. Instead of five classes, there is one
`LanguageModel` whose `ModelConfig` switches those ideas on and off:

    token ids -> token embedding (+ position embedding) -> [block] x n_layer -> (layer norm) -> head -> logits
    block:  x -> (norm) -> multi-head attention (+ x) -> (norm) -> feed-forward (+ x)

Attention runs through torch's fused `scaled_dot_product_attention`; `attention_maps()` computes the
same weights with the textbook formula softmax(Q·Kᵀ/√d)·V so the app can draw them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

FFWD_KINDS = ("none", "relu", "mlp")


@dataclass
class ModelConfig:
    vocab_size: int = 65  # distinct tokens (Tiny Shakespeare has 65 characters)
    block_size: int = 16  # context length: the most tokens the model looks at
    n_embd: int = 32  # width of each token's vector
    n_head: int = 2  # attention heads per block; each head has n_embd // n_head dimensions
    n_layer: int = 1  # blocks stacked one after the other
    causal: bool = True  # mask the future: a position may only attend to itself and the past
    pos_emb: bool = True  # add a learned position embedding, so the order of tokens is visible
    ffwd: str = "mlp"  # after attention: "none", "relu" (Linear+ReLU, LM3), "mlp" (Linear-ReLU-Linear, LM4+)
    ff_mult: int = 4  # hidden width of the "mlp" feed-forward, as a multiple of n_embd
    residual: bool = True  # add each sub-layer's input to its output (x + f(x))
    layer_norm: bool = True  # pre-norm layer normalisation in each block, plus one before the head
    dropout: float = 0.0  # probability of zeroing activations while training
    proj: bool = True  # a linear projection mixing the heads' outputs (LM1's single head has none)
    init_std: float = 0.0  # 0: PyTorch's default init, as in the tutorial; > 0: normal(0, init_std), as GPT-2

    def __post_init__(self):
        # accept booleans for ffwd: True is the transformer's usual two-layer MLP
        if self.ffwd is True:
            self.ffwd = "mlp"
        elif self.ffwd is False or self.ffwd is None:
            self.ffwd = "none"

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def problems(self) -> list[str]:
        """What makes this configuration unusable, in plain words (empty when it is fine)."""
        out = []
        for name in ("vocab_size", "block_size", "n_embd", "n_head", "n_layer"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be at least 1 (it is {getattr(self, name)}).")
        if self.n_head >= 1 and self.n_embd % self.n_head:
            out.append(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                       f"each head gets n_embd / n_head dimensions.")
        if self.ffwd not in FFWD_KINDS:
            out.append(f"ffwd must be one of {', '.join(FFWD_KINDS)} (it is {self.ffwd!r}).")
        if self.ff_mult < 1:
            out.append(f"ff_mult must be at least 1 (it is {self.ff_mult}).")
        if not 0.0 <= self.dropout < 1.0:
            out.append(f"dropout is a probability in [0, 1) (it is {self.dropout}).")
        if not self.proj and self.n_head > 1:
            out.append("several heads need the output projection (proj) to mix their results.")
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --- the tutorial's models, as presets ---------------------------------------------------------------

# the tutorial's training settings for LM1-LM5 (llmviz.train.TrainConfig field names)
TUTORIAL_TRAINING = dict(learning_rate=3e-4, batch_size=64, max_iters=5000, eval_interval=200, eval_iters=100)


@dataclass(frozen=True)
class Preset:
    title: str
    description: str  # what this model adds and why, in one paragraph
    model: dict  # ModelConfig fields (all but vocab_size)
    train: dict = field(default_factory=lambda: dict(TUTORIAL_TRAINING))  # TrainConfig fields


_SMALL = dict(block_size=16, n_embd=32, n_head=2, dropout=0.0)
_NO_EXTRAS = dict(pos_emb=False, ffwd="none", residual=False, layer_norm=False)

PRESETS: dict[str, Preset] = {
    "lm1": Preset(
        "LM1 · one attention head (unmasked)",
        "Token embedding -> one attention head -> a linear layer to the vocabulary. Nothing stops a "
        "position from attending to the tokens after it, so during training it can peek at the very "
        "character it must predict: its training loss looks good, but at generation time the future "
        "is not there and the samples are garbage. This is the 'cheating' model.",
        dict(_SMALL, n_head=1, n_layer=1, causal=False, proj=False, **_NO_EXTRAS),
    ),
    "lm1-masked": Preset(
        "LM1 · masked attention",
        "The same single head, with the causal mask: attention scores to later positions are set to "
        "-inf before the softmax, so each position only sees itself and the past. The loss is now "
        "honest (higher than the cheating model's) and the samples start to look like text.",
        dict(_SMALL, n_head=1, n_layer=1, causal=True, proj=False, **_NO_EXTRAS),
    ),
    "lm2": Preset(
        "LM2 · multi-head attention + positions",
        "Several smaller heads look for different things in parallel and a projection mixes their "
        "results; a learned position embedding tells the model where each token sits, which plain "
        "attention (a weighted average) cannot know.",
        dict(_SMALL, n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="none", residual=False, layer_norm=False),
    ),
    "lm3": Preset(
        "LM3 · + a feed-forward layer",
        "Attention gathers information from other positions; a feed-forward layer (Linear + ReLU) then "
        "lets each position think about what it gathered, on its own.",
        dict(_SMALL, n_layer=1, causal=True, proj=True, pos_emb=True, ffwd="relu", residual=False, layer_norm=False),
    ),
    "lm4": Preset(
        "LM4 · stacked blocks with residual connections",
        "Four transformer blocks (attention + a 4x wider two-layer feed-forward) one after the other. "
        "Each block adds its result to its input (x + f(x)), a residual path that lets gradients reach "
        "the first blocks, so depth helps instead of hurting.",
        dict(_SMALL, n_layer=4, causal=True, proj=True, pos_emb=True, ffwd="mlp", ff_mult=4, residual=True, layer_norm=False),
    ),
    "lm5": Preset(
        "LM5 · layer normalisation + dropout",
        "Layer normalisation before each sub-layer and before the head keeps activations at a steady "
        "scale so training stays stable; dropout (off at this small size) fights over-fitting once "
        "the model is scaled up. Two blocks already match LM4's four.",
        dict(_SMALL, n_layer=2, causal=True, proj=True, pos_emb=True, ffwd="mlp", ff_mult=4, residual=True, layer_norm=True),
    ),
    "lm5-scaled": Preset(
        "LM5 · scaled up (10.8 M parameters)",
        "LM5 with a 256-character context, 384-wide embeddings, 6 heads, 6 blocks and dropout 0.2: the "
        "size of nanoGPT's 'baby GPT'. It writes convincing pseudo-Shakespeare, but needs a GPU: one "
        "step takes tens of seconds on a small CPU.",
        dict(block_size=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2, causal=True, proj=True, pos_emb=True,
             ffwd="mlp", ff_mult=4, residual=True, layer_norm=True),
        dict(TUTORIAL_TRAINING, eval_interval=500, eval_iters=200),
    ),
    "fast-cpu": Preset(
        "LM5 · fast on a CPU",
        "Not in the tutorial: the quickest way we measured to a validation loss of 1.88 on Tiny Shakespeare "
        "(90/10 split) on a small CPU, about a third of the time nanoGPT's CPU recipe takes "
        "(bench/bench_fast_cpu.py). LM5's shape with a 64-character context and 96-wide embeddings in 2 "
        "blocks of 4 heads, GPT-2's small initial weights, and a high learning rate that warms up for 50 "
        "steps and then decays along a cosine over 1800 steps of 12 sequences.",
        dict(block_size=64, n_embd=96, n_head=4, n_layer=2, dropout=0.0, causal=True, proj=True, pos_emb=True,
             ffwd="mlp", ff_mult=4, residual=True, layer_norm=True, init_std=0.02),
        dict(learning_rate=4e-3, min_lr=4e-4, warmup_iters=50, lr_decay=True, max_iters=1800, batch_size=12,
             beta2=0.99, weight_decay=0.1, grad_clip=1.0, val_fraction=0.1, eval_interval=300, eval_iters=50),
    ),
}


def preset_config(name: str, vocab_size: int) -> ModelConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return ModelConfig(vocab_size=vocab_size, **PRESETS[name].model)


# --- the network ---------------------------------------------------------------------------------------

class MultiHeadAttention(nn.Module):
    """n_head attention heads computed at once: the heads are a batch dimension, not a Python list."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.causal, self.dropout = cfg.n_head, cfg.causal, cfg.dropout
        # query, key and value projections of every head, in one matrix
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd) if cfg.proj else None
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, explicit: bool = False):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        # split the channels into heads: (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        weights = None
        if explicit:
            # the textbook formula: softmax(Q·Kᵀ / √d) · V
            att = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, nh, T, T)
            if self.causal:
                future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
                att = att.masked_fill(future, float("-inf"))  # exp(-inf) = 0: no weight on the future
            weights = F.softmax(att, dim=-1)  # (B, nh, T, T), each row sums to 1
            y = self.attn_drop(weights) @ v  # (B, nh, T, hs)
        else:
            # the same maths in one fused kernel, without materialising the T x T matrix
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                               dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again: (B, T, C)
        if self.proj is not None:
            y = self.resid_drop(self.proj(y))
        return y, weights


class FeedForward(nn.Module):
    """Applied to each position on its own: LM3's Linear+ReLU, or the transformer's 4x wider MLP."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.ffwd == "relu":
            self.net = nn.Sequential(nn.Linear(cfg.n_embd, cfg.n_embd), nn.ReLU())
        else:
            hidden = cfg.ff_mult * cfg.n_embd
            self.net = nn.Sequential(nn.Linear(cfg.n_embd, hidden), nn.ReLU(), nn.Linear(hidden, cfg.n_embd),
                                     nn.Dropout(cfg.dropout))

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """Attention (communication between positions), then feed-forward (computation at each position)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.residual = cfg.residual
        norm = (lambda: nn.LayerNorm(cfg.n_embd)) if cfg.layer_norm else nn.Identity
        self.ln1 = norm()
        self.attn = MultiHeadAttention(cfg)
        self.ln2 = norm()
        self.ffwd = FeedForward(cfg) if cfg.ffwd != "none" else None

    def forward(self, x, explicit: bool = False):
        a, weights = self.attn(self.ln1(x), explicit)
        x = x + a if self.residual else a
        if self.ffwd is not None:
            f = self.ffwd(self.ln2(x))
            x = x + f if self.residual else f
        return x, weights


class LanguageModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        problems = cfg.problems()
        if problems:
            raise ValueError(" ".join(problems))
        self.config = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.position_embedding = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.pos_emb else None
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd) if cfg.layer_norm else nn.Identity()
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)
        if cfg.init_std > 0:
            self.apply(self._init_weights)

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=self.config.init_std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, explicit: bool = False):
        """Logits for every position (B, T, vocab) and, given targets (B, T), the mean cross-entropy."""
        x, _ = self._body(idx, explicit)
        logits = self.lm_head(x)  # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def _body(self, idx, explicit):
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"the input has {T} tokens but the model's context (block_size) is {self.config.block_size}")
        x = self.token_embedding(idx)  # (B, T, C)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(T, device=idx.device))  # (T, C) broadcast over B
        x = self.drop(x)
        maps = []
        for block in self.blocks:
            x, weights = block(x, explicit)
            maps.append(weights)
        return self.ln_f(x), maps

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Attention weights of one sequence (T,) or (1, T): a (n_layer, n_head, T, T) tensor whose
        row i says how much position i draws from each position j."""
        was_training = self.training
        self.eval()
        try:
            _, maps = self._body(idx.view(1, -1), explicit=True)
        finally:
            self.train(was_training)
        return torch.stack([m[0] for m in maps])  # (n_layer, n_head, T, T)

    def param_breakdown(self) -> dict[str, int]:
        """Number of parameters per component, in the order data flows through them."""
        parts = {"token embedding": 0, "position embedding": 0, "attention": 0, "feed-forward": 0,
                 "layer norms": 0, "head": 0}
        for name, p in self.named_parameters():
            if name.startswith("token_embedding"):
                part = "token embedding"
            elif name.startswith("position_embedding"):
                part = "position embedding"
            elif ".attn." in name:
                part = "attention"
            elif ".ffwd." in name:
                part = "feed-forward"
            elif name.startswith("lm_head"):
                part = "head"
            else:
                part = "layer norms"
            parts[part] += p.numel()
        return parts

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        """idx (B, T) extended by max_new_tokens sampled tokens (see llmviz.generate for streaming)."""
        from llmviz.generate import sample_next

        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            idx = torch.cat([idx, sample_next(logits[:, -1, :], temperature, top_k)], dim=1)  # (B, T+1)
        return idx
