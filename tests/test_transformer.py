"""The encoder-decoder: attention against torch's own, padding, the causal mask, the loss, checkpoints,
decoding, BLEU against sacrebleu, and a short run that learns to translate."""

import math

import pytest
import torch
import torch.nn.functional as F

from llmviz.io import checkpoint
from llmviz.tasks import seq2seq
from llmviz.nn.model import IGNORE, MultiHeadAttention, ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.tasks.translation import make_corpus, words_fr
from llmviz.nn.encoder_decoder import EncoderDecoder, EncoderDecoderConfig

torch.set_num_threads(1)  # tiny models: one thread is far faster


def tiny_cfg(**kw) -> EncoderDecoderConfig:
    base = dict(vocab_size=23, src_vocab_size=29, block_size=12, src_block_size=10, n_embd=16, n_head=4,
                n_layer=2, n_encoder_layer=2, init_std=0.02)
    return EncoderDecoderConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def small_corpus():
    return make_corpus(seed=3, n_train=2000, n_heldout=200)


def _torch_mha(ours: MultiHeadAttention, C: int, n_head: int) -> torch.nn.MultiheadAttention:
    ref = torch.nn.MultiheadAttention(C, n_head, bias=True, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)  # rows W_Q, W_K, W_V: the same layout
        ref.in_proj_bias.zero_()
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    return ref


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("recorded", [False, True])  # the fused kernel and the textbook formula
def test_cross_attention_equals_torch_multihead_attention(padded, recorded):
    torch.manual_seed(0)
    C, nh, B, T, S = 16, 4, 3, 5, 7
    ours = MultiHeadAttention(ModelConfig(n_embd=C, n_head=nh, causal=True), cross=True).double()
    ref = _torch_mha(ours, C, nh).double()
    x, memory = torch.randn(B, T, C, dtype=torch.double), torch.randn(B, S, C, dtype=torch.double)
    keep = torch.ones(B, S, dtype=torch.bool)
    if padded:
        keep[0, 4:] = False
        keep[2, 2:] = False
    record = {} if recorded else None
    got = ours(x, record=record, kv=memory, key_mask=keep if padded else None)
    want, weights = ref(x, memory, memory, key_padding_mask=~keep if padded else None, need_weights=True,
                        average_attn_weights=False)
    assert torch.allclose(got, want, atol=1e-6)
    if recorded:
        assert torch.allclose(record["cross_attention"][0], weights, atol=1e-6)
        assert "attention" not in record  # cross-attention is recorded under its own name


def test_self_attention_with_padding_and_causal_mask_equals_torch():
    torch.manual_seed(1)
    C, nh, B, T = 16, 2, 2, 6
    ours = MultiHeadAttention(ModelConfig(n_embd=C, n_head=nh, causal=True)).double()
    ref = _torch_mha(ours, C, nh).double()
    x = torch.randn(B, T, C, dtype=torch.double)
    keep = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch: True = may not attend
    want, _ = ref(x, x, x, key_padding_mask=~keep, attn_mask=causal)
    for record in (None, {}):
        assert torch.allclose(ours(x, record=record, key_mask=keep), want, atol=1e-6)


def _batch(cfg, B=4, S=8, T=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(cfg.src_vocab_size, (B, S), generator=g)
    tgt = torch.randint(cfg.vocab_size, (B, T), generator=g)
    src_keep = torch.ones(B, S, dtype=torch.bool)
    tgt_keep = torch.ones(B, T, dtype=torch.bool)
    src_keep[1, 5:], src_keep[3, 2:] = False, False
    tgt_keep[0, 6:], tgt_keep[3, 3:] = False, False
    return src, tgt, src_keep, tgt_keep


def test_padding_does_not_leak():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = EncoderDecoder(cfg)
    src, tgt, sk, tk = _batch(cfg)
    logits, _ = model(src, tgt, src_mask=sk, tgt_mask=tk)
    # other ids in every padded position, on both sides: the real positions' outputs do not move
    src2 = torch.where(sk, src, (src + 7) % cfg.src_vocab_size)
    tgt2 = torch.where(tk, tgt, (tgt + 5) % cfg.vocab_size)
    logits2, _ = model(src2, tgt2, src_mask=sk, tgt_mask=tk)
    assert torch.allclose(logits[tk], logits2[tk], atol=1e-6)
    assert not torch.allclose(logits[~tk], logits2[~tk])  # (the padded positions themselves do change)
    # more padding at the end of the source changes nothing either
    wider = torch.cat([src, torch.zeros(4, 2, dtype=torch.long)], 1)
    wider_keep = torch.cat([sk, torch.zeros(4, 2, dtype=torch.bool)], 1)
    logits3, _ = model(wider, tgt, src_mask=wider_keep, tgt_mask=tk)
    assert torch.allclose(logits[tk], logits3[tk], atol=1e-6)
    # and a padded key gets exactly zero attention weight
    record = {}
    model(src, tgt, src_mask=sk, tgt_mask=tk, record=record)
    for w in record["cross_attention"]:
        assert (w[1, :, :, 5:] == 0).all() and (w[3, :, :, 2:] == 0).all()
        assert torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)))
    for w in record["encoder_attention"]:
        assert (w[3, :, :, 2:] == 0).all()


def test_the_decoder_is_causal_and_the_encoder_sees_both_ways():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = EncoderDecoder(cfg)
    src, tgt, _, _ = _batch(cfg)
    logits, _ = model(src, tgt)
    for t in range(tgt.size(1) - 1):
        changed = tgt.clone()
        changed[:, t + 1:] = (changed[:, t + 1:] + 3) % cfg.vocab_size
        after, _ = model(src, changed)
        assert torch.allclose(logits[:, :t + 1], after[:, :t + 1], atol=1e-6)  # position t never sees the future
        assert not torch.allclose(logits[:, t + 1:], after[:, t + 1:])
    # the encoder has no mask: the last source word changes the first word's contextual vector
    changed = src.clone()
    changed[:, -1] = (changed[:, -1] + 1) % cfg.src_vocab_size
    assert not torch.allclose(model.encode(src)[:, 0], model.encode(changed)[:, 0])


def test_the_loss_leaves_padding_out():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = EncoderDecoder(cfg)
    src, tgt, sk, tk = _batch(cfg)
    targets = torch.where(tk, torch.roll(tgt, -1, 1), torch.full_like(tgt, IGNORE))
    logits, loss = model(src, tgt, targets, src_mask=sk, tgt_mask=tk)
    by_hand = F.cross_entropy(logits[tk], targets[tk])  # only the real positions
    assert math.isclose(loss.item(), by_hand.item(), rel_tol=1e-6)
    assert abs(loss.item() - math.log(cfg.vocab_size)) < 0.5  # an untrained model: about uniform


def test_the_batches_pad_and_shift(small_corpus):
    b = seq2seq.PairBatches(small_corpus)
    batch = b.batch("train", 16, torch.Generator().manual_seed(0))
    x, y = batch.inputs["tgt"], batch.targets
    assert set(batch.inputs) == {"src", "tgt", "src_mask", "tgt_mask"}
    assert (x[:, 0] == b.bos).all()
    assert torch.equal(batch.inputs["src_mask"], batch.inputs["src"] != b.src_pad)
    real = y != IGNORE
    assert torch.equal(real, x != b.tgt_pad)  # a target for every real input token, none for padding
    assert torch.equal(x[:, 1:][real[:, 1:]], y[:, :-1][real[:, 1:]])  # y is x shifted by one
    assert ((y == b.eos).sum(1) == 1).all()  # each sentence ends once
    assert batch.inputs["src_mask"].all(0).any() and not batch.inputs["src_mask"].all()  # padded to the longest


def _redescribed(data: bytes, change) -> bytes:
    """The same file with its JSON description changed by change(info)."""
    import json
    import struct

    from safetensors.torch import load, save

    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    info = json.loads(meta["llmviz"])
    change(info)
    return save(load(data), metadata={**meta, "llmviz": json.dumps(info)})


def test_a_damaged_encoder_decoder_checkpoint_is_refused_in_words(small_corpus):
    cfg = tiny_cfg(vocab_size=small_corpus.tokenizer.target.vocab_size,
                   src_vocab_size=small_corpus.tokenizer.source.vocab_size)
    data = checkpoint.to_bytes(EncoderDecoder(cfg), small_corpus.tokenizer, TrainConfig())
    cases = [
        (lambda i: i["tokenizer"].pop("target"), "tokenizer.target"),
        (lambda i: i["model_config"].update(n_encoder_layer="two"), "n_encoder_layer"),
        (lambda i: i["model_config"].update(src_vocab_size=cfg.src_vocab_size + 1), "source"),
        (lambda i: i.update(architecture="decoder-only"), "source tokenizer"),  # an LM has no source side
    ]
    for change, words in cases:
        with pytest.raises(checkpoint.CheckpointError, match=words):
            checkpoint.from_bytes(_redescribed(data, change))


def test_a_checkpoint_round_trip_keeps_the_architecture_and_the_outputs(small_corpus):
    cfg = tiny_cfg(vocab_size=small_corpus.tokenizer.target.vocab_size,
                   src_vocab_size=small_corpus.tokenizer.source.vocab_size, block_size=32, src_block_size=32)
    torch.manual_seed(0)
    model = EncoderDecoder(cfg)
    data = checkpoint.to_bytes(model, small_corpus.tokenizer, TrainConfig(), extra={"language": small_corpus.settings})
    ck = checkpoint.from_bytes(data)
    assert ck.architecture == "encoder-decoder" and isinstance(ck.model, EncoderDecoder)
    assert ck.model_config == cfg and ck.tokenizer.to_dict() == small_corpus.tokenizer.to_dict()
    src, tgt, sk, tk = _batch(cfg)
    assert torch.equal(model(src, tgt, src_mask=sk)[0], ck.model(src, tgt, src_mask=sk)[0])


@pytest.fixture(scope="module")
def trained_run(small_corpus):
    cfg = EncoderDecoderConfig(block_size=32, src_block_size=32, n_embd=48, n_head=4, n_layer=1, n_encoder_layer=1,
                               init_std=0.02)
    tc = TrainConfig(learning_rate=5e-3, min_lr=5e-4, warmup_iters=20, lr_decay=True, batch_size=64, max_iters=300,
                     eval_interval=100, eval_iters=2, grad_clip=1.0, beta2=0.99, threads=1, device="cpu")
    run = seq2seq.new_run(cfg, tc, small_corpus)
    run.batches.eval_pairs = run.batches.eval_pairs[:100]
    run.train()
    return run


@pytest.mark.slow
def test_a_short_run_learns_to_translate(trained_run):
    hist = trained_run.history
    em = [r.other["exact_match"] for r in hist]
    assert em[0] == 0.0 and em[-1] > 20.0 and em[-1] > em[1]  # held-out exact match rises
    assert hist[-1].other["bleu"] > hist[0].other["bleu"] + 30
    assert hist[-1].val_loss < hist[0].val_loss / 3
    assert "le chat est sous la table →" in trained_run.snapshot().extra["sample"]


def test_decoding_never_changes_the_model_and_beam_width_1_is_greedy(trained_run, small_corpus):
    model, b = trained_run.model, trained_run.batches
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src = [seq2seq.encode_source(b.src_tok, words_fr(p.fr)) for p in small_corpus.heldout[:5]]
    greedy = seq2seq.greedy(model, src, b.src_pad, b.bos, b.eos)
    one_by_one = [seq2seq.greedy(model, [s], b.src_pad, b.bos, b.eos)[0] for s in src]
    assert greedy == one_by_one  # padding a batch changes no translation
    for s, g in zip(src, greedy):
        assert seq2seq.beam_search(model, s, b.src_pad, b.bos, b.eos, width=1)[0].ids == g
        beams = seq2seq.beam_search(model, s, b.src_pad, b.bos, b.eos, width=4)
        assert [h.logprob for h in beams] == sorted((h.logprob for h in beams), reverse=True)
        assert beams[0].logprob >= _score(model, s, g, b) - 1e-4  # beam search finds at least greedy's score
        assert math.isclose(beams[0].logprob, _score(model, s, beams[0].ids, b), abs_tol=1e-4)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def _score(model, src, ids, b) -> float:
    """log P(ids, <EOS> | src), recomputed in one teacher-forced pass."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([src]), torch.tensor([[b.bos, *ids]]))
    logp = F.log_softmax(logits[0], -1)
    return float(sum(logp[t, tok] for t, tok in enumerate([*ids, b.eos])))


def test_the_trace_shows_each_step_and_the_attention(trained_run):
    t = seq2seq.trace(trained_run.model, trained_run.tokenizer, "le chat noir est sous la table")
    assert t.out_words[0] == "<BOS>" and len(t.steps) == len(t.out_words) - 1
    assert t.src_words == ["le", "chat", "noir", "est", "sous", "la", "table"]
    for step in t.steps:
        assert 0 < step.prob <= 1 and all(p <= step.prob for _, p in step.runners_up)
    n_layer, n_head, T, S = t.cross_attention.shape
    assert (n_layer, n_head, T, S) == (1, 4, len(t.steps), 7)  # one row per word written
    assert abs(t.cross_attention.sum(-1) - 1).max() < 1e-5 and t.encoder_attention.shape == (1, 4, 7, 7)
    unknown = seq2seq.trace(trained_run.model, trained_run.tokenizer, "le girafe est sous la table")
    assert unknown.src_words[1] == "<UNK>"


def test_contextual_vectors_differ_from_sentence_to_sentence(trained_run, small_corpus):
    c = seq2seq.contextual(trained_run.model, trained_run.tokenizer, "table", [p.fr for p in small_corpus.train], 50)
    assert len(c.vectors) == len(c.sentences) > 10 and c.static.shape == (48,)
    to_static, between = seq2seq.cosines(c)
    assert between.shape == (len(c.vectors),) * 2 and abs(between.diagonal() - 1).max() < 1e-5
    assert between.min() < 0.999  # the same word, different vectors: its context is in them


def test_bleu_is_sacrebleu_and_exact_match_counts_sentences():
    import sacrebleu

    hyps = ["the cat is under the table", "the black cat eats an apple", "a dog"]
    refs = ["the cat is under the table", "the black cat eats the apple", "a dog is on the bed"]
    assert seq2seq.bleu(hyps, refs) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert seq2seq.bleu(refs, refs) == pytest.approx(100.0)
    assert seq2seq.exact_match(hyps, refs) == pytest.approx(100 / 3)


@pytest.mark.slow
def test_the_cli_trains_the_translation_preset_and_reports_exact_match_and_bleu(tmp_path, capsys):
    import json

    from llmviz.cli.main import main

    out = tmp_path / "tr.safetensors"
    small = ["--n-embd", "16", "--n-layer", "1", "--n-encoder-layer", "1", "--batch-size", "8", "--eval-iters", "1"]
    assert main(["train", "--preset", "translation", "--iters", "6", "--eval-interval", "3", "--out", str(out),
                 "--json", "--quiet", *small]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["iterations"] == 6 and result["params"] > 0
    assert 0 <= result["heldout_exact_match"] <= 100 and 0 <= result["bleu"] <= 100
    assert main(["train", "--resume", str(out), "--iters", "3", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["iterations"] == 9
