"""Retrieval measured, not eyeballed: questions whose answer chunk is known, and how high each search method
ranks it (tutorial part 4: which retrieval finds what).

A question carries evidence: the text that answers it (a world passage, a line of a play). The chunks of
a table that hold the evidence (compared on words alone, so case, punctuation and line breaks do not
matter) are its relevant chunks; a method's rank for the question is the rank of its first relevant hit.

- recall@k: the share of questions with a relevant chunk among the method's first k hits;
- MRR (mean reciprocal rank, cut at k): the mean of 1 / rank of the first relevant hit (0 when it is not in
  the first k): 1.0 if it is always first, 0.5 if always second.

The question set follows from what the table records about its corpus (its provenance):
- "world": a generated world (llmviz.text.world), its questions about each person, each with its passage;
- "plays": the built-in Shakespeare: quoted lines (each finds the chunk that holds it) and the questions
  of llmviz.retrieval.play_questions, in other words than the line's;
- "quotes": any other text: quoted lines alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from llmviz.errors import LearnerError
from llmviz.jobs import Job
from llmviz.retrieval import keywords
from llmviz.retrieval.play_questions import PARAPHRASED
from llmviz.retrieval.search import SearchParams

QUOTES = 60  # quoted lines drawn from a table's chunks
MIN_QUOTE_CHARS = 30  # a shorter line ("Ay, my lord.") is in many chunks and tells nothing


@dataclass(frozen=True)
class EvalQuestion:
    text: str
    evidence: str  # the text that answers it: its relevant chunks hold it
    kind: str  # "quote", "paraphrase" or the world relation ("home", "trade", "pet", "friend")
    answer: str = ""  # the words a right answer holds (world questions)


@dataclass
class MethodScore:
    ranks: list[int | None]  # per question: the rank (from 1) of the first relevant hit, None if not in the top k
    k: int

    @property
    def recall_at_k(self) -> float:
        return sum(r is not None for r in self.ranks) / len(self.ranks) if self.ranks else 0.0

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks) if self.ranks else 0.0

    def to_dict(self) -> dict:
        return {"recall_at_k": round(self.recall_at_k, 4), "mrr": round(self.mrr, 4)}


@dataclass
class Report:
    question_set: str
    k: int
    questions: list[EvalQuestion]  # the ones asked (each has a relevant chunk in the table)
    methods: dict[str, MethodScore]
    skipped: int = 0  # questions whose evidence is in no chunk of the table (a capped corpus, another chunking)
    notes: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.questions)

    def to_dict(self) -> dict:
        return {"k": self.k, "n": self.n, "methods": {m: s.to_dict() for m, s in self.methods.items()},
                "question_set": self.question_set, "skipped": self.skipped}

    def wins(self, method: str, over: str) -> list[int]:
        """The questions `method` ranks strictly better than `over` (absent counts as worst)."""
        a, b = self.methods[method].ranks, self.methods[over].ranks
        worst = self.k + 1
        return [i for i, (x, y) in enumerate(zip(a, b)) if (x or worst) < (y or worst)]


def normalized(text: str) -> str:
    """Words alone, lower-cased, one space apart and around: what evidence is compared on."""
    return " " + " ".join(keywords.words_of(text)) + " "


def relevant(chunks: dict[int, str], evidence: str) -> set[int]:
    """The ids of the chunks whose text holds the evidence."""
    e = normalized(evidence)
    return {i for i, t in chunks.items() if e in normalized(t)}


# --- the question sets ------------------------------------------------------------------------------------

def question_set_of(provenance) -> str:
    source = provenance.corpus.get("source", "")
    if source.startswith("world"):
        return "world"
    return "plays" if provenance.corpus.get("name", "").startswith(("Shakespeare", "Tiny Shakespeare")) else "quotes"


def world_questions(source: str, n: int | None = None, seed: int = 0) -> list[EvalQuestion]:
    """The questions of the world a table was built from (source "world:SEED:PEOPLE"), n of them drawn."""
    from llmviz.text.corpora import world
    from llmviz.text.world import make_world

    parts = source.split(":")
    world(source)  # refuses a bad source in words
    w = make_world(int(parts[1]), int(parts[2]))
    qs = [EvalQuestion(q.text, w.passages[q.passage].text, q.relation, q.answer) for q in w.questions]
    return _sample(qs, n, seed)


def quoted_lines(chunks: dict[int, str], n: int = QUOTES, seed: int = 0) -> list[EvalQuestion]:
    """n lines drawn from the chunks (not speaker names, at least MIN_QUOTE_CHARS long), each a question."""
    lines = sorted({line.strip() for t in chunks.values() for line in t.splitlines()
                    if len(line.strip()) >= MIN_QUOTE_CHARS and not line.rstrip().endswith(":")})
    return [EvalQuestion(line, line, "quote") for line in _sample(lines, n, seed)]


def paraphrased() -> list[EvalQuestion]:
    return [EvalQuestion(q, line, "paraphrase") for q, _, line in PARAPHRASED]


def _sample(items: list, n: int | None, seed: int) -> list:
    if n is None or n >= len(items):
        return list(items)
    return random.Random(seed).sample(items, n)


def questions_for(table, n: int | None = None, seed: int = 0) -> tuple[str, list[EvalQuestion]]:
    """The question set that applies to a table (from its provenance), and its questions."""
    kind = question_set_of(table.provenance)
    if kind == "world":
        return kind, world_questions(table.provenance.corpus["source"], n, seed)
    chunks = chunk_texts(table)
    quotes = quoted_lines(chunks, QUOTES if n is None else max(1, n // 2 if kind == "plays" else n), seed)
    return kind, quotes + (paraphrased() if kind == "plays" else [])


def chunk_texts(table) -> dict[int, str]:
    cols = table.columns(["id", "text"])
    return dict(zip(cols["id"].to_pylist(), cols["text"].to_pylist()))


# --- measuring --------------------------------------------------------------------------------------------

def searchers(table, others=(), exact: bool = True, params: SearchParams = SearchParams()) -> dict:
    """Method name -> question -> hit ids: the table's own embedder, BM25 and hybrid on it, and the vector
    search of each other table (another embedder of the same chunks)."""
    out = {}
    for t in (table, *others):
        out.setdefault(t.embedder.kind, lambda q, k, t=t: [h.id for h in t.search(q, k, exact=exact, params=params).hits])
    out["bm25"] = lambda q, k: keywords.keyword_search(table, q, k).ids
    out["hybrid"] = lambda q, k: keywords.hybrid_search(table, q, k, exact=exact, params=params).ids
    return out


def evaluate(table, questions: list[EvalQuestion], k: int = 5, others=(), question_set: str = "",
             exact: bool = True, params: SearchParams = SearchParams(), job=None) -> Report:
    """Each method's rank of each question's relevant chunk, its recall@k and MRR. Questions with no
    relevant chunk in the table are left out and counted. With a llmviz.jobs.Job: progress, and stop."""
    if k < 1:
        raise LearnerError(f"k must be at least 1 (it is {k}).")
    keywords.require_fts(table)
    chunks = chunk_texts(table)
    for other in others:
        if chunk_texts(other) != chunks:
            raise LearnerError(f"the table {other.name!r} does not hold the same chunks as {table.name!r}: their "
                               "methods cannot be compared on the same questions. Build both from one corpus and chunking.")
    asked, truth = [], []
    for q in questions:
        ids = relevant(chunks, q.evidence)
        if ids:
            asked.append(q)
            truth.append(ids)
    run = searchers(table, others, exact, params)
    scores = {m: MethodScore([], k) for m in run}
    if job is not None:
        job.total = len(asked)
    for i, (q, ids) in enumerate(zip(asked, truth)):
        if job is not None and job.should_stop():
            break
        for m, search in run.items():
            hits = search(q.text, k)
            scores[m].ranks.append(next((r for r, h in enumerate(hits, 1) if h in ids), None))
        if job is not None:
            job.advance(i + 1)
    done = len(scores["bm25"].ranks)
    return Report(question_set or question_set_of(table.provenance), k, asked[:done], scores,
                  skipped=len(questions) - len(asked))


def evaluate_job(table, k: int = 5, n: int | None = None, others=(), seed: int = 0):
    """A not-yet-started Job that measures every method on the table's question set; its result is the Report."""
    if k < 1:
        raise LearnerError(f"k must be at least 1 (it is {k}).")
    keywords.require_fts(table)
    kind, questions = questions_for(table, n, seed)
    return Job(lambda job: evaluate(table, questions, k, others, kind, job=job), total=1, name="retrieval-eval")
