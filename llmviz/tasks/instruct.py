"""Instruction tuning (tutorial part 3): from a model that continues documents to one that answers.

A pre-trained model asked "Where does Ann live?" writes more Shakespeare. Instruction tuning trains it
on conversations (llmviz.tasks.chat) where only the assistant's words are learned: the prompt's tokens are
in the input but masked out of the loss (their targets are IGNORE). The conversations are generated
(llmviz.tasks.instruct_data: context, tool, shout, style, memory, passages).

A base that cannot spell what the tasks need (a character model of Tiny Shakespeare has no digits, no
braces) grows its vocabulary: new rows of the embedding and of the head, as practitioners do when they add
tokens, each starting as the average of the old rows (untrained); the checkpoint records which were added.
Only what cannot work is refused: an encoder-decoder, adapters, a context too short for any task.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from llmviz.device import pick_device
from llmviz.errors import LearnerError
from llmviz.nn.generate import generate_until, next_token_probs
from llmviz.nn.model import IGNORE, LanguageModel
from llmviz.tasks import chat, tools
from llmviz.tasks.chat import Message
from llmviz.tasks.instruct_data import TASKS, Example, make_examples, spelled
from llmviz.text.tokenizers import CharTokenizer
from llmviz.training.batches import Batch
from llmviz.training.config import TrainConfig
from llmviz.training.train import TrainingError, TrainingRun

class InstructBatches:
    """Conversations as (x, y) rows with the prompt masked out of y: a batch source for the one trainer.

    A chat sends the whole conversation back at every turn, cut from the front to the context; so a
    third of the training conversations come after an earlier exchange, cut the same way, and the model
    learns to answer the last question whatever came before it.

    Conversations differ in length (a shout is ~20 tokens, three passages ~280): a step's rows, drawn at
    random as always, are sorted by length and cut into micro-batches, each cut to its own longest row; the
    loss is their mean weighted by answer tokens, the same number the whole padded batch gives, for about
    a third of the compute."""

    loss_measure = "instruction tuning"  # what its loss measures (llmviz.training.runs.measure_of)
    splits = ("train", "val")
    MICRO = 8  # rows in one micro-batch

    def __init__(self, tokenizer, train: list[Example], held: list[Example], block_size: int, device: str = "cpu"):
        self.tokenizer, self.block_size = tokenizer, block_size
        self.data = {"train": self._rows(train, with_history=True), "val": self._rows(held)}
        self.data = {k: (x.to(device), y.to(device), n) for k, (x, y, n) in self.data.items()}
        self.first = held[0]

    def _rows(self, examples: list[Example], with_history: bool = False) -> tuple[torch.Tensor, torch.Tensor, list]:
        xs, ys, lengths = [], [], []
        for i, e in enumerate(examples):
            messages = e.messages
            if with_history and i % 3 == 0 and not e.tools:  # an earlier exchange first (a fixed choice)
                messages = examples[(i * 7919 + 1) % len(examples)].messages + messages
            ids, learned = chat.encode(self.tokenizer, messages, tools=e.tools)
            earlier = len(ids) - len(chat.encode(self.tokenizer, e.messages, tools=e.tools)[0])
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
            lengths.append(len(x))
            pad = self.block_size - len(x)  # right padding: a causal model never looks at it
            xs.append(x + [0] * pad)
            ys.append(y + [IGNORE] * pad)
        if not xs:
            raise LearnerError(f"no conversation fits in a context of {self.block_size} tokens")
        return torch.tensor(xs), torch.tensor(ys), torch.tensor(lengths)

    def batch(self, split: str, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """batch_size random rows; sorted by length into micro-batches, each cut to its longest row."""
        x, y, lengths = self.data[split]
        ix = torch.randint(len(x), (batch_size,), generator=generator)
        ix = ix[torch.argsort(lengths[ix], stable=True)]
        parts = []
        for chunk in ix.split(self.MICRO):
            width, chunk = int(lengths[chunk].max()), chunk.to(x.device)
            parts.append((x[chunk, :width], y[chunk, :width]))
        counts = [int((t != IGNORE).sum()) for _, t in parts]
        total = sum(counts)

        def loss(model, train: bool) -> torch.Tensor:  # the mean over every answer token of the batch
            return sum(model(idx=i, targets=t, train=train)[1] * (n / total) for (i, t), n in zip(parts, counts) if n)

        return Batch({"idx": parts[-1][0]}, torch.cat([t.flatten() for _, t in parts]), loss)

    def prompt(self) -> list[int]:
        return chat.encode(self.tokenizer, self.first.prompt, generation_prompt=True, tools=self.first.tools)[0]

    def sample(self, model) -> str:
        """What the live view shows: the first held-out prompt as the model sees it (its tags written out) and
        the model's turn, greedy, ending where the turn ends (at "<|end|>", never running past it)."""
        ids = self.prompt()
        return chat.render(self.tokenizer, ids) + _until_end(model, self.tokenizer, ids, 60) + chat.END


# --- the model: the base's weights, a vocabulary grown by the chat tokens -----------------------------

@torch.no_grad()
def with_vocabulary(model: LanguageModel, vocab_size: int, rows: list[int | None] | None = None) -> LanguageModel:
    """A copy of the model whose vocabulary has grown to vocab_size. rows[new id] is the old id whose
    embedding and output rows it keeps (None: a new token); by default the old ids stay where they are.
    Each new token starts as the average of the old rows (an embedding and an output row that say "nothing
    in particular"), and training gives it a meaning."""
    old = model.config.vocab_size
    rows = list(range(old)) + [None] * (vocab_size - old) if rows is None else rows
    if vocab_size < old or len(rows) != vocab_size:
        raise LearnerError("a vocabulary can only grow")
    grown = LanguageModel(replace(model.config, vocab_size=vocab_size)).to(model.token_embedding.weight.device)
    state = copy.deepcopy(model.state_dict())
    for name in ("token_embedding.weight", "lm_head.weight", "lm_head.bias"):
        w = state[name]
        mean = w.mean(0, keepdim=True)
        state[name] = torch.cat([w[r:r + 1] if r is not None else mean for r in rows])
    grown.load_state_dict(state)
    return grown


def grown_tokenizer(tokenizer, needed: str):
    """(the tokenizer with the characters of `needed` it cannot spell and the chat's tokens added, the
    tokens added, rows: for each new id the old id it keeps or None). A byte-level BPE spells everything
    already; a character tokenizer gets the missing characters after its own."""
    added: list[str] = []
    if isinstance(tokenizer, CharTokenizer):
        missing = sorted(set(needed) - set(tokenizer.chars))
        added += missing
        grown = CharTokenizer([*tokenizer.chars, *missing], special_tokens=tokenizer.special_tokens)
    else:
        grown = tokenizer
        try:
            grown.encode_ordinary(needed)
        except ValueError as e:
            raise LearnerError(f"this base's tokenizer cannot spell the instructions and cannot grow: {e}") from None
    grown = chat.with_chat_tokens(grown)
    added += [t for t in grown.special_tokens if t not in tokenizer.special_tokens]
    old_ordinary = tokenizer.ordinary_vocab_size
    rows: list[int | None] = []
    for i in range(grown.vocab_size):
        if i < grown.ordinary_vocab_size:
            rows.append(i if i < old_ordinary else None)
        else:
            special = grown.special_tokens[i - grown.ordinary_vocab_size]
            rows.append(tokenizer.special_id(special) if special in tokenizer.special_tokens else None)
    return grown, added, rows


def prepare(base, needed: str = "") -> tuple[LanguageModel, object, list[str]]:
    """The base checkpoint's model and tokenizer, grown by what the tasks need: (model, tokenizer, added)."""
    tok, added, rows = grown_tokenizer(base.tokenizer, needed)
    return with_vocabulary(base.model, tok.vocab_size, rows), tok, added


# --- using it ----------------------------------------------------------------------------------------

@torch.no_grad()
def turn(model, tokenizer, messages, max_new_tokens: int = 40, temperature: float = 0.0, seed: int | None = None,
         tool_list=()) -> str:
    """The assistant's next turn as it wrote it, up to its end tag ("<|call|>" written out when it calls a
    tool; greedy unless a temperature is given); the prompt is cut to the context if needed."""
    ids, _ = chat.encode(tokenizer, messages, generation_prompt=True, tools=tool_list)
    return _until_end(model, tokenizer, ids, max_new_tokens, temperature, seed)


def reply(model, tokenizer, messages, max_new_tokens: int = 40, temperature: float = 0.0, seed: int | None = None,
          tool_list=()) -> str:
    """The text of the assistant's next turn, no tag in it ("" when it calls a tool instead)."""
    return chat.assistant_message(turn(model, tokenizer, messages, max_new_tokens, temperature, seed, tool_list)).content


def answer(model, tokenizer, prompt, use_tool: bool = True, tool_list=()) -> tuple[str, list[Message]]:
    """The final answer to a prompt, and the turns that led to it. When the model calls a tool of
    tool_list, the program runs it (use_tool) or the model must write the tool's result itself (not use_tool)."""
    turns = list(prompt)
    first = chat.assistant_message(turn(model, tokenizer, turns, tool_list=tool_list))
    turns.append(first)
    if not first.tool_calls:
        return first.content, turns[len(prompt):]
    if use_tool:
        result = tools.run_tool(first.tool_calls[0], tool_list)
    else:  # the model guesses the tool's answer itself, then answers from its guess
        ids, _ = chat.encode(tokenizer, turns, tools=tool_list)
        result = chat.assistant_message(_until_end(model, tokenizer, ids + [tokenizer.special_id("<|tool|>")], 12)).content
    turns.append(Message("tool", result))
    turns.append(chat.assistant_message(turn(model, tokenizer, turns, tool_list=tool_list)))
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


def base_answer(model, tokenizer, prompt, max_new_tokens: int = 30, tool_list=()) -> str:
    """What a model without chat tokens writes after a plain transcript: up to the end of its line."""
    text = chat.format_chat(prompt, tools=tool_list).prompt + " "
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
            got = (answer(model, tokenizer, e.prompt, use_tool, e.tools)[0] if tuned
                   else base_answer(model, tokenizer, e.prompt, tool_list=e.tools))
            hits += correct(e, got)
        out[task] = hits / len(cases)
    return out


def pushed_out(example: Example, filler: list[Example], tokenizer, block_size: int) -> Example:
    """The memory question with other exchanges put in after the first turn until that turn (the fact) is
    outside the model's context: what forgetting looks like."""
    first, rest = example.prompt[:2], example.prompt[2:]
    middle: list[Message] = []
    for e in filler:
        forgotten, _ = chat.fit_context(chat.encode(tokenizer, [*first, *middle, *rest], True)[0], block_size, 8)
        if len(forgotten) >= len(chat.encode(tokenizer, first)[0]):
            break
        middle += e.messages
    msgs = (*first, *middle, *rest)
    return Example("memory", (*msgs, example.messages[-1]), example.answer, asked=len(msgs))


def forgetting(model, tokenizer, held: list[Example], per_task: int = 20) -> float | None:
    """Accuracy on the held-out memory questions with the first turn pushed out of the context (None when
    there are none)."""
    cases = [e for e in held if e.task == "memory"][:per_task]
    filler = [e for e in held if e.task == "shout"] * 8
    if not cases or not filler:
        return None
    pushed = [pushed_out(e, filler, tokenizer, model.config.block_size) for e in cases]
    return sum(correct(e, answer(model, tokenizer, e.prompt)[0]) for e in pushed) / len(pushed)


# --- a run the app and the command line start -----------------------------------------------------------

def default_config(steps: int = 1500, device: str = "auto"):
    """Instruction tuning's settings: 32 conversations a step, a warm-up and a cosine decay, no weight decay,
    accuracy measured every 500 steps; 1,500 steps take about 8 minutes on a 2-core CPU from the assistant
    base (bench/RESULTS.md)."""
    return TrainConfig(learning_rate=2e-3, min_lr=2e-4, lr_decay=True, warmup_iters=100, batch_size=32,
                       max_iters=steps, eval_interval=min(500, steps), eval_iters=10, weight_decay=0.0,
                       sample_tokens=40, device=device)


MIN_BLOCK = 48  # tokens: below this no task's conversation fits


def fitting_tasks(tokenizer, block_size: int, seed: int = 0) -> tuple[str, ...]:
    """The tasks whose conversations mostly fit a context of block_size tokens (a longer one is cut from
    the front, which a task can bear only so far)."""
    sample, _ = make_examples(120, 0, seed=seed, listed=0.0)  # tools are listed beside other tasks only with "tool"
    fits = []
    for task in TASKS:
        lengths = sorted(len(chat.encode(tokenizer, e.messages, tools=e.tools)[0]) for e in sample if e.task == task)
        if lengths[len(lengths) * 3 // 4] <= block_size + 1:
            fits.append(task)
    return tuple(fits)


def start(base, train_cfg, style_text: str = "", seed: int = 0, per_task: int = 10, n_train: int = 20_000):
    """(run, held-out examples, tokens added): an instruction-tuning run (not started) from a copy of a base
    checkpoint's weights, its vocabulary grown by what the tasks need, on the generated conversations of
    the tasks its context holds; held-out accuracy per task is measured at every evaluation
    (Record.other["acc <task>"])."""
    if base.model.adapters is not None:
        raise TrainingError("instruction-tune a whole model, not one with LoRA adapters: merge them first")
    if not isinstance(base.model, LanguageModel):
        raise TrainingError("instruction tuning needs a decoder (a language model); this is an encoder-decoder")
    block = base.model.config.block_size
    if block < MIN_BLOCK:
        raise TrainingError(f"this base reads {block} tokens; the shortest task needs about {MIN_BLOCK}: start "
                            f"from the assistant base (--base pretrained, 384 tokens)")
    probe, _ = make_examples(400, 0, seed=seed, style_text=style_text)
    try:
        model, tok, added = prepare(base, spelled(probe))
    except (AttributeError, LearnerError) as e:
        raise TrainingError(f"this base cannot take chat tokens: {e}") from None
    tasks = fitting_tasks(tok, block, seed)
    if not tasks:
        raise TrainingError(f"no task's conversation fits in this base's {block} tokens: start from the "
                            f"assistant base (--base pretrained, 384 tokens)")
    train, held = make_examples(n_train, 60 * len(tasks), seed=seed, style_text=style_text, tasks=tasks)
    batches = InstructBatches(tok, train, held, block, pick_device(train_cfg.device))
    run = TrainingRun(model, tok, batches, train_cfg, preset=base.preset,
                      measure=lambda m: {f"acc {k}": v for k, v in accuracy(m, tok, held, per_task).items()})
    run.added_tokens = added
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
