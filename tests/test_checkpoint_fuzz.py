"""Crafted checkpoints: every field of the description mutated to wrong types, out-of-range values and
huge sizes, and the tensors truncated, padded or re-declared. Each file either loads into something
usable or is refused with a CheckpointError in words; nothing else is ever raised, and a file that
declares a huge model is refused without the process's memory growing."""

from __future__ import annotations

import copy
import json
import math
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load, save

from llmviz.io import checkpoint
from llmviz.io.checkpoint import CheckpointError, from_bytes
from llmviz.nn.model import ModelConfig
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 40


@pytest.fixture(scope="module")
def good() -> bytes:
    run = TrainingRun.new(ModelConfig(block_size=8, n_embd=16, n_head=2, n_layer=1),
                          TrainConfig(max_iters=4, eval_interval=2, eval_iters=1, batch_size=4, sample_tokens=4), TEXT)
    run.preset = "lm2"
    run.train()
    return checkpoint.run_to_bytes(run, {"corpus": "hamlet"})


def split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def with_info(data: bytes, change) -> bytes:
    header, body = split(data)
    info = json.loads(header["__metadata__"]["llmviz"])
    change(info)
    header["__metadata__"]["llmviz"] = json.dumps(info)
    return join(header, body)


def outcome(data: bytes):
    """'ok' with a usable checkpoint, or the refusal's words; anything else fails the test."""
    try:
        ck = from_bytes(data)
    except CheckpointError as e:
        msg = str(e)
        assert msg and "Traceback" not in msg and len(msg) < 600, msg
        return msg
    usable(ck)
    return "ok"


def usable(ck) -> None:
    """What the pages and the command line do with a loaded checkpoint must work."""
    assert type(ck.step) is int and ck.step >= 0
    assert isinstance(ck.best_val_loss, float)
    for r in ck.history:
        assert type(r.step) is int and all(type(v) is float and math.isfinite(v) for v in r[1:6])
    from llmviz.nn.generate import generate_text

    ids = ck.tokenizer.encode(ck.tokenizer.decode([0]))
    logits, _ = ck.model(torch.tensor([ids[:ck.model_config.block_size]]))
    assert torch.isfinite(logits).all()
    generate_text(ck.model, ck.tokenizer, "", 5, seed=0)
    TrainingRun.inspect(ck)  # the checkpoint's training settings pass their own checks


def leaves(node, path=()):
    """Every (path, value) of a JSON document, lists and objects included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):  # the first entries stand for the rest
            yield from leaves(v, path + (i,))


def set_at(doc, path, value):
    for k in path[:-1]:
        doc = doc[k]
    doc[path[-1]] = value


WRONG = ["abc", None, True, [], {}, -1, 0, 2.5, float("nan"), float("inf"), -1e308, 10**30, 2**63, "x" * 100_000,
         [1] * 1000]


def test_every_field_mutated_is_loaded_sanely_or_refused_in_words(good):
    header, _ = split(good)
    doc = json.loads(header["__metadata__"]["llmviz"])
    paths = [p for p, _ in leaves(doc) if p]
    refused, accepted = 0, 0
    for path in paths:
        for value in WRONG:
            data = with_info(good, lambda info: set_at(info, path, copy.deepcopy(value)))
            result = outcome(data)
            refused += result != "ok"
            accepted += result == "ok"
    # also: each field removed
    for path in paths:
        def drop(info):
            node = info
            for k in path[:-1]:
                node = node[k]
            del node[path[-1]]
        outcome(with_info(good, drop))
    assert len(paths) > 60 and refused > 10 * len(paths)


@pytest.mark.parametrize("change, words", [
    (lambda i: i.update(step="abc"), "step must be a whole number"),
    (lambda i: i.update(step=-5), "step must be between 0"),
    (lambda i: i.update(best_val_loss="abc"), "best_val_loss must be a number"),
    (lambda i: i["model_config"].update(n_embd="16"), "model_config.n_embd must be a whole number"),
    (lambda i: i["model_config"].update(n_layer=10**9), "model_config.n_layer must be between 1 and 128"),
    (lambda i: i["model_config"].update(causal="yes"), "model_config.causal must be true or false"),
    (lambda i: i["train_config"].update(learning_rate="3e-4"), "train_config.learning_rate must be a number"),
    (lambda i: i["train_config"].update(learning_rate=float("nan")), "learning_rate must be a number, not NaN"),
    (lambda i: i["train_config"].update(learning_rate=float("inf")), "learning_rate must be in"),
    (lambda i: i["train_config"].update(device="tpu"), "train_config.device must be one of"),
    (lambda i: i["history"][0].update(train_loss="abc"), "history[0].train_loss must be a number"),
    (lambda i: i["history"][0].update(step=1.5), "history[0].step must be a whole number"),
    (lambda i: i["history"][1].pop("lr"), "history[1] must have the fields"),
    (lambda i: i.update(history=[{}] * 300_000), "history has 300,000 entries"),
    (lambda i: i["tokenizer"].update(chars=["ab"] + i["tokenizer"]["chars"][1:]), "must be one character"),
    (lambda i: i["tokenizer"].update(kind="sentencepiece"), "tokenizer.kind must be one of"),
    (lambda i: i["tokenizer"].update(chars=["a"] * 2_000_000), "at most 1,000,000"),
    (lambda i: i.update(optimizer={"scalars": {"nodot": 1.0}}), "'<parameter>.<state>'"),
    (lambda i: i.update(optimizer={"scalars": {"x.step": 1.0}}), "names a parameter the model lacks: 'x'"),
    (lambda i: i.update(optimizer={"scalars": {"lm_head.bias.step": "abc"}}), "must be a number"),
    (lambda i: i.update(preset="lm9"), "preset must be one of"),
    (lambda i: i.update(adapters={"rank": "4"}), "adapters.targets must be a list"),
    (lambda i: i.update(architecture=["decoder-only"]), "architecture must be text"),
    (lambda i: i.pop("model_config"), "it has no model_config"),
])
def test_the_issue_s_crafted_fields_are_refused_with_their_name(good, change, words):
    with pytest.raises(CheckpointError, match=__import__("re").escape(words)):
        from_bytes(with_info(good, change))


def bpe_checkpoint(merges, pattern=None) -> bytes:
    from llmviz.text.bpe import BPETokenizer

    tok = BPETokenizer().train("aaaa bbbb abab " * 50, 260)
    run = TrainingRun.new(ModelConfig(block_size=8, n_embd=16, n_head=2), TrainConfig(max_iters=1, eval_iters=1,
                          batch_size=2, sample_tokens=0), "aaaa bbbb abab " * 50, tokenizer=tok)
    data = checkpoint.run_to_bytes(run)
    return with_info(data, lambda i: i["tokenizer"].update(merges=merges, **({"pattern": pattern} if pattern else {})))


def test_a_bpe_tokenizer_cannot_spell_tokens_of_exponential_size():
    # each merge doubles the last token: 60 merges would spell 2**60 bytes
    bomb = [{"pair": [97, 97], "token": "aa", "count": 1, "n_tokens": 1}]
    bomb += [{"pair": [256 + k, 256 + k], "token": "a", "count": 1, "n_tokens": 1} for k in range(60)]
    with pytest.raises(CheckpointError, match="at most 4,096"):
        from_bytes(bpe_checkpoint(bomb))
    with pytest.raises(CheckpointError, match="pair\\[0\\] must be between 0 and 255"):
        from_bytes(bpe_checkpoint([{"pair": [999, 97], "token": "?"}]))
    with pytest.raises(CheckpointError, match="split pattern"):
        from_bytes(bpe_checkpoint([], pattern="(a+)+$"))


def test_hostile_json_is_refused_in_words(good):
    header, body = split(good)
    for doc in ("[" * 100_000 + "]" * 100_000, '{"step": ' + "9" * 5000 + "}", "not json", '"just a string"'):
        header["__metadata__"]["llmviz"] = doc
        assert outcome(join(header, body)) != "ok"
    nested = b"[" * 200_000
    assert "not valid JSON" in outcome(struct.pack("<Q", len(nested)) + nested)
    assert "not an llmviz checkpoint" in outcome(struct.pack("<Q", 2**63) + b"{}")
    assert "not an llmviz checkpoint" in outcome(b"\xff" * 8 + b"{}")


def test_tensors_truncated_padded_or_redeclared_are_refused_in_words(good):
    header, body = split(good)
    for cut in range(0, len(good), max(1, len(good) // 40)):  # truncated anywhere
        assert outcome(good[:cut]) != "ok"
    outcome(good + b"\x00" * 1000)  # padded: loads or is refused, never anything else
    name = "model.lm_head.weight"
    entry = header[name]
    mutations = {
        "shape": [entry["shape"][0], entry["shape"][1] + 1],
        "dtype": "I32", "data_offsets": [0, 10**12],
    }
    for key, value in mutations.items():
        h = copy.deepcopy(header)
        h[name][key] = value
        assert outcome(join(h, body)) != "ok"
    for key in ("shape", "dtype", "data_offsets"):  # each part of a table entry: wrong types, huge sizes
        for value in WRONG + [[2**40, 2**40], [-1, 4], [4, 2]]:
            h = copy.deepcopy(header)
            h[name][key] = copy.deepcopy(value)
            outcome(join(h, body))
    h = copy.deepcopy(header)  # a tensor the model does not have, and one it lacks
    h["model.extra_layer.weight"] = h.pop(name)
    assert "missing lm_head.weight" in outcome(join(h, body))
    h = copy.deepcopy(header)
    h["optim.x.exp_avg"] = h.pop("optim.lm_head.weight.exp_avg")
    assert "names a parameter the model lacks: 'x'" in outcome(join(h, body))
    h = copy.deepcopy(header)
    h["surprise"] = h.pop("rng.torch")
    assert "does not know" in outcome(join(h, body))
    # weights that are not numbers
    tensors = load(good)
    tensors["model.lm_head.weight"] = torch.full_like(tensors["model.lm_head.weight"], float("nan"))
    assert "NaN or infinite" in outcome(save(tensors, metadata=header["__metadata__"]))
    tensors = load(good)
    tensors["rng.torch"] = torch.zeros(7, dtype=torch.uint8)
    assert "random generator state" in outcome(save(tensors, metadata=header["__metadata__"]))


MEMORY_SCRIPT = textwrap.dedent('''
    import json, resource, struct, sys
    import torch
    from safetensors.torch import load, save
    from llmviz.io import checkpoint
    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.text.tokenizers import CharTokenizer
    from llmviz.training.config import TrainConfig

    text = "to be or not to be\\n"
    good = checkpoint.to_bytes(LanguageModel(ModelConfig(vocab_size=len(set(text)), block_size=8, n_embd=16,
                               n_head=2)), CharTokenizer().train(text), TrainConfig())
    (n,) = struct.unpack("<Q", good[:8])
    meta = json.loads(good[8:8 + n])["__metadata__"]
    crafted = []
    for cfg in (dict(n_embd=2048, n_layer=4), dict(n_embd=2048, n_layer=3, block_size=65536),
                dict(n_embd=16384, n_layer=128, vocab_size=1_000_000), dict(n_embd=8192, n_layer=6)):
        info = json.loads(meta["llmviz"]); info["model_config"].update(cfg)
        crafted.append(save(load(good), metadata={**meta, "llmviz": json.dumps(info)}))
    header = json.loads(good[8:8 + n])  # a table entry declaring a 10^12-value tensor
    header["model.lm_head.weight"]["shape"] = [10**6, 10**6]
    h = json.dumps(header).encode(); crafted.append(struct.pack("<Q", len(h)) + h + good[8 + n:])
    checkpoint.from_bytes(good)  # warm up: the first load imports what loading needs
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    words = []
    for data in crafted:
        try:
            checkpoint.from_bytes(data)
            words.append("LOADED")
        except checkpoint.CheckpointError as e:
            words.append(str(e))
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"grown_mb": grown, "words": words}))
''')


@pytest.mark.slow
def test_a_file_declaring_a_huge_model_is_refused_with_bounded_memory():
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert "LOADED" not in res["words"], res
    assert all(w for w in res["words"])
    assert res["grown_mb"] < 50, res  # the issue's file made the process allocate ~760 MB
