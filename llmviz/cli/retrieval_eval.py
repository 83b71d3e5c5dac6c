"""`python -m llmviz search-eval` and `rag-eval`: retrieval and RAG measured on questions with known answers.

    python -m llmviz index --corpus world --db ./vectors --json
    python -m llmviz search-eval --db ./vectors --table a-generated-world-seed-0-200-people-lsa --k 5 --json
    python -m llmviz rag-eval --checkpoint chat.safetensors --db ./vectors --k 3 --json

search-eval asks the table's question set (a world's questions, or quoted lines and paraphrased questions
for the plays: llmviz.retrieval.evaluate) by every method the folder offers on the same chunks: the
embedder of each table built from them (lsa, word2vec, lm), BM25 and hybrid; it prints recall@k and MRR
per method. rag-eval asks a chat model the world's questions with the passages retrieved and without.
"""

from __future__ import annotations

import json
import sys

from llmviz.io import checkpoint
from llmviz.retrieval import database, evaluate, keywords, rag_eval, vectordb
from llmviz.retrieval.search import SearchParams


def add_search_eval(sub) -> None:
    se = sub.add_parser("search-eval", help="recall@k and MRR of each search method on questions with known answers")
    se.add_argument("--db", help="database folder (default: ~/.cache/llmviz/vectors)")
    se.add_argument("--table", help="the table whose chunks are searched (may be left out when the folder has one)")
    se.add_argument("--k", type=int, default=5, help="hits looked at per question")
    se.add_argument("--n", type=int, default=200, help="questions drawn from the question set")
    se.add_argument("--seed", type=int, default=0, help="which questions are drawn")
    se.add_argument("--index", action="store_true", help="vector searches through the approximate index")
    se.add_argument("--nprobes", type=int, default=20, help="index: partitions searched")
    se.add_argument("--refine-factor", type=int, default=10, help="index: re-rank k x this candidates (0: off)")
    se.add_argument("--json", action="store_true", help="print one JSON line")
    se.set_defaults(func=cmd_search_eval)


def add_rag_eval(sub) -> None:
    re_ = sub.add_parser("rag-eval", help="a chat model's accuracy on a world's questions, with and without retrieval")
    re_.add_argument("--checkpoint", required=True, help="the model that answers (an instruct checkpoint)")
    re_.add_argument("--db", help="database folder (default: ~/.cache/llmviz/vectors)")
    re_.add_argument("--table", help="a table built from a world (may be left out when the folder has one)")
    re_.add_argument("--k", type=int, default=3, help="passages retrieved per question")
    re_.add_argument("--n", type=int, default=50, help="questions asked")
    re_.add_argument("--seed", type=int, default=1, help="which questions are drawn")
    re_.add_argument("--method", choices=rag_eval.METHODS, default="hybrid", help="how passages are retrieved")
    re_.add_argument("--max-new-tokens", type=int, default=40, help="the longest answer")
    re_.add_argument("--json", action="store_true", help="print one JSON line")
    re_.set_defaults(func=cmd_rag_eval)


def open_table(db_arg: str | None, name: str | None, what: str = "") -> vectordb.VectorTable:
    db = db_arg or database.default_dir()
    if not name:
        tables = database.list_tables(db)
        if len(tables) != 1:
            raise vectordb.VectorDBError(f"{db} has {len(tables)} tables ({', '.join(tables)}): choose one with "
                                         f"--table{what}." if tables else f"{db} has no table yet: run `index` first.")
        name = tables[0]
    return vectordb.VectorTable.open(db, name)


def same_chunks(table: vectordb.VectorTable) -> list[vectordb.VectorTable]:
    """The other tables of the folder built from the same corpus with the same chunking (other embedders)."""
    out, seen = [], {table.embedder.kind}
    for name, prov in vectordb.describe_tables(table.db_dir).items():
        if (name != table.name and prov is not None and prov.corpus.get("sha256") == table.provenance.corpus.get("sha256")
                and prov.chunking == table.provenance.chunking and prov.embedder["kind"] not in seen):
            other = vectordb.VectorTable.open(table.db_dir, name)
            if other.rows == table.rows:
                out.append(other)
                seen.add(prov.embedder["kind"])
    return out


def ensure_full_text(table: vectordb.VectorTable) -> None:
    if keywords.fts_info(table) is None:
        print(f"the table {table.name} has no full-text (BM25) index yet: building it…", file=sys.stderr)
        keywords.build_fts(table)


def cmd_search_eval(args) -> int:
    table = open_table(args.db, args.table)
    ensure_full_text(table)
    kind, questions = evaluate.questions_for(table, args.n, args.seed)
    params = SearchParams(nprobes=args.nprobes, refine_factor=args.refine_factor or None)
    exact = not args.index or table.index_info() is None
    report = evaluate.evaluate(table, questions, args.k, same_chunks(table), kind, exact, params)
    out = {**report.to_dict(), "table": table.name, "exact": exact}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{table.name}: {report.n} {kind} questions ({report.skipped} without an answer chunk in the table), k = {args.k}")
    for m, s in report.methods.items():
        print(f"  {m:8s} recall@{args.k} {s.recall_at_k:.3f}   MRR {s.mrr:.3f}")
    return 0


def cmd_rag_eval(args) -> int:
    table = open_table(args.db, args.table, " (one built from --corpus world)")
    ensure_full_text(table)
    ck = checkpoint.load(args.checkpoint)
    report = rag_eval.rag_eval(ck.model, ck.tokenizer, table, args.k, args.n, args.method, args.seed,
                               args.max_new_tokens)
    out = {**report.to_dict(), "table": table.name}
    if args.json:
        print(json.dumps(out))
        return 0
    for c in report.cases[:5]:
        print(f"{c.question}  [{c.answer}]\n  with: {c.with_context.strip()[:80]!r} "
              f"({'right' if c.right_with else 'wrong'})\n  without: {c.without_context.strip()[:80]!r} "
              f"({'right' if c.right_without else 'wrong'})")
    print(f"{report.n} questions, k = {report.k} by {report.method}: recall@k {report.recall_at_k:.2f}, accuracy "
          f"with retrieval {report.accuracy_with_retrieval:.2f}, without {report.accuracy_without_retrieval:.2f}")
    return 0
