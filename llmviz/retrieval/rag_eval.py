"""RAG measured end to end (tutorial part 4): on the generated world, does the model answer right with the
retrieved passages, and without them?

The world's facts are invented (llmviz.text.world), so no model learned them in pre-training: without
retrieval an answer can only be a guess; with it, the answer is in the prompt when retrieval found the
passage, and the model has to read it there. Each question is asked twice, greedily: once after the k
passages that search returned (in the format of llmviz.retrieval.rag.TEMPLATES), once alone. An answer is
right when it holds the fact's words (case aside, as whole words).

    recall_at_k                 share of questions whose answer passage was among the k retrieved
    accuracy_with_retrieval     share answered right with the retrieved passages in the prompt
    accuracy_without_retrieval  share answered right from the question alone
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmviz.errors import LearnerError
from llmviz.retrieval import evaluate, keywords, rag
from llmviz.tasks import chat

METHODS = ("hybrid", "bm25", "vector")


@dataclass(frozen=True)
class Case:
    question: str
    answer: str  # the fact's words
    hit_ids: tuple[int, ...]
    found: bool  # the answer passage was among the hits
    with_context: str
    without_context: str
    prompt: str  # the prompt with the passages

    @property
    def right_with(self) -> bool:
        return is_right(self.with_context, self.answer)

    @property
    def right_without(self) -> bool:
        return is_right(self.without_context, self.answer)


@dataclass
class RagReport:
    k: int
    method: str
    cases: list[Case] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.cases)

    def _share(self, flag) -> float:
        return sum(map(flag, self.cases)) / self.n if self.cases else 0.0

    @property
    def accuracy_with_retrieval(self) -> float:
        return self._share(lambda c: c.right_with)

    @property
    def accuracy_without_retrieval(self) -> float:
        return self._share(lambda c: c.right_without)

    @property
    def recall_at_k(self) -> float:
        return self._share(lambda c: c.found)

    def to_dict(self) -> dict:
        return {"accuracy_with_retrieval": round(self.accuracy_with_retrieval, 4),
                "accuracy_without_retrieval": round(self.accuracy_without_retrieval, 4),
                "recall_at_k": round(self.recall_at_k, 4), "k": self.k, "n": self.n, "method": self.method}


def is_right(reply: str, answer: str) -> bool:
    """The reply holds the answer's words, as whole words, case aside."""
    return re.search(r"(?<!\w)" + re.escape(answer.lower()) + r"(?!\w)", reply.lower()) is not None


def template_for(tokenizer) -> str:
    """The instruct format for a chat model (the passages, then the question), the text format otherwise."""
    name = "context, then question (instruct models)" if chat.has_chat_template(tokenizer) else "continue the text"
    return rag.TEMPLATES[name]


def retrieve(table, question: str, k: int, method: str = "hybrid"):
    if method not in METHODS:
        raise LearnerError(f"unknown retrieval method {method!r}: use one of {', '.join(METHODS)}.")
    return keywords.search_by(method, table, question, k).hits


def ask(model, tokenizer, table, question: evaluate.EvalQuestion, k: int = 3, method: str = "hybrid",
        max_new_tokens: int = 40, chunks: dict[int, str] | None = None) -> Case:
    """One world question, retrieved for, answered with and without the passages, and graded."""
    hits = retrieve(table, question.text, k, method)
    chunks = chunks if chunks is not None else evaluate.chunk_texts(table)
    found = bool(evaluate.relevant(chunks, question.evidence) & {h.id for h in hits})
    out = rag.answer(model, tokenizer, question.text, hits, template_for(tokenizer), max_new_tokens, temperature=0.0)
    return Case(question.text, question.answer, tuple(h.id for h in hits), found, out.with_context,
                out.without_context, out.prompt)


def rag_eval(model, tokenizer, table, k: int = 3, n: int = 50, method: str = "hybrid", seed: int = 1,
             max_new_tokens: int = 40, job=None) -> RagReport:
    """n questions of the world the table was built from, each answered with and without retrieval."""
    if evaluate.question_set_of(table.provenance) != "world":
        raise LearnerError(f"the table {table.name!r} was not built from a generated world, so its answers cannot be "
                           "checked: build one with `python -m llmviz index --corpus world --db DIR`.")
    if not 1 <= k <= table.rows:
        raise LearnerError(f"k must be between 1 and {table.rows} (the table's chunks); it is {k}.")
    if n < 1:
        raise LearnerError(f"n (the questions asked) must be at least 1; it is {n}.")
    if method not in METHODS:
        raise LearnerError(f"unknown retrieval method {method!r}: use one of {', '.join(METHODS)}.")
    questions = evaluate.world_questions(table.provenance.corpus["source"], n, seed)
    chunks = evaluate.chunk_texts(table)
    report = RagReport(k, method)
    if job is not None:
        job.total = len(questions)
    for i, q in enumerate(questions):
        if job is not None and job.should_stop():
            break
        report.cases.append(ask(model, tokenizer, table, q, k, method, max_new_tokens, chunks))
        if job is not None:
            job.advance(i + 1)
    return report
