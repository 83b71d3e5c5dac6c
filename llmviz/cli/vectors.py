"""`python -m llmviz index` and `search`: the vector database from the command line.

    python -m llmviz index --corpus shakespeare --embedder lsa --json
    python -m llmviz index --corpus play.txt --embedder lm --checkpoint lm5.safetensors --db ./vectors --json
    python -m llmviz search --query "the ghost of my father" --k 5 --where "section = 'Hamlet'" --check --json

The embedders: `lsa` is fitted on the chunks; `word2vec` trains a quick word2vec on the corpus first
(--w2v-epochs, --dim); `lm` embeds with a trained language model, which it does not train: give it a
checkpoint (`python -m llmviz train ... --out lm5.safetensors`). Each table keeps its embedder, so
`search` embeds the question the same way in a later process.

Two builds of one table at once: the first holds the table's lock and the second is told at once (and
without --replace no build writes over a table that exists). A build stopped by Ctrl-C leaves the table
as it was (LanceDB commits a table whole, or not at all). Bad numbers, names and filters, a filter that
fails on the rows and damaged table files are all refused in words.
"""

from __future__ import annotations

import json
import sys

from llmviz.concepts.word2vec import Word2VecConfig, train_word2vec, word_tokens
from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.cli.failure import Unfinished
from llmviz.retrieval import ann, database, embedders, rag, vectordb
from llmviz.retrieval.chunking import ChunkConfig
from llmviz.retrieval.vectordb import SearchParams
from llmviz.text.corpora import get_corpus


def add_index(sub) -> None:
    ix = sub.add_parser("index", help="chunk a corpus, embed the chunks and store them in a vector table")
    ix.add_argument("--corpus", default="shakespeare",
                    help="shakespeare, python-docs, tiny-shakespeare, or the path of a UTF-8 text file")
    ix.add_argument("--embedder", choices=["lsa", "word2vec", "lm"], default="lsa")
    ix.add_argument("--db", help="database folder (default: ~/.cache/llmviz/vectors)")
    ix.add_argument("--table", help="table name (default: from the corpus and the embedder)")
    ix.add_argument("--by", choices=["speech", "paragraphs"], default="paragraphs",
                    help="one speech (block between blank lines) per chunk, or blocks packed up to --size")
    ix.add_argument("--size", type=int, default=600, help="the most characters in a chunk")
    ix.add_argument("--overlap", type=int, default=100, help="characters shared by the windows of a long block")
    ix.add_argument("--dim", type=int, default=None, help="vector length: LSA components (128) or word2vec width (50)")
    ix.add_argument("--checkpoint", help="lm: the language model to embed with (.safetensors)")
    ix.add_argument("--w2v-epochs", type=int, default=2, help="word2vec: passes over the corpus")
    ix.add_argument("--index", choices=["none", "ivf_pq", "hnsw"], default="none",
                    help="also build an approximate index (needs at least 256 chunks)")
    ix.add_argument("--replace", action="store_true", help="replace a table of the same name")
    ix.add_argument("--json", action="store_true", help="print one JSON line with the table's figures")
    ix.set_defaults(func=cmd_index)


def add_search(sub) -> None:
    se = sub.add_parser("search", help="the chunks of a vector table nearest to a question")
    se.add_argument("--db", help="database folder (default: ~/.cache/llmviz/vectors)")
    se.add_argument("--table", help="table name (may be left out when the folder has one table)")
    se.add_argument("--query", required=True)
    se.add_argument("--k", type=int, default=10)
    se.add_argument("--where", help="a filter on section / speaker, e.g. \"speaker = 'HAMLET'\"")
    se.add_argument("--exact", action="store_true", help="compare with every row even when there is an index")
    se.add_argument("--nprobes", type=int, default=20, help="index: partitions searched")
    se.add_argument("--refine-factor", type=int, default=10, help="index: re-rank k x this candidates exactly (0: off)")
    se.add_argument("--check", action="store_true", help="also run the exact search: recall@k and both latencies")
    se.add_argument("--json", action="store_true", help="print one JSON line")
    se.set_defaults(func=cmd_search)


MAX_DIM = 2048  # the longest vector an index command makes (word2vec's memory and time grow with it)


def _at_least(value, least: int, flag: str, meaning: str) -> None:
    if value is not None and value < least:
        raise vectordb.VectorDBError(f"{flag} must be at least {least} ({meaning}); it is {value}.")


def _check_index_args(args) -> None:
    _at_least(args.dim, 1, "--dim", "the length of every vector")
    if args.dim is not None and args.dim > MAX_DIM:
        raise vectordb.VectorDBError(f"--dim {args.dim:,} is more than this command makes ({MAX_DIM:,}): a vector that "
                                     "long costs memory and time in every row and every search. Try 128.")
    _at_least(args.w2v_epochs, 1, "--w2v-epochs", "passes over the corpus")
    if args.table is not None:
        database.check_name(args.table)


def _embedder(args, corpus):
    if args.embedder == "lsa":
        return embedders.LSAConfig(dim=args.dim or 128)
    if args.embedder == "word2vec":
        print(f"training word2vec on {corpus.name} ({args.w2v_epochs} epochs)…", file=sys.stderr)
        result = train_word2vec(word_tokens(corpus.text), Word2VecConfig(dim=args.dim or 50, epochs=args.w2v_epochs))
        return embedders.Word2VecEmbedder.from_result(result)
    if not args.checkpoint:
        raise LearnerError("the lm embedder reads a trained language model: give --checkpoint FILE (make one with "
                           "`python -m llmviz train --preset lm5 --out lm5.safetensors`).")
    ck = checkpoint.load(args.checkpoint)
    return embedders.LMEmbedder(ck.model, ck.tokenizer)


def cmd_index(args) -> int:
    _check_index_args(args)
    corpus = get_corpus(args.corpus)
    db = vectordb.writable_dir(args.db or vectordb.default_dir())
    name = args.table or vectordb.slug(f"{corpus.name}-{args.embedder}")
    try:
        return _index(args, corpus, db, name)
    except KeyboardInterrupt:
        raise Unfinished(f"stopped (Ctrl-C) before the table {name!r} was written: "
                         + ("it is as it was before." if name in vectordb.list_tables(db) else "there is no such table.")
                         + " LanceDB writes a table whole or not at all; run the command again to build it.") from None


def _index(args, corpus, db, name) -> int:
    if name in vectordb.list_tables(db) and not args.replace:
        have = vectordb.VectorTable.open(db, name).provenance
        if have.embedder["kind"] != args.embedder:
            raise vectordb.VectorDBError(
                f"the table {name!r} holds {have.embedder['kind']} vectors ({have.dim} dimensions); it cannot take "
                f"{args.embedder} vectors. Use another --table, or --replace it. It was left as it was.")
    embedder = _embedder(args, corpus)
    table = rag.build(corpus, ChunkConfig(args.by, args.size, args.overlap), embedder, db, name, args.replace)
    index_seconds = None
    if args.index != "none":
        index_seconds = ann.build_index(table, ann.IndexConfig(kind=args.index))
    stats = table.stats()
    out = {**stats, "db": str(db), "embedder_description": table.embedder.describe(),
           "index_seconds": round(index_seconds, 3) if index_seconds is not None else None}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"table {table.name} in {db}: {stats['rows']:,} chunks of {stats['dimensions']} dimensions, "
              f"{stats['bytes_on_disk'] / 1e6:.1f} MB, built in {stats['build_seconds']:.1f} s\n"
              f"{table.provenance.describe()}")
    return 0


def _open(args):
    db = args.db or vectordb.default_dir()
    name = args.table
    if not name:
        tables = vectordb.list_tables(db)
        if len(tables) != 1:
            raise vectordb.VectorDBError(f"{db} has {len(tables)} tables ({', '.join(tables) or 'none'}): choose one "
                                         "with --table." if tables else f"{db} has no table yet: run `index` first.")
        name = tables[0]
    return vectordb.VectorTable.open(db, name)


def cmd_search(args) -> int:
    _at_least(args.k, 1, "--k", "the number of chunks returned")
    _at_least(args.nprobes, 1, "--nprobes", "the index's partitions searched")
    _at_least(args.refine_factor, 0, "--refine-factor", "0 turns re-ranking off, n re-ranks k x n candidates")
    database.check_filter(args.where)
    if args.table is not None:
        database.check_name(args.table)
    try:
        return _search(args)
    except KeyboardInterrupt:
        raise Unfinished("stopped (Ctrl-C): a search only reads, so nothing was changed.") from None


def _check(args, table, result, params) -> dict:
    if table.index_info() is None:
        return {"note": "the table has no approximate index: every search is exact (recall 1.0)"}
    c = ann.compare(table, result.vector, len(result.hits) or args.k, args.where, params)
    return {"recall": c.recall, "k": c.k, "exact_ms": round(c.exact_ms, 3), "index_ms": round(c.index_ms, 3),
            "speedup": round(c.speedup, 2), "exact_ids": c.exact_ids, "index_ids": c.index_ids}


def _search(args) -> int:
    table = _open(args)
    params = SearchParams(nprobes=args.nprobes, refine_factor=args.refine_factor or None)
    with database.reading(table.name, args.where):  # a filter failing on the rows, damaged files: in words
        exact = args.exact or table.index_info() is None
        result = table.search(args.query, args.k, args.where, exact, params)
        check = _check(args, table, result, params) if args.check and result.vector is not None else None
    hits = [{"id": h.id, "score": round(h.score, 6), "section": h.section, "speaker": h.speaker, "text": h.text}
            for h in result.hits]
    if args.json:
        print(json.dumps({"table": table.name, "query": args.query, "k": args.k, "exact": result.exact,
                          "ms": round(result.ms, 3), "hits": hits, "note": result.note, "check": check}))
        return 0
    if result.note:
        print(result.note, file=sys.stderr)
    for h in hits:
        where = " · ".join(x for x in (h["section"], h["speaker"]) if x)
        print(f"[{h['id']}] {h['score']:.3f}  {where}\n    " + " ".join(h["text"].split())[:200])
    if check:
        print(json.dumps(check), file=sys.stderr)
    return 0

