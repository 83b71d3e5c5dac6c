"""Text and its tokens (tutorial part 1, tokenization).

    tokenizers.py  the tokenizer interface, special tokens, the character and word tokenizers
    bpe.py         byte-level BPE with its merge history (the GPT-2 split pattern)
    saved.py       any tokenizer rebuilt from its saved form; the translation's pair of tokenizers
    corpus.py      what a text to learn from is (its name, characters, parts, how to make it again)
    corpora.py     the texts a model learns from: built-in plays, the Python reference, uploads, Tiny Shakespeare
    whitespace.py  one look for spaces, newlines and tabs (␣ ⏎ ⇥)
    world.py       a generated world: passages about invented people, questions whose answer passage is known
"""
