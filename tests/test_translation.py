"""The generated French→English language: its grammar, its vocabularies, its held-out split."""

import pytest

from llmviz.tasks import translation
from llmviz.tasks.translation import Clause, NounPhrase, sentence


@pytest.fixture(scope="module")
def corpus():
    return translation.make_corpus(seed=0, n_train=3000, n_heldout=300)


def test_the_tutorial_sentence_is_in_the_language_and_in_training(corpus):
    built = sentence(Clause((NounPhrase("chat"),), "est", prep="sous", obj=NounPhrase("table")))
    assert built == translation.Pair("le chat est sous la table", "the cat is under the table")
    assert corpus.train[0] == built


@pytest.mark.parametrize("clause, fr, en", [
    (Clause((NounPhrase("chat", after="noir"),), "est", prep="sur", obj=NounPhrase("table")),
     "le chat noir est sur la table", "the black cat is on the table"),
    (Clause((NounPhrase("chat", plural=True, before="petit", after="blanc"),), "est", prep="dans",
            obj=NounPhrase("maison", definite=False)),
     "les petits chats blancs sont dans une maison", "the small white cats are in a house"),
    (Clause((NounPhrase("souris", after="blanc"),), "est", prep="à côté de", obj=NounPhrase("arbre")),
     "la souris blanche est à côté de l'arbre", "the white mouse is next to the tree"),
    (Clause((NounPhrase("chien"),), "est", prep="à côté de", obj=NounPhrase("chat")),
     "le chien est à côté du chat", "the dog is next to the cat"),
    (Clause((NounPhrase("chien"),), "est", prep="à côté de", obj=NounPhrase("chat", plural=True)),
     "le chien est à côté des chats", "the dog is next to the cats"),
    (Clause((NounPhrase("chien"),), "est", prep="à côté de", obj=NounPhrase("vache", definite=False)),
     "le chien est à côté d'une vache", "the dog is next to a cow"),
    (Clause((NounPhrase("homme"),), "mange", obj=NounPhrase("pomme", definite=False)),
     "l'homme mange une pomme", "the man eats an apple"),
    (Clause((NounPhrase("cheval", plural=True, definite=False),), "voit", obj=NounPhrase("éléphant", definite=False)),
     "des chevaux voient un éléphant", "some horses see an elephant"),
    (Clause((NounPhrase("vache", plural=True),), "est", adjective="blanc"),
     "les vaches sont blanches", "the cows are white"),
    (Clause((NounPhrase("chat"), NounPhrase("souris")), "est", adjective="noir"),
     "le chat et la souris sont noirs", "the cat and the mouse are black"),
    (Clause((NounPhrase("pomme", before="petit"),), "est", prep="devant", obj=NounPhrase("porte")),
     "la petite pomme est devant la porte", "the small apple is in front of the door"),
])
def test_agreement_elision_contraction_and_word_order(clause, fr, en):
    assert sentence(clause) == (fr, en)


def test_two_clauses_and_the_words_the_model_reads():
    a = Clause((NounPhrase("chat"),), "est", prep="sous", obj=NounPhrase("table"))
    b = Clause((NounPhrase("chien", plural=True),), "mange", obj=NounPhrase("gâteau"))
    assert sentence(a, b, conjunction="mais") == ("le chat est sous la table mais les chiens mangent le gâteau",
                                                  "the cat is under the table but the dogs eat the cake")
    assert translation.words_fr("L'oiseau est à côté d'un arbre.") == ["l'", "oiseau", "est", "à", "côté", "d'", "un", "arbre"]


def test_the_lexicon_is_as_big_as_promised():
    assert len(translation.NOUNS) >= 40 and len({n.fr for n in translation.NOUNS}) == len(translation.NOUNS)
    assert len(translation.ADJECTIVES) >= 15
    assert sum(not a.before for a in translation.ADJECTIVES) >= 10 and sum(a.before for a in translation.ADJECTIVES) >= 3
    assert set(translation.PREPOSITIONS) == {"sous", "sur", "dans", "devant", "derrière", "à côté de"}
    fr = translation.vocabularies().source.index
    for word in ("le", "la", "les", "un", "une", "des", "l'", "est", "sont", "mange", "mangent", "voit", "voient",
                 "et", "mais"):
        assert word in fr


def test_the_same_seed_gives_the_same_corpus(corpus):
    again = translation.make_corpus(seed=0, n_train=3000, n_heldout=300)
    assert again.train == corpus.train and again.heldout == corpus.heldout
    other = translation.make_corpus(seed=1, n_train=3000, n_heldout=300)
    assert other.train != corpus.train and other.heldout_combos != corpus.heldout_combos


def _combos(pair):
    words = translation.words_fr(pair.fr)
    nouns = {n.fr_pl: n.fr for n in translation.NOUNS} | {n.fr: n.fr for n in translation.NOUNS}
    adjs = {f: a.forms[0] for a in translation.ADJECTIVES for f in a.forms}
    # an attributive adjective touches its noun (before or after it); a predicative one follows est/sont
    out = set()
    for i, w in enumerate(words):
        if w in nouns:
            for j in (i - 1, i + 1):
                if 0 <= j < len(words) and words[j] in adjs and not (j > 1 and words[j - 1] in ("est", "sont")):
                    out.add((adjs[words[j]], nouns[w]))
    return out


def test_the_held_out_set_only_holds_combinations_never_trained_on(corpus):
    banned = corpus.heldout_combos
    assert len(corpus.train) == 3000 and len(corpus.heldout) == 300
    assert not {p.fr for p in corpus.train} & {p.fr for p in corpus.heldout}  # distinct sentences
    seen_in_training = set().union(*(_combos(p) for p in corpus.train))
    assert not seen_in_training & banned  # read back from the French text itself
    assert all(_combos(p) & banned for p in corpus.heldout)
    # every noun and adjective is still learned: each keeps combinations in training
    assert {n for _, n in seen_in_training} == {n.fr for n in translation.NOUNS}
    assert {a for a, _ in seen_in_training} == {a.forms[0] for a in translation.ADJECTIVES}
    assert 0.05 < len(banned) / (len(translation.NOUNS) * len(translation.ADJECTIVES)) < 0.15


def test_every_word_of_the_corpus_is_in_its_side_vocabulary(corpus):
    tok = corpus.tokenizer
    for p in corpus.train + corpus.heldout:
        assert all(w in tok.source.index for w in translation.words_fr(p.fr)), p
        assert all(w in tok.target.index for w in p.en.split()), p
    for side in (tok.source, tok.target):
        assert side.special_tokens == ["<PAD>", "<BOS>", "<EOS>", "<UNK>"]
        assert side.special_id("<PAD>") == side.ordinary_vocab_size  # special tokens after the words
        assert side.words == sorted(side.words)
    ids = tok.target.encode("<BOS> the cat is under the table <EOS>")
    assert ids[0] == tok.target.special_id("<BOS>") and ids[-1] == tok.target.special_id("<EOS>")
    assert tok.target.decode(ids) == "<BOS> the cat is under the table <EOS>"


def test_the_pair_tokenizer_round_trips():
    from llmviz.text.saved import tokenizer_from_dict

    tok = translation.vocabularies()
    back = tokenizer_from_dict(tok.to_dict())
    assert back.to_dict() == tok.to_dict() and back.vocab_size == tok.target.vocab_size
    assert back.source.words == tok.source.words


def test_an_unknown_word_gets_the_closest_known_one():
    tok = translation.vocabularies().source
    assert translation.known_or_closest("table", tok) == (True, "table", 0)
    assert translation.known_or_closest("tables", tok) == (True, "tables", 0)  # the plural is a word of its own
    assert translation.known_or_closest("tble", tok) == (False, "table", 1)
    assert translation.known_or_closest("chatt", tok)[1] == "chat"
