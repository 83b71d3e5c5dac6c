"""Instruction tuning (tutorial part 3): from a model that continues documents to one that answers.

A pre-trained model asked "Where does Ann live?" writes more Shakespeare. Instruction tuning trains it
on conversations (llmviz.tasks.chat) where only the assistant's words are learned: the prompt's tokens are
in the input but masked out of the loss (their targets are IGNORE). The data set is generated here,
deterministically, as four tasks small enough for a character-level model to learn in minutes:

    context  a fact, then a question whose answer is a span of it (what retrieval relies on, Part 4)
    tool     3-digit arithmetic, which a tiny model cannot do: it calls calculator{"expression":"a+b"}, the program computes
             it, and the model answers from the result (an agent, in miniature)
    shout    a transformation of your text: the same words in capitals
    style    "Speak as HAMLET.": a line in that speaker's format; only the format can be checked

The held-out questions never appear in training: they pair names and places, things and colours, words
and numbers in combinations the training set never shows.
"""

from __future__ import annotations

import copy
import random
import re
from dataclasses import dataclass, replace

import torch

from llmviz.device import pick_device
from llmviz.errors import LearnerError
from llmviz.nn.generate import generate_until, next_token_probs
from llmviz.nn.model import IGNORE, LanguageModel
from llmviz.tasks import chat
from llmviz.tasks import tools
from llmviz.tasks.chat import Message
from llmviz.tasks.tools import ToolCall
from llmviz.training.batches import Batch
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingError, TrainingRun

TASKS = {
    "context": "answer from a sentence given in the prompt",
    "tool": "call the calculator, then answer from its result",
    "shout": "repeat the words in capitals",
    "style": "answer in a character's voice (only the format is checked)",
}
CHECKABLE = ("context", "tool", "shout")

NAMES = ("Ann", "Bob", "Cleo", "Dan", "Eve", "Finn", "Gus", "Hal", "Ida", "Jo", "Kay", "Lou", "Max", "Ned", "Oda",
         "Pat", "Rae", "Sam", "Tom", "Una", "Vic", "Wes", "Zoe", "Ira")
PLACES = ("Rome", "Paris", "Oslo", "Lima", "Cairo", "Delhi", "Tokyo", "Dover", "Bath", "York", "Kent", "Milan",
          "Padua", "Verona", "Athens", "Sparta", "Troy", "Vienna", "Elsinore", "Venice")
COLOURS = ("red", "blue", "green", "black", "white", "grey", "gold", "pink", "brown", "purple")
THINGS = ("cup", "door", "hat", "ship", "book", "coat", "ring", "sword", "cloak", "crown", "boat", "chair")
SPEAKERS = ("HAMLET", "ROMEO", "JULIET", "MACBETH", "KING LEAR", "HORATIO", "KENT", "BRUTUS")
WORDS = ("to be or not to be that is the question whether tis nobler in the mind to suffer the slings and "
         "arrows of outrageous fortune or to take arms against a sea of troubles and by opposing end them "
         "good night sweet prince parting is such sweet sorrow what light through yonder window breaks "
         "now is the winter of our discontent all the world is a stage friends romans countrymen lend me "
         "your ears").split()


@dataclass(frozen=True)
class Example:
    task: str
    messages: tuple[Message, ...]  # the whole conversation, answers included
    answer: str  # the assistant's final answer (what accuracy compares)

    @property
    def prompt(self) -> tuple[Message, ...]:
        """The conversation up to the first assistant turn."""
        return self.messages[:next(i for i, m in enumerate(self.messages) if m.role == "assistant")]


def _held_pair(i: int, j: int) -> bool:
    """A fixed fifth of all (i, j) combinations is kept for the held-out questions."""
    return (i * 7 + j * 3) % 5 == 0


def _pick_pair(rng: random.Random, a, b, held: bool):
    while True:
        i, j = rng.randrange(len(a)), rng.randrange(len(b))
        if _held_pair(i, j) == held:
            return a[i], b[j]


def _context(rng: random.Random, held: bool) -> Example:
    # every name, place, thing and colour appears in training; the held-out questions pair them anew,
    # so only a model that reads the sentence can answer
    if rng.random() < 0.5:
        name, place = _pick_pair(rng, NAMES, PLACES, held)
        q = f"{name} lives in {place}. Where does {name} live?"
        return Example("context", (Message("user", q), Message("assistant", place)), place)
    thing, colour = _pick_pair(rng, THINGS, COLOURS, held)
    q = f"The {thing} is {colour}. What color is the {thing}?"
    return Example("context", (Message("user", q), Message("assistant", colour)), colour)


def _tool(rng: random.Random, held: bool) -> Example:
    while True:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        if ((a * 7 + b) % 5 == 0) == held:  # a fixed fifth of the pairs never trains
            break
    op = rng.choice("+-")
    call = ToolCall("calculator", {"expression": f"{a}{op}{b}"})
    result = tools.calculator(call.arguments["expression"])
    msgs = (Message("user", f"What is {a}{op}{b}?"), Message("assistant", "", (call,)), Message("tool", result),
            Message("assistant", result))
    return Example("tool", msgs, result)


def _shout(rng: random.Random, held: bool) -> Example:
    # held out: word pairs that never start a training phrase
    while True:
        i, j = rng.randrange(len(WORDS)), rng.randrange(len(WORDS))
        if _held_pair(i, j) == held:
            break
    text = " ".join([WORDS[i], WORDS[j]] + [rng.choice(WORDS) for _ in range(rng.randint(0, 1))])
    return Example("shout", (Message("user", f"Shout: {text}"), Message("assistant", text.upper())), text.upper())


def _style(rng: random.Random, held: bool, lines: dict[str, list[str]]) -> Example:
    ask, who = _pick_pair(rng, ("Speak as", "Talk like", "Answer as"), SPEAKERS, held)
    line = rng.choice(lines.get(who) or ["I know not what to say."])
    answer = f"{who}:\n{line}"
    return Example("style", (Message("user", f"{ask} {who}."), Message("assistant", answer)), answer)


def speaker_lines(text: str, max_len: int = 28) -> dict[str, list[str]]:
    """The short first lines of each speaker's speeches in a Shakespeare text ("NAME:\\nline")."""
    out: dict[str, list[str]] = {}
    for who, line in re.findall(r"^([A-Z][A-Z ]+):\n([^\n]+)$", text, re.M):
        if len(line) <= max_len:
            out.setdefault(who, []).append(line)
    return out


def make_examples(n_train: int = 20_000, n_held: int = 200, seed: int = 0, style_text: str = "") -> tuple[list, list]:
    """(training, held-out) examples, the four tasks in equal shares; the same seed gives the same sets, and
    no held-out question appears in training."""
    lines = speaker_lines(style_text)
    rng = random.Random(seed)
    makers = (_context, _tool, _shout, lambda r, h: _style(r, h, lines))
    train = [makers[i % 4](rng, False) for i in range(n_train)]
    seen = {e.prompt for e in train}
    held = []
    while len(held) < n_held:
        e = makers[len(held) % 4](rng, True)
        if e.prompt not in seen:
            held.append(e)
    return train, held


class InstructBatches:
    """Conversations as (x, y) rows with the prompt masked out of y: a batch source for the one trainer.

    A chat sends the whole conversation back at every turn, cut from the front to the context; so a
    third of the training conversations come after an earlier exchange, cut the same way, and the model
    learns to answer the last question whatever came before it."""

    splits = ("train", "val")

    def __init__(self, tokenizer, train: list[Example], held: list[Example], block_size: int, device: str = "cpu"):
        self.tokenizer, self.block_size = tokenizer, block_size
        self.data = {"train": self._rows(train, with_history=True), "val": self._rows(held)}
        self.data = {k: (x.to(device), y.to(device)) for k, (x, y) in self.data.items()}
        self.first_prompt = held[0].prompt

    def _rows(self, examples: list[Example], with_history: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for i, e in enumerate(examples):
            messages = e.messages
            if with_history and i % 3 == 0:  # an earlier exchange first (a fixed choice: the same rows each run)
                messages = examples[(i * 7919 + 1) % len(examples)].messages + messages
            ids, learned = chat.encode(self.tokenizer, messages)
            earlier = len(ids) - len(chat.encode(self.tokenizer, e.messages)[0])
            learned = [k and j >= earlier for j, k in enumerate(learned)]  # only the last exchange is learned
            end = len(ids)
            if len(ids) > self.block_size + 1:
                # a chat slides its window over what it writes: the row ends anywhere in the last answer, so
                # the model learns to go on writing with its context full, at every position
                first = next(j for j, k in enumerate(learned) if k)
                end = max(first + 1, len(ids) - (i * 7907) % (len(ids) - first))
            keep = self.block_size + 1  # what the model sees of it: the end of the window, as a chat cuts it
            pair = chat.training_pair(ids[max(0, end - keep):end], learned[max(0, end - keep):end], self.block_size)
            if pair is None:
                continue
            x, y = pair
            pad = self.block_size - len(x)  # right padding: a causal model never looks at it
            xs.append(x + [0] * pad)
            ys.append(y + [IGNORE] * pad)
        if not xs:
            raise LearnerError(f"no conversation fits in a context of {self.block_size} tokens")
        return torch.tensor(xs), torch.tensor(ys)

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        x, y = self.data[split]
        ix = torch.randint(len(x), (batch_size,), generator=generator)
        return Batch({"idx": x[ix.to(x.device)]}, y[ix.to(y.device)])

    def prompt(self) -> list[int]:
        return chat.encode(self.tokenizer, self.first_prompt, generation_prompt=True)[0]


# --- the model: the base's weights, a vocabulary grown by the chat tokens -----------------------------

@torch.no_grad()
def with_vocabulary(model: LanguageModel, vocab_size: int) -> LanguageModel:
    """A copy of the model whose vocabulary has grown to vocab_size: the old tokens keep their rows; each
    new token starts as the average of the old ones (an embedding and an output row that say "nothing
    in particular"), and training gives it a meaning."""
    old = model.config.vocab_size
    if vocab_size < old:
        raise LearnerError("a vocabulary can only grow")
    grown = LanguageModel(replace(model.config, vocab_size=vocab_size)).to(model.token_embedding.weight.device)
    state = copy.deepcopy(model.state_dict())
    for name in ("token_embedding.weight", "lm_head.weight", "lm_head.bias"):
        w = state[name]
        state[name] = torch.cat([w, w.mean(0, keepdim=True).expand(vocab_size - old, *w.shape[1:])])
    grown.load_state_dict(state)
    return grown


def prepare(base) -> tuple[LanguageModel, object]:
    """The base checkpoint's model and tokenizer, with the chat's special tokens added."""
    tok = chat.with_chat_tokens(base.tokenizer)
    return with_vocabulary(base.model, tok.vocab_size), tok


# --- using it ----------------------------------------------------------------------------------------

@torch.no_grad()
def reply(model, tokenizer, messages, max_new_tokens: int = 40, temperature: float = 0.0, seed: int | None = None) -> str:
    """The assistant's next turn, up to its end tag (greedy unless a temperature is given); the prompt is
    cut to the context if needed."""
    ids, _ = chat.encode(tokenizer, messages, generation_prompt=True)
    return _until_end(model, tokenizer, ids, max_new_tokens, temperature, seed)


def answer(model, tokenizer, prompt, use_tool: bool = True) -> tuple[str, list[Message]]:
    """The final answer to a prompt, and the turns that led to it. When the model calls the calculator, the
    program runs it (use_tool) or the model must write the tool's result itself (not use_tool)."""
    turns = list(prompt)
    first = chat.assistant_message(reply(model, tokenizer, turns))
    turns.append(first)
    if not first.tool_calls:
        return first.content, turns[len(prompt):]
    if use_tool:
        result = tools.run_tool(first.tool_calls[0], tools.BUILT_IN)
    else:  # the model guesses the tool's answer itself, then answers from its guess
        ids, _ = chat.encode(tokenizer, turns)
        result = _until_end(model, tokenizer, ids + [tokenizer.special_id("<|tool|>")], 12)
    turns.append(Message("tool", result))
    turns.append(Message("assistant", reply(model, tokenizer, turns)))
    return turns[-1].content, turns[len(prompt):]


def _until_end(model, tokenizer, ids: list[int], max_new_tokens: int, temperature: float = 0.0,
               seed: int | None = None) -> str:
    """The text the model writes after ids (cut to its context) until it closes the turn (or any tag)."""
    _, ids = chat.fit_context(ids, model.config.block_size)
    tags = chat.stop_ids(tokenizer)  # "<|end|>" or another tag but "<|call|>": the turn is over
    return generate_until(model, tokenizer, ids, max_new_tokens, stop_token_ids=tags, temperature=temperature,
                          seed=seed)


def correct(example: Example, got: str) -> bool:
    if example.task == "style":  # only the format: "SPEAKER:" on its own line, then a line
        who = example.answer.split(":", 1)[0]
        return got.startswith(f"{who}:\n") and len(got) > len(who) + 2
    return got.strip() == example.answer


def base_answer(model, tokenizer, prompt, max_new_tokens: int = 30) -> str:
    """What a model without chat tokens writes after a plain transcript: up to the end of its line."""
    text = chat.format_chat(prompt).prompt + " "
    try:
        ids = tokenizer.encode(text)
    except ValueError:
        return ""
    _, ids = chat.fit_context(ids, model.config.block_size)
    return generate_until(model, tokenizer, ids, max_new_tokens, stop=("\n",), temperature=0)


def accuracy(model, tokenizer, held: list[Example], per_task: int = 20, use_tool: bool = True) -> dict[str, float]:
    """Share of held-out answers that are right, per task (instruct models: greedy, the tool run for them)."""
    tuned = chat.has_chat_template(tokenizer)
    out = {}
    for task in TASKS:
        cases = [e for e in held if e.task == task][:per_task]
        if not cases:
            continue
        hits = 0
        for e in cases:
            got = answer(model, tokenizer, e.prompt, use_tool)[0] if tuned else base_answer(model, tokenizer, e.prompt)
            hits += correct(e, got)
        out[task] = hits / len(cases)
    return out


# --- a run the app and the command line start -----------------------------------------------------------

def default_config(steps: int = 5000, device: str = "auto"):
    """Instruction tuning's settings (measured with bench/bench_instruct.py): 32 conversations a step, a
    warm-up and a cosine decay, no weight decay, accuracy measured every 500 steps."""
    return TrainConfig(learning_rate=2e-3, min_lr=2e-4, lr_decay=True, warmup_iters=100, batch_size=32,
                       max_iters=steps, eval_interval=min(500, steps), eval_iters=10, weight_decay=0.0,
                       sample_tokens=40, device=device)


def start(base, train_cfg, style_text: str = "", seed: int = 0, per_task: int = 10):
    """(run, held-out examples): an instruction-tuning run (not started) from a copy of a base checkpoint's
    weights, its vocabulary grown by the chat tokens, on the generated conversations; held-out accuracy per
    task is measured at every evaluation (Record.other["acc <task>"])."""
    if base.model.adapters is not None:
        raise TrainingError("instruction-tune a whole model, not one with LoRA adapters")
    try:
        model, tok = prepare(base)
    except (AttributeError, LearnerError) as e:
        raise TrainingError(f"this base cannot take chat tokens: {e}") from None
    train, held = make_examples(seed=seed, style_text=style_text)
    missing = {c for e in train[:400] for m in e.messages for c in m.content if c not in tok.chars}
    if missing:
        raise TrainingError(f"the base's tokenizer cannot spell {''.join(sorted(missing))!r}, which the "
                            f"instructions use: start from a base with a broader vocabulary (the app's pre-trained one)")
    batches = InstructBatches(tok, train, held, model.config.block_size, pick_device(train_cfg.device))
    run = TrainingRun(model, tok, batches, train_cfg, preset=base.preset,
                      measure=lambda m: {f"acc {k}": v for k, v in accuracy(m, tok, held, per_task).items()})
    return run, held


# --- prompt engineering (the "Chat, context and prompts" page) -------------------------------------------

def wordings(example: Example, shots: list[Example]) -> dict[str, list[Message]]:
    """The same question asked several ways: as trained, reworded, and with one or three solved examples
    before it (few-shot prompting)."""
    q = example.prompt[-1].content
    reworded = (q.replace("Where does", "In which town does").replace("What color is", "Which colour has")
                .replace("What is", "Compute").replace("Shout:", "Say loudly:"))
    solved = [m for e in shots for m in e.messages]
    return {"as trained": [*example.prompt], "reworded": [Message("user", reworded)],
            "one example first": [*solved[:len(shots[0].messages)], *example.prompt],
            "three examples first": [*solved, *example.prompt]}


def first_token_probs(model, tokenizer, messages) -> "torch.Tensor":
    """The probability of every token to start the assistant's answer (what the bars show)."""
    ids, _ = chat.encode(tokenizer, messages, generation_prompt=True)
    return next_token_probs(model, chat.fit_context(ids, model.config.block_size)[1])


def sampled_accuracy(model, tokenizer, messages, expected: str, n: int = 20, seed: int = 0) -> float:
    """Share of n answers sampled at temperature 1 that are exactly the expected one."""
    return sum(reply(model, tokenizer, messages, temperature=1.0, seed=seed + i).strip() == expected
               for i in range(n)) / n
