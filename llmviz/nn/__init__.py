"""The one model family, built from one set of blocks (tutorial part 2).

    model.py            the decoder: one transformer (LM1-LM5 are its settings) that can record its insides
    encoder_decoder.py  the encoder-decoder built from the same blocks; cross-attention
    rotary.py           rotary position embeddings (RoPE): queries and keys turned by their position
    lora.py             LoRA from scratch: ΔW = B·A on chosen matrices, merge, unmerge, the base's fingerprint
    sampling.py         the one sampler: temperature, top-k, top-p, a seeded generator per row (generation and the server)
    generate.py         decoding: token after token, each one's probability; text cut at stop strings (StreamText)
    inside.py           a live look inside while it trains: attention, embeddings in 2-D, gradients
    flops.py            the FLOPs of a training step, and the model FLOPs utilisation (MFU)
"""
