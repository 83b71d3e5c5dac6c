"""Benchmark: how fast is llmviz's BPE trainer? (tutorial part 1, "tokenization by BPE")

Measured in one process on the same text, at the same vocabulary size:
- llmviz's trainer (incremental pair counts over unique chunks),
- Hugging Face `tokenizers` (Rust), configured as the byte-level BPE our tests compare against,
- a straightforward trainer that recounts every pair of every chunk after each merge (minbpe's
  approach), run for a few merges and extrapolated per merge,
- the same recounting trainer over unique chunks with their frequencies, to show how much of the
  gain comes from de-duplicating chunks and how much from counting incrementally;
then encoding throughput (characters per second) for ours and theirs.

    python bench/bench_bpe.py [--text PATH] [--vocab-size 512] [--repeats 3] [--baseline-merges 3]

Targets (from the issue): ours within 3x of Hugging Face's time; at least 50x faster per merge than
the recounting baseline. Timings are wall-clock and noisy on a shared machine: take the best of a
few repeats, and compare ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmviz.text.bpe import BPETokenizer, gpt2_byte_to_unicode, merge_pair  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def best_time(fn, repeats: int):
    """(best wall time in seconds, the last result) over `repeats` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def hf_tokenizer(text: str, vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def recount_baseline(text: str, n_merges: int, unique: bool) -> tuple[float, list[tuple[int, int]]]:
    """Recount all pairs after every merge (ties: first seen, as minbpe does). With unique=True the
    chunks are de-duplicated first and weighted by frequency; otherwise every occurrence is kept.
    Returns the time of the merge loop alone (the split is not charged to it) and the merges."""
    chunks = BPETokenizer().split(text)
    if unique:
        counted = Counter(chunks)
        words, freqs = [list(c.encode("utf-8")) for c in counted], list(counted.values())
    else:
        words, freqs = [list(c.encode("utf-8")) for c in chunks], [1] * len(chunks)
    merges = []
    t0 = time.perf_counter()
    for k in range(n_merges):
        counts: dict[tuple[int, int], int] = {}
        for w, f in zip(words, freqs):
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + f
        pair = max(counts, key=counts.get)
        words = [merge_pair(w, pair, 256 + k) for w in words]
        merges.append(pair)
    return time.perf_counter() - t0, merges


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="a UTF-8 text file (default: Tiny Shakespeare)")
    ap.add_argument("--vocab-size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-merges", type=int, default=3, help="merges to time the recounting baselines on")
    args = ap.parse_args()
    if not args.text.is_file():
        sys.exit(f"no text at {args.text}: pass --text PATH")
    text = args.text.read_text(encoding="utf-8")
    n_merges = args.vocab_size - 256
    print(f"text: {args.text.name}, {len(text):,} characters; vocab size {args.vocab_size} ({n_merges} merges); "
          f"best of {args.repeats}")

    # --- training ---
    t_ours, ours = best_time(lambda: BPETokenizer().train(text, args.vocab_size), args.repeats)
    t_hf, hf = best_time(lambda: hf_tokenizer(text, args.vocab_size), args.repeats)
    t_split, _ = best_time(lambda: Counter(BPETokenizer().split(text)), args.repeats)
    k = args.baseline_merges
    t_base, base_merges = recount_baseline(text, k, unique=False)
    t_base_u, _ = recount_baseline(text, k, unique=True)

    to_byte = {c: b for b, c in gpt2_byte_to_unicode().items()}
    hf_merges = [m.split(" ") if isinstance(m, str) else m for m in json.loads(hf.to_str())["model"]["merges"]]
    hf_merges = [(bytes(to_byte[c] for c in a), bytes(to_byte[c] for c in b)) for a, b in hf_merges]
    same = [(ours.vocab[a], ours.vocab[b]) for (a, b), *_ in ours.merges] == hf_merges
    base_same = base_merges == [m.pair for m in ours.merges[:k]]

    # ours per merge includes its split and first count; the baselines' does not: a conservative ratio
    per_ours = t_ours / max(1, len(ours.merges))
    per_base, per_base_u = t_base / k, t_base_u / k
    rows = [
        ("llmviz (incremental, unique chunks)", t_ours, per_ours, "1.00"),
        ("  of which: regex split + chunk count", t_split, None, f"{t_split / t_ours:.2f}"),
        ("Hugging Face tokenizers (Rust)", t_hf, t_hf / max(1, n_merges), f"{t_hf / t_ours:.2f}"),
        (f"recount every pair, all chunks ({k} merges, extrapolated)", per_base * n_merges, per_base,
         f"{per_base / per_ours:.0f}"),
        (f"recount every pair, unique chunks ({k} merges, extrapolated)", per_base_u * n_merges, per_base_u,
         f"{per_base_u / per_ours:.0f}"),
    ]
    print()
    print(f"{'trainer':<62} {'total s':>9} {'ms/merge':>9} {'x llmviz time':>14}")
    for name, total, per, ratio in rows:
        print(f"{name:<62} {total:>9.3f} {'' if per is None else f'{per * 1e3:.2f}':>9} {ratio:>14}")
    print(f"merges identical to Hugging Face's: {same}; first {k} merges identical to the baseline's: {base_same}")
    print(f"target 1, ours within 3x of Hugging Face: ours / HF = {t_ours / t_hf:.2f} -> "
          f"{'met' if t_ours <= 3 * t_hf else 'MISSED'}")
    print(f"target 2, >= 50x faster per merge than recounting: {per_base / per_ours:.0f}x -> "
          f"{'met' if per_base / per_ours >= 50 else 'MISSED'}")

    # --- encoding ---
    def encode_cold():
        ours._cache.clear()
        return ours.encode(text)

    t_enc_cold, ids = best_time(encode_cold, args.repeats)
    t_enc_warm, _ = best_time(lambda: ours.encode(text), args.repeats)
    t_enc_hf, enc = best_time(lambda: hf.encode(text), args.repeats)
    lines = text.splitlines(keepends=True)
    t_enc_hf_batch, _ = best_time(lambda: hf.encode_batch(lines), args.repeats)
    ok = [ours.vocab[i] for i in ids] == [bytes(to_byte[c] for c in t) for t in enc.tokens]
    print()
    print(f"{'encoder (whole text)':<62} {'s':>9} {'M chars/s':>9}")
    for name, t in [("llmviz, empty chunk cache", t_enc_cold), ("llmviz, chunk cache warm", t_enc_warm),
                    ("Hugging Face, one string", t_enc_hf), ("Hugging Face, encode_batch of lines (parallel)", t_enc_hf_batch)]:
        print(f"{name:<62} {t:>9.3f} {len(text) / t / 1e6:>9.2f}")
    print(f"tokens identical to Hugging Face's: {ok} ({len(ids):,} tokens, {len(text.encode()) / len(ids):.2f} bytes/token)")


if __name__ == "__main__":
    main()
