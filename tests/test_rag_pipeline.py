"""RAG's one pipeline on every surface: the LangChain retriever and chat chain give the answers the page and
rag-eval give (same hits, same prompt, same model, greedy), and a template fills {question} and {context}
once: braces inside a retrieved chunk, or inside the question, stay as written."""

import pytest
import torch

from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.retrieval import embedders, evaluate, rag, rag_eval
from llmviz.retrieval.chunking import ChunkConfig
from llmviz.retrieval.langchain_rag import VectorTableRetriever, model_chat, prompt_template, rag_chat_chain
from llmviz.retrieval.search import Hit
from llmviz.tasks import chat
from llmviz.text import corpora
from llmviz.text.tokenizers import CharTokenizer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    corpus = corpora.get_corpus("world:4:30")
    table = rag.build(corpus, ChunkConfig("speech", 600, 100), embedders.LSAConfig(dim=16),
                      tmp_path_factory.mktemp("world"), "world")
    torch.manual_seed(0)
    tok = chat.with_chat_tokens(CharTokenizer().train(corpus.text + " ?"))
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=512, n_embd=16, n_head=2, n_layer=1))
    return table, model.eval(), tok


def test_the_langchain_chain_answers_as_the_page_and_rag_eval_do(world):
    table, model, tok = world
    template = rag_eval.template_for(tok)
    assert template == rag.TEMPLATES["context, then question (instruct models)"]  # the page's default for it
    replies = set()
    for method in ("hybrid", "bm25", "vector"):
        for q in evaluate.world_questions("world:4:30", 2, seed=5):
            case = rag_eval.ask(model, tok, table, q, k=2, method=method, max_new_tokens=12)
            retriever = VectorTableRetriever(table=table, k=2, method=method)
            assert tuple(d.metadata["id"] for d in retriever.invoke(q.text)) == case.hit_ids
            page = rag.answer(model, tok, q.text, rag_eval.retrieve(table, q.text, 2, method), template, 12, 0.0)
            chain = rag_chat_chain(retriever, model_chat(model, tok, 12), template, tokenizer=tok).invoke(q.text)
            assert page.with_context == case.with_context
            assert chain.strip() == case.with_context.strip()
            replies.add(case.with_context)
    assert len(replies) > 1  # the replies depend on the prompt: the equality is not that of a constant


def test_a_template_fills_its_slots_once_and_never_inside_a_chunk():
    hits = [Hit(0, 1.0, "He wrote {question} on the wall, and {context} too.", "", "", 0, 0)]
    template = "Passages: {context}\nQuestion: {question}\nAnswer:"
    prompt = rag.build_prompt("what is {x}?", hits, template)
    assert prompt == "Passages: He wrote {question} on the wall, and {context} too.\nQuestion: what is {x}?\nAnswer:"
    lc = prompt_template(template).invoke({"context": rag.context_of(hits), "question": "what is {x}?"}).to_string()
    assert lc == prompt
