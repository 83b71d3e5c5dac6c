"""Benchmark: retrieval accuracy per method (tutorial part 4, which retrieval finds what).

Two question sets with known answer chunks (llmviz.retrieval.evaluate), each on its own table built as the
page builds it (packed paragraphs of 600 characters, 100 of overlap):
- the world: a generated world (--world-seed, --people), --n of its questions drawn (each about one
  person's passage: where they live, their trade, their pet, their best friend);
- the plays: the built-in Shakespeare (the default 1 MB of plays): quoted lines, and the questions in
  other words of llmviz.retrieval.play_questions.
Methods: vector search with LSA (128 dimensions) and with word2vec (trained --w2v-epochs on the same text),
BM25 (LanceDB's full-text index) and hybrid (vector LSA + BM25, reciprocal-rank fusion). Printed: recall@k
and MRR per method and set, and the page's sentence on where each wins.

    python bench/bench_retrieval.py [--k 5] [--n 300] [--world-seed 0] [--people 200] [--w2v-epochs 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.concepts.word2vec import Word2VecConfig, train_word2vec, word_tokens  # noqa: E402
from llmviz.retrieval import compare, embedders, evaluate, rag  # noqa: E402
from llmviz.retrieval.chunking import ChunkConfig  # noqa: E402
from llmviz.text import corpora  # noqa: E402


def measure(db: Path, corpus: corpora.Corpus, k: int, n: int | None, w2v_epochs: int) -> dict:
    cfg = ChunkConfig()
    t0 = time.perf_counter()
    lsa = rag.build(corpus, cfg, embedders.LSAConfig(dim=128), db, "lsa", replace=True)
    w2v = train_word2vec(word_tokens(corpus.text), Word2VecConfig(epochs=w2v_epochs))
    vec = rag.build(corpus, cfg, embedders.Word2VecEmbedder.from_result(w2v), db, "word2vec", replace=True)
    built = time.perf_counter() - t0
    kind, questions = evaluate.questions_for(lsa, n, seed=0)
    t0 = time.perf_counter()
    report = evaluate.evaluate(lsa, questions, k, others=[vec], question_set=kind)
    by_kind = {}
    for i, q in enumerate(report.questions):
        by_kind.setdefault(q.kind, []).append(i)
    kinds = {}
    for kind_name, idx in by_kind.items():  # recall@k per kind of question, from the same ranks
        kinds[kind_name] = {m: round(sum(s.ranks[i] is not None for i in idx) / len(idx), 4)
                            for m, s in report.methods.items()} | {"n": len(idx)}
    return {"corpus": corpus.describe(), "chunks": lsa.rows, "build_s": round(built, 1),
            "eval_s": round(time.perf_counter() - t0, 1), **report.to_dict(), "by_kind": kinds,
            "reading": compare.report_reading(report)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--n", type=int, default=300, help="world questions drawn (the plays: n // 2 quoted lines)")
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--w2v-epochs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sets = {"world": corpora.get_corpus(f"world:{args.world_seed}:{args.people}"), "plays": corpora.shakespeare()}
    out = {}
    with tempfile.TemporaryDirectory(prefix="llmviz-bench-retrieval-") as tmp:
        for name, corpus in sets.items():
            print(f"{name}: {corpus.describe()}", file=sys.stderr)
            out[name] = measure(Path(tmp) / name, corpus, args.k, args.n, args.w2v_epochs)
    if args.json:
        print(json.dumps(out))
        return
    for name, r in out.items():
        print(f"\n{name}: {r['corpus']}; {r['chunks']:,} chunks; {r['n']} questions ({r['skipped']} without an "
              f"answer chunk left out); k = {r['k']}; tables built in {r['build_s']} s, measured in {r['eval_s']} s\n")
        print(f"| method | recall@{r['k']} | MRR | " + " | ".join(f"recall@{r['k']}: {kind} ({v['n']})"
                                                         for kind, v in r["by_kind"].items()) + " |")
        print("|---|---:|---:|" + "---:|" * len(r["by_kind"]))
        for m, s in r["methods"].items():
            print(f"| {compare.method_name(m)} | {s['recall_at_k']:.3f} | {s['mrr']:.3f} | "
                  + " | ".join(f"{v[m]:.3f}" for v in r["by_kind"].values()) + " |")
        print("\n" + r["reading"])


if __name__ == "__main__":
    main()
