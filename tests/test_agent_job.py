"""LangChain's agent as a background job (llmviz.serving.agent.agent_job), what the LangChain page runs: the
messages recorded as they come, the text being written published token by token, over HTTP with a streaming
ChatOpenAI too, and Stop heard between two tokens."""

from __future__ import annotations

import time

from langchain_core.callbacks import BaseCallbackHandler
from langchain_openai import ChatOpenAI

from llmviz import jobs
from llmviz.serving import agent
from llmviz.serving.langchain_llm import CheckpointChatModel
from tests.test_tool_calls import TOKENIZER, Scripted, scripted  # noqa: F401  (a fixture)


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


def test_the_agent_job_records_each_message_as_it_comes():
    model = CheckpointChatModel(network=Scripted(TOKENIZER), tokenizer=TOKENIZER, max_tokens=60, temperature=0)
    job = agent.agent_job(model, "What is 123+456?").start()
    job.join(60)
    snap = job.snapshot()
    assert snap.state == jobs.FINISHED
    assert [(s.kind, s.text) for s in snap.history] == [
        ("question", "What is 123+456?"), ("call", 'calculator({"expression": "123+456"})'), ("result", "579"),
        ("answer", "579")]
    assert snap.extra["writing"] == ""


def test_the_text_being_written_reaches_the_callbacks_token_by_token():
    model = CheckpointChatModel(network=Scripted(TOKENIZER), tokenizer=TOKENIZER, max_tokens=60, temperature=0)
    spy = Tokens()
    messages = list(agent.run_langchain_agent(model, "What is 2+3?", callbacks=[spy]))
    assert messages[-1].content == "5"
    assert len(spy.tokens) > 3 and "".join(spy.tokens).endswith("5")


def test_the_agent_job_over_http_streams_with_chat_openai(scripted):  # noqa: F811
    stand_in, _ = scripted
    model = ChatOpenAI(model="scripted", base_url=stand_in.base_url, api_key="unused", max_tokens=60, max_retries=0,
                       streaming=True)
    job = agent.agent_job(model, "What is 321+100?").start()
    job.join(60)
    snap = job.snapshot()
    assert snap.state == jobs.FINISHED, snap.reason
    assert [s.kind for s in snap.history] == ["question", "call", "result", "answer"]
    assert snap.history[-1].text == "421"


class Slow(Scripted):
    def forward(self, idx, targets=None):
        time.sleep(0.05)
        return super().forward(idx, targets)


def test_stop_is_heard_between_two_tokens_and_keeps_the_messages_so_far():
    model = CheckpointChatModel(network=Slow(TOKENIZER), tokenizer=TOKENIZER, max_tokens=60, temperature=0)
    job = agent.agent_job(model, "What is 123+456?").start()
    deadline = time.monotonic() + 30
    while not job.peek().extra.get("writing") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.peek().extra["writing"]  # the call is being written
    t = time.perf_counter()
    job.stop()
    job.join(10)
    assert time.perf_counter() - t < 1.0  # a token or two, not the rest of the call
    snap = job.snapshot()
    assert snap.state == jobs.STOPPED and [s.kind for s in snap.history] == ["question"]
