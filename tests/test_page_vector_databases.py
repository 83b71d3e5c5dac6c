"""The Vector databases page in AppTest: an empty database, a table built by the button, search with
highlighted words, a filter and the index's measured recall, the map, unknown words, embedders that are not
available yet, and retrieval-augmented answers from a model of the session."""

import json

import pytest
import torch

from llmviz.retrieval import ann, embedders, rag, vectordb
from llmviz.text import corpora
from llmviz.retrieval.chunking import ChunkConfig
from tests.conftest import open_page
from tests.vector_fixtures import PLAYS, speech_corpus

torch.set_num_threads(1)
PAGE = "pages/vector_databases.py"


def state(corpus, db, **extra):
    # "upload" with no file keeps whatever text the session already has
    return {"corpus_source": corpora.UPLOAD, "corpus": corpus, "vdb_dir": str(db), **extra}


def run_job(at, button: str, job: str, seconds: float = 60):
    """Press a button that starts a background job, wait for the job to finish, and draw the page again."""
    at.button(key=button).click().run()
    started = at.session_state[job]
    started.join(seconds)
    assert started.snapshot().state == "finished", started.snapshot().reason
    at.run()
    return started


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
    run_job(at, "vdb_build", "vdb_job")
    assert not at.exception and not at.error
    assert at.selectbox(key="vdb_table").value == "test-plays-lsa"
    assert at.metric[1].value == "32"  # dimensions
    at.text_input(key="vdb_question").input("storm at sea, the ship").run()
    assert "**storm**" in text_of(at) or "**ship**" in text_of(at) or "**sea**" in text_of(at)


def test_three_lists_filters_and_the_map(built, corpus):
    at = open_page(PAGE, session_state=state(corpus, built, vdb_question="storm at sea, the ship", vdb_k=4))
    assert not at.exception and not at.error
    assert at.metric[4].value == "IVF_PQ"
    at.radio(key="vdb_mode").set_value("index").run()
    names = {t.get("name") for f in figures(at) for t in f["data"]}
    assert {"hits", "question"} <= names  # the map marks them
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert any("Cosine similarity" in t for t in titles)
    heads = [m.value for m in at.markdown if m.value.startswith("**") and " · chunk " in m.value]
    for score in ("cosine", "BM25", "RRF"):  # the three lists, each hit with its rank and score
        assert [h.split(".**")[0] for h in heads if f"** {score} **" in h] == ["**1", "**2", "**3", "**4"]
    assert "**storm**" in text_of(at) and "**the**" not in text_of(at) and "**at**" not in text_of(at)
    assert any("share" in m.value and "of their 4 hits" in m.value for m in at.markdown)
    at.selectbox(key="vdb_section").set_value(PLAYS[2]).run()
    assert not at.exception
    hits = [m.value for m in at.markdown if m.value.startswith("**") and "cosine" in m.value]
    assert len(hits) == 4 and all(PLAYS[2] in h for h in hits)
    at.text_input(key="vdb_question").input("xyzzy plugh").run()
    assert any("none of the words" in w.value for w in at.warning)
    at.text_input(key="vdb_question").input("").run()
    assert any("empty question" in w.value for w in at.warning) and not at.exception


def test_the_index_is_measured_live_and_its_curve_drawn(built, corpus):
    at = open_page(PAGE, session_state=state(corpus, built, vdb_question="storm at sea, the ship"))
    recall = next(m for m in at.metric if m.label.startswith("recall@"))
    # a one-partition index probes everything: the learner is told the index is exact there, at no gain or at one
    assert recall.label == "recall@10 (mean of 20 questions)" and recall.value.endswith("%")
    assert any("Searching 1 of 1 partitions" in c.value for c in at.caption)
    job = run_job(at, "vdb_sweep", "vdb_sweep_job")
    curve = next(f for f in figures(at) if "against latency" in f["layout"]["title"]["text"])
    assert {t["name"] for t in curve["data"]} >= {"no re-ranking", "refine 10", "your setting"}
    assert len(job.result) == 2  # one nprobes (1) × two refine factors


def test_the_index_is_rebuilt_from_the_page(built, corpus):
    at = open_page(PAGE, session_state=state(corpus, built, vdb_question="the ghost at midnight"))
    at.radio(key="vdb_index_kind").set_value("hnsw").run()
    run_job(at, "vdb_index_build", "vdb_index_job", 120)
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
    answers = at.session_state["vdb_answers"][1]
    assert len(answers.with_context) == 200 and answers.prompt.startswith(answers.prompt[:10])
    assert any("never reached it" in c.value for c in at.caption)
    at.button(key="vdb_lc").click().run()
    assert not at.exception and not at.error
    assert any("the same chunks as above" in m.value for m in at.markdown)
    assert any("The same text as 'With the retrieved chunks'" in c.value for c in at.caption)
    # one chunk fits nowhere in 16 tokens: the prompt holds the first; two chunks make another prompt, and
    # the old answers are not shown as its answers
    next(s for s in at.slider if s.label == "Chunks in the prompt").set_value(2).run()
    assert any("changed since the last answers" in c.value for c in at.caption) and not at.get("code")[1:]


def _world_questions():
    from llmviz.retrieval import evaluate

    return evaluate.world_questions("world:3:40", 40, seed=0)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    db = tmp_path_factory.mktemp("world")
    rag.build(corpora.get_corpus("world:3:40"), ChunkConfig("speech", 600, 100), embedders.LSAConfig(dim=16), db, "world")
    return db


def scripted_run(answer: str, block_size: int = 4096):
    import string
    from types import SimpleNamespace

    from llmviz.tasks import chat
    from llmviz.text.tokenizers import CharTokenizer
    from tests.chat_models import scripted_model

    tok = chat.with_chat_tokens(CharTokenizer().train(string.printable))
    model = scripted_model(tok, [answer], block_size=block_size)
    return SimpleNamespace(usable=True, running=False, stopping=False, model=model, tokenizer=tok, preset="")


def test_the_question_set_is_measured_as_a_job_and_cleared_when_its_inputs_change(world):
    from llmviz.retrieval import evaluate
    from llmviz.retrieval.vectordb import VectorTable

    at = open_page(PAGE, session_state=state(corpora.get_corpus("world:3:40"), world))
    at.slider(key="vdb_eval_k").set_value(3).run()
    at.select_slider(key="vdb_eval_n").set_value(20).run()
    run_job(at, "vdb_eval", "vdb_eval_job")
    assert not at.exception and not at.error
    assert len(at.dataframe) == 2  # the chunks, and the measure
    table = at.dataframe[1].value
    report = evaluate.evaluate(VectorTable.open(world, "world"), evaluate.world_questions("world:3:40", 20), k=3)
    assert list(table["method"]) == ["LSA vectors", "BM25", "hybrid"]
    assert list(table["recall@3"]) == [round(report.methods[m].recall_at_k, 3) for m in ("lsa", "bm25", "hybrid")]
    assert list(table["MRR"]) == [round(report.methods[m].mrr, 3) for m in ("lsa", "bm25", "hybrid")]
    assert any(m.value.startswith("Over 20 questions,") for m in at.markdown)
    at.slider(key="vdb_eval_k").set_value(4).run()
    assert any("changed since the last measure" in c.value for c in at.caption)
    assert len(at.dataframe) == 1  # the old measure is not shown as this one's


def test_rag_on_the_world_marks_each_answer_and_draws_the_prompt(world):
    qs = _world_questions()
    q = next(q for q in qs if len(set(q.answer)) == len(q.answer))  # a scripted model writes each character once
    runs = {"right": scripted_run(q.answer), "wrong": scripted_run("Hamlet")}
    at = open_page(PAGE, session_state=state(corpora.get_corpus("world:3:40"), world, runs=runs))
    at.selectbox(key="vdb_known").set_value(q.text).run()
    assert not at.exception and not at.error
    assert any("1st for BM25" in m.value for m in at.markdown)  # a name: keywords find its passage
    strip = next(f for f in figures(at) if any(t.get("name") == "a retrieved passage" for t in f["data"]))
    assert strip["data"][0]["type"] == "heatmap"
    assert any("All of it is inside the context" in c.value for c in at.caption)
    at.button(key="vdb_generate").click().run()
    verdicts = [m.value for m in at.markdown if "the reply" in m.value]
    assert len(verdicts) == 2 and all(v.startswith(":green[**right**]") for v in verdicts)
    at.button(key="vdb_lc").click().run()
    assert any("the same chunks as above" in m.value for m in at.markdown)
    assert any("The same text as 'With the retrieved chunks'" in c.value for c in at.caption)
    at.selectbox(key="vdb_rag_run").set_value("wrong").run()
    at.button(key="vdb_generate").click().run()
    verdicts = [m.value for m in at.markdown if "the reply" in m.value]
    assert len(verdicts) == 2 and all(v.startswith(":red[**wrong**]") for v in verdicts)


def test_a_synthetic_table_is_made_from_the_page_and_chosen(tmp_path, corpus):
    at = open_page(PAGE, session_state=state(corpus, tmp_path / "db"))
    at.select_slider(key="vdb_synth_rows").set_value(10_000).run()
    at.select_slider(key="vdb_synth_dim").set_value(32).run()
    run_job(at, "vdb_synth", "vdb_synth_job")
    assert not at.exception and not at.error
    assert at.selectbox(key="vdb_table").value == "synthetic-10000x32"
    assert at.metric[0].value == "10,000" and any("no text to search" in i.value for i in at.info)


def test_rag_puts_in_the_prompt_only_the_chunks_the_models_context_holds(world):
    qs = _world_questions()
    q = next(q for q in qs if len(set(q.answer)) == len(q.answer))
    short = scripted_run(q.answer, block_size=700)  # characters: room for one chunk of ~600, not for five
    at = open_page(PAGE, session_state=state(corpora.get_corpus("world:3:40"), world, runs={"short": short}))
    at.selectbox(key="vdb_known").set_value(q.text).run()
    assert not at.exception and not at.error
    chosen = next(s for s in at.slider if s.label == "Chunks in the prompt")
    assert chosen.max == 5 and 1 <= chosen.value < 5
    assert any(c.value.startswith(f"The search returned 5 chunks: the first {chosen.value} fit in this model's 700")
               for c in at.caption)
    assert any("All of it is inside the context" in c.value for c in at.caption) and not at.warning
    chosen.set_value(5).run()  # all five: the prompt's front, with the first chunks, falls out of the context
    assert any("reads only its last 700 tokens" in w.value for w in at.warning)


def test_another_table_starts_from_its_own_question(world, built, corpus):
    # the world's question was asked; the learner points the page at another folder: the plays table is
    # searched for its own default question, never for the world's question left in the session
    at = open_page(PAGE, session_state=state(corpus, world))
    asked = at.text_input(key="vdb_question").value
    assert "Ann" in asked or "?" in asked
    at.text_input(key="vdb_dir").input(str(built)).run()
    assert not at.exception and at.selectbox(key="vdb_table").value == "plays-lsa"
    assert at.text_input(key="vdb_question").value == "how does a for loop end"
    from llmviz.retrieval import keywords

    stale = [w for w in keywords.content_words(keywords.words_of(asked)) if f"**{w}**" in text_of(at)]
    assert not stale, stale  # nothing is searched for the world's question


def test_the_table_name_follows_the_corpus(tmp_path, corpus):
    at = open_page(PAGE, session_state=state(corpus, tmp_path / "db"))
    name = lambda: next(t for t in at.text_input if t.label == "Table name").value  # noqa: E731
    assert name() == "test-plays-lsa"
    world = corpora.get_corpus("world:3:40")
    at.session_state["corpus"] = world  # the sidebar chose another text
    at.run()
    assert name() == vectordb.slug(f"{world.name}-lsa") != "test-plays-lsa"
