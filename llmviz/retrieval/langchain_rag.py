"""The same retrieval pipeline as LangChain pieces (tutorial part 4, "frameworks"): a retriever over a
llmviz vector table, and a chain  question -> retriever -> prompt template -> LLM -> text, where the LLM is
any LangChain LLM: the learner's own model through llmviz.serving.langchain_llm, or a server's.

LangChain's retriever interface is one method: given a query string, return a list of Documents
(page_content + metadata). Anything that implements it plugs into LangChain's chains, so the table built
in this app can feed any chain, and any LangChain LLM could replace the model here.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from llmviz.retrieval import keywords
from llmviz.retrieval.rag import TEMPLATES, context_of, spellable, user_text
from llmviz.retrieval.vectordb import Hit, SearchParams


class VectorTableRetriever(BaseRetriever):
    """A LangChain retriever over a llmviz.retrieval.vectordb.VectorTable: the k best chunks as Documents, by
    vector search, BM25 or hybrid (llmviz.retrieval.keywords), as the page searches."""

    table: Any  # the llmviz.retrieval.vectordb.VectorTable
    k: int = 4
    where: str | None = None  # a LanceDB filter, e.g. "section = 'Hamlet'"
    exact: bool = True  # False: through the approximate index
    params: SearchParams = SearchParams()
    method: str = "vector"  # "vector", "bm25" or "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = keywords.search_by(self.method, self.table, query, self.k, self.where, self.exact, self.params)
        return [Document(page_content=h.text, metadata={"id": h.id, "score": h.score, "section": h.section,
                                                        "speaker": h.speaker, "start": h.start, "end": h.end})
                for h in result.hits]


def hits_of(docs: list[Document]) -> list[Hit]:
    """Documents back to hits (the metadata the retriever put there)."""
    return [Hit(d.metadata["id"], d.metadata["score"], d.page_content, d.metadata["section"], d.metadata["speaker"],
                d.metadata["start"], d.metadata["end"]) for d in docs]


def prompt_template(template: str = TEMPLATES["continue the text"]) -> PromptTemplate:
    """A llmviz template as a LangChain PromptTemplate (the same {context} and {question} variables)."""
    return PromptTemplate.from_template(template)


def rag_chain(retriever: BaseRetriever, llm, template: str = TEMPLATES["continue the text"],
              tokenizer=None) -> Runnable:
    """question -> {"context": retrieved chunks, "question": question} -> prompt -> any LangChain LLM -> text.
    Given the model's tokenizer, characters it cannot spell are left out of the prompt first."""
    spell = RunnableLambda(lambda p: spellable(tokenizer, p.to_string())[0] if tokenizer is not None else p)
    return ({"context": retriever | RunnableLambda(lambda docs: context_of(hits_of(docs))),
             "question": RunnablePassthrough()}
            | prompt_template(template)
            | spell
            | llm)


def rag_chat_chain(retriever: BaseRetriever, chat_model, template: str = TEMPLATES["context, then question (instruct models)"],
                   tokenizer=None) -> Runnable:
    """The same chain for an instruct model: the filled template becomes the user's turn (rag.user_text, as
    the page and rag-eval send it), answered by any LangChain chat model; its text out."""
    from langchain_core.messages import HumanMessage
    from langchain_core.output_parsers import StrOutputParser

    spell = RunnableLambda(lambda p: spellable(tokenizer, p.to_string())[0] if tokenizer is not None else p.to_string())
    return ({"context": retriever | RunnableLambda(lambda docs: context_of(hits_of(docs))),
             "question": RunnablePassthrough()}
            | prompt_template(template)
            | spell
            | RunnableLambda(lambda text: [HumanMessage(user_text(text))])
            | chat_model
            | StrOutputParser())


def model_chat(model, tokenizer, max_new_tokens: int = 40):
    """An instruct model of this app as a LangChain chat model, greedy (as rag-eval answers)."""
    from llmviz.serving.langchain_llm import CheckpointChatModel

    return CheckpointChatModel(network=model, tokenizer=tokenizer, max_tokens=max_new_tokens, temperature=0.0)


def model_llm(model, tokenizer, max_new_tokens: int = 200, temperature: float = 0.8, seed: int | None = 0):
    """A model of this app as a LangChain LLM (the LangChain page's CheckpointLLM)."""
    from llmviz.serving.langchain_llm import CheckpointLLM

    return CheckpointLLM(network=model, tokenizer=tokenizer, max_tokens=max_new_tokens, temperature=temperature,
                         seed=seed)
