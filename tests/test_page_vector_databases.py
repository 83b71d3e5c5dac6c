"""The Vector databases page in AppTest: an empty database, a table built by the button, search with
highlighted words, a filter and the index's measured recall, the map, unknown words, embedders that are not
available yet, and retrieval-augmented answers from a model of the session."""

import json

import pytest
import torch

from llmviz.retrieval import ann, embedders, rag
from llmviz.text import corpora
from llmviz.retrieval.chunking import ChunkConfig
from tests.conftest import open_page
from tests.vector_fixtures import PLAYS, speech_corpus

torch.set_num_threads(1)
PAGE = "pages/vector_databases.py"


def state(corpus, db, **extra):
    # "upload" with no file keeps whatever text the session already has
    return {"corpus_source": corpora.UPLOAD, "corpus": corpus, "vdb_dir": str(db), **extra}


def figures(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def text_of(at):
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


@pytest.fixture(scope="module")
def corpus():
    return speech_corpus(300, long_every=25)


@pytest.fixture(scope="module")
def built(tmp_path_factory, corpus):
    db = tmp_path_factory.mktemp("db")
    table = rag.build(corpus, ChunkConfig("speech", 400, 50), embedders.LSAConfig(dim=16), db, "plays-lsa")
    ann.build_index(table, ann.IndexConfig("ivf_pq", 1, 4))
    return db


def test_an_empty_database_shows_the_chunks_and_offers_a_build(tmp_path, corpus):
    at = open_page(PAGE, session_state=state(corpus, tmp_path / "db"))
    assert not at.exception and not at.error
    assert any("No table in" in i.value for i in at.info)
    assert not at.button(key="vdb_build").disabled and at.button(key="vdb_stop").disabled
    hist = figures(at)[0]
    assert hist["data"][0]["type"] == "histogram"
    assert at.dataframe[0].value["section"][0] == PLAYS[0]
    at.radio(key="vdb_by").set_value("speech").run()  # one speech per chunk: each has its speaker
    assert at.dataframe[0].value["speaker"][0] == "ANTONIO" and not at.exception
    assert not (tmp_path / "db").exists()  # nothing written until the learner builds


def test_the_build_button_makes_a_table_that_the_page_then_searches(tmp_path, corpus):
    at = open_page(PAGE, session_state=state(corpus, tmp_path / "db"))
    at.slider(key="vdb_lsa_dim").set_value(32).run()
    at.button(key="vdb_build").click().run()
    job = at.session_state["vdb_job"]
    job.join(60)
    assert job.snapshot().state == "finished", job.snapshot().reason
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="vdb_table").value == "test-plays-lsa"
    assert at.metric[1].value == "32"  # dimensions
    at.text_input(key="vdb_question").input("storm at sea, the ship").run()
    assert "**storm**" in text_of(at) or "**ship**" in text_of(at) or "**sea**" in text_of(at)


def test_search_filters_measures_the_index_and_maps_the_hits(built, corpus):
    at = open_page(PAGE, session_state=state(corpus, built, vdb_question="storm at sea, the ship", vdb_k=4))
    assert not at.exception and not at.error
    assert at.metric[4].value == "IVF_PQ"
    at.radio(key="vdb_mode").set_value("index").run()
    names = {t.get("name") for f in figures(at) for t in f["data"]}
    assert {"hits", "question"} <= names  # the map marks them
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert any("recall@4" in t for t in titles) and any("Cosine similarity" in t for t in titles)
    assert any("recall@4 =" in c.value for c in at.caption)
    at.selectbox(key="vdb_section").set_value(PLAYS[2]).run()
    assert not at.exception
    hits = [m.value for m in at.markdown if m.value.startswith("**") and "cosine" in m.value]
    assert len(hits) == 4 and all(PLAYS[2] in h for h in hits)
    at.text_input(key="vdb_question").input("xyzzy plugh").run()
    assert any("none of the words" in w.value for w in at.warning)
    at.text_input(key="vdb_question").input("").run()
    assert any("empty question" in w.value for w in at.warning) and not at.exception


def test_the_index_is_rebuilt_from_the_page(built, corpus):
    at = open_page(PAGE, session_state=state(corpus, built, vdb_question="the ghost at midnight"))
    at.radio(key="vdb_index_kind").set_value("hnsw").run()
    at.button(key="vdb_index_build").click().run()
    job = at.session_state["vdb_index_job"]
    job.join(120)
    assert job.snapshot().state == "finished", job.snapshot().reason
    at.run()
    assert not at.exception and not at.error
    assert "HNSW" in at.metric[4].value
    at.radio(key="vdb_mode").set_value("index").run()
    at.slider(key="vdb_ef").set_value(50).run()
    assert not at.exception and any("by the approximate index" in c.value for c in at.caption)


def test_embedders_that_need_a_session_result_say_so(tmp_path, corpus):
    at = open_page(PAGE, session_state=state(corpus, tmp_path / "db"))
    at.radio(key="vdb_embedder").set_value("word2vec").run()
    assert any("Embeddings" in i.value for i in at.info) and at.button(key="vdb_build").disabled
    at.radio(key="vdb_embedder").set_value("lm").run()
    assert any("Part 2" in i.value for i in at.info) and at.button(key="vdb_build").disabled


def test_impossible_chunking_is_explained(tmp_path):
    at = open_page(PAGE, session_state=state(corpora.Corpus("tiny", "HAMLET:\nTo be, or not to be.\n"), tmp_path))
    assert not at.exception
    assert any("as large as the whole text" in e.value for e in at.error)
    assert at.button(key="vdb_build").disabled


def test_rag_answers_with_and_without_the_chunks(built, corpus):
    from llmviz.training.presets import preset_config
    from llmviz.training.config import TrainConfig
    from llmviz.training.train import TrainingRun

    cfg = TrainConfig(max_iters=2, eval_interval=2, eval_iters=1, batch_size=4, sample_tokens=0, device="cpu")
    run = TrainingRun.new(preset_config("lm5", 0), cfg, corpus.text)
    run.train()
    at = open_page(PAGE, session_state=state(corpus, built, runs={"tiny": run}, vdb_question="the ghost at midnight"))
    assert not at.exception and not at.error
    assert any("reads only its last" in w.value for w in at.warning)  # LM5's 16 tokens cannot hold the context
    at.button(key="vdb_generate").click().run()
    answers = at.session_state["vdb_answers"]
    assert len(answers.with_context) == 200 and answers.prompt.startswith(answers.prompt[:10])
    assert any("never reached it" in c.value for c in at.caption)
    at.button(key="vdb_lc").click().run()
    assert not at.exception and not at.error
    assert any("the same chunks as above" in m.value for m in at.markdown)
    assert any("The same text as 'With the retrieved chunks'" in c.value for c in at.caption)
