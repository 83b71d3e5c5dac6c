"""Retrieval (tutorial part 4): a corpus cut into chunks, embedded, stored in LanceDB, searched.

    chunking.py       cut a corpus into chunks: by speech or packed paragraphs, size, overlap
    embedders.py      chunk -> vector: LSA, mean word2vec, mean hidden state of a model
    database.py       a database folder: where it is, its tables, whether it can be written
    provenance.py     what a table records about itself (corpus, chunking, embedder) and its columns
    sidecar.py        the embedder (and a copy of the provenance) each table keeps beside it
    search.py         exact and approximate search, filters, hits
    keywords.py       LanceDB's full-text (BM25) index and search, hybrid search fused by reciprocal rank
    play_questions.py questions about the built-in plays in other words than the lines that answer them
    evaluate.py       question sets with known answer chunks (world, plays, quotes); recall@k and MRR per method
    vectordb.py       a LanceDB table of chunks and vectors: make, open, add, what it holds
    synthetic.py      synthetic vectors (a Gaussian mixture) for a table large enough to need an index
    ann.py            IVF-PQ / HNSW indexes, recall@k and latency against exact search, synthetic tables
    rag.py            build a table from a corpus; RAG prompts and answers; the 2-D map
    rag_eval.py       RAG measured: a world's questions answered with and without retrieval, graded
    compare.py        the three searches side by side in words; which words to bold
    prompt_view.py    a RAG prompt as the model reads it: passages, tags, what lies outside the context
    langchain_rag.py  the same pipeline as a LangChain retriever and chain
"""
