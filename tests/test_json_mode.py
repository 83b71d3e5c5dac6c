"""JSON mode (response_format json_object): the automaton accepts what Python's json module writes and refuses
what it rejects, every answer decoded under it is a JSON object (json.loads says so), and the server honours
it through the official openai client, streamed or not."""

from __future__ import annotations

import json
import random

import openai
import pytest

from llmviz.serving import json_mode
from llmviz.tasks import chat
from tests.test_tool_calls import QUESTION, TOKENIZER, untrained  # noqa: F401  (a fixture)

OBJECTS = [{}, {"a": 1}, {"a": [1, -2.5, 3e10, -0.0, 1.5e-3, 0]}, {"k": "a\"b\\c\n\t\u00e9\u20ac"},
           {"x": {"y": {"z": [True, False, None, [], {}]}}}, {"": ""}, {"n": -12345678901234567890}]
BAD = ['{\'a\':1}', '{"a" 1}', '{"a":01}', '{"a":tru }', '{"a":"x\ny"}', '{"a":1,}', '{"a":1]', '{"a":"\\x"}',
       '{"a":1.}', '{"a":-}', '{"a":+1}', '{"a":1e}', '{"a":"\\u12G4"}', '{a:1}', '{"a":1}}', '{"a":nul}']


def walk(text: str):
    state = json_mode.START
    for b in text.encode("utf-8"):
        state = json_mode.step(state, b)
        if state is None:
            return None
    return state


@pytest.mark.parametrize("obj", OBJECTS)
@pytest.mark.parametrize("indent", [None, 2])
def test_what_json_writes_is_accepted_and_closes(obj, indent):
    text = json.dumps(obj, indent=indent, ensure_ascii=False)
    assert walk(text) == json_mode.DONE
    assert all(walk(text[:i]) not in (None, json_mode.DONE) for i in range(len(text)))  # every prefix may go on


@pytest.mark.parametrize("text", BAD)
def test_what_json_rejects_is_refused(text):
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert walk(text) is None


def test_the_value_is_an_object():
    assert json.loads("[1]") == [1] and walk("[1]") is None and walk('"a"') is None and walk("1") is None


def test_whitespace_outside_strings_is_bounded():
    assert walk("{" + " " * json_mode.MAX_SPACES) is not None
    assert walk("{" + " " * (json_mode.MAX_SPACES + 1)) is None
    assert walk('{"' + " " * 50) is not None  # inside a string it is text


def test_every_answer_decoded_under_the_mask_is_a_json_object():
    vocab = json_mode.Vocabulary(TOKENIZER)
    end = [TOKENIZER.special_id(chat.END)]
    rng, closed = random.Random(0), 0
    for _ in range(100):
        c, out = json_mode.JSONObject(vocab, end), b""
        for _ in range(300):
            mask = c.allowed()
            ids = [i for i in range(len(mask)) if mask[i]]
            tok = rng.choices(ids, [8 if (vocab.bytes[i] or b" ")[:1] in b'}],":' else 1 for i in ids])[0]
            if tok in end:
                break
            out += vocab.bytes[tok]
            c.advance(tok)
            assert walk(out.decode()) is not None
        if c.closed:
            closed += 1
            assert isinstance(json.loads(out.decode()), dict)
    assert closed >= 90
    assert c.masked[0] == TOKENIZER.vocab_size - 5  # at first only "{" and four kinds of whitespace


def test_the_server_answers_json_objects_through_the_official_client(untrained):  # noqa: F811
    _, client = untrained
    brace, quote = TOKENIZER.encode("}")[0], TOKENIZER.encode('"')[0]
    out = client.chat.completions.create(model="untrained", messages=QUESTION, max_tokens=200, n=6, seed=1,
                                         response_format={"type": "json_object"},
                                         logit_bias={str(brace): 4, str(quote): 4})
    done = [c.message.content for c in out.choices if c.finish_reason == "stop"]
    assert len(done) >= 3
    assert all(isinstance(json.loads(text), dict) for text in done)
    stream = client.chat.completions.create(model="untrained", messages=QUESTION, max_tokens=200, seed=3, stream=True,
                                            response_format={"type": "json_object"},
                                            logit_bias={str(brace): 6, str(quote): 4})
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert isinstance(json.loads(text), dict)


def test_json_schema_and_json_with_tools_are_refused_naming_the_field(untrained):  # noqa: F811
    _, client = untrained
    for extra in ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
                  {"response_format": {"type": "json_object"}, "tools": [{"type": "function", "function": {
                      "name": "calculator", "parameters": {"type": "object", "properties": {
                          "expression": {"type": "string"}}}}}]}):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="untrained", messages=QUESTION, max_tokens=5, **extra)
        assert e.value.body["param"] == "response_format"
