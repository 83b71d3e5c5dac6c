"""Small texts and embedders for the vector-database tests: built in milliseconds, never downloaded."""

from __future__ import annotations

import numpy as np

from llmviz.text import corpora
from llmviz.retrieval import embedders

TOPICS = {
    "sea": "sea ship wave storm sail tide shore anchor salt sailor harbour drown".split(),
    "war": "sword battle soldier blood drum armour victory enemy siege spear banner march".split(),
    "love": "love heart kiss sweet lady rose gentle tender marry beauty sigh fair".split(),
    "feast": "bread wine feast meat cup table supper hungry cook salt apple honey".split(),
    "night": "night moon star dark sleep dream owl candle ghost midnight shadow grave".split(),
}
COMMON = "the and my of to a thy is in that".split()
SPEAKERS = ["ANTONIO", "BEATRICE", "CLAUDIO", "DOGBERRY", "FIRST WATCH"]
PLAYS = ["The Sea Play", "The War Play", "The Night Play"]


def speech_corpus(n_speeches: int = 300, seed: int = 0, long_every: int = 0) -> corpora.Corpus:
    """A Tiny-Shakespeare-shaped text: three "plays", five speakers, each speech mostly about one topic.
    With long_every = n, every n-th speech is long (several lines), so it is cut into windows."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    plays, starts, text = [], [], ""
    per_play = -(-n_speeches // len(PLAYS))
    for i in range(n_speeches):
        if i % per_play == 0:
            starts.append(len(text))
            plays.append(PLAYS[i // per_play])
        topic = TOPICS[topics[rng.integers(len(topics))]]
        n_lines = 6 if long_every and i % long_every == 0 else int(rng.integers(1, 3))
        lines = []
        for _ in range(n_lines):
            words = list(rng.choice(topic, size=int(rng.integers(4, 7)))) + list(rng.choice(COMMON, size=2))
            rng.shuffle(words)
            lines.append(" ".join(words).capitalize() + rng.choice([",", ".", "!", ";"]))
        text += f"{SPEAKERS[i % len(SPEAKERS)]}:\n" + "\n".join(lines) + "\n\n"
    return corpora.Corpus("Test plays", text, tuple(zip(starts, plays)))


def word2vec_embedder(corpus: corpora.Corpus, dim: int = 12, seed: int = 0) -> embedders.Word2VecEmbedder:
    """Random word vectors for the corpus's words (the mean's maths does not need trained vectors)."""
    from llmviz.concepts.word2vec import word_tokens

    words = sorted(set(word_tokens(corpus.text)))
    return embedders.Word2VecEmbedder(words, np.random.default_rng(seed).normal(size=(len(words), dim)))


def lm_embedder(corpus: corpora.Corpus, seed: int = 0, block_size: int = 16) -> embedders.LMEmbedder:
    """A small untrained character model: its hidden states are still a deterministic embedding."""
    import torch

    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.text.tokenizers import CharTokenizer

    torch.manual_seed(seed)
    tok = CharTokenizer().train(corpus.text)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=block_size, n_embd=16, n_head=2, n_layer=2))
    return embedders.LMEmbedder(model, tok)


def brute_force(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of the query to every row, in float64: the reference every search must match."""
    v = np.asarray(vectors, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    return (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))


def assert_same_ranking(hit_ids, hit_scores, ids, vectors, query, k, atol=1e-5):
    """The hits are the k best rows by brute-force cosine, in order, up to ties (rows whose scores are
    equal within atol may swap), and each reported score is the true cosine."""
    sims = brute_force(vectors, query)
    order = np.argsort(-sims, kind="stable")[:k]
    by_id = dict(zip(ids.tolist(), sims))
    assert len(hit_ids) == min(k, len(ids))
    for rank, (i, s) in enumerate(zip(hit_ids, hit_scores)):
        assert abs(by_id[i] - sims[order[rank]]) <= atol, (rank, i)  # the rank's true score
        assert abs(s - by_id[i]) <= atol  # the score reported is the cosine
    distinct = [r for r in range(len(order)) if all(abs(sims[order[r]] - sims[order[o]]) > atol
                                                    for o in range(len(order)) if o != r)]
    assert [hit_ids[r] for r in distinct] == [int(ids[order[r]]) for r in distinct]
