"""Checkpoints: identical logits after a round trip, seamless resume, clear errors, no unpickling."""

import json
import struct

import pytest
import torch

from llmviz.io import checkpoint
from llmviz.io.checkpoint import CheckpointError, from_bytes, to_bytes
from llmviz.errors import LearnerError
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

torch.set_num_threads(1)  # tiny models: one thread is far faster (see llmviz.device.threads_for)

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 40


def cfg(**kw):
    return ModelConfig(**{**dict(vocab_size=len(set(TEXT)), block_size=16, n_embd=32, n_head=2, n_layer=2), **kw})


def tcfg(**kw):
    return TrainConfig(**{**dict(max_iters=30, eval_interval=15, eval_iters=3, batch_size=8, learning_rate=3e-3,
                                 sample_tokens=10), **kw})


def test_round_trip_gives_identical_logits_tokenizer_and_history(tmp_path):
    run = TrainingRun.new(cfg(dropout=0.1), tcfg(), TEXT)
    run.train()
    path = checkpoint.save_run(tmp_path / "model", run, extra={"corpus": "hamlet"})
    assert path.name == "model.safetensors"
    ck = checkpoint.load(tmp_path / "model")
    idx = torch.randint(ck.model_config.vocab_size, (3, 16))
    assert torch.equal(run.model(idx)[0], ck.model(idx)[0])
    assert ck.model_config == run.model.config and ck.train_config == run.train_cfg
    assert ck.tokenizer.to_dict() == run.tokenizer.to_dict()
    assert ck.history == run.history and ck.step == 30
    assert ck.best_val_loss == pytest.approx(min(r.val_loss for r in run.history))
    assert ck.extra == {"corpus": "hamlet"}
    assert ck.optimizer_state is not None and ck.rng_state is not None


def test_the_file_is_plain_safetensors_with_json_metadata():
    from safetensors.torch import load

    torch.manual_seed(0)
    model = LanguageModel(cfg())
    data = to_bytes(model, CharTokenizer().train(TEXT), tcfg())
    tensors = load(data)
    assert set(tensors) == {f"model.{k}" for k in model.state_dict()}
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    assert meta["format"] == "llmviz-checkpoint"
    assert json.loads(meta["llmviz"])["model_config"]["n_layer"] == 2
    ck = from_bytes(data)
    assert ck.optimizer_state is None and ck.step == 0 and ck.history == ()


def test_resuming_continues_exactly_like_an_uninterrupted_run():
    straight = TrainingRun.new(cfg(dropout=0.1), tcfg(max_iters=30), TEXT)
    straight.train()
    first = TrainingRun.new(cfg(dropout=0.1), tcfg(max_iters=15), TEXT)
    first.train()
    ck = from_bytes(checkpoint.run_to_bytes(first))
    second = TrainingRun.resume(ck, tcfg(max_iters=30), TEXT)
    assert second.step == 15
    second.train()
    # same weights, bit for bit: optimizer moments and random streams were restored
    for a, b in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert [r.step for r in second.history] == [0, 15, 30]
    assert second.history[-1].val_loss == straight.history[-1].val_loss


def test_resume_needs_more_steps_than_already_trained():
    first = TrainingRun.new(cfg(), tcfg(max_iters=15), TEXT)
    first.train()
    with pytest.raises(Exception, match="already trained 15 steps"):
        TrainingRun.resume(from_bytes(checkpoint.run_to_bytes(first)), tcfg(max_iters=15), TEXT)


def test_garbage_and_foreign_files_raise_a_clear_error(tmp_path):
    from safetensors.torch import save

    good = to_bytes(LanguageModel(cfg()), CharTokenizer().train(TEXT), tcfg())
    cases = {
        b"": "too short",
        b"PK\x03\x04 this is a zip file, not a checkpoint": "safetensors header",
        struct.pack("<Q", 5) + b"{nope": "not valid JSON",
        save({"w": torch.zeros(2)}): "not written by llmviz",
        good[: len(good) // 2]: "truncated",
    }
    for data, words in cases.items():
        with pytest.raises(CheckpointError, match=words):
            from_bytes(data)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing.safetensors")


def test_weights_that_do_not_match_the_config_are_refused():
    from safetensors.torch import load, save

    good = to_bytes(LanguageModel(cfg()), CharTokenizer().train(TEXT), tcfg())
    tensors = load(good)
    (n,) = struct.unpack("<Q", good[:8])
    meta = json.loads(good[8:8 + n])["__metadata__"]
    info = json.loads(meta["llmviz"])
    info["model_config"]["n_layer"] = 3  # says 3 blocks, holds 2
    meta["llmviz"] = json.dumps(info)
    with pytest.raises(CheckpointError, match="do not match the model configuration"):
        from_bytes(save(tensors, metadata=meta))


def test_loading_never_unpickles(monkeypatch):
    import pickle

    def refuse(*a, **k):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    run = TrainingRun.new(cfg(), tcfg(max_iters=5, eval_interval=5), TEXT)
    run.train()
    assert from_bytes(checkpoint.run_to_bytes(run)).step == 5


def test_a_loaded_run_saved_again_keeps_its_optimizer_state():
    run = TrainingRun.new(cfg(), tcfg(), TEXT)
    run.train()
    first = from_bytes(checkpoint.run_to_bytes(run))
    loaded = TrainingRun.resume(first, tcfg(max_iters=60), TEXT)  # not trained since loading
    again = from_bytes(checkpoint.run_to_bytes(loaded))
    assert again.optimizer_state is not None and again.step == 30
    assert set(first.optimizer_state) == {n for n, _ in run.model.named_parameters()}
    for name, state in first.optimizer_state.items():
        assert torch.equal(state["exp_avg"], again.optimizer_state[name]["exp_avg"])


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def test_a_version_1_file_written_by_the_previous_code_loads_unchanged_and_trains_on():
    ck = checkpoint.load(FIXTURES / "checkpoint_v1.safetensors")
    expected = json.loads((FIXTURES / "checkpoint_v1.json").read_text())
    assert ck.version == 1 and ck.architecture == "decoder-only" and ck.preset == "lm5"  # from v1's extra
    ids = ck.tokenizer.encode(expected["prompt"])[:8]
    logits, _ = ck.model(torch.tensor([ids]))
    # the same logits to float32's rounding (another CPU's matrix kernels add in another order: on an AMD
    # EPYC they differ from the fixture's in the 8th digit), so the weights were read as written
    assert torch.allclose(logits[0, -1], torch.tensor(expected["logits_last"]), rtol=0, atol=1e-5)
    assert ck.step == expected["step"] and len(ck.history) == expected["n_history"]
    # v1 numbered AdamW's state by position: it now finds its parameters by name
    assert set(ck.optimizer_state) == {n for n, _ in ck.model.named_parameters()}
    text = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
            "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles\n") * 3
    run = TrainingRun.resume(ck, TrainConfig.from_dict({**ck.train_config.to_dict(), "max_iters": 9}), text)
    run.train()
    again = from_bytes(checkpoint.run_to_bytes(run))
    assert again.version == checkpoint.VERSION == 2 and again.step == 9 and again.preset == "lm5"


def test_version_2_records_the_architecture_the_preset_and_special_tokens():
    tok = CharTokenizer(sorted(set(TEXT)), special_tokens=["<|user|>", "<|end|>"])
    torch.manual_seed(0)
    model = LanguageModel(cfg(vocab_size=tok.vocab_size))
    data = to_bytes(model, tok, tcfg(), preset="lm5")
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    assert meta["version"] == "2"
    info = json.loads(meta["llmviz"])
    assert info["architecture"] == "decoder-only" and info["preset"] == "lm5" and info["adapters"] is None
    ck = from_bytes(data)
    assert ck.tokenizer.special_tokens == ["<|user|>", "<|end|>"]
    assert ck.tokenizer.encode("to<|end|>") == tok.encode("to<|end|>") and ck.tokenizer.vocab_size == tok.vocab_size


def test_adapters_round_trip_whole_or_alone_and_only_onto_their_base():
    from llmviz.nn import lora
    from llmviz.io.checkpoint import adapter_to_bytes, load_adapter
    from llmviz.nn.lora import weights_sha256

    tok = CharTokenizer().train(TEXT)
    torch.manual_seed(0)
    model = LanguageModel(cfg())
    base_bytes = to_bytes(model, tok, tcfg())
    base = weights_sha256(model)
    assert base == weights_sha256(model.state_dict()) and len(base) == 64
    lora.apply_lora(model, 4, 8.0, ["query", "value"])
    assert model.adapters.base_sha256 == base == weights_sha256(model)  # adapters are not part of the base
    for layer in lora.layers(model).values():
        for b in layer.lora_B.values():
            torch.nn.init.normal_(b)  # as if trained
    idx = torch.randint(len(set(TEXT)), (2, 16))
    expected = model(idx)[0]
    whole = from_bytes(to_bytes(model, tok, tcfg()))
    assert whole.adapters == model.adapters and torch.equal(whole.model(idx)[0], expected)
    alone = adapter_to_bytes(model, tok, tcfg())
    assert len(alone) < len(base_bytes) / 3
    with pytest.raises(CheckpointError, match="adapters only"):
        from_bytes(alone)
    on_base = load_adapter(alone, from_bytes(base_bytes))
    assert torch.equal(on_base.model(idx)[0], expected) and on_base.adapters == model.adapters
    torch.manual_seed(1)
    other = from_bytes(to_bytes(LanguageModel(cfg()), tok, tcfg()))
    before = other.model(idx)[0]
    with pytest.raises(CheckpointError, match="another base model"):
        load_adapter(alone, other)
    assert other.model.adapters is None and torch.equal(other.model(idx)[0], before)  # left as it was
    lora.merge(model)
    with pytest.raises(LearnerError, match="unmerge"):
        to_bytes(model, tok, tcfg())


def test_a_header_promising_a_huge_model_is_refused_before_anything_is_allocated():
    import resource

    from safetensors.torch import load, save

    good = to_bytes(LanguageModel(cfg()), CharTokenizer().train(TEXT), tcfg())
    tensors = load(good)
    (n,) = struct.unpack("<Q", good[:8])
    meta = json.loads(good[8:8 + n])["__metadata__"]
    info = json.loads(meta["llmviz"])
    info["model_config"].update(n_embd=8192, n_layer=6, block_size=4_000_000)  # about 150 GB if it were built
    meta["llmviz"] = json.dumps(info)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="block_size must be between 1 and 65,536"):
        from_bytes(save(tensors, metadata=meta))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


def test_an_unknown_architecture_or_version_is_named():
    from safetensors.torch import load, save

    good = to_bytes(LanguageModel(cfg()), CharTokenizer().train(TEXT), tcfg())
    (n,) = struct.unpack("<Q", good[:8])
    meta = json.loads(good[8:8 + n])["__metadata__"]
    info = json.loads(meta["llmviz"])
    info["architecture"] = "mixture-of-experts"
    with pytest.raises(CheckpointError, match="'mixture-of-experts' model"):
        from_bytes(save(load(good), metadata={**meta, "llmviz": json.dumps(info)}))
    with pytest.raises(CheckpointError, match="version '7'"):
        from_bytes(save(load(good), metadata={**meta, "version": "7"}))
