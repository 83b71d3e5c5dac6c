"""The training engine's seams: one forward pass that records, any batch source, explicit ways to
start a run (new, resume, fine-tune, inspect), what AdamW decays and trains, learner errors, presets."""

import math

import pytest
import torch

from llmviz.io import checkpoint
from llmviz import jobs
from llmviz.training.batches import Batch, TextBatches
from llmviz.errors import LearnerError
from llmviz.nn.model import IGNORE, LanguageModel, ModelConfig
from llmviz.training.optim import make_optimizer, param_groups
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingError, TrainingRun

torch.set_num_threads(1)

TEXT = "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n" * 60


def tiny(**kw):
    return ModelConfig(**{**dict(vocab_size=0, block_size=16, n_embd=32, n_head=2, n_layer=2), **kw})


def fast(**kw):
    return TrainConfig(**{**dict(max_iters=40, eval_interval=20, eval_iters=2, batch_size=8, learning_rate=3e-3,
                                 sample_tokens=0, threads=1), **kw})


def test_trace_reads_the_models_own_forward():
    """A model whose forward differs from the stock one (as cross-attention or LoRA will) is traced as it is."""
    from llmviz.concepts import next_token

    class Shifted(LanguageModel):
        def forward(self, idx, targets=None, **kw):
            logits, loss = super().forward(idx, targets, **kw)
            return logits + torch.arange(logits.size(-1), dtype=logits.dtype), loss

    tok = CharTokenizer().train("abcdefgh ")
    torch.manual_seed(0)
    model = Shifted(tiny(vocab_size=tok.vocab_size))
    ids = tok.encode("bad cafe")
    t = next_token.trace(model, ids, tok, temperature=0.0)
    assert torch.allclose(t.logits, model(torch.tensor([ids]))[0][0, -1], atol=1e-5)


def test_weight_decay_reaches_matrices_only_and_frozen_parameters_are_not_optimised():
    model = LanguageModel(tiny(vocab_size=30))
    model.lm_head.weight.requires_grad_(False)
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    decayed = {names[id(p)] for p in decay["params"]}
    assert "token_embedding.weight" in decayed and "blocks.0.attn.qkv.weight" in decayed
    assert {"blocks.0.ln1.weight", "blocks.0.ln1.bias", "lm_head.bias"} <= {names[id(p)] for p in no_decay["params"]}
    assert "lm_head.weight" not in {names[id(p)] for g in (decay, no_decay) for p in g["params"]}
    # a layer-norm gain is not pulled towards zero by a step whose gradient is zero
    opt = make_optimizer(model, TrainConfig(weight_decay=0.5, learning_rate=0.1), "cpu")
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    gain = model.blocks[0].ln1.weight.detach().clone()
    qkv = model.blocks[0].attn.qkv.weight.detach().clone()
    opt.step()
    assert torch.equal(model.blocks[0].ln1.weight, gain)
    assert torch.allclose(model.blocks[0].attn.qkv.weight, qkv * (1 - 0.1 * 0.5))  # decoupled decay: lr × wd
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        param_groups(model, 0.1)


class MaskedPrompts:
    """A batch source like instruction data: 'question=answer;' lines, only the answer is learned."""

    splits = ("train", "val")

    def __init__(self, tok, n=200):
        import random

        rng = random.Random(0)
        self.tok = tok
        self.lines = []
        for _ in range(n):
            a = rng.randint(0, 9)
            self.lines.append(f"{a}={(a + 1) % 10};")

    def batch(self, split, batch_size, generator=None):
        ix = torch.randint(len(self.lines), (batch_size,), generator=generator)
        ids = torch.tensor([self.tok.encode(self.lines[i]) for i in ix])  # (B, 4)
        x, y = ids[:, :-1], ids[:, 1:].clone()
        y[:, :1] = IGNORE  # the prompt ("a" -> "=") is not learned: only the answer and the ";"
        return Batch({"idx": x}, y)

    def prompt(self):
        return self.tok.encode("3=")


def test_a_different_batch_source_trains_through_the_same_trainer():
    tok = CharTokenizer().train("0123456789=;")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=3, n_embd=32, n_head=2, n_layer=2))
    run = TrainingRun(model, tok, MaskedPrompts(tok), fast(max_iters=300, eval_interval=100, learning_rate=1e-2,
                                                          sample_tokens=2))
    snap = run.train()
    assert snap.history[-1].val_loss < 0.1 < snap.history[0].val_loss  # it learned a + 1, and only that
    assert snap.extra["sample"] == "3=4;"


def test_fine_tuning_starts_fresh_from_a_checkpoints_weights_and_trains_only_what_it_is_told():
    base = TrainingRun.new(tiny(), fast(), TEXT, preset="lm5")
    base.train()
    ck = checkpoint.from_bytes(checkpoint.run_to_bytes(base))
    frozen_before = {n: p.detach().clone() for n, p in ck.model.named_parameters() if not n.startswith("lm_head")}
    head_before = ck.model.lm_head.weight.detach().clone()
    tuned = TrainingRun.fine_tune(ck, fast(max_iters=10), TEXT.upper().lower(), train_only=lambda n: n.startswith("lm_head"))
    assert tuned.step == 0 and tuned.history == () and tuned.optimizer_state() is None  # a fresh optimizer
    assert tuned.preset == "lm5" and tuned.n_trainable == sum(p.numel() for p in tuned.model.lm_head.parameters())
    tuned.train()
    assert tuned.step == 10
    for n, p in tuned.model.named_parameters():
        if n in frozen_before:
            assert torch.equal(p, frozen_before[n]), n
    assert not torch.equal(tuned.model.lm_head.weight, head_before)
    assert set(tuned.optimizer_state()) == {"lm_head.weight", "lm_head.bias"}
    with pytest.raises(TrainingError, match="frozen"):
        TrainingRun.fine_tune(checkpoint.from_bytes(checkpoint.run_to_bytes(base)), fast(), TEXT, train_only=lambda n: False)


def test_resuming_a_fine_tuned_checkpoint_finds_its_optimizer_state_by_name():
    base = TrainingRun.new(tiny(), fast(), TEXT)
    base.train()
    tuned = TrainingRun.fine_tune(checkpoint.from_bytes(checkpoint.run_to_bytes(base)), fast(max_iters=6), TEXT,
                                  train_only=lambda n: n.startswith("blocks.1"))
    tuned.train()
    saved = checkpoint.from_bytes(checkpoint.run_to_bytes(tuned))
    assert set(saved.optimizer_state) == {n for n, _ in tuned.model.named_parameters() if n.startswith("blocks.1")}
    more = TrainingRun.resume(saved, fast(max_iters=12), TEXT)  # every parameter trains again
    more.train()
    assert more.step == 12 and [r.step for r in more.history] == [0, 6, 12]


def test_an_inspect_only_run_says_why_and_refuses_to_start():
    run = TrainingRun.new(tiny(), fast(max_iters=4, eval_interval=4), TEXT)
    assert not run.usable  # nothing learned yet
    run.train()
    assert run.usable and run.trainable and run.inspect_only == ""
    seen = TrainingRun.inspect(checkpoint.from_bytes(checkpoint.run_to_bytes(run)), "its text is gone")
    assert not seen.trainable and seen.usable and seen.step == 4 and seen.inspect_only == "its text is gone"
    with pytest.raises(TrainingError, match="its text is gone"):
        seen.start()


def test_every_refusal_is_a_learner_error_and_a_job_reports_it_in_plain_words():
    from llmviz.text.bpe import BPEError
    from llmviz.io.checkpoint import CheckpointError
    from llmviz.text.corpora import CorpusError
    from llmviz.concepts.deep import DeepError
    from llmviz.concepts.embeddings import EmbeddingError

    for cls in (TrainingError, CheckpointError, CorpusError, DeepError, EmbeddingError, BPEError, jobs.JobFailed):
        assert issubclass(cls, LearnerError), cls

    def work(job):
        raise TrainingError("the text is too short")

    snap = jobs.Job(work).start().join(5).snapshot()
    assert snap.state == jobs.FAILED and snap.reason == "the text is too short"


def test_presets_are_typed_and_checked_when_imported():
    from llmviz.training import presets

    assert all(isinstance(p.model, ModelConfig) and isinstance(p.train, TrainConfig) for p in presets.PRESETS.values())
    broken = {"oops": presets.Preset("Oops", "a model with 30 dimensions over 4 heads",
                                     ModelConfig(n_embd=30, n_head=4))}
    with pytest.raises(ValueError, match="'oops' is broken.*divisible"):
        presets._check(broken)
    with pytest.raises(TypeError):
        ModelConfig(n_embd=32, n_heads=2)  # a typo is an error, not a silently ignored field
    with pytest.raises(Exception):
        presets.PRESETS["lm5"].train.max_iters = 1  # frozen: a run extending itself cannot change the preset


def test_extend_does_not_change_the_config_it_was_given():
    cfg = fast(max_iters=4, eval_interval=4)
    run = TrainingRun.new(tiny(), cfg, TEXT)
    run.train()
    run.extend(8).train()
    assert run.step == 8 and cfg.max_iters == 4 and run.train_cfg.max_iters == 8


def test_text_batches_refuse_a_text_too_short_in_plain_words():
    with pytest.raises(LearnerError, match=r"too short: 20 tokens.*at least"):
        TextBatches(list(range(20)), block_size=16, val_fraction=0.2)
    b = TextBatches(list(range(200)), block_size=8, val_fraction=0.2).batch("val", 5, torch.Generator().manual_seed(0))
    assert b.inputs["idx"].shape == b.targets.shape == (5, 8)
    assert torch.equal(b.inputs["idx"][:, 1:], b.targets[:, :-1])  # y is x shifted by one
    assert bool((b.inputs["idx"] >= 160).all())  # validation windows come from the last 20 %
    assert math.isclose(float(b.targets.float().mean()) - float(b.inputs["idx"].float().mean()), 1.0)
