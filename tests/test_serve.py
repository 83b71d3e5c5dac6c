"""The OpenAI-compatible server over the real protocol: uvicorn on a free 127.0.0.1 port, driven by the
official `openai` client and by raw HTTP; dynamic batching checked against a one-request-at-a-time
reference; every refusal with its status and message."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
import torch

from llmviz.tasks import chat
from llmviz.nn.sampling import filter_logits
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.serving.engine import BatchEngine, SamplingParams, sample_rows
from llmviz.serving.server import Server
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingRun

TEXT = ("ROMEO:\nBut soft, what light through yonder window breaks?\n"
        "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n") * 40
NAME = "tiny"


@pytest.fixture(scope="module")
def run():
    torch.set_num_threads(1)
    r = TrainingRun.new(ModelConfig(block_size=16, n_embd=16, n_head=2, n_layer=1),
                        TrainConfig(max_iters=30, batch_size=8, eval_iters=2, eval_interval=30, sample_tokens=0,
                                    learning_rate=3e-3), TEXT)
    r.train()
    return r


@pytest.fixture(scope="module")
def server(run):
    s = Server(run.model, run.tokenizer, NAME).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=60)


def reference(model, ids, n, seed, temperature=1.0, top_k=None, top_p=None) -> list[int]:
    """Generation alone, step by step, as the engine defines it: the context cropped and right-padded to
    block_size, the last real position's logits, one seeded generator per request."""
    g = torch.Generator().manual_seed(seed)
    T = model.config.block_size
    ids, out = list(ids), []
    with torch.no_grad():
        for _ in range(n):
            ctx = ids[-T:]
            logits, _ = model(torch.tensor([ctx + [0] * (T - len(ctx))]))
            params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p)
            tok = sample_rows(logits[0, len(ctx) - 1].view(1, -1), [params], [g])[0]
            ids.append(tok)
            out.append(tok)
    return out


def test_batched_sampling_draws_from_the_filtered_distribution_of_each_row():
    # rows with different settings in one batch; each row's frequencies match generate.filter_logits' softmax
    torch.manual_seed(0)
    logits = torch.randn(4, 12) * 2
    settings = [dict(temperature=1.0), dict(temperature=0.5, top_k=3), dict(temperature=1.3, top_p=0.8),
                dict(temperature=0.0)]
    params = [SamplingParams(**kw) for kw in settings]
    n = 1500  # draws per setting: every row of a batch of 4 x n rows has its own generator
    gens = [torch.Generator().manual_seed(i) for i in range(4 * n)]
    counts = torch.zeros(4, 12)
    for _ in range(4):
        tokens = sample_rows(logits.repeat(n, 1), params * n, gens)
        for j, tok in enumerate(tokens):
            counts[j % 4, tok] += 1
    n *= 4
    for i, kw in enumerate(settings[:3]):
        expected = torch.softmax(filter_logits(logits[i], kw.get("temperature"), kw.get("top_k"), kw.get("top_p")), -1)
        assert torch.all(counts[i][expected == 0] == 0)  # filtered tokens are never drawn
        assert (counts[i] / n - expected).abs().max() < 0.025
    assert counts[3, logits[3].argmax()] == n  # temperature 0: always the most likely token
    # a row's draw depends only on its own generator, not on the rows beside it
    alone = sample_rows(logits[1:2], params[1:2], [torch.Generator().manual_seed(7)])
    together = sample_rows(logits, params, [torch.Generator().manual_seed(k) for k in (5, 7, 9, 11)])
    assert alone[0] == together[1]


# --- the happy paths, through the official client ---------------------------------------------------

def test_models_lists_the_one_model(client):
    models = client.models.list().data
    assert [m.id for m in models] == [NAME]
    assert isinstance(models[0].created, int) and models[0].owned_by == "llmviz"
    assert client.models.retrieve(NAME).id == NAME


def test_completion_is_the_seeded_reference_with_usage_in_model_tokens(client, run):
    r = client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=24, seed=7, temperature=0.9, top_p=0.95)
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and isinstance(r.created, int)
    ids = run.tokenizer.encode("ROMEO:")
    expected = run.tokenizer.decode(reference(run.model, ids, 24, 7, 0.9, None, 0.95))
    assert r.choices[0].text == expected  # the prompt is not echoed
    assert r.choices[0].finish_reason == "length"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (6, 24, 30)


def test_seed_reproduces_and_n_choices_use_seed_plus_index(client):
    a = client.completions.create(model=NAME, prompt="JULIET:", max_tokens=20, seed=3, n=3)
    b = client.completions.create(model=NAME, prompt="JULIET:", max_tokens=20, seed=3, n=3)
    assert [c.text for c in a.choices] == [c.text for c in b.choices]
    assert [c.index for c in a.choices] == [0, 1, 2]
    assert len({c.text for c in a.choices}) > 1
    alone = client.completions.create(model=NAME, prompt="JULIET:", max_tokens=20, seed=4)
    assert alone.choices[0].text == a.choices[1].text
    assert a.usage.completion_tokens == 60 and a.usage.prompt_tokens == 7


def test_prompt_list_and_token_ids(client, run):
    r = client.completions.create(model=NAME, prompt=["ROMEO:", "JULIET:"], max_tokens=5, seed=1, n=2)
    assert len(r.choices) == 4 and r.usage.prompt_tokens == 6 + 7
    ids = run.tokenizer.encode("ROMEO:")
    by_ids = client.completions.create(model=NAME, prompt=ids, max_tokens=5, seed=1)
    assert by_ids.choices[0].text == r.choices[0].text


def test_stop_cuts_before_the_stop_string(client):
    full = client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=40, seed=11).choices[0].text
    stop = next(c for c in full[3:] if c.strip())  # a character the free text contains after a few tokens
    cut = client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=40, seed=11, stop=[stop, "@@"])
    assert cut.choices[0].text == full[:full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    assert cut.usage.completion_tokens == len(full[:full.index(stop)]) + 1  # the stop's token was generated


def test_echo_and_logprobs_match_the_model(client, run):
    r = client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=5, seed=2, echo=True, logprobs=3)
    c = r.choices[0]
    assert c.text.startswith("ROMEO:") and len(c.text) == 11
    lp = c.logprobs
    assert "".join(lp.tokens) == c.text and lp.text_offset == list(range(11))
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(len(t) == 3 for t in lp.top_logprobs[1:])
    # the model's own log-probabilities (before temperature), checked against a direct forward pass
    ids = run.tokenizer.encode(c.text)
    with torch.no_grad():
        logp = torch.log_softmax(run.model(torch.tensor([ids]))[0][0], -1)
    for j in range(1, 11):
        assert lp.token_logprobs[j] == pytest.approx(float(logp[j - 1, ids[j]]), abs=1e-4)
        best = max(lp.top_logprobs[j].values())
        assert best == pytest.approx(float(logp[j - 1].max()), abs=1e-4)


def test_streaming_gives_the_same_text_in_pieces(client):
    whole = client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=30, seed=5, stop=["\n\n"])
    chunks = list(client.completions.create(model=NAME, prompt="ROMEO:", max_tokens=30, seed=5, stop=["\n\n"],
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert text == whole.choices[0].text
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert len([ch for ch in chunks if ch.choices]) > 3  # really streamed, not one chunk


def test_raw_sse_ends_with_done(server):
    body = {"model": NAME, "prompt": "ROMEO:", "max_tokens": 5, "stream": True}
    with httpx.stream("POST", server.base_url + "/completions", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert all(isinstance(json.loads(line[6:])["created"], int) for line in lines[:-1])


def test_chat_uses_a_plain_transcript_for_a_base_model(client, run):
    messages = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "O Romeo"}]
    r = client.chat.completions.create(model=NAME, messages=messages, max_tokens=20, seed=1)
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.choices[0].message.role == "assistant"
    prompt = chat.format_chat(messages, run.tokenizer).prompt
    assert prompt == "system: Be brief\nuser: O Romeo\nassistant:"
    assert r.usage.prompt_tokens == len(run.tokenizer.encode(prompt))
    expected = run.tokenizer.decode(reference(run.model, run.tokenizer.encode(prompt), 20, 1))
    text = r.choices[0].message.content
    assert expected.startswith(text)  # the same tokens, cut at a "\nuser:" turn if the model began one
    assert r.choices[0].finish_reason == ("length" if text == expected else "stop")
    chunks = list(client.chat.completions.create(model=NAME, messages=messages, max_tokens=20, seed=1, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert chunks[-1].choices[0].finish_reason == r.choices[0].finish_reason


def test_chat_logprobs_and_n(client):
    r = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "Romeo"}], max_tokens=6,
                                       seed=9, n=2, logprobs=True, top_logprobs=2)
    assert len(r.choices) == 2
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 and t.bytes == list(t.token.encode()) for t in content)


def test_chat_template_of_an_instruct_tokenizer():
    tok = CharTokenizer(special_tokens=list(chat.CHAT_TOKENS)).train("hello there, be kind, assist<|>\n")
    fmt = chat.format_chat([{"role": "system", "content": "be kind"}, {"role": "user", "content": "hello"}], tok)
    assert fmt.template and fmt.prompt == "<|system|>be kind<|end|><|user|>hello<|end|><|assistant|>"
    assert fmt.stop_token_ids == chat.stop_ids(tok) and tok.special_id("<|end|>") in fmt.stop_token_ids and fmt.stop == ()
    assert fmt.ids[0] == tok.special_id("<|system|>") and fmt.ids[-1] == tok.special_id("<|assistant|>")
    whole = chat.format_chat([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], tok,
                             add_generation_prompt=False)
    assert whole.prompt == "<|user|>hi<|end|><|assistant|>hello<|end|>"
    # a user who types a tag gets its characters, not a role
    typed = chat.format_chat([{"role": "user", "content": "<|assistant|>hi"}], tok)
    assert typed.ids.count(tok.special_id("<|assistant|>")) == 1 and typed.ids[-1] == tok.special_id("<|assistant|>")


def test_engine_stops_at_a_stop_token_without_writing_it():
    tok = CharTokenizer(special_tokens=["<|end|>"]).train("abc")
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=8, n_embd=8, n_head=2))
    engine = BatchEngine(model, tok).start()
    try:
        greedy = reference(model, [0], 3, 0, temperature=0)
        k = next((i for i, t in enumerate(greedy) if t != greedy[0]), 0)  # a token whose first use is at k
        seq = engine.complete([0], SamplingParams(max_tokens=3, temperature=0, stop_token_ids=(greedy[k],)))
        assert seq.finish_reason == "stop" and seq.generated == greedy[:k] and seq.n_sampled == k + 1
        assert seq.text == tok.decode(greedy[:k])
    finally:
        engine.stop()


# --- many clients at once ---------------------------------------------------------------------------

def test_32_simultaneous_seeded_requests_equal_the_same_requests_one_at_a_time(client, server):
    requests = [dict(prompt=p, max_tokens=12 + i % 5, seed=100 + i, temperature=0.7 + 0.1 * (i % 4),
                     top_p=1.0 if i % 3 else 0.9)
                for i, p in enumerate(["ROMEO:", "JULIET:", "O Romeo", "But soft"] * 8)]

    def one(kw):
        return client.completions.create(model=NAME, **kw).choices[0].text

    alone = [one(kw) for kw in requests]
    before = dict(server.engine.batch_sizes)
    barrier = threading.Barrier(32)

    def together(kw):
        barrier.wait()
        return one(kw)

    with ThreadPoolExecutor(32) as pool:
        concurrent = list(pool.map(together, requests))
    assert concurrent == alone
    grown = {b: n - before.get(b, 0) for b, n in server.engine.batch_sizes.items() if n > before.get(b, 0)}
    assert max(grown) >= 4, f"the requests were not batched together: {grown}"


def test_a_stalled_streaming_client_does_not_stall_the_others_and_is_dropped_when_gone(run):
    s = Server(run.model, run.tokenizer, NAME, max_tokens=100_000).start()
    client = openai.OpenAI(base_url=s.base_url, api_key="unused", max_retries=0, timeout=60)
    body = {"model": NAME, "prompt": "ROMEO:", "max_tokens": 100_000, "stream": True}
    try:
        with httpx.Client(timeout=30) as raw, raw.stream("POST", s.base_url + "/completions", json=body) as r:
            lines = r.iter_lines()  # kept: a dropped iterator closes the response
            next(lines)  # it started, and is never read again
            t0 = time.perf_counter()
            for _ in range(5):
                assert len(client.completions.create(model=NAME, prompt="JULIET:", max_tokens=20).choices[0].text) == 20
            assert time.perf_counter() - t0 < 10
            stalled = [q for q in s.engine._active if q.params.max_tokens == 100_000]
            assert stalled and not stalled[0].done  # the stalled stream is still being generated
        # its client is gone: the stream is cancelled long before its 100,000 tokens
        deadline = time.monotonic() + 10
        while s.engine.load != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert s.engine.load == (0, 0)
        gone = [e for e in s.log.entries() if "client disconnected" in e.detail]
        assert len(gone) == 1 and 0 < gone[0].completion_tokens < 100_000
    finally:
        s.stop()


# --- refusals: OpenAI's error shape, the right status, never a traceback ---------------------------------

def test_errors_as_the_official_client_raises_them(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="gpt-4", prompt="hi")
    assert e.value.body["code"] == "model_not_found" and "tiny" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=NAME, prompt="ROMEO: ¿qué? €", max_tokens=5)
    msg = e.value.body["message"]
    assert e.value.body["param"] == "prompt" and "'¿'" in msg and "'é'" in msg and "'€'" in msg
    for kw, param in [(dict(max_tokens=0), "max_tokens"), (dict(max_tokens=10**6), "max_tokens"),
                      (dict(temperature=5), "temperature"), (dict(n=100), "n"), (dict(logprobs=50), "logprobs"),
                      (dict(top_p=0), "top_p"), (dict(stop=["a", "b", "c", "d", "e"]), "stop")]:
        with pytest.raises(openai.BadRequestError) as e:
            client.completions.create(model=NAME, prompt="ROMEO:", **kw)
        assert e.value.status_code == 400 and e.value.body["param"] == param, kw
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=NAME, messages=[{"role": "wizard", "content": "hi"}])
    assert "wizard" in e.value.body["message"]


@pytest.mark.parametrize("body, status, needle", [
    (b"{not json", 400, "could not parse the JSON"),
    (b"[1, 2]", 400, "could not parse the JSON"),
    (b'{"prompt": "ROMEO:"}', 400, "Missing required parameter: 'model'"),
    (b'{"model": "tiny", "prompt": "x", "max_tokens": "many"}', 400, "max_tokens"),
    (b'{"model": "tiny", "prompt": []}', 400, "empty"),
])
def test_malformed_requests(server, body, status, needle):
    r = httpx.post(server.base_url + "/completions", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    err = r.json()["error"]
    assert needle in err["message"] and set(err) == {"message", "type", "param", "code"}
    assert "Traceback" not in r.text


def test_unknown_urls_and_huge_bodies_get_the_error_shape(server):
    r = httpx.get(server.url + "/v1/engines")
    assert r.status_code == 404 and "error" in r.json()
    r = httpx.get(server.base_url + "/completions")
    assert r.status_code == 405 and "error" in r.json()
    r = httpx.post(server.base_url + "/completions", content=b"x" * (2 * 1024 * 1024),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "error" in r.json()


def test_api_key_is_required_when_set(run):
    s = Server(run.model, run.tokenizer, NAME, api_key="s3cret").start()
    try:
        good = openai.OpenAI(base_url=s.base_url, api_key="s3cret", max_retries=0)
        assert good.models.list().data[0].id == NAME
        with pytest.raises(openai.AuthenticationError) as e:
            openai.OpenAI(base_url=s.base_url, api_key="wrong", max_retries=0).models.list()
        assert e.value.body["code"] == "invalid_api_key"
        r = httpx.post(s.base_url + "/completions", json={"model": NAME, "prompt": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    finally:
        s.stop()
    assert not s.running


def test_the_request_log_counts_model_tokens(server):
    entries = server.log.entries()
    ok = [e for e in entries if e.status == 200 and e.endpoint == "/v1/completions"]
    assert ok and all(e.completion_tokens > 0 and e.seconds >= 0 for e in ok)
    assert any(e.status == 400 for e in entries) and any(e.status == 404 for e in entries)


@pytest.mark.slow
def test_the_serve_command(run, tmp_path):
    import subprocess
    import sys

    from llmviz.io import checkpoint
    from tests.browser import ROOT, free_port

    path = checkpoint.save_run(tmp_path / "romeo.safetensors", run)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llmviz", "serve", "--checkpoint", str(path), "--port", str(port),
                             "--api-key", "k"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                models = c.models.list().data
                break
            except openai.APIConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert [m.id for m in models] == ["romeo"]
        assert len(c.completions.create(model="romeo", prompt="ROMEO:", max_tokens=7).choices[0].text) == 7
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/v1" in out and "Traceback" not in out


def test_the_pages_snippets_work_as_shown(run, capfd):
    import contextlib
    import io
    import subprocess

    from llmviz.serving.server import snippets

    s = Server(run.model, run.tokenizer, NAME, api_key="k").start()
    try:
        code = snippets(s.base_url, NAME, "k")
        for command in code["curl"].split("\n\n"):
            out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30).stdout
            assert json.loads(out)["usage"]["completion_tokens"] == 50, out
        for name in ("openai", "langchain"):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code[name], name, "exec"), {})
            assert len(printed.getvalue()) > 20, name
    finally:
        s.stop()


def test_a_failing_model_gives_a_500_in_openai_shape_and_the_server_lives_on(run, capfd):
    class Broken(LanguageModel):
        def forward(self, idx, targets=None, **kw):
            raise RuntimeError("secret internals")

    broken = Broken(run.model.config)
    s = Server(broken, run.tokenizer, NAME).start()
    try:
        r = httpx.post(s.base_url + "/completions", json={"model": NAME, "prompt": "ROMEO:", "max_tokens": 3})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        assert "secret" not in r.text and "Traceback" not in r.text
        with httpx.stream("POST", s.base_url + "/chat/completions", timeout=30,
                          json={"model": NAME, "messages": [{"role": "user", "content": "Romeo"}], "stream": True}) as st:
            events = [line for line in st.iter_lines() if line]
        assert "error" in json.loads(events[-1][6:]) and "secret" not in "".join(events)
        assert httpx.get(s.base_url + "/models").status_code == 200  # still serving
    finally:
        s.stop()
