"""A tiny model trained for 600 steps on the tool-call format (the tools listed in its prompt, a
call, the tool's result, the answer), then driven the standard ways on held-out 3-digit sums: the official
`openai` client through a round trip, LangChain's create_agent over HTTP (ChatOpenAI) and in-process
(CheckpointChatModel); tool_choice "none" takes the calculator away."""

from __future__ import annotations

import json
import random
import string

import openai
import pytest
import torch
from langchain_openai import ChatOpenAI

from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.serving import agent
from llmviz.serving.langchain_llm import CheckpointChatModel
from llmviz.serving.server import Server
from llmviz.tasks import chat, instruct, tools
from llmviz.tasks.chat import Message
from llmviz.tasks.tools import CALCULATOR, LOOKUP, WEATHER, ToolCall
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

pytestmark = pytest.mark.slow
TOOLS = [tools.openai_schema(CALCULATOR), tools.openai_schema(WEATHER)]


def sums(n: int, held: bool, seed: int) -> list[tuple[int, int]]:
    """3-digit pairs; a fixed fifth of them (by a rule on the pair) never trains."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        if ((a * 7 + b) % 5 == 0) == held:
            out.append((a, b))
    return out


def conversation(a: int, b: int, rng: random.Random) -> instruct.Example:
    expr, result = f"{a}+{b}", str(a + b)
    others = [t for t in (WEATHER, LOOKUP) if rng.random() < 0.5]
    listed = others[:]
    listed.insert(rng.randint(0, len(others)), CALCULATOR)  # the calculator alone or among others, anywhere
    return instruct.Example("tool", (Message("system", tools.tools_text(listed)), Message("user", f"What is {expr}?"),
                                     Message("assistant", "", (ToolCall("calculator", {"expression": expr}),)),
                                     Message("tool", result), Message("assistant", result)), result)


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = chat.with_chat_tokens(CharTokenizer().train(string.printable))
    rng = random.Random(1)
    train = [conversation(a, b, rng) for a, b in sums(3000, False, 0)]
    held = [conversation(a, b, rng) for a, b in sums(20, True, 1)]
    cfg = ModelConfig(vocab_size=tok.vocab_size, block_size=128, n_embd=48, n_head=4, n_layer=2)
    run = TrainingRun(LanguageModel(cfg), tok, instruct.InstructBatches(tok, train, held, cfg.block_size),
                      TrainConfig(max_iters=600, batch_size=32, learning_rate=3e-3, min_lr=3e-4, lr_decay=True,
                                  warmup_iters=30, eval_iters=2, eval_interval=10_000, sample_tokens=0,
                                  weight_decay=0.0))
    run.train()
    server = Server(run.model, tok, "tiny-tools").start()
    yield run.model, tok, server
    server.stop()


HELD = sums(8, True, 2)


def test_a_round_trip_with_the_official_client_on_held_out_sums(trained):
    _, _, server = trained
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)
    right = 0
    for a, b in HELD:
        question = [{"role": "user", "content": f"What is {a}+{b}?"}]
        first = client.chat.completions.create(model="tiny-tools", messages=question, tools=TOOLS, temperature=0)
        call = first.choices[0].message.tool_calls[0]
        assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "calculator"
        result = tools.calculator(json.loads(call.function.arguments)["expression"])
        final = client.chat.completions.create(model="tiny-tools", temperature=0, tools=TOOLS, messages=question + [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": result}])
        right += final.choices[0].message.content == str(a + b)
    assert right >= 0.75 * len(HELD)
    none = client.chat.completions.create(model="tiny-tools", messages=question, tools=TOOLS, tool_choice="none",
                                          temperature=0)
    assert none.choices[0].message.tool_calls is None and none.choices[0].finish_reason in ("stop", "length")


def test_langchain_create_agent_on_held_out_sums_over_http_and_in_process(trained):
    model, tok, server = trained
    over_http = ChatOpenAI(model="tiny-tools", base_url=server.base_url, api_key="unused", temperature=0,
                           max_tokens=60, max_retries=0)
    in_process = CheckpointChatModel(network=model, tokenizer=tok, temperature=0, max_tokens=60)
    for chat_model in (over_http, in_process):
        right = 0
        for a, b in HELD:
            messages = list(agent.run_langchain_agent(chat_model, f"What is {a}+{b}?"))
            kinds = [s.kind for s in agent.steps(messages)]
            right += kinds == ["question", "call", "result", "answer"] and messages[-1].content == str(a + b)
        assert right >= 0.75 * len(HELD), chat_model
