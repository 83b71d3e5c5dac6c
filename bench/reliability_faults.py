"""The faults sections of bench/bench_reliability.py (issue 28): the model server (disconnects, oversized
and chunked bodies, concurrent clients, cancellation) and the vector database (filters, concurrent and
interrupted builds, damaged tables). Each class reports: cases, handled in words, tracebacks, hangs, and
the process's memory growth; the server also the CPU it still burns in the second after its last client
left. Loopback only."""

from __future__ import annotations

import contextlib
import glob
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Tally:
    def __init__(self):
        self.rows: dict[str, dict] = {}

    def case(self, kind: str, outcome: str) -> None:
        """outcome: "words" (done, or refused in words), "traceback", "hang"."""
        row = self.rows.setdefault(kind, {"cases": 0, "words": 0, "traceback": 0, "hang": 0, "rss0": rss_mb()})
        row["cases"] += 1
        row[outcome] += 1
        row["growth_mb"] = round(rss_mb() - row["rss0"], 1)

    def report(self) -> dict:
        return {k: f"{r['cases']} cases, {r['words']} handled in words, {r['traceback']} tracebacks, {r['hang']} hangs, "
                   f"memory growth {r.get('growth_mb', 0.0):+.1f} MB" for k, r in self.rows.items()}


# --- the server -----------------------------------------------------------------------------------------

def _raw(port: int, data: bytes, chunks=(), timeout: float = 15) -> int:
    """Send a request by hand; its status (0: none), or -1 when the server did not answer in time."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(data)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for c in chunks:
                    s.sendall(b"%x\r\n%s\r\n" % (len(c), c))
            got = s.recv(4096)
    except socket.timeout:
        return -1
    except ConnectionResetError:
        return 0
    return int(got.split(b" ", 2)[1]) if got else 0


def _status_kind(status: int) -> str:
    return "hang" if status == -1 else "traceback" if status >= 500 or status == 0 else "words"


def _cpu_after(seconds: float = 1.0) -> float:
    """CPU seconds this process used in the next `seconds` (the server's threads; the clients are gone)."""
    t = time.process_time()
    time.sleep(seconds)
    return time.process_time() - t


def _cpu_after_leaving(port: int, head: bytes, body: bytes, stay: float = 0.3) -> tuple[float, float, float]:
    """A client sends a request and leaves `stay` seconds later, its answer unread: the CPU seconds the server
    (this process) spends in the second after it left and in the second after that, and how long until a
    tenth of a second goes by with under 5 ms of CPU (the server idle again)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(stay)
    left, t, idle_at = time.perf_counter(), time.process_time(), None
    first = None
    while time.perf_counter() - left < 2.0:
        slice0 = time.process_time()
        time.sleep(0.1)
        if idle_at is None and time.process_time() - slice0 < 0.005:
            idle_at = time.perf_counter() - left - 0.1
        if first is None and time.perf_counter() - left >= 1.0:
            first, t = time.process_time() - t, time.process_time()
    return first, time.process_time() - t, idle_at if idle_at is not None else float("inf")


def server() -> dict:
    import httpx
    import torch

    from llmviz.nn.model import LanguageModel, ModelConfig
    from llmviz.serving import served
    from llmviz.serving.server import Server
    from llmviz.text.tokenizers import CharTokenizer

    text = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, wherefore art thou?\n"
    tok = CharTokenizer().train(text)
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig(vocab_size=tok.vocab_size, block_size=64, n_embd=64, n_head=4, n_layer=2)).eval()
    srv = Server(model, tok, "tiny", api_key="k").start()
    tally, auth = Tally(), b"Authorization: Bearer k\r\n"
    head = b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    try:
        with httpx.Client(base_url=srv.base_url, headers={"Authorization": "Bearer k"}, timeout=30) as c:
            c.post("/completions", json={"model": "tiny", "prompt": "ROMEO:", "max_tokens": 4})  # warm up
            # oversized and chunked bodies, with and without the key
            big = b'{"prompt": "' + b"a" * (2 * 2**20) + b'"}'
            tally.case("oversized and chunked bodies", _status_kind(_raw(
                srv.port, head + auth + b"Content-Length: %d\r\n\r\n" % len(big) + big)))
            for key in (auth, b""):
                for mb in (2, 20, 100):
                    chunks = [b'{"prompt": "' + b"a" * 65536] + [b"a" * 65536] * (mb * 16)
                    tally.case("oversized and chunked bodies", _status_kind(_raw(
                        srv.port, head + key + b"Transfer-Encoding: chunked\r\n\r\n", chunks)))
            # disconnects: a long streamed answer left after its first bytes; a long echo scoring left unread
            for body in ({"model": "tiny", "prompt": "ROMEO:", "max_tokens": 2000, "stream": True},
                         {"model": "tiny", "prompt": "ROMEO:" * 2000, "max_tokens": 0, "echo": True, "logprobs": 5}) * 6:
                data = httpx.Request("POST", srv.base_url + "/v1/completions", json=body).content
                with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
                    s.sendall(head + auth + b"Content-Length: %d\r\n\r\n" % len(data) + data)
                    time.sleep(0.3)
                ok = c.post("/completions", json={"model": "tiny", "prompt": "ROMEO:", "max_tokens": 4}).status_code == 200
                tally.case("disconnects", "words" if ok else "traceback")
            # the CPU once the last client has left: nothing else is asked, each kind of work left unread
            leaving = {}
            for what, body in (("a streamed answer of 2,000 tokens", {"max_tokens": 2000, "stream": True}),
                               ("an answer of 2,000 tokens, not streamed", {"max_tokens": 2000}),
                               ("echo + logprobs of 12,000 prompt tokens", {"prompt": "ROMEO:" * 2000, "max_tokens": 0,
                                                                           "echo": True, "logprobs": 5})):
                data = httpx.Request("POST", srv.base_url, json={"model": "tiny", "prompt": "ROMEO:", **body}).content
                time.sleep(1.0)  # the previous one's work has ended
                leaving[what] = _cpu_after_leaving(srv.port, head + auth, data)
            # concurrent clients
            results = []

            def client():
                with httpx.Client(base_url=srv.base_url, headers={"Authorization": "Bearer k"}, timeout=60) as cc:
                    for i in range(4):
                        try:
                            r = cc.post("/completions", json={"model": "tiny", "prompt": "JULIET:", "max_tokens": 16, "seed": i})
                            results.append("words" if r.status_code < 500 and ("error" in r.json() or r.status_code == 200)
                                           else "traceback")
                        except httpx.TimeoutException:
                            results.append("hang")

            threads = [threading.Thread(target=client) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            for r in results:
                tally.case("concurrent clients", r)
            cpu_concurrent = _cpu_after(1.0)
            # cancellation: requests that could never finish, refused up front
            for body in ({"prompt": "a" * (served.MAX_SCORED + 10), "echo": True, "logprobs": 1, "max_tokens": 0},
                         {"prompt": ["a"] * 1000, "n": 2, "max_tokens": 1}, {"prompt": "a", "seed": 2**70}):
                r = c.post("/completions", json={"model": "tiny", **body})
                tally.case("cancellation and never-fitting requests", "words" if r.status_code == 400 else "traceback")
    finally:
        srv.stop()
    out = {**tally.report()}
    for what, (first, second, idle) in leaving.items():
        out[f"server CPU after the last client left, {what}: first second, second second (CPU-s), idle after (s)"] = \
            f"{first:.3f}, {second:.3f}, {idle:.1f}"
    out["server CPU in the second after the 16 concurrent clients left (s)"] = round(cpu_concurrent, 3)
    return out


# --- the vector database --------------------------------------------------------------------------------

def _cli(argv) -> tuple[int, str]:
    from llmviz.cli.main import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([str(a) for a in argv])
    except BaseException as e:  # noqa: BLE001 - what escaped is what the bench counts
        return -2, f"{type(e).__name__}: {e}"
    return code, err.getvalue()


def _words(code: int, err: str, expected=(2,)) -> str:
    return "words" if code in expected and "error:" in err and "Traceback" not in err else "traceback"


def vectors() -> dict:
    sys.path.insert(0, str(ROOT))
    from llmviz.retrieval import embedders
    from llmviz.retrieval.vectordb import VectorTable
    from tests.vector_fixtures import speech_corpus

    tally = Tally()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        text = d / "plays.txt"
        text.write_text(speech_corpus(120).text, encoding="utf-8")
        db = d / "db"
        assert _cli(["index", "--corpus", text, "--dim", 8, "--db", db, "--table", "t"])[0] == 0
        version = VectorTable.open(db, "t").table.version
        for where in ["id / 0 = 1", "CAST(text AS INT) = 1", "id = 1; DROP TABLE t", "colour = 1", "speaker = ",
                      "speaker = 'A", "   ", "x" * 5000, "id = 1 -- ; drop", "section = 'a''b'; select 1"]:
            code, err = _cli(["search", "--db", db, "--table", "t", "--query", "sea ship", "--where", where])
            tally.case("filters", _words(code, err, (0, 2)) if code else "words")
        for flags in (["--k", 0], ["--nprobes", -1], ["--refine-factor", -1], ["--table", "a/b"], ["--table", "x" * 300]):
            code, err = _cli(["search", "--db", db, "--query", "sea", *flags] + ([] if "--table" in flags else
                                                                                 ["--table", "t"]))
            tally.case("numbers and names", _words(code, err))
        for flags in (["--dim", 0], ["--dim", 100000], ["--table", "bad name"]):
            tally.case("numbers and names", _words(*_cli(["index", "--corpus", text, "--db", db, *flags])))
        unchanged = VectorTable.open(db, "t").table.version == version
        tally.case("filters", "words" if unchanged else "traceback")  # no filter changed the table
        # interrupted builds: Ctrl-C while embedding, the table as it was
        embed = embedders.LSAEmbedder.embed

        def interrupted(self, texts):
            raise KeyboardInterrupt

        embedders.LSAEmbedder.embed = interrupted
        try:
            for _ in range(3):
                code, err = _cli(["index", "--corpus", text, "--dim", 8, "--db", db, "--table", "t", "--replace"])
                same = VectorTable.open(db, "t").table.version == version
                tally.case("interrupted builds", "words" if code == 1 and "Ctrl-C" in err and same else "traceback")
        finally:
            embedders.LSAEmbedder.embed = embed
        # concurrent builds: two processes on one new table, one wins and the other is told
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        for trial in range(4):
            table = f"c{trial}"
            argv = [sys.executable, "-m", "llmviz", "index", "--corpus", str(text), "--db", str(db), "--table", table]
            procs = [subprocess.Popen([*argv, "--dim", str(6 + i)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True) for i in range(2)]
            try:
                out = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
            except subprocess.TimeoutExpired:
                tally.case("concurrent builds", "hang")
                continue
            codes = sorted(c for c, _ in out)
            told = any(("another build" in e or "already exists" in e) for c, e in out if c == 2)
            winner = [i for i, (c, _) in enumerate(out) if c == 0]
            kept = len(winner) == 1 and VectorTable.open(db, table).dim == 6 + winner[0]
            tally.case("concurrent builds", "words" if codes == [0, 2] and told and kept else "traceback")
        # damaged tables
        for damage in ("data", "manifest", "versions", "sidecar"):
            assert _cli(["index", "--corpus", text, "--dim", 8, "--db", db, "--table", "t", "--replace"])[0] == 0
            folder = db / "t.lance"
            if damage == "data":
                for f in glob.glob(str(folder / "data" / "*.lance")):
                    os.truncate(f, 100)
            elif damage == "manifest":
                for f in glob.glob(str(folder / "_versions" / "*.manifest")):
                    Path(f).write_bytes(b"garbage" * 9)
            elif damage == "versions":
                for f in (folder / "_versions").iterdir():
                    f.unlink()
            else:
                for f in (db / "_llmviz" / "t").iterdir():
                    f.write_bytes(b"xx")
            tally.case("damaged tables", _words(*_cli(["search", "--db", db, "--table", "t", "--query", "sea ship"])))
            code, _ = _cli(["index", "--corpus", text, "--dim", 8, "--db", db, "--table", "t", "--replace"])
            tally.case("damaged tables", "words" if code == 0 else "traceback")  # --replace rebuilds it
    return tally.report()
