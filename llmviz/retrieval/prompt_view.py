"""A retrieval-augmented prompt as the model reads it, token by token (tutorial part 4, RAG): which tokens
are the retrieved passages, which are the question and the chat's tags, and which lie outside the model's
context and are never read.

A model reads only its last block_size tokens (an instruct model: of the prompt that ends with its turn
to write, the front cut first, as llmviz.tasks.chat.fit_context does). Passages put before the question
are the first to fall out: a long context or a large k pushes them out, and the answer is then a guess
however good the retrieval was. The page draws the kinds with llmviz.plots.retrieval.prompt_strip.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmviz.retrieval import rag
from llmviz.tasks import chat

KINDS = ("forgotten", "passage", "tag", "read")  # outside the context, a retrieved passage, a chat tag, the rest


@dataclass(frozen=True)
class PromptView:
    tokens: list[str]  # each token as text (a tag as its name)
    kinds: list[str]  # each token's kind (KINDS)
    block_size: int
    passage_tokens: int  # tokens of the passages in the prompt
    passage_tokens_read: int  # of those, inside the context

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def forgotten(self) -> int:
        return self.kinds.count("forgotten")

    def shown(self, limit: int = 960) -> tuple[list[str], list[str], int]:
        """The tokens and kinds to draw: all of them up to `limit`, else the first quarter of the limit and the
        rest from the end, one "… N tokens …" cell (the kind of the first one left out) between; and N."""
        if self.n <= limit:
            return self.tokens, self.kinds, 0
        head, tail = limit // 4, limit - limit // 4 - 1
        skipped = self.n - head - tail
        return (self.tokens[:head] + [f"… {skipped:,} …"] + self.tokens[-tail:],
                self.kinds[:head] + [self.kinds[head]] + self.kinds[-tail:], skipped)

    def reading(self) -> str:
        """What the model reads of its prompt, in words (computed from the counts)."""
        head = f"The prompt is {self.n:,} tokens; the model reads its last {self.block_size:,}."
        if not self.forgotten:
            return head + " All of it is inside the context: the passages reach the model."
        lost = self.passage_tokens - self.passage_tokens_read
        if lost == 0:
            return head + f" The first {self.forgotten:,} tokens fall outside it, none of them a passage's."
        share = lost / self.passage_tokens if self.passage_tokens else 0.0
        return (head + f" The first {self.forgotten:,} tokens fall outside it: {share:.0%} of the passages' tokens "
                "never reach the model, so what it answers from them is a guess. Retrieve fewer chunks (k), "
                "or use a model with a longer context.")


def _spans(text: str, passages: list[str]) -> list[tuple[int, int]]:
    out, start = [], 0
    for p in passages:
        i = text.find(p, start) if p else -1
        if i >= 0:
            out.append((i, i + len(p)))
            start = i + len(p)
    return out


def view(tokenizer, block_size: int, prompt: str, passages: list[str]) -> PromptView:
    """The prompt (with the passages in it) as the model reads it: an instruct model's user turn in its chat
    format (with the generation prompt), a base model's plain text; each token's kind."""
    text, _ = rag.spellable(tokenizer, prompt)
    texts = [rag.spellable(tokenizer, p.strip())[0] for p in passages]
    if chat.has_chat_template(tokenizer):  # the chat's own view: the user turn, the generation prompt, the cut
        texts = [rag.user_text(t) for t in texts]
        seen = chat.prompt_view(tokenizer, [chat.Message("user", rag.user_text(text))], block_size)
        tokens, kinds, forgotten = seen.tokens, seen.kinds, seen.forgotten
    else:
        ids = tokenizer.encode(text)
        forgotten = max(0, len(ids) - block_size)
        tokens = [tokenizer.decode([t]) for t in ids]
        kinds = ["forgotten" if i < forgotten else "read" for i in range(len(ids))]
    spans = _spans("".join(tokens), texts)  # a tag reads as its name: passages lie in the text between tags
    pos, in_passage = 0, []
    for piece in tokens:
        mid = pos + len(piece) / 2
        in_passage.append(any(a <= mid < b for a, b in spans))
        pos += len(piece)
    kinds = ["passage" if p and k == "read" else "read" if k == "learned" else k for k, p in zip(kinds, in_passage)]
    total = sum(in_passage)
    read = sum(p for i, p in enumerate(in_passage) if i >= forgotten)
    return PromptView(tokens, kinds, block_size, total, read)


ANSWER_ROOM = 16  # tokens kept free for the answer (a fact of the world is a few tokens)


def passages_that_fit(tokenizer, block_size: int, question: str, hits, template: str, room: int = ANSWER_ROOM) -> int:
    """How many of the first hits the prompt can hold with nothing cut away while the model writes its first
    `room` tokens (it reads only its last block_size tokens); 0 when even the first does not fit."""
    fits = 0
    for n in range(1, len(hits) + 1):
        chosen = hits[:n]
        prompt = rag.build_prompt(question, chosen, template)
        if view(tokenizer, max(1, block_size - room), prompt, [h.text for h in chosen]).forgotten:
            break
        fits = n
    return fits
