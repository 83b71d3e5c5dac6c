"""LangChain on the learner's model: langchain-openai's OpenAI and ChatOpenAI against our server, the
in-process adapter in a chain (honouring stop), chat memory, and LangChain's own agent (create_agent) calling
the calculator, in-process and over HTTP."""

from __future__ import annotations

import string

import pytest
import torch
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI, OpenAI

from llmviz.serving import agent
from llmviz.nn.generate import generate_text
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.tokenizers import CharTokenizer
from llmviz.serving.langchain_llm import (CheckpointChatModel, CheckpointLLM, OpenAICompatibleChatModel,
                                  OpenAICompatibleLLM)
from tests.test_serve import NAME, client, run, server  # noqa: F401  (fixtures)
from tests.test_tool_calls import TOKENIZER, Scripted, scripted  # noqa: F401  (a fixture)


def test_langchain_openai_completion_model_honours_stop(server, client):
    # max_tokens is given, so langchain never asks tiktoken (which would download encodings) to count
    llm = OpenAI(model=NAME, base_url=server.base_url, api_key="unused", max_tokens=30, seed=4, temperature=1,
                 max_retries=0)
    full = llm.invoke("ROMEO:")
    assert full == client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=30, seed=4).choices[0].text
    stop = next(c for c in full[2:] if c.strip())
    assert llm.invoke("ROMEO:", stop=[stop]) == full[:full.index(stop)]


def test_chat_openai_invoke_stream_and_a_chain(server, client):
    model = ChatOpenAI(model=NAME, base_url=server.base_url, api_key="unused", max_tokens=15, seed=2, max_retries=0)
    msg = model.invoke("O Romeo")
    assert msg.usage_metadata["output_tokens"] > 0
    assert msg.content == client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "O Romeo"}],
                                                         max_tokens=15, seed=2).choices[0].message.content
    assert "".join(c.content for c in model.stream("O Romeo")) == msg.content
    chain = ChatPromptTemplate.from_messages([("human", "{who}")]) | model | StrOutputParser()
    assert chain.invoke({"who": "O Romeo"}) == msg.content


def test_our_http_adapters_match_the_official_client(server, client):
    llm = OpenAICompatibleLLM(base_url=server.base_url, model_name=NAME, max_tokens=12, seed=8, temperature=0.8)
    assert llm.invoke("JULIET:") == client.completions.create(model=NAME, prompt="JULIET:", max_tokens=12, seed=8,
                                                              temperature=0.8).choices[0].text
    chat_model = OpenAICompatibleChatModel(base_url=server.base_url, model_name=NAME, max_tokens=12, seed=8)
    assert isinstance(chat_model.invoke("Romeo").content, str)
    with pytest.raises(Exception, match="does not exist"):
        OpenAICompatibleLLM(base_url=server.base_url, model_name="nope").invoke("x")


def test_in_process_llm_in_a_chain_honours_stop(run):
    llm = CheckpointLLM(network=run.model, tokenizer=run.tokenizer, max_tokens=40, temperature=1.0, seed=3)
    text = agent.scene_chain(llm).invoke({"character": "ROMEO", "opening": "But"})
    assert text == generate_text(run.model, run.tokenizer, "ROMEO:\nBut", 40, temperature=1.0, seed=3)
    stop = next(c for c in text[2:] if c.strip())
    cut = llm.invoke("ROMEO:\nBut", stop=[stop])
    assert cut == text[:text.index(stop)] and stop not in cut


def test_chat_memory_puts_the_history_back_into_the_prompt(run):
    model = CheckpointChatModel(network=run.model, tokenizer=run.tokenizer, max_tokens=10, seed=1)
    talk = agent.Conversation(model, system="Be kind")
    first = talk.say("O Romeo")
    prompt = talk.prompt_for("JULIET")
    assert [m.type for m in prompt] == ["system", "human", "ai", "human"]
    assert prompt[1].content == "O Romeo" and prompt[2].content == first
    talk.say("JULIET")
    assert len(talk.history) == 4


def test_calculator_is_arithmetic_only():
    assert agent.calculate("12*(3+4)") == "84"
    assert agent.calculate("1024 / 4") == "256"
    assert agent.calculator.invoke("7 / 2") == "3.5"
    assert agent.calculate("1/0") == "error: division by zero"
    assert agent.calculate("__import__('os').system('true')").startswith("error")
    assert agent.calculate("9**9**9").startswith("error")  # powers are not offered


def test_langchain_create_agent_in_process_calls_the_calculator():
    # the stand-in writes what a trained instruct model writes (a protocol test; the trained model: test_agent_*)
    model = CheckpointChatModel(network=Scripted(TOKENIZER), tokenizer=TOKENIZER, max_tokens=60, temperature=0)
    messages = list(agent.run_langchain_agent(model, "What is 123+456?"))
    kinds = [s.kind for s in agent.steps(messages)]
    assert kinds == ["question", "call", "result", "answer"]
    assert messages[1].tool_calls[0]["args"] == {"expression": "123+456"} and messages[2].content == "579"
    assert messages[-1].content == "579"


def test_langchain_create_agent_over_http_with_chat_openai(scripted):
    stand_in, _ = scripted
    model = ChatOpenAI(model="scripted", base_url=stand_in.base_url, api_key="unused", max_tokens=60, max_retries=0)
    messages = list(agent.run_langchain_agent(model, "What is 321+100?"))
    assert [s.kind for s in agent.steps(messages)] == ["question", "call", "result", "answer"]
    assert messages[-1].content == "421"


def test_the_hand_written_loop_does_what_the_framework_does():
    model = CheckpointChatModel(network=Scripted(TOKENIZER), tokenizer=TOKENIZER, max_tokens=60, temperature=0)
    by_hand = agent.agent_loop(model, "What is 5*6?")
    framework = list(agent.run_langchain_agent(model, "What is 5*6?"))
    assert [(s.kind, s.text) for s in agent.steps(by_hand)] == [(s.kind, s.text) for s in agent.steps(framework)]
    assert by_hand[-1].content == "30"


def test_a_tool_error_reaches_the_model_and_nothing_breaks():
    model = CheckpointChatModel(network=Scripted(TOKENIZER, block_size=512), tokenizer=TOKENIZER, max_tokens=300,
                                temperature=0)
    for question, error in (("What is 1/0?", "error: division by zero"),
                            ("What is " + "9" * 250 + "+1?", "error: the expression is longer than 200 characters")):
        messages = list(agent.run_langchain_agent(model, question))
        assert [(s.kind, s.text) for s in agent.steps(messages)][2:] == [("result", error), ("answer", error)]


def test_agent_with_a_base_model_answers_without_a_tool():
    tok = CharTokenizer().train(string.printable)
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=64, n_embd=16, n_head=2))
    chat_model = CheckpointChatModel(network=model, tokenizer=tok, max_tokens=20, seed=0)
    kinds = [s.kind for s in agent.steps(agent.run_langchain_agent(chat_model, "What is 1+1?"))]
    assert kinds == ["question", "answer"]  # a base model has no <|call|> token: it can only answer in words
