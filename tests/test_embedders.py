"""Embedders against independent references: LSA = scikit-learn's TF-IDF + TruncatedSVD pipeline, the
word2vec mean = a plain loop over the words, the language model's mean = its final norm's output caught
by a forward hook; each saved and read back unchanged; unknown words reported."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

from llmviz.retrieval import embedders
from llmviz.retrieval.chunking import ChunkConfig, chunk
from llmviz.concepts.word2vec import word_tokens
from tests.vector_fixtures import lm_embedder, speech_corpus, word2vec_embedder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def texts():
    return [c.text for c in chunk(speech_corpus(120), ChunkConfig("speech", 600, 0))]


@pytest.mark.parametrize("stop_words, sublinear", [(False, True), (True, False)])
def test_lsa_vectors_match_scikit_learns_pipeline(texts, stop_words, sublinear):
    cfg = embedders.LSAConfig(dim=16, min_df=2, stop_words=stop_words, sublinear_tf=sublinear, seed=3)
    lsa = embedders.LSAEmbedder.fit(texts, cfg)
    # the reference, written out independently of llmviz's helper
    reference = make_pipeline(
        TfidfVectorizer(token_pattern=r"[^\W\d_]+(?:'[^\W\d_]+)*", lowercase=True, min_df=2, max_features=20000,
                        stop_words="english" if stop_words else None, sublinear_tf=sublinear),
        TruncatedSVD(n_components=16, random_state=3))
    expected = reference.fit_transform(texts)
    np.testing.assert_allclose(lsa.embed(texts), expected, atol=1e-5)
    # the TF-IDF step alone equals scikit-learn's on new text too
    new = ["The sea and the ship, a storm at sea!", "xyzzy"]
    np.testing.assert_allclose(lsa.tfidf(new).toarray(), reference[0].transform(new).toarray(), atol=1e-12)
    np.testing.assert_allclose(lsa.embed(new), reference.transform(new), atol=1e-5)
    assert lsa.dim == 16 and lsa.settings()["vocabulary"] == len(reference[0].vocabulary_)


def test_lsa_dimension_shrinks_to_what_the_data_allows():
    lsa = embedders.LSAEmbedder.fit(["sea ship", "ship storm", "storm sea", "sea sea"], embedders.LSAConfig(dim=50, min_df=1))
    assert lsa.dim == 2  # 3 words, 4 texts: at most min(3, 4) - 1 components
    with pytest.raises(embedders.EmbedderError, match="no usable word"):
        embedders.LSAEmbedder.fit(["1 2 3", "4 5"], embedders.LSAConfig(min_df=1))


def test_word2vec_mean_is_the_mean_of_the_known_words_vectors(texts):
    w2v = word2vec_embedder(speech_corpus(120))
    got = w2v.embed(texts[:20] + ["xyzzy plugh", ""])
    for i, t in enumerate(texts[:20]):
        rows = [w2v.vectors[w2v.index[w]] for w in word_tokens(t) if w in w2v.index]
        np.testing.assert_allclose(got[i], np.mean(rows, axis=0), rtol=1e-5, atol=1e-6)
    assert not got[20].any() and not got[21].any()  # nothing known: a zero vector
    assert w2v.split_known("The SEA, xyzzy!") == (["the", "sea"], ["xyzzy"])


def test_word2vec_embedder_from_a_trained_result():
    from llmviz.concepts.word2vec import Word2VecConfig, train_word2vec

    corpus = speech_corpus(60)
    result = train_word2vec(word_tokens(corpus.text), Word2VecConfig(dim=8, epochs=1, min_count=2))
    w2v = embedders.Word2VecEmbedder.from_result(result)
    assert w2v.words == list(result.vocab.words) and np.array_equal(w2v.vectors, result.vectors)


def _hooked_mean(emb, text):
    """Reference: run each window of block_size tokens through the model and catch the final layer norm's
    output with a forward hook; average over every token of every window."""
    ids = emb.tokenizer.encode(text)
    bs = emb.model.config.block_size
    caught = []
    handle = emb.model.ln_f.register_forward_hook(lambda m, i, o: caught.append(o.detach()))
    try:
        with torch.no_grad():
            for j in range(0, len(ids), bs):
                emb.model(torch.tensor([ids[j:j + bs]]))
    finally:
        handle.remove()
    return torch.cat([c[0] for c in caught]).double().mean(0).numpy()


def test_lm_embedding_is_the_mean_final_hidden_state_window_by_window(texts):
    emb = lm_embedder(speech_corpus(120), block_size=16)
    sample = [texts[0][:10], texts[1], texts[2] * 3, "To be, or not to be"]  # shorter and longer than a block
    got = emb.embed(sample)
    assert got.shape == (4, 16)
    for row, t in zip(got, sample):
        np.testing.assert_allclose(row, _hooked_mean(emb, t), rtol=1e-4, atol=1e-5)
    # a character the model cannot spell is skipped and reported
    known, unknown = emb.split_known("sea ✓")
    assert known and unknown == ["✓"]
    np.testing.assert_allclose(emb.embed(["sea ✓"])[0], _hooked_mean(emb, "sea "), rtol=1e-4, atol=1e-5)
    assert emb.split_known("✓✓") == ([], ["✓", "✓"])


@pytest.mark.parametrize("make", ["lsa", "word2vec", "lm"])
def test_saved_embedders_read_back_identical(tmp_path, texts, make):
    corpus = speech_corpus(120)
    emb = {"lsa": lambda: embedders.LSAEmbedder.fit(texts, embedders.LSAConfig(dim=8)), "word2vec": lambda: word2vec_embedder(corpus),
           "lm": lambda: lm_embedder(corpus)}[make]()
    emb.save(tmp_path)
    back = embedders.load(tmp_path, make)
    assert type(back) is type(emb) and back.fingerprint == emb.fingerprint and back.dim == emb.dim
    np.testing.assert_array_equal(back.embed(texts[:10]), emb.embed(texts[:10]))
    assert back.identity() == emb.identity()
    assert not list(tmp_path.glob("*.pkl"))


def test_fingerprints_tell_embedders_apart(texts):
    a = embedders.LSAEmbedder.fit(texts, embedders.LSAConfig(dim=8))
    assert embedders.LSAEmbedder.fit(texts, embedders.LSAConfig(dim=8)).fingerprint == a.fingerprint  # deterministic
    assert embedders.LSAEmbedder.fit(texts[:-5], embedders.LSAConfig(dim=8)).fingerprint != a.fingerprint
    corpus = speech_corpus(120)
    assert word2vec_embedder(corpus, seed=1).fingerprint != word2vec_embedder(corpus, seed=2).fingerprint
    assert lm_embedder(corpus, seed=1).fingerprint != lm_embedder(corpus, seed=2).fingerprint


def test_loading_a_damaged_embedder_is_explained(tmp_path):
    (tmp_path / "lsa.npz").write_bytes(b"not a zip")
    with pytest.raises(embedders.EmbedderError, match="cannot be read"):
        embedders.load(tmp_path, "lsa")
    with pytest.raises(embedders.EmbedderError, match="unknown embedder"):
        embedders.load(tmp_path, "bert")
