"""The three searches read in words, the bold words, a RAG prompt as the model reads it, and the synthetic
table the approximate index is measured on: each checked against an independent count or a brute-force
search, and each sentence fed other numbers to get other words."""

import numpy as np
import pytest

from llmviz.retrieval import ann, compare, evaluate, keywords, prompt_view, rag, synthetic
from llmviz.retrieval.database import VectorDBError
from llmviz.retrieval.embedders import EmbedderError
from llmviz.retrieval.search import Hit
from llmviz.retrieval.vectordb import VectorTable
from llmviz.tasks import chat
from llmviz.text.tokenizers import CharTokenizer
from tests.vector_fixtures import brute_force


def ranked(method, ids):
    return keywords.Ranked(method, [Hit(i, 1.0 / (r + 1), f"text {i}", "", "", 0, 0) for r, i in enumerate(ids)], 1.0)


# --- the words in bold ------------------------------------------------------------------------------------

def test_only_weighty_words_are_bold_and_plurals_match():
    q = "a horse, my kingdom for a horse"
    assert compare.bold_words(q, "bm25") == ["horse", "kingdom"]  # "a", "my", "for" carry no weight
    assert compare.bold_words(q, "vector", known=["horse", "my", "a"]) == ["horse"]  # the embedder ignored "kingdom"
    text = "Horses! My horse; a ladies' kingdoms, the horseman"
    spans = compare.match_spans(text, ["horse", "kingdom"])
    assert [text[a:b] for a, b in spans] == ["Horses", "horse", "kingdoms"]  # not "horseman", not "My"
    assert [text[a:b] for a, b in compare.match_spans(text, ["lady"])] == ["ladies"]
    assert compare.words_in("the glasses broke", ["glass", "cup"]) == ["glass"]
    md = compare.bold_markdown("A horse! a horse!", ["horse"])
    assert md.count("**horse**") == 2 and "**A**" not in md and "\\!" in md
    assert compare.bold_words("is it for the and of", "bm25") == []


def test_ordinals():
    assert [compare.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


# --- one question in words ----------------------------------------------------------------------------------

def test_one_questions_sentence_follows_the_ranks():
    ways = {"vector": ranked("vector", [7, 3, 9]), "bm25": ranked("bm25", [3, 7, 1]), "hybrid": ranked("hybrid", [3, 7, 9])}
    text = compare.reading(ways, "who cries for a horse", 3, relevant={3})
    assert "2nd for vector search" in text and "1st for BM25" in text and "BM25 and hybrid win" in text
    text = compare.reading(ways, "who cries for a horse", 3, relevant={7})
    assert "vector search wins" in text and "2nd for BM25" in text
    text = compare.reading(ways, "q", 3, relevant={42})
    assert "every method missed it" in text and "not in BM25's top 3" in text
    same = {m: ranked(m, [5, 1]) for m in ways}
    assert "all three methods agree" in compare.reading(same, "q", 2, relevant={5})
    # without a known answer: what the lists share, counted independently
    ways["bm25"].hits[0] = Hit(3, 1.0, "A horse! a horse!", "", "", 0, 0)
    text = compare.reading(ways, "a horse for my kingdom", 3)
    shared = len(set(ways["vector"].ids) & set(ways["bm25"].ids))
    assert f"share {shared} of their 3 hits" in text and "BM25's first hit holds horse" in text
    assert "vector search's first hit holds none of the weighty words" in text


def report(ranks: dict, kinds: list[str], k=5):
    qs = [evaluate.EvalQuestion(f"q{i}", "e", kind) for i, kind in enumerate(kinds)]
    return evaluate.Report("plays", k, qs, {m: evaluate.MethodScore(r, k) for m, r in ranks.items()})


def test_the_question_sets_sentence_is_computed_from_the_ranks():
    kinds = ["quote", "quote", "paraphrase", "paraphrase"]
    r = report({"lsa": [None, 3, 1, 1], "bm25": [1, 1, None, 2], "hybrid": [1, 2, 2, 1]}, kinds)
    text = compare.report_reading(r)
    assert text.startswith("Over 4 questions, hybrid finds the answer in the top 5 most often (100%)")
    assert "LSA vectors ranks it highest" not in text and "hybrid ranks it highest on average (MRR 0.75)" in text
    assert "BM25 ranks the answer higher than LSA vectors on 2 questions (2 quoted lines)" in text
    assert "LSA vectors higher than BM25 on 2 (2 questions in other words)" in text
    # other numbers, other words: a tie at the top is said as a tie, one question as one
    r = report({"lm": [1], "bm25": [1], "hybrid": [None]}, ["home"])
    text = compare.report_reading(r)
    assert text.startswith("Over 1 question, BM25 and the language model's vectors find") or \
        text.startswith("Over 1 question, the language model's vectors and BM25 find")
    assert "on 0 questions" in text and "higher than BM25 on 0." in text
    assert compare.report_reading(report({"lsa": [], "bm25": [], "hybrid": []}, [])).startswith("No question was asked")


def test_duels_count_strict_wins():
    r = report({"lsa": [1, None, 2], "bm25": [2, None, 2], "hybrid": [1, 1, 1]}, ["quote"] * 3)
    d = {(x.better, x.worse): x.questions for x in compare.duels(r)}
    assert d[("lsa", "bm25")] == [0] and d[("bm25", "lsa")] == [] and d[("hybrid", "lsa")] == [1, 2]


# --- the prompt as the model reads it -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_tokenizer():
    return chat.with_chat_tokens(CharTokenizer().train("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,?:\n"))


def test_the_prompt_view_marks_the_passages_and_what_the_context_loses(chat_tokenizer):
    passages = ["Ada lives in Quenmar.", "Bo keeps a cat."]
    prompt = "Context:\n" + "\n".join(passages) + "\n\nQuestion: where does Ada live?"
    ids, _ = chat.encode(chat_tokenizer, [chat.Message("user", rag.user_text(prompt))], generation_prompt=True)
    whole = prompt_view.view(chat_tokenizer, len(ids) + 5, prompt, passages)
    assert whole.n == len(ids) and whole.forgotten == 0 and "All of it is inside the context" in whole.reading()
    # the tokens marked as passages spell the passages, in order, and nothing else
    text = "".join(t for t, k in zip(whole.tokens, whole.kinds) if k == "passage")
    assert text == "".join(passages) and whole.passage_tokens == len(text)
    assert whole.kinds.count("tag") >= 3  # user, end, assistant
    # a context that cuts into the first passage: the front goes, counted as fit_context cuts it
    before = 1 + len("Context: ")  # the user tag and the template's start come before the first passage
    block = len(ids) - before - 4
    cut = prompt_view.view(chat_tokenizer, block, prompt, passages)
    assert cut.forgotten == len(chat.fit_context(ids, block)[0]) == before + 4
    lost = cut.passage_tokens - cut.passage_tokens_read
    assert lost == 4 and f"{4 / len(text):.0%} of the passages' tokens never reach" in cut.reading()
    assert cut.kinds[:cut.forgotten] == ["forgotten"] * cut.forgotten
    # a context that loses only the template's start
    front = prompt_view.view(chat_tokenizer, len(ids) - 3, prompt, passages)
    assert front.forgotten > 0 and "none of them a passage's" in front.reading()


# --- synthetic vectors and the index measured on them ---------------------------------------------------------

def test_synthetic_vectors_follow_the_seed_and_questions_are_new_draws(tmp_path):
    e = synthetic.SyntheticEmbedder(8, seed=3)
    assert np.array_equal(e.draw(50), synthetic.SyntheticEmbedder(8, seed=3).draw(50))
    assert not np.array_equal(e.draw(50), synthetic.SyntheticEmbedder(8, seed=4).draw(50))
    assert not np.array_equal(e.draw(5, stream=1), e.draw(5, stream=0))
    with pytest.raises(EmbedderError, match="between 1 and"):
        synthetic.check_rows(0)
    with pytest.raises(EmbedderError, match="dimensions"):
        synthetic.SyntheticEmbedder(0)
    with pytest.raises(EmbedderError, match="1,000,000"):
        ann.synthetic_job(tmp_path, synthetic.MAX_ROWS + 1)


def test_the_index_on_a_synthetic_table_is_measured_against_brute_force(tmp_path):
    rows, dim, k = 2000, 16, 10
    ann.synthetic_table(tmp_path, rows, dim, seed=1, name="syn")
    table = VectorTable.open(tmp_path, "syn")  # reopened: its embedder comes back from beside it
    assert table.rows == rows and table.provenance.embedder["kind"] == "synthetic"
    queries = ann.query_vectors(table, 12)
    vectors = synthetic.SyntheticEmbedder(dim, 1).draw(rows)
    truth, exact_ms = ann.exact_truth(table, queries, k)
    for q, t in zip(queries, truth):
        assert t == [int(i) for i in np.argsort(-brute_force(vectors, q), kind="stable")[:k]]
    assert exact_ms > 0
    parts = ann.default_partitions(rows)
    ann.build_index(table, ann.IndexConfig("ivf_pq", parts, ann.default_sub_vectors(dim)))
    one = ann.measure(table, queries, truth, k, ann.SearchParams(nprobes=1, refine_factor=None), exact_ms)
    every = ann.measure(table, queries, truth, k, ann.SearchParams(nprobes=parts, refine_factor=50), exact_ms)
    assert one.recall < 0.9  # one probe of many, ranked by the codes alone, misses neighbours
    assert every.recall >= 0.95 and every.exact_ms == exact_ms
    found = [[h.id for h in table.search_vector(q, k, None, False, ann.SearchParams(1, None))[0]] for q in queries]
    assert one.recall == pytest.approx(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
    assert table.search("any words at all", k).hits == []  # no text: a typed question finds nothing


def test_the_synthetic_job_writes_the_table(tmp_path):
    job = ann.synthetic_job(tmp_path, 300, 8, name="small")
    job.start()
    job.join(60)
    assert job.state == "finished" and job.result.rows == 300, job.reason


def test_search_by_names_the_three_methods(tmp_path):
    with pytest.raises(VectorDBError, match="unknown retrieval method 'dense'"):
        keywords.search_by("dense", None, "q")


def test_one_setting_of_the_index_in_words():
    fast = ann.SweepPoint(2, 10, 0.86, 1.0, 8.0)
    text = ann.say_point(fast, 10, 45)
    assert text.startswith("Searching 2 of 45 partitions with re-ranking 10× k candidates, the index finds 86%")
    assert "8.0× faster, at the cost of 14% of the neighbours" in text
    slow = ann.SweepPoint(1, None, 1.0, 3.0, 1.5)
    text = ann.say_point(slow, 5, 1)
    assert "with no re-ranking" in text and "no faster here" in text and "faster, at" not in text


def test_the_index_records_its_partitions(tmp_path):
    table = ann.synthetic_table(tmp_path, 1000, 8, name="rec")
    assert ann.built_partitions(table) is None  # no index yet
    ann.build_index(table, ann.IndexConfig("ivf_pq", 7, 2))
    assert ann.built_partitions(VectorTable.open(tmp_path, "rec")) == 7


def test_a_long_prompt_is_drawn_head_and_tail(chat_tokenizer):
    passages = ["Ada lives in Quenmar. " * 40]
    prompt = "Context: " + passages[0] + " Question: where?"
    v = prompt_view.view(chat_tokenizer, 10_000, prompt, passages)
    tokens, kinds, skipped = v.shown(limit=100)
    assert len(tokens) == 100 and skipped == v.n - 99 and tokens[25] == f"… {skipped:,} …"
    assert tokens[:25] == v.tokens[:25] and tokens[26:] == v.tokens[-74:] and kinds[26:] == v.kinds[-74:]
    assert v.shown(limit=v.n) == (v.tokens, v.kinds, 0)
