"""What changed since GPT-2: the recipes are the base with exactly the named changes, the table and its sentence
are read from the runs' numbers, the runs go one after another, and the page draws them."""

from dataclasses import replace

import pytest

from llmviz.errors import LearnerError
from llmviz.training import recipes
from llmviz.training.presets import PRESETS
from llmviz.training.record import Record
from tests.conftest import open_page


def test_settings_are_the_base_with_the_named_changes():
    base_model, base_train = PRESETS[recipes.BASE].model, PRESETS[recipes.BASE].train
    model, train = recipes.settings(["rope", "muon"])
    assert model == replace(base_model, rope=True, pos_emb=False) and train == replace(base_train, optimizer="muon", muon_lr=0.02)
    assert recipes.settings([]) == (base_model, base_train)
    every, _ = recipes.settings(["all"])
    assert every.rope and every.qk_norm and every.rms_norm and every.zero_init and every.ffwd == "relu2"
    with pytest.raises(LearnerError, match="unknown change 'gelu'"):
        recipes.settings(["gelu"])


def rows(*points):
    return tuple(Record(i * 100, v + 0.1, v, 1e-3, 1000.0, s, {}) for i, (s, v) in enumerate(points))


def test_the_table_and_its_sentence_come_from_the_numbers():
    histories = {"fast-cpu": rows((0, 4.0), (10, 2.0), (20, 1.85)),
                 "muon": rows((0, 4.0), (10, 1.87), (20, 1.7))}
    table = {r["run"]: r for r in recipes.ablation(histories, 1.88)}
    assert table["fast-cpu"]["seconds to 1.88"] == 20 and table["muon"]["seconds to 1.88"] == 10
    assert table["muon"]["vs fast-cpu"] == 0.5 and table["muon"]["validation at equal time"] == 1.7
    assert recipes.verdict(list(table.values()), 1.88) == "muon reached 1.88 in 10 s, 2.0× as fast as fast-cpu (20 s)."
    # other numbers, other words
    slow = recipes.ablation({"fast-cpu": histories["fast-cpu"], "muon": rows((0, 4.0), (30, 2.5))}, 1.88)
    assert recipes.verdict(slow, 1.88) == "fast-cpu reached 1.88 first, in 20 s."
    assert recipes.verdict(recipes.ablation({"muon": rows((0, 4.0))}, 1.88), 1.88).startswith("No run has reached")
    assert recipes.loss_at([(0, 4.0), (10, 2.0)], 5) == 3.0 and recipes.loss_at([(2, 4.0)], 1) is None


@pytest.mark.slow
def test_recipes_train_one_after_another_and_the_page_shows_them():
    from llmviz.nn.model import ModelConfig
    from llmviz.training.config import TrainConfig

    tiny = ModelConfig(block_size=16, n_embd=32, n_head=2, n_layer=1)
    fast = TrainConfig(max_iters=40, eval_interval=20, eval_iters=2, batch_size=8, sample_tokens=0, device="cpu",
                       learning_rate=3e-3)
    variants = {"fast-cpu": (tiny, fast), "muon": (replace(tiny, zero_init=True), replace(fast, optimizer="muon"))}
    queue = recipes.OneAfterAnother(variants, "to be or not to be " * 200, target=0.01).start()
    queue.job.join(120)
    assert queue.snapshot().state == "finished"
    first, second = queue.runs["fast-cpu"].history, queue.runs["muon"].history
    assert first and second and first[-1].step == 40 == second[-1].step
    # one after another: the second started once the first had ended
    assert queue.runs["muon"].job._t0 >= queue.runs["fast-cpu"].job._t1
    at = open_page("pages/since_gpt2.py", session_state={"gpt2_recipes": queue})
    assert not at.exception and not at.error
    assert any("fast-cpu" in str(df.value) for df in at.dataframe)
    with pytest.raises(LearnerError, match="at least one"):
        recipes.OneAfterAnother({}, "text")
    with pytest.raises(LearnerError, match="n_embd"):
        recipes.OneAfterAnother({"bad": (replace(tiny, n_embd=33), fast)}, "text")
