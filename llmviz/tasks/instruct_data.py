"""The instruction data (tutorial part 3): six tasks, generated deterministically from a seed, each with
held-out questions that never appear in training.

    context   a fact, then a question whose answer is a span of it (what retrieval relies on, Part 4)
    tool      a question only a tool can answer (3-digit arithmetic, a town's weather, an old word's
              meaning): the tools are listed first (llmviz.tasks.tools), the model calls the one the
              question needs, the program computes it, and the model answers from the result; sometimes
              tools are listed and none is needed, and the model answers directly
    shout     a transformation of your text: the same words in capitals
    style     "Speak as HAMLET.": a line in that speaker's format; only the format can be checked
    memory    a fact given in the first turn, other exchanges after it, then a question about the fact:
              a chat's memory is the conversation put back into the prompt, so it needs the room
    passages  a question after k passages (k = 3, the shape retrieval hands a model), one of which holds
              the answer, the others about other people (llmviz.text.world); training worlds come from
              other seeds than the held-out world, so only reading the passages answers. The answer is the
              passage's sentence that states the fact ("Tavi Orlen lives in Quenmar."): a small model
              answers by copying, and written this way each word it copies follows the words it has just
              written, as it does in the passage (measured: bench/RESULTS.md, "Answering from passages")

The held-out questions pair names and places, things and colours, words and numbers in combinations the
training set never shows, and the held-out passages come from a world the training never saw.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from llmviz.tasks import tools
from llmviz.tasks.chat import Message
from llmviz.tasks.tools import CALCULATOR, LOOKUP, WEATHER, Tool, ToolCall
from llmviz.text.world import make_world

TASKS = {
    "context": "answer from a sentence given in the prompt",
    "tool": "call the tool the question needs (of those listed), then answer from its result",
    "shout": "repeat the words in capitals",
    "style": "answer in a character's voice (only the format is checked)",
    "memory": "answer from a fact given three or more turns earlier",
    "passages": "answer from the one passage of three that holds the answer",
}
CHECKABLE = ("context", "tool", "shout", "memory", "passages")
HELD_OUT_WORLD = 0  # the world (llmviz.text.world seed) of the held-out passages; training uses others
TRAINING_WORLDS = tuple(range(1, 9))
WORLD_PEOPLE = 200
K_PASSAGES = 3
SHARES = {"passages": 2}  # training examples per turn of the other tasks' one: finding the passage and copying
                          # its sentence is the slowest task to learn (bench/RESULTS.md, "Answering from passages")

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
    tools: tuple[Tool, ...] = ()  # the tools listed before the conversation
    asked: int = 0  # the turns before the assistant's first answer that accuracy asks for (0: up to the first)

    @property
    def prompt(self) -> tuple[Message, ...]:
        """The conversation up to the assistant turn that is checked (the last one's question for memory)."""
        ends = [i for i, m in enumerate(self.messages) if m.role == "assistant"]
        return self.messages[:self.asked or ends[0]]


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


_ASK_WEATHER = ("What is the weather in {}?", "How is the weather in {} today?", "Will I need a coat in {}?")
_ASK_WORD = ("What does {} mean?", "What is the meaning of {}?", "Define the word {}.")
_WORDS_TO_LOOK_UP = tuple(tools.GLOSSARY)


def _tool_list(rng: random.Random, needed: Tool | None) -> tuple[Tool, ...]:
    """One to three of the built-in tools, in any order, the needed one among them."""
    others = [t for t in tools.BUILT_IN if t is not needed]
    listed = rng.sample(others, rng.randint(0 if needed else 1, len(others))) + ([needed] if needed else [])
    rng.shuffle(listed)
    return tuple(listed)


LISTED_SHARE = 0.25  # of the conversations of other tasks that list tools none of them needs, as a chat does


def listing_tools(maker, share: float = LISTED_SHARE):
    """The task's conversations, a share of them with tools listed that they do not need: a chat
    lists its tools before every conversation, and a model that met a tool list only with a tool question
    would take the list as the sign to call one (the chat page's "Remember this: ..." answered "Rome")."""
    def make(rng: random.Random, held: bool, *extra) -> Example:
        e = maker(rng, held, *extra)
        return replace(e, tools=_tool_list(rng, None)) if share and rng.random() < share else e
    return make


def _tool(rng: random.Random, held: bool) -> Example:
    """A question a listed tool answers (the call, the program's result, the answer), or, for some, none does;
    a share come after an earlier exchange, as a tool question does in a chat."""
    e = _tool_question(rng, held)
    if rng.random() >= LISTED_SHARE:
        return e
    earlier = rng.choice((_shout, _context))(rng, held)
    return replace(e, messages=earlier.messages + e.messages, asked=len(earlier.messages) + 1)


def _tool_question(rng: random.Random, held: bool) -> Example:
    kind = rng.random()
    if kind < 0.15:  # tools listed, none needed: the model answers directly
        e = _context(rng, held)
        return Example("tool", e.messages, e.answer, _tool_list(rng, None))
    if kind < 0.6:
        while True:
            a, b = rng.randint(100, 999), rng.randint(100, 999)
            if ((a * 7 + b) % 5 == 0) == held:  # a fixed fifth of the pairs never trains
                break
        op = rng.choice("+-")
        tool, question, args = CALCULATOR, f"What is {a}{op}{b}?", {"expression": f"{a}{op}{b}"}
    elif kind < 0.8:
        ask, town = _pick_pair(rng, _ASK_WEATHER, PLACES, held)
        tool, question, args = WEATHER, ask.format(town), {"city": town}
    else:
        ask, word = _pick_pair(rng, _ASK_WORD, _WORDS_TO_LOOK_UP, held)
        tool, question, args = LOOKUP, ask.format(word), {"word": word}
    call = ToolCall(tool.name, args)
    listed = _tool_list(rng, tool)
    result = tools.run_tool(call, listed)
    msgs = (Message("user", question), Message("assistant", "", (call,)), Message("tool", result),
            Message("assistant", result))
    return Example("tool", msgs, result, listed)


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


def _memory(rng: random.Random, held: bool, lines: dict[str, list[str]]) -> Example:
    """A fact in the first turn, one to three other exchanges, then the question about the fact."""
    name, place = _pick_pair(rng, NAMES, PLACES, held)
    first = (Message("user", rng.choice(("Remember this: {} lives in {}.", "Note that {} lives in {}.",
                                         "A fact for later: {} lives in {}.")).format(name, place)),
             Message("assistant", "I will remember that."))
    middle: list[Message] = []
    turns = rng.randint(1, 3)
    while len(middle) < 2 * turns:
        other = rng.choice((_shout, _context, _style))
        e = other(rng, held, lines) if other is _style else other(rng, held)
        if name not in e.messages[0].content:  # no later turn says anything about the same person
            middle += e.messages
    question = Message("user", rng.choice(("Where does {} live?", "Where did I say {} lives?")).format(name))
    msgs = (*first, *middle, question, Message("assistant", place))
    return Example("memory", msgs, place, asked=len(msgs) - 1)


def passages_message(passages, question: str) -> str:
    """The user's turn of the passages task: the passages, a blank line between them, then the question
    (the shape a retrieval step hands the model: llmviz.retrieval builds its prompt with this)."""
    return "\n\n".join(getattr(p, "text", p) for p in passages) + f"\n\nQuestion: {question}"


def _passages(rng: random.Random, held: bool, k: int = K_PASSAGES) -> Example:
    world = make_world(HELD_OUT_WORLD if held else rng.choice(TRAINING_WORLDS), WORLD_PEOPLE)
    q = rng.choice(world.questions)
    text = passages_message(world.distractors(q, k, rng), q.text)
    return Example("passages", (Message("user", text), Message("assistant", q.sentence)), q.sentence)


def make_examples(n_train: int = 20_000, n_held: int = 300, seed: int = 0, style_text: str = "",
                  tasks=tuple(TASKS), listed: float | None = None) -> tuple[list, list]:
    """(training, held-out) examples, the tasks in equal shares (in training, passages twice: SHARES); the same
    seed gives the same sets, and no held-out question appears in training. `listed`: the share of other tasks'
    conversations that list tools they do not need (default: LISTED_SHARE when the tool task is among `tasks`,
    else none)."""
    share = (LISTED_SHARE if "tool" in tasks else 0.0) if listed is None else listed
    lines = speaker_lines(style_text)
    rng = random.Random(seed)
    every = {"context": listing_tools(_context, share), "tool": _tool, "shout": listing_tools(_shout, share),
             "style": listing_tools(lambda r, h: _style(r, h, lines), share),
             "memory": listing_tools(lambda r, h: _memory(r, h, lines), share), "passages": _passages}
    makers = [every[t] for t in tasks for _ in range(SHARES.get(t, 1))]
    train = [makers[i % len(makers)](rng, False) for i in range(n_train)]
    makers = [every[t] for t in tasks]  # held out: the tasks in equal shares
    seen = {(e.prompt, e.tools) for e in train}
    held = []
    while len(held) < n_held:
        e = makers[len(held) % len(makers)](rng, True)
        if (e.prompt, e.tools) not in seen:
            held.append(e)
    return train, held


def spelled(examples) -> str:
    """Every character the examples' conversations, calls and tool lists use (what a tokenizer must spell)."""
    out = set()
    for e in examples:
        out.update(tools.tools_text(e.tools))
        for m in e.messages:
            out.update(m.content)
            for c in m.tool_calls:
                out.update(tools.format_call(c))
    return "".join(sorted(out))
