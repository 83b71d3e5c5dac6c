"""A generated "world": short passages about invented people, with questions whose answer passage is known.

The facts are invented (names, towns, trades, pets made of syllables), so no model has seen them in
pre-training: a model can only answer a question about them from a passage it is given. That makes the
world the test bed of everything that hands a model a context: the assistant's *passages* task (a question
after k passages, one of which holds the answer) and retrieval (Part 4: does search find the passage, and
does the answer use it).

    world = make_world(seed=0, people=200)
    world.passages[3].text      # "Tavi Orlen lives in Quenmar. Tavi Orlen works as a baker. ..."
    q = world.questions[0]      # Question(text="Where does Tavi Orlen live?", answer="Quenmar", passage=0, ...,
                                #          sentence="Tavi Orlen lives in Quenmar.")
    world.corpus()              # the passages as a corpus of the app (one paragraph each, titled by person)

Everything is deterministic from the seed: the same seed gives the same world, on any machine. Names
are unique within a world and letters only, so a character model of the plays can spell all of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from llmviz.errors import LearnerError
from llmviz.text.corpus import Corpus

MAX_SEED = 2**31 - 1
MAX_PEOPLE = 5000

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr",
           "st", "th", "sh", "ch", "qu")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "io")
_CODAS = ("", "", "", "n", "r", "l", "s", "m", "th", "nd", "rk", "sk")
TRADES = ("baker", "smith", "weaver", "sailor", "miller", "potter", "tailor", "farmer", "mason", "painter",
          "fisher", "brewer", "carpenter", "glazier", "cooper", "tanner", "scribe", "shepherd", "archer", "herbalist")
PETS = ("cat", "dog", "goat", "horse", "owl", "hare", "crow", "fox", "pig", "duck")
COLOURS = ("red", "blue", "green", "black", "white", "grey", "gold", "brown", "purple", "silver")

# each relation: the sentence a passage states, and the ways a question may ask for it
RELATIONS = {
    "home": ("{who} lives in {value}.", ("Where does {who} live?", "In which town is the home of {who}?",
                                         "What town does {who} call home?")),
    "trade": ("{who} works as {a} {value}.", ("What does {who} work as?", "What is the trade of {who}?",
                                           "How does {who} earn a living?")),
    "pet": ("{who} keeps a {colour} {pet} named {value}.", ("What is the name of the {pet} of {who}?",
                                                            "What is {who}'s {pet} called?",
                                                            "What name did {who} give the {colour} {pet}?")),
    "friend": ("The best friend of {who} is {value}.", ("Who is the best friend of {who}?",
                                                        "Who is {who}'s closest friend?",
                                                        "Whom does {who} trust most as a friend?")),
}


@dataclass(frozen=True)
class Passage:
    id: int  # its place in World.passages
    person: str  # whom it is about (its title)
    text: str  # one paragraph: the person's facts, one sentence each


@dataclass(frozen=True)
class Question:
    text: str
    answer: str  # the exact words the passage gives
    passage: int  # the id of the passage that holds the answer
    relation: str  # one of RELATIONS
    wording: int  # which of the relation's question forms (0: the plain one, 1, 2: paraphrases)
    sentence: str  # the passage's sentence that states the fact (it ends with the answer)


@dataclass(frozen=True)
class World:
    seed: int
    passages: tuple[Passage, ...]
    questions: tuple[Question, ...]

    def text(self) -> str:
        """The passages as one text, a blank line between them (each one a paragraph)."""
        return "\n\n".join(p.text for p in self.passages) + "\n"

    def corpus(self):
        """The world as a corpus of the app: its text, with one section per person."""
        sections, offset = [], 0
        for p in self.passages:
            sections.append((offset, p.person))
            offset += len(p.text) + 2
        return Corpus(f"A generated world (seed {self.seed}, {len(self.passages)} people)", self.text(),
                      tuple(sections), source=f"world:{self.seed}:{len(self.passages)}")

    def distractors(self, question: Question, k: int, rng: random.Random) -> list[Passage]:
        """k - 1 passages about other people, with the answer's passage at a random place among them:
        the shape of context that retrieval hands a model."""
        if not 1 <= k <= len(self.passages):
            raise LearnerError(f"k must be between 1 and {len(self.passages)} (the passages of this world); it is {k}.")
        others = rng.sample([p for p in self.passages if p.id != question.passage], k - 1)
        others.insert(rng.randrange(k), self.passages[question.passage])
        return others


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)) + rng.choice(_CODAS)


def _unique(rng: random.Random, taken: set[str], make) -> str:
    """A new name none of whose words is already a word of another name (so a question's words never hold
    its answer, and a keyword names one thing)."""
    while True:
        w = make()
        if not taken.intersection(w.split()):
            taken.update(w.split())
            return w


@lru_cache(maxsize=16)
def make_world(seed: int = 0, people: int = 200) -> World:
    """A world of `people` invented people, each with one passage and one question per relation and wording."""
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise LearnerError(f"the world's seed must be a whole number from 0 to {MAX_SEED}; it is {seed!r}.")
    if not isinstance(people, int) or not 2 <= people <= MAX_PEOPLE:
        raise LearnerError(f"a world holds 2 to {MAX_PEOPLE} people (a best friend needs someone else); it is {people!r}.")
    rng = random.Random(seed)
    taken: set[str] = set()
    names = [_unique(rng, taken, lambda: f"{_word(rng, 2).title()} {_word(rng, 2).title()}") for _ in range(people)]
    towns = [_unique(rng, taken, lambda: _word(rng, 2).title()) for _ in range(max(3, people // 4))]
    passages, questions = [], []
    for i, who in enumerate(names):
        facts = {
            "home": {"value": rng.choice(towns)},
            "trade": {"value": (trade := rng.choice(TRADES)), "a": "an" if trade[0] in "aeiou" else "a"},
            "pet": {"value": _unique(rng, taken, lambda: _word(rng, 2).title()), "pet": rng.choice(PETS),
                    "colour": rng.choice(COLOURS)},
            "friend": {"value": names[(i + rng.randrange(1, people)) % people]},
        }
        order = list(RELATIONS)
        rng.shuffle(order)
        sentences = {r: RELATIONS[r][0].format(who=who, **facts[r]) for r in order}
        passages.append(Passage(i, who, " ".join(sentences.values())))
        for r, (_, wordings) in RELATIONS.items():
            for w, form in enumerate(wordings):
                questions.append(Question(form.format(who=who, **facts[r]), facts[r]["value"], i, r, w, sentences[r]))
    return World(seed, tuple(passages), tuple(questions))


PRETRAINING_WORLDS = tuple(range(100, 108))  # the worlds a base reads in pre-training: neither the held-out
                                             # world (0) nor the instruction data's (llmviz.tasks.instruct_data)


def pretraining_passages(seeds=PRETRAINING_WORLDS, people: int = 200) -> list[str]:
    """The passages of some worlds, shuffled (a fixed order): text a base reads beside the plays.

    Each passage says its person's two-word name four times, and the names are invented, so after its
    first mention a name can only be predicted by finding it earlier in the context and copying it: the
    skill an assistant needs to answer from passages, which the plays alone never taught a small model."""
    out = [p.text for seed in seeds for p in make_world(seed, people).passages]
    random.Random(0).shuffle(out)
    return out
