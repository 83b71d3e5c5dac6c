"""The one model family, built from one set of blocks (tutorial part 2).

    model.py            the decoder: one transformer (LM1-LM5 are its settings) that can record its insides
    encoder_decoder.py  the encoder-decoder built from the same blocks; cross-attention
    lora.py             LoRA from scratch: ΔW = B·A on chosen matrices, merge, unmerge, the base's fingerprint
    generate.py         decoding: sampling with temperature, top-k, top-p; each token's probability
    inside.py           a live look inside while it trains: attention, embeddings in 2-D, gradients
    flops.py            the FLOPs of a training step, and the model FLOPs utilisation (MFU)
"""
