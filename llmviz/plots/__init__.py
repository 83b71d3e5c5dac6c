"""Figure builders: pure functions that return plotly Figures, one module per page or family of pages.

    common.py       labelled, annotated heatmaps readable in light and dark themes
    part1.py        part 1, dictionary to attention: alignments, one-hot and q·Kᵀ·V matrices, softmax, attention
    bpe.py          BPE: coloured token spans, the merges, how the text compresses
    embeddings.py   the embeddings page: word2vec's loss, the autoencoder, 2-D / 3-D projections
    training.py     part 2: loss curves (live and overlaid), next-token bars, attention, the model's diagram
    inside.py       the live look inside: the embedding table in 2-D, gradient norms per layer
    text.py         text coloured by the model's confidence in each token
    deep.py         training deep networks: gradient norms per layer, loss curves side by side
    transformer.py  the transformer page: the encoder-decoder's diagram, exact match and BLEU, cross-attention
    finetune.py     fine-tuning: learning the new text while forgetting the old one; LoRA's update
    instruct.py     instruct and chat: a conversation as the model sees it, held-out accuracy per task
    preference.py   preference tuning (DPO): its loss, reward margin and the answers' log-probabilities
    serving.py      a served model's requests over time
    retrieval.py    the vector-database page: chunk lengths, hits' scores, the 2-D map of the chunks
"""
