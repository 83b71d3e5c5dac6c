"""One-hot vectors, the dictionary as q·Kᵀ·V, cosine, softmax and attention (tutorial part 1, steps
3–8), checked on the tutorial's examples and against torch as an independent implementation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmviz.concepts import lookup, vectors

D = lookup.DEFAULT_DICTIONARY


def test_vocabularies_are_sorted_and_one_hot_rows_are_unit_vectors():
    m = vectors.dictionary_matrices(D)
    assert m.in_vocab == ["chat", "est", "la", "le", "sous", "table"]
    assert m.out_vocab == ["cat", "is", "table", "the", "under"]
    assert list(vectors.one_hot("chat", m.in_vocab)) == [1, 0, 0, 0, 0, 0]
    assert not vectors.one_hot("tables", m.in_vocab).any()  # unknown: no position, all zeros
    x = vectors.one_hot_matrix(["le", "chat", "zzz"], m.in_vocab)
    assert x.shape == (3, 6) and list(x.sum(axis=1)) == [1, 1, 0]


def test_k_and_v_rows_pair_each_key_with_its_value():
    m = vectors.dictionary_matrices(D)
    for i, (k, v) in enumerate(D.items()):
        assert m.in_vocab[int(np.argmax(m.K[i]))] == k
        assert m.out_vocab[int(np.argmax(m.V[i]))] == v
    assert m.K.sum() == len(D) and m.V.sum() == len(D)


@pytest.mark.parametrize("key", list(D))
def test_q_kt_v_is_the_dictionary_lookup(key):
    m = vectors.dictionary_matrices(D)
    scores, value = vectors.hard_lookup(vectors.one_hot(key, m.in_vocab), m.K, m.V)
    assert list(scores) == [1.0 if k == key else 0.0 for k in D]  # q·Kᵀ selects exactly one key
    word, _ = vectors.decode(value, m.out_vocab)
    assert word == D[key]


def test_sous_selects_under():
    m = vectors.dictionary_matrices(D)
    scores, value = vectors.hard_lookup(vectors.one_hot("sous", m.in_vocab), m.K, m.V)
    assert m.keys[int(np.argmax(scores))] == "sous"
    assert vectors.decode(value, m.out_vocab)[0] == "under"


def test_near_miss_query_still_selects_the_right_row():
    m = vectors.dictionary_matrices(D)
    # the tutorial's "tables" ≈ 0.95·table
    q = 0.95 * vectors.one_hot("table", m.in_vocab)
    scores, value = vectors.hard_lookup(q, m.K, m.V)
    assert scores[m.keys.index("table")] == pytest.approx(0.95)
    assert vectors.decode(value, m.out_vocab)[0] == "table"
    # our relaxation from the edit distance: one edit out of six letters
    q, key, strength = vectors.relaxed_query("tables", m.keys, m.in_vocab)
    assert key == "table" and strength == pytest.approx(5 / 6)
    assert vectors.decode(vectors.hard_lookup(q, m.K, m.V)[1], m.out_vocab)[0] == "table"
    assert vectors.relaxed_query("x", [], [])[1] is None
    q, key, _ = vectors.relaxed_query("", m.keys, m.in_vocab)
    assert key is None and not q.any()


def test_cosine_and_decode():
    assert vectors.cosine_similarity(np.array([1.0, 1.0, 0.0]), np.eye(3)) == pytest.approx([2 ** -0.5, 2 ** -0.5, 0])
    assert list(vectors.cosine_similarity(np.zeros(3), np.eye(3))) == [0, 0, 0]  # no direction, no similarity
    torch_cos = F.cosine_similarity(torch.tensor([[0.3, -1.2, 2.0]]), torch.eye(3), dim=1).numpy()
    assert vectors.cosine_similarity(np.array([0.3, -1.2, 2.0]), np.eye(3)) == pytest.approx(torch_cos, abs=1e-6)
    word, sims = vectors.decode(np.array([0.1, 0.7, 0.2]), ["a", "b", "c"])
    assert word == "b" and sims.shape == (3,)
    assert vectors.decode(np.zeros(3), ["a", "b", "c"])[0] is None
    # cosine ignores length, the dot product does not: 2 copies of a short vector still point the same way
    assert vectors.cosine_similarity(np.array([2.0, 0.0]), np.array([[1.0, 0.0]]))[0] == pytest.approx(1.0)


def test_softmax_matches_torch_and_temperature_sharpens_or_flattens():
    x = np.array([2.0, 1.0, 0.1, -3.0])
    for t in (0.1, 0.5, 1.0, 4.0):
        expected = torch.softmax(torch.tensor(x) / t, dim=-1).numpy()
        assert vectors.softmax(x, temperature=t) == pytest.approx(expected, abs=1e-12)
    assert vectors.softmax(x, temperature=0.01)[0] == pytest.approx(1.0)
    assert vectors.softmax(x, temperature=1000) == pytest.approx(np.full(4, 0.25), abs=1e-3)


def test_naive_softmax_overflows_where_the_stable_one_does_not():
    x = np.array([1000.0, 999.0, 998.0])
    assert np.isnan(vectors.naive_softmax(x)).all()
    stable = vectors.softmax(x)
    assert stable == pytest.approx(torch.softmax(torch.tensor(x), dim=-1).numpy(), abs=1e-12)
    # on small scores they agree
    assert vectors.naive_softmax(x - 1000) == pytest.approx(stable)
    # masked (−∞) entries get exactly zero, a fully masked row gets no weight at all rather than nan
    assert vectors.softmax([0.0, -np.inf])[1] == 0.0
    assert list(vectors.softmax([-np.inf, -np.inf])) == [0.0, 0.0]


def test_soft_lookup_prefers_the_matching_value():
    m = vectors.dictionary_matrices(D)
    weights, value = vectors.soft_lookup(vectors.one_hot("sous", m.in_vocab), m.K, m.V)
    assert weights.sum() == pytest.approx(1.0) and np.argmax(weights) == m.keys.index("sous")
    # by hand: scores are 1 for sous and 0 elsewhere, scaled by 1/√6
    e = np.exp(1 / np.sqrt(6))
    assert weights.max() == pytest.approx(e / (e + 5))
    # so flat that "the", the value of two keys (le, la), gets 2/(e+5) > e/(e+5): the blend leaks
    assert vectors.decode(value, m.out_vocab)[0] == "the"
    # a lower temperature sharpens the weights and the lookup is right again
    weights, value = vectors.soft_lookup(vectors.one_hot("sous", m.in_vocab), m.K, m.V, temperature=0.3)
    assert vectors.decode(value, m.out_vocab)[0] == "under" and weights.max() > 0.4


def test_without_scaling_softmax_collapses_as_d_grows():
    dims = [1, 16, 256]
    unscaled, scaled = vectors.scaling_experiment(dims, n_keys=8, trials=300, seed=1)
    assert unscaled[0] < unscaled[1] < unscaled[2] and unscaled[2] > 0.9
    assert np.all(scaled < 0.5) and abs(scaled[2] - scaled[1]) < 0.05


def _sdpa(Q, K, V, causal):
    t = [torch.tensor(a, dtype=torch.float64) for a in (Q, K, V)]
    return F.scaled_dot_product_attention(*t, is_causal=causal).numpy()


# (queries, keys, d, d_v); a causal mask is square: each position looks at itself and the past
SHAPES = [(6, 6, 4, 3), (1, 1, 1, 1), (5, 5, 16, 8), (3, 7, 2, 5)]


@pytest.mark.parametrize("shape,causal", [(s, False) for s in SHAPES] + [(s, True) for s in SHAPES if s[0] == s[1]])
def test_attention_matches_torch_sdpa(shape, causal):
    tq, tk, d, dv = shape
    rng = np.random.default_rng(sum(shape))
    Q, K, V = rng.standard_normal((tq, d)) * 3, rng.standard_normal((tk, d)) * 3, rng.standard_normal((tk, dv))
    steps = vectors.attention(Q, K, V, causal=causal)
    assert np.max(np.abs(steps.output - _sdpa(Q, K, V, causal))) < 1e-6
    assert steps.weights.sum(axis=1) == pytest.approx(np.ones(tq))
    if causal:
        assert np.all(steps.weights[steps.mask] == 0) and np.all(np.isneginf(steps.scaled[steps.mask]))
        if tq > 1:
            assert steps.mask[0, 1] and not steps.mask[1, 0]  # position 0 cannot see position 1
        assert steps.weights[0, 0] == pytest.approx(1.0)  # the first token can only look at itself


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_head_matches_torch(causal):
    X = vectors.one_hot_matrix(lookup.tokenize(lookup.DEFAULT_SENTENCE), vectors.vocabulary(D))
    Wq, Wk, Wv = vectors.head_weights(X.shape[1], 4, seed=7)
    head = vectors.self_attention(X, Wq, Wk, Wv, causal=causal)
    assert head.q.shape == head.k.shape == head.v.shape == (6, 4)
    Xt = torch.tensor(X)
    q, k, v = (Xt @ torch.tensor(W) for W in (Wq, Wk, Wv))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal).numpy()
    assert np.max(np.abs(head.attn.output - expected)) < 1e-6


def test_head_weights_are_seeded():
    a, b = vectors.head_weights(6, 3, seed=1), vectors.head_weights(6, 3, seed=1)
    c = vectors.head_weights(6, 3, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], c[0])
    assert a[0].shape == (6, 3) and not np.array_equal(a[0], a[1])


def test_attention_with_one_hot_queries_translates_the_sentence():
    m = vectors.dictionary_matrices(D)
    tokens = lookup.tokenize(lookup.DEFAULT_SENTENCE)
    Q = vectors.one_hot_matrix(tokens, m.in_vocab)
    # s·one-hot queries: with s = 3 the right key dominates every row
    out = vectors.attention(3 * Q, m.K, m.V).output
    assert [vectors.decode(row, m.out_vocab)[0] for row in out] == ["the", "cat", "is", "under", "the", "table"]
    # with bare one-hot queries the softmax over 6 keys is so flat that the two keys translating to
    # "the" (le, la) outvote "table": exp(1/√6) < 2, so the soft average leaks
    out = vectors.attention(Q, m.K, m.V).output
    assert vectors.decode(out[-1], m.out_vocab)[0] == "the"


def test_mixed_query_and_which_key_wins():
    vocab = vectors.vocabulary(D)
    q = vectors.mixed_query(vocab, {"table": 0.95})
    assert vectors.decode(q, vocab)[0] == "table"
    assert vectors.cosine_similarity(q, np.eye(len(vocab)))[vocab.index("table")] == pytest.approx(1.0)
    # a 70/30 mix: the larger weight wins, with cosine 0.7/√(0.7²+0.3²)
    q = vectors.mixed_query(vocab, {"le": 0.7, "la": 0.3})
    word, sims = vectors.decode(q, vocab)
    assert word == "le" and sims[vocab.index("le")] == pytest.approx(0.7 / np.hypot(0.7, 0.3))
    # noise is seeded and of about the requested length
    n1 = vectors.mixed_query(vocab, {}, noise=0.5, seed=3)
    assert np.array_equal(n1, vectors.mixed_query(vocab, {}, noise=0.5, seed=3))
    assert not np.array_equal(n1, vectors.mixed_query(vocab, {}, noise=0.5, seed=4))
    assert 0.1 < np.linalg.norm(n1) < 1.5


def test_the_pages_small_sums_live_here():
    from llmviz.concepts import vectors

    assert vectors.two_word_mix("a", 0.5, "a", 0.25) == {"a": 0.75}
    assert vectors.two_word_mix("a", 0.5, "b", 0.25) == {"a": 0.5, "b": 0.25}
    vocab = ["a", "b", "c", "d"]
    (x, y), off = vectors.plane_of(np.array([0.9, 0.2, 3.0, 4.0]), vocab, "a", "b")
    assert (x, y) == (0.9, 0.2) and off == pytest.approx(5.0)
    K = np.eye(4)
    assert np.allclose(vectors.scaled_scores(np.array([2.0, 0, 0, 0]), K), [1.0, 0, 0, 0])  # divided by √4
    o = vectors.overflow_demo(np.array([1.0, 2.0]), 800.0)
    assert o.overflowed and np.isnan(o.naive).all() and np.allclose(o.stable, vectors.softmax([1.0, 2.0]))
    assert not vectors.overflow_demo(np.array([1.0, 2.0]), 0.0).overflowed
    keys = ["chat", "le"]
    Q = vectors.sentence_queries(["chat", "le"], keys, ["chat", "le"], 3.0)
    assert np.allclose(Q, 3 * np.eye(2))
