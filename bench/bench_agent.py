"""LangChain's own agent on the learner's instruct model, over held-out 3-digit sums.

The checkpoint is served behind the OpenAI-compatible API (127.0.0.1, a free port) and asked "What is a+b?"
for n sums the instruction data never trains (llmviz.tasks.instruct's held-out rule):

- agent_accuracy: `langchain.agents.create_agent(ChatOpenAI(base_url=...), tools=[calculator])` answers a+b;
- no_tool_accuracy: the same question with the tools listed and tool_choice "none" (the call is masked), so
  the model must do the sum itself;
- required_well_formed: with tool_choice "required", the share of answers that are a well-formed call to the
  calculator (arguments that parse, the one parameter).

    python bench/bench_agent.py --checkpoint chat.safetensors [--n 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai  # noqa: E402
import torch  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from llmviz.io import checkpoint  # noqa: E402
from llmviz.serving import agent  # noqa: E402
from llmviz.serving.server import Server  # noqa: E402
from llmviz.tasks import tools  # noqa: E402

HELD = lambda a, b: (a * 7 + b) % 5 == 0  # noqa: E731  the fifth of the pairs instruct_data's tool task never trains


def held_out_sums(n: int, seed: int = 0) -> list[tuple[int, int]]:
    rng, out = random.Random(seed), []
    while len(out) < n:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        if HELD(a, b) and (a, b) not in out:
            out.append((a, b))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ck = checkpoint.load(args.checkpoint)
    server = Server(ck.model, ck.tokenizer, "bench").start()
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
    model = ChatOpenAI(model="bench", base_url=server.base_url, api_key="unused", temperature=0, max_tokens=60,
                       max_retries=0)
    schema = [tools.openai_schema(tools.CALCULATOR)]
    sums = held_out_sums(args.n)
    t0 = time.perf_counter()
    right = direct = formed = 0
    try:
        for a, b in sums:
            question = f"What is {a}+{b}?"
            messages = list(agent.run_langchain_agent(model, question))
            right += str(messages[-1].content).strip() == str(a + b)
            out = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": question}],
                                                 tools=schema, tool_choice="none", temperature=0, max_tokens=20)
            direct += (out.choices[0].message.content or "").strip() == str(a + b)
            out = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": question}],
                                                 tools=schema, tool_choice="required", temperature=0, max_tokens=60)
            calls = out.choices[0].message.tool_calls or []
            try:
                formed += len(calls) == 1 and calls[0].function.name == "calculator" and \
                    list(json.loads(calls[0].function.arguments)) == ["expression"]
            except ValueError:
                pass
    finally:
        server.stop()
    result = {"agent_accuracy": right / len(sums), "no_tool_accuracy": direct / len(sums),
              "required_well_formed": formed / len(sums), "n": len(sums),
              "seconds": round(time.perf_counter() - t0, 1), "checkpoint": Path(args.checkpoint).name}
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")
    return result


if __name__ == "__main__":
    main()
