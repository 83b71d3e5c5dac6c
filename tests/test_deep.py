"""Training deep networks: per-layer gradient norms and activation scales against direct
computations, residuals keeping early gradients alive, depth helping only with residuals + norm,
dropout shrinking the train/validation gap, bad settings explained, and the page in AppTest."""

import json
import math

import pytest
import torch

from llmviz.text import corpora
from llmviz.concepts import deep
from llmviz.jobs import FINISHED, STOPPED
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.plots import deep as deep_plots
from tests.conftest import open_page

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def text():
    return corpora.shakespeare(("hamlet",), max_chars=60_000).text


def test_layer_grad_norms_match_each_module_taken_alone():
    torch.manual_seed(0)
    m = LanguageModel(ModelConfig(vocab_size=11, n_layer=3, n_embd=16, n_head=2, block_size=8))
    x = torch.randint(0, 11, (4, 8))
    _, loss = m(x, x)
    loss.backward()
    got = deep.layer_grad_norms(m)

    def norm(params):
        return math.sqrt(sum(float((p.grad ** 2).sum()) for p in params if p.grad is not None))

    expected = [norm([*m.token_embedding.parameters(), *m.position_embedding.parameters()])]
    expected += [norm(b.parameters()) for b in m.blocks]
    expected += [norm([*m.ln_f.parameters(), *m.lm_head.parameters()])]
    assert got == pytest.approx(expected, rel=1e-5)
    assert len(got) == len(deep.layer_names(3)) == 5


def test_activation_rms_matches_a_manual_forward():
    torch.manual_seed(0)
    m = LanguageModel(ModelConfig(vocab_size=11, n_layer=4, n_embd=16, n_head=2, block_size=8, layer_norm=False))
    x = torch.randint(0, 11, (3, 8))
    rec = {}
    m(x, record=rec)
    with torch.no_grad():  # the blocks one by one, outside the model's forward
        h = m.token_embedding(x) + m.position_embedding(torch.arange(8))
        expected = [h.pow(2).mean().sqrt().item()]
        for block in m.blocks:
            h = block(h)
            expected.append(h.pow(2).mean().sqrt().item())
    assert deep.activation_rms(rec) == pytest.approx(expected, rel=1e-5)


def test_grad_norms_are_recorded_per_layer_and_finite(text):
    variants = [deep.Variant(2, True, True), deep.Variant(4, False, False)]
    r = deep.train_variants(text, variants, deep.DeepConfig(steps=10, log_every=5))
    for i, v in enumerate(variants):
        rows = deep.step_stats(r.history, i)
        assert [s.step for s in rows] == [1, 5, 10]
        for s in rows:
            assert len(s.grad_norms) == v.n_layer + 2 and len(s.act_rms) == v.n_layer + 1
            assert all(math.isfinite(g) and g >= 0 for g in s.grad_norms)
            assert all(math.isfinite(a) and a > 0 for a in s.act_rms)
    fig = deep_plots.grad_heatmap(r.history, variants, 1, deep_plots.grad_range(r.history))
    assert fig.data[0].z.shape == (6, 3)  # layers x logged steps


def test_residuals_off_shrinks_the_early_layers_gradients(text):
    # the same seeded 8-block stack, same batch, first step: only the residual connections differ
    cfg = deep.DeepConfig(steps=1)
    on, off = deep.Variant(8, True, False), deep.Variant(8, False, False)
    r = deep.train_variants(text, [on, off], cfg)
    g_on, g_off = (deep.step_stats(r.history, i)[0].grad_norms for i in (0, 1))
    for layer in (0, 1, 2):  # embeddings, block 1, block 2
        assert g_off[layer] < g_on[layer] / 100, (layer, g_on[layer], g_off[layer])
    # and the shrinking is progressive: further from the head, smaller
    assert g_off[1] < g_off[4] < g_off[8]


@pytest.mark.slow
def test_depth_helps_with_residuals_and_norm_but_not_without(text):
    cfg = deep.DeepConfig(steps=60, log_every=20, learning_rate=3e-3)
    variants = [deep.Variant(8, False, False), deep.Variant(8, True, True)]
    r = deep.train_variants(text, variants, cfg)
    plain, both = (deep.step_stats(r.history, i)[-1].loss for i in (0, 1))
    assert both < plain - 0.3, (plain, both)


@pytest.mark.slow
def test_dropout_shrinks_the_train_validation_gap(text):
    cfg = deep.DeepConfig(n_embd=32, n_head=2, block_size=16, batch_size=32, steps=150, learning_rate=1e-2,
                       log_every=50, eval_every=150, eval_iters=5, max_chars=2000)
    r = deep.train_variants(text, deep.dropout_variants(2, 0.5), cfg)
    no_drop, drop = deep.gap(r.history, 0), deep.gap(r.history, 1)
    assert no_drop > 0.5 and drop < no_drop / 2, (no_drop, drop)
    assert [e.step for e in deep.eval_stats(r.history, 0)] == [0, 150]


def test_bad_settings_are_explained(text):
    with pytest.raises(deep.DeepError, match="at least one depth"):
        deep.deep_job(text, [], deep.DeepConfig())
    with pytest.raises(deep.DeepError, match="too short"):
        deep.deep_job("to be or not to be", [deep.Variant(2)], deep.DeepConfig())
    with pytest.raises(deep.DeepError, match="divisible"):
        deep.deep_job(text, [deep.Variant(2)], deep.DeepConfig(n_embd=30, n_head=4))
    snap = deep.deep_job(text, [deep.Variant(2)], deep.DeepConfig(steps=5, learning_rate=1e6)).start().join(30).snapshot()
    assert snap.state == "failed" and "learning rate" in snap.reason


def test_job_reports_and_stops(text):
    job = deep.deep_job(text, [deep.Variant(1)], deep.DeepConfig(steps=3, log_every=1)).start().join(30)
    snap = job.snapshot()
    assert snap.state == FINISHED and snap.step == 3 and len(snap.history) == 3
    stopped = deep.deep_job(text, [deep.Variant(1)], deep.DeepConfig(steps=1000))
    stopped._stop.set()
    stopped._run()
    assert stopped.snapshot().state == STOPPED and stopped.result.history == []


# --- the page ---

def test_page_idle_then_finished_runs_drawn(text):
    at = open_page("pages/deep_networks.py")
    assert not at.exception and not at.error
    assert any("vanishing gradients" in m.value for m in at.markdown)
    assert not at.button(key="deep_train").disabled and at.button(key="deep_stop").disabled
    variants = [deep.Variant(2, False, False), deep.Variant(4, True, True)]
    job = deep.deep_job(text, variants, deep.DeepConfig(steps=5, log_every=1)).start().join(30)
    djob = deep.deep_job(text, deep.dropout_variants(2, 0.3), deep.DeepConfig(steps=4, eval_every=2, max_chars=2000)).start().join(30)
    at = open_page("pages/deep_networks.py", session_state={
        "deep_job": job, "deep_variants": variants, "drop_job": djob, "drop_variants": deep.dropout_variants(2, 0.3)})
    assert not at.exception and not at.error
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    heatmaps = [t for f in figs for t in f["data"] if t["type"] == "heatmap"]
    assert [len(h["y"]) for h in heatmaps] == [6, 6]  # both default to the deepest model here
    at.selectbox(key="deep_heat_a").set_value(0).run()
    heatmaps = [t for el in at.get("plotly_chart") for t in json.loads(el.proto.spec)["data"] if t["type"] == "heatmap"]
    assert [len(h["y"]) for h in heatmaps] == [4, 6]  # embeddings, 2 blocks, head
    assert any("Gap (validation − train)" in m.label for m in at.metric)
    assert not at.exception


def test_page_refuses_an_empty_choice_and_starts_a_job():
    at = open_page("pages/deep_networks.py")
    at.multiselect(key="deep_depths").set_value([]).run()
    assert at.button(key="deep_train").disabled and any("at least one depth" in i.value for i in at.info)
    at.multiselect(key="deep_depths").set_value([1]).run()
    at.multiselect(key="deep_archs").set_value(["residual + layer norm"]).run()
    at.slider(key="deep_steps").set_value(20).run()
    at.button(key="deep_train").click().run()
    job = at.session_state["deep_job"]
    assert job.join(60).snapshot().state == FINISHED
    at.run()
    assert not at.exception and not at.error


def test_stop_is_enabled_as_soon_as_training_starts():
    at = open_page("pages/deep_networks.py")
    at.button(key="drop_train").click().run()
    job = at.session_state["drop_job"]
    try:
        assert job.running  # 600 steps: still training when the page is redrawn
        assert not at.button(key="drop_stop").disabled and at.button(key="drop_train").disabled
        at.button(key="drop_stop").click().run()
        assert job.join(30).snapshot().state == "stopped"
    finally:
        job.stop()


def test_page_explains_a_text_too_short_to_train_on():
    tiny = corpora.Corpus("tiny", "to be or not to be")
    at = open_page("pages/deep_networks.py", session_state={"corpus_source": corpora.UPLOAD, "corpus": tiny})
    at.button(key="drop_train").click().run()
    assert not at.exception and any("too short" in e.value for e in at.error)
    assert "drop_job" not in at.session_state
