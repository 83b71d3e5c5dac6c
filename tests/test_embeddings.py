"""Embeddings: the autoencoder, projections against scikit-learn and numpy, neighbours against brute
force, word arithmetic, a model's embedding table, bad input explained. word2vec: test_word2vec.py."""

import math

import numpy as np
import pytest
import torch

from llmviz.concepts import embeddings
from llmviz.errors import LearnerError
from llmviz.concepts.word2vec import build_vocab

torch.set_num_threads(1)


# --- the autoencoder ---

def test_autoencoder_reconstructs_every_word_through_two_numbers():
    r = embeddings.train_autoencoder(vocab_size=20, bottleneck=2, steps=600, lr=0.05)
    assert r.codes.shape == (20, 2)
    assert r.history[-1][2] == 1.0 and r.history[-1][1] < r.history[0][1]
    with pytest.raises(embeddings.EmbeddingError):
        embeddings.train_autoencoder(1, 2)


# --- projections, neighbours, arithmetic ---

def test_pca_matches_scikit_learn_and_an_svd():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(40, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    p = embeddings.project(x, [str(i) for i in range(40)], "pca", dims=3)
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
    a = embeddings.project(x, list("abcdefghijklmnopqrstuvwxyz0123"), "tsne", dims=2, seed=3)
    b = embeddings.project(x, list("abcdefghijklmnopqrstuvwxyz0123"), "tsne", dims=2, seed=3)
    assert a.coords.shape == (30, 2) and a.explained is None and np.allclose(a.coords, b.coords)
    assert issubclass(embeddings.EmbeddingError, LearnerError)  # a Job ends as failed with its plain message
    with pytest.raises(embeddings.EmbeddingError, match="unknown projection"):
        embeddings.project(x, range(30), "umap")
    with pytest.raises(embeddings.EmbeddingError, match="too few"):
        embeddings.project(x[:2], ["a", "b"], "pca")
    with pytest.raises(embeddings.EmbeddingError, match="NaN"):
        embeddings.project(np.full((5, 3), np.nan), list("abcde"))


def test_nearest_matches_brute_force_cosine():
    rng = np.random.default_rng(2)
    vecs = rng.normal(size=(50, 7))
    vecs[10] = 0.0  # a zero row must not crash or win
    q = rng.normal(size=7)

    def cos(a, b):
        na, nb = math.sqrt(sum(t * t for t in a)), math.sqrt(sum(t * t for t in b))
        return sum(s * t for s, t in zip(a, b)) / (na * nb) if na and nb else 0.0

    brute = sorted(((cos(vecs[i], q), i) for i in range(50) if i != 3), key=lambda t: (-t[0], t[1]))[:8]
    got = embeddings.nearest(vecs, q, k=8, exclude=[3])
    assert [i for i, _ in got] == [i for _, i in brute]
    assert np.allclose([s for _, s in got], [s for s, _ in brute])


def test_word_arithmetic_on_constructed_vectors():
    words = ["king", "queen", "man", "woman", "apple", "royal"]
    base = {"male": np.array([1.0, 0, 0, 0]), "female": np.array([0, 1.0, 0, 0]),
            "royal": np.array([0, 0, 1.0, 0]), "fruit": np.array([0, 0, 0, 1.0])}
    vecs = np.stack([base["male"] + base["royal"], base["female"] + base["royal"], base["male"], base["female"],
                     base["fruit"], base["royal"]])
    vocab = build_vocab(words, min_count=1, max_size=10)
    order = [words.index(w) for w in vocab.words]  # vocab sorts ties alphabetically
    best = embeddings.analogy(vecs[order], vocab, "king", "man", "woman", k=2)
    assert best[0][0] == "queen" and best[0][1] > best[1][1]
    with pytest.raises(embeddings.EmbeddingError, match="not in the vocabulary"):
        embeddings.analogy(vecs[order], vocab, "king", "man", "girl")


def test_model_embedding_table_is_found():
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(16, 4), nn.Linear(4, 4), nn.Embedding(8, 4))
    w = embeddings.embedding_table(model, vocab_size=8)
    assert np.array_equal(w, model[2].weight.detach().numpy())
    with pytest.raises(embeddings.EmbeddingError):
        embeddings.embedding_table(model, vocab_size=5)
    assert [embeddings.token_category(c) for c in "a b1.Z"] == [
        "vowel (lower case)", "whitespace", "consonant (lower case)", "digit", "punctuation", "consonant (upper case)"]
