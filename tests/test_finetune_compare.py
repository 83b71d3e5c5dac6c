"""LoRA's rows for new tokens, what each method must keep, and the sentence that reads the table."""

import pytest
import torch
from safetensors.torch import save

from llmviz.io import checkpoint
from llmviz.nn import lora
from llmviz.tasks import finetune, finetune_compare
from tests.test_finetune import DOMAIN, ORIGINAL, base, tune  # noqa: F401 (the module's base fixture)

torch.set_num_threads(1)


def test_the_new_tokens_are_those_of_the_new_text_the_original_never_uses(base):
    ids = finetune.new_tokens(base.tokenizer, DOMAIN, ORIGINAL)
    assert set(base.tokenizer.decode(list(ids))) == set(DOMAIN) - set(ORIGINAL)
    assert finetune.new_tokens(base.tokenizer, DOMAIN, None) == ()
    assert finetune.new_tokens(base.tokenizer, ORIGINAL, ORIGINAL) == ()


def test_trained_rows_replace_only_their_rows_as_a_table_with_those_rows_written_in_would():
    torch.manual_seed(0)
    emb, head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10)
    rows = lora.TrainedRows(emb, [2, 7])
    x = torch.tensor([[1, 2, 7, 3]])
    assert torch.equal(rows(x), emb(x))  # starts as the base's rows
    with torch.no_grad():
        rows.token_rows.add_(1.0)
    table = emb.weight.detach().clone()
    table[[2, 7]] += 1.0
    assert torch.equal(rows(x), torch.nn.functional.embedding(x, table))
    hrows = lora.TrainedRows(head, [2, 7])
    hrows(torch.randn(3, 4)).sum().backward()
    assert emb.weight.grad is None and hrows.token_rows.grad is not None and hrows.token_bias.grad is not None
    rows.merge()  # merged, the base table holds the rows; unmerged, exactly the base again
    assert torch.equal(emb.weight, table) and torch.equal(rows(x), torch.nn.functional.embedding(x, table))
    rows.unmerge()
    table[[2, 7]] -= 1.0
    assert torch.allclose(emb.weight, table)


def test_lora_trains_the_new_tokens_rows_and_its_adapter_file_brings_them_back(base):
    run = tune(base, "lora", rank=2, alpha=4.0)
    ids = finetune.new_tokens(base.tokenizer, DOMAIN, ORIGINAL)
    assert run.model.adapters.tokens == ids and run.model.adapters.targets == tuple(lora.TARGETS)
    run.train()
    moved = run.model.lm_head.token_rows.detach() - base.model.lm_head.weight.detach()[list(ids)]
    assert moved.abs().max() > 0
    same = checkpoint.from_bytes(checkpoint.to_bytes(base.model, base.tokenizer, base.train_config, extra=base.extra))
    loaded = checkpoint.load_adapter(finetune.to_keep(run), same).model
    idx = torch.tensor([base.tokenizer.encode(DOMAIN[:16])])
    with torch.no_grad():
        assert torch.equal(loaded(idx)[0], run.model(idx)[0])
    off = tune(base, "lora", rank=2, alpha=4.0, new_token_rows=False)
    assert off.model.adapters.tokens == () and off.n_trainable < run.n_trainable


def test_only_what_trained_is_kept(base):
    full, frozen, adapted = (tune(base, m, rank=2, alpha=4.0) for m in ("full", "frozen", "lora"))
    trained = {n: p.detach().contiguous() for n, p in frozen.model.named_parameters() if p.requires_grad}
    assert finetune_compare.bytes_to_keep(frozen) == len(save(trained))
    assert finetune_compare.bytes_to_keep(full) == len(finetune.to_keep(full))
    assert finetune_compare.bytes_to_keep(adapted) == len(finetune.to_keep(adapted))
    assert finetune_compare.bytes_to_keep(adapted) < finetune_compare.bytes_to_keep(frozen) < \
        finetune_compare.bytes_to_keep(full)


def numbers(new, original, size, rank=4):
    return {"trainable": 100, "params": 1000, "steps": 300, "new_start": 3.0, "new": new, "original_start": 1.5,
            "original": original, "ms": 5.0, "bytes": size, "rank": rank}


@pytest.mark.parametrize("lo, full, words", [
    (numbers(1.70, 1.90, 10_000), numbers(1.60, 2.30, 1_000_000, None),
     ["LoRA r = 4", "1.700", "0.10 nats above full fine-tuning's 1.600", "forgets less", "1.900 against 2.300",
      "10,000 bytes", "100× less"]),
    (numbers(1.50, 2.40, 50_000, 16), numbers(1.60, 2.30, 1_000_000, None),
     ["LoRA r = 16", "0.10 nats below", "forgets more", "2.400 against 2.300", "20× less"]),
    (numbers(1.60, 2.30, None, 1), numbers(1.60, 2.30, None, None),
     ["LoRA r = 1", "as low as full fine-tuning (1.600)", "forgets as much"]),
])
def test_the_sentence_under_the_table_is_written_from_its_numbers(lo, full, words):
    text = finetune_compare.reading({"full": full, "lora": lo})
    for w in words:
        assert w in text, (w, text)
    assert ("bytes" in text) == (lo["bytes"] is not None)


def test_without_full_fine_tuning_the_sentence_says_what_lora_forgot_and_nothing_before_a_loss():
    text = finetune_compare.reading({"lora": numbers(1.7, 1.9, None)})
    assert "from 1.500 to 1.900" in text and "full" not in text
    assert finetune_compare.reading({"lora": numbers(None, None, None)}) == ""
    assert finetune_compare.reading({"full": numbers(1.6, 2.3, 5)}) == ""
