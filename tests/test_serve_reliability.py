"""The model server under faults and hostile input, over real sockets on 127.0.0.1: a body limit that holds
for chunked uploads and before the key is checked, work stopped when its client leaves, requests that can
never be done refused up front in OpenAI's shape, a bug that keeps the connection, and an engine whose
every accepted request ends with a final message (shutdown and failures included)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import torch

from llmviz.cli.main import main
from llmviz.errors import LearnerError
from llmviz.nn.encoder_decoder import EncoderDecoder, EncoderDecoderConfig
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.serving import protocol, served
from llmviz.serving.engine import BatchEngine, Cancelled, EngineError, SamplingParams
from llmviz.serving.scoring import prompt_logprobs
from llmviz.serving.server import Server
from llmviz.text.tokenizers import CharTokenizer

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, wherefore art thou?\n"
NAME = "tiny"


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer().train(TEXT)


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    return LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=16, n_embd=16, n_head=2, n_layer=1)).eval()


@pytest.fixture(scope="module")
def server(model, tok):
    s = Server(model, tok, NAME, api_key="k").start()
    yield s
    s.stop()


def raw(server, head: bytes, body_chunks=(), *, read_timeout: float = 10) -> tuple[int, bytes]:
    """Send a request by hand (headers, then chunks of a chunked body while the server reads them); the
    status and body of the answer. The server may answer and close before every chunk is sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part-way: the point
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
                more = sock.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            pass
    status = int(data.split(b" ", 2)[1]) if data else 0
    return status, data.partition(b"\r\n\r\n")[2]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def chunked_post(path: str, key: str | None) -> bytes:
    auth = b"Authorization: Bearer %s\r\n" % key.encode() if key else b""
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%s"
            b"Transfer-Encoding: chunked\r\n\r\n" % (path.encode(), auth))


def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives(server):
    chunks = [b'{"model": "tiny", "prompt": "' + b"a" * 65536] + [b"a" * 65536] * 200  # 13 MB, no length
    t0 = time.perf_counter()
    status, body = raw(server, chunked_post("/v1/completions", "k"), chunks)
    assert status == 413 and b"larger than 1024 KiB" in body and b'"error"' in body
    assert time.perf_counter() - t0 < 10


def test_the_key_is_checked_before_the_body_is_read(server):
    # the body never ends: a server that read it first would wait for ever (the socket times out)
    status, body = raw(server, chunked_post("/v1/completions", None), [b'{"model": "tiny"'], read_timeout=5)
    assert status == 401 and b"missing_api_key" in body
    status, body = raw(server, chunked_post("/v1/completions", "wrong"), [b'{"model"'], read_timeout=5)
    assert status == 401 and b"invalid_api_key" in body


def post(server, path, body, key="k", **kw):
    return httpx.post(server.base_url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30, **kw)


def test_requests_that_could_never_be_done_are_refused_up_front_with_400s(server):
    with httpx.Client(timeout=30, headers={"Authorization": "Bearer k"}) as c:
        for body, param in [({"prompt": "ROMEO:", "seed": 2**70}, "seed"),
                            ({"prompt": "ROMEO:", "seed": -2**70}, "seed"),
                            ({"prompt": ["a"] * 1000, "n": 2, "max_tokens": 1}, "prompt"),  # more than the engine holds
                            ({"prompt": "a" * (served.MAX_SCORED + 10), "echo": True, "logprobs": 1,
                              "max_tokens": 0}, "prompt")]:
            r = c.post(server.base_url + "/completions", json={"model": NAME, **body})
            assert r.status_code == 400 and r.json()["error"]["param"] == param, (body, r.text)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
            # the same keep-alive connection goes on serving
            ok = c.post(server.base_url + "/completions", json={"model": NAME, "prompt": "ROMEO:", "max_tokens": 2})
            assert ok.status_code == 200
        r = c.post(server.base_url + "/completions", content=b'{"model": "\\ud800", "prompt": "x"}',
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_a_bug_answers_500_in_openai_shape_and_keeps_the_connection(server, monkeypatch, capfd):
    monkeypatch.setattr(type(server.app.state.served), "card", lambda self: 1 / 0)
    with httpx.Client(timeout=30, headers={"Authorization": "Bearer k"}) as c:
        r = c.get(server.base_url + "/models")
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        monkeypatch.undo()
        assert c.get(server.base_url + "/models").status_code == 200
    assert "Exception in ASGI application" not in capfd.readouterr().err  # uvicorn never saw it


class Slow(LanguageModel):
    """A model whose every forward pass takes a while, and counts itself."""
    calls = 0

    def forward(self, idx, targets=None, **kw):
        type(self).calls += 1
        time.sleep(0.1)
        return super().forward(idx, targets, **kw)


def test_prompt_scoring_stops_when_its_client_leaves(model, tok):
    slow = Slow(model.config)
    s = Server(slow, tok, NAME, copy_model=False).start()
    try:
        body = {"model": NAME, "prompt": "a" * 256 * 40, "echo": True, "logprobs": 1, "max_tokens": 0}  # 40 passes
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(s.base_url + "/completions", json=body, timeout=0.6)
        time.sleep(2 * served.WATCH_EVERY + 0.2)  # the server notices, the thread finishes its pass
        stopped = Slow.calls
        time.sleep(0.5)
        assert Slow.calls == stopped < 40
        assert any(e.status == 499 for e in s.log.entries())
    finally:
        s.stop()


def test_prompt_scoring_can_be_cancelled(model, tok):
    with pytest.raises(Cancelled):
        prompt_logprobs(model, tok.encode("ROMEO:" * 100), 1, tok, cancelled=lambda: True)


def test_what_cannot_be_served_is_refused_when_the_server_is_made(model, tok):
    seq2seq = EncoderDecoder(EncoderDecoderConfig(vocab_size=12, block_size=8, n_embd=16, n_head=2, n_layer=1,
                                                  src_vocab_size=12, src_block_size=8, n_encoder_layer=1))
    with pytest.raises(LearnerError, match="encoder-decoder"):
        BatchEngine(seq2seq, tok)
    for bad in (0, -1):
        with pytest.raises(LearnerError, match="at least one"):
            BatchEngine(model, tok, max_batch=bad)
    with pytest.raises(LearnerError, match="empty"):
        Server(model, tok, NAME, api_key="")


@pytest.mark.parametrize("flags, words", [(["--max-batch", "0"], "--max-batch"), (["--max-batch", "-1"], "--max-batch"),
                                          (["--api-key", ""], "--api-key is empty")])
def test_the_serve_command_refuses_settings_that_would_fail_everyone(flags, words, capsys):
    assert main(["serve", "--checkpoint", "never-read.safetensors", *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_a_request_failing_while_taking_its_tokens_ends_with_an_error_not_a_hang(model, tok):
    class Fragile(CharTokenizer):
        def decode(self, ids):
            raise UnicodeError("a tokenizer bug")

    fragile = Fragile().train(TEXT)
    s = Server(model, fragile, NAME).start()
    try:
        r = httpx.post(s.base_url + "/completions", timeout=10,
                       json={"model": NAME, "prompt": "ROMEO:", "max_tokens": 3, "stop": ["x"]})
        assert r.status_code == 500 and "while handing out the text" in r.json()["error"]["message"]
        assert s.engine.load == (0, 0)
    finally:
        s.stop()


def test_every_request_submitted_around_a_shutdown_ends_once_or_is_refused(model, tok):
    # a step still running when stop() gives up waiting must not hand out a second end to its requests
    engine = BatchEngine(Slow(model.config), tok).start()
    ends: dict[int, list[str]] = {}
    accepted, refused = [], []
    lock = threading.Lock()

    def client(c):
        for j in range(20):
            key = c * 100 + j
            try:
                engine.submit(tok.encode("ROMEO:"), SamplingParams(max_tokens=2),
                                    lambda d, key=key: d.finish_reason and ends.setdefault(key, []).append(d.finish_reason))
                with lock:
                    accepted.append(key)
            except EngineError:
                with lock:
                    refused.append(key)
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.15)  # a step is running (each takes 0.1 s)
    engine.stop(timeout=0.01)
    for t in threads:
        t.join(10)
    time.sleep(0.3)  # the step that was running ends
    assert len(accepted) + len(refused) == 80 and refused
    assert sorted(ends) == sorted(accepted)  # every accepted request got its end...
    assert all(len(v) == 1 for v in ends.values()), ends  # ...exactly once
    assert engine.load == (0, 0) and not engine.running


def test_the_body_limit_is_the_protocols(server):
    r = httpx.post(server.base_url + "/completions", content=b"x" * (protocol.MAX_BODY + 1),
                   headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["message"].startswith("The request body is larger")


def test_batch_size_counts_are_a_copy_the_engine_thread_cannot_change_under_a_reader(model, tok):
    engine = BatchEngine(model, tok).start()
    try:
        engine.complete(tok.encode("ROMEO:"), SamplingParams(max_tokens=3), timeout=10)
        counts = engine.batch_size_counts()
        assert counts == {1: 3} and counts is not engine.batch_sizes
        engine.complete(tok.encode("JULIET:"), SamplingParams(max_tokens=2), timeout=10)
        assert counts == {1: 3} and engine.batch_size_counts() == {1: 5}
    finally:
        engine.stop()


class PerWindow(LanguageModel):
    """A model whose forward pass takes 1 ms per window, and remembers each batch's size."""
    sizes: list = []

    def forward(self, idx, targets=None, **kw):
        type(self).sizes.append(len(idx))
        time.sleep(0.001 * len(idx))
        return super().forward(idx, targets, **kw)


def test_scoring_sizes_its_batches_to_a_short_pass_and_scores_the_same(model, tok, monkeypatch):
    from llmviz.serving import scoring

    slow = PerWindow(model.config)
    slow.load_state_dict(model.state_dict())
    slow.eval()
    ids = tok.encode("ROMEO:\nBut soft" * 60)
    PerWindow.sizes = []
    got = prompt_logprobs(slow, ids, 2, tok)
    sizes = PerWindow.sizes
    assert sizes[0] == scoring.FIRST and sum(sizes) == len(ids) - 1
    assert all(b <= 2 * a for a, b in zip(sizes, sizes[1:]))  # never more than doubled
    # 1 ms a window and 50 ms a pass: about 50 windows, far from the 256 that took 0.26 s a pass
    assert max(sizes) <= 2 * scoring.PASS_S / 0.001 and max(sizes) >= 16
    T = model.config.block_size
    for j in (1, 7, len(ids) // 2, len(ids) - 1):  # each token given the block_size tokens before it
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids[max(0, j - T):j]]))
        want = torch.log_softmax(logits[0, -1].float(), -1)[ids[j]].item()
        assert got[j].logprob == pytest.approx(want, abs=1e-5)


class Ticking(LanguageModel):
    """A model that decodes about 100 tokens a second."""

    def forward(self, idx, targets=None, **kw):
        time.sleep(0.01)
        return super().forward(idx, targets, **kw)


def test_a_long_answer_not_streamed_stops_soon_after_its_client_leaves(model, tok):
    ticking = Ticking(model.config)
    s = Server(ticking, tok, NAME, copy_model=False).start()
    try:
        body = httpx.Request("POST", "http://x/", json={"model": NAME, "prompt": "ROMEO:", "max_tokens": 2000,
                                                         "temperature": 1.0}).content
        head = b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            deadline = time.monotonic() + 5
            while s.engine.tokens_generated < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
        left = time.monotonic()  # the client is gone, its answer unread
        while s.engine.load != (0, 0) and time.monotonic() - left < 5:
            time.sleep(0.01)
        assert time.monotonic() - left < 0.5  # not 20 s: the tokens nobody will read
        generated = s.engine.tokens_generated
        time.sleep(0.2)
        assert s.engine.tokens_generated == generated < 200
    finally:
        s.stop()
