"""The turn ends where it ends, on every surface: a model that writes "Rome" and then, without closing its
turn, the next role tag ("<|user|>", then more) or "<|end|>" and more, answers "Rome" through the server
(whole and streamed, chat and completions), LangChain in-process and over HTTP, the RAG answer and chain,
the chat and generate commands and the instruct page's sample. No tag is ever part of the text."""

from __future__ import annotations

import io
import string

import openai
import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_openai import ChatOpenAI

from llmviz.cli.main import main
from llmviz.io import checkpoint
from llmviz.retrieval import langchain_rag, rag
from llmviz.retrieval.search import Hit
from llmviz.serving.langchain_llm import CheckpointChatModel, CheckpointLLM
from llmviz.serving.server import Server
from llmviz.tasks import chat, instruct
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig
from tests.chat_models import scripted_model

TOK = chat.with_chat_tokens(CharTokenizer().train(string.printable))
QUESTION = [{"role": "user", "content": "Where does Ann live?"}]
SCRIPTS = {"a role tag": ["Rome", "<|user|>", "Vnic", "<|end|>"],  # starts the next turn without closing its own
           "its end tag": ["Rome", "<|end|>", "Vnic"]}  # closes its turn, then would go on


@pytest.fixture(scope="module", params=list(SCRIPTS))
def served(request):
    model = scripted_model(TOK, SCRIPTS[request.param])
    s = Server(model, TOK, "scripted").start()
    yield model, s, openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=60)
    s.stop()


def test_the_stop_tokens_are_every_tag_but_the_call():
    fmt = chat.format_chat(QUESTION, TOK)
    assert set(fmt.stop_token_ids) == {TOK.special_id(t) for t in chat.CHAT_TOKENS}
    assert fmt.forbidden == (TOK.special_id("<|call|>"),)  # no tool offered: no call can be written
    assert chat.format_chat(QUESTION, TOK, tools=[instruct.tools.CALCULATOR]).forbidden == ()
    assert set(chat.tag_ids(TOK)) == {TOK.special_id(t) for t in chat.ALL_TOKENS}


def test_the_server_ends_the_answer_at_the_turn_whole_and_streamed(served):
    _, _, client = served
    r = client.chat.completions.create(model="scripted", messages=QUESTION, max_tokens=20, temperature=0.8, seed=1)
    assert r.choices[0].message.content == "Rome" and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 5  # four letters and the tag that ended them
    chunks = list(client.chat.completions.create(model="scripted", messages=QUESTION, max_tokens=20, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Rome"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    # a text completion of the chat's own prompt ends there too
    prompt = chat.format_chat(QUESTION, TOK).prompt
    done = client.completions.create(model="scripted", prompt=prompt, max_tokens=20)
    assert done.choices[0].text == "Rome" and done.choices[0].finish_reason == "stop"


def test_langchain_in_process_and_over_http(served):
    model, server, _ = served
    assert CheckpointChatModel(network=model, tokenizer=TOK, max_tokens=20).invoke("Where does Ann live?").content == "Rome"
    assert CheckpointLLM(network=model, tokenizer=TOK, max_tokens=20).invoke(chat.format_chat(QUESTION, TOK).prompt) == "Rome"
    remote = ChatOpenAI(base_url=server.base_url, model="scripted", api_key="unused", max_tokens=20, max_retries=0)
    assert remote.invoke("Where does Ann live?").content == "Rome"
    assert "".join(c.content for c in remote.stream("Where does Ann live?")) == "Rome"


def test_a_model_offered_no_tool_never_writes_a_call_as_text():
    model = scripted_model(TOK, ["<|call|>", "sum", "<|end|>"])
    s = Server(model, TOK, "caller").start()
    try:
        client = openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=60)
        r = client.chat.completions.create(model="caller", messages=QUESTION, max_tokens=20, temperature=0)
        assert "<|" not in r.choices[0].message.content and r.choices[0].finish_reason == "stop"
    finally:
        s.stop()
    reply = CheckpointChatModel(network=model, tokenizer=TOK, max_tokens=20, temperature=0).invoke("hi")
    assert "<|" not in reply.content and not reply.tool_calls


class _OneHit(BaseRetriever):
    def _get_relevant_documents(self, query, *, run_manager):
        return [Document("Ann lives in Rome.", metadata={"id": 0, "score": 1.0, "section": "", "speaker": "",
                                                         "start": 0, "end": 18})]


def test_the_rag_answer_and_chain_end_at_the_turn():
    model = scripted_model(TOK, SCRIPTS["a role tag"], block_size=128)
    hit = Hit(0, 1.0, "Ann lives in Rome.", "", "", 0, 18)
    got = rag.answer(model, TOK, "Where does Ann live?", [hit], rag.TEMPLATES["context, then question (instruct models)"])
    assert got.with_context == "Rome" and got.without_context == "Rome"
    llm = CheckpointLLM(network=model, tokenizer=TOK, max_tokens=20)
    chain = langchain_rag.rag_chain(_OneHit(), llm, "<|user|>{context} {question}<|end|><|assistant|>", TOK)
    assert chain.invoke("Where does Ann live?") == "Rome"


def test_the_chat_and_generate_commands_show_no_tag(tmp_path, monkeypatch, capsys):
    path = checkpoint.save(tmp_path / "chat.safetensors", scripted_model(TOK, SCRIPTS["a role tag"]), TOK, TrainConfig())
    monkeypatch.setattr("sys.stdin", io.StringIO("Where does Ann live?\n\n"))
    assert main(["chat", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model> Rome\n" in out and "<|" not in out.replace("<|assistant|>", "")
    assert main(["generate", "--checkpoint", str(path), "--prompt", chat.format_chat(QUESTION, TOK).prompt,
                 "--max-new-tokens", "20", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.endswith("<|assistant|>Rome\n")  # the prompt as given, then the turn alone


def test_the_instruct_pages_sample_ends_with_the_turn():
    model = scripted_model(TOK, SCRIPTS["a role tag"], block_size=128)
    train, held = instruct.make_examples(40, 10, seed=0, tasks=("context", "shout"))
    batches = instruct.InstructBatches(TOK, train, held, 128)
    sample = batches.sample(model)
    assert sample.endswith("<|assistant|>Rome<|end|>") and "Vnic" not in sample
