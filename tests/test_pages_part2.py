"""The Part 2 pages in AppTest: every model page trains a few steps; failed, stopped and loaded runs;
bad settings and bad uploads explained; two sessions isolated; the LM1 punchline; compare runs."""

import json
import math
import time
from dataclasses import replace

import pytest
import torch

from llmviz.io import checkpoint
from llmviz.text import corpora
from llmviz.plots.text import shown_token
from llmviz.training.presets import PRESETS, preset_config
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingError, TrainingRun
from tests.conftest import open_page

torch.set_num_threads(1)
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 60
MODELS = ["lm1", "lm2", "lm3", "lm4", "lm5"]


def small(prefix, text=TEXT, **extra):
    """Session state for a short run on a small text ('upload' with no file keeps the session's text)."""
    return {"corpus_source": corpora.UPLOAD, "corpus": corpora.Corpus("test text", text),
            f"{prefix}_iters": 20, f"{prefix}_eval_interval": 10, f"{prefix}_eval_iters": 1, f"{prefix}_batch": 8,
            f"{prefix}_sample": 50,
            **extra}


def clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def current_run(at, prefix):
    return at.session_state["runs"][at.session_state[f"{prefix}_current"]]


def figure(at, key: str) -> dict:
    """The plotly figure drawn with st.plotly_chart(key=key)."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.spec)
    raise KeyError(f"no chart with key {key!r}")


def loss_figures(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")
            if "loss" in json.dumps(json.loads(c.proto.spec)["layout"].get("yaxis", {}))]


@pytest.mark.parametrize("prefix", MODELS)
def test_model_page_trains_a_few_steps_then_offers_the_tools(prefix):
    at = open_page(f"pages/{prefix}.py", session_state=small(prefix))
    clean(at)
    assert at.get("graphviz_chart"), "the architecture diagram is drawn"
    assert any("Press **Train**" in i.value for i in at.info)
    at.button(key=f"{prefix}_train").click().run()
    clean(at)
    run = current_run(at, prefix)
    assert run.preset.startswith(prefix)
    snap = run.join(60).snapshot()
    assert snap.state == "finished" and snap.step == 20
    at.run()
    clean(at)
    # the live view: progress at 100%, the loss curves of the finished run, a sample
    assert at.progress[0].value == 100
    fig = loss_figures(at)[0]
    steps = [p for t in fig["data"] if t["name"].endswith("train") for p in t["x"]]
    assert steps == [0, 10, 20]
    assert at.button(key=f"{prefix}_generate") and at.button(key=f"{prefix}_stop").disabled
    at.button(key=f"{prefix}_generate").click().run()
    clean(at)


# the widget key of each model setting a page can offer (kept in the page's URL)
KNOB_KEYS = {"block_size": "block", "n_embd": "embd", "n_head": "heads", "n_layer": "layers", "dropout": "dropout"}


@pytest.mark.parametrize("prefix", MODELS)
def test_model_page_is_drawn_from_its_preset(prefix):
    at = open_page(f"pages/{prefix}.py")
    p = PRESETS[prefix]
    assert [t.value for t in at.title] == [p.page.title or p.title]
    text = [m.value for m in at.markdown] + [i.value for i in at.info]
    assert p.description in text and all(paragraph in text for paragraph in p.page.paragraphs)
    assert not p.page.caption or p.page.caption in [c.value for c in at.caption]
    offered = {k for k, suffix in KNOB_KEYS.items()
               if any(w.key == f"{prefix}_{suffix}" for w in list(at.slider) + list(at.select_slider))}
    assert offered == set(p.knobs)
    ref = p.reference
    assert any(f"{ref.params:,} parameters" in c.value and f"validation {ref.val_loss}" in c.value for c in at.caption)


def test_a_broken_preset_is_refused_when_the_presets_are_loaded():
    from llmviz.training import presets

    presets._check({"lm2": PRESETS["lm2"]})
    for broken in (replace(PRESETS["lm2"], knobs=("n_heads",)), replace(PRESETS["lm2"], new_parts=frozenset({"moe"})),
                   replace(PRESETS["lm2"], description="")):
        with pytest.raises(ValueError, match="preset 'lm2' is broken"):
            presets._check({"lm2": broken})


def test_generated_text_and_next_token_bars_come_from_the_model():
    at = open_page("pages/lm2.py", session_state=small("lm2"))
    at.button(key="lm2_train").click().run()
    current_run(at, "lm2").join(60)
    at.run()
    at.slider(key="lm2_ntok").set_value(30).run()
    at.slider(key="lm2_temp").set_value(0.0).run()  # greedy: deterministic
    at.text_input(key="lm2_prompt").set_value("First ").run()
    at.button(key="lm2_generate").click().run()
    clean(at)
    from llmviz.nn.generate import generate_text
    run = current_run(at, "lm2")
    expected = generate_text(run.model, run.tokenizer, "First ", 30, temperature=0.0)
    text = [c.value for c in at.code if c.value.startswith("First ")]
    assert text and text[-1].rstrip() == ("First " + expected).rstrip()  # st.code trims trailing newlines
    assert len(expected) == 30
    # the same text as clickable tokens coloured by the model's probability of each, the first one selected
    grid = figure(at, "lm2_tokens")
    cells, prompt = grid["data"]
    assert cells["text"] == [shown_token(run.tokenizer.decode([i])) for i in run.tokenizer.encode(expected)]
    assert prompt["text"] == ["First "] and prompt["hoverinfo"] == "skip"  # the prompt: shown, not clickable
    assert cells["selectedpoints"] == [0] and len(cells["marker"]["color"]) == 30
    # choosing a token (what a click on it does, through the chart's on_select) shows its alternatives as bars
    at.select_slider(key="lm2_inspect").set_value(29).run()
    assert figure(at, "lm2_tokens")["data"][0]["selectedpoints"] == [29]
    inspected = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Token #30" in c.proto.spec]
    bar = inspected[0]["data"][0]
    assert len(bar["y"]) == 5 and bar["marker"]["color"][0] == "#e4572e"  # greedy: it wrote the likeliest
    bars = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "next token" in json.dumps(json.loads(c.proto.spec)["layout"])]
    assert bars and len(bars[0]["data"][0]["y"]) == 1 and bars[0]["data"][0]["y"][0] == pytest.approx(1.0)
    # a prompt with characters the model has never seen is explained, not a traceback
    at.text_input(key="lm2_bars_prompt").set_value("日本").run()
    assert not at.exception and any("not in this tokenizer" in w.value for w in at.warning)


def test_attention_heatmaps_show_the_causal_mask_only_when_masked():
    # LM1 unmasked: nothing hidden; masked: the upper triangle is hidden, and being weights (not scores) its
    # cells read 0, never −∞
    for masked in (False, True):
        at = open_page("pages/lm1.py", session_state=small("lm1", lm1_mask=masked))
        at.button(key="lm1_train").click().run()
        current_run(at, "lm1").join(60)
        at.run()
        at.text_input(key="lm1_att_prompt").set_value("Speak").run()
        clean(at)
        heat = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "head 1" in json.dumps(json.loads(c.proto.spec)["layout"])]
        assert heat, "an attention heatmap per head"
        text = heat[0]["data"][0].get("text")
        assert "−∞" not in json.dumps(text, ensure_ascii=False)
        assert (len(heat[0]["data"]) == 2) == masked  # the grey overlay of the hidden future
        upper = [text[i][j] for i in range(len(text)) for j in range(i + 1, len(text))]
        assert (set(upper) == {"0"}) == masked
        assert current_run(at, "lm1").model.config.causal == masked


def test_too_high_learning_rate_fails_with_the_diagnosis():
    at = open_page("pages/lm2.py", session_state=small("lm2", lm2_lr=1.0))
    at.button(key="lm2_train").click().run()
    snap = current_run(at, "lm2").join(60).snapshot()
    assert snap.state == "failed"
    at.run()
    assert not at.exception
    assert any("learning rate" in e.value and "too high" in e.value for e in at.error)
    assert not at.get("tabs") or not any(b.key == "lm2_generate" for b in at.button)


def test_impossible_settings_are_explained_and_train_is_disabled():
    at = open_page("pages/lm2.py", session_state=small("lm2", lm2_embd=12, lm2_heads=5))
    assert any("divisible" in w.value for w in at.warning)
    assert at.button(key="lm2_train").disabled
    short = small("lm2", text="to be or not to be, that is")
    at = open_page("pages/lm2.py", session_state=short)
    assert any("too short" in w.value for w in at.warning)
    assert at.button(key="lm2_train").disabled
    at.select_slider(key="lm2_block").set_value(2).run()
    assert not at.warning and not at.button(key="lm2_train").disabled


def test_stop_mid_run_then_continue():
    at = open_page("pages/lm5.py", session_state=small("lm5", lm5_iters=5000, lm5_eval_interval=1000))
    at.button(key="lm5_train").click().run()
    run = current_run(at, "lm5")
    assert run.running and not at.button(key="lm5_stop").disabled
    deadline = time.monotonic() + 30
    while run.step < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    t = time.perf_counter()
    at.button(key="lm5_stop").click().run()
    assert time.perf_counter() - t < 3  # the page does not wait for the worker
    assert run.join(10).state == "stopped" and 0 < run.step < 5000
    at.run()
    clean(at)
    assert not at.button(key="lm5_continue").disabled
    step = run.step
    at.button(key="lm5_continue").click().run()
    assert run.running
    deadline = time.monotonic() + 30  # it goes on from where it stopped (an estimate Stop cut comes first)
    while run.snapshot().step <= step and time.monotonic() < deadline:
        time.sleep(0.05)
    run.stop()
    run.join(10)
    assert run.step > step


def test_checkpoint_upload_refuses_junk_and_loads_a_real_one():
    at = open_page("pages/lm3.py", session_state=small("lm3"))
    at.file_uploader(key="lm3_upload").set_value(("junk.safetensors", b"not a checkpoint at all", "application/octet-stream")).run()
    assert not at.exception
    assert any("refused" in e.value and "not an llmviz checkpoint" in e.value for e in at.error)
    at.run()  # the refusal stays on screen while the file is there
    assert any("junk.safetensors was refused" in e.value for e in at.error)
    run = TrainingRun.new(preset_config("lm3", 1), TrainConfig(max_iters=10, eval_interval=10, eval_iters=1, batch_size=8,
                                                           sample_tokens=0), TEXT).start().join(60)
    data = checkpoint.run_to_bytes(run, {"preset": "lm3"})
    at = open_page("pages/lm3.py", session_state=small("lm3"))
    at.file_uploader(key="lm3_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    clean(at)
    loaded = current_run(at, "lm3")
    assert loaded.step == 10 and loaded.state == "idle" and len(loaded.history) == 2
    assert torch.equal(loaded.model.lm_head.weight.cpu(), run.model.lm_head.weight.cpu())
    assert not at.button(key="lm3_continue").disabled and at.button(key="lm3_generate")


def test_a_checkpoint_whose_tokenizer_cannot_spell_the_text_is_inspectable_not_trainable():
    run = TrainingRun.new(preset_config("lm2", 1), TrainConfig(max_iters=10, eval_interval=10, eval_iters=1, batch_size=8,
                                                           sample_tokens=0), TEXT).start().join(60)
    data = checkpoint.run_to_bytes(run, {"preset": "lm2"})
    other = "The quick brown fox jumps over the lazy dog; 0123456789 zebras quiz.\n" * 60  # not spellable
    at = open_page("pages/lm2.py", session_state=small("lm2", text=other))
    at.file_uploader(key="lm2_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    clean(at)
    loaded = current_run(at, "lm2")
    assert not loaded.trainable and loaded.step == 10 and len(loaded.history) == 2
    assert torch.equal(loaded.model.lm_head.weight.cpu(), run.model.lm_head.weight.cpu())
    assert any("inspection only" in i.value and "not in this tokenizer" in i.value for i in at.info)
    assert at.button(key="lm2_continue").disabled
    with pytest.raises(TrainingError):
        loaded.start()
    # the model is there to use: generate, next-token bars, attention, save
    at.slider(key="lm2_ntok").set_value(20).run()
    at.button(key="lm2_generate").click().run()
    clean(at)
    assert any(c.value.startswith("First ") for c in at.code) and at.get("download_button")
    assert checkpoint.from_bytes(checkpoint.run_to_bytes(loaded)).step == 10  # what Save writes
    assert any("next token" in json.dumps(json.loads(c.proto.spec)["layout"]) for c in at.get("plotly_chart"))
    assert any("head 1" in json.dumps(json.loads(c.proto.spec)["layout"]) for c in at.get("plotly_chart"))
    # with the text it was trained on, the same file can train further
    at = open_page("pages/lm2.py", session_state=small("lm2"))
    at.file_uploader(key="lm2_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    clean(at)
    loaded = current_run(at, "lm2")
    assert loaded.trainable and not any("inspection only" in i.value for i in at.info)
    at.button(key="lm2_continue").click().run()
    assert loaded.join(60).snapshot().step == 30  # the checkpoint's 10 + max_iters 20


def test_two_sessions_train_without_seeing_each_other():
    a = open_page("pages/lm2.py", session_state=small("lm2"))
    b = open_page("pages/lm2.py", session_state=small("lm2", lm2_embd=16))
    a.button(key="lm2_train").click().run()
    b.button(key="lm2_train").click().run()
    ra, rb = current_run(a, "lm2"), current_run(b, "lm2")
    assert ra is not rb
    ra.join(60), rb.join(60)
    a.run(), b.run()
    assert list(a.session_state["runs"].values()) == [ra] and list(b.session_state["runs"].values()) == [rb]
    assert ra.model_cfg.n_embd == 32 and rb.model_cfg.n_embd == 16


def test_lm1_punchline_trains_unmasked_and_masked_side_by_side():
    at = open_page("pages/lm1.py", session_state=small("lm1", lm1_pair_iters=60))
    at.button(key="lm1_both").click().run()
    names = at.session_state["lm1_pair"]
    assert names == ["LM1 unmasked", "LM1 masked"]
    pair = [at.session_state["runs"][n] for n in names]
    assert [r.model.config.causal for r in pair] == [False, True]
    for r in pair:
        assert r.join(60).snapshot().state == "finished"
    at.run()
    clean(at)
    fig = loss_figures(at)[-1]
    assert {t["name"] for t in fig["data"]} >= {"LM1 unmasked", "LM1 masked · validation"}
    assert any("Unmasked: train" in m.value for m in at.markdown)
    # the verdict judges what happened (60 steps on a small text: not a clear story, and it says so)
    verdicts = [e.value for e in (*at.success, *at.info, *at.warning) if "lower by" in e.value or "Not shown" in e.value]
    assert len(verdicts) == 1
    # the samples show their newlines (and are bounded in height: see the browser test)
    assert [c for c in at.code if "⏎" in c.value]
    assert [r.train_cfg.max_iters for r in pair] == [60, 60] and [r.train_cfg.learning_rate for r in pair] == [3e-3] * 2


def finished_run(preset="lm2", iters=20, **model):
    cfg = replace(preset_config(preset, 1), **model)
    return TrainingRun.new(cfg, TrainConfig(max_iters=iters, eval_interval=10, eval_iters=1, batch_size=8,
                                            sample_tokens=20), TEXT, preset=preset).start().join(60)


def test_continue_trains_a_finished_run_max_iters_more_steps():
    run = finished_run("lm2")
    assert run.state == "finished" and run.step == 20
    at = open_page("pages/lm2.py", session_state=small("lm2", lm2_iters=30, runs={"LM2": run}, lm2_current="LM2"))
    clean(at)
    assert not at.button(key="lm2_continue").disabled
    at.button(key="lm2_continue").click().run()
    clean(at)
    assert current_run(at, "lm2") is run and run.snapshot().total == 50
    snap = run.join(60).snapshot()
    assert snap.state == "finished" and snap.step == 50 and snap.history[-1].step == 50
    at.run()
    clean(at)
    assert at.progress[0].value == 100 and not at.button(key="lm2_continue").disabled  # and again, if wanted


def test_next_token_page_shows_pairs_batches_and_the_slides_trace():
    at = open_page("pages/next_token.py", session_state=small("nt", nt_block=4, nt_pos=15))
    clean(at)
    grid = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    # x = TEXT[15:19], y = TEXT[16:20], whitespace made visible
    show = lambda s: s.replace(" ", "␣").replace("\n", "⏎")
    assert grid["text"] == [[show(c) for c in TEXT[15:19]], [show(c) for c in TEXT[16:20]]]
    pairs = at.dataframe[0].value
    assert list(pairs["the model sees"]) == [show(TEXT[15:15 + k]) for k in range(1, 5)]
    assert list(pairs["it must predict"]) == [show(c) for c in TEXT[16:20]]
    # the slides' model: "the cat is" -> "under", nearly certain
    assert at.metric[-1].value == "under"
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any("position embedding" in json.dumps(f["layout"]) for f in figs)
    pos = next(f for f in figs if "position embedding" in json.dumps(f["layout"]))
    assert pos["data"][0]["y"][0] == "position 0"  # a plain label, not "pos␣0"
    at.text_input(key="nt_prompt_" + at.selectbox(key="nt_model").value).set_value("the mouse").run()
    assert not at.exception and any("'mouse' is not in the vocabulary" in w.value for w in at.warning)


def test_next_token_page_traces_a_trained_run_and_names_its_settings():
    run = finished_run("lm4", n_layer=2)
    at = open_page("pages/next_token.py", session_state=small("nt", runs={"my LM4": run}))
    names = at.dataframe[1].value
    assert dict(zip(names["name"], names["your last run"]))["n_layer"] == "2"
    # the page's own column is what its sliders say, not the run's or the tutorial's values
    page = dict(zip(names["name"], names["on this page"]))
    assert page["block_size"] == str(at.slider(key="nt_block").value) and page["batch_size"] == str(at.slider(key="nt_batch").value)
    assert dict(zip(names["name"], names["your last run"]))["batch_size"] == "8"
    at.selectbox(key="nt_model").set_value("my LM4").run()
    clean(at)
    figs = [json.dumps(json.loads(c.proto.spec)["layout"]) for c in at.get("plotly_chart")]
    assert sum("block 1 output" in f or "block 2 output" in f for f in figs) == 2
    assert at.metric[-1].value  # a sampled token


def test_next_token_page_explains_a_too_short_text():
    at = open_page("pages/next_token.py", session_state=small("nt", text="tiny", nt_block=8))
    assert not at.exception and any("too short" in e.value for e in at.error)


def test_compare_runs_overlays_tabulates_and_exports():
    at = open_page("pages/compare_runs.py")
    assert not at.exception and at.info  # nothing to compare yet, the reference table is there
    assert len(at.dataframe[-1].value) == 7
    a, b = finished_run("lm2"), finished_run("lm5", iters=30)
    at = open_page("pages/compare_runs.py", session_state={"runs": {"LM2": a, "LM5": b}})
    clean(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = {t["name"]: t for t in fig["data"]}
    assert lines["LM5"]["x"] == [0, 10, 20, 30]
    assert set(lines) == {"LM2", "LM2 · validation", "LM5", "LM5 · validation",
                          "tutorial lm2: 2.383", "tutorial lm5: 2.102",
                          f"knows nothing: ln(vocabulary) = {math.log(len(set(TEXT))):.2f}"}
    table = at.dataframe[0].value
    assert list(table["run"]) == ["LM2", "LM5"] and list(table["params"]) == [a.n_params, b.n_params]
    assert list(table["tutorial val"]) == [2.383, 2.102]
    assert list(table["differs from the tutorial"]) == ["batch_size 8 (tutorial 64); 20 steps (tutorial 5,000)",
                                                        "batch_size 8 (tutorial 64); 30 steps (tutorial 5,000)"]
    at.radio(key="cmp_x").set_value("elapsed").run()
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert fig["data"][0]["x"] == [r.elapsed for r in a.history]
    at.multiselect(key="cmp_runs · language model · nats per character").set_value(["LM5"]).run()
    at.button(key="cmp_forget").click().run()
    assert list(at.session_state["runs"]) == ["LM5"]


def test_compare_runs_puts_only_like_with_like_on_one_axis():
    from llmviz.text.bpe import BPETokenizer

    chars = [finished_run("lm2", iters=10) for _ in range(2)]
    bpe = TrainingRun.new(preset_config("lm2", 1), TrainConfig(max_iters=10, eval_interval=10, eval_iters=1, batch_size=8,
                                                                sample_tokens=0), TEXT * 3,
                          tokenizer=BPETokenizer().train(TEXT * 3, 280), preset="lm2").start().join(60)
    at = open_page("pages/compare_runs.py", session_state={"runs": {"A": chars[0], "bpe": bpe, "B": chars[1]}})
    clean(at)
    # the group with most runs first: a loss per character is not a loss per BPE token
    assert at.selectbox(key="cmp_measure").value == "language model · nats per character"
    fig = loss_figures(at)[0]
    assert {t["name"] for t in fig["data"] if t.get("showlegend", True)} >= {"A", "B"}
    assert not any(t["name"].startswith("bpe") for t in fig["data"])
    assert fig["layout"]["yaxis"]["title"]["text"] == "cross-entropy loss per character (nats)"
    assert any("1 other run measured otherwise" in c.value for c in at.caption)
    at.selectbox(key="cmp_measure").set_value("language model · nats per BPE token").run()
    fig = loss_figures(at)[0]
    assert {t["name"] for t in fig["data"]} >= {"bpe · train", "bpe · validation"} and "A" not in {t["name"] for t in fig["data"]}
    assert any("2 other runs measured otherwise" in c.value for c in at.caption)
    # forgetting what is not selected forgets only within this measure's runs
    at.multiselect(key="cmp_runs · language model · nats per BPE token").set_value([]).run()
    assert at.button(key="cmp_forget").label == "Forget the 1 run not selected"


@pytest.mark.parametrize("preset", MODELS + ["lm1-masked"])
def test_architecture_diagram_follows_the_model_and_highlights_what_is_new(preset):
    import re as _re

    from llmviz.plots import training as training_plots

    cfg = preset_config(preset, 65)
    dot = training_plots.architecture_dot(cfg, PRESETS[preset].new_parts)
    assert dot.startswith("digraph") and dot.count("{") == dot.count("}")
    edges = _re.findall(r"^\s+(\w+) -> (\w+);$", dot, _re.M)
    chain = [edges[0][0]] + [b for _, b in edges]
    assert chain[0] == "ids" and chain[-1] == "next"  # one path from the ids to the sampled token
    highlighted = set(_re.findall(r'^\s+(\w+) \[label="[^"]*", shape=\w+, style="filled,rounded", fillcolor="#ffd8cc"', dot, _re.M))
    expected = {"lm1": {"att"}, "lm1-masked": {"att"}, "lm2": {"att", "pos"}, "lm3": {"ff"},
                "lm4": {"res1", "res2", "ff"}, "lm5": {"ln1", "ln2", "lnf"}}[preset]
    assert highlighted == expected
    assert ("NO mask" in dot) == (not cfg.causal)
    assert f"block × {cfg.n_layer}" in dot
    assert ("layer norm" in dot) == cfg.layer_norm and ("residual" in dot) == cfg.residual
    # the residual path: the block's input skips past attention, and past the feed-forward, to a "+"
    skips = set(_re.findall(r"^\s+(\w+) -> (\w+) \[style=bold", dot, _re.M))
    if cfg.residual:
        assert skips == {("x0", "res1"), ("res1", "res2")}
        assert chain.index("x0") < chain.index("att") < chain.index("res1") < chain.index("ff") < chain.index("res2")
    else:
        assert not skips
    # readable on a dark background: transparent, light text; the light theme keeps dark text
    dark = training_plots.architecture_dot(cfg, PRESETS[preset].new_parts, dark=True)
    assert 'bgcolor="transparent"' in dark and 'fontcolor="#eeeeee"' in dark and "#222222" not in dark
    assert 'fillcolor="#eef3fb"' not in dark and 'fontcolor="#222222"' in dot

def test_probability_bars_leave_out_filtered_tokens_and_mark_the_chosen_one():
    from llmviz.plots import training as training_plots

    fig = training_plots.probability_bars([0.0, 0.5, 0.2, 0.3, 0.0], list("ab c\n"), chosen=3)  # a b ␣ c ⏎
    bar = fig.data[0]
    assert list(bar.x) == ["b", "c", "␣"] and list(bar.y) == [0.5, 0.3, 0.2]
    assert list(bar.marker.color) == ["#1f77b4", "#e4572e", "#1f77b4"]
    with pytest.raises(ValueError):
        training_plots.loss_curves({}, x="tokens")


def test_lm1_pair_says_its_predicted_time_from_the_estimate(monkeypatch):
    from llmviz.training import pace

    said = []
    for fake in (12.0, 600.0):  # other numbers, other words
        monkeypatch.setattr(pace, "predict", lambda *a, fake=fake, **k: pace.Prediction(fake, 0.01, 0.01, 0.0))
        at = open_page("pages/lm1.py", session_state=small("lm1"))
        text = next(m.value for m in at.markdown if "Train both, side by side" in m.value)
        assert pace.say(fake) in text and "a minute" not in text
        said.append(text)
    assert said[0] != said[1]
