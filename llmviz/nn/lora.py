"""LoRA, low-rank adaptation (tutorial part 3): fine-tune a big matrix W by learning only a tiny update
ΔW = B·A · alpha/r, where A is r × in and B is out × r with a very low rank r ("even r = 1").

The base weight stays frozen. B starts at zero, so at step 0 the adapted model IS the base model; A
starts random (kaiming-uniform, as Hugging Face `peft` does). Only A and B train: for a 384 × 384
matrix and r = 4 that is 3,072 numbers instead of 147,456. Merging adds ΔW into W (no extra cost at
inference); unmerging takes it out again.

Adapters wrap layers of the one `LanguageModel`; there is no second model class. The query, key and
value projections live in one fused matrix (`attn.qkv`), so an adapter on "query" updates only the
query rows of it.

A token the base never produced (a character absent from its pre-training text) has an untrained
embedding row and a head row pushed down at every step of pre-training: no low-rank update of the
body can reach it; a token pre-training rarely needed is barely shaped. So, as `peft` does with
`trainable_token_indices` (a row-wise `modules_to_save`), the embedding and head rows of the tokens
the new text relies on (llmviz.tasks.finetune.new_tokens) train too (`TrainedRows`): a copy of those
rows, kept in the adapter file beside A and B.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmviz.errors import LearnerError

# the matrices a learner can adapt: name -> what it is
TARGETS = {
    "query": "the query projection (what each position looks for)",
    "key": "the key projection (what each position offers)",
    "value": "the value projection (what each position passes on)",
    "attn_out": "the attention output projection (mixing the heads)",
    "ffwd": "the feed-forward layers",
}


class LoRALinear(nn.Linear):
    """A linear layer y = x·Wᵀ + b plus, for each adapted part of its output rows, x·Aᵀ·Bᵀ · alpha/r.

    It keeps the base layer's own weight and bias (same names, so the base weights keep their names
    in a checkpoint); the adapters are `lora_A.<part>` and `lora_B.<part>`."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, parts: dict[str, tuple[int, int]]):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.parts = dict(parts)  # part name -> (first row, last row + 1) of the output it adapts
        self.merged = False
        dev = base.weight.device
        self.lora_A = nn.ParameterDict({n: nn.Parameter(torch.empty(rank, self.in_features, device=dev))
                                        for n in parts})
        self.lora_B = nn.ParameterDict({n: nn.Parameter(torch.zeros(b - a, rank, device=dev))
                                        for n, (a, b) in parts.items()})
        for a in self.lora_A.values():
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # as peft (and nn.Linear) initialise

    def delta(self) -> torch.Tensor:
        """ΔW (out × in): B·A · alpha/r on the adapted rows, zero elsewhere."""
        d = torch.zeros_like(self.weight)
        for n, (a, b) in self.parts.items():
            d[a:b] = self.lora_B[n] @ self.lora_A[n] * self.scaling
        return d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        pieces, at = [], 0
        for n, (a, b) in sorted(self.parts.items(), key=lambda kv: kv[1]):
            if a > at:
                pieces.append(y.new_zeros(*y.shape[:-1], a - at))
            pieces.append(F.linear(F.linear(x, self.lora_A[n]), self.lora_B[n]) * self.scaling)  # x·Aᵀ·Bᵀ
            at = b
        if at < self.out_features:
            pieces.append(y.new_zeros(*y.shape[:-1], self.out_features - at))
        return y + torch.cat(pieces, dim=-1)

    @torch.no_grad()
    def merge(self) -> None:
        """W <- W + ΔW: one matrix again, no extra cost at inference."""
        if not self.merged:
            self._before_merge = self.weight.detach().clone()  # W + ΔW - ΔW is not W to the last bit
            self.weight += self.delta()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """The base weight back, exactly as it was."""
        if self.merged:
            self.weight.copy_(self._before_merge)
            del self._before_merge
            self.merged = False


class TrainedRows(nn.Module):
    """A frozen embedding or head whose rows for some tokens train: the layer's own weight (and bias)
    stay as they are, `token_rows` (and `token_bias`) replace their rows `ids` in the forward pass."""

    def __init__(self, base: nn.Embedding | nn.Linear, ids):
        super().__init__()
        self.is_embedding = isinstance(base, nn.Embedding)
        self.weight, self.bias = base.weight, getattr(base, "bias", None)
        self.token_ids = tuple(ids)  # a tuple, not a buffer: a model laid out on "meta" then assigned keeps it
        rows = list(self.token_ids)
        self.token_rows = nn.Parameter(base.weight.detach()[rows].clone())  # starts as the base's rows
        self.token_bias = nn.Parameter(self.bias.detach()[rows].clone()) if self.bias is not None else None
        self.merged = False

    @property
    def ids(self) -> torch.Tensor:
        return torch.tensor(self.token_ids, dtype=torch.long, device=self.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        if not self.merged:
            ids = self.ids
            w = w.index_copy(0, ids, self.token_rows.to(w.dtype))
            if b is not None:
                b = b.index_copy(0, ids, self.token_bias.to(b.dtype))
        return F.embedding(x, w) if self.is_embedding else F.linear(x, w, b)

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self._before_merge = (self.weight.detach().clone(), None if self.bias is None else self.bias.detach().clone())
            self.weight[self.ids] = self.token_rows
            if self.bias is not None:
                self.bias[self.ids] = self.token_bias
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight.copy_(self._before_merge[0])
            if self.bias is not None:
                self.bias.copy_(self._before_merge[1])
            del self._before_merge
            self.merged = False


def _sites(model, targets) -> list[tuple[nn.Module, str, dict[str, tuple[int, int]]]]:
    """(parent module, attribute name, parts) for every linear layer the targets adapt."""
    C = model.config.n_embd
    sites = []
    for block in model.blocks:
        qkv = {t: (i * C, (i + 1) * C) for i, t in enumerate(("query", "key", "value")) if t in targets}
        if qkv:
            sites.append((block.attn, "qkv", qkv))
        if "attn_out" in targets and block.attn.proj is not None:
            sites.append((block.attn, "proj", {"attn_out": (0, C)}))
        if "ffwd" in targets and block.ffwd is not None:
            for i, layer in enumerate(block.ffwd.net):
                if isinstance(layer, nn.Linear):
                    sites.append((block.ffwd.net, str(i), {"ffwd": (0, layer.out_features)}))
    return sites


def problems(model, rank: int, targets) -> list[str]:
    """Why these adapters cannot be put on this model, in plain words (empty when they can)."""
    out = []
    targets = list(targets)
    if not targets:
        out.append("tick at least one matrix to adapt (query, key, value, attention output, feed-forward).")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        out.append(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}.")
    if rank < 1:
        out.append(f"the rank r must be at least 1 (it is {rank}).")
    if out:
        return out
    sites = _sites(model, targets)
    if not sites:
        out.append(f"this model has none of the matrices {', '.join(targets)} (LM1 has no output projection "
                   f"or feed-forward layer).")
    for parent, attr, parts in sites:
        layer = getattr(parent, attr)
        for a, b in parts.values():
            if rank > min(b - a, layer.in_features):
                out.append(f"r = {rank} is larger than the matrix it adapts ({b - a} × {layer.in_features}): a "
                           f"rank cannot exceed the smaller side, and LoRA only pays off when r is much smaller.")
                return out
    return out


@dataclass(frozen=True)
class AdapterSpec:
    """Low-rank adapters (LoRA) on a frozen base: ΔW = B·A · alpha / rank on each target matrix."""
    rank: int
    alpha: float
    targets: tuple[str, ...]  # which matrices carry an adapter, e.g. ("query", "value")
    base_sha256: str  # weights_sha256 of the base model they were trained on
    tokens: tuple[int, ...] = ()  # the tokens whose embedding and head rows train too (TrainedRows)


def weights_sha256(model_or_state: torch.nn.Module | dict) -> str:
    """A fingerprint of a model's base weights (names, dtypes, shapes and values; adapters left out), to
    tie adapters to the exact base they were trained on."""
    state = base_state(model_or_state) if isinstance(model_or_state, torch.nn.Module) else model_or_state
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def apply_lora(model, rank: int, alpha: float, targets, tokens=()) -> None:
    """Freeze every weight of the model and put trainable adapters on the target matrices (in place),
    and trainable embedding and head rows for `tokens` (ids). model.adapters then describes them (with
    the fingerprint of the base weights they belong to)."""
    if getattr(model, "adapters", None) is not None:
        raise LearnerError("this model already has adapters")
    found = problems(model, rank, targets)
    tokens = tuple(sorted(set(int(t) for t in tokens)))
    if tokens and not 0 <= tokens[0] <= tokens[-1] < model.config.vocab_size:
        found.append(f"token ids must lie in 0..{model.config.vocab_size - 1}.")
    if found:
        raise LearnerError(" ".join(found))
    base = weights_sha256(model) if model.token_embedding.weight.device.type != "meta" else ""
    model.requires_grad_(False)
    for parent, attr, parts in _sites(model, targets):
        setattr(parent, attr, LoRALinear(getattr(parent, attr), rank, alpha, parts))
    if tokens:
        model.token_embedding = TrainedRows(model.token_embedding, tokens)
        model.lm_head = TrainedRows(model.lm_head, tokens)
    model.adapters = AdapterSpec(rank, float(alpha), tuple(t for t in TARGETS if t in targets), base, tokens)


def layers(model) -> dict[str, LoRALinear]:
    """The adapted layers by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def is_adapter(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name or name.endswith((".token_rows", ".token_bias"))


def trained_rows(model) -> dict[str, TrainedRows]:
    """The embedding and head whose rows for new tokens train, by name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, TrainedRows)}


def adapter_state(model) -> dict[str, torch.Tensor]:
    """Only the adapters' tensors: what an adapter-only file keeps."""
    return {k: v for k, v in model.state_dict().items() if is_adapter(k)}


def base_state(model) -> dict[str, torch.Tensor]:
    """The base weights (with the adapters not merged in)."""
    if any(m.merged for m in [*layers(model).values(), *trained_rows(model).values()]):
        raise LearnerError("unmerge the adapters first: merged, the base weights include them")
    return {k: v for k, v in model.state_dict().items() if not is_adapter(k)}


def merge(model) -> None:
    for m in [*layers(model).values(), *trained_rows(model).values()]:
        m.merge()


def unmerge(model) -> None:
    for m in [*layers(model).values(), *trained_rows(model).values()]:
        m.unmerge()


# --- looking inside (the "LoRA, inside" page) ------------------------------------------------------

def sites(model) -> list[tuple[str, str]]:
    """(layer name, part) of every adapted matrix, e.g. ("blocks.0.attn.qkv", "query")."""
    return [(name, part) for name, layer in layers(model).items() for part in layer.parts]


def lora_delta(model, layer: str, part: str) -> torch.Tensor:
    """ΔW = B·A · alpha/r of one adapted matrix (its rows only), as the adapter stands now."""
    m = layers(model)[layer]
    return (m.lora_B[part] @ m.lora_A[part] * m.scaling).detach()


def full_delta(base_model, tuned_model, layer: str, rows: tuple[int, int]) -> torch.Tensor:
    """What full fine-tuning changed in the same matrix: W_tuned - W_base, on the same rows."""
    a, b = rows
    w0 = dict(base_model.named_parameters())[f"{layer}.weight"]
    w1 = dict(tuned_model.named_parameters())[f"{layer}.weight"]
    return (w1 - w0)[a:b].detach()


def rows_of(model, layer: str, part: str) -> tuple[int, int]:
    return layers(model)[layer].parts[part]


def spectrum(delta: torch.Tensor) -> torch.Tensor:
    """The singular values of a weight update, largest first: how many directions it really uses."""
    return torch.linalg.svdvals(delta.float())


def captured(singular_values: torch.Tensor, r: int) -> float:
    """The share of an update's energy (sum of squared singular values) its best rank-r approximation keeps."""
    s2 = singular_values.double().pow(2)
    return float(s2[:r].sum() / s2.sum()) if float(s2.sum()) > 0 else 1.0


@torch.no_grad()
def merge_check(model, idx: torch.Tensor) -> dict[str, float]:
    """Largest difference of the logits: merged vs with adapters, and unmerged again vs with adapters
    (on a copy: the model itself is never touched)."""
    import copy

    model = copy.deepcopy(model)
    adapted = model(idx)[0]
    merge(model)
    try:
        merged = model(idx)[0]
    finally:
        unmerge(model)
    again = model(idx)[0]
    return {"merged": float((merged - adapted).abs().max()), "unmerged": float((again - adapted).abs().max())}


@torch.no_grad()
def identity_check(model, rank: int, alpha: float, targets, idx: torch.Tensor, tokens=()) -> float:
    """Largest logit difference between a model and a copy of it with fresh adapters (B = 0, token rows
    copied from the base): 0.0."""
    import copy

    adapted = copy.deepcopy(model)
    apply_lora(adapted, rank, alpha, targets, tokens)
    return float((adapted(idx)[0] - model(idx)[0]).abs().max())
