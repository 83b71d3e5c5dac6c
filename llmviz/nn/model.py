"""The language models of tutorial part 2: LM1 ... LM5 as presets of one small decoder-only transformer.

Each model of the tutorial adds one idea to the previous one. Instead of five classes, there is one
`LanguageModel` whose `ModelConfig` switches those ideas on and off:

    token ids -> token embedding (+ position embedding) -> [block] x n_layer -> (layer norm) -> head -> logits
    block:  x -> (norm) -> multi-head attention (+ x) -> (norm) -> feed-forward (+ x)

Attention runs through torch's fused `scaled_dot_product_attention`; asked to record what it computes,
the model uses the textbook formula softmax(Q·Kᵀ/√d)·V instead, so the app can draw the weights. The
tutorial's settings for each model are in llmviz.training.presets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmviz.nn import rotary

FFWD_KINDS = ("none", "relu", "mlp", "relu2")
IGNORE = -100  # a target with this id is not learned from (torch's cross-entropy ignore_index)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = field(default=65, metadata={"help": "distinct tokens (Tiny Shakespeare has 65 characters)"})
    block_size: int = field(default=16, metadata={"help": "context length: the most tokens the model looks at"})
    n_embd: int = field(default=32, metadata={"help": "width of each token's vector"})
    n_head: int = field(default=2, metadata={
        "help": "attention heads per block; each head has n_embd // n_head dimensions"})
    n_layer: int = field(default=1, metadata={"help": "blocks stacked one after the other"})
    causal: bool = field(default=True, metadata={
        "help": "mask the future: a position may only attend to itself and the past"})
    pos_emb: bool = field(default=True, metadata={
        "help": "add a learned position embedding, so the order of tokens is visible"})
    ffwd: str = field(default="mlp", metadata={
        "help": 'after attention: "none", "relu" (Linear+ReLU, LM3), "mlp" (Linear-ReLU-Linear, LM4+)'})
    ff_mult: int = field(default=4, metadata={
        "help": 'hidden width of the "mlp" feed-forward, as a multiple of n_embd'})
    residual: bool = field(default=True, metadata={"help": "add each sub-layer's input to its output (x + f(x))"})
    layer_norm: bool = field(default=True, metadata={
        "help": "pre-norm layer normalisation in each block, plus one before the head"})
    dropout: float = field(default=0.0, metadata={"help": "probability of zeroing activations while training"})
    proj: bool = field(default=True, metadata={
        "help": "a linear projection mixing the heads' outputs (LM1's single head has none)"})
    init_std: float = field(default=0.0, metadata={
        "help": "0: PyTorch's default init, as in the tutorial; > 0: normal(0, init_std), as GPT-2"})
    # what changed since GPT-2 (the NanoGPT speedrun's recipe); all off in the tutorial's models
    rope: bool = field(default=False, metadata={
        "help": "rotary position embeddings: turn each head's queries and keys by their position (use with pos_emb off)"})
    qk_norm: bool = field(default=False, metadata={
        "help": "RMS-normalise each head's queries and keys before their dot product, so scores cannot blow up"})
    rms_norm: bool = field(default=False, metadata={
        "help": "RMSNorm (divide by the root mean square; no mean, no bias) wherever layer_norm puts a norm"})
    zero_init: bool = field(default=False, metadata={
        "help": "start each block's output projections and the head at zero: every block begins as the identity"})

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
        if self.rope and self.n_head >= 1 and self.n_embd % self.n_head == 0 and (self.n_embd // self.n_head) % 2:
            out.append(f"rotary embeddings turn pairs of channels: each head's size (n_embd / n_head = "
                       f"{self.n_embd // self.n_head}) must be even.")
        if not self.proj and self.n_head > 1:
            out.append("several heads need the output projection (proj) to mix their results.")
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# --- the network ---------------------------------------------------------------------------------------
#
# Dropout is only active when the caller says so (`train=True`): generation, loss estimates and the
# app's views call the model with train=False and never switch a shared model between modes, so many
# threads can use one model at once. The trainer passes train=True.

def make_norm(cfg: ModelConfig) -> nn.Module:
    """The normalisation of a block's sub-layers: LayerNorm, or RMSNorm with rms_norm."""
    return nn.RMSNorm(cfg.n_embd) if cfg.rms_norm else nn.LayerNorm(cfg.n_embd)


def _dropout(x: torch.Tensor, p: float, train: bool) -> torch.Tensor:
    return F.dropout(x, p, training=True) if train and p > 0 else x


class MultiHeadAttention(nn.Module):
    """n_head attention heads computed at once: the heads are a batch dimension, not a Python list.

    Self-attention takes its queries, keys and values from the same sequence x. Cross-attention (the
    decoder of an encoder-decoder looking at the source sentence) is the same module with `cross=True`:
    the queries come from x, the keys and values from another sequence `kv` (the encoder's output), so
    the weights are a (T, S) table: target position × source position. `key_mask` (B, S), True at real
    tokens, keeps padding out: no query gives weight to a padded key."""

    def __init__(self, cfg: ModelConfig, cross: bool = False):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.causal = cfg.causal and not cross  # the whole source is there to look at: no future to hide
        self.record_as = "cross_attention" if cross else "attention"
        self.rope, self.qk_norm = cfg.rope, cfg.qk_norm
        # query, key and value projections of every head, in one matrix (rows: W_Q, then W_K, then W_V)
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd) if cfg.proj else None

    def forward(self, x: torch.Tensor, train: bool = False, record: dict | None = None, *,
                kv: torch.Tensor | None = None, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        if kv is None:
            q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        else:  # the same W_Q on x, the same W_K and W_V on the other sequence
            q = F.linear(x, self.qkv.weight[:C])  # (B, T, C)
            k, v = F.linear(kv, self.qkv.weight[C:]).split(C, dim=2)  # 2 x (B, S, C)
        S = k.size(1)
        # split the channels into heads: (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, t.size(1), self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.qk_norm:
            q, k = F.rms_norm(q, (q.size(-1),)), F.rms_norm(k, (k.size(-1),))
        if self.rope and kv is None:
            phi = rotary.angles(T, q.size(-1), x.device)
            q, k = rotary.rotate(q, phi), rotary.rotate(k, phi)
        allowed = None  # (B or 1, 1, T, S): where a query may look; None: everywhere
        if self.causal:
            allowed = torch.ones(T, S, dtype=torch.bool, device=x.device).tril()[None, None]
        if key_mask is not None:
            keys = key_mask[:, None, None, :].bool()  # (B, 1, 1, S)
            allowed = keys if allowed is None else allowed & keys
        if record is not None:
            # the textbook formula, so the weights can be kept: softmax(Q·Kᵀ / √d) · V
            att = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, nh, T, S)
            if allowed is not None:
                att = att.masked_fill(~allowed, float("-inf"))  # exp(-inf) = 0: no weight on the future or padding
            weights = F.softmax(att, dim=-1)  # (B, nh, T, S), each row sums to 1
            record.setdefault(self.record_as, []).append(weights)
            y = _dropout(weights, self.dropout, train) @ v  # (B, nh, T, hs)
        else:
            # the same maths in one fused kernel, without materialising the T x S matrix
            p = self.dropout if train else 0.0
            if key_mask is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, dropout_p=p)
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again: (B, T, C)
        if self.proj is not None:
            y = _dropout(self.proj(y), self.dropout, train)
        return y


class ReLUSquared(nn.Module):
    """relu(x)²: the speedrun's activation (Primer, So et al. 2021): as cheap as ReLU, sharper."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).square()


class FeedForward(nn.Module):
    """Applied to each position on its own: LM3's Linear+ReLU, or the transformer's 4x wider MLP."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.dropout = cfg.dropout
        if cfg.ffwd == "relu":
            self.net = nn.Sequential(nn.Linear(cfg.n_embd, cfg.n_embd), nn.ReLU())
        else:
            hidden = cfg.ff_mult * cfg.n_embd
            act = ReLUSquared() if cfg.ffwd == "relu2" else nn.ReLU()
            self.net = nn.Sequential(nn.Linear(cfg.n_embd, hidden), act, nn.Linear(hidden, cfg.n_embd))
        self.mlp = cfg.ffwd != "relu"

    def forward(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        y = self.net(x)
        return _dropout(y, self.dropout, train) if self.mlp else y


class Block(nn.Module):
    """Attention (communication between positions), then feed-forward (computation at each position).

    With cross=True (a decoder block of an encoder-decoder) a third sub-layer sits between the two:
    cross-attention from this sequence to the encoder's output `memory`."""

    def __init__(self, cfg: ModelConfig, cross: bool = False):
        super().__init__()
        self.residual = cfg.residual
        norm = (lambda: make_norm(cfg)) if cfg.layer_norm else nn.Identity
        self.ln1 = norm()
        self.attn = MultiHeadAttention(cfg)
        self.ln_cross = norm() if cross else None
        self.cross_attn = MultiHeadAttention(cfg, cross=True) if cross else None
        self.ln2 = norm()
        self.ffwd = FeedForward(cfg) if cfg.ffwd != "none" else None

    def _add(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y if self.residual else y

    def forward(self, x: torch.Tensor, train: bool = False, record: dict | None = None, *,
                mask: torch.Tensor | None = None, memory: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, C); mask (B, T) and memory_mask (B, S): True at real tokens; memory (B, S, C)."""
        x = self._add(x, self.attn(self.ln1(x), train, record, key_mask=mask))
        if self.cross_attn is not None:
            x = self._add(x, self.cross_attn(self.ln_cross(x), train, record, kv=memory, key_mask=memory_mask))
        if self.ffwd is not None:
            x = self._add(x, self.ffwd(self.ln2(x), train))
        return x


class LanguageModel(nn.Module):
    """token ids (B, T) -> logits (B, T, vocab): LM1 ... LM5 are configurations of this one network."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        problems = cfg.problems()
        if problems:
            raise ValueError(" ".join(problems))
        self.config = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.position_embedding = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.pos_emb else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = make_norm(cfg) if cfg.layer_norm else nn.Identity()
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size)
        self.adapters = None  # a llmviz.nn.lora.AdapterSpec once llmviz.nn.lora.apply_lora put adapters on it
        if cfg.init_std > 0:
            self.apply(self._init_weights)
        if cfg.zero_init:
            zero_outputs(self)

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=self.config.init_std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, *, train: bool = False,
                record: dict | None = None):
        """Logits for every position (B, T, vocab) and, given targets (B, T), the mean cross-entropy over
        the targets that are not IGNORE (a prompt or padding the loss must not learn from).

        train=True turns dropout on (the trainer's steps); inference leaves it off and never changes the
        model. Pass a dict as `record` to keep every intermediate result of this very forward pass (the
        app's "look inside" views read them): "token_emb" (B, T, C), "pos_emb" (T, C) or None,
        "attention" per block (B, nh, T, T), "block_out" per block (B, T, C)."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"the input has {T} tokens but the model's context (block_size) is {self.config.block_size}")
        tok = self.token_embedding(idx)  # (B, T, C)
        pos = self.position_embedding(torch.arange(T, device=idx.device)) if self.position_embedding is not None else None
        x = tok + pos if pos is not None else tok  # (T, C) broadcast over B
        if record is not None:
            record.update(token_emb=tok, pos_emb=pos, attention=[], block_out=[])
        x = _dropout(x, self.config.dropout, train)
        for block in self.blocks:
            x = block(x, train, record)
            if record is not None:
                record["block_out"].append(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Attention weights of one sequence (T,) or (1, T): a (n_layer, n_head, T, T) tensor whose
        row i says how much position i draws from each position j."""
        record: dict = {}
        self(idx.view(1, -1), record=record)
        return torch.stack([w[0] for w in record["attention"]])  # (n_layer, n_head, T, T)

    def param_breakdown(self) -> dict[str, int]:
        """Number of parameters per component, in the order data flows through them."""
        return param_breakdown(self, ("token embedding", "position embedding", "attention", "feed-forward",
                                      "layer norms", "head"), _part_of)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


@torch.no_grad()
def zero_outputs(model: nn.Module) -> None:
    """Zero every block's output projections (attention's and the feed-forward's last layer) and the head:
    each residual block then starts by adding nothing, and the first logits are all equal."""
    for m in model.modules():
        if isinstance(m, MultiHeadAttention) and m.proj is not None:
            last = [m.proj]
        elif isinstance(m, FeedForward) and m.mlp:
            last = [m.net[-1]]
        else:
            continue
        for layer in last:
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()
    head = getattr(model, "lm_head", None)
    if head is not None:
        head.weight.zero_()
        if head.bias is not None:
            head.bias.zero_()


def _part_of(name: str) -> str:
    for prefix, part in (("token_embedding", "token embedding"), ("position_embedding", "position embedding"),
                         ("lm_head", "head")):
        if name.startswith(prefix):
            return part
    return "attention" if ".attn." in name else "feed-forward" if ".ffwd." in name else "layer norms"


def param_breakdown(model: nn.Module, parts, part_of) -> dict[str, int]:
    """Parameters counted per component (part_of(name) -> one of parts, in data-flow order); LoRA's A and B
    matrices (llmviz.nn.lora) are their own component, "adapters"."""
    out = dict.fromkeys(parts, 0)
    for name, p in model.named_parameters():
        part = "adapters" if ".lora_A." in name or ".lora_B." in name else part_of(name)
        out[part] = out.get(part, 0) + p.numel()
    return out
