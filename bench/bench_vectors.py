"""Benchmark: the vector database (tutorial part 4, "vector databases").

1. Building a table from the 1 MB built-in Shakespeare corpus, per embedder: chunking, embedding and
   writing to LanceDB, once the libraries are imported (a small warm-up build first). LSA includes fitting
   TF-IDF and the SVD; word2vec's own training and the language
   model's are not part of a build and are timed apart: word2vec is trained here for --w2v-epochs, the
   language model is the LM5 preset, untrained, since embedding costs the same with any weights).
2. Exact search against an approximate index on a synthetic table of --rows vectors of --dim dimensions
   (llmviz.retrieval.synthetic, the page's own): median query latency and recall@10 of the index against
   the exact top 10, over --queries questions, as a curve: IVF-PQ at every nprobes of ann.probe_steps
   (1, 2, 4, ... all partitions) × refine factor (off, 5, 10), as the page's curve; HNSW at two nprobes.
   The vectors are a mixture of 50 Gaussian clusters (synthetic.CLUSTERS: each is cut across several
   partitions, so nprobes matters; real embeddings are clustered too, and uniform random vectors in 128-D
   have no near neighbours worth the name); the questions are new draws of the mixture, not rows.

    python bench/bench_vectors.py [--rows 200000] [--dim 128] [--queries 100] [--skip-corpus] [--json]

Targets (from the issue): LSA build <= 10 s; approximate recall@10 >= 0.95 at least 5x faster than exact.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.retrieval import ann, embedders, rag  # noqa: E402
from llmviz.text import corpora  # noqa: E402
from llmviz.retrieval.chunking import ChunkConfig  # noqa: E402
from llmviz.retrieval.vectordb import SearchParams  # noqa: E402


def corpus_builds(db: Path, w2v_epochs: int) -> list[dict]:
    import torch

    from llmviz.nn.model import LanguageModel
    from llmviz.training.presets import preset_config
    from llmviz.text.tokenizers import CharTokenizer
    from llmviz.concepts.word2vec import Word2VecConfig, train_word2vec, word_tokens

    corpus = corpora.shakespeare()
    cfg = ChunkConfig()
    rows = []

    def build(name, embedder, extra_s=0.0, note=""):
        t0 = time.perf_counter()
        table = rag.build(corpus, cfg, embedder, db, name, replace=True)
        s = time.perf_counter() - t0
        rows.append({"embedder": name, "build_s": round(s, 2), "rows": table.rows, "dim": table.dim,
                     "mb_on_disk": round(table.bytes_on_disk() / 1e6, 2), "training_s": round(extra_s, 1),
                     "note": note})
        print(f"  {name}: {s:.2f} s, {table.rows:,} rows", file=sys.stderr)

    print(f"{corpus.describe()}; chunks: {cfg}", file=sys.stderr)
    # warm up: imports (scikit-learn, LanceDB, pyarrow) are paid once per process, not per build
    rag.build(corpora.Corpus("warm-up", corpus.text[:50_000]), cfg, embedders.LSAConfig(dim=16), db, "warm-up")
    build("lsa", embedders.LSAConfig(dim=128), note="fits TF-IDF + SVD (128 components) on the chunks")
    t0 = time.perf_counter()
    w2v = train_word2vec(word_tokens(corpus.text), Word2VecConfig(epochs=w2v_epochs))
    build("word2vec", embedders.Word2VecEmbedder.from_result(w2v), time.perf_counter() - t0,
          f"dim 50, trained {w2v_epochs} epochs first (training_s)")
    tok = CharTokenizer().train(corpus.text)
    torch.manual_seed(0)
    model = LanguageModel(preset_config("lm5", tok.vocab_size))
    c = model.config
    build("lm", embedders.LMEmbedder(model, tok), 0.0,
          f"LM5 ({model.num_params():,} params, {c.n_layer} blocks, context {c.block_size}, "
          f"{torch.get_num_threads()} torch threads)")
    return rows


def search_bench(db: Path, n: int, dim: int, n_queries: int, refines=(None, 5, 10)) -> dict:
    t0 = time.perf_counter()
    table = ann.synthetic_table(db, n, dim, seed=0, name="synthetic")
    write_s = time.perf_counter() - t0
    queries = table.embedder.draw(n_queries, stream=1)  # new draws of the same mixture, not rows
    vectors = table.embedder.draw(n, stream=0)
    print(f"synthetic: {n:,} x {dim} written in {write_s:.1f} s", file=sys.stderr)

    def latency(fn):
        fn(queries[0])  # warm-up: the first search loads the index
        times, out = [], []
        for q in queries:
            t0 = time.perf_counter()
            out.append(fn(q))
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times), out

    exact_ms, exact = latency(lambda q: [h.id for h in table.search_vector(q, 10, exact=True)[0]])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    numpy_ms, brute = latency(lambda q: np.argsort(-(unit @ (q / np.linalg.norm(q))))[:10].tolist())
    agree = np.mean([ann.recall_at_k(e, b) for e, b in zip(exact, brute)])
    rows = [{"search": "exact (LanceDB flat scan)", "build_s": None, "ms": exact_ms, "recall@10": agree,
             "speedup": 1.0},
            {"search": "numpy brute force (float32 matmul, in memory; reference)", "build_s": None, "ms": numpy_ms,
             "recall@10": 1.0, "speedup": exact_ms / numpy_ms}]
    # the curve: IVF-PQ at every nprobes of ann.probe_steps x refine factor, as the page draws it
    cfg = ann.IndexConfig("ivf_pq")
    parts, subs = ann.check(cfg, table.rows, table.dim)
    build_s = ann.build_index(table, cfg)
    print(f"  ivf_pq: built in {build_s:.1f} s ({parts} partitions, {subs} sub-vectors)", file=sys.stderr)
    curve = ann.sweep(table, queries, 10, parts, refine=tuple(refines))
    curve = [{"nprobes": p.nprobes, "refine_factor": p.refine_factor, "recall@10": round(p.recall, 4),
              "ms": round(p.ms, 3), "exact_ms": round(p.exact_ms, 2)} for p in curve]
    cfg = ann.IndexConfig("hnsw")
    hparts, _ = ann.check(cfg, table.rows, table.dim)
    build_h = ann.build_index(table, cfg)
    print(f"  hnsw: built in {build_h:.1f} s ({hparts} partitions)", file=sys.stderr)
    for p in (SearchParams(ann.default_nprobes(hparts), None), SearchParams(20, None)):
        ms, found = latency(lambda q: [h.id for h in table.search_vector(q, 10, exact=False, params=p)[0]])
        recall = float(np.mean([ann.recall_at_k(f, e) for f, e in zip(found, exact)]))
        rows.append({"search": f"{ann.KINDS['hnsw']}: {hparts} partitions; nprobes {p.nprobes}", "build_s": round(build_h, 1),
                     "ms": ms, "recall@10": recall, "speedup": exact_ms / ms})
    return {"rows": n, "dim": dim, "queries": n_queries, "write_s": round(write_s, 1), "results": rows,
            "ivf_pq": {"partitions": parts, "sub_vectors": subs, "build_s": round(build_s, 1),
                       "default_nprobes": ann.default_nprobes(parts), "curve": curve}}


def print_curve(ivf: dict) -> None:
    refines = list(dict.fromkeys(p["refine_factor"] for p in ivf["curve"]))
    print(f"\nIVF-PQ, {ivf['partitions']} partitions, {ivf['sub_vectors']} sub-vectors (built in {ivf['build_s']} s; "
          f"the page's default nprobes: {ivf['default_nprobes']}). Recall@10 against exact · median ms per search:\n")
    print("| nprobes | " + " | ".join(f"refine {r}" if r else "no re-ranking" for r in refines) + " |")
    print("|---:|" + "---:|" * len(refines))
    for n in sorted({p["nprobes"] for p in ivf["curve"]}):
        cells = {p["refine_factor"]: p for p in ivf["curve"] if p["nprobes"] == n}
        print(f"| {n} | " + " | ".join(f"{cells[r]['recall@10']:.3f} · {cells[r]['ms']:.2f} ms" for r in refines) + " |")
    print(f"\nexact search (the sweep's own, one run per question): {ivf['curve'][0]['exact_ms']:.1f} ms median")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--w2v-epochs", type=int, default=2)
    ap.add_argument("--skip-corpus", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmviz-bench-vectors-") as tmp:
        builds = [] if args.skip_corpus else corpus_builds(Path(tmp), args.w2v_epochs)
        search = search_bench(Path(tmp), args.rows, args.dim, args.queries)
    if args.json:
        print(json.dumps({"builds": builds, "search": search}))
        return
    if builds:
        print("\n| embedder | build (s) | rows | dim | on disk (MB) | training before the build (s) | note |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for b in builds:
            print(f"| {b['embedder']} | {b['build_s']:.2f} | {b['rows']:,} | {b['dim']} | {b['mb_on_disk']} | "
                  f"{b['training_s'] or '–'} | {b['note']} |")
    print(f"\n{search['rows']:,} synthetic vectors of dimension {search['dim']} (written in {search['write_s']} s); "
          f"median over {search['queries']} new questions, k = 10\n")
    print("| search | index build (s) | median latency (ms) | recall@10 vs exact | speed-up vs exact |")
    print("|---|---:|---:|---:|---:|")
    for r in search["results"]:
        print(f"| {r['search']} | {r['build_s'] if r['build_s'] is not None else '–'} | {r['ms']:.2f} | "
              f"{r['recall@10']:.3f} | {r['speedup']:.1f}x |")
    print_curve(search["ivf_pq"])


if __name__ == "__main__":
    main()
