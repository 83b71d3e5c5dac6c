"""LangChain's key concepts on the learner's own model (tutorial part 4): prompt templates, chains,
chat memory, tools and an agent, each built from langchain-core's primitives.

- a prompt template fills named blanks: "{character}:\\n{opening}" -> "ROMEO:\\nBut soft";
- a chain is runnables piped together: prompt | model | output parser;
- memory is the conversation so far, put back into every prompt (the model itself remembers nothing);
- a tool is a function the model may ask for; an agent is the loop that runs what the model asks (a tool
  call -> the tool's result -> ... ) until it answers. The agent is LangChain's own
  (`langchain.agents.create_agent`); `agent_loop` is the same loop written out, to read. A page runs it as a
  background llmviz.jobs.Job (`agent_job`): each message recorded as it comes, the text being written
  published token by token, Stop heard between two tokens.

A base model only continues text: it never calls a tool. An instruct model tuned with tools
(llmviz.tasks.instruct) writes calls, which reach LangChain as an AIMessage's tool_calls.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.tools import tool

from llmviz import jobs
from llmviz.tasks.tools import calculator as calculate

# --- a tool: arithmetic, by the app's one safe evaluator (llmviz.tasks.tools.calculator; never eval) ----

@tool
def calculator(expression: str) -> str:
    """evaluates arithmetic: + - * / and brackets on numbers"""
    return calculate(expression)


# --- a prompt template and a chain ------------------------------------------------------------------

SCENE = PromptTemplate.from_template("{character}:\n{opening}")


def scene_chain(llm):
    """prompt | model | output parser: fill the template, continue it, return plain text."""
    return SCENE | llm | StrOutputParser()


# --- memory: the conversation is put back into every prompt ---------------------------------------------

CHAT = ChatPromptTemplate.from_messages([("system", "{system}"), MessagesPlaceholder("history"), ("human", "{input}")])


class Conversation:
    """A chat with memory: the history is a plain list of messages, and each turn all of it goes back
    into the prompt."""

    def __init__(self, chat_model, system: str = "You are a helpful assistant.",
                 history: list[BaseMessage] | None = None):
        self.chain = CHAT | chat_model | StrOutputParser()
        self.history: list[BaseMessage] = history if history is not None else []
        self.system = system

    def prompt_for(self, text: str) -> list[BaseMessage]:
        """The messages the model receives for this turn (system, the history, the new input)."""
        return CHAT.invoke({"system": self.system, "history": self.history, "input": text}).to_messages()

    def say(self, text: str) -> str:
        reply = self.chain.invoke({"system": self.system, "history": self.history, "input": text})
        self.history += [HumanMessage(text), AIMessage(reply)]
        return reply


# --- an agent: LangChain's own, and what it does inside ------------------------------------------------

class Step(NamedTuple):
    """One message of an agent's run, as a page shows it."""
    kind: str  # "question", "call" (the model asks for a tool), "result" (the tool's answer), "answer"
    text: str
    message: BaseMessage


def steps(messages) -> list[Step]:
    """An agent's messages (HumanMessage -> AIMessage with tool_calls -> ToolMessage -> ... -> AIMessage)."""
    out = []
    for m in messages:
        if isinstance(m, HumanMessage):
            out.append(Step("question", str(m.content), m))
        elif isinstance(m, ToolMessage):
            out.append(Step("result", str(m.content), m))
        elif isinstance(m, AIMessage) and m.tool_calls:
            out += [Step("call", f"{c['name']}({json.dumps(c['args'], ensure_ascii=False)})", m) for c in m.tool_calls]
        elif isinstance(m, AIMessage):
            out.append(Step("answer", str(m.content), m))
    return out


def langchain_agent(chat_model, tools=(calculator,)):
    """LangChain's agent (`langchain.agents.create_agent`, a LangGraph graph) around a chat model that can
    call tools: ChatOpenAI against our server, or CheckpointChatModel in-process."""
    from langchain.agents import create_agent  # LangGraph is a second's import: only when an agent is made

    return create_agent(chat_model, tools=list(tools))


def run_langchain_agent(chat_model, question: str, tools=(calculator,), max_steps: int = 6, callbacks=()):
    """The messages of LangChain's agent answering `question`, yielded as they come (one node at a time);
    `callbacks`: LangChain callback handlers told of every model call and token (e.g. `Watching`)."""
    agent = langchain_agent(chat_model, tools)
    yield HumanMessage(question)
    config = {"recursion_limit": 2 * max_steps + 1, "callbacks": list(callbacks)}
    for update in agent.stream({"messages": [HumanMessage(question)]}, config, stream_mode="updates"):
        for node in update.values():
            yield from (node or {}).get("messages", [])


class Watching(BaseCallbackHandler):
    """Ties an agent's model calls to a llmviz Job: Stop is heard when a call or a tool starts and between two
    tokens of a call (the job then ends as stopped, with the messages so far); the text the model is writing
    is published as the job's extra["writing"]."""
    raise_error = True  # a Stop raised here ends the agent: LangChain re-raises it instead of logging it

    def __init__(self, job: jobs.Job):
        self.job = job

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.job.check_stop()
        self.job.set(writing="")

    def on_llm_new_token(self, token: str, **kwargs) -> None:
        self.job.check_stop()
        self.job.set(writing=self.job.peek().extra.get("writing", "") + str(token))

    def on_tool_start(self, serialized, input_str, **kwargs) -> None:
        self.job.check_stop()


def agent_job(chat_model, question: str, tools=(calculator,), max_steps: int = 6) -> jobs.Job:
    """LangChain's agent answering `question` in a background job (start it; a page starts it with ui.start_job):
    its history is the agent's Steps as they come (question, call, result, answer), its extra["writing"] the
    model's text while a call is being written."""
    def work(job: jobs.Job) -> None:
        for message in run_langchain_agent(chat_model, question, tools, max_steps, callbacks=[Watching(job)]):
            for step in steps([message]):
                job.record(step)
            job.set(writing="")
            job.check_stop()

    return jobs.Job(work, name="agent")


def agent_loop(chat_model, question: str, tools=(calculator,), max_steps: int = 4) -> list[BaseMessage]:
    """What an agent framework does inside, by hand: send the messages with the tools; while the answer
    asks for a tool, run it (the program, never the model, computes it) and send its result back."""
    by_name = {t.name: t for t in tools}
    model = chat_model.bind_tools(list(tools))
    messages: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(max_steps):
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = by_name[call["name"]].invoke(call["args"]) if call["name"] in by_name else \
                f"error: there is no tool {call['name']!r}"
            messages.append(ToolMessage(str(result), tool_call_id=call["id"]))
    return messages
