"""A session's runs within its budget, on the page: past it the oldest run is let go and the page says so in
words; Reset keeps the run to compare but lets go of its AdamW state once it has stopped."""

import torch

import pages.shared.session_runs as session_runs
from llmviz.text import corpora
from llmviz.training.retention import Budget
from tests.conftest import open_page

torch.set_num_threads(1)
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n") * 40
SMALL = dict(lm2_iters=10, lm2_eval_interval=10, lm2_eval_iters=1, lm2_batch=8, lm2_sample=0)


def session():
    return {"corpus_source": corpora.UPLOAD, "corpus": corpora.Corpus("test text", TEXT), **SMALL}


def train_once(at):
    at.button(key="lm2_train").click().run()
    run = at.session_state["runs"][at.session_state["lm2_current"]]
    run.join(60)
    at.run()
    return run


def test_past_the_budget_the_oldest_run_is_let_go_and_the_page_says_so(monkeypatch):
    monkeypatch.setattr(session_runs, "BUDGET", Budget(runs=2))
    at = open_page("pages/lm2.py", session_state=session())
    first, second = train_once(at), train_once(at)
    assert list(at.session_state["runs"]) == ["LM2", "LM2 (2)"] and not any("let go" in i.value for i in at.info)
    train_once(at)
    assert list(at.session_state["runs"]) == ["LM2 (2)", "LM2 (3)"]
    said = [i.value for i in at.info if "let go" in i.value]
    assert said and "**LM2**" in said[0] and "2 runs and 1.0 GB" in said[0]
    # the two runs of one text hold one copy of its token ids
    a, b = at.session_state["runs"].values()
    assert a.batches.data["train"].untyped_storage().data_ptr() == b.batches.data["train"].untyped_storage().data_ptr()
    at.run()
    assert any("let go" in i.value for i in at.info)  # on every page for a minute
    monkeypatch.setattr(session_runs, "NOTICE_S", 0.0)
    at.run()
    assert not any("let go" in i.value for i in at.info)
    at.switch_page("pages/compare_runs.py").run()
    assert any("LM2" in c.value and "let go" in c.value.lower() for c in at.caption)
    assert first.state == second.state == "finished"


def test_reset_keeps_the_run_to_compare_and_lets_go_of_what_only_training_needs():
    at = open_page("pages/lm2.py", session_state=session())
    run = train_once(at)
    assert run.optimizer is not None
    at.button(key="lm2_reset").click().run()
    assert "LM2" in at.session_state["runs"] and "lm2_current" not in at.session_state
    assert run.optimizer is None and all(p.grad is None for p in run.model.parameters()) and not run.trainable
    assert run.usable  # still there to look at
