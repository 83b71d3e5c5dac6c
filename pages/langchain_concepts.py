"""LangChain: its key concepts on the learner's own model — the model, a prompt template, a chain,
chat memory, and an agent that calls a calculator tool."""

import streamlit as st

from llmviz.serving import agent
from llmviz.tasks import chat
from llmviz.serving.langchain_llm import (CheckpointChatModel, CheckpointLLM, OpenAICompatibleChatModel,
                                  OpenAICompatibleLLM)
from llmviz.errors import LearnerError
from llmviz.plots import instruct as instruct_plots
from pages.shared import session_runs, model_server, ui

st.title("LangChain")
st.markdown(
    "**LangChain** puts a common face on every model (an *LLM* continues a prompt, a *chat model* answers "
    "messages) and builds programs from small pieces: **prompt templates** with blanks, **chains** that pipe "
    "one piece into the next (`prompt | model | parser`), **memory** that carries a conversation, and "
    "**agents**: a loop in which the model decides to call a **tool** and reads its result. Here each one "
    "runs on your own model."
)

server = model_server.current()
runs = session_runs.usable()
options = (["Our server (Serve your model page)"] if server else []) + (["A run of this session, in-process"] if runs else []) \
    + ["Any OpenAI-compatible server"]
c1, c2, c3 = st.columns([2, 2, 1])
where = c1.radio("Model", options, key="lc_where")
temperature = c3.slider("Temperature", 0.0, 1.5, 0.8, 0.05, key="lc_temp")
max_tokens = c3.slider("Tokens", 10, 300, 120, 10, key="lc_tokens")
llm = chat_model = tokenizer = None
block = 0  # the model's context, when it is known here
if where.startswith("Our server"):
    kw = dict(base_url=server.base_url, model_name=server.model_name, api_key=server.api_key, max_tokens=max_tokens,
              temperature=temperature)
    llm, chat_model, tokenizer = OpenAICompatibleLLM(**kw), OpenAICompatibleChatModel(**kw), server.tokenizer
    block = server.model.config.block_size
    c2.caption(f"`{server.base_url}` · model `{server.model_name}`")
elif where.startswith("A run"):
    run = runs[c2.selectbox("Run", list(runs), key="lc_run")]
    kw = dict(network=run.model, tokenizer=run.tokenizer, max_tokens=max_tokens, temperature=temperature)
    llm, chat_model, tokenizer = CheckpointLLM(**kw), CheckpointChatModel(**kw), run.tokenizer
    block = run.model.config.block_size
else:
    base_url = c2.text_input("Base URL", "http://127.0.0.1:8000/v1", key="lc_base_url",
                             help="e.g. `python -m llmviz serve --checkpoint lm5.safetensors`, or a bigger local model")
    name = c2.text_input("Model name", "llmviz", key="lc_model_name")
    key = c2.text_input("API key (optional)", key="lc_key", type="password")
    kw = dict(base_url=base_url, model_name=name, api_key=key or None, max_tokens=max_tokens, temperature=temperature)
    llm, chat_model = OpenAICompatibleLLM(**kw), OpenAICompatibleChatModel(**kw)

instruct = tokenizer is not None and chat.has_chat_template(tokenizer)
chat_model_tools = tokenizer is None or chat.has_tool_calls(tokenizer)
agent_model = chat_model
if where.startswith("Our server"):
    from langchain_openai import ChatOpenAI  # the standard client, over HTTP to the page's server

    agent_model = ChatOpenAI(base_url=server.base_url, model=server.model_name, api_key=server.api_key or "none",
                             max_tokens=max_tokens, temperature=temperature, max_retries=0, streaming=True)
if tokenizer is None:
    st.caption("A model behind another server may be a base model (it continues text) or an instruct model (it "
               "answers, and may call tools).")
    instruct = True  # let the learner's model decide by default
elif not instruct:
    st.info("No instruct model here yet: a base model trained on plain text only **continues text**. It fills a "
            "template well, but it has never learned to answer a question or to call a tool — that is what "
            "instruction tuning (Part 3) teaches. Each step below still runs on it, so you see what a base model "
            "does; the agent gets an answer in words, never a tool call.", icon=":material/info:")


def attempt(fn):
    try:
        return fn()
    except LearnerError as e:
        st.error(str(e), icon=":material/error:")


t_model, t_prompt, t_chain, t_memory, t_agent = st.tabs(["Model", "Prompt template", "Chain", "Memory", "Agent"])
with t_model:
    st.markdown("`llm.invoke(prompt)` continues a prompt; `stop` ends the text before a string of your choice.")
    prompt = st.text_input("Prompt", "ROMEO:", key="lc_prompt")
    stop = st.text_input("Stop at (optional; \\n is a newline)", "", key="lc_stop")
    if st.button("Invoke", key="lc_invoke", icon=":material/play_arrow:"):
        out = attempt(lambda: llm.invoke(prompt, stop=[stop.replace("\\n", "\n")] if stop else None))
        if out is not None:
            st.code(prompt + out, language=None, wrap_lines=True)
with t_prompt:
    st.markdown("A **prompt template** is text with named blanks, filled for each call.")
    st.code(agent.SCENE.template, language=None)
    character = st.text_input("character", "ROMEO", key="lc_character")
    opening = st.text_input("opening", "But soft", key="lc_opening")
    st.caption("The filled-in prompt:")
    st.code(agent.SCENE.format(character=character, opening=opening), language=None)
with t_chain:
    st.markdown("A **chain** pipes runnables: `SCENE | llm | StrOutputParser()`. `invoke` on the chain fills "
                "the template, calls the model and parses its output, in that order.")
    if st.button("Run the chain", key="lc_chain", icon=":material/link:"):
        out = attempt(lambda: agent.scene_chain(llm).invoke({"character": character, "opening": opening}))
        if out is not None:
            st.code(agent.SCENE.format(character=character, opening=opening) + out, language=None, wrap_lines=True)
with t_memory:
    st.markdown("The model remembers nothing between calls: **memory** is the conversation so far, put back into "
                "every prompt (`ChatPromptTemplate` with a `MessagesPlaceholder`, and a message history).")
    system = st.text_input("System message", "You are a helpful assistant", key="lc_system")
    talk = agent.Conversation(chat_model, system=system, history=st.session_state.get("lc_history"))
    st.session_state["lc_history"] = talk.history
    for m in talk.history:
        st.chat_message("user" if m.type == "human" else "assistant").write(m.content)
    said = st.chat_input("Say something", key="lc_chat")
    if said and attempt(lambda: talk.say(said)) is not None:
        st.rerun()
    if talk.history and st.button("Forget the conversation", key="lc_forget"):
        st.session_state.pop("lc_history")
        st.rerun()
    roles = [{"role": {"human": "user", "ai": "assistant"}.get(m.type, m.type), "content": m.content}
             for m in talk.prompt_for("...")]
    try:
        if instruct and block and tokenizer is not None:  # the prompt as the model reads it: what is cut off marked
            view = chat.prompt_view(tokenizer, roles, block)
            st.caption("What the model receives for the next turn (llmviz.tasks.chat.prompt_view), token by token:")
            ui.plot(instruct_plots.token_strip(view.tokens, view.kinds, per_row=16), key="lc_memory_prompt")
            st.caption(view.reading())
        else:
            st.caption("What the model receives for the next turn (llmviz.tasks.chat.format_chat):")
            st.code(chat.format_chat(roles, tokenizer).prompt, language=None, wrap_lines=True)
    except LearnerError as e:  # a model whose vocabulary cannot spell the conversation
        st.caption(f"(It cannot be shown: {e}.)")
with t_agent:
    st.markdown("An **agent** is a loop: the model is sent the question *and the tools*; when it answers with a "
                "**tool call**, the program runs the tool and sends back a `ToolMessage`; it goes on until the model "
                "answers in words. This is LangChain's own agent, `create_agent(model, tools=[calculator])`, on "
                "your model: over HTTP it is `ChatOpenAI(base_url=...)` talking to the server, in-process "
                "`CheckpointChatModel`, whose `bind_tools` lists the tools in the prompt.")
    question = st.text_input("Question", "What is 123+456?", key="lc_question")
    if not chat_model_tools:
        st.caption("This model has no `<|call|>` token: it was not tuned to call tools, so it will answer in words.")
    job = st.session_state.get("lc_agent_job")
    running = job is not None and job.running
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Run the agent", key="lc_agent", icon=":material/smart_toy:", disabled=running):
        st.session_state["lc_agent_job"] = ui.start_job(agent.agent_job(agent_model, question))
        st.rerun()
    if b2.button("Stop", key="lc_agent_stop", icon=":material/stop:", disabled=not running or job.stopping):
        job.stop()  # heard between two tokens: the messages so far stay
        st.rerun()
    icons = {"question": ":material/person:", "call": ":material/build:", "result": ":material/calculate:",
             "answer": ":material/check_circle:"}
    names = {"question": "HumanMessage", "call": "AIMessage with a tool call", "result": "ToolMessage",
             "answer": "AIMessage (the answer)"}

    @st.fragment(run_every=0.5 if running else None)
    def agent_messages():
        job = st.session_state.get("lc_agent_job")
        if job is None:
            return
        snap = job.snapshot()
        for step in snap.history:  # each message as it came
            st.markdown(f"{icons[step.kind]} **{names[step.kind]}**")
            st.code(step.text, language=None, wrap_lines=True)
        if snap.state == "running":
            st.caption("The model is writing…" + (" (stopping)" if snap.stopping else ""))
            if snap.extra.get("writing"):
                st.code(snap.extra["writing"], language=None, wrap_lines=True)
        elif snap.state == "failed":
            st.error(f"The agent failed: {snap.reason}", icon=":material/error:")
        elif snap.state == "stopped":
            st.caption(f"The agent was {snap.reason}: the messages above are those it had.")
        if running and snap.done:
            st.rerun()  # stop polling

    agent_messages()
    st.caption("What an agent framework does inside: the same loop written out by hand (bind the tools, invoke, "
               "run each call, append its result, invoke again).")
    ui.code_expander(agent.agent_loop, title="What an agent framework does inside")

ui.code_expander(CheckpointLLM, agent.run_langchain_agent)
