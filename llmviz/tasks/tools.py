"""Tools an assistant may call (tutorial part 3, then part 4's API and agents): what a tool is, how a call
is written, and the program that runs it.

A tool is a name, a description and the names of its parameters (each a string). The model is told which
tools it has in a system turn it reads first (`tools_text`: "tools: calculator(expression); weather(city)"),
and calls one by writing, right after "<|assistant|>", the special token "<|call|>", the tool's name and
its arguments as compact JSON, then "<|end|>":

    <|assistant|><|call|>calculator{"expression":"123+456"}<|end|>

The program, never the model, computes the result (`run_tool`) and gives it back in a tool turn,
"<|tool|>579<|end|>"; the assistant then answers from it. A call maps one to one onto OpenAI's
`tool_calls` (a function's name and JSON arguments), and a tool onto OpenAI's function schema
(`openai_schema`, `from_openai`), which is how the server and LangChain hand tools over.

The calculator is the one safe evaluator of arithmetic in the app: Python's `ast` reads the expression,
and only numbers, + - * / and brackets are computed (never `eval`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from llmviz.errors import LearnerError

CALL = "<|call|>"  # the special token that starts a call, right after "<|assistant|>"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: tuple[str, ...]  # each one a string argument, all of them required


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict

    def __hash__(self) -> int:  # a dict is not hashable; the call's written form is
        return hash(format_call(self))


CALCULATOR = Tool("calculator", "evaluates arithmetic: + - * / and brackets on numbers", ("expression",))
WEATHER = Tool("weather", "today's weather in a town", ("city",))
LOOKUP = Tool("lookup", "the meaning of an old English word", ("word",))

# --- the calculator: numbers, + - * / and brackets, nothing else ---------------------------------------

MAX_EXPRESSION = 200  # characters
MAX_MAGNITUDE = 10**30  # no number, given or computed, beyond this

_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b}


def _value(node) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ZeroDivisionError
        out = _OPS[type(node.op)](left, right)
        if abs(out) > MAX_MAGNITUDE:
            raise ValueError("the result is too large")
        return out
    raise ValueError(f"only numbers, + - * / and brackets are allowed, not {ast.unparse(node)!r}")


def calculator(expression: str) -> str:
    """The value of an arithmetic expression ("12*(3+4)" -> "84", "7/2" -> "3.5"), exact for whole numbers;
    anything else gets a string starting "error: " (nothing is ever evaluated as Python)."""
    if not isinstance(expression, str) or not expression.strip():
        return "error: give an expression such as 12*(3+4)"
    if len(expression) > MAX_EXPRESSION:
        return f"error: the expression is longer than {MAX_EXPRESSION} characters"
    try:
        value = _value(ast.parse(expression.strip(), mode="eval").body)
    except ZeroDivisionError:
        return "error: division by zero"
    except SyntaxError:
        return f"error: not arithmetic: {expression.strip()!r}"
    except (ValueError, OverflowError, RecursionError, MemoryError) as e:
        return f"error: {e}" if str(e) else "error: the expression is too deep"
    if abs(value) > MAX_MAGNITUDE:
        return "error: the result is too large"
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.10g}"


# --- two invented tools, computed by the program too ------------------------------------------------------

_SKIES = ("sunny", "cloudy", "rain", "fog", "snow", "wind")
GLOSSARY = {"thou": "you", "thee": "you", "thy": "your", "hath": "has", "doth": "does", "wherefore": "why",
            "anon": "soon", "ere": "before", "hither": "here", "thither": "there", "whence": "from where",
            "oft": "often", "aught": "anything", "naught": "nothing", "prithee": "please", "alas": "sadly",
            "forsooth": "truly", "methinks": "I think", "sirrah": "boy", "wilt": "will"}


def weather(city: str) -> str:
    """A made-up but fixed forecast for a town (the same town, the same weather): "rain, 12 C"."""
    if not city.strip():
        return "error: give a town"
    digest = hashlib.sha256(city.strip().lower().encode()).digest()
    return f"{_SKIES[digest[0] % len(_SKIES)]}, {digest[1] % 31 - 5} C"


def lookup(word: str) -> str:
    """What an old English word means, from a small glossary."""
    meaning = GLOSSARY.get(word.strip().lower())
    return meaning if meaning else f"error: no entry for {word.strip()!r}"


FUNCTIONS: dict[str, Callable[..., str]] = {"calculator": calculator, "weather": weather, "lookup": lookup}
BUILT_IN = (CALCULATOR, WEATHER, LOOKUP)


def run_tool(call: ToolCall, tools) -> str:
    """The result of a call, computed by the program: `tools` are the tools offered (Tool objects, run by
    the app's own functions) or a mapping name -> function(**arguments) -> str. An unknown tool or wrong
    arguments give "error: ..."."""
    if isinstance(tools, Mapping):
        functions, offered = dict(tools), {name: None for name in tools}
    else:
        offered = {t.name: t for t in tools}
        functions = {name: FUNCTIONS[name] for name in offered if name in FUNCTIONS}
    if call.name not in offered or call.name not in functions:
        return f"error: no tool named {call.name!r}" + (f" (tools: {', '.join(offered)})" if offered else "")
    tool = offered[call.name]
    if tool is not None and set(call.arguments) != set(tool.parameters):
        return f"error: {call.name} takes {', '.join(tool.parameters) or 'no arguments'}"
    if not all(isinstance(v, str) for v in call.arguments.values()):
        return "error: every argument is a string"
    try:
        return str(functions[call.name](**call.arguments))
    except TypeError as e:
        return f"error: wrong arguments for {call.name}: {e}"


# --- the call as the model writes it --------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def format_call(call: ToolCall) -> str:
    """The text after "<|call|>": the name, then the arguments as compact JSON: calculator{"expression":"1+2"}."""
    return call.name + json.dumps(call.arguments, separators=(",", ":"), ensure_ascii=False)


def parse_call(text: str) -> ToolCall | None:
    """The exact inverse of format_call: a call, or None for anything else."""
    brace = text.find("{")
    if brace < 1 or not _NAME.match(text[:brace]):
        return None
    try:
        arguments = json.loads(text[brace:])
    except ValueError:
        return None
    if not isinstance(arguments, dict):
        return None
    call = ToolCall(text[:brace], arguments)
    return call if format_call(call) == text else None


def tools_text(tools: Iterable[Tool]) -> str:
    """What the model reads of its tools: "tools: calculator(expression); weather(city)"."""
    return "tools: " + "; ".join(f"{t.name}({', '.join(t.parameters)})" for t in tools)


# --- OpenAI's shapes --------------------------------------------------------------------------------------

def openai_schema(tool: Tool) -> dict:
    """The tool as OpenAI's function definition (every parameter a required string)."""
    return {"type": "function", "function": {
        "name": tool.name, "description": tool.description,
        "parameters": {"type": "object", "properties": {p: {"type": "string"} for p in tool.parameters},
                       "required": list(tool.parameters)}}}


def from_openai(tool_dict) -> Tool:
    """A Tool from OpenAI's function definition; an invalid one is refused, saying what is wrong."""
    if not isinstance(tool_dict, Mapping):
        raise LearnerError("a tool must be an object like {\"type\": \"function\", \"function\": {...}}")
    if tool_dict.get("type", "function") != "function":
        raise LearnerError(f"only tools of type \"function\" are supported, not {tool_dict.get('type')!r}")
    fn = tool_dict.get("function", tool_dict)
    if not isinstance(fn, Mapping):
        raise LearnerError("a tool's \"function\" must be an object with a name")
    name = fn.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise LearnerError(f"a tool's name must be letters, digits, _ or - (at most 64, starting with a letter), "
                           f"not {name!r}")
    description = fn.get("description", "")
    if not isinstance(description, str):
        raise LearnerError(f"the description of tool {name!r} must be text")
    params = fn.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(params, Mapping) or params.get("type", "object") != "object":
        raise LearnerError(f"the parameters of tool {name!r} must be a JSON Schema of type \"object\"")
    props = params.get("properties") or {}
    if not isinstance(props, Mapping) or not all(isinstance(k, str) and k for k in props):
        raise LearnerError(f"the parameters' \"properties\" of tool {name!r} must be an object of named parameters")
    required = params.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        raise LearnerError(f"tool {name!r} requires parameters it does not define: "
                           f"{[r for r in required if r not in props] if isinstance(required, list) else required!r}")
    return Tool(name, description, tuple(props))


def call_from_openai(call) -> ToolCall:
    """A ToolCall from OpenAI's {"function": {"name", "arguments": "<JSON>"}} (or {"name", "args"}, as
    LangChain writes it, or a ToolCall itself)."""
    if isinstance(call, ToolCall):
        return call
    if not isinstance(call, Mapping):
        raise LearnerError("a tool call must be an object with a function's name and arguments")
    fn = call.get("function", call)
    name, arguments = fn.get("name"), fn.get("arguments", fn.get("args", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            raise LearnerError(f"the arguments of the call to {name!r} are not valid JSON") from None
    if not isinstance(name, str) or not _NAME.match(name) or not isinstance(arguments, dict):
        raise LearnerError(f"a tool call needs a tool's name and its arguments as a JSON object, got {call!r}")
    return ToolCall(name, arguments)
