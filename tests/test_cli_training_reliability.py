"""The training commands and chat under bad input and faults (issue 28): an empty or over-long --out,
models and batches too big for any machine refused before a byte is allocated, --alpha 0, --per-task 0,
the instruct model saved before its evaluation (Ctrl-C there keeps it), generate/chat given an
encoder-decoder, a --system message the model cannot spell, Ctrl-C while answering, a closed pipe, Ctrl-C
while starting. Each is refused or ended in words: "error: ...", never a traceback."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llmviz.cli.main import main
from llmviz.io import checkpoint
from llmviz.nn.model import ModelConfig
from llmviz.text import corpora
from llmviz.text.tokenizers import WordTokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TEXT = "Now is the winter of our discontent made glorious summer by this sun of York.\n" * 50
SMALL = ["--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size", "8", "--eval-iters", "2",
         "--eval-interval", "10", "--sample-tokens", "0"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "york.txt"
    path.write_text(TEXT, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A character model of a little of the plays, trained 2 steps."""
    text = corpora.shakespeare(corpora.DEFAULT_PLAYS, 20_000).text
    run = TrainingRun.new(ModelConfig(vocab_size=0, block_size=64, n_embd=16, n_head=2, n_layer=1),
                          TrainConfig(max_iters=2, eval_interval=2, eval_iters=1, batch_size=2, sample_tokens=0), text)
    run.train()
    return checkpoint.save_run(tmp_path_factory.mktemp("base") / "base.safetensors", run)


@pytest.fixture(scope="module")
def chat_model(base, tmp_path_factory):
    """The base with the chat vocabulary (instruct.start grows it), untrained: enough for chat's checks."""
    from llmviz.tasks import instruct

    run, _ = instruct.start(checkpoint.load(base), instruct.default_config(), n_train=50, per_task=1)
    return checkpoint.save_run(tmp_path_factory.mktemp("chat") / "chat.safetensors", run)


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


@pytest.mark.parametrize("flags, words", [
    (["--out", ""], "--out is empty"), (["--out", "   "], "--out is empty"),
    (["--out", "x" * 300], "cannot write the checkpoint"),
    (["--n-layer", "10000"], "blocks is more than llmviz builds"),
    (["--n-embd", "100000", "--n-head", "1"], "llmviz builds and loads models of at most 200,000,000"),
    (["--batch-size", "10000000"], "one training step would need about"),
])
def test_train_refuses_before_any_step_or_allocation(corpus, tmp_path, capsys, flags, words):
    code, _, err = cli(capsys, "train", "--preset", "lm5", "--corpus", corpus, "--iters", "5", "--quiet",
                       *SMALL[:2], *flags)
    assert code == 2 and words in err
    assert list(tmp_path.iterdir()) == []


def test_the_size_check_is_the_pages_too():
    from llmviz.training import plan

    train = dict(max_iters=10, eval_interval=5, eval_iters=1, batch_size=4, learning_rate=1e-3, device="cpu")
    assert plan.plan("lm5", 65, 10_000, {}, **train).problems == []
    refused = plan.plan("lm5", 65, 10_000, {"n_layer": 5000}, **train)
    assert refused.guess is None and any("blocks" in p for p in refused.problems)
    huge = plan.plan("lm5", 65, 10_000, {}, **{**train, "batch_size": 50_000_000})
    assert any("one training step would need" in p for p in huge.problems)


def test_finetune_alpha_and_instruct_per_task_are_refused_before_the_base_is_read(tmp_path, capsys):
    missing = tmp_path / "none.safetensors"
    for alpha in ("0", "-1", "nan"):
        code, _, err = cli(capsys, "finetune", "--base", missing, "--method", "lora", "--alpha", alpha)
        assert code == 2 and "--alpha must be a positive number" in err
    code, _, err = cli(capsys, "instruct", "--base", missing, "--per-task", "0")
    assert code == 2 and "--per-task must be at least 1" in err
    code, _, err = cli(capsys, "finetune", "--base", missing, "--out", "")
    assert code == 2 and "--out is empty" in err


def domain_text(folder: Path) -> str:
    path = folder / "york.txt"
    path.write_text(TEXT.lower(), encoding="utf-8")
    return str(path)


def test_finetune_writes_its_output_whole_and_says_when_it_cannot(base, tmp_path, capsys, monkeypatch):
    out = tmp_path / "full.safetensors"
    code, _, _ = cli(capsys, "finetune", "--base", base, "--corpus", domain_text(tmp_path),
                     "--method", "full", "--max-iters", "1", "--eval-iters", "1", "--eval-interval", "1",
                     "--batch-size", "2", "--drop-unknown", "--quiet", "--out", out, "--json")
    assert code == 0 and checkpoint.load(out).step >= 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("llmviz.io.atomic.write_bytes", full_disk)
    code, _, err = cli(capsys, "finetune", "--base", base, "--corpus", domain_text(tmp_path), "--method", "full",
                       "--max-iters", "1", "--eval-iters", "1", "--eval-interval", "1", "--batch-size", "2",
                       "--drop-unknown", "--quiet", "--out", out)
    assert code == 1 and "could not be written" in err and "No space left" in err
    assert checkpoint.load(out).step >= 1  # the earlier file is whole


@pytest.mark.slow
def test_instruct_saves_before_it_evaluates_so_ctrl_c_there_keeps_the_model(base, tmp_path, capsys, monkeypatch):
    from llmviz.cli import tuning

    def interrupted(*args, **kwargs):  # the second Ctrl-C, during the final accuracies
        raise KeyboardInterrupt

    monkeypatch.setattr(tuning, "_instruct_figures", interrupted)
    out = tmp_path / "chat.safetensors"
    code, _, err = cli(capsys, "instruct", "--base", base, "--max-iters", "1", "--eval-interval", "1",
                       "--eval-iters", "1", "--batch-size", "2", "--per-task", "1", "--quiet", "--out", out)
    assert code == 1 and "stopped (Ctrl-C) while measuring the accuracies" in err and str(out) in err
    assert checkpoint.load(out).extra["instruct"] is True


def test_generate_and_chat_refuse_an_encoder_decoder(tmp_path, capsys):
    from llmviz.nn.encoder_decoder import EncoderDecoderConfig
    from llmviz.tasks import seq2seq

    run = seq2seq.new_run(EncoderDecoderConfig(block_size=32, n_embd=16, n_head=2, n_layer=1, src_block_size=32,
                                               n_encoder_layer=1),
                          TrainConfig(max_iters=1, eval_interval=1, eval_iters=1, batch_size=2, sample_tokens=0))
    path = checkpoint.save_run(tmp_path / "seq2seq.safetensors", run)
    for command in ("generate", "chat"):
        code, _, err = cli(capsys, command, "--checkpoint", path)
        assert code == 2 and "encoder-decoder" in err and f"`{command}` cannot use it" in err


def test_chat_refuses_a_system_message_it_cannot_spell_at_the_start(chat_model, capsys, monkeypatch):
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt="": asked.append(prompt) or "")
    code, _, err = cli(capsys, "chat", "--checkpoint", chat_model, "--system", "☃ snowman ☃")
    assert code == 2 and "--system message cannot be given" in err and "☃" in err and asked == []
    assert cli(capsys, "chat", "--checkpoint", chat_model, "--system", "Be brief.")[0] == 0


def test_ctrl_c_while_answering_drops_that_answer_and_the_chat_goes_on(chat_model, capsys, monkeypatch):
    from llmviz.tasks import instruct

    lines = iter(["What is 1+1?", "What is 2+2?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    answer, calls = instruct.answer, []

    def first_interrupted(*args, **kwargs):
        calls.append(len(args[2]))  # the turns it was given
        if len(calls) == 1:
            raise KeyboardInterrupt
        return answer(*args, **kwargs)

    monkeypatch.setattr(instruct, "answer", first_interrupted)
    code, out, err = cli(capsys, "chat", "--checkpoint", chat_model)
    assert code == 0 and "[stopped (Ctrl-C): this answer is dropped" in err and out.count("model>") == 1
    assert calls == [1, 1]  # the dropped question is not kept in the conversation


def test_a_closed_pipe_ends_the_command_quietly(base, capsys, monkeypatch):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self):
            raise OSError("not a real file")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["generate", "--checkpoint", str(base), "--max-new-tokens", "50", "--seed", "1"]) == 0
    monkeypatch.undo()
    assert "Traceback" not in capsys.readouterr().err


def test_a_job_whose_work_is_interrupted_still_ends():
    from llmviz import jobs

    def work(job):
        raise KeyboardInterrupt

    job = jobs.Job(work, total=1).start()
    job.join(10)
    assert not job.running and job.state == jobs.FAILED and "interrupted" in job.reason


def test_the_word_tokenizer_names_a_few_of_its_words_not_all():
    tok = WordTokenizer().train(" ".join(f"w{i}" for i in range(5000)))
    with pytest.raises(ValueError) as refused:
        tok.encode("w1 nope")
    message = str(refused.value)
    assert "'nope'" in message and "5,000 words" in message and len(message) < 300


@pytest.mark.slow
def test_a_closed_pipe_and_ctrl_c_while_starting_in_real_processes(base):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    head = subprocess.run(f"{sys.executable} -m llmviz generate --checkpoint {base} --max-new-tokens 3000 | head -c 10",
                          shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert len(head.stdout) == 10 and "Traceback" not in head.stderr and "BrokenPipe" not in head.stderr
    for attempt in range(3):
        p = subprocess.Popen([sys.executable, "-m", "llmviz", "presets"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,  # SIGINT heard even where this run's is ignored
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # (started with &)
        time.sleep(0.3)  # still loading PyTorch
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        if p.returncode != -signal.SIGABRT:  # Ctrl-C inside PyTorch's C++ start-up aborts it (not llmviz's code)
            break
    # 130, or killed by the SIGINT after saying so (which a shell also reports as 130)
    assert p.returncode in (130, -signal.SIGINT) and "stopped (Ctrl-C)" in err and "Traceback" not in err, \
        (p.returncode, err[-500:])


def test_a_failing_look_inside_is_said_once_and_training_goes_on(corpus, monkeypatch, capsys):
    from llmviz.nn import inside

    def broken(*args, **kwargs):
        raise TypeError("a bug in the look")

    monkeypatch.setattr(inside, "probe", broken)
    run = TrainingRun.new(ModelConfig(vocab_size=0, block_size=8, n_embd=16, n_head=2, n_layer=1),
                          TrainConfig(max_iters=6, eval_interval=3, eval_iters=1, batch_size=2, sample_tokens=0), TEXT)
    run.inside_every = 1e-9
    snap = run.train()
    assert snap.state == "finished" and "a bug in the look" in snap.extra["inside_failure"]
    assert capsys.readouterr().err.count("TypeError: a bug in the look") == 1
