"""Training under torchrun (llmviz.training.distributed): 2 processes with gloo on 127.0.0.1 take exactly the step
one process takes on both ranks' batches together; rank 0 alone prints the JSON line and writes the file."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from llmviz.io import checkpoint
from llmviz.training import distributed
from llmviz.training.batches import Batch
from llmviz.text.corpora import get_corpus
from llmviz.training.train import TrainingRun

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Now is the winter of our discontent made glorious summer by this sun of York.\n" * 50
BATCH = 4
# lm5's layout, tiny; a gradient clip low enough to act on the first step, no warm-up, no text sample
FLAGS = ["--preset", "lm5", "--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size", str(BATCH),
         "--eval-iters", "2", "--sample-tokens", "0", "--lr", "1e-3", "--grad-clip", "0.05", "--warmup-iters", "0",
         "--device", "cpu", "--threads", "1"]


class BothRanks:
    """The training steps' batches (those drawn from rank 0's stream) become rank 0's and rank 1's batches,
    drawn from their own seeds, as one batch of twice the rows; the loss estimates' draws are left alone."""

    def __init__(self, inner, seed: int):
        self.inner, self.splits, self.seed = inner, inner.splits, seed
        self.gens = [torch.Generator().manual_seed(distributed.train_seed(seed, r)) for r in (0, 1)]

    def batch(self, split, batch_size, generator=None):
        if split != "train" or generator.initial_seed() != distributed.train_seed(self.seed, 0):
            return self.inner.batch(split, batch_size, generator)
        parts = [self.inner.batch("train", batch_size, g) for g in self.gens]
        return Batch({"idx": torch.cat([p.inputs["idx"] for p in parts])}, torch.cat([p.targets for p in parts]))

    def prompt(self):
        return self.inner.prompt()


def _one_step(ck, text: str, both_ranks: bool) -> dict:
    """One single-process step from the same initial weights, on both ranks' batches or on rank 0's only."""
    run = TrainingRun.new(ck.model_config, replace(ck.train_config, max_iters=1), text, tokenizer=ck.tokenizer,
                          preset="lm5")
    if both_ranks:
        run.batches = BothRanks(run.batches, ck.train_config.seed)
    run.inside_every = 0
    run.train()
    return run.model.state_dict()


@pytest.mark.slow
def test_two_processes_take_the_step_one_process_takes_on_both_batches(tmp_path):
    corpus = tmp_path / "york.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out_dir = tmp_path / "out"
    out = out_dir / "ddp.safetensors"
    # torchrun on this machine only: its rendezvous on 127.0.0.1, a port the system picks
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:0", "--max-restarts=0",
           "-m", "llmviz", "train", "--corpus", str(corpus), "--iters", "1", "--out", str(out), "--json", *FLAGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # gloo's own connections on the loopback too
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]

    json_lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(json_lines) == 1, proc.stdout  # rank 0 alone reports
    res = json.loads(json_lines[0])
    assert res["world_size"] == 2 and res["effective_batch_size"] == 2 * BATCH
    assert res["iterations"] == 1 and res["state"] == "finished" and res["checkpoint"] == str(out)
    assert sorted(p.name for p in out_dir.iterdir()) == [out.name]  # written once, nothing left over
    assert "each step learns from 8 sequences" in proc.stderr  # the effective batch, said once
    assert proc.stderr.count("saved ") == 1

    ck = checkpoint.load(out)  # the normal single-process loader: the inner model's names, no "module."
    assert ck.step == 1 and [r.step for r in ck.history] == [0, 1]
    ddp = ck.model.state_dict()
    text = get_corpus(str(corpus)).text
    single = _one_step(ck, text, both_ranks=True)
    assert single.keys() == ddp.keys()
    worst = max((single[k] - ddp[k]).abs().max().item() for k in ddp)
    assert worst < 1e-6, f"2 processes and one process on both batches differ by {worst:.2e}"
    # the comparison can tell: rank 0's batch alone gives other weights
    alone = _one_step(ck, text, both_ranks=False)
    assert max((alone[k] - ddp[k]).abs().max().item() for k in ddp) > 1e-4


def test_without_torchrun_nothing_changes(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched()
    assert distributed.setup("cpu") is distributed.SINGLE and distributed.world() is distributed.SINGLE
    assert distributed.is_main() and not distributed.SINGLE.distributed
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, distributed.SINGLE) is model
    assert distributed.all_reduce_mean([1.5, float("nan")])[0] == 1.5
    # one process draws what it always drew: the seed for training, the seed + 1 for the estimates
    assert (distributed.train_seed(7, 0), distributed.eval_seed(7, 0)) == (7, 8)
    seeds = [f(7, r) for r in range(4) for f in (distributed.train_seed, distributed.eval_seed)]
    assert len(set(seeds)) == len(seeds)  # every rank's every stream its own


def test_a_bad_launch_is_refused_in_plain_words(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="RANK must be between 0 and WORLD_SIZE - 1"):
        distributed.setup("cpu")
    monkeypatch.setenv("RANK", "one")
    with pytest.raises(ValueError, match="RANK must be a whole number"):
        distributed.setup("cpu")


@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_bad_argument_is_explained_by_rank_0_alone(monkeypatch, capsys, rank):
    from llmviz.cli import main as cli

    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--preset", "lm5", "--no-such-flag"])
    assert stop.value.code == 2  # every rank stops, as argparse does
    said = capsys.readouterr().err
    assert ("unrecognized arguments: --no-such-flag" in said) == (rank == "0")
