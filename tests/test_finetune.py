"""Fine-tuning three ways: what trains, what stays bit-identical, forgetting measured, the cached base; LoRA's rows
for new tokens, what each method keeps, and the sentences written from the numbers."""

import pytest
import torch
from safetensors.torch import save

from llmviz.io import checkpoint
from llmviz.tasks import finetune, finetune_compare
from llmviz.nn import lora
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingError, TrainingRun

torch.set_num_threads(1)

ORIGINAL = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 40
DOMAIN = "def add(a, b):\n    return a + b\n\nclass Point:\n    x = 0\n    y = 0\n" * 40


@pytest.fixture(scope="module")
def base():
    tok = finetune.base_vocabulary(ORIGINAL, DOMAIN)
    cfg = TrainConfig(max_iters=40, eval_interval=40, eval_iters=2, batch_size=8, learning_rate=3e-3, sample_tokens=0,
                      threads=1)
    run = TrainingRun.new(ModelConfig(vocab_size=0, block_size=16, n_embd=32, n_head=2, n_layer=2), cfg, ORIGINAL,
                          tokenizer=tok, preset="lm5")
    run.train()
    return checkpoint.from_bytes(checkpoint.run_to_bytes(run, extra={"corpus": "hamlet"}))


def tune(base, method, **kw):
    cfg = TrainConfig(max_iters=20, eval_interval=10, eval_iters=2, batch_size=8, learning_rate=3e-3,
                      sample_tokens=0, threads=1)
    return finetune.start(base, DOMAIN, cfg, finetune.FineTuning(method, **kw), ORIGINAL)


def test_lora_leaves_every_base_weight_bit_identical_and_the_base_checkpoint_untouched(base):
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    run = tune(base, "lora", rank=2, alpha=4.0, targets=("query", "value", "ffwd"))
    assert run.step == 0 and run.history == ()  # fresh: step 0, no optimizer yet
    start = {k: v.clone() for k, v in run.model.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in before.items())  # exactly the base weights
    run.train()
    after = run.model.state_dict()
    for k, v in after.items():
        if lora.is_adapter(k):
            continue
        assert torch.equal(v, before[k]), k
    assert any(not torch.equal(after[k], start[k]) for k in after if ".lora_B." in k)  # the adapters learned
    assert all(torch.equal(v, before[k]) for k, v in base.model.state_dict().items())  # the base is a copy
    assert base.model.adapters is None


def test_frozen_body_changes_only_the_last_block_the_final_norm_and_the_head(base):
    run = tune(base, "frozen")
    run.train()
    after = run.model.state_dict()
    for k, v in base.model.state_dict().items():
        moved = not torch.equal(after[k], v)
        trains = k.startswith(("blocks.1.", "ln_f.", "lm_head."))
        assert moved == trains or (trains and "bias" in k), k  # (a bias may stay put by chance, never a frozen one)
    assert run.n_trainable == sum(p.numel() for n, p in run.model.named_parameters()
                                  if n.startswith(("blocks.1.", "ln_f.", "lm_head.")))


def test_forgetting_is_measured_on_the_original_text(base):
    run = tune(base, "full")
    snap = run.train()
    assert [r.step for r in snap.history] == [0, 10, 20]
    assert all(set(r.other) == {"original"} for r in snap.history)
    assert snap.history[-1].val_loss < snap.history[0].val_loss  # it learns the new text...
    assert snap.history[-1].other["original"] > snap.history[0].other["original"]  # ...and forgets the old one
    # the history (with the original-text losses) survives a checkpoint
    assert checkpoint.from_bytes(checkpoint.run_to_bytes(run)).history == snap.history


def test_a_text_the_base_cannot_spell_names_the_characters_and_the_way_out(base):
    narrow = checkpoint.from_bytes(checkpoint.to_bytes(
        LanguageModel(ModelConfig(vocab_size=len(set(ORIGINAL)), block_size=16, n_embd=32, n_head=2)),
        finetune.CharTokenizer().train(ORIGINAL), TrainConfig()))
    with pytest.raises(TrainingError, match=r"cannot spell \d+ character.*'\(\)\+.*drop those characters"):
        finetune.start(narrow, DOMAIN, TrainConfig(), finetune.FineTuning("full"))
    kept, share = finetune.drop_unspellable(narrow.tokenizer, DOMAIN)
    assert finetune.unspellable(narrow.tokenizer, kept) == "" and 0.5 < share < 1
    with pytest.raises(TrainingError, match="larger than the matrix"):
        tune(base, "lora", rank=64)
    with pytest.raises(TrainingError, match="at least one matrix"):
        tune(base, "lora", targets=())
    with pytest.raises(TrainingError, match="unknown method"):
        tune(base, "prefix")


def test_the_pretrained_base_is_cached_under_a_key_of_its_settings(tmp_path, base):
    a, b = finetune.Pretraining(), finetune.Pretraining(max_iters=10)
    assert a.key() != b.key() and a.key() == finetune.Pretraining().key()
    assert finetune.cached_base(b, tmp_path) is None
    run = TrainingRun.inspect(base)
    path = finetune.save_base(run, b, tmp_path)
    assert path.parent == tmp_path and finetune.cached_base(b, tmp_path).step == base.step
    path.write_bytes(b"not a checkpoint")
    assert finetune.cached_base(b, tmp_path) is None  # a damaged cache is made again, not trusted


def test_the_small_base_keeps_its_cache_key_and_the_assistant_base_reads_800_characters():
    import hashlib
    import json

    from llmviz.io.checkpoint import VERSION
    from llmviz.text import corpora

    before = json.dumps({"preset": "fast-cpu", "plays": [], "max_iters": 1800, "seed": 1337, "format": VERSION,
                         "recipe": 1}, sort_keys=True)
    assert finetune.SMALL_BASE.key() == hashlib.sha256(before.encode()).hexdigest()[:16]
    assert finetune.ASSISTANT_BASE.key() != finetune.SMALL_BASE.key()
    run = finetune.pretraining_run(finetune.ASSISTANT_BASE)
    block = run.model_cfg.block_size
    assert block >= 256 and run.preset == "assistant"
    text = corpora.shakespeare(corpora.DEFAULT_PLAYS).text
    windows = [run.tokenizer.decode(run.tokenizer.encode(text[i:i + 4000])[:block]) for i in range(0, 400_000, 40_000)]
    assert min(len(w) for w in windows) >= 800  # a context of 384 tokens holds 800 characters of the plays
    assert finetune.pretraining_eta(run) > 0


def test_the_assistant_base_reads_the_plays_with_world_passages_spread_through_them():
    from llmviz.text import corpora, world

    plays = corpora.shakespeare(corpora.DEFAULT_PLAYS).text
    assert finetune.pretraining_text(finetune.SMALL_BASE) == plays  # the small base reads the plays alone
    text = finetune.pretraining_text(finetune.ASSISTANT_BASE)
    passages = world.pretraining_passages(finetune.ASSISTANT_BASE.worlds)
    blocks = text.split("\n\n")
    blocks[-1] = blocks[-1].removesuffix("\n")
    assert "\n\n".join(b for b in blocks if b not in set(passages)) == plays.rstrip("\n")  # every speech, in order
    assert sorted(b for b in blocks if b in set(passages)) == sorted(passages)  # every passage once
    tail = text[int(len(text) * 0.9):]  # the validation tenth has its share of them
    share = sum(tail.count(p) for p in passages) / len(passages)
    assert 0.05 < share < 0.15


# --- LoRA's rows for new tokens, what each method must keep, the sentences that read the numbers ---------

def test_the_new_tokens_are_those_the_new_text_relies_on(base):
    ids = finetune.new_tokens(base.tokenizer, DOMAIN, ORIGINAL)
    # counted here character by character: never in the original, or 1.5 times as frequent in the new text
    rate = lambda c, text: text.count(c) / len(text)  # noqa: E731
    relied = {c for c in set(DOMAIN) if c not in ORIGINAL or rate(c, DOMAIN) >= 1.5 * rate(c, ORIGINAL)}
    assert set(base.tokenizer.decode(list(ids))) == relied > set(DOMAIN) - set(ORIGINAL)
    assert finetune.new_tokens(base.tokenizer, DOMAIN, ORIGINAL, ratio=float("inf")) == tuple(
        sorted(base.tokenizer.encode("".join(set(DOMAIN) - set(ORIGINAL)))))  # only those never used
    assert finetune.new_tokens(base.tokenizer, DOMAIN, None) == ()
    assert finetune.new_tokens(base.tokenizer, ORIGINAL, ORIGINAL) == ()


def test_trained_rows_replace_only_their_rows_as_a_table_with_those_rows_written_in_would():
    torch.manual_seed(0)
    emb, head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10)
    rows = lora.TrainedRows(emb, [2, 7])
    x = torch.tensor([[1, 2, 7, 3]])
    assert torch.equal(rows(x), emb(x))  # starts as the base's rows
    with torch.no_grad():
        rows.token_rows.add_(1.0)
    table = emb.weight.detach().clone()
    table[[2, 7]] += 1.0
    assert torch.equal(rows(x), torch.nn.functional.embedding(x, table))
    hrows = lora.TrainedRows(head, [2, 7])
    hrows(torch.randn(3, 4)).sum().backward()
    assert emb.weight.grad is None and hrows.token_rows.grad is not None and hrows.token_bias.grad is not None
    rows.merge()  # merged, the base table holds the rows; unmerged, exactly the base again
    assert torch.equal(emb.weight, table) and torch.equal(rows(x), torch.nn.functional.embedding(x, table))
    rows.unmerge()
    table[[2, 7]] -= 1.0
    assert torch.allclose(emb.weight, table)


def test_lora_trains_the_new_tokens_rows_and_its_adapter_file_brings_them_back(base):
    run = tune(base, "lora", rank=2, alpha=4.0)
    ids = finetune.new_tokens(base.tokenizer, DOMAIN, ORIGINAL)
    assert run.model.adapters.tokens == ids and run.model.adapters.targets == tuple(lora.TARGETS)
    run.train()
    moved = run.model.lm_head.token_rows.detach() - base.model.lm_head.weight.detach()[list(ids)]
    assert moved.abs().max() > 0
    same = checkpoint.from_bytes(checkpoint.to_bytes(base.model, base.tokenizer, base.train_config, extra=base.extra))
    loaded = checkpoint.load_adapter(finetune.to_keep(run), same).model
    idx = torch.tensor([base.tokenizer.encode(DOMAIN[:16])])
    with torch.no_grad():
        assert torch.equal(loaded(idx)[0], run.model(idx)[0])
    off = tune(base, "lora", rank=2, alpha=4.0, new_token_rows=False)
    assert off.model.adapters.tokens == () and off.n_trainable < run.n_trainable


def test_only_what_trained_is_kept(base):
    full, frozen, adapted = (tune(base, m, rank=2, alpha=4.0) for m in ("full", "frozen", "lora"))
    trained = {n: p.detach().contiguous() for n, p in frozen.model.named_parameters() if p.requires_grad}
    assert finetune_compare.bytes_to_keep(frozen) == len(save(trained))
    assert finetune_compare.bytes_to_keep(full) == len(finetune.to_keep(full))
    assert finetune_compare.bytes_to_keep(adapted) == len(finetune.to_keep(adapted))
    assert finetune_compare.bytes_to_keep(adapted) < finetune_compare.bytes_to_keep(frozen) < \
        finetune_compare.bytes_to_keep(full)


def numbers(new, original, size, rank=4):
    return {"trainable": 100, "params": 1000, "steps": 300, "new_start": 3.0, "new": new, "original_start": 1.5,
            "original": original, "ms": 5.0, "bytes": size, "rank": rank}


@pytest.mark.parametrize("lo, full, words", [
    (numbers(1.70, 1.90, 10_000), numbers(1.60, 2.30, 1_000_000, None),
     ["LoRA r = 4", "1.700", "0.10 nats above full fine-tuning's 1.600", "forgets less", "1.900 against 2.300",
      "10,000 bytes", "100× less"]),
    (numbers(1.50, 2.40, 50_000, 16), numbers(1.60, 2.30, 1_000_000, None),
     ["LoRA r = 16", "0.10 nats below", "forgets more", "2.400 against 2.300", "20× less"]),
    (numbers(1.60, 2.30, None, 1), numbers(1.60, 2.30, None, None),
     ["LoRA r = 1", "as low as full fine-tuning (1.600)", "forgets as much"]),
])
def test_the_sentence_under_the_table_is_written_from_its_numbers(lo, full, words):
    text = finetune_compare.reading({"full": full, "lora": lo})
    for w in words:
        assert w in text, (w, text)
    assert ("bytes" in text) == (lo["bytes"] is not None)


def test_without_full_fine_tuning_the_sentence_says_what_lora_forgot_and_nothing_before_a_loss():
    text = finetune_compare.reading({"lora": numbers(1.7, 1.9, None)})
    assert "from 1.500 to 1.900" in text and "full" not in text
    assert finetune_compare.reading({"lora": numbers(None, None, None)}) == ""
    assert finetune_compare.reading({"full": numbers(1.6, 2.3, 5)}) == ""


def test_the_spectrum_is_read_from_its_numbers():
    low = finetune_compare.low_rank_reading([10.0, 1.0, 0.5, 0.1], 1)
    assert "Rank 1 keeps 99%" in low and "takes 1 of its 4 directions" in low and "as LoRA assumes" in low
    flat = finetune_compare.low_rank_reading([1.0] * 10, 4)
    assert "Rank 4 keeps 40%" in flat and "9 of its 10" in flat and "not low-rank" in flat
    mid = finetune_compare.low_rank_reading([3.0, 2.0, 1.0, 1.0, 1.0], 2)
    assert "Rank 2 keeps 81%" in mid and "as LoRA assumes" in mid
    assert finetune_compare.low_rank_reading([3.0, 2.0, 2.0, 2.0, 2.0], 2).count("partly") == 1
