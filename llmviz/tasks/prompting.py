"""Prompt engineering measured (the "Chat, context and prompts" page): the same held-out question asked
in several wordings (instruct.wordings), each wording's whole answer marked right or wrong, its accuracy
over sampled answers, and its first token's probabilities; then the comparison read in words.

The first token alone can mislead: "g" at 99 % starts "grey" and "green" alike. So the whole answer is
the measure, the first-token bars the explanation."""

from __future__ import annotations

from dataclasses import dataclass

from llmviz.tasks import chat, instruct
from llmviz.tasks.instruct_data import Example


@dataclass(frozen=True)
class Wording:
    label: str
    tokens: int  # the prompt's length in tokens
    cut: bool  # longer than the context: its start is cut off
    answer: str  # the model's whole answer, greedy
    right: bool
    top_token: str  # the most likely first token of the answer, and its probability
    top_prob: float
    probs: object = None  # the probability of every token to start the answer (what the bars show)


def wordings(model, tokenizer, example: Example, variants: dict) -> list[Wording]:
    """Each wording of variants (label -> messages) asked greedily, its answer marked with instruct.correct."""
    out = []
    for label, msgs in variants.items():
        ids, _ = chat.encode(tokenizer, msgs, generation_prompt=True)
        probs = instruct.first_token_probs(model, tokenizer, msgs)
        top = int(probs.argmax())
        got = instruct.reply(model, tokenizer, msgs)
        out.append(Wording(label, len(ids), len(ids) > model.config.block_size, got, instruct.correct(example, got),
                           tokenizer.decode([top]), float(probs[top]), probs))
    return out


def accuracy(model, tokenizer, example: Example, messages, n: int = 20, seed: int = 0) -> float:
    """Share of n answers sampled at temperature 1 that instruct.correct accepts."""
    return sum(instruct.correct(example, instruct.reply(model, tokenizer, messages, temperature=1.0, seed=seed + i))
               for i in range(n)) / n


def reading(results: list[Wording], accuracies: dict[str, float] | None = None) -> str:
    """The wordings compared in words, from their results: which answer right, the best by sampled accuracy
    (when measured), and where a confident first token still began a wrong answer."""
    if not results:
        return ""
    right = [w.label for w in results if w.right]
    words = [f"Greedy, {len(right)} of {len(results)} wordings get the right answer"
             + (f" ({', '.join(right)})" if right and len(right) < len(results) else "") + "."]
    if accuracies:
        best = max(accuracies, key=accuracies.get)
        worst = min(accuracies, key=accuracies.get)
        words.append(f"Sampled, \"{best}\" is right {accuracies[best]:.0%} of the time"
                     + (f", \"{worst}\" {accuracies[worst]:.0%}." if accuracies[worst] < accuracies[best] else
                        ", as every other wording."))
    misled = [w for w in results if not w.right and w.top_prob >= 0.5]
    if misled:
        w = misled[0]
        words.append(f"\"{w.label}\" starts with {w.top_token!r} at {w.top_prob:.0%} and still answers "
                     f"{w.answer!r}: a confident first token is not a right answer.")
    if any(w.cut for w in results):
        words.append("A wording longer than the context loses its start: the examples push the question's "
                     "beginning out.")
    return " ".join(words)
