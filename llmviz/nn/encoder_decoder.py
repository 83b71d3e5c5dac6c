"""The transformer of "Attention is all you need" (tutorial part 2, end): an encoder and a decoder.

    source ids -> source embedding (+ positions) -> [encoder block] x n_encoder_layer -> norm -> memory
    target ids -> target embedding (+ positions) -> [decoder block] x n_layer -> norm -> head -> logits
    encoder block: bidirectional self-attention, feed-forward
    decoder block: causal self-attention, cross-attention to the memory, feed-forward

Both stacks are made of llmviz.nn.model's `Block` (one attention class for all three attentions), so an
encoder-decoder is a configuration of the same parts as LM1-LM5, not a second copy of them. The
decoder alone is exactly a decoder-only language model with one more sub-layer per block; drop the
encoder and you are back at LM5 (GPT); drop the decoder and you have BERT's shape.

Padding: sentences of a batch have different lengths, so they are padded; `src_mask` and `tgt_mask`
(B, S) / (B, T), True at real tokens, keep every query from looking at a padded key, and padded
targets are IGNORE so the loss leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmviz.nn.model import (IGNORE, Block, LanguageModel, ModelConfig, _dropout, make_norm, param_breakdown,
                             zero_outputs)

ARCHITECTURES = ("decoder-only", "encoder-decoder")


@dataclass(frozen=True)
class EncoderDecoderConfig(ModelConfig):
    """A ModelConfig for the decoder (vocab_size, block_size, n_layer: the target side) plus a source side.
    Every other field (n_embd, n_head, ffwd, residual, layer_norm, dropout ...) applies to both stacks."""
    src_vocab_size: int = field(default=64, metadata={
        "help": "distinct tokens of the source language (the encoder's input)"})
    src_block_size: int = field(default=16, metadata={"help": "the longest source sentence, in tokens"})
    n_encoder_layer: int = field(default=2, metadata={"help": "encoder blocks (n_layer counts the decoder's)"})

    def problems(self) -> list[str]:
        out = super().problems()
        for name in ("src_vocab_size", "src_block_size", "n_encoder_layer"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be at least 1 (it is {getattr(self, name)}).")
        if not self.causal:
            out.append("the decoder must be causal: unmasked, it would read the very word it has to predict.")
        return out

    def encoder_config(self) -> ModelConfig:
        """The encoder's blocks: the same settings, with no causal mask (every word sees the whole source)."""
        return replace(self, causal=False)


def architecture_of(cfg: ModelConfig) -> str:
    return "encoder-decoder" if isinstance(cfg, EncoderDecoderConfig) else "decoder-only"


class EncoderDecoder(nn.Module):
    """(source ids (B, S), target ids (B, T)) -> logits (B, T, target vocab): the next target token at
    each target position, given the whole source and the target tokens before it."""

    architecture = "encoder-decoder"

    def __init__(self, cfg: EncoderDecoderConfig):
        super().__init__()
        problems = cfg.problems()
        if problems:
            raise ValueError(" ".join(problems))
        self.config = cfg
        C = cfg.n_embd
        # the encoder
        self.src_embedding = nn.Embedding(cfg.src_vocab_size, C)
        self.src_position = nn.Embedding(cfg.src_block_size, C) if cfg.pos_emb else None
        self.encoder = nn.ModuleList(Block(cfg.encoder_config()) for _ in range(cfg.n_encoder_layer))
        self.ln_enc = make_norm(cfg) if cfg.layer_norm else nn.Identity()
        # the decoder: LM5's layout, each block with a cross-attention sub-layer
        self.token_embedding = nn.Embedding(cfg.vocab_size, C)
        self.position_embedding = nn.Embedding(cfg.block_size, C) if cfg.pos_emb else None
        self.decoder = nn.ModuleList(Block(cfg, cross=True) for _ in range(cfg.n_layer))
        self.ln_f = make_norm(cfg) if cfg.layer_norm else nn.Identity()
        self.lm_head = nn.Linear(C, cfg.vocab_size)
        self.adapters = None  # no LoRA on this architecture
        if cfg.init_std > 0:
            self.apply(self._init_weights)
        if cfg.zero_init:
            zero_outputs(self)

    _init_weights = LanguageModel._init_weights  # normal(0, init_std) weights, zero biases

    @property
    def blocks(self) -> list[Block]:
        """Every block, encoder's then decoder's (the trainer listens for Stop between them)."""
        return [*self.encoder, *self.decoder]

    @staticmethod
    def _embed(idx, table, positions, limit: int, side: str) -> torch.Tensor:
        if idx.size(1) > limit:
            raise ValueError(f"the {side} has {idx.size(1)} tokens but the model takes at most {limit}")
        x = table(idx)  # (B, L, C)
        if positions is not None:
            x = x + positions(torch.arange(idx.size(1), device=idx.device))  # (L, C) broadcast over B
        return x

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None, *, train: bool = False,
               record: dict | None = None) -> torch.Tensor:
        """Source ids (B, S) -> the memory (B, S, C): one contextual vector per source token. Records
        "src_emb" (the static embedding rows), "encoder_attention" and "encoder_out" per block, "memory"."""
        cfg = self.config
        x = self._embed(src, self.src_embedding, self.src_position, cfg.src_block_size, "source")
        inner = {} if record is not None else None
        if record is not None:
            record.update(src_emb=self.src_embedding(src), encoder_out=[])
        x = _dropout(x, cfg.dropout, train)
        for block in self.encoder:
            x = block(x, train, inner, mask=src_mask)
            if record is not None:
                record["encoder_out"].append(x)
        memory = self.ln_enc(x)
        if record is not None:
            record.update(encoder_attention=inner.get("attention", []), memory=memory)
        return memory

    def decode(self, tgt: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None = None,
               tgt_mask: torch.Tensor | None = None, *, train: bool = False, record: dict | None = None) -> torch.Tensor:
        """Target ids (B, T) and the memory -> logits (B, T, vocab). Records "token_emb", and per block
        "attention" (causal self-attention), "cross_attention" (B, nh, T, S) and "block_out"."""
        cfg = self.config
        x = self._embed(tgt, self.token_embedding, self.position_embedding, cfg.block_size, "target")
        if record is not None:
            record.update(token_emb=self.token_embedding(tgt), attention=[], cross_attention=[], block_out=[])
        x = _dropout(x, cfg.dropout, train)
        for block in self.decoder:
            x = block(x, train, record, mask=tgt_mask, memory=memory, memory_mask=src_mask)
            if record is not None:
                record["block_out"].append(x)
        return self.lm_head(self.ln_f(x))  # (B, T, vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor, targets: torch.Tensor | None = None, *,
                src_mask: torch.Tensor | None = None, tgt_mask: torch.Tensor | None = None, train: bool = False,
                record: dict | None = None):
        """Logits (B, T, vocab) and, given targets (B, T), the mean cross-entropy over those that are not
        IGNORE (padding). train=True turns dropout on; `record` collects what encode and decode record."""
        memory = self.encode(src, src_mask, train=train, record=record)
        logits = self.decode(tgt, memory, src_mask, tgt_mask, train=train, record=record)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE)
        return logits, loss

    def param_breakdown(self) -> dict[str, int]:
        """Number of parameters per component, in the order data flows through them."""
        return param_breakdown(self, ("source embedding", "encoder self-attention", "encoder feed-forward",
                                      "target embedding", "decoder self-attention", "cross-attention",
                                      "decoder feed-forward", "layer norms", "head"), _part_of)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_model(cfg: ModelConfig) -> nn.Module:
    """The network a configuration describes: an EncoderDecoder or a (decoder-only) LanguageModel."""
    return EncoderDecoder(cfg) if isinstance(cfg, EncoderDecoderConfig) else LanguageModel(cfg)


def _part_of(name: str) -> str:
    side = "encoder" if name.startswith("encoder.") else "decoder"
    if name.startswith(("src_embedding", "src_position")):
        return "source embedding"
    if name.startswith(("token_embedding", "position_embedding")):
        return "target embedding"
    if ".cross_attn." in name:
        return "cross-attention"
    if ".attn." in name:
        return f"{side} self-attention"
    if ".ffwd." in name:
        return f"{side} feed-forward"
    return "head" if name.startswith("lm_head") else "layer norms"
