"""The tutorial's concepts as plain functions, one module per group of pages (parts 1 and 2).

    lookup.py      literal translation, the Levenshtein table and alignment
    vectors.py     one-hot vectors, the dictionary as q·Kᵀ·V, cosine, softmax, attention
    word2vec.py    words, vocabulary, skip-gram pairs, word2vec training
    embeddings.py  an autoencoder, PCA / t-SNE projections, neighbours, word arithmetic
    next_token.py  (x, y) pairs and one prompt traced through a model
    cheating.py    LM1's punchline judged from what happened: the loss gap and the samples
    deep.py        gradients and activations per layer in deep stacks
"""
