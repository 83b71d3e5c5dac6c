"""Retrieval-augmented generation: the matching words of a hit, the prompt and what a short-context model
really reads of it, answers with and without context, the 2-D map, and the same pipeline through
LangChain's retriever and chain."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from llmviz.retrieval import embedders, rag
from llmviz.retrieval.chunking import ChunkConfig
from llmviz.nn.generate import generate_text
from llmviz.retrieval.vectordb import Hit, VectorDBError
from tests.vector_fixtures import lm_embedder, speech_corpus

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus():
    return speech_corpus(80)


@pytest.fixture(scope="module")
def table(tmp_path_factory, corpus):
    return rag.build(corpus, ChunkConfig("speech", 400, 0), embedders.LSAConfig(dim=12),
                           tmp_path_factory.mktemp("db"), "t")


@pytest.fixture(scope="module")
def lm(corpus):
    return lm_embedder(corpus, block_size=32)


def test_matching_words_are_found_and_bolded_with_markdown_escaped():
    text = "HAMLET:\nThe Ghost, my father* walks_here [at] night."
    g, n = text.index("Ghost"), text.index("night")
    assert rag.match_spans(text, ["ghost", "night"]) == [(g, g + 5), (n, n + 5)]
    md = rag.highlight_markdown(text, ["ghost", "father"])
    assert md == "HAMLET:  \nThe **Ghost**, my **father**\\* walks\\_here \\[at\\] night\\."
    assert rag.highlight_markdown("no match", []) == "no match"


def test_the_prompt_carries_the_hits_in_rank_order(table):
    hits = table.search("sea ship storm", k=3).hits
    prompt = rag.build_prompt("  Where is the ship?  ", hits)
    positions = [prompt.index(h.text.strip()) for h in hits]
    assert positions == sorted(positions)
    assert prompt.endswith("QUESTION:\nWhere is the ship?\n\nANSWER:\n")
    turn = rag.build_prompt("Where?", hits, rag.TEMPLATES["context, then question (instruct models)"])
    from llmviz.tasks.instruct_data import passages_message

    # an instruct model reads the retrieved passages as its passages task was written
    assert rag.user_text(turn) == passages_message([rag.user_text(h.text) for h in hits], "Where?")
    with pytest.raises(VectorDBError, match="question"):
        rag.build_prompt(" ", hits)
    with pytest.raises(VectorDBError, match=r"\{question\}"):
        rag.build_prompt("Where?", hits, "{context} only")


def test_a_short_context_model_sees_only_the_end_of_the_prompt(lm):
    prompt = "a" * 100 + "the end"
    seen, n = rag.model_view(lm.tokenizer, 32, prompt)
    assert n == 107 and seen == prompt[-32:]
    assert rag.spellable(lm.tokenizer, "sea ✓ ship") == ("sea  ship", ["✓"])


def test_answers_with_and_without_context_are_the_model_continuing_each_prompt(table, lm):
    hits = table.search("ghost midnight", k=2).hits
    a = rag.answer(lm.model, lm.tokenizer, "Who walks at night?", hits, max_new_tokens=25, seed=7)
    assert a.prompt == rag.build_prompt("Who walks at night?", hits)
    assert a.plain_prompt == "QUESTION:\nWho walks at night?\n\nANSWER:\n"
    # the reference: the same sampling called directly on each prompt with the same seed, without the
    # characters this small model never saw (the test text has no 'Q', for one)
    tok = lm.tokenizer
    missing = sorted(set(a.prompt + a.plain_prompt) - set(tok.chars))
    assert missing and a.dropped == missing
    spell = lambda p: "".join(ch for ch in p if ch in tok.stoi)  # noqa: E731
    assert a.with_context == generate_text(lm.model, tok, spell(a.prompt), 25, temperature=0.8, seed=7)
    assert a.without_context == generate_text(lm.model, tok, spell(a.plain_prompt), 25, temperature=0.8, seed=7)
    # both prompts end with the same 32 characters: the context never reaches this model, the answers agree
    assert spell(a.prompt)[-32:] == spell(a.plain_prompt)[-32:] and a.with_context == a.without_context
    assert len(a.with_context) == 25 and a.block_size == 32 and a.seen == spell(a.prompt)[-32:]
    assert a.prompt_tokens == len(spell(a.prompt))


def test_the_map_is_pca_of_the_unit_vectors_with_the_question_projected_the_same_way(table):
    ids, vectors = table.vectors()
    q = vectors[5]
    mp = rag.map_points(table, q, [int(ids[5]), int(ids[9])])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ref = PCA(n_components=2, random_state=0).fit(unit)
    np.testing.assert_allclose(mp.coords, ref.transform(unit), atol=1e-6)
    np.testing.assert_allclose(mp.query, mp.coords[5], atol=1e-6)  # a question equal to a chunk lands on it
    assert mp.hits == [5, 9] and mp.total == len(ids) and len(mp.labels) == len(ids)
    sampled = rag.map_points(table, None, [int(ids[-1])], max_points=20)
    assert len(sampled.coords) == 20 and sampled.query is None and sampled.ids[sampled.hits[0]] == int(ids[-1])


def test_langchain_retriever_and_chain_give_the_same_chunks_and_text(table, lm):
    from langchain_core.retrievers import BaseRetriever

    from llmviz.retrieval.langchain_rag import VectorTableRetriever, hits_of, model_llm, prompt_template, rag_chain

    retriever = VectorTableRetriever(table=table, k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke("sea ship storm")
    ours = table.search("sea ship storm", k=3).hits
    assert hits_of(docs) == ours
    assert prompt_template().format(context=rag.context_of(ours), question="Where?") == \
        rag.build_prompt("Where?", ours)
    chain = rag_chain(retriever, model_llm(lm.model, lm.tokenizer, max_new_tokens=20, seed=3), tokenizer=lm.tokenizer)
    expected = rag.answer(lm.model, lm.tokenizer, "sea ship storm", ours, max_new_tokens=20, seed=3)
    assert chain.invoke("sea ship storm") == expected.with_context
    filtered = VectorTableRetriever(table=table, k=3, where="speaker = 'BEATRICE'").invoke("sea ship storm")
    assert filtered and all(d.metadata["speaker"] == "BEATRICE" for d in filtered)
    assert VectorTableRetriever(table=table, k=3).invoke("xyzzy") == []  # unknown words: nothing, not noise


def test_hit_is_a_plain_record():
    h = Hit(1, 0.5, "text", "play", "who", 0, 4)
    assert h == Hit(1, 0.5, "text", "play", "who", 0, 4)


def test_an_instruct_model_answers_from_the_retrieved_context(table):
    """A model with chat tokens gets the context and the question as its user turn (llmviz.tasks.chat), the same
    format its instruction tuning taught it."""
    import torch

    from llmviz.tasks import chat
    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.text.tokenizers import CharTokenizer

    hits = table.search("sea ship storm", k=2).hits
    text = "".join(h.text for h in hits) + "Where?"
    tok = chat.with_chat_tokens(CharTokenizer().train(text))
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=32, n_embd=16, n_head=2))
    got = rag.answer(model, tok, "Where?", hits, rag.TEMPLATES["context, then question (instruct models)"],
                           max_new_tokens=5)
    assert got.seen.startswith("<|user|>") or "<|user|>" not in got.seen  # the context window's view of the chat
    assert got.seen.endswith("Where?<|end|><|assistant|>") and got.prompt_tokens > 32
    assert len(got.with_context) <= 5 and "<|" not in got.with_context
