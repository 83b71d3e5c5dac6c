"""The command line: train -> JSON line + checkpoint, resume, generate streams text, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmviz.io import checkpoint
from llmviz.cli.main import main

TEXT = "Now is the winter of our discontent made glorious summer by this sun of York.\n" * 50
SMALL = ["--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size", "8", "--eval-iters", "2",
         "--eval-interval", "10", "--sample-tokens", "5", "--lr", "3e-3"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "york.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


def test_train_prints_one_json_line_and_saves_a_checkpoint(corpus, tmp_path, capsys):
    out = tmp_path / "ck.safetensors"
    assert main(["train", "--preset", "lm2", "--corpus", corpus, "--iters", "20", "--out", str(out), "--json",
                 "--quiet", *SMALL]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    assert res["preset"] == "lm2" and res["iterations"] == 20 and res["state"] == "finished"
    ck = checkpoint.load(out)
    assert res["params"] == ck.model.num_params()
    assert res["val_loss"] == ck.history[-1].val_loss and res["best_val_loss"] == ck.best_val_loss
    assert res["seconds"] > 0 and res["ms_per_iter"] > 0 and res["peak_rss_mb"] > 0
    # the flags reached the model: lm2's layout with our sizes
    cfg = ck.model_config
    assert (cfg.n_embd, cfg.block_size, cfg.ffwd, cfg.vocab_size) == (16, 8, "none", len(set(TEXT)))
    assert ck.train_config.learning_rate == 3e-3 and ck.train_config.max_iters == 20


def test_train_without_out_says_nothing_was_saved_and_why_its_thread_count(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "lm2", "--corpus", corpus, "--iters", "10", "--json", *SMALL]) == 0
    captured = capsys.readouterr()
    res = json.loads(captured.out.strip().splitlines()[-1])
    assert res["checkpoint"] is None and res["saved"] is False and not list(tmp_path.glob("*.safetensors"))
    assert "nothing was saved" in captured.err and "--out" in captured.err
    # one thread, said in the singular, with the reason (a small model on a machine with more cores)
    assert "(1 thread:" in captured.err and "1 threads" not in captured.err


def test_the_thread_count_reason_follows_the_numbers():
    from llmviz.device import threads_reason

    assert "under 100,000 parameters" in threads_reason(30_000, 1, cores=2) and "--threads 2" in threads_reason(30_000, 1, 2)
    assert "busy" in threads_reason(5_000_000, 1, cores=2)
    assert threads_reason(5_000_000, 2, cores=4).startswith("2 of 4 cores")
    assert threads_reason(30_000, 1, cores=1) == "this machine has one core"


def test_resume_trains_more_steps(corpus, tmp_path, capsys):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    main(["train", "--corpus", corpus, "--iters", "10", "--out", str(first), "--quiet", *SMALL])
    assert main(["train", "--corpus", corpus, "--resume", str(first), "--iters", "10", "--out", str(second),
                 "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["iterations"] == 20
    assert [r.step for r in checkpoint.load(second).history] == [0, 10, 20]


def test_generate_streams_the_requested_number_of_characters(corpus, tmp_path, capsys):
    out = tmp_path / "ck.safetensors"
    main(["train", "--corpus", corpus, "--iters", "10", "--out", str(out), "--quiet", *SMALL])
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(out), "--prompt", "Now", "--max-new-tokens", "40",
                 "--temperature", "0.8", "--top-k", "5", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Now") and len(text) == len("Now") + 40 + 1 and set(text) <= set(TEXT)


def test_errors_are_plain_words(corpus, tmp_path, capsys):
    assert main(["train", "--corpus", str(tmp_path / "missing.txt"), "--quiet"]) == 2
    assert "unknown corpus" in capsys.readouterr().err
    assert main(["train", "--corpus", corpus, "--n-embd", "30", "--n-head", "4", "--quiet"]) == 2
    assert "divisible by n_head" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["generate", "--checkpoint", str(bad)]) == 2
    assert "not an llmviz checkpoint" in capsys.readouterr().err
    assert main(["train", "--corpus", corpus, "--iters", "30", "--lr", "1e4", "--quiet", *SMALL[:-2]]) == 1
    assert "probably too high" in capsys.readouterr().err


def test_python_dash_m_lists_the_presets():
    out = subprocess.run([sys.executable, "-m", "llmviz", "presets"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0
    assert "10,788,929" in out.stdout and out.stdout.index("lm1 ") < out.stdout.index("lm5")


def test_finetune_with_lora_writes_the_adapters_alone_and_reports_both_losses(corpus, tmp_path, capsys):
    base = tmp_path / "base.safetensors"
    assert main(["train", "--preset", "lm5", "--corpus", corpus, "--iters", "10", "--out", str(base), "--quiet",
                 *SMALL]) == 0
    domain = tmp_path / "winter.txt"
    domain.write_text(TEXT.upper().lower().replace("york", "rome") * 2, encoding="utf-8")
    out = tmp_path / "adapters.safetensors"
    capsys.readouterr()
    assert main(["finetune", "--base", str(base), "--corpus", str(domain), "--original-corpus", corpus,
                 "--method", "lora", "--rank", "2", "--targets", "query", "value", "--max-iters", "10",
                 "--eval-interval", "5", "--eval-iters", "2", "--out", str(out), "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["method"] == "lora" and res["iterations"] == 10 and 0 < res["trainable"] < res["params"]
    assert res["val_loss_new"] > 0 and res["val_loss_original"] > 0
    assert res["bytes"] == out.stat().st_size < base.stat().st_size / 3
    with pytest.raises(checkpoint.CheckpointError, match="adapters only"):
        checkpoint.load(out)
    on_base = checkpoint.load_adapter(out.read_bytes(), checkpoint.load(base))
    assert on_base.adapters.rank == 2 and on_base.adapters.targets == ("query", "value")
    # a text with characters the base cannot spell: refused, with the characters named
    odd = tmp_path / "odd.txt"
    odd.write_text("{}[]<> " * 500, encoding="utf-8")
    assert main(["finetune", "--base", str(base), "--corpus", str(odd), "--quiet"]) == 2
    assert "cannot spell" in capsys.readouterr().err


@pytest.mark.slow
def test_instruct_then_chat_in_the_terminal(tmp_path, capsys, monkeypatch):
    from llmviz.text import corpora
    from llmviz.tasks import instruct, instruct_data
    from llmviz.nn.model import ModelConfig
    from llmviz.training.config import TrainConfig
    from llmviz.training.train import TrainingRun

    text = corpora.shakespeare(corpora.DEFAULT_PLAYS, 20_000).text
    # the learner's own small base: a character model of the plays, its vocabulary their characters alone
    run = TrainingRun.new(ModelConfig(vocab_size=0, block_size=64, n_embd=32, n_head=2, n_layer=1),
                          TrainConfig(max_iters=5, eval_interval=5, eval_iters=1, batch_size=4, sample_tokens=0), text)
    base = tmp_path / "base.safetensors"
    checkpoint.save_run(base, run)
    out = tmp_path / "chat.safetensors"
    capsys.readouterr()
    assert main(["instruct", "--base", str(base), "--max-iters", "20", "--eval-interval", "20", "--eval-iters", "1",
                 "--per-task", "2", "--out", str(out), "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # its 64 tokens hold the short tasks, not three passages or a long conversation
    assert res["iterations"] == 20 and res["block_size"] == 64 and set(res["tuned_accuracy"]) == set(res["tasks"])
    assert {"context", "shout"} <= set(res["tasks"]) and not {"memory", "passages"} & set(res["tasks"])
    assert set(res["base_accuracy"]) == set(res["tasks"]) <= set(instruct.TASKS)
    missing = sorted(set(instruct_data.spelled(instruct_data.make_examples(400, 0)[0])) - set(text))
    assert res["added_tokens"][:len(missing)] == missing and res["added_tokens"][-1] == "<|call|>"
    assert res["checkpoint"] == str(out) and checkpoint.load(out).extra["added_tokens"] == res["added_tokens"]
    answers = iter(["What is 123+456?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    assert main(["chat", "--checkpoint", str(out)]) == 0
    captured = capsys.readouterr()
    assert "model>" in captured.out and "[prompt:" in captured.err
    assert main(["chat", "--checkpoint", str(base)]) == 2  # a base model has no chat tokens
    assert main(["instruct", "--base", str(base), "--out", str(tmp_path)]) == 2  # refused before any training
    assert "is a folder" in capsys.readouterr().err


def test_an_unwritable_out_is_refused_before_training(corpus, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    t = __import__("time").perf_counter()
    assert main(["train", "--corpus", corpus, "--iters", "100000", "--out", str(blocker / "ck.safetensors"),
                 "--quiet", *SMALL]) == 2
    assert __import__("time").perf_counter() - t < 5  # refused at once, not after 100,000 steps
    assert "cannot write the checkpoint" in capsys.readouterr().err
    assert main(["train", "--corpus", corpus, "--out", str(tmp_path), "--quiet", *SMALL]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("flags, words", [
    (["--lr", "nan"], "learning_rate must be a finite number"),
    (["--lr", "inf"], "learning_rate must be a finite number"),
    (["--lr", "-1"], "must be positive"),
    (["--iters", "0"], "--iters must be at least 1"),
    (["--seed", "-1"], "seed must be between"),
    (["--dropout", "nan"], "dropout is a probability"),
])
def test_impossible_training_values_are_refused_in_words(corpus, capsys, flags, words):
    assert main(["train", "--corpus", corpus, "--quiet", *SMALL, *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


@pytest.mark.parametrize("flags, words", [
    (["--temperature", "nan"], "temperature must be a number ≥ 0"),
    (["--temperature", "-1"], "temperature must be a number ≥ 0"),
    (["--top-k", "-3"], "top-k must be at least 1"),
    (["--top-p", "0"], "top-p must be in (0, 1]"),
    (["--top-p", "1.5"], "top-p must be in (0, 1]"),
    (["--max-new-tokens", "-5"], "at least 1"),
    (["--seed", "-2"], "seed must be between"),
])
def test_impossible_sampling_values_are_refused_in_words(corpus, tmp_path, capsys, flags, words):
    out = tmp_path / "ck.safetensors"
    main(["train", "--corpus", corpus, "--iters", "2", "--out", str(out), "--quiet", *SMALL])
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_model_flags_with_resume_are_refused_not_ignored(corpus, tmp_path, capsys):
    out = tmp_path / "ck.safetensors"
    main(["train", "--corpus", corpus, "--iters", "2", "--out", str(out), "--quiet", *SMALL])
    capsys.readouterr()
    assert main(["train", "--corpus", corpus, "--resume", str(out), "--n-embd", "64", "--quiet"]) == 2
    assert "--n-embd cannot change the model of a checkpoint" in capsys.readouterr().err
    assert main(["train", "--corpus", corpus, "--resume", str(out), "--preset", "lm1", "--quiet"]) == 2
    assert "--preset" in capsys.readouterr().err
    # training settings may change when resuming
    assert main(["train", "--corpus", corpus, "--resume", str(out), "--iters", "2", "--lr", "1e-3", "--quiet"]) == 0


def test_crafted_checkpoints_are_refused_in_words_by_the_cli(corpus, tmp_path, capsys):
    import json as _json
    import struct

    out = tmp_path / "ck.safetensors"
    main(["train", "--corpus", corpus, "--iters", "2", "--out", str(out), "--quiet", *SMALL])
    data = out.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = _json.loads(data[8:8 + n])
    info = _json.loads(header["__metadata__"]["llmviz"])
    info["model_config"].update(n_embd=2048, n_layer=3)  # the issue's: ~760 MB allocated before refusing
    header["__metadata__"]["llmviz"] = _json.dumps(info)
    h = _json.dumps(header).encode()
    crafted = tmp_path / "crafted.safetensors"
    crafted.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n:])
    capsys.readouterr()
    assert main(["generate", "--checkpoint", str(crafted)]) == 2
    assert "do not match the model configuration" in capsys.readouterr().err
    assert main(["train", "--corpus", corpus, "--resume", str(crafted), "--quiet"]) == 2
    assert "do not match the model configuration" in capsys.readouterr().err


def test_every_config_field_is_a_flag_with_its_own_sentence(monkeypatch, capsys):
    from dataclasses import fields

    from llmviz.nn.encoder_decoder import EncoderDecoderConfig
    from llmviz.nn.model import ModelConfig
    from llmviz.training.config import TrainConfig

    monkeypatch.setenv("COLUMNS", "250")  # one line an option: a sentence is not wrapped
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for cls in (ModelConfig, EncoderDecoderConfig, TrainConfig):
        for f in fields(cls):
            sentence = f.metadata.get("help")
            assert sentence, f"{cls.__name__}.{f.name} has no help sentence"
            if f.name in ("vocab_size", "src_vocab_size"):  # set by the text, not by a flag
                continue
            flag = "--" + f.name.replace("_", "-")
            i = next(i for i, x in enumerate(lines) if x.lstrip().startswith((flag + " ", flag + ",")))
            # the sentence after the flag, or on the next line when the flag is long
            assert lines[i].endswith("  " + sentence) or lines[i + 1].strip() == sentence, lines[i:i + 2]


def test_a_finished_run_that_cannot_be_saved_says_so_and_exits_1(corpus, tmp_path, capsys, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_run", disk_full)
    out = tmp_path / "ck.safetensors"
    assert main(["train", "--corpus", corpus, "--iters", "2", "--out", str(out), "--quiet", *SMALL]) == 1
    err = capsys.readouterr().err
    assert f"error: the checkpoint could not be written to {out}: No space left on device" in err
    assert "Traceback" not in err


def test_a_bad_torchrun_launch_is_refused_in_words(corpus, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "one")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--corpus", corpus, "--quiet", *SMALL]) == 2
    assert capsys.readouterr().err == "error: RANK must be a whole number (it is 'one')\n"


def test_in_words_turns_only_the_named_errors_into_the_learners():
    from llmviz.cli.failure import in_words
    from llmviz.errors import LearnerError
    from llmviz.text.corpora import CorpusError

    with pytest.raises(LearnerError, match="^bad value$") as caught:
        with in_words(ValueError, OSError):
            raise ValueError("bad value")
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(CorpusError):  # already the learner's: kept as it is
        with in_words(ValueError):
            raise CorpusError("no such corpus")
    with pytest.raises(TypeError):  # a bug stays a bug
        with in_words(ValueError):
            raise TypeError("not the learner's")


@pytest.mark.slow
def test_prefer_preference_tunes_an_instruct_model_and_says_the_rules_share(tmp_path, capsys):
    import torch

    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.tasks import chat
    from llmviz.text import corpora
    from llmviz.text.tokenizers import CharTokenizer
    from llmviz.training.config import TrainConfig

    tok = chat.with_chat_tokens(CharTokenizer().train(corpora.shakespeare().text))
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=48, n_embd=16, n_head=2, n_layer=1))
    chat_file = checkpoint.save(tmp_path / "chat.safetensors", model, tok, TrainConfig())
    out = tmp_path / "preferred.safetensors"
    assert main(["prefer", "--checkpoint", str(chat_file), "--iters", "4", "--eval-interval", "2", "--eval-iters", "1",
                 "--batch-size", "4", "--samples", "1", "--beta", "0.1", "--out", str(out), "--json", "--quiet"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["iterations"] == 4 and res["beta"] == 0.1 and res["saved"] is True and res["checkpoint"] == str(out)
    assert 0 <= res["preferred_before"] <= 1 and 0 <= res["preferred_after"] <= 1 and "end their sentence" in res["rule"]
    assert checkpoint.load(out).extra["preference"]["beta"] == 0.1
    # a model without the chat format is refused in words
    chars = CharTokenizer().train(corpora.shakespeare().text)
    plain = checkpoint.save(tmp_path / "plain.safetensors", LanguageModel(
        ModelConfig(vocab_size=chars.vocab_size, block_size=48, n_embd=16, n_head=2, n_layer=1)), chars, TrainConfig())
    assert main(["prefer", "--checkpoint", str(plain), "--iters", "4", "--quiet"]) != 0
    assert "instruct model" in capsys.readouterr().err
