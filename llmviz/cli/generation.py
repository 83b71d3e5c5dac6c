"""`python -m llmviz generate` and `chat`: text from a checkpoint, streamed or as a conversation.

    python -m llmviz generate --checkpoint lm5.safetensors --prompt "ROMEO:" --max-new-tokens 300 --top-k 10
    python -m llmviz chat --checkpoint chat.safetensors
"""

from __future__ import annotations

import sys

from llmviz.cli.failure import complain
from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.nn.generate import generate_until, sampling_problems
from llmviz.tasks import chat, instruct, tools
from llmviz.tasks.chat import Message


def add_generate(sub) -> None:
    ge = sub.add_parser("generate", help="stream text from a checkpoint")
    ge.add_argument("--checkpoint", required=True)
    ge.add_argument("--prompt", default="\n")
    ge.add_argument("--max-new-tokens", type=int, default=500)
    ge.add_argument("--temperature", type=float, default=1.0)
    ge.add_argument("--top-k", type=int, default=None)
    ge.add_argument("--top-p", type=float, default=None)
    ge.add_argument("--seed", type=int, default=None)
    ge.set_defaults(func=cmd_generate)


def add_chat(sub) -> None:
    ch = sub.add_parser("chat", help="chat with an instruct checkpoint in the terminal")
    ch.add_argument("--checkpoint", required=True)
    ch.add_argument("--system", default="", help="a system message to start the conversation")
    ch.add_argument("--no-tool", action="store_true",
                    help="do not run the tools (calculator, weather, lookup) for the model: it must guess their results")
    ch.set_defaults(func=cmd_chat)


def cmd_generate(args) -> int:
    problems = sampling_problems(args.temperature, args.top_k, args.top_p, args.max_new_tokens)
    if args.seed is not None and not 0 <= args.seed < 2**63:
        problems.append(f"the seed must be between 0 and 2**63 - 1 (it is {args.seed}).")
    if problems:
        raise LearnerError(" ".join(problems))
    ck = checkpoint.load(args.checkpoint)
    _decoder_only(ck, "generate")
    try:
        ids = ck.tokenizer.encode(args.prompt)
    except ValueError as e:
        raise LearnerError(f"the prompt cannot be encoded: {e}") from e
    if not ids:
        ids = [0]
    out = sys.stdout
    out.write(args.prompt)

    def show(piece: str) -> None:  # each piece once it is whole (a byte-level token may end mid-character)
        out.write(piece)
        out.flush()
    # a text never holds a tag: an instruct model's "<|end|>" (or any special token) ends it
    generate_until(ck.model, ck.tokenizer, ids, args.max_new_tokens, stop_token_ids=chat.tag_ids(ck.tokenizer),
                   on_text=show, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    out.write("\n")
    return 0


def _decoder_only(ck, command: str) -> None:
    if ck.architecture != "decoder-only":
        raise LearnerError(f"this checkpoint holds an {ck.architecture} model: it translates a source sentence and "
                           f"does not continue a prompt, so `{command}` cannot use it. Its page (Part 3's translation) "
                           "does; or give a decoder-only checkpoint.")


def cmd_chat(args) -> int:
    ck = checkpoint.load(args.checkpoint)
    _decoder_only(ck, "chat")
    if not chat.has_chat_template(ck.tokenizer):
        raise LearnerError("this checkpoint has no chat tokens: instruction-tune it first (python -m llmviz instruct)")
    block = ck.model_config.block_size
    offered = tools.BUILT_IN if chat.has_tool_calls(ck.tokenizer) else ()
    turns = [Message("system", args.system)] if args.system else []
    try:  # refused now, not at every turn
        chat.encode(ck.tokenizer, turns, generation_prompt=True, tools=offered)
    except (LearnerError, ValueError) as e:
        raise LearnerError(f"the --system message cannot be given to this model: {e}") from None
    print(f"chatting with {args.checkpoint} (context: {block} tokens); an empty line or Ctrl-D ends", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            break
        try:
            turns.append(Message("user", line))
            ids, _ = chat.encode(ck.tokenizer, turns, generation_prompt=True, tools=offered)
            forgotten, kept = chat.fit_context(ids, block)
            print(f"[prompt: {len(ids)} tokens" + (f"; out of the context, forgotten: {chat.render(ck.tokenizer, forgotten)!r}"
                                                   if forgotten else "") + "]", file=sys.stderr)
            reply, steps = instruct.answer(ck.model, ck.tokenizer, turns, use_tool=not args.no_tool, tool_list=offered)
        except LearnerError as e:  # this question is refused; the conversation goes on
            complain(e)
            turns.pop()
            continue
        except KeyboardInterrupt:  # this answer is dropped; the conversation goes on
            print("\n[stopped (Ctrl-C): this answer is dropped; ask again, or an empty line ends]", file=sys.stderr)
            turns.pop()
            continue
        for m in steps[:-1]:
            said = f"calls {tools.format_call(m.tool_calls[0])}" if m.tool_calls else m.content
            print(f"  [{m.role}: {said}]", file=sys.stderr)
        print(f"model> {reply}")
        turns += steps
    return 0
