"""Run records, the tutorial's reference table, CSV export, and a session's runs stopping with it."""

import csv
import gc
import io
import math
import re
import time

import pytest
import torch

from llmviz.training import runs
from llmviz.nn.model import LanguageModel
from llmviz.training.presets import PRESETS, preset_config
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun
from tests.conftest import ROOT

torch.set_num_threads(1)
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40
TUTORIAL = ROOT.parent / "shared" / "docs" / "tutorial.md"
# the tutorial's results, as the presets hold them: preset -> (params, train, val)
REFERENCE = {name: p.reference for name, p in PRESETS.items() if p.reference}


def tiny_run(max_iters=20, **kw):
    cfg = TrainConfig(max_iters=max_iters, eval_interval=10, eval_iters=2, batch_size=8, sample_tokens=0, **kw)
    return TrainingRun.new(preset_config("lm5", 1), cfg, TEXT)


def test_reference_parameter_counts_match_our_presets():
    # the tutorial's parameter counts (65 characters) are an independent oracle of the model presets
    for preset, (params, train, val) in REFERENCE.items():
        if preset == "lm5-scaled":
            continue  # 10.8 M parameters: checked by the model tests
        assert LanguageModel(preset_config(preset, 65)).num_params() == params, preset
        assert 1.0 < train < val < 3.0


def test_reference_table_is_the_tutorials():
    if not TUTORIAL.is_file():
        pytest.skip("the tutorial's notes are not beside the repository")
    rows = re.findall(r"^\| (LM[^|]+?) \| ([\d,]+) \| ([\d.]+) \| ([\d.]+)", TUTORIAL.read_text(), re.M)
    names = {"LM1 (unmasked, cheating)": "lm1", "LM1 masked": "lm1-masked", "LM2": "lm2", "LM3": "lm3",
             "LM4": "lm4", "LM5": "lm5", "LM5 scaled": "lm5-scaled"}
    parsed = {names[n]: (int(p.replace(",", "")), float(t), float(v)) for n, p, t, v in rows}
    assert parsed == REFERENCE


def test_record_of_a_finished_run():
    run = tiny_run().start().join(60)
    run.preset = "lm5"
    rec = runs.record_of("mine", run)
    hist = run.history
    assert rec.state == "finished" and rec.steps == 20 and rec.params == run.n_params
    assert rec.train_loss == hist[-1].train_loss and rec.val_loss == hist[-1].val_loss
    assert rec.best_val_loss == min(r.val_loss for r in hist)
    assert rec.tokens_per_s > 0 and rec.elapsed == hist[-1].elapsed
    assert rec.settings["n_layer"] == 2 and rec.settings["learning_rate"] == 3e-4 and rec.settings["max_iters"] == 20
    assert rec.reference() == REFERENCE["lm5"]


def test_table_rows_and_csv_round_trip():
    run = tiny_run().start().join(60)
    recs = [runs.record_of("a", run, "lm5"), runs.record_of("b, with a comma", run, "custom")]
    rows = runs.table_rows(recs)
    assert rows[0]["tutorial val"] == 2.102 and rows[1]["tutorial val"] is None
    back = list(csv.DictReader(io.StringIO(runs.to_csv(rows))))
    assert [r["run"] for r in back] == ["a", "b, with a comma"]
    assert float(back[0]["val loss"]) == pytest.approx(recs[0].val_loss, abs=1e-3)
    assert back[1]["tutorial val"] == "" and back[0]["params"] == str(run.n_params)
    assert runs.to_csv([]) == "\n" or runs.to_csv([]).strip() == ""


def test_record_before_any_evaluation_has_no_losses():
    run = tiny_run()
    rec = runs.record_of("idle", run, "lm5")
    assert rec.state == "idle" and rec.steps == 0 and math.isnan(rec.val_loss) and math.isnan(rec.best_val_loss)
    assert runs.table_rows([rec])[0]["val loss"] is None


def test_unique_name():
    assert runs.unique_name("LM2", {}) == "LM2"
    assert runs.unique_name("LM2", {"LM2": 1}) == "LM2 (2)"
    assert runs.unique_name("LM2", {"LM2": 1, "LM2 (2)": 1}) == "LM2 (3)"


def test_dropping_the_sentinel_stops_the_worker():
    run = tiny_run(max_iters=100_000)
    session_state = {"runs": {"r": run}, "_run_guards": {"r": runs.stop_when_dropped(run, "r")}}
    run.start()
    time.sleep(0.3)
    assert run.running  # alive while the session's state holds the sentinel
    del session_state  # Streamlit drops a closed session's state
    gc.collect()
    run.join(10)
    assert run.state == "stopped" and 0 < run.step < 100_000


def test_sentinel_kept_alive_keeps_the_run_going():
    run = tiny_run(max_iters=100_000)
    guard = runs.stop_when_dropped(run)
    run.start()
    gc.collect()
    time.sleep(0.3)
    try:
        assert run.running
    finally:
        run.stop()
        run.join(10)
    assert guard.label == ""


def test_each_kind_of_run_says_what_its_loss_measures_and_only_like_goes_with_like():
    from types import SimpleNamespace

    from llmviz.tasks.instruct import InstructBatches
    from llmviz.tasks.preference import PreferenceBatches
    from llmviz.tasks.seq2seq import PairBatches
    from llmviz.text.bpe import BPETokenizer
    from llmviz.text.tokenizers import CharTokenizer
    from llmviz.training.batches import WithReference

    def run(batches, tokenizer=CharTokenizer(), architecture="decoder-only"):
        return SimpleNamespace(batches=batches, tokenizer=tokenizer, model=SimpleNamespace(architecture=architecture))

    char, bpe = tiny_run(1), run(object(), BPETokenizer())
    assert str(runs.measure_of(char)) == "language model · nats per character"
    assert str(runs.measure_of(bpe)) == "language model · nats per BPE token"
    assert runs.measure_of(run(WithReference(char.batches, "original", char.batches))) == runs.measure_of(char)
    assert str(runs.measure_of(run(PairBatches))) == "translation · nats per English word"
    assert str(runs.measure_of(run(None, architecture="encoder-decoder"))).startswith("translation")
    assert str(runs.measure_of(run(InstructBatches, BPETokenizer()))) == "instruction tuning · nats per answer BPE token"
    dpo = runs.measure_of(run(PreferenceBatches))
    assert not dpo.cross_entropy and "DPO" in dpo.axis
    # grouped: most runs first, then the group holding the latest run; a DPO run's table has no perplexity
    named = {"a": char, "p": run(PreferenceBatches), "b": char, "t": run(PairBatches)}
    assert [(str(m), names) for m, names in runs.by_measure(named).items()] == [
        ("language model · nats per character", ["a", "b"]), ("translation · nats per English word", ["t"]),
        ("preference tuning · DPO loss", ["p"])]
    record = runs.record_of("a", char, preset="lm5")
    assert record.cross_entropy and record.reference() is not None
    dpo_record = runs.RunRecord(**{**record.__dict__, "measure": dpo})
    assert runs.table_rows([dpo_record])[0]["val perplexity"] is None and dpo_record.reference() is None
