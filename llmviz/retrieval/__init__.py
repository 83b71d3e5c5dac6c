"""Retrieval (tutorial part 4): a corpus cut into chunks, embedded, stored in LanceDB, searched.

    chunking.py       cut a corpus into chunks: by speech or packed paragraphs, size, overlap
    embedders.py      chunk -> vector: LSA, mean word2vec, mean hidden state of a model
    vectordb.py       LanceDB tables with their provenance; exact search, filters
    ann.py            IVF-PQ / HNSW indexes, recall@k and latency against exact search
    rag.py            build a table from a corpus; RAG prompts and answers; the 2-D map
    langchain_rag.py  the same pipeline as a LangChain retriever and chain
"""
