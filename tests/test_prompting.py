"""Prompt engineering measured: each wording's whole answer marked with instruct.correct, and the
comparison read from its results (other results, other words)."""

import torch

from llmviz.tasks import chat, instruct, prompting
from llmviz.tasks.chat import Message
from llmviz.tasks.instruct_data import Example
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer

torch.set_num_threads(1)

TOK = chat.with_chat_tokens(CharTokenizer().train("What color is the sky? grey green blue Compute Which colour"))


def example():
    return Example("context", (Message("user", "What color is the sky?"), Message("assistant", "grey")), "grey")


def test_each_wording_is_answered_whole_and_marked_by_the_tasks_own_check():
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=TOK.vocab_size, block_size=64, n_embd=16, n_head=2, n_layer=1))
    ex = example()
    variants = {"as trained": list(ex.prompt), "reworded": [Message("user", "Which colour has the sky?")]}
    results = prompting.wordings(model, TOK, ex, variants)
    assert [w.label for w in results] == list(variants)
    for w, msgs in zip(results, variants.values()):
        assert w.answer == instruct.reply(model, TOK, msgs)  # the whole greedy answer
        assert w.right == instruct.correct(ex, w.answer)
        probs = instruct.first_token_probs(model, TOK, msgs)
        assert w.top_prob == float(probs.max()) and w.top_token == TOK.decode([int(probs.argmax())])
        assert w.tokens == len(chat.encode(TOK, msgs, generation_prompt=True)[0]) and not w.cut
    assert 0.0 <= prompting.accuracy(model, TOK, ex, variants["as trained"], n=3) <= 1.0


def wording(label, answer, right, top="g", prob=0.995, cut=False):
    return prompting.Wording(label, 20, cut, answer, right, top, prob)


def test_the_reading_is_written_from_the_results():
    misled = [wording("as trained", "green", False), wording("reworded", "grey", True, prob=0.4)]
    text = prompting.reading(misled)
    assert "1 of 2 wordings get the right answer (reworded)" in text
    assert "\"as trained\" starts with 'g' at 100% and still answers 'green'" in text
    text = prompting.reading(misled, {"as trained": 0.35, "reworded": 0.9})
    assert "\"reworded\" is right 90% of the time, \"as trained\" 35%" in text
    good = [wording("as trained", "grey", True), wording("three examples first", "grey", True, cut=True)]
    text = prompting.reading(good, {"as trained": 1.0, "three examples first": 1.0})
    assert "2 of 2 wordings" in text and "as every other wording" in text and "confident" not in text
    assert "longer than the context" in text
    assert prompting.reading([]) == ""
