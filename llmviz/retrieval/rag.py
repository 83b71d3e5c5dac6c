"""Retrieval-augmented generation, end to end (tutorial part 4): corpus -> chunks -> vectors -> a table;
question -> nearest chunks -> a prompt that carries them as context -> the model's answer.

Also what the Vector databases page draws: the words of a hit that match the question, and a 2-D map
(PCA) of every chunk with the question and its hits.

The models of Part 2 are base models: they continue a text, they do not answer it. Given retrieved
passages they continue in the passages' style and words, which is what retrieval changes; an instruct
model (Part 3) would answer. And a model reads only its last block_size tokens: whatever of the prompt
comes before is cut, so `model_view` says what the model really sees.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from llmviz.tasks import chat
from llmviz.text import corpora
from llmviz.retrieval import embedders
from llmviz.retrieval.chunking import ChunkConfig, check, chunk
from llmviz.retrieval.database import (VectorDBError, building, check_name, default_dir, list_tables, slug,
                                      writable_dir)
from llmviz.retrieval.provenance import Provenance, corpus_identity
from llmviz.retrieval.search import Hit
from llmviz.retrieval.vectordb import VectorTable
from llmviz.concepts.word2vec import _WORD
from llmviz.jobs import Job
from llmviz.tasks.instruct_data import passages_message

# {context} and {question} are filled in; the first is for a base model, which continues text; the second is
# how Part 3's instruct models learned to answer from passages (the user's turn of the passages task: the
# passages, a blank line between them, then the question; llmviz.tasks.instruct_data.passages_message), and
# an instruct model gets it as a user message in its chat format (llmviz.tasks.chat)
TEMPLATES = {
    "continue the text": "{context}\n\nQUESTION:\n{question}\n\nANSWER:\n",
    "context, then question (instruct models)": passages_message(["{context}"], "{question}"),
}
MAP_MAX_POINTS = 3000  # chunks drawn on the map (the hits always are)


# --- building a table from a corpus -------------------------------------------------------------------

def build(corpus: corpora.Corpus, chunk_cfg: ChunkConfig, embedder: "embedders.Embedder | embedders.LSAConfig",
          db_dir: str | Path | None = None, name: str | None = None, replace: bool = False,
          job=None, batch: int = 256) -> VectorTable | None:
    """Chunk a corpus, embed the chunks (fitting LSA on them first when given an LSAConfig) and store them
    in a new table. Chunks with no known word (a zero vector, never found) are left out and counted.
    With a llmviz.jobs.Job: reports progress, and stops on request (nothing written, None returned).
    While it builds it holds the table's lock (database.building): a second build of the same table, in any
    process, is refused at once, and without replace no build ever writes over a table that exists."""
    db_dir = writable_dir(db_dir or default_dir())
    kind = "lsa" if isinstance(embedder, embedders.LSAConfig) else embedder.kind
    name = check_name(name or slug(f"{corpus.name}-{kind}"))
    with building(db_dir, name):  # one build of a table at a time, across processes: the other is told
        return _build(corpus, chunk_cfg, embedder, db_dir, name, replace, job, batch)


def _refuse_existing(db_dir: Path, name: str) -> None:
    if name in list_tables(db_dir):
        existing = VectorTable.open(db_dir, name)
        raise VectorDBError(f"a table named {name!r} already exists ({existing.provenance.describe()}). Choose "
                            "another name, or replace it. It was left as it was.")


def _build(corpus, chunk_cfg, embedder, db_dir: Path, name: str, replace: bool, job, batch: int):
    t0 = time.perf_counter()
    if not replace:
        _refuse_existing(db_dir, name)
    chunks = chunk(corpus, chunk_cfg)
    texts = [c.text for c in chunks]
    if job is not None:
        job.total = len(chunks)
    if isinstance(embedder, embedders.LSAConfig):
        if job is not None:
            job.set(phase="fitting TF-IDF and the SVD")
        embedder = embedders.LSAEmbedder.fit(texts, embedder)
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for b in range(0, len(chunks), batch):
        if job is not None:
            if job.should_stop():
                return None
            job.set(phase="embedding")
        vectors[b:b + batch] = embedder.embed(texts[b:b + batch])
        if job is not None:
            job.advance(min(b + batch, len(chunks)))
    keep = np.flatnonzero(np.any(vectors != 0, axis=1))
    if len(keep) == 0:
        raise VectorDBError("no chunk has a word the embedder knows: every vector is zero. Use another embedder or text.")
    if job is not None:
        job.set(phase="writing the table")
    provenance = Provenance(corpus_identity(corpus), chunk_cfg.to_dict(), embedder.identity(), embedder.dim,
                            n_chunks=len(chunks), skipped=len(chunks) - len(keep),
                            build_seconds=round(time.perf_counter() - t0, 3),
                            built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not replace:
        _refuse_existing(db_dir, name)  # made meanwhile by something that does not take the lock
    return VectorTable.create(db_dir, name, [chunks[i] for i in keep], vectors[keep], embedder, provenance,
                              replace=True)


def build_job(corpus: corpora.Corpus, chunk_cfg: ChunkConfig, embedder, db_dir=None, name=None, replace=False):
    """A not-yet-started Job that builds a table; its result is the VectorTable (None if stopped). A language
    model embeds through its own copy: the learner may go on training the original meanwhile."""
    check(chunk_cfg, len(corpus.text.strip()))  # refuse bad settings before a thread starts
    if isinstance(embedder, embedders.LMEmbedder):
        embedder = embedders.LMEmbedder(copy.deepcopy(embedder.model), embedder.tokenizer, embedder.batch_windows)
    if name is not None:
        check_name(name)
    writable_dir(db_dir or default_dir())
    return Job(lambda job: build(corpus, chunk_cfg, embedder, db_dir, name, replace, job), total=1,
               name="vector-build")


# --- showing a hit ------------------------------------------------------------------------------------

def match_spans(text: str, words) -> list[tuple[int, int]]:
    """Where the given words (lower-cased, as the embedders read them) occur in a text."""
    wanted = {w.lower() for w in words}
    return [m.span() for m in _WORD.finditer(text) if m.group().lower() in wanted]


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def highlight_markdown(text: str, words) -> str:
    """The text as Markdown, its matching words in bold, line breaks kept, everything else escaped."""
    out, last = [], 0
    for s, e in match_spans(text, words):
        out += [_MD_SPECIAL.sub(r"\\\1", text[last:s]), "**", _MD_SPECIAL.sub(r"\\\1", text[s:e]), "**"]
        last = e
    out.append(_MD_SPECIAL.sub(r"\\\1", text[last:]))
    return "".join(out).replace("\n", "  \n")


# --- the map ------------------------------------------------------------------------------------------

@dataclass
class MapData:
    coords: np.ndarray  # (n, 2) the chunks drawn
    ids: list[int]
    sections: list[str]
    labels: list[str]  # a short text for hovering
    query: np.ndarray | None  # (2,) where the question lands
    hits: list[int]  # positions (in coords) of the hits, best first
    explained: np.ndarray  # share of the variance along each axis
    total: int  # rows in the table (more than drawn when it was sampled)


def map_points(table: VectorTable, query=None, hit_ids=(), max_points: int = MAP_MAX_POINTS, seed: int = 0) -> MapData:
    """PCA of the table's unit vectors (cosine geometry) to 2-D, the question projected the same way."""
    from sklearn.decomposition import PCA

    ids, vectors = table.vectors()
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    pca = PCA(n_components=2, random_state=seed).fit(unit)
    hit_ids = [int(i) for i in hit_ids]
    rows = np.arange(len(ids))
    if len(ids) > max_points:  # sample, but always keep the hits
        hit_rows = np.flatnonzero(np.isin(ids, hit_ids))
        rest = np.random.default_rng(seed).choice(np.setdiff1d(rows, hit_rows), max_points - len(hit_rows), replace=False)
        rows = np.sort(np.concatenate([hit_rows, rest]))
    cols = table.columns(["id", "text", "section"])
    by_id = {i: (t, s) for i, t, s in zip(cols["id"].to_pylist(), cols["text"].to_pylist(), cols["section"].to_pylist())}
    shown = [int(i) for i in ids[rows]]
    pos = {i: p for p, i in enumerate(shown)}
    q = None
    if query is not None and np.any(query):
        qv = np.asarray(query, dtype=np.float64)
        q = pca.transform((qv / np.linalg.norm(qv))[None, :])[0]
    return MapData(pca.transform(unit[rows]), shown, [by_id[i][1] for i in shown],
                   [_short(by_id[i][0]) for i in shown], q, [pos[i] for i in hit_ids if i in pos],
                   pca.explained_variance_ratio_, len(ids))


def _short(text: str, n: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[:n - 1] + "…"


# --- the prompt and the answers ------------------------------------------------------------------------

def context_of(hits: list[Hit]) -> str:
    return "\n\n".join(h.text.strip() for h in hits)


def build_prompt(question: str, hits: list[Hit], template: str = TEMPLATES["continue the text"]) -> str:
    """The template with the hits' texts as {context} and the question as {question}."""
    if not question.strip():
        raise VectorDBError("type a question first.")
    if "{question}" not in template:
        raise VectorDBError("the template must contain {question} (and {context} where the passages go).")
    return fill(template, context_of(hits), question.strip())


_SLOTS = re.compile(r"\{context\}|\{question\}")


def fill(template: str, context: str, question: str) -> str:
    """The template's {context} and {question} filled in one pass: a passage or a question that itself
    holds "{question}" or "{context}" stays as written."""
    values = {"{context}": context, "{question}": question}
    return _SLOTS.sub(lambda m: values[m.group()], template)


def user_text(prompt: str) -> str:
    """The prompt as an instruct model's user turn, written as the passages task was: its paragraphs one
    line each (runs of white space made single spaces), a blank line between them; the page, rag-eval and
    the LangChain chain all send this."""
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", prompt))
    return "\n\n".join(p for p in paragraphs if p)


def spellable(tokenizer, text: str) -> tuple[str, list[str]]:
    """The text without the characters a character tokenizer cannot spell, and those characters."""
    if getattr(tokenizer, "kind", "") != "char":
        return text, []
    known = tokenizer.stoi
    return "".join(c for c in text if c in known), sorted({c for c in text if c not in known})


def model_view(tokenizer, block_size: int, prompt: str) -> tuple[str, int]:
    """What a model with this context length actually reads of a prompt (its last block_size tokens),
    and how many tokens the whole prompt has."""
    text, _ = spellable(tokenizer, prompt)
    ids = tokenizer.encode(text)
    return tokenizer.decode(ids[-block_size:]), len(ids)


@dataclass
class Answers:
    prompt: str  # with the retrieved context
    plain_prompt: str  # the same question without retrieval
    with_context: str
    without_context: str
    seen: str  # what the model reads of the prompt with context (its last block_size tokens)
    prompt_tokens: int
    block_size: int
    dropped: list[str]  # characters the model's tokenizer cannot spell, left out of the prompts


def answer(model, tokenizer, question: str, hits: list[Hit], template: str = TEMPLATES["continue the text"],
           max_new_tokens: int = 200, temperature: float = 0.8, top_k: int | None = None, seed: int = 0) -> Answers:
    """The model's continuation of the prompt with the retrieved context and without it, same seed."""
    from llmviz.nn.generate import generate_until

    prompt = build_prompt(question, hits, template)
    plain = fill(template, "", question.strip()).lstrip()
    p1, d1 = spellable(tokenizer, prompt)
    p2, d2 = spellable(tokenizer, plain)
    if chat.has_chat_template(tokenizer):  # an instruct model: the prompt is the user's turn of a chat
        from llmviz.tasks import instruct

        turn = [chat.Message("user", user_text(p1))]
        ids, _ = chat.encode(tokenizer, turn, generation_prompt=True)
        bs = model.config.block_size
        return Answers(prompt, plain, instruct.reply(model, tokenizer, turn, max_new_tokens),
                       instruct.reply(model, tokenizer, [chat.Message("user", user_text(p2))], max_new_tokens),
                       chat.render(tokenizer, chat.fit_context(ids, bs)[1]), len(ids), bs, sorted(set(d1) | set(d2)))
    # a base model's continuation, ended at a special token should its tokenizer have one (never shown as text)
    kw = dict(stop_token_ids=chat.tag_ids(tokenizer), temperature=temperature, top_k=top_k, seed=seed)
    with_ctx = generate_until(model, tokenizer, tokenizer.encode(p1) or [0], max_new_tokens, **kw)
    without = generate_until(model, tokenizer, tokenizer.encode(p2) or [0], max_new_tokens, **kw)
    bs = model.config.block_size
    seen, n = model_view(tokenizer, bs, prompt)
    return Answers(prompt, plain, with_ctx, without, seen, n, bs, sorted(set(d1) | set(d2)))
