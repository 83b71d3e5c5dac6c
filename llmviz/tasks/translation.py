"""A small French→English language to learn translation from (tutorial part 2, "the transformer").

No parallel corpus is downloaded: a grammar generates sentence pairs, deterministically from a seed.
It has what makes translation more than a word-by-word lookup (Part 1's dictionary):

- determiners that agree in gender and number (le, la, l', les, un, une, des) and English "a"/"an"
  chosen by the next English word;
- adjectives French puts AFTER the noun ("le chat noir" → "the black cat"), so English reorders them,
  and a few it puts before ("le petit chat" → "the small cat");
- verbs that agree with their subject (est/sont, mange/mangent, voit/voient), prepositions (sous, sur,
  dans, devant → "in front of", derrière, à côté de → "next to", with du/des contracted), and
  conjunctions joining two clauses (et, mais).

The tutorial's sentence "le chat est sous la table" → "the cat is under the table" is one of its
sentences. The held-out set holds adjective–noun combinations ("chat vert") that never occur in the
training sentences, so its accuracy measures generalisation, not memory.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from llmviz.concepts.lookup import closest_key
from llmviz.text.saved import PairTokenizer
from llmviz.text.tokenizers import WordTokenizer

SPECIALS = ("<PAD>", "<BOS>", "<EOS>", "<UNK>")  # the same four on both sides
TUTORIAL = ("le chat est sous la table", "the cat is under the table")


class Noun(NamedTuple):
    fr: str
    fr_pl: str
    gender: str  # "m" or "f"
    en: str
    en_pl: str
    kind: str  # "animal" (can eat and see), "food" (can be eaten), "thing"


class Adjective(NamedTuple):
    forms: tuple[str, str, str, str]  # masculine singular, feminine singular, masculine plural, feminine plural
    en: str
    before: bool  # French puts it before the noun (like English); most go after


def _n(fr, gender, en, kind, fr_pl=None, en_pl=None) -> Noun:
    return Noun(fr, fr_pl or fr + "s", gender, en, en_pl or en + "s", kind)


NOUNS: tuple[Noun, ...] = (
    _n("chat", "m", "cat", "animal"), _n("chien", "m", "dog", "animal"),
    _n("oiseau", "m", "bird", "animal", "oiseaux"), _n("cheval", "m", "horse", "animal", "chevaux"),
    _n("souris", "f", "mouse", "animal", "souris", "mice"), _n("vache", "f", "cow", "animal"),
    _n("lapin", "m", "rabbit", "animal"), _n("canard", "m", "duck", "animal"),
    _n("éléphant", "m", "elephant", "animal"), _n("loup", "m", "wolf", "animal", en_pl="wolves"),
    _n("garçon", "m", "boy", "animal"), _n("fille", "f", "girl", "animal"),
    _n("homme", "m", "man", "animal", en_pl="men"), _n("femme", "f", "woman", "animal", en_pl="women"),
    _n("pomme", "f", "apple", "food"), _n("orange", "f", "orange", "food"),
    _n("gâteau", "m", "cake", "food", "gâteaux"), _n("poisson", "m", "fish", "food", en_pl="fish"),
    _n("carotte", "f", "carrot", "food"), _n("banane", "f", "banana", "food"),
    _n("œuf", "m", "egg", "food"), _n("fraise", "f", "strawberry", "food", en_pl="strawberries"),
    _n("poire", "f", "pear", "food"), _n("tomate", "f", "tomato", "food", en_pl="tomatoes"),
    _n("table", "f", "table", "thing"), _n("chaise", "f", "chair", "thing"), _n("lit", "m", "bed", "thing"),
    _n("livre", "m", "book", "thing"), _n("boîte", "f", "box", "thing", en_pl="boxes"),
    _n("maison", "f", "house", "thing"), _n("arbre", "m", "tree", "thing"), _n("porte", "f", "door", "thing"),
    _n("fenêtre", "f", "window", "thing"), _n("voiture", "f", "car", "thing"), _n("sac", "m", "bag", "thing"),
    _n("lampe", "f", "lamp", "thing"), _n("tapis", "m", "rug", "thing", "tapis"),
    _n("bureau", "m", "desk", "thing", "bureaux"), _n("mur", "m", "wall", "thing"),
    _n("bateau", "m", "boat", "thing", "bateaux"), _n("panier", "m", "basket", "thing"),
    _n("chapeau", "m", "hat", "thing", "chapeaux"), _n("assiette", "f", "plate", "thing"),
    _n("armoire", "f", "wardrobe", "thing"), _n("fauteuil", "m", "armchair", "thing"),
)


def _a(ms, en, before=False, fs=None, mp=None, fp=None) -> Adjective:
    fs = fs or (ms if ms.endswith("e") else ms + "e")
    mp = mp or (ms if ms.endswith("s") else ms + "s")
    return Adjective((ms, fs, mp, fp or fs + "s"), en, before)


ADJECTIVES: tuple[Adjective, ...] = (
    _a("petit", "small", True), _a("grand", "big", True), _a("jeune", "young", True),
    _a("bon", "good", True, fs="bonne"), _a("joli", "pretty", True), _a("gros", "fat", True, fs="grosse"),
    _a("noir", "black"), _a("blanc", "white", fs="blanche"), _a("rouge", "red"), _a("vert", "green"),
    _a("bleu", "blue"), _a("gris", "grey", fs="grise"), _a("jaune", "yellow"), _a("rapide", "fast"),
    _a("lent", "slow"), _a("content", "happy"), _a("triste", "sad"), _a("fatigué", "tired"),
    _a("froid", "cold"),
)

PREPOSITIONS = {"sous": "under", "sur": "on", "dans": "in", "devant": "in front of", "derrière": "behind",
                "à côté de": "next to"}
VERBS = {"mange": ("mangent", "eats", "eat"), "voit": ("voient", "sees", "see")}  # 3rd person sg/pl
CONJUNCTIONS = {"et": "and", "mais": "but"}
_NOUN = {n.fr: n for n in NOUNS}
_ADJ = {a.forms[0]: a for a in ADJECTIVES}
_VOWELS = tuple("aeiouyàâéèêîïôœ")


def _elides(word: str) -> bool:
    return word.startswith(_VOWELS) or word == "homme"  # a mute h elides too


@dataclass(frozen=True)
class NounPhrase:
    """A determiner, a noun and at most one adjective on each side of it (by French placement)."""
    noun: str  # the French singular, e.g. "chat"
    definite: bool = True
    plural: bool = False
    before: str | None = None  # an adjective French puts before the noun (masculine singular form)
    after: str | None = None  # an adjective French puts after it

    @property
    def gender(self) -> str:
        return _NOUN[self.noun].gender

    def fr(self, de: bool = False) -> list[str]:
        """The French words; de=True after "à côté de", which contracts with the determiner."""
        n, g = _NOUN[self.noun], self.gender
        k = (g == "f") + 2 * self.plural  # index into the adjective's four forms
        words = [_ADJ[self.before].forms[k]] if self.before else []
        words.append(n.fr_pl if self.plural else n.fr)
        if self.after:
            words.append(_ADJ[self.after].forms[k])
        if self.definite:
            det = "les" if self.plural else ("l'" if _elides(words[0]) else ("la" if g == "f" else "le"))
        else:
            det = "des" if self.plural else ("une" if g == "f" else "un")
        dets = [det]
        if de:  # de + le = du, de + les = des, de + des = de, de + un = d'un
            dets = {"le": ["du"], "les": ["des"], "des": ["de"], "un": ["d'", "un"], "une": ["d'", "une"]}.get(det, ["de", det])
        return dets + words

    def en(self) -> list[str]:
        n = _NOUN[self.noun]
        words = [_ADJ[a].en for a in (self.before, self.after) if a]  # English puts both before the noun
        words.append(n.en_pl if self.plural else n.en)
        det = "the" if self.definite else ("some" if self.plural else ("an" if words[0][0] in "aeio" else "a"))
        return [det, *words]

    def combos(self) -> set[tuple[str, str]]:
        """The (adjective, noun) combinations this phrase uses (the held-out set is made of them)."""
        return {(a, self.noun) for a in (self.before, self.after) if a}


@dataclass(frozen=True)
class Clause:
    """subject + "est/sont" + a preposition and its object, or + an adjective; or subject + verb + object."""
    subject: tuple[NounPhrase, ...]  # one, or two joined by "et" (a plural subject)
    verb: str  # "est" (is), "mange" (eats) or "voit" (sees), in the singular
    prep: str | None = None  # with "est": where the subject is
    obj: NounPhrase | None = None  # the preposition's or the verb's object
    adjective: str | None = None  # with "est" and no preposition: what the subject is

    @property
    def plural(self) -> bool:
        return len(self.subject) > 1 or self.subject[0].plural

    def fr(self) -> list[str]:
        words = [w for k, np in enumerate(self.subject) for w in (["et"] if k else []) + np.fr()]
        pl = self.plural
        if self.verb == "est":
            words.append("sont" if pl else "est")
            if self.adjective:
                g = "m" if any(np.gender == "m" for np in self.subject) else "f"
                words.append(_ADJ[self.adjective].forms[(g == "f") + 2 * pl])
            else:
                de = self.prep == "à côté de"
                words += (self.prep.removesuffix(" de").split() if de else [self.prep]) + self.obj.fr(de=de)
        else:
            words.append(VERBS[self.verb][0] if pl else self.verb)
            words += self.obj.fr()
        return words

    def en(self) -> list[str]:
        words = [w for k, np in enumerate(self.subject) for w in (["and"] if k else []) + np.en()]
        pl = self.plural
        if self.verb == "est":
            words.append("are" if pl else "is")
            words += [_ADJ[self.adjective].en] if self.adjective else PREPOSITIONS[self.prep].split() + self.obj.en()
        else:
            words.append(VERBS[self.verb][2 if pl else 1])
            words += self.obj.en()
        return words

    def combos(self) -> set[tuple[str, str]]:
        return set().union(*(np.combos() for np in (*self.subject, self.obj) if np is not None))


class Pair(NamedTuple):
    fr: str  # "le chat noir est sur l'arbre"
    en: str  # "the black cat is on the tree"


def render_fr(words: list[str]) -> str:
    return " ".join(words).replace("' ", "'")  # "l' arbre" is written "l'arbre"


def sentence(*clauses: Clause, conjunction: str = "et") -> Pair:
    """The pair for one clause, or two joined by a conjunction ("et", "mais")."""
    fr, en = clauses[0].fr(), clauses[0].en()
    for c in clauses[1:]:
        fr, en = fr + [conjunction] + c.fr(), en + [CONJUNCTIONS[conjunction]] + c.en()
    return Pair(render_fr(fr), " ".join(en))


def words_fr(text: str) -> list[str]:
    """French text -> its words as the model reads them: lower case, "l'arbre" -> "l'", "arbre", no punctuation."""
    return re.findall(r"\w+'|\w+", text.lower().replace("’", "'"))


# --- drawing sentences at random ------------------------------------------------------------------------

class Grammar:
    """Draws random clauses; adjective–noun combinations in `banned` are never used."""
    def __init__(self, rng: random.Random, banned: frozenset = frozenset(), p_two_clauses: float = 0.15):
        self.rng, self.banned, self.p_two = rng, banned, p_two_clauses

    def noun_phrase(self, kinds=("animal", "food", "thing"), plural=None) -> NounPhrase:
        r = self.rng
        noun = r.choice([n.fr for n in NOUNS if n.kind in kinds])
        roll = r.random()  # no adjective 40 %, before 20 %, after 30 %, both 10 %
        before = after = None
        if 0.4 <= roll < 0.6 or roll >= 0.9:
            before = r.choice([a.forms[0] for a in ADJECTIVES if a.before])
        if roll >= 0.6:
            after = r.choice([a.forms[0] for a in ADJECTIVES if not a.before])
        np = NounPhrase(noun, r.random() < 0.6, r.random() < 0.35 if plural is None else plural, before, after)
        return np if not (np.combos() & self.banned) else self.noun_phrase(kinds, plural)

    def clause(self) -> Clause:
        r = self.rng
        kind = r.random()
        if kind < 0.45:  # where it is
            subject = (self.noun_phrase(),) if r.random() > 0.1 else (self.noun_phrase(), self.noun_phrase())
            return Clause(subject, "est", prep=r.choice(list(PREPOSITIONS)), obj=self.noun_phrase())
        if kind < 0.6:  # what it is like
            return Clause((self.noun_phrase(),), "est", adjective=r.choice([a.forms[0] for a in ADJECTIVES]))
        verb = r.choice(list(VERBS))
        obj = self.noun_phrase(("food",) if verb == "mange" else ("animal", "food", "thing"))
        return Clause((self.noun_phrase(("animal",)),), verb, obj=obj)

    def pair(self) -> tuple[Pair, set]:
        clauses = [self.clause()]
        conj = "et"
        if self.rng.random() < self.p_two:
            clauses.append(self.clause())
            conj = self.rng.choice(list(CONJUNCTIONS))
        return sentence(*clauses, conjunction=conj), set().union(*(c.combos() for c in clauses))


def held_out_combos(seed: int, fraction: float = 0.1) -> frozenset:
    """A fixed share of all adjective–noun combinations, never shown in training; every noun and every
    adjective keeps most of its combinations, so each word is still learned."""
    rng = random.Random(f"held-out {seed}")
    combos = [(a.forms[0], n.fr) for a in ADJECTIVES for n in NOUNS]
    rng.shuffle(combos)
    return frozenset(combos[:round(fraction * len(combos))])


@dataclass
class Corpus:
    """The language's sentence pairs, split, with one word tokenizer per side."""
    seed: int
    train: list[Pair]
    heldout: list[Pair]  # each uses at least one held-out adjective–noun combination
    heldout_combos: frozenset
    tokenizer: PairTokenizer = field(repr=False)

    @property
    def settings(self) -> dict:
        return {"seed": self.seed, "n_train": len(self.train), "n_heldout": len(self.heldout)}


def make_corpus(seed: int = 0, n_train: int = 20_000, n_heldout: int = 1_000) -> Corpus:
    """n_train distinct training pairs without any held-out combination (the tutorial's sentence first)
    and n_heldout distinct pairs that each use one; the same seed gives the same corpus."""
    banned = held_out_combos(seed)
    grammar = Grammar(random.Random(seed))
    train: dict[str, Pair] = {TUTORIAL[0]: Pair(*TUTORIAL)}
    heldout: dict[str, Pair] = {}
    tries = 0
    while len(train) < n_train or len(heldout) < n_heldout:
        tries += 1
        if tries > 50 * (n_train + n_heldout):
            raise ValueError("the grammar cannot make that many distinct sentences")
        pair, combos = grammar.pair()
        if combos & banned:
            if len(heldout) < n_heldout:
                heldout.setdefault(pair.fr, pair)
        elif len(train) < n_train:
            train.setdefault(pair.fr, pair)
    return Corpus(seed, list(train.values()), list(heldout.values()), banned, vocabularies())


def vocabularies() -> PairTokenizer:
    """Every word the grammar can write, per side, sorted, plus <PAD> <BOS> <EOS> <UNK>."""
    fr = {"l'", "d'", "le", "la", "les", "un", "une", "des", "du", "de", "est", "sont", *CONJUNCTIONS}
    en = {"the", "a", "an", "some", "is", "are", *CONJUNCTIONS.values()}
    for n in NOUNS:
        fr |= {n.fr, n.fr_pl}
        en |= {n.en, n.en_pl}
    for a in ADJECTIVES:
        fr |= set(a.forms)
        en.add(a.en)
    for p, e in PREPOSITIONS.items():
        fr |= set(p.split())
        en |= set(e.split())
    for v, (pl, en_sg, en_pl) in VERBS.items():
        fr |= {v, pl}
        en |= {en_sg, en_pl}
    return PairTokenizer(WordTokenizer(sorted(fr), special_tokens=SPECIALS),
                         WordTokenizer(sorted(en), special_tokens=SPECIALS))


def known_or_closest(word: str, tokenizer: WordTokenizer) -> tuple[bool, str | None, int]:
    """Is the word in the vocabulary? If not, its closest known word by Levenshtein distance (Part 1)."""
    if word in tokenizer.index:
        return True, word, 0
    best = closest_key(word, tokenizer.words)
    return (False, *best) if best else (False, None, 0)
