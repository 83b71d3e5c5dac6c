"""Sampling: temperature, top-k, top-p, streaming, cropping to block_size, next-token probabilities."""

import torch
import torch.nn.functional as F

from llmviz.nn.generate import generate_stream, generate_text, next_token_probs
from llmviz.nn.sampling import Sampling, filter_logits, sample_rows
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer

torch.set_num_threads(1)  # tiny models: one thread is far faster (see llmviz.device.threads_for)


def small_model(seed=0, block=8):
    torch.manual_seed(seed)
    return LanguageModel(ModelConfig(vocab_size=20, block_size=block, n_embd=16, n_head=2, n_layer=2))


def test_stream_yields_token_ids_one_by_one_and_is_seeded():
    model = small_model()
    stream = generate_stream(model, [1, 2, 3], 30, seed=5)
    first = next(stream)
    assert isinstance(first, int) and 0 <= first < 20
    rest = list(stream)
    assert len(rest) == 29
    assert [first] + rest == list(generate_stream(model, [1, 2, 3], 30, seed=5))
    assert [first] + rest != list(generate_stream(model, [1, 2, 3], 30, seed=6))


def test_context_is_cropped_to_block_size():
    model = small_model(block=8)
    long_prompt = list(range(20)) * 2  # 40 tokens, longer than the context
    a = list(generate_stream(model, long_prompt, 12, seed=1))
    b = list(generate_stream(model, long_prompt[-8:], 12, seed=1))  # only the last 8 can matter
    assert a == b


def test_next_token_probs_is_the_softmax_of_the_last_position():
    model = small_model()
    ids = [3, 1, 4, 1, 5]
    probs = next_token_probs(model, ids)
    assert probs.shape == (20,) and abs(probs.sum().item() - 1) < 1e-5
    logits, _ = model(torch.tensor([ids]))
    assert torch.allclose(probs, F.softmax(logits[0, -1], -1), atol=1e-6)
    cooled = next_token_probs(model, ids, temperature=0.5)
    assert torch.allclose(cooled, F.softmax(logits[0, -1] / 0.5, -1), atol=1e-6)
    assert cooled.max() > probs.max()  # a low temperature sharpens the distribution


def test_temperature_zero_and_top_k_one_are_greedy():
    model = small_model()
    ids = [2, 7, 1]
    greedy = list(generate_stream(model, ids, 10, temperature=0))
    assert greedy == list(generate_stream(model, ids, 10, top_k=1, seed=3))
    # oracle: repeat argmax by hand
    ctx = list(ids)
    for tok in greedy:
        assert tok == int(next_token_probs(model, ctx).argmax())
        ctx.append(tok)


def test_top_k_keeps_exactly_the_k_most_likely():
    logits = torch.tensor([0.1, 2.0, -1.0, 3.0, 0.5])
    probs = F.softmax(filter_logits(logits, top_k=2), -1)
    assert set(torch.nonzero(probs).flatten().tolist()) == {1, 3}


def test_top_p_keeps_the_smallest_set_reaching_p():
    torch.manual_seed(0)
    logits = torch.randn(30)
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = set(torch.nonzero(F.softmax(filter_logits(logits, top_p=p), -1)).flatten().tolist())
        # oracle: walk the tokens from most to least likely in plain Python
        probs = F.softmax(logits, -1).tolist()
        expected, total = set(), 0.0
        for i in sorted(range(30), key=lambda i: -probs[i]):
            expected.add(i)
            total += probs[i]
            if total >= p:
                break
        assert kept == expected


def test_sampling_follows_the_distribution():
    model = small_model(seed=2)
    probs = next_token_probs(model, [5])
    logits, _ = model(torch.tensor([[5]]))
    g = torch.Generator().manual_seed(0)
    draws = sample_rows(logits[:, -1].expand(4000, -1), [Sampling()] * 4000, [g] * 4000)  # 4000 tokens
    freq = torch.bincount(torch.tensor(draws), minlength=20) / 4000
    # every token is drawn about as often as its probability says (4 standard errors at most)
    assert torch.all((freq - probs).abs() <= 4 * (probs * (1 - probs) / 4000).sqrt() + 1e-3)
    # the stream draws the same way: its first token, over seeds, lands on likely tokens
    firsts = [next(generate_stream(model, [5], 1, seed=s)) for s in range(30)]
    assert sum(probs[t] for t in firsts) / 30 > probs.pow(2).sum() / 2


def test_generation_never_changes_the_model_and_text_decodes():
    tok = CharTokenizer().train("abcdefghijklmnopqrst")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=20, block_size=8, n_embd=16, n_head=2, n_layer=2, dropout=0.3))
    model.train()  # a model in training mode, with dropout: inference must still be deterministic
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = generate_text(model, tok, "abc", 15, seed=0)
    b = generate_text(model, tok, "abc", 15, seed=0)
    assert a == b and len(a) == 15 and set(a) <= set(tok.chars)
    assert model.training  # its mode was never switched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_greedy_generation_matches_argmax_step_by_step():
    model = small_model()
    ids = [4, 2, 9]
    expected = list(ids)
    with torch.no_grad():
        for _ in range(12):  # the definition, spelled out: the most likely next token, appended, again
            logits, _ = model(torch.tensor([expected[-model.config.block_size:]]))
            expected.append(int(logits[0, -1].argmax()))
    assert list(generate_stream(model, ids, 12, temperature=0)) == expected[3:]


def test_many_threads_generating_from_one_model_get_the_serial_texts():
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(1)
    model = LanguageModel(ModelConfig(vocab_size=20, block_size=8, n_embd=16, n_head=2, n_layer=2, dropout=0.2))
    model.train()
    seeds = list(range(16))
    serial = {s: list(generate_stream(model, [1, 2, 3], 40, temperature=0.9, top_k=10, seed=s)) for s in seeds}
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = dict(zip(seeds, pool.map(
            lambda s: list(generate_stream(model, [1, 2, 3], 40, temperature=0.9, top_k=10, seed=s)), seeds)))
    assert parallel == serial
    assert len({tuple(v) for v in serial.values()}) > 1  # the seeds do matter
