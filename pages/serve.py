"""Serve your model: a trained run or a checkpoint behind an OpenAI-compatible API, with the code to call
it and a live log of its requests."""

import re
import time

import streamlit as st

from llmviz.plots import serving as serving_plots
from llmviz.serving import engine, server as S
from llmviz.errors import LearnerError
from llmviz.serving.langchain_llm import tool_round_trip
from llmviz.tasks import chat
from pages.shared import session_runs, model_server, ui
from pages.shared.playground import upload

st.title("Serve your model")
st.markdown(
    "A trained model becomes useful to other programs once it answers over HTTP. The de-facto standard is "
    "**OpenAI's API**: `POST /v1/completions` continues a prompt, `POST /v1/chat/completions` answers a "
    "conversation, and any OpenAI client, LangChain or `curl` can talk to it. Here your own model gets that "
    "API, on this machine (address 127.0.0.1: nothing outside it can connect).\n\n"
    "Many clients at once are served by **dynamic batching**: every active request's context goes into one "
    "forward pass per token, and a request that arrives while a step runs joins at the next step. For a small "
    "model one pass over 16 sequences costs little more than one over a single sequence, so throughput grows "
    "with the number of clients."
)

server = model_server.current()
runs = session_runs.usable()
left, right = st.columns([2, 1])
with left:
    source = st.radio("Model to serve", ["A run of this session", "A checkpoint file"], horizontal=True,
                      key="serve_source", disabled=server is not None)
    model = tokenizer = None
    name = "llmviz"
    if source == "A run of this session":
        if runs:
            names = list(runs)
            best = next((k for k, n in enumerate(names) if chat.has_tool_calls(runs[n].tokenizer)),
                        next((k for k, n in enumerate(names) if chat.has_chat_template(runs[n].tokenizer)), 0))
            run_name = st.selectbox("Run", names, index=best, key="serve_run", disabled=server is not None,
                                    help="An instruct model (one that answers, and calls tools) is chosen first.")
            run = runs[run_name]
            model, tokenizer, name = run.model, run.tokenizer, run_name
        else:
            st.info("No finished run in this session yet: train a model on one of the LM pages (or stop one that "
                    "is training), or load a checkpoint file.", icon=":material/info:")
    else:
        got = upload("serve")
        if got is not None:
            st.session_state["serve_checkpoint"] = got
        if st.session_state.get("serve_checkpoint"):
            ck, file_name = st.session_state["serve_checkpoint"]
            model, tokenizer, name = ck.model, ck.tokenizer, file_name.removesuffix(".safetensors")
            st.caption(f"{file_name}: {ck.model.num_params():,} parameters, {ck.step:,} steps trained")
with right:
    model_name = st.text_input("Model name in the API", re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "llmviz",
                               key=f"serve_name:{name}", disabled=server is not None,
                               help="It follows the model chosen; clients send it as `model`.")
    api_key = st.text_input("API key (optional)", key="serve_key", type="password", disabled=server is not None,
                            help="If set, every request must send 'Authorization: Bearer <key>'.")
    port = st.number_input("Port (0: any free port)", 0, 65535, 0, key="serve_port", disabled=server is not None)

b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Start the server", key="serve_start", type="primary", icon=":material/play_arrow:",
             disabled=server is not None or model is None or model_server.stopping()):
    try:
        with st.spinner("Starting…"):
            model_server.start(model, tokenizer, model_name, int(port), api_key)
    except RuntimeError as e:
        st.error(f"The server could not start: {e}", icon=":material/error:")
    else:
        st.rerun()
if b2.button("Stop", key="serve_stop", icon=":material/stop:", disabled=server is None):
    model_server.stop()
    st.rerun()

if server is None:
    st.caption("Stopping the server (it finishes the answers in progress, 2 s at most)…" if model_server.stopping() else
               f"The server belongs to this browser tab: it stops when you press Stop, or {ui.UNWATCHED_S:g} s after "
               "you close the tab.")
else:
    st.success(f"Serving **{server.model_name}** at `{server.base_url}`", icon=":material/dns:")
    st.code(server.base_url, language=None)
    code = S.snippets(server.base_url, server.model_name, server.api_key)
    t1, t2, t3, t4 = st.tabs(["curl", "Python (openai)", "LangChain", "A tool call"])
    t1.code(code["curl"], language="bash")
    t2.code(code["openai"], language="python")
    t2.caption("`pip install openai` first.")
    t3.code(code["langchain"], language="python")
    t3.caption("`pip install langchain-openai` first. The **LangChain** page runs chains and an agent on this server.")
    with t4:
        st.caption("The question goes with the calculator's definition (`tools`); an instruct model tuned with tools "
                   "answers with `tool_calls`; the program computes the result and sends it back as a `tool` message.")
        question = st.text_input("Question", "What is 123+456?", key="serve_tool_question")
        if st.button("Send with the calculator tool", key="serve_tool", icon=":material/build:"):
            try:
                for message in tool_round_trip(server.base_url, server.model_name, question, server.api_key):
                    st.json(message, expanded=True)
            except LearnerError as e:
                st.error(str(e), icon=":material/error:")

    @st.fragment(run_every=1.0)
    def live_log():
        entries = server.log.entries()
        active, waiting = server.engine.load
        c = st.columns(4)
        c[0].metric("Requests", f"{server.log.total:,}")
        c[1].metric("Tokens generated", f"{server.engine.tokens_generated:,}")
        c[2].metric("Decoding now", active, help=f"{waiting} waiting for a place in the batch")
        sizes = server.engine.batch_size_counts()  # a copy: the engine thread adds sizes as it goes
        mean = sum(b * n for b, n in sizes.items()) / max(1, sum(sizes.values()))
        c[3].metric("Mean batch size", f"{mean:.1f}", help="sequences per forward pass so far")
        if entries:
            ui.plot(serving_plots.request_timeline(entries, server.started_at), key="serve_timeline")
            rows = [{"ended": time.strftime("%H:%M:%S", time.localtime(e.time)), "endpoint": e.endpoint,
                     "status": e.status, "tokens in": e.prompt_tokens, "tokens out": e.completion_tokens,
                     "ms": round(1000 * e.seconds), "stream": e.stream, "detail": e.detail}
                    for e in reversed(entries)]
            st.dataframe(rows, hide_index=True, key="serve_log")
        else:
            st.info("No request yet: run one of the snippets above in a terminal.", icon=":material/info:")

    live_log()

ui.code_expander(engine.BatchEngine._step, engine.Seq.add)
