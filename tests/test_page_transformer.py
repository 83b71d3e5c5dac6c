"""The transformer page in AppTest: it renders with no run, trains a small encoder-decoder live, then
translates token by token, draws cross-attention and contextual embeddings, and answers unknown words."""

import pytest
import json

import torch

from tests.conftest import open_page

torch.set_num_threads(1)
PAGE = "pages/transformer.py"
SMALL = {"tr_enc": 1, "tr_dec": 1, "tr_embd": 32, "tr_heads": 4, "tr_iters": 100, "tr_batch": 32,
         "tr_interval": 50, "tr_lr": 1e-2}


def clean(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def figure_titles(at):
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_the_page_explains_before_any_run():
    at = open_page(PAGE)
    clean(at)
    assert len(at.get("graphviz_chart")) == 2  # decoder-only beside encoder-decoder
    families = at.table[0].value  # a table whose cells wrap: nothing cut off
    assert "BERT" in " ".join(families["famous models"]) and "T5" in " ".join(families["famous models"])
    assert any("Press **Train**" in i.value for i in at.info)
    assert "le chat est sous la table" in list(at.dataframe[0].value["French"])


@pytest.mark.parametrize("dark", [False, True])
def test_the_encoder_decoder_diagram_follows_the_theme_on_a_transparent_background(dark):
    from dataclasses import replace

    from llmviz.plots.training import DIAGRAM_THEMES
    from llmviz.plots.transformer import DIAGRAM_FONT, encoder_decoder_dot
    from llmviz.training.presets import PRESETS

    dot = encoder_decoder_dot(replace(PRESETS["translation"].model, vocab_size=132, src_vocab_size=181), dark=dark)
    theme = DIAGRAM_THEMES["dark" if dark else "light"]
    assert 'bgcolor="transparent"' in dot and f'fontcolor="{theme["font"]}"' in dot
    assert f'fillcolor="{theme["fill"]}"' in dot and f"fontsize={DIAGRAM_FONT}" in dot and DIAGRAM_FONT >= 12
    # short lines: no label line longer than 24 characters, so the diagram is not shrunk to fit
    labels = [line for chunk in __import__("re").findall(r'label="([^"]*)"', dot) for line in chunk.split("\\n")]
    assert labels and max(map(len, labels)) <= 24, max(labels, key=len)


def test_thirteen_categories_get_thirteen_colours():
    from llmviz.plots.transformer import category_colours, contextual_scatter

    import numpy as np

    assert len(set(category_colours(13))) == 13 and len(set(category_colours(4))) == 4
    groups = [f"w{i % 13}" for i in range(39)]
    fig = contextual_scatter(np.random.default_rng(0).normal(size=(40, 2)), groups, groups, "la")
    colours = [t.marker.color for t in fig.data if t.name != "static embedding"]
    assert len(colours) == 13 and len(set(colours)) == 13


@pytest.mark.slow
def test_train_then_translate_look_at_attention_and_contextual_vectors():
    at = open_page(PAGE, session_state=SMALL)
    at.button(key="tr_train").click().run()
    clean(at)
    run = at.session_state["runs"][at.session_state["tr_current"]]
    assert type(run.model).__name__ == "EncoderDecoder"
    snap = run.join(120).snapshot()
    assert snap.state == "finished" and snap.step == 100
    assert [r.step for r in snap.history] == [0, 50, 100] and all("bleu" in r.other for r in snap.history)
    at.run()
    clean(at)
    metric_fig = [json.loads(c.proto.spec) for c in at.get("plotly_chart")
                  if "BLEU" in json.dumps(json.loads(c.proto.spec)["layout"].get("yaxis", {}))]
    assert metric_fig and {t["name"] for t in metric_fig[0]["data"]} == {"held-out exact match", "held-out BLEU"}
    assert "le chat est sous la table →" in snap.extra["sample"]
    # the default sentence decoded from <BOS> to <EOS> (or to the length limit), step by step
    assert any(m.value.startswith("**<BOS>") for m in at.markdown)
    titles = figure_titles(at)
    assert "Cross-attention, every layer and head" in titles and "Encoder self-attention" in titles
    assert any("one static vector" in t for t in titles)
    beams = [d.value for d in at.dataframe if "probability" in d.value.columns]
    assert beams and len(beams[0]) >= 1
    # a word it never saw: said so, with the closest known word (Levenshtein), and replaced
    at.text_input(key="tr_sentence").set_value("le chatt est sous la table").run()
    clean(at)
    assert any("chatt" in w.value and "**chat**" in w.value for w in at.warning)
    assert any("le chat est sous la table" in c.value for c in at.caption)
    at.toggle(key="tr_fix").set_value(False).run()
    clean(at)
    assert any("<UNK>" in c.value for c in at.caption)
