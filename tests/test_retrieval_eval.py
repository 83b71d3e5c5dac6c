"""Retrieval measured: the question sets' answers are in the corpus, recall@k and MRR are what the ranks say
(each method's ranks checked against an independent search), the world is a corpus, and search-eval and
rag-eval print their keys and refuse bad input in words."""

import json

import numpy as np
import pytest
import torch

from llmviz.cli.main import main
from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.retrieval import embedders, evaluate, keywords, rag, rag_eval
from llmviz.retrieval.chunking import ChunkConfig
from llmviz.retrieval.play_questions import PARAPHRASED
from llmviz.retrieval.vectordb import VectorTable
from llmviz.text import corpora
from llmviz.training.config import TrainConfig
from tests.vector_fixtures import brute_force, lm_embedder

torch.set_num_threads(1)
SPEECH = ChunkConfig("speech", 600, 100)


@pytest.fixture(scope="module")
def world_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("world")
    table = rag.build(corpora.get_corpus("world:3:40"), SPEECH, embedders.LSAConfig(dim=16), path, "world")
    return path, table


def test_each_paraphrased_question_points_to_a_line_of_its_play():
    for slug, title in ((s, corpora.play_title(s)) for s in corpora.list_plays()):
        for question, play, line in PARAPHRASED:
            if play == title:
                text = evaluate.normalized(corpora.play_text(slug))
                assert evaluate.normalized(line) in text, (question, line)
    assert {p for _, p, _ in PARAPHRASED} <= {corpora.play_title(s) for s in corpora.DEFAULT_PLAYS}
    assert len(PARAPHRASED) >= 30
    # the question says it in other words: few of the line's words that carry weight are in the question
    shared = [len(set(keywords.content_words(keywords.words_of(q))) & set(keywords.content_words(keywords.words_of(line))))
              / max(1, len(keywords.content_words(keywords.words_of(line)))) for q, _, line in PARAPHRASED]
    assert np.mean(shared) < 0.35


def test_world_questions_find_exactly_their_passage(world_db):
    _, table = world_db
    kind, questions = evaluate.questions_for(table)
    assert kind == "world" and len(questions) == 40 * 12
    chunks = evaluate.chunk_texts(table)
    for q in questions[:60]:
        ids = evaluate.relevant(chunks, q.evidence)
        assert len(ids) == 1 and q.answer in chunks[ids.pop()]
    # evidence is compared on words: case, punctuation and line breaks do not matter
    assert evaluate.relevant({0: "HAMLET:\nTo be, or not\nto be!", 1: "to be"}, "to be or not to be") == {0}


def test_recall_and_mrr_from_ranks():
    score = evaluate.MethodScore([1, None, 2, 4], k=5)
    assert score.recall_at_k == 0.75 and score.mrr == pytest.approx((1 + 0.5 + 0.25) / 4)
    assert evaluate.MethodScore([], 5).to_dict() == {"recall_at_k": 0.0, "mrr": 0.0}


def test_each_methods_ranks_are_those_of_an_independent_search(world_db):
    _, table = world_db
    _, questions = evaluate.questions_for(table, 30, seed=2)
    report = evaluate.evaluate(table, questions, k=5)
    assert set(report.methods) == {"lsa", "bm25", "hybrid"} and report.n == 30 and report.skipped == 0
    ids, vectors = table.vectors()
    chunks = evaluate.chunk_texts(table)
    for q, rank in zip(report.questions, report.methods["lsa"].ranks):
        vector = table.embed_query(q.text)[0]
        if vector is None:  # no word the embedder knows: nothing found
            assert rank is None
            continue
        sims = brute_force(vectors, vector)
        order = [int(ids[i]) for i in np.argsort(-sims, kind="stable")[:5]]
        want = next((r for r, i in enumerate(order, 1) if i in evaluate.relevant(chunks, q.evidence)), None)
        assert rank == want or (rank is not None and want is not None and abs(rank - want) <= 1)  # ties may swap
    # a world's names are rare words: keywords find every passage, first
    assert report.methods["bm25"].recall_at_k == 1.0 and report.methods["bm25"].mrr > 0.9
    assert report.to_dict()["methods"]["bm25"] == {"recall_at_k": 1.0, "mrr": round(report.methods["bm25"].mrr, 4)}


def test_the_world_is_a_corpus_and_a_bad_seed_is_refused_in_words(tmp_path, capsys):
    c = corpora.get_corpus("world:5:30")
    assert c.source == "world:5:30" and c.name.startswith("A generated world (seed 5")
    for bad, words in (("world:-1", "from 0 to"), ("world:99999999999", "from 0 to"), ("world:x", "not a world"),
                       ("world:1:1", "2 to 5000")):
        with pytest.raises(corpora.CorpusError, match=words):
            corpora.get_corpus(bad)
    assert main(["index", "--corpus", "world:-4", "--db", str(tmp_path)]) == 2
    assert "from 0 to" in capsys.readouterr().err


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out.strip().splitlines()[-1]) if code == 0 else None), out.err


def test_search_eval_prints_the_issues_keys_and_builds_a_missing_full_text_index(world_db, capsys):
    path, table = world_db
    table.table.drop_index(keywords.fts_info(table)["name"])
    code, out, err = run(capsys, "search-eval", "--db", path, "--table", "world", "--k", 3, "--n", 24, "--json")
    assert code == 0 and "building it" in err
    assert {"k", "n", "methods"} <= set(out) and out["k"] == 3 and out["n"] == 24 and out["question_set"] == "world"
    assert set(out["methods"]) == {"lsa", "bm25", "hybrid"}
    for m in out["methods"].values():
        assert set(m) == {"recall_at_k", "mrr"} and 0 <= m["mrr"] <= m["recall_at_k"] <= 1


def test_rag_eval_grades_answers_and_refuses_a_table_without_answers(world_db, tmp_path, capsys):
    path, table = world_db
    assert rag_eval.is_right("She lives in Quenmar.", "Quenmar") and not rag_eval.is_right("Quenmarsh", "Quenmar")
    emb = lm_embedder(corpora.get_corpus("world:3:40"), block_size=32)
    ck = tmp_path / "tiny.safetensors"
    checkpoint.save(ck, emb.model, emb.tokenizer, TrainConfig())
    code, out, _ = run(capsys, "rag-eval", "--checkpoint", ck, "--db", path, "--table", "world", "--k", 2, "--n", 4,
                       "--max-new-tokens", 8, "--json")
    assert code == 0
    assert {"accuracy_with_retrieval", "accuracy_without_retrieval", "recall_at_k", "k", "n"} <= set(out)
    assert out["k"] == 2 and out["n"] == 4
    # recall@k is the share whose passage the same retrieval found: checked against search-eval's measure
    qs = evaluate.world_questions("world:3:40", 4, seed=1)
    hybrid = evaluate.evaluate(VectorTable.open(path, "world"), qs, k=2).methods["hybrid"]
    assert out["recall_at_k"] == round(hybrid.recall_at_k, 4)
    other = rag.build(corpora.Corpus("plain", "HAMLET:\nTo be.\n\nOPHELIA:\nMy lord.\n\n" * 3), ChunkConfig("speech", 50, 0),
                      embedders.LSAConfig(dim=2), tmp_path / "plain", "plain")
    with pytest.raises(LearnerError, match="not built from a generated world"):
        rag_eval.rag_eval(emb.model, emb.tokenizer, other)
