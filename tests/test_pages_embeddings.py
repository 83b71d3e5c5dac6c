"""The embeddings page in AppTest: idle, training started by the button, a finished run explored,
bad input explained, and the embedding tables of models kept in the session."""

import json

import numpy as np
import torch

from llmviz.text import corpora
from llmviz.concepts import embeddings
from llmviz.concepts import word2vec
from tests.conftest import open_page

torch.set_num_threads(1)
PAGE = "pages/embeddings.py"


def small_corpus(n=400, seed=0) -> corpora.Corpus:
    rng = np.random.default_rng(seed)
    groups = [["cat", "dog", "horse", "cow", "sheep"], ["hammer", "saw", "drill", "wrench", "chisel"]]
    sentences = [" ".join(rng.choice(groups[rng.integers(2)], size=6)) + "." for _ in range(n)]
    return corpora.Corpus("Animals and tools", "\n".join(sentences))


def with_corpus(corpus, **extra):
    # "upload" with no file keeps whatever text the session already has
    return {"corpus_source": corpora.UPLOAD, "corpus": corpus, **extra}


def texts(at):
    return " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)


def test_idle_page_explains_and_offers_training():
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert "skip-gram" in texts(at)
    assert any("Press **Train**" in i.value for i in at.info)
    assert not at.button(key="emb_train").disabled and at.button(key="emb_stop").disabled
    # only the open tab runs: the autoencoder is not trained, nor anything charted, until its tab is opened
    assert not at.metric and not at.get("plotly_chart")
    at.session_state["emb_tab"] = "An autoencoder"  # what clicking the tab does
    at.run()
    # the autoencoder tab trains by itself (small and fast) and reconstructs every word
    assert at.metric[-1].value == "100%" and len(at.get("plotly_chart")) == 2


def test_word2vec_settings_survive_a_visit_to_another_tab():
    at = open_page(PAGE)
    at.slider(key="emb_min_count").set_value(3).run()
    at.session_state["emb_tab"] = "An autoencoder"
    at.run()
    at.session_state["emb_tab"] = "word2vec, trained live"
    at.run()
    assert at.slider(key="emb_min_count").value == 3


def test_train_button_starts_a_job_that_finishes(tmp_path):
    at = open_page(PAGE, session_state=with_corpus(small_corpus(), emb_epochs=1))
    at.slider(key="emb_min_count").set_value(1).run()
    at.button(key="emb_train").click().run()
    job = at.session_state["emb_job"]
    assert job.join(60).snapshot().state == "finished"
    at.run()
    assert not at.exception and not at.error
    assert len(job.result.vocab) == 10 and job.result.vectors.shape == (10, 50)


def test_finished_run_is_explored_with_neighbours_and_arithmetic():
    corpus = small_corpus()
    cfg = word2vec.Word2VecConfig(min_count=1, dim=16, epochs=3, batch_size=256, lr=0.02, subsample=0)
    job = word2vec.word2vec_job(word2vec.word_tokens(corpus.text), cfg).start().join(60)
    at = open_page(PAGE, session_state=with_corpus(corpus, emb_job=job))
    assert not at.exception and not at.error
    # "king" is not in this vocabulary: the look-up starts on the most frequent word instead, and the
    # arithmetic (king - man + woman) explains what is missing rather than crashing
    assert at.text_input(key="emb_word").value == job.result.vocab.words[0]
    assert any("'king' is not in the vocabulary" in w.value for w in at.warning)
    at.text_input(key="emb_word").input("cat").run()
    frame = at.dataframe[0].value
    assert set(frame["word"][:4]) == {"dog", "horse", "cow", "sheep"}  # cat's nearest are the animals
    assert list(frame["word"][:4]) == [w for w, _ in embeddings.neighbours(job.result.vectors, job.result.vocab, "cat", 4)]
    at.text_input(key="emb_word").input("hamer").run()
    assert any("Did you mean 'hammer'" in w.value for w in at.warning)
    at.radio(key="emb_dims").set_value(3).run()
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    assert any(t["type"] == "scatter3d" for f in figs for t in f["data"])
    at.text_input(key="emb_a").input("hammer").run()
    at.text_input(key="emb_b").input("cat").run()
    at.text_input(key="emb_c").input("dog").run()
    assert not at.exception and any("hammer − cat + dog" in m.value for m in at.markdown)


def test_too_short_a_text_is_explained_and_training_disabled():
    at = open_page(PAGE, session_state=with_corpus(corpora.Corpus("tiny", "to be or not to be")))
    assert not at.exception
    assert any("appear at least 5 times" in e.value for e in at.error)
    assert at.button(key="emb_train").disabled


def test_models_of_the_session_are_projected_and_busy_runs_wait():
    from llmviz.training.presets import preset_config
    from llmviz.training.config import TrainConfig
    from llmviz.training.train import TrainingRun

    # real runs, as the Part 2 pages keep them: one briefly trained, one still training
    text = "hello world, 123! " * 40
    cfg = TrainConfig(max_iters=3, eval_interval=3, eval_iters=1, batch_size=4, sample_tokens=0, device="cpu")
    run = TrainingRun.new(preset_config("lm1", 0), cfg, text)
    run.train()
    busy = TrainingRun.new(preset_config("lm1", 0), TrainConfig(**{**cfg.to_dict(), "max_iters": 10**6}), text).start()
    try:
        at = open_page(PAGE, session_state={"runs": {"tiny LM": run, "busy": busy},
                                            "emb_tab": "Your models' embedding tables"})
    finally:
        busy.stop()
        busy.join(30)
    assert not at.exception and not at.error
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    names = {t.get("name") for f in figs for t in f["data"]}
    assert {"digit", "punctuation", "whitespace"} <= names
    assert at.selectbox(key="emb_run").options == ["tiny LM"]  # a run still training is not read
    assert any("Still training" in c.value and "busy" in c.value for c in at.caption)
    at = open_page(PAGE, session_state={"emb_tab": "Your models' embedding tables"})
    assert any("No model has been trained" in i.value for i in at.info)
