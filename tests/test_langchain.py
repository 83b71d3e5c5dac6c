"""LangChain on the learner's model: langchain-openai's OpenAI and ChatOpenAI against our server, the
in-process adapter in a chain (honouring stop), chat memory, and the agent loop with its calculator."""

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


def test_agent_trace_with_a_model_that_follows_the_format():
    trace = agent.run_agent(agent.scripted_llm(), "What is 12*(3+4)?")
    assert [s.kind for s in trace] == ["thought", "action", "observation", "thought", "answer"]
    assert trace[1].text == "calculator(12*(3+4))" and trace[2].text == "84" and trace[-1].text == "84"


def test_agent_with_a_base_model_shows_what_it_did():
    tok = CharTokenizer().train(string.printable)
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=16, n_embd=16, n_head=2))
    llm = CheckpointLLM(network=model, tokenizer=tok, max_tokens=30, seed=0)
    trace = agent.run_agent(llm, "What is 1+1?", max_steps=2)
    assert trace and trace[-1].kind == "no format"  # an untrained model does not follow the format
    assert "Observation:" not in trace[-1].text  # the stop string cut it off before a made-up observation
