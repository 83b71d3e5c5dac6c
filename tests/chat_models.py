"""A chat model built, not trained, for tests of where a turn ends: a real LanguageModel of the one family
(one block whose weights are all zero, so it adds nothing to the residual; one-hot embeddings) whose head maps each token to the next one of a script, so after
"<|assistant|>" it writes exactly the script, whatever came before (greedy or at any usual temperature).

    tok = chat.with_chat_tokens(CharTokenizer().train(string.printable))
    model = scripted_model(tok, ["Rome", "<|user|>", "Venice", "<|end|>"])  # writes "Rome", then a role tag
"""

from __future__ import annotations

import torch

from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.tasks import chat


def script_ids(tokenizer, script) -> list[int]:
    """The script's pieces as ids: a special token's name is its one id, any other text its characters."""
    ids = []
    for piece in script:
        ids += [tokenizer.special_id(piece)] if piece in tokenizer.special_tokens else tokenizer.encode_ordinary(piece)
    return ids


@torch.no_grad()
def scripted_model(tokenizer, script, block_size: int = 64, sure: float = 30.0) -> LanguageModel:
    """After "<|assistant|>" the model writes the script's ids one after the other (each id may appear once in
    it); after its last, and after any other token, it writes "<|end|>"."""
    ids = script_ids(tokenizer, script)
    if len(set(ids)) != len(ids) or tokenizer.special_id("<|assistant|>") in ids:
        raise ValueError("a bigram script needs each token once, and no <|assistant|> in it")
    vocab = tokenizer.vocab_size
    model = LanguageModel(ModelConfig(vocab_size=vocab, block_size=block_size, n_embd=vocab, n_head=1, n_layer=1,
                                      pos_emb=False, layer_norm=False))
    after = {t: tokenizer.special_id(chat.END) for t in range(vocab)}
    chain = [tokenizer.special_id("<|assistant|>"), *ids]
    after.update(zip(chain, chain[1:]))
    for p in model.blocks.parameters():
        p.zero_()  # the block adds nothing: each position's logits depend on its own token alone
    model.token_embedding.weight.copy_(torch.eye(vocab))
    head = torch.zeros(vocab, vocab)
    for t, nxt in after.items():
        head[nxt, t] = sure
    model.lm_head.weight.copy_(head)
    model.lm_head.bias.zero_()
    return model
