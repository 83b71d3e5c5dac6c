"""From a text to (x, y) examples, one prompt traced through a model, and the slides' tiny model."""

import math

import pytest
import torch

from llmviz.concepts import next_token
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.presets import preset_config
from llmviz.text.tokenizers import CharTokenizer, WordTokenizer
from llmviz.training.batches import get_batch

torch.set_num_threads(1)


def test_xy_pairs_worked_by_hand():
    tok = CharTokenizer().train("hello")  # e h l o -> 0 1 2 3
    ids = tok.encode("hello")  # [1, 0, 2, 2, 3]
    pairs = next_token.xy_pairs(ids, 0, 3)
    assert [(tok.decode(p.context), tok.decode([p.target])) for p in pairs] == [("h", "e"), ("he", "l"), ("hel", "l")]
    x, y = next_token.xy_block(ids, 1, 3)
    assert tok.decode(x) == "ell" and tok.decode(y) == "llo"
    with pytest.raises(ValueError, match="start between 0 and 1"):
        next_token.xy_block(ids, 2, 3)  # "llo" has no target after it


def test_batch_grid_draws_the_trainers_batches():
    ids = list(range(50))
    starts, xs, ys = next_token.batch_grid(ids, 8, 4, seed=3)
    x, y = get_batch(torch.tensor(ids), 8, 4, torch.Generator().manual_seed(3))
    assert xs == x.tolist() and ys == y.tolist()
    assert all(row[0] == s for row, s in zip(xs, starts))
    with pytest.raises(ValueError, match="too short"):
        next_token.batch_grid(ids[:8], 8, 4)


@pytest.mark.parametrize("preset", ["lm1", "lm4", "lm5"])
def test_trace_matches_the_models_forward(preset):
    tok = CharTokenizer().train("abcdefgh ")
    torch.manual_seed(0)
    cfg = preset_config(preset, tok.vocab_size)
    model = LanguageModel(cfg)
    ids = tok.encode("bad cafe")[-cfg.block_size:]
    t = next_token.trace(model, ids, tok, temperature=0.0)
    logits, _ = model(torch.tensor([ids]))
    assert torch.allclose(t.logits, logits[0, -1], atol=1e-5)
    maps = model.attention_maps(torch.tensor(ids))  # (n_layer, n_head, T, T)
    assert torch.allclose(torch.stack(t.attention), maps, atol=1e-6)
    assert len(t.block_out) == cfg.n_layer and t.block_out[0].shape == (len(ids), cfg.n_embd)
    for w in t.attention:
        assert torch.allclose(w.sum(-1), torch.ones(w.shape[:-1]), atol=1e-5)  # rows sum to 1
        upper = torch.triu(torch.ones(len(ids), len(ids), dtype=torch.bool), 1)
        assert bool((w[:, upper] == 0).all()) == cfg.causal
    assert t.sampled == int(logits[0, -1].argmax()) and t.probs[t.sampled] == 1.0  # temperature 0: greedy
    assert t.tokens == list("bad cafe")[-cfg.block_size:]
    assert (t.pos_emb is None) == (not cfg.pos_emb)
    assert torch.equal(t.token_emb, model.token_embedding.weight[ids].detach())


def test_trace_samples_from_the_filtered_distribution():
    tok = CharTokenizer().train("abcdef")
    model = LanguageModel(ModelConfig(vocab_size=6, block_size=4, n_embd=8, n_head=2))
    t = next_token.trace(model, [0, 1, 2], tok, temperature=1.0, top_k=2, seed=1)
    assert (t.probs > 0).sum() == 2 and t.probs[t.sampled] > 0
    assert math.isclose(float(t.probs.sum()), 1.0, rel_tol=1e-5)
    with pytest.raises(ValueError):
        next_token.trace(model, [], tok)


def test_slide_model_learns_the_cat_is_under():
    model, tok, losses = next_token.slide_model(steps=300)
    cfg = model.config
    assert (cfg.vocab_size, cfg.block_size, cfg.n_embd) == (6, 3, 4)
    assert losses[-1] < losses[0] / 2
    t = next_token.trace(model, tok.encode(next_token.SLIDE_PROMPT), tok)
    assert tok.decode([int(t.probs.argmax())]) == "under" and t.probs.max() > 0.9
    # after "the" the model is unsure between cat, dog and table: its uncertainty is visible
    t = next_token.trace(model, tok.encode("the"), tok)
    assert next_token.entropy_bits(t.probs) > 1.0


def test_word_tokenizer():
    tok = WordTokenizer(next_token.SLIDE_WORDS)
    ids = tok.encode("The cat is under the table")
    assert tok.decode(ids) == "the cat is under the table" and tok.vocab_size == 6
    assert WordTokenizer.from_dict(tok.to_dict()).encode("dog") == tok.encode("dog")
    with pytest.raises(ValueError, match="'mouse' is not in the vocabulary"):
        tok.encode("the mouse")
    assert next_token.entropy_bits([1 / 6] * 6) == pytest.approx(math.log2(6))
