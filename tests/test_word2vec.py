"""word2vec: words and vocabulary, skip-gram pairs by hand and against brute force, subsampling,
SGNS learning two families of words, the background job, and a diverging loss explained."""

import math

import numpy as np
import pytest
import torch

from llmviz.concepts import word2vec
from llmviz.concepts.embeddings import EmbeddingError, neighbours
from llmviz.jobs import FAILED, FINISHED, STOPPED

torch.set_num_threads(1)


def topic_corpus(n_sentences=600, seed=0):
    """Two families of words that never share a sentence: animals and tools."""
    rng = np.random.default_rng(seed)
    groups = [["cat", "dog", "horse", "cow", "sheep"], ["hammer", "saw", "drill", "wrench", "chisel"]]
    tokens = []
    for _ in range(n_sentences):
        g = groups[rng.integers(2)]
        tokens += list(rng.choice(g, size=6))
    return tokens, groups


# --- words and vocabulary ---

def test_word_tokens_lowercase_and_keep_inner_apostrophes():
    assert word2vec.word_tokens("The King's horse, 3 men; O'er THE hill!") == \
        ["the", "king's", "horse", "men", "o'er", "the", "hill"]
    assert word2vec.word_tokens("") == [] and word2vec.word_tokens("42 ... !!") == []
    assert word2vec.word_tokens("Ça déjà vu") == ["ça", "déjà", "vu"]


def test_vocab_min_count_cap_and_order():
    tokens = "a a a a b b b c c c d d e f f g g g g h".split()
    v = word2vec.build_vocab(tokens, min_count=2, max_size=100)
    # counts: a4 g4 b3 c3 d2 f2 (e, h once); ties alphabetical
    assert v.words == ("a", "g", "b", "c", "d", "f") and v.counts == (4, 4, 3, 3, 2, 2)
    assert v.n_distinct == 8 and v.n_tokens == len(tokens)
    capped = word2vec.build_vocab(tokens, min_count=1, max_size=5)
    assert capped.words == ("a", "g", "b", "c", "d")
    assert "fewer than the cap" in word2vec.vocab_note(v, 2, 100)
    assert "most frequent" in word2vec.vocab_note(capped, 1, 5)
    assert list(v.encode(["a", "e", "f", "zzz"])) == [0, 5]  # unknown words dropped


def test_too_small_a_corpus_is_explained():
    with pytest.raises(EmbeddingError, match=r"only 2 of them appear at least 3 times.*Lower the minimum count"):
        word2vec.build_vocab("x x x y y y z".split(), min_count=3, max_size=100)
    with pytest.raises(EmbeddingError, match="0 words"):
        word2vec.build_vocab([], min_count=1, max_size=10)


def test_unknown_word_is_explained_with_suggestions():
    v = word2vec.build_vocab("king queen kings knight lord lady".split(), min_count=1, max_size=10)
    with pytest.raises(EmbeddingError, match=r"'kingg' is not in the vocabulary.*Did you mean 'king'"):
        v.id("Kingg")
    with pytest.raises(EmbeddingError, match="type a word"):
        v.id("  ")
    assert v.id(" KING ") == v.index["king"]
    assert v.search("kin") == ["king", "kings"]


# --- skip-gram pairs ---

def test_skipgram_pairs_hand_worked_sentence():
    words = "the cat sat on the mat".split()
    ids = [{"the": 0, "cat": 1, "sat": 2, "on": 3, "mat": 4}[w] for w in words]
    c, o = word2vec.skipgram_pairs(ids, window=1)
    # worked by hand: each word with its left then right neighbour
    assert list(zip(c, o)) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3), (0, 4), (4, 0)]


def test_skipgram_pairs_match_a_brute_force_loop():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 7, size=23)
    for window in (1, 2, 5, 40):
        expected = [(ids[i], ids[j]) for i in range(len(ids))
                    for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
        c, o = word2vec.skipgram_pairs(ids, window)
        assert list(zip(c.tolist(), o.tolist())) == [(int(a), int(b)) for a, b in expected]
    assert len(word2vec.skipgram_pairs([3], 2)[0]) == 0
    with pytest.raises(EmbeddingError):
        word2vec.skipgram_pairs(ids, 0)


def test_subsampling_drops_frequent_words_most():
    ids = np.array([0] * 9000 + [1] * 1000)
    kept = word2vec.subsample(ids, [9000, 1000], 1e-2, np.random.default_rng(0))
    share_kept = [np.mean(kept == k) * len(kept) / n for k, n in ((0, 9000), (1, 1000))]
    # keep probability sqrt(t / f): 0.105 for the frequent word, 0.316 for the rare one
    assert share_kept[0] == pytest.approx(math.sqrt(0.01 / 0.9), abs=0.02)
    assert share_kept[1] == pytest.approx(math.sqrt(0.01 / 0.1), abs=0.05)


# --- word2vec ---

def test_word2vec_loss_goes_down_and_learns_the_two_families():
    tokens, groups = topic_corpus()
    cfg = word2vec.Word2VecConfig(min_count=1, window=2, dim=16, negatives=5, epochs=4, batch_size=256, lr=0.02,
                           subsample=0, log_every=5)
    r = word2vec.train_word2vec(tokens, cfg)
    losses = [h[2] for h in r.history]
    assert losses[-1] < 0.8 * losses[0]
    assert r.epochs_done == pytest.approx(4) and r.vectors.shape == (10, 16)
    for g in groups:
        for w in g:
            near = [x for x, _ in neighbours(r.vectors, r.vocab, w, k=4)]
            assert set(near) <= set(g), (w, near)


def test_word2vec_job_reports_and_stops():
    tokens, _ = topic_corpus(200)
    cfg = word2vec.Word2VecConfig(min_count=1, dim=8, epochs=2, batch_size=64, subsample=0, log_every=2)
    job = word2vec.word2vec_job(tokens, cfg).start().join(30)
    snap = job.snapshot()
    assert snap.state == FINISHED and snap.step == snap.total > 0
    assert list(snap.history) == job.result.history and snap.extra["epoch"] == 2
    # a stop before the first step keeps the untrained vectors and says so
    job2 = word2vec.word2vec_job(tokens, cfg)
    job2._stop.set()
    job2._run()
    assert job2.snapshot().state == STOPPED and job2.result.history == []
    with pytest.raises(EmbeddingError):  # bad input is refused before a thread starts
        word2vec.word2vec_job(["a", "b"], cfg)


def test_word2vec_divergence_is_a_plain_failure():
    tokens, _ = topic_corpus(100)
    cfg = word2vec.Word2VecConfig(min_count=1, dim=8, epochs=1, batch_size=64, subsample=0, lr=1e30)
    snap = word2vec.word2vec_job(tokens, cfg).start().join(30).snapshot()
    assert snap.state == FAILED and "lower the learning rate" in snap.reason
    with pytest.raises(EmbeddingError, match="lower the learning rate"):  # the same words outside a job
        word2vec.train_word2vec(tokens, cfg)


def test_pair_count_is_what_skipgram_pairs_makes():
    from llmviz.concepts.word2vec import pair_count, skipgram_pairs

    for n in range(0, 9):
        for window in (1, 2, 5):
            assert pair_count(n, window) == len(skipgram_pairs(np.arange(n), window)[0])
