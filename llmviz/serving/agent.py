"""LangChain's key concepts on the learner's own model (tutorial part 4): prompt templates, chains,
chat memory, tools and an agent, each built from langchain-core's primitives.

- a prompt template fills named blanks: "{character}:\\n{opening}" -> "ROMEO:\\nBut soft";
- a chain is runnables piped together: prompt | model | output parser;
- memory is the conversation so far, put back into every prompt (the model itself remembers nothing);
- a tool is a function the model may ask for; an agent is the loop that runs what the model asks
  (thought -> action -> observation) until it gives a final answer.

A base model only continues text: it will rarely follow the agent's format. An instruct model is
trained to; `scripted_llm` stands in for one, so the loop's mechanics can be seen either way.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.tools import tool

from llmviz.tasks.tools import calculator as calculate

# --- a tool: arithmetic, by the app's one safe evaluator (llmviz.tasks.tools.calculator; never eval) ----

@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression: numbers, + - * / and brackets, e.g. 12*(3+4)."""
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


# --- an agent: a loop around the model and its tools ------------------------------------------------------

REACT = PromptTemplate.from_template(
    "Answer the question. You can use these tools:\n{tools}\n\n"
    "Use this format:\n"
    "Question: the question\n"
    "Thought: what to do next\n"
    "Action: the tool's name\n"
    "Action Input: the tool's input\n"
    "Observation: the tool's result\n"
    "(Thought, Action, Action Input and Observation may repeat)\n"
    "Thought: I know the answer\n"
    "Final Answer: the answer\n\n"
    "Question: {question}\n"
    "Thought:{scratchpad}")
STOP = ["\nObservation:"]  # the model must not write the tool's answer itself


class AgentStep(NamedTuple):
    kind: str  # "thought", "action", "observation", "answer", or "no format" (the model did not follow it)
    text: str


_ACTION = re.compile(r"Action\s*:\s*(.*?)\s*\n\s*Action\s*Input\s*:\s*(.*)", re.DOTALL)
_FINAL = re.compile(r"Final\s*Answer\s*:\s*(.*)", re.DOTALL)


def run_agent(llm, question: str, tools=(calculator,), max_steps: int = 4) -> list[AgentStep]:
    """Thought -> action -> observation ... -> final answer, with `llm` deciding each step."""
    by_name = {t.name: t for t in tools}
    chain = REACT | llm.bind(stop=STOP) | StrOutputParser()
    description = "\n".join(f"{t.name}: {t.description}" for t in tools)
    trace: list[AgentStep] = []
    scratchpad = ""
    for _ in range(max_steps):
        out = chain.invoke({"question": question, "tools": description, "scratchpad": scratchpad})
        final, action = _FINAL.search(out), _ACTION.search(out)
        cut = min(m.start() for m in (final, action) if m) if (final or action) else len(out)
        if out[:cut].strip():
            trace.append(AgentStep("thought", out[:cut].strip()))
        if final and (not action or final.start() < action.start()):
            trace.append(AgentStep("answer", final.group(1).strip()))
            return trace
        if not action:
            trace.append(AgentStep("no format", out))
            return trace
        name, arg = action.group(1).strip(), action.group(2).strip().splitlines()[0].strip()
        trace.append(AgentStep("action", f"{name}({arg})"))
        observation = by_name[name].invoke(arg) if name in by_name else \
            f"there is no tool {name!r}; the tools are {', '.join(by_name)}"
        trace.append(AgentStep("observation", str(observation)))
        scratchpad += f"{out[:action.end()]}\nObservation: {observation}\nThought:"
    return trace


def scripted_llm(question: str = "What is 12*(3+4)?", expression: str = "12*(3+4)") -> FakeListLLM:
    """A stand-in for an instruct model: it answers the agent's prompt as one would, from a script."""
    return FakeListLLM(responses=[
        f" I should compute {expression} with the calculator.\nAction: calculator\nAction Input: {expression}",
        f" The calculator says {calculate(expression)}.\nFinal Answer: {calculate(expression)}",
    ])
