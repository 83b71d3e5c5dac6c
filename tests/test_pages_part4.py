"""The Part 4 pages in AppTest with a trained run in the session: start a server from the page, call it
with the snippet's client, read it in the live log, stop it; LangChain's concepts on the same run."""

from __future__ import annotations

import openai

from tests.conftest import open_page
from tests.test_serve import NAME, run  # noqa: F401  (fixture)


def test_serve_page_starts_a_server_that_answers_and_stops_it(run):
    at = open_page("pages/serve.py", session_state={"runs": {NAME: run}})
    assert not at.exception and not at.error
    at.button(key="serve_start").click().run()
    assert not at.exception and not at.error
    server, holder = at.session_state["model_server"]
    assert server.running and server.host == "127.0.0.1" and server.model_name == NAME
    assert any(server.base_url in c.value for c in at.code)
    out = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0).completions.create(
        model=NAME, prompt="ROMEO:", max_tokens=8)
    assert len(out.choices[0].text) == 8
    at.run()  # the live log shows the request
    assert at.metric[0].value == "1"
    assert at.dataframe[0].value["tokens out"].tolist() == [8]
    # the LangChain page finds the session's server and runs a chain on it
    at.switch_page("pages/langchain_concepts.py").run()
    assert at.radio(key="lc_where").value.startswith("Our server")
    at.button(key="lc_chain").click().run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("ROMEO:\nBut soft") for c in at.code)
    assert server.log.total == 2
    at.switch_page("pages/serve.py").run()
    at.button(key="serve_stop").click().run()
    assert "model_server" not in at.session_state
    holder.join(10)  # the server shuts down in its job's thread, not the page's
    assert not server.running


def test_langchain_page_in_process_memory_and_the_agent(run):
    at = open_page("pages/langchain_concepts.py", session_state={"runs": {NAME: run}})
    assert not at.exception and not at.error
    assert at.radio(key="lc_where").value.startswith("A run")
    assert any("No instruct model" in i.value for i in at.info)
    at.text_input(key="lc_system").set_value("Be kind").run()
    at.chat_input(key="lc_chat").set_value("O Romeo").run()
    assert not at.error and len(at.session_state["lc_history"]) == 2
    assert any("system: Be kind\nuser: O Romeo\nassistant: " in c.value for c in at.code)  # the next prompt carries the memory
    at.text_input(key="lc_question").set_value("O Romeo").run()  # what this tiny vocabulary can spell
    at.button(key="lc_agent").click().run()  # LangChain's create_agent on a base model: it answers in words
    job = at.session_state["lc_agent_job"]
    assert job.join(60).state == "finished", job.reason  # it ran in the background, as a job
    at.run()
    assert not at.exception and not at.error
    shown = [m.value for m in at.markdown]
    assert any("**HumanMessage**" in v for v in shown) and any("**AIMessage (the answer)**" in v for v in shown)
    assert not any("**AIMessage with a tool call**" in v for v in shown)


def test_the_api_model_name_follows_the_run_and_an_instruct_run_comes_first(run):
    import copy

    from tests.test_tool_calls import TOKENIZER

    instruct = copy.copy(run)
    instruct.tokenizer = TOKENIZER  # a tokenizer with the chat and call tokens: what makes it an instruct run
    at = open_page("pages/serve.py", session_state={"runs": {NAME: run, "instruct run": instruct}})
    assert not at.exception
    assert at.selectbox(key="serve_run").value == "instruct run"
    assert at.text_input(key="serve_name:instruct run").value == "instruct-run"
    at.selectbox(key="serve_run").set_value(NAME).run()
    assert at.text_input(key=f"serve_name:{NAME}").value == NAME


def test_langchain_memory_marks_what_falls_outside_an_instruct_models_context(run):
    import copy
    import string

    from tests.chat_models import scripted_model
    from tests.test_tool_calls import TOKENIZER

    instruct = copy.copy(run)  # an instruct run with a short context: the history soon falls out of it
    instruct.tokenizer, instruct.model = TOKENIZER, scripted_model(TOKENIZER, ["Rome"], block_size=24)
    at = open_page("pages/langchain_concepts.py", session_state={"runs": {"instruct run": instruct}})
    assert not at.exception
    at.chat_input(key="lc_chat").set_value("Ann lives in " + string.ascii_letters[:10]).run()
    assert not at.exception and not at.error
    captions = [c.value for c in at.caption]
    assert any("are cut off (red)" in c for c in captions), captions  # the prompt is longer than 24 tokens


def test_the_agent_tab_runs_as_a_job_shows_each_message_and_stops(run):
    import copy
    import time

    from tests.test_agent_job import Slow
    from tests.test_tool_calls import TOKENIZER

    instruct = copy.copy(run)
    instruct.tokenizer, instruct.model = TOKENIZER, Slow(TOKENIZER)  # writes a calculator call, slowly
    at = open_page("pages/langchain_concepts.py", session_state={"runs": {"instruct run": instruct}})
    at.button(key="lc_agent").click().run()
    job = at.session_state["lc_agent_job"]
    deadline = time.monotonic() + 30
    while not job.peek().extra.get("writing") and time.monotonic() < deadline:
        time.sleep(0.01)
    at.run()  # the page's script returns at once: the agent runs in the background
    shown = [m.value for m in at.markdown]
    assert any("**HumanMessage**" in v for v in shown) and at.button(key="lc_agent").disabled
    assert any("The model is writing" in c.value for c in at.caption)
    at.button(key="lc_agent_stop").click().run()
    assert job.join(5).state == "stopped"
    at.run()
    assert any("stopped at your request" in c.value for c in at.caption) and not at.button(key="lc_agent").disabled
    at.button(key="lc_agent").click().run()  # and again, to the end: call, result, answer
    job = at.session_state["lc_agent_job"]
    assert job.join(60).state == "finished", job.reason
    at.run()
    shown = [m.value for m in at.markdown]
    assert any("**AIMessage with a tool call**" in v for v in shown) and any("**ToolMessage**" in v for v in shown)
    assert any("**AIMessage (the answer)**" in v for v in shown)
    assert any(c.value == "579" for c in at.code)
