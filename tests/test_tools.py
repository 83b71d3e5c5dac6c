"""The tool-call contract: the one safe calculator, calls as the model writes them, OpenAI's shapes, and the
chat template's tool turns."""

import ast
import json
import operator
import random
import string

import pytest

from llmviz.errors import LearnerError
from llmviz.tasks import chat, tools
from llmviz.tasks.chat import Message
from llmviz.tasks.tools import CALCULATOR, ToolCall
from llmviz.text.tokenizers import CharTokenizer


def _reference(expression: str):
    """An independent evaluator: Python's operator module over the same tree, in floats."""
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}

    def ev(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        return ops[type(node.op)](ev(node.left), ev(node.right))
    return ev(ast.parse(expression, mode="eval").body)


def test_the_calculator_agrees_with_an_independent_evaluator():
    rng = random.Random(0)
    for _ in range(300):
        a, b, c = (rng.randint(-999, 999) for _ in range(3))
        expr = f"({a}{rng.choice('+-*')}{b}){rng.choice('+-*/')}{c or 1}"
        got = tools.calculator(expr)
        assert float(got) == pytest.approx(_reference(expr), rel=1e-9), expr
    assert tools.calculator("123+456") == "579" and tools.calculator("900-901") == "-1"
    assert tools.calculator("12*(3+4)") == "84" and tools.calculator("7/2") == "3.5"
    assert tools.calculator("10**31") .startswith("error:")


@pytest.mark.parametrize("bad", ["__import__('os').system('ls')", "2**10", "7//2", "7%2", "x+1", "1/0", "",
                                 "1+", "[1,2]", "'a'*3", "True+1", "9" * 40, "(" * 300 + "1" + ")" * 300])
def test_the_calculator_refuses_everything_but_arithmetic(bad):
    assert tools.calculator(bad).startswith("error: "), bad


def test_calls_are_written_and_parsed_exactly():
    call = ToolCall("calculator", {"expression": "123+456"})
    assert tools.format_call(call) == 'calculator{"expression":"123+456"}'
    assert tools.parse_call(tools.format_call(call)) == call
    for bad in ('calculator{"expression": "1+2"}', "calculator", "calculator()", '{"a":"b"}', 'calc["x"]',
                'calculator{"expression":"1+2"} ', "1x{}", 'calculator{"expression":"1+2"'):
        assert tools.parse_call(bad) is None, bad
    assert hash(call) == hash(ToolCall("calculator", {"expression": "123+456"}))


def test_run_tool_computes_and_refuses_in_words():
    offered = (CALCULATOR, tools.WEATHER)
    assert tools.run_tool(ToolCall("calculator", {"expression": "2*21"}), offered) == "42"
    assert tools.run_tool(ToolCall("weather", {"city": "Rome"}), offered) == tools.weather("rome")
    assert tools.run_tool(ToolCall("lookup", {"word": "thou"}), offered).startswith("error: no tool named 'lookup'")
    assert tools.run_tool(ToolCall("calculator", {"expr": "1"}), offered).startswith("error: calculator takes expression")
    assert tools.run_tool(ToolCall("calculator", {"expression": 3}), offered).startswith("error:")
    assert tools.run_tool(ToolCall("echo", {"text": "hi"}), {"echo": lambda text: text * 2}) == "hihi"
    assert tools.lookup("Wherefore") == "why" and tools.lookup("zzz").startswith("error:")


def test_openai_schemas_round_trip_and_bad_ones_are_refused():
    schema = tools.openai_schema(CALCULATOR)
    assert schema == {"type": "function", "function": {
        "name": "calculator", "description": CALCULATOR.description,
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
    assert tools.from_openai(json.loads(json.dumps(schema))) == CALCULATOR
    for bad, words in [({"type": "retrieval"}, "type"), ({"function": {"name": "no spaces"}}, "name"),
                       ({"function": {"name": "f", "parameters": {"type": "array"}}}, "object"),
                       ({"function": {"name": "f", "parameters": {"type": "object", "properties": {},
                                                                  "required": ["x"]}}}, "does not define"),
                       ("calculator", "object")]:
        with pytest.raises(LearnerError, match=words):
            tools.from_openai(bad)
    assert tools.tools_text([CALCULATOR, tools.WEATHER]) == "tools: calculator(expression); weather(city)"


def _tokenizer():
    return chat.with_chat_tokens(CharTokenizer(sorted(set(string.printable))))


def test_the_template_lists_tools_first_and_writes_calls_with_the_call_token():
    tok = _tokenizer()
    assert chat.has_tool_calls(tok) and not chat.has_tool_calls(
        CharTokenizer(list("ab"), special_tokens=list(chat.CHAT_TOKENS)))
    call = ToolCall("calculator", {"expression": "123+456"})
    msgs = [Message("system", "Be brief."), Message("user", "What is 123+456?"), Message("assistant", "", (call,)),
            Message("tool", "579", tool_call_id="call_1"), Message("assistant", "579")]
    fmt = chat.format_chat(msgs, tok, add_generation_prompt=False, tools=[CALCULATOR])
    assert fmt.prompt == ("<|system|>tools: calculator(expression)<|end|><|system|>Be brief.<|end|>"
                          "<|user|>What is 123+456?<|end|><|assistant|><|call|>calculator{\"expression\":\"123+456\"}"
                          "<|end|><|tool|>579<|end|><|assistant|>579<|end|>")
    ids, learned = chat.encode(tok, msgs, tools=[CALCULATOR])
    assert list(fmt.ids) == ids and ids.count(tok.special_id(tools.CALL)) == 1
    # the call and its end are learned, the tool's result is only read
    call_at = ids.index(tok.special_id(tools.CALL))
    assert learned[call_at] and not learned[call_at - 1]
    tool_at = ids.index(tok.special_id("<|tool|>"))
    assert not any(learned[tool_at:tool_at + 5])
    # OpenAI-shaped dicts give the same ids
    as_dicts = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 123+456?"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
                    "name": "calculator", "arguments": '{"expression": "123+456"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "579"}, {"role": "assistant", "content": "579"}]
    assert chat.encode(tok, as_dicts, tools=[CALCULATOR])[0] == ids


def test_what_the_model_writes_becomes_a_message_with_no_tags_left():
    call = ToolCall("weather", {"city": "Oslo"})
    assert chat.assistant_message("<|call|>" + tools.format_call(call)) == Message("assistant", "", (call,))
    assert chat.assistant_message("Oslo<|end|>") == Message("assistant", "Oslo")
    assert chat.assistant_message("<|call|>weather(Oslo)") == Message("assistant", "weather(Oslo)")
    tok = _tokenizer()
    assert tok.special_id(tools.CALL) not in chat.stop_ids(tok) and tok.special_id(chat.END) in chat.stop_ids(tok)


def test_an_old_chat_tokenizer_gains_only_the_call_token():
    old = CharTokenizer(list("abc"), special_tokens=list(chat.CHAT_TOKENS))
    new = chat.with_chat_tokens(old)
    assert new.special_tokens == [*chat.CHAT_TOKENS, tools.CALL]
    assert [new.special_id(t) for t in chat.CHAT_TOKENS] == [old.special_id(t) for t in chat.CHAT_TOKENS]
    with pytest.raises(LearnerError, match="call"):
        chat.encode(old, [Message("assistant", "", (ToolCall("calculator", {"expression": "1"}),))])
