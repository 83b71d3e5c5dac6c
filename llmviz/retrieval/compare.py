"""The three searches side by side, read in words (tutorial part 4: which retrieval finds what).

One question: vector search, BM25 and hybrid each return a ranked list (llmviz.retrieval.keywords). When
the question comes from the table's question set, the chunk that answers it is known, and each list's rank
of it says which method won; otherwise the lists are compared with each other (what they share, which of
the question's weighty words their first hit holds).

A whole question set (llmviz.retrieval.evaluate.Report): for each pair of methods, the questions one ranks
the answer higher than the other, counted by the kind of question (quoted lines and names reward keywords,
paraphrases reward vectors): the sentence the page writes under its recall@k / MRR table.

Which words of a hit are shown in bold: those of the question that carry weight (no stop word), in the
hit as written or as a plural ("horse" matches "horses"), and for vector search only those its embedder knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmviz.retrieval import evaluate, keywords, rag
from llmviz.retrieval.search import SearchParams
from llmviz.wording import plural

_WORD = re.compile(r"[^\W_]+(?:'[^\W\d_]+)*")

NAMES = {"vector": "vector search", "bm25": "BM25", "hybrid": "hybrid"}
EMBEDDER_NAMES = {"lsa": "LSA", "word2vec": "word2vec", "lm": "the language model's"}
KIND_NAMES = {"quote": ("quoted line", None), "paraphrase": ("question in other words", "questions in other words")}
KIND_NAMES.update({r: (f"question about a {r}", f"questions about a {r}") for r in ("home", "trade", "pet", "friend")})


def method_name(method: str) -> str:
    """A method's name in a sentence: one of the three searches, or an embedder's vector search."""
    return NAMES.get(method) or f"{EMBEDDER_NAMES.get(method, method)} vectors"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def forms(word: str) -> set[str]:
    """A word and its plural or singular as English writes them: horse/horses, glass/glasses, lady/ladies."""
    w = word.lower()
    out = {w, w + "s", w + "es"}
    if w.endswith("y") and len(w) > 2:
        out.add(w[:-1] + "ies")
    if w.endswith("ies") and len(w) > 4:
        out.add(w[:-3] + "y")
    if w.endswith("es") and len(w) > 3:
        out.add(w[:-2])
    if w.endswith("s") and not w.endswith("ss") and len(w) > 2:
        out.add(w[:-1])
    return out


def bold_words(question: str, method: str, known=()) -> list[str]:
    """The question's words that carry weight (stop words left out); for vector search only those the
    embedder knows (`known`: SearchResult.known), since it ignored the others."""
    words = keywords.content_words(keywords.words_of(question))
    if method == "vector":
        knows = {w.lower() for w in known}
        words = [w for w in words if w in knows]
    return words


def match_spans(text: str, words) -> list[tuple[int, int]]:
    """Where the given words occur in a text, as written or as a plural of each other, whole words only."""
    wanted = {f for w in words for f in forms(w)}
    return [m.span() for m in _WORD.finditer(text) if m.group().lower() in wanted]


def words_in(text: str, words) -> list[str]:
    """Which of the words occur in the text (as match_spans finds them), in the words' order."""
    found = {text[s:e].lower() for s, e in match_spans(text, words)}
    return [w for w in words if forms(w) & found]


def bold_markdown(text: str, words) -> str:
    """The text as Markdown (llmviz.retrieval.rag.highlight_markdown), the words and their plurals in bold."""
    return rag.highlight_markdown(text, {f for w in words for f in forms(w)})


# --- one question --------------------------------------------------------------------------------------

def first_relevant(ranked, relevant: set[int]) -> int | None:
    """The rank (from 1) of the first hit that answers the question, None if none does."""
    return next((r for r, h in enumerate(ranked.hits, 1) if h.id in relevant), None)


def _rank_words(method: str, rank: int | None, k: int) -> str:
    return f"{ordinal(rank)} for {NAMES[method]}" if rank else f"not in {NAMES[method]}'s top {k}"


def reading(ways: dict, question: str, k: int, relevant: set[int] | None = None) -> str:
    """A sentence on this question's three lists: which method ranks the answer highest when it is known,
    else what the lists share and which weighty words each first hit holds."""
    if relevant:
        ranks = {m: first_relevant(r, relevant) for m, r in ways.items()}
        said = ", ".join(_rank_words(m, ranks[m], k) for m in ways)
        found = [m for m, r in ranks.items() if r]
        if not found:
            return f"The chunk that answers it is {said}: every method missed it."
        best = min(ranks[m] for m in found)
        winners = [m for m in found if ranks[m] == best]
        if len(winners) == len(ways):
            return f"The chunk that answers it is {said}: all three methods agree."
        who = " and ".join(NAMES[m] for m in winners)
        return f"The chunk that answers it is {said}: {who} {'wins' if len(winners) == 1 else 'win'} on this question."
    lists = {m: r.ids for m, r in ways.items() if r.hits}
    if len(lists) < 2:
        return ""
    weighty = keywords.content_words(keywords.words_of(question))
    parts = []
    if "vector" in lists and "bm25" in lists:
        shared = len(set(lists["vector"]) & set(lists["bm25"]))
        parts.append(f"vector search and BM25 share {shared} of their {plural(max(map(len, lists.values())), 'hit')}")
    for m, r in ways.items():
        if r.hits and weighty:
            held = words_in(r.hits[0].text, weighty)
            parts.append(f"{NAMES[m]}'s first hit holds " + (", ".join(held) if held else "none of the weighty words"))
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ". With no known answer, which is right is yours to judge: pick a question "
            "from the table's set to see it measured.") if text else ""


# --- a whole question set --------------------------------------------------------------------------------

def _kinds(questions, idx: list[int]) -> str:
    counts: dict[str, int] = {}
    for i in idx:
        counts[questions[i].kind] = counts.get(questions[i].kind, 0) + 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(plural(n, *KIND_NAMES.get(kind, (kind, None))) for kind, n in top)


@dataclass(frozen=True)
class Duel:
    better: str
    worse: str
    questions: list[int]  # where `better` ranks the answer strictly higher


def duels(report) -> list[Duel]:
    """For each pair of methods, each way round: the questions one ranks the answer higher than the other."""
    methods = list(report.methods)
    return [Duel(a, b, report.wins(a, b)) for a in methods for b in methods if a != b]


def report_reading(report) -> str:
    """Where each method wins over the question set: the best at recall@k and MRR, and for keywords against
    each vector method, how many questions each ranks higher and of which kind."""
    if not report.questions:
        return "No question was asked: none of the set's answers is in this table's chunks."
    m = report.methods

    def best(measure) -> str:
        top = max(measure(x) for x in m)
        return " and ".join(method_name(x) for x in m if measure(x) == top)

    recall, mrr = best(lambda x: round(m[x].recall_at_k, 4)), best(lambda x: round(m[x].mrr, 4))
    top_recall = max(s.recall_at_k for s in m.values())
    top_mrr = max(s.mrr for s in m.values())
    out = [f"Over {plural(report.n, 'question')}, {recall} {'finds' if ' and ' not in recall else 'find'} the answer "
           f"in the top {report.k} most often ({top_recall:.0%}), and {mrr} "
           f"{'ranks' if ' and ' not in mrr else 'rank'} it highest on average (MRR {top_mrr:.2f})."]
    for vec in (x for x in m if x not in ("bm25", "hybrid")):
        kw, vw = report.wins("bm25", vec), report.wins(vec, "bm25")
        name = method_name(vec)
        text = f"BM25 ranks the answer higher than {name} on {plural(len(kw), 'question')}"
        text += f" ({_kinds(report.questions, kw)})" if kw else ""
        text += f", {name} higher than BM25 on {len(vw)}" + (f" ({_kinds(report.questions, vw)})" if vw else "")
        out.append(text + ".")
    return " ".join(out)


def report_rows(report) -> dict[str, list]:
    """The recall@k / MRR table of a Report, one row per method, for st.dataframe."""
    m = report.methods
    return {"method": [method_name(x) for x in m], f"recall@{report.k}": [round(s.recall_at_k, 3) for s in m.values()],
            "MRR": [round(s.mrr, 3) for s in m.values()],
            "answer first": [sum(r == 1 for r in s.ranks) for s in m.values()]}


# --- one question asked the three ways ------------------------------------------------------------------------

def ask(table, question: str, k: int = 5, where: str | None = None, exact: bool = True,
        params: SearchParams = SearchParams(), evidence: str = "") -> tuple[dict, set[int] | None, str]:
    """The three hit lists for one question, the chunks that answer it (when its evidence is known) and the
    sentence that reads them."""
    ways = keywords.three_ways(table, question, k, where, exact, params)
    relevant = evaluate.relevant(evaluate.chunk_texts(table), evidence) if evidence else None
    return ways, relevant, reading(ways, question, k, relevant)
