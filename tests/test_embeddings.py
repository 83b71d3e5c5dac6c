"""Embeddings: words and vocabulary, skip-gram pairs by hand, word2vec learning, the autoencoder,
projections against scikit-learn and numpy, neighbours against brute force, bad input explained."""

import math

import numpy as np
import pytest
import torch

from llmviz import embeddings as E
from llmviz.jobs import FINISHED, STOPPED

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
    assert E.word_tokens("The King's horse, 3 men; O'er THE hill!") == \
        ["the", "king's", "horse", "men", "o'er", "the", "hill"]
    assert E.word_tokens("") == [] and E.word_tokens("42 ... !!") == []
    assert E.word_tokens("Ça déjà vu") == ["ça", "déjà", "vu"]


def test_vocab_min_count_cap_and_order():
    tokens = "a a a a b b b c c c d d e f f g g g g h".split()
    v = E.build_vocab(tokens, min_count=2, max_size=100)
    # counts: a4 g4 b3 c3 d2 f2 (e, h once); ties alphabetical
    assert v.words == ("a", "g", "b", "c", "d", "f") and v.counts == (4, 4, 3, 3, 2, 2)
    assert v.n_distinct == 8 and v.n_tokens == len(tokens)
    capped = E.build_vocab(tokens, min_count=1, max_size=5)
    assert capped.words == ("a", "g", "b", "c", "d")
    assert "fewer than the cap" in E.vocab_note(v, 2, 100)
    assert "most frequent" in E.vocab_note(capped, 1, 5)
    assert list(v.encode(["a", "e", "f", "zzz"])) == [0, 5]  # unknown words dropped


def test_too_small_a_corpus_is_explained():
    with pytest.raises(E.EmbeddingError, match=r"only 2 of them appear at least 3 times.*Lower the minimum count"):
        E.build_vocab("x x x y y y z".split(), min_count=3, max_size=100)
    with pytest.raises(E.EmbeddingError, match="0 words"):
        E.build_vocab([], min_count=1, max_size=10)


def test_unknown_word_is_explained_with_suggestions():
    v = E.build_vocab("king queen kings knight lord lady".split(), min_count=1, max_size=10)
    with pytest.raises(E.EmbeddingError, match=r"'kingg' is not in the vocabulary.*Did you mean 'king'"):
        v.id("Kingg")
    with pytest.raises(E.EmbeddingError, match="type a word"):
        v.id("  ")
    assert v.id(" KING ") == v.index["king"]
    assert v.search("kin") == ["king", "kings"]


# --- skip-gram pairs ---

def test_skipgram_pairs_hand_worked_sentence():
    words = "the cat sat on the mat".split()
    ids = [{"the": 0, "cat": 1, "sat": 2, "on": 3, "mat": 4}[w] for w in words]
    c, o = E.skipgram_pairs(ids, window=1)
    # worked by hand: each word with its left then right neighbour
    assert list(zip(c, o)) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3), (0, 4), (4, 0)]


def test_skipgram_pairs_match_a_brute_force_loop():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 7, size=23)
    for window in (1, 2, 5, 40):
        expected = [(ids[i], ids[j]) for i in range(len(ids))
                    for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
        c, o = E.skipgram_pairs(ids, window)
        assert list(zip(c.tolist(), o.tolist())) == [(int(a), int(b)) for a, b in expected]
    assert len(E.skipgram_pairs([3], 2)[0]) == 0
    with pytest.raises(E.EmbeddingError):
        E.skipgram_pairs(ids, 0)


def test_subsampling_drops_frequent_words_most():
    ids = np.array([0] * 9000 + [1] * 1000)
    kept = E.subsample(ids, [9000, 1000], 1e-2, np.random.default_rng(0))
    share_kept = [np.mean(kept == k) * len(kept) / n for k, n in ((0, 9000), (1, 1000))]
    # keep probability sqrt(t / f): 0.105 for the frequent word, 0.316 for the rare one
    assert share_kept[0] == pytest.approx(math.sqrt(0.01 / 0.9), abs=0.02)
    assert share_kept[1] == pytest.approx(math.sqrt(0.01 / 0.1), abs=0.05)


# --- word2vec ---

def test_word2vec_loss_goes_down_and_learns_the_two_families():
    tokens, groups = topic_corpus()
    cfg = E.Word2VecConfig(min_count=1, window=2, dim=16, negatives=5, epochs=4, batch_size=256, lr=0.02,
                           subsample=0, log_every=5)
    r = E.train_word2vec(tokens, cfg)
    losses = [h[2] for h in r.history]
    assert losses[-1] < 0.8 * losses[0]
    assert r.epochs_done == pytest.approx(4) and r.vectors.shape == (10, 16)
    for g in groups:
        for w in g:
            near = [x for x, _ in E.neighbours(r.vectors, r.vocab, w, k=4)]
            assert set(near) <= set(g), (w, near)


def test_word2vec_job_reports_and_stops():
    tokens, _ = topic_corpus(200)
    cfg = E.Word2VecConfig(min_count=1, dim=8, epochs=2, batch_size=64, subsample=0, log_every=2)
    job = E.word2vec_job(tokens, cfg).start().join(30)
    snap = job.snapshot()
    assert snap.state == FINISHED and snap.step == snap.total > 0
    assert list(snap.history) == job.result.history and snap.extra["epoch"] == 2
    # a stop before the first step keeps the untrained vectors and says so
    job2 = E.word2vec_job(tokens, cfg)
    job2._stop.set()
    job2._run()
    assert job2.snapshot().state == STOPPED and job2.result.history == []
    with pytest.raises(E.EmbeddingError):  # bad input is refused before a thread starts
        E.word2vec_job(["a", "b"], cfg)


def test_word2vec_divergence_is_a_plain_failure():
    tokens, _ = topic_corpus(100)
    cfg = E.Word2VecConfig(min_count=1, dim=8, epochs=1, batch_size=64, subsample=0, lr=1e30)
    snap = E.word2vec_job(tokens, cfg).start().join(30).snapshot()
    assert snap.state == "failed" and "lower the learning rate" in snap.reason


# --- the autoencoder ---

def test_autoencoder_reconstructs_every_word_through_two_numbers():
    r = E.train_autoencoder(vocab_size=20, bottleneck=2, steps=600, lr=0.05)
    assert r.codes.shape == (20, 2)
    assert r.history[-1][2] == 1.0 and r.history[-1][1] < r.history[0][1]
    with pytest.raises(E.EmbeddingError):
        E.train_autoencoder(1, 2)


# --- projections, neighbours, arithmetic ---

def test_pca_matches_scikit_learn_and_an_svd():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(40, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    p = E.project(x, [str(i) for i in range(40)], "pca", dims=3)
    direct = PCA(n_components=3).fit(x)
    assert np.allclose(p.coords, direct.transform(x))
    assert np.allclose(p.explained, direct.explained_variance_ratio_)
    # an independent oracle: singular values of the centred data give the same variance shares
    xc = x - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    assert np.allclose(p.explained, (s ** 2 / (s ** 2).sum())[:3])
    assert np.allclose(np.abs(p.coords), np.abs(u[:, :3] * s[:3]))


def test_tsne_shape_seed_and_limits():
    x = np.random.default_rng(0).normal(size=(30, 5))
    a = E.project(x, list("abcdefghijklmnopqrstuvwxyz0123"), "tsne", dims=2, seed=3)
    b = E.project(x, list("abcdefghijklmnopqrstuvwxyz0123"), "tsne", dims=2, seed=3)
    assert a.coords.shape == (30, 2) and a.explained is None and np.allclose(a.coords, b.coords)
    with pytest.raises(E.EmbeddingError, match="unknown projection"):
        E.project(x, range(30), "umap")
    with pytest.raises(E.EmbeddingError, match="too few"):
        E.project(x[:2], ["a", "b"], "pca")
    with pytest.raises(E.EmbeddingError, match="NaN"):
        E.project(np.full((5, 3), np.nan), list("abcde"))


def test_nearest_matches_brute_force_cosine():
    rng = np.random.default_rng(2)
    vecs = rng.normal(size=(50, 7))
    vecs[10] = 0.0  # a zero row must not crash or win
    q = rng.normal(size=7)

    def cos(a, b):
        na, nb = math.sqrt(sum(t * t for t in a)), math.sqrt(sum(t * t for t in b))
        return sum(s * t for s, t in zip(a, b)) / (na * nb) if na and nb else 0.0

    brute = sorted(((cos(vecs[i], q), i) for i in range(50) if i != 3), key=lambda t: (-t[0], t[1]))[:8]
    got = E.nearest(vecs, q, k=8, exclude=[3])
    assert [i for i, _ in got] == [i for _, i in brute]
    assert np.allclose([s for _, s in got], [s for s, _ in brute])


def test_word_arithmetic_on_constructed_vectors():
    words = ["king", "queen", "man", "woman", "apple", "royal"]
    base = {"male": np.array([1.0, 0, 0, 0]), "female": np.array([0, 1.0, 0, 0]),
            "royal": np.array([0, 0, 1.0, 0]), "fruit": np.array([0, 0, 0, 1.0])}
    vecs = np.stack([base["male"] + base["royal"], base["female"] + base["royal"], base["male"], base["female"],
                     base["fruit"], base["royal"]])
    vocab = E.build_vocab(words, min_count=1, max_size=10)
    order = [words.index(w) for w in vocab.words]  # vocab sorts ties alphabetically
    best = E.analogy(vecs[order], vocab, "king", "man", "woman", k=2)
    assert best[0][0] == "queen" and best[0][1] > best[1][1]
    with pytest.raises(E.EmbeddingError, match="not in the vocabulary"):
        E.analogy(vecs[order], vocab, "king", "man", "girl")


def test_model_embedding_table_is_found_and_projected():
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(16, 4), nn.Linear(4, 4), nn.Embedding(8, 4))
    w = E.embedding_table(model, vocab_size=8)
    assert np.array_equal(w, model[2].weight.detach().numpy())
    with pytest.raises(E.EmbeddingError):
        E.embedding_table(model, vocab_size=5)
    labels = [E.token_label(c) for c in "ab \n1.Zq"]
    assert labels[2:4] == ["␣", "⏎"]
    p = E.project_embedding_table(model[2].weight, labels, "pca")
    assert np.allclose(p.coords, E.project(w, labels, "pca").coords)
    assert [E.token_category(c) for c in "a b1.Z"] == [
        "vowel (lower case)", "whitespace", "consonant (lower case)", "digit", "punctuation", "consonant (upper case)"]
