"""Fine-tuning three ways: what trains, what stays bit-identical, forgetting measured, the cached base."""

import pytest
import torch

from llmviz.io import checkpoint
from llmviz.tasks import finetune
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
