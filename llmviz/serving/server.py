"""Running the API under uvicorn: in the foreground for `python -m llmviz serve`, or in a background
thread that an app page owns (start, address, live log, stop).

    server = Server(model, tokenizer, "lm5").start()   # 127.0.0.1, a free port
    print(server.base_url)                             # http://127.0.0.1:54321/v1
    server.stop()

A page holds its server with `held(server)`, a llmviz.jobs.Job: started like any page's job (stopping once
nobody has watched it for a while: a closed tab), it stops the server in its own thread, so the page that
asks for the stop never waits for the server's graceful shutdown.

The server is bound to 127.0.0.1 unless told otherwise: a model on your laptop is for your laptop.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import sys
import threading
import time

from llmviz import jobs
from llmviz.errors import LearnerError
from llmviz.serving.api import create_app
from llmviz.serving.request_log import RequestLog


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """A model served over HTTP from a background thread. `stop()` is safe to call at any time, and
    twice; a Server is also stopped by llmviz.training.runs.stop_when_dropped like a training run."""

    def __init__(self, model, tokenizer, model_name: str = "llmviz", *, host: str = "127.0.0.1", port: int = 0,
                 api_key: str | None = None, copy_model: bool = True, **app_kwargs):
        # a copy: the learner may go on training the original while it is served
        self.model = copy.deepcopy(model) if copy_model else model
        self.tokenizer, self.model_name = tokenizer, model_name
        self.host, self.port, self.api_key = host, port, api_key
        self.log = RequestLog()
        self.app = create_app(self.model, tokenizer, model_name, api_key=api_key, log=self.log, **app_kwargs)
        self._server = None
        self._thread: threading.Thread | None = None
        self.error = ""
        self.started_at = 0.0

    def start(self, timeout: float = 30) -> "Server":
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", access_log=False,
                                lifespan="on", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="llmviz-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.error or 'timed out'}")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]  # the port the system chose for 0
        self.started_at = time.time()
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except BaseException as e:  # e.g. the port is taken: uvicorn exits the thread
            self.error = f"{type(e).__name__}: {e}"
        if not self._server.started and not self.error:
            self.error = f"could not listen on {self.host}:{self.port} (is the port taken?)"

    def stop(self, timeout: float = 10) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and bool(self._server and self._server.started)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as base_url."""
        return self.url + "/v1"

    @property
    def engine(self):
        return self.app.state.served.engine


def held(server: Server, every: float = 0.1) -> jobs.Job:
    """A Job that keeps a started server serving until the job is stopped (or, started with
    stop_unwatched_after, until nobody watches it), then stops the server, in the job's thread: job.stop()
    returns at once. The job fails, in words, if the server stops by itself."""
    def work(job: jobs.Job) -> None:
        job.set(url=server.base_url, model=server.model_name)
        try:
            while not job.should_stop():
                if not server.running:
                    raise LearnerError(f"the server stopped by itself{': ' + server.error if server.error else ''}")
                time.sleep(every)
        finally:
            server.stop()

    return jobs.Job(work, name="server")


def serve_forever(model, tokenizer, model_name: str, host: str = "127.0.0.1", port: int = 8000,
                  api_key: str | None = None, announce=None, **app_kwargs) -> None:
    """Serve in the foreground until Ctrl-C (the command line). The app is made first, so what cannot be
    served is refused (a LearnerError) before `announce()` says that it is."""
    import uvicorn

    app = create_app(model, tokenizer, model_name, api_key=api_key, **app_kwargs)
    if announce is not None:
        announce()

    # two threads share the interpreter: the event loop (HTTP) and the batch engine. Python hands the
    # interpreter lock from a busy thread to a waiting one every 5 ms by default, and the event loop waits
    # for it after every network call; a shorter interval keeps requests flowing while the engine is busy
    sys.setswitchinterval(0.0005)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=2)


def snippets(base_url: str, model_name: str, api_key: str | None = None, prompt: str = "ROMEO:") -> dict[str, str]:
    """Copy-paste code that talks to a running server: curl, the openai client, LangChain (langchain-openai)."""
    key = api_key or "not-needed"
    auth = f" \\\n  -H 'Authorization: Bearer {api_key}'" if api_key else ""
    body = json.dumps({"model": model_name, "prompt": prompt, "max_tokens": 50, "temperature": 0.8})
    chat_body = json.dumps({"model": model_name, "messages": [{"role": "user", "content": prompt}], "max_tokens": 50})
    return {
        "curl": f"curl -s {base_url}/completions \\\n  -H 'Content-Type: application/json'{auth} \\\n"
                f"  -d '{body}'\n\n"
                f"curl -s {base_url}/chat/completions \\\n  -H 'Content-Type: application/json'{auth} \\\n"
                f"  -d '{chat_body}'",
        "openai": f"""from openai import OpenAI

client = OpenAI(base_url={base_url!r}, api_key={key!r})
out = client.completions.create(model={model_name!r}, prompt={prompt!r}, max_tokens=50, temperature=0.8)
print(out.choices[0].text)

for chunk in client.completions.create(model={model_name!r}, prompt={prompt!r}, max_tokens=50, stream=True):
    print(chunk.choices[0].text, end="", flush=True)
""",
        "langchain": f"""from langchain_core.prompts import PromptTemplate
from langchain_core.output_parsers import StrOutputParser
from langchain_openai import OpenAI

llm = OpenAI(base_url={base_url!r}, api_key={key!r}, model={model_name!r}, max_tokens=50)
chain = PromptTemplate.from_template("{{character}}:") | llm | StrOutputParser()
print(chain.invoke({{"character": {prompt.rstrip(':')!r}}}))
""",
    }
