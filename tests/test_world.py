"""The generated world: deterministic, every question's answer stated in its passage and in no other way."""

import random

import pytest

from llmviz.errors import LearnerError
from llmviz.text.world import RELATIONS, make_world


def test_the_same_seed_gives_the_same_world_and_another_seed_another():
    a, b, c = make_world(3, 50), make_world.__wrapped__(3, 50), make_world(4, 50)
    assert a == b and a.passages != c.passages


def test_every_answer_is_in_its_passage_and_names_are_unique():
    world = make_world(0, 120)
    people = [p.person for p in world.passages]
    assert len(set(people)) == len(people) == 120
    assert len(world.questions) == 120 * sum(len(forms) for _, forms in RELATIONS.values())
    for q in world.questions:
        passage = world.passages[q.passage]
        assert q.answer in passage.text and passage.person in q.text
        # its sentence is one of the passage's, about its person, and ends with the answer
        assert q.sentence in passage.text.replace(". ", ".\n").split("\n") and passage.person in q.sentence
        assert q.sentence.endswith(f" {q.answer}.")
        assert not set(q.answer.split()) & set(q.text.rstrip("?").replace("'s", "").split())  # never gives it away
    # a person's home is stated once, in their own passage: the question has exactly one answer passage
    homes = [q for q in world.questions if q.relation == "home" and q.wording == 0]
    for q in homes[:30]:
        stating = [p.id for p in world.passages if f"{world.passages[q.passage].person} lives in" in p.text]
        assert stating == [q.passage]


def test_distractors_hold_the_answer_passage_once_among_k():
    world = make_world(1, 40)
    q = world.questions[17]
    got = world.distractors(q, 3, random.Random(0))
    assert len(got) == 3 and [p.id for p in got].count(q.passage) == 1 and len({p.id for p in got}) == 3
    with pytest.raises(LearnerError, match="k must be between 1 and 40"):
        world.distractors(q, 41, random.Random(0))


def test_the_world_is_a_corpus_with_a_section_per_person():
    world = make_world(2, 10)
    corpus = world.corpus()
    assert corpus.text == world.text() and len(corpus.sections) == 10
    for (offset, person), p in zip(corpus.sections, world.passages):
        assert corpus.text[offset:].startswith(p.text) and person == p.person
    assert corpus.section_at(corpus.sections[4][0] + 5) == world.passages[4].person


@pytest.mark.parametrize("seed, people", [(-1, 10), (2**31, 10), ("1", 10), (0, 1), (0, 10**6)])
def test_impossible_worlds_are_refused_in_words(seed, people):
    with pytest.raises(LearnerError, match="seed|people"):
        make_world(seed, people)


def test_trades_take_their_article():
    texts = " ".join(p.text for p in make_world(0, 300).passages)
    assert "works as an archer" in texts and "works as a baker" in texts
    assert "works as a archer" not in texts


def test_a_base_reads_worlds_that_neither_instruction_data_nor_evaluation_uses():
    from llmviz.tasks import instruct_data
    from llmviz.text.world import PRETRAINING_WORLDS, pretraining_passages

    assert not set(PRETRAINING_WORLDS) & {instruct_data.HELD_OUT_WORLD, *instruct_data.TRAINING_WORLDS}
    read = set(pretraining_passages((100, 101), 30))
    assert len(read) == 60 and read == {p.text for s in (100, 101) for p in make_world(s, 30).passages}
    held = {p.text for p in make_world(instruct_data.HELD_OUT_WORLD, instruct_data.WORLD_PEOPLE).passages}
    assert not held & set(pretraining_passages())
