"""The learner's model inside LangChain (tutorial part 4, frameworks).

LangChain talks to any model through one small interface: an `LLM` turns a prompt into text, a chat
model turns messages into a message. Wrapping our model takes a screen of code:

- `CheckpointLLM` and `CheckpointChatModel` run a trained model in this process (no server); the chat model
  calls tools (`bind_tools`), so LangChain's own agent (`langchain.agents.create_agent`) can drive it;
- `OpenAICompatibleLLM` and `OpenAICompatibleChatModel` post to any OpenAI-compatible server (ours,
  `python -m llmviz serve`, or a bigger local model), with nothing but the standard library.

All of them honour `stop`: LangChain's agents stop the model before it invents the tool's answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel, SimpleChatModel
from langchain_core.language_models.llms import LLM
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict

from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.nn.generate import generate_until
from llmviz.nn.sampling import Forbidden
from llmviz.serving import tool_calls
from llmviz.tasks.chat import format_chat, has_tool_calls, tag_ids


def complete(model, tokenizer, prompt: str | list[int], stop=(), max_tokens: int = 200, temperature: float = 0.8,
             top_k: int | None = None, seed: int | None = None, stop_token_ids=(), on_text=None,
             constraint=None) -> str:
    """The model's continuation of `prompt` (text, or ids already made by llmviz.tasks.chat.format_chat), ended
    before the first stop string (or stop token); on_text receives it piece by piece, never half a stop string."""
    try:
        ids = (list(prompt) if not isinstance(prompt, str) else tokenizer.encode(prompt)) or [0]
    except ValueError as e:
        raise LearnerError(f"this model's tokenizer cannot spell the prompt: {e}") from None
    return generate_until(model, tokenizer, ids, max_tokens, stop or (), stop_token_ids, on_text,
                          temperature=temperature, top_k=top_k, seed=seed, constraint=constraint)


class CheckpointLLM(LLM):
    """A trained llmviz model as a LangChain LLM: `CheckpointLLM.from_file("lm5.safetensors").invoke("ROMEO:")`."""
    model_config = ConfigDict(arbitrary_types_allowed=True)
    network: Any  # the llmviz.nn.model.LanguageModel
    tokenizer: Any
    max_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = None
    seed: int | None = None

    @classmethod
    def from_file(cls, path, **kwargs) -> "CheckpointLLM":

        ck = checkpoint.load(path)
        return cls(network=ck.model, tokenizer=ck.tokenizer, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "llmviz-checkpoint"

    def _call(self, prompt: str, stop: list[str] | None = None, run_manager=None, **kwargs: Any) -> str:
        on_text = run_manager.on_llm_new_token if run_manager else None
        # a text never holds a tag: an instruct model's continuation ends at its "<|end|>" (or any special token)
        return complete(self.network, self.tokenizer, prompt, stop or (), self.max_tokens, self.temperature,
                        self.top_k, self.seed, tag_ids(self.tokenizer), on_text=on_text)

    @property
    def _identifying_params(self) -> dict:
        return {"parameters": self.network.num_params(), "max_tokens": self.max_tokens,
                "temperature": self.temperature, "top_k": self.top_k, "seed": self.seed}


_ROLES = {HumanMessage: "user", AIMessage: "assistant", SystemMessage: "system", ToolMessage: "tool"}


def as_roles(messages: list[BaseMessage]) -> list[dict]:
    """LangChain messages -> {"role", "content"} dicts (llmviz.tasks.chat.format_chat's input), an AIMessage's
    tool calls and a ToolMessage's tool_call_id kept."""
    out = []
    for m in messages:
        role = next((r for cls, r in _ROLES.items() if isinstance(m, cls)), "user")
        d = {"role": role, "content": m.content if isinstance(m.content, str) else str(m.content)}
        if isinstance(m, AIMessage) and m.tool_calls:
            d["tool_calls"] = [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in m.tool_calls]
        if isinstance(m, ToolMessage):
            d["tool_call_id"] = m.tool_call_id
        out.append(d)
    return out


def openai_tool_choice(tool_choice) -> str | dict | None:
    """LangChain's spellings of tool_choice ("any", True, a tool's name) as OpenAI's."""
    if tool_choice in (None, "auto", "none", "required"):
        return tool_choice
    if tool_choice in ("any", True):
        return "required"
    if isinstance(tool_choice, str):
        return {"type": "function", "function": {"name": tool_choice}}
    return tool_choice


class CheckpointChatModel(BaseChatModel):
    """A trained llmviz model as a LangChain chat model: messages -> llmviz.tasks.chat.format_chat -> an
    AIMessage. With tools bound (`bind_tools`, what LangChain's agents call) the tools are listed in the
    prompt and a call the model writes comes back as the message's tool_calls, its format enforced token by
    token as the server does it (llmviz.serving.tool_calls)."""
    model_config = ConfigDict(arbitrary_types_allowed=True)
    network: Any
    tokenizer: Any
    max_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = None
    seed: int | None = None

    @property
    def _llm_type(self) -> str:
        return "llmviz-checkpoint-chat"

    def bind_tools(self, tools, *, tool_choice=None, **kwargs):
        """The model with these tools (LangChain tools, functions or OpenAI schemas) sent with every call."""
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=openai_tool_choice(tool_choice),
                         **kwargs)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None,
                  tools: list[dict] | None = None, tool_choice=None, **kwargs) -> ChatResult:
        request = tool_calls.read_choice(tool_calls.read_tools(tools), tool_choice) if tools else None
        if request is not None and request.choice != "required" and not has_tool_calls(self.tokenizer):
            request = None  # a model that cannot call tools is not shown them (it answers in words)
        fmt = format_chat(tool_calls.read_history(as_roles(messages)), self.tokenizer,
                          tools=request.tools if request else ())
        make = tool_calls.grammar(self.tokenizer, request, self.max_tokens) if request else None
        constraint = make() if make else Forbidden(self.tokenizer.vocab_size, fmt.forbidden) if fmt.forbidden else None
        # the text as it is written goes to the callbacks (on_llm_new_token): a page shows it, a Stop is heard there
        on_text = run_manager.on_llm_new_token if run_manager is not None else None
        text = complete(self.network, self.tokenizer, fmt.ids or fmt.prompt, tuple(stop or ()) + fmt.stop, self.max_tokens,
                        self.temperature, self.top_k, self.seed, fmt.stop_token_ids, on_text, constraint=constraint)
        content, call = tool_calls.split(text, request.callable) if make else (text, None)
        calls = [{"name": call.name, "args": call.arguments, "id": tool_calls.call_id(), "type": "tool_call"}] if call else []
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=(content or "").strip(), tool_calls=calls))])


def post(base_url: str, path: str, body: dict, api_key: str | None = None, timeout: float = 60) -> dict:
    """POST a JSON body to an OpenAI-compatible server; its error message becomes a LearnerError."""
    req = urllib.request.Request(base_url.rstrip("/") + path, json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {api_key}"} if api_key else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = e.reason
        raise LearnerError(f"the server answered {e.code}: {message}") from None
    except (urllib.error.URLError, OSError) as e:
        raise LearnerError(f"cannot reach {base_url}: {getattr(e, 'reason', e)}") from None


class _Remote(BaseModel):
    base_url: str = "http://127.0.0.1:8000/v1"
    model_name: str = "llmviz"
    api_key: str | None = None
    max_tokens: int = 200
    temperature: float = 0.8
    seed: int | None = None

    def _body(self, stop) -> dict:
        body = {"model": self.model_name, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if stop:
            body["stop"] = list(stop)[:4]
        if self.seed is not None:
            body["seed"] = self.seed
        return body


class OpenAICompatibleLLM(LLM, _Remote):
    """Any OpenAI-compatible /v1/completions endpoint as a LangChain LLM."""
    @property
    def _llm_type(self) -> str:
        return "openai-compatible"

    def _call(self, prompt: str, stop: list[str] | None = None, run_manager=None, **kwargs) -> str:
        out = post(self.base_url, "/completions", {**self._body(stop), "prompt": prompt}, self.api_key)
        return out["choices"][0]["text"]


class OpenAICompatibleChatModel(SimpleChatModel, _Remote):
    """Any OpenAI-compatible /v1/chat/completions endpoint as a LangChain chat model."""
    @property
    def _llm_type(self) -> str:
        return "openai-compatible-chat"

    def _call(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager=None, **kwargs) -> str:
        out = post(self.base_url, "/chat/completions", {**self._body(stop), "messages": as_roles(messages)},
                   self.api_key)
        return out["choices"][0]["message"]["content"] or ""


def tool_round_trip(base_url: str, model_name: str, question: str = "What is 123+456?",
                    api_key: str | None = None) -> list[dict]:
    """A question sent with the calculator tool, as any OpenAI client sends it: the model's call, the
    program's result (a `tool` message), the model's answer; the messages, in order."""
    from llmviz.tasks.tools import CALCULATOR, calculator, openai_schema

    messages = [{"role": "user", "content": question}]
    body = {"model": model_name, "tools": [openai_schema(CALCULATOR)], "temperature": 0, "max_tokens": 80}
    for _ in range(3):
        reply = post(base_url, "/chat/completions", {**body, "messages": messages}, api_key)["choices"][0]["message"]
        messages.append({k: v for k, v in reply.items() if v is not None and k != "refusal"})
        if not reply.get("tool_calls"):
            break
        for call in reply["tool_calls"]:
            try:
                expression = json.loads(call["function"]["arguments"]).get("expression", "")
            except ValueError:
                expression = ""
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": calculator(expression)})
    return messages
