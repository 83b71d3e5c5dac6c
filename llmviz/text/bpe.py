"""Byte-level BPE (tutorial part 1, "tokenization by BPE"), explained as compression.

Start from the 256 bytes, then repeatedly merge the most frequent adjacent pair of tokens into a new
token. Every merge is recorded (the pair, the new id, its bytes, its count), so the learning can be
replayed step by step. Special tokens, if any, get the ids after the merges and are never merged.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from itertools import chain
from typing import NamedTuple

import regex  # the GPT-2 split pattern needs Unicode classes (\p{L}) that `re` lacks

from llmviz.errors import LearnerError
from llmviz.jobs import Job
from llmviz.text.tokenizers import Tokenizer
from llmviz.wording import plural

# GPT-2's pre-split: contractions, words, numbers, punctuation runs and whitespace become separate
# chunks, so merges never cross a word boundary (" the" can be a token, "e t" cannot)
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class BPEError(LearnerError):
    """A training request that cannot be met, with a message meant for the learner."""


class Merge(NamedTuple):
    """One step of BPE training."""

    pair: tuple[int, int]  # the two token ids that were merged
    id: int  # the new token's id (256 + step)
    token: bytes  # the bytes the new token stands for
    count: int  # how often the pair occurred in the training text when it was merged
    n_tokens: int  # the training text's length in tokens after this merge


def gpt2_byte_to_unicode() -> dict[int, str]:
    """GPT-2's table mapping each byte to a printable character (a space becomes "Ġ")."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


# among pairs with equal counts, Hugging Face merges the pair with the smallest ids in ITS numbering:
# bytes ranked by the code point of their GPT-2 character, merged tokens after them in creation order.
# we break ties the same way so both trainers learn exactly the same merges.
_BYTE_RANK = {b: r for r, b in enumerate(sorted(range(256), key=lambda b: gpt2_byte_to_unicode()[b]))}


def _tie_rank(pair: tuple[int, int]) -> tuple[int, int]:
    return tuple(_BYTE_RANK[t] if t < 256 else t for t in pair)


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping occurrence of `pair` in `ids`, left to right, by `new_id`."""
    out = []
    i, n = 0, len(ids)
    while i < n:
        if i < n - 1 and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def token_text(token: bytes) -> str:
    """A token's bytes as readable text; bytes that are not whole UTF-8 characters show as \\xNN."""
    return token.decode("utf-8", errors="backslashreplace")


class BPETokenizer(Tokenizer):
    """Byte-level BPE: ids 0-255 are the bytes, id 256 + k is the token made by merge k, and the
    special tokens (if any) come after the last merge."""

    kind = "bpe"

    def __init__(self, pattern: str | None = GPT2_SPLIT_PATTERN, merges: Sequence[Merge] | None = None, *,
                 special_tokens: Sequence[str] = ()):
        super().__init__(special_tokens)
        self.pattern = pattern  # None: the whole text is one chunk, merges may cross words
        self._split_re = regex.compile(pattern) if pattern else None
        self.merges: list[Merge] = []
        self.stop_reason = ""  # why training ended before the asked vocabulary size ("" if it did not)
        self._set_merges(merges or [])

    def _set_merges(self, merges: list[Merge]) -> None:
        self.merges = list(merges)
        # id -> bytes; a special token stands for the bytes of its string
        self.vocab: list[bytes] = ([bytes([b]) for b in range(256)] + [m.token for m in self.merges]
                                   + [s.encode("utf-8") for s in self.special_tokens])
        self.ranks = {m.pair: m.id for m in self.merges}  # pair -> new id; a lower id was learned earlier
        self._cache: dict[str, list[int]] = {}  # chunk -> ids, for encoding with every merge

    @property
    def ordinary_vocab_size(self) -> int:
        return 256 + len(self.merges)

    def split(self, text: str) -> list[str]:
        """The chunks merges stay inside (the GPT-2 pre-split), or the whole text as one chunk."""
        if self._split_re is None:
            return [text] if text else []
        return self._split_re.findall(text)

    # --- training ---
    def train(self, text: str, vocab_size: int = 512, *, on_merge: Callable[[Merge], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> "BPETokenizer":
        """Learn vocab_size - 256 merges from text (special tokens come on top, after the merges).
        `on_merge` hears about each merge as it happens; `should_stop` is asked before each one. If
        the text runs out of pairs first, training ends early and `stop_reason` says what was reached."""
        _check_bpe_request(text, vocab_size)
        n_merges = vocab_size - 256

        # work on unique chunks: " the" is split into bytes once and counted with its frequency;
        # special tokens in the text are left out: they are one token each and never merged
        parts = self._split_specials(text)
        chunk_counts = Counter(chain.from_iterable(map(self.split, parts[::2])))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs = list(chunk_counts.values())
        n_tokens = sum(len(w) * f for w, f in zip(words, freqs)) + len(parts) // 2

        # count every adjacent pair once, and remember which words contain it
        counts: dict[tuple[int, int], int] = defaultdict(int)
        where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for i, (w, f) in enumerate(zip(words, freqs)):
            for pair in zip(w, w[1:]):
                counts[pair] += f
                where[pair].add(i)

        # a max-heap of (count, tie-break) kept lazily: an entry may overstate a count that has
        # since dropped; it is corrected when it reaches the top
        heap = [(-c, _tie_rank(p), p) for p, c in counts.items()]
        heapq.heapify(heap)

        merges: list[Merge] = []
        vocab = [bytes([b]) for b in range(256)]
        self.stop_reason = ""
        while len(merges) < n_merges:
            if should_stop is not None and should_stop():
                self.stop_reason = f"stopped at your request after {plural(len(merges), 'merge')}"
                break
            pair = _pop_most_frequent(heap, counts)
            if pair is None:
                self.stop_reason = _exhausted_message(text, vocab_size, len(merges))
                break
            new_id = 256 + len(merges)
            count = counts[pair]

            # re-count only the words that contained the pair: take their old pairs out, put the new in
            delta: dict[tuple[int, int], int] = defaultdict(int)
            for i in where.pop(pair):
                old = words[i]
                new = merge_pair(old, pair, new_id)
                if len(new) == len(old):
                    continue  # an earlier merge already used up this word's occurrences
                f = freqs[i]
                for p in zip(old, old[1:]):
                    delta[p] -= f
                for p in zip(new, new[1:]):
                    delta[p] += f
                    where[p].add(i)
                words[i] = new
                n_tokens -= (len(old) - len(new)) * f
            for p, d in delta.items():
                if d:
                    counts[p] += d
                    if d > 0:  # a pair that gained must be findable on the heap with its new count
                        heapq.heappush(heap, (-counts[p], _tie_rank(p), p))
                    elif counts[p] == 0:
                        del counts[p]

            vocab.append(vocab[pair[0]] + vocab[pair[1]])
            merges.append(Merge(pair, new_id, vocab[new_id], count, n_tokens))
            if on_merge is not None:
                on_merge(merges[-1])
        self._set_merges(merges)
        return self

    # --- encoding and decoding ---
    def encode(self, text: str, n_merges: int | None = None) -> list[int]:
        """Text -> ids, applying the learned merges (only the first n_merges of them if given);
        each special token's string becomes its single id."""
        return self._encode_around_specials(text, lambda part: self.encode_ordinary(part, n_merges))

    def encode_ordinary(self, text: str, n_merges: int | None = None) -> list[int]:
        """Text -> ids with bytes and merges only: special tokens' strings are plain text here."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects text (str), got {type(text).__name__}")
        full = n_merges is None or n_merges >= len(self.merges)
        limit = 256 + (len(self.merges) if full else max(0, n_merges))
        cache = self._cache if full else {}
        if len(cache) > 200_000:
            cache.clear()  # keep memory bounded on huge varied texts
        out: list[int] = []
        for chunk in self.split(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = self._encode_chunk(chunk.encode("utf-8"), limit)
            out.extend(ids)
        return out

    def _encode_chunk(self, data: bytes, limit: int) -> list[int]:
        # replay merges in the order they were learned: always merge the earliest-learned pair present
        ids = list(data)
        ranks = self.ranks
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, limit))
            new_id = ranks.get(pair, limit)
            if new_id >= limit:
                break  # no pair left that this many merges know
            ids = merge_pair(ids, pair, new_id)
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: list[int]) -> bytes:
        n = len(self.vocab)
        for i in ids:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
                raise ValueError(f"token id {i!r} is not in this tokenizer's vocabulary (ids 0 to {n - 1})")
        return b"".join(self.vocab[i] for i in ids)

    def tokens(self, text: str, n_merges: int | None = None) -> list[tuple[int, bytes]]:
        """(id, bytes) for each token of text: what a page colours in."""
        return [(i, self.vocab[i]) for i in self.encode(text, n_merges)]

    # --- saving (plain JSON: one line per merge, readable by eye) ---
    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "pattern": self.pattern,
            "merges": [{"pair": list(m.pair), "id": m.id, "token": token_text(m.token), "count": m.count,
                        "n_tokens": m.n_tokens} for m in self.merges],
            **self._specials_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "BPETokenizer":
        tok = cls(data.get("pattern"), special_tokens=data.get("special_tokens", ()))
        vocab = [bytes([b]) for b in range(256)]
        merges = []
        for k, m in enumerate(data.get("merges", [])):
            a, b = m["pair"]
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ValueError(f"merge {k} uses a token id that does not exist yet: {m['pair']}")
            vocab.append(vocab[a] + vocab[b])
            merges.append(Merge((a, b), 256 + k, vocab[-1], int(m.get("count", 0)), int(m.get("n_tokens", 0))))
        tok._set_merges(merges)
        return tok


def _pop_most_frequent(heap: list, counts: dict) -> tuple[int, int] | None:
    """The pair with the highest true count (ties: smallest Hugging Face ids), or None if none is left."""
    while heap:
        neg_count, rank, pair = heapq.heappop(heap)
        count = counts.get(pair, 0)
        if count == -neg_count:
            return pair
        if count > 0:  # stale entry: put the pair back with its true count
            heapq.heappush(heap, (-count, rank, pair))
    return None


def _check_bpe_request(text, vocab_size) -> None:
    if not isinstance(text, str):
        raise TypeError(f"BPE trains on text (str), got {type(text).__name__}")
    if not text:
        raise BPEError("cannot train BPE on an empty text: give it some writing to compress")
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise BPEError(f"the vocabulary size must be a whole number, got {vocab_size!r}")
    if vocab_size < 256:
        raise BPEError(f"the vocabulary size must be at least 256 (one token per byte), got {vocab_size}")


def _exhausted_message(text: str, vocab_size: int, n_merges: int) -> str:
    why = ("it is one character repeated, so each merge only doubles the longest token"
           if len(set(text)) == 1 else "every adjacent pair of tokens is already a single token")
    # a clause, not a sentence: the page ends it
    return (f"this text supports only {256 + n_merges} tokens ({plural(n_merges, 'merge')}), not the {vocab_size} "
            f"asked: {why}; use a longer or more varied text, or a smaller vocabulary")


def parse_ids(text: str) -> list[int]:
    """"104, 105 33" -> [104, 105, 33]: ids typed by a learner, separated by commas or spaces."""
    ids = []
    for part in regex.split(r"[\s,;]+", text.strip().strip("[]")):
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise ValueError(f"{part!r} is not a token id: type whole numbers separated by commas or spaces") from None
    return ids


def train_bpe_job(text: str, vocab_size: int, pattern: str | None = GPT2_SPLIT_PATTERN) -> Job:
    """A background job that trains a BPETokenizer, reports each merge, and can be stopped;
    its result is the tokenizer (with whatever merges were learned before a stop)."""
    def work(job: Job) -> BPETokenizer:
        tok = BPETokenizer(pattern)
        tok.train(text, vocab_size, on_merge=lambda m: job.advance(m.id - 255), should_stop=job.should_stop)
        job.set(stop_reason=tok.stop_reason)
        return tok

    return Job(work, total=vocab_size - 256, name="bpe")
