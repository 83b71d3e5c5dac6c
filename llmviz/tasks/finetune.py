"""From a pre-trained model to a specialised one (tutorial part 3): pre-training, then fine-tuning three ways.

- Pre-training: a model learns the language from a big general text (here: Shakespeare's plays). It
  then continues any prompt in that style, whatever you ask.
- Fine-tuning: the same model trains on a smaller domain text (here: the Python reference), starting
  from its pre-trained weights with a fresh optimizer at step 0:
    "full"   every weight trains;
    "frozen" the body is frozen, only the last block, the final norm and the head train;
    "lora"   every weight is frozen and small low-rank adapters learn the change (llmviz.nn.lora).
  While it trains, its loss on the ORIGINAL text is measured too: a rising one is forgetting.

A real pre-trained model's tokenizer covers every character it may meet later; so does this app's
(`base_vocabulary`): printable ASCII and every character of the built-in texts.
"""

from __future__ import annotations

import copy
import hashlib
import json
import string
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from llmviz.errors import LearnerError
from llmviz.io import checkpoint
from llmviz.io.checkpoint import VERSION
from llmviz.nn import lora
from llmviz.nn.model import LanguageModel
from llmviz.text import corpora, world
from llmviz.text.bpe import BPETokenizer
from llmviz.text.corpora import cache_dir
from llmviz.text.tokenizers import CharTokenizer, Tokenizer
from llmviz.training import pace
from llmviz.training.config import TrainConfig
from llmviz.training.presets import preset_config, preset_train_config
from llmviz.training.train import TrainingError, TrainingRun

METHODS = {
    "full": "full fine-tuning: every weight trains",
    "frozen": "frozen body: only the last block, the final norm and the head train",
    "lora": "LoRA: the weights stay frozen, low-rank adapters B·A learn the change (and the rows of new tokens)",
}


# learning rates that suit each method (measured at 300 steps: LoRA r = 4 on every linear layer of the small
# base reached 1.689 at 4e-3, 1.666 at 1e-2, 1.775 at 2e-2; r = 16 on the assistant base 2.770 at 3e-3, 2.690 at
# 1e-2, 2.857 at 3e-2): LoRA's few parameters need larger steps to move as far
LEARNING_RATES = {"full": 1e-3, "frozen": 1e-3, "lora": 1e-2}
STEPS = 300  # the page's default number of fine-tuning steps, and the command's


def default_config(base: TrainConfig, method: str) -> TrainConfig:
    """Fine-tuning settings: the base's batch and context, a constant learning rate for the method, a
    few hundred steps, frequent loss estimates."""
    from dataclasses import replace

    return replace(base, learning_rate=LEARNING_RATES.get(method, 1e-3), warmup_iters=0, lr_decay=False,
                   max_iters=STEPS, eval_interval=50, eval_iters=20, sample_tokens=200)


@dataclass(frozen=True)
class FineTuning:
    method: str = "lora"
    rank: int = 16  # LoRA's r (peft's examples use 8-16; r = 4 stayed 0.35 nats behind full on the assistant base)
    alpha: float = 8.0  # LoRA's scale: ΔW = B·A · alpha / r
    targets: tuple[str, ...] = tuple(lora.TARGETS)  # every linear layer of the body, as practitioners do
    new_token_rows: bool = True  # LoRA also trains the embedding and head rows of the tokens the new text relies on

    def problems(self) -> list[str]:
        if self.method not in METHODS:
            return [f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}."]
        return []


def base_vocabulary(*texts: str) -> CharTokenizer:
    """A character tokenizer that can spell printable ASCII and every character of the texts given."""
    chars = set(string.printable) - set("\r\x0b\x0c")
    for t in texts:
        chars |= set(t)
    return CharTokenizer(sorted(chars))


def unspellable(tokenizer: Tokenizer, text: str) -> str:
    """The characters of text this tokenizer cannot spell ("" when it can spell them all)."""
    if isinstance(tokenizer, CharTokenizer):
        known = set(tokenizer.chars)
        return "".join(sorted(set(text) - known))
    bad = []
    for c in sorted(set(text)):
        try:
            tokenizer.encode(c)
        except ValueError:
            bad.append(c)
    return "".join(bad)


def drop_unspellable(tokenizer: Tokenizer, text: str) -> tuple[str, float]:
    """The text without the characters the tokenizer cannot spell, and the fraction of it kept."""
    bad = set(unspellable(tokenizer, text))
    kept = "".join(c for c in text if c not in bad)
    return kept, len(kept) / max(1, len(text))


RELIED_ON = 1.5  # a token the new text uses at least this many times as often as the original: its rows train


def new_tokens(tokenizer: Tokenizer, text: str, original: str | None, ratio: float = RELIED_ON) -> tuple[int, ...]:
    """The tokens the new text relies on that pre-training barely shaped: every token the original never
    uses (its rows are untrained), and every one the new text uses, per token of text, at least `ratio` times
    as often as the original does (() when the original is unknown). A BPE learned on the plays spells Python
    in short pieces the plays rarely needed: on the assistant base these rows brought LoRA r = 16 from 0.36 to
    0.14 nats of full fine-tuning (bench/RESULTS.md)."""
    if not original:
        return ()
    if isinstance(tokenizer, CharTokenizer):  # characters: the original may hold some the vocabulary lacks
        new, old = Counter(text), Counter(original)
    else:
        new, old = Counter(tokenizer.encode(text)), Counter(tokenizer.encode(original))
    n_new, n_old = len(text) if isinstance(tokenizer, CharTokenizer) else sum(new.values()), sum(old.values())
    relied = [t for t in new if old[t] == 0 or new[t] * n_old >= ratio * old[t] * n_new]
    if isinstance(tokenizer, CharTokenizer):
        return tuple(sorted(tokenizer.encode("".join(relied))))
    return tuple(sorted(relied))


def trainable_filter(model, method: str):
    """train_only(name) for a method: which parameters train (None: all of them)."""
    if method == "full":
        return None
    if method == "frozen":
        last = f"blocks.{model.config.n_layer - 1}."
        return lambda name: name.startswith((last, "ln_f.", "lm_head."))
    return lora.is_adapter


def start(base, text: str, train_cfg: TrainConfig, how: FineTuning, original: str | None = None) -> TrainingRun:
    """A fine-tuning run (not started) from a copy of the base checkpoint: the base itself is untouched."""
    problems = how.problems()
    if problems:
        raise TrainingError(" ".join(problems))
    missing = unspellable(base.tokenizer, text)
    if missing:
        kept = drop_unspellable(base.tokenizer, text)[1]
        raise TrainingError(f"the base model's tokenizer cannot spell {len(missing)} character(s) of this text: "
                            f"{missing!r}. Pick another text, or drop those characters (that keeps "
                            f"{kept:.1%} of it); a base pre-trained here spells every printable character.")
    ck = copy.copy(base)
    ck.model = copy.deepcopy(base.model)
    if original is not None:
        original = drop_unspellable(base.tokenizer, original)[0]
    if how.method == "lora":
        tokens = new_tokens(base.tokenizer, text, original) if how.new_token_rows else ()
        try:
            lora.apply_lora(ck.model, how.rank, how.alpha, how.targets, tokens)
        except LearnerError as e:
            raise TrainingError(str(e)) from None
    return TrainingRun.fine_tune(ck, train_cfg, text, trainable_filter(ck.model, how.method), original)


# --- the pre-trained base, made once and kept on disk ------------------------------------------------

@dataclass(frozen=True)
class Pretraining:
    """How a base is pre-trained on the built-in plays (and generated worlds): its preset, its tokenizer, its steps."""
    preset: str = "assistant"  # the assistant's base: a 384-token context (llmviz.training.presets)
    plays: tuple[str, ...] = ()  # () = the corpus's default plays
    max_iters: int = 1200
    seed: int = 1337
    tokenizer: str = "bpe"  # "bpe": byte-level BPE learned on the plays; "char": every printable character
    vocab_size: int = 2048  # BPE's tokens (bytes, merges), before any special token
    worlds: tuple[int, ...] = world.PRETRAINING_WORLDS  # generated worlds whose passages are read beside the
                                                        # plays (llmviz.text.world); () = none

    def key(self) -> str:
        """A name for the cached file that changes whenever anything that shapes the model changes."""
        fields = asdict(self)
        if not self.worlds:  # a base of the plays alone keeps the key it had before worlds were read
            fields.pop("worlds")
        if self.tokenizer == "char":  # the small base's key is the one it had before BPE bases existed
            fields.pop("tokenizer"), fields.pop("vocab_size")
        blob = json.dumps({**fields, "format": VERSION, "recipe": 1}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


ASSISTANT_BASE = Pretraining()  # the default base of Parts 3 and 4
SMALL_BASE = Pretraining("fast-cpu", max_iters=1800, tokenizer="char", worlds=())  # 64 characters, quick to make
BASES = {"assistant": ASSISTANT_BASE, "small": SMALL_BASE}


def base_named(name: str) -> Pretraining:
    """The base called "assistant" (the default) or "small"."""
    if name not in BASES:
        raise LearnerError(f"unknown base {name!r}: choose one of {', '.join(BASES)}")
    return BASES[name]


def base_path(how: Pretraining = ASSISTANT_BASE, cache: Path | None = None) -> Path:

    return (cache or cache_dir() / "bases") / f"{how.preset}-{how.key()}.safetensors"


def base_tokenizer(how: Pretraining = ASSISTANT_BASE):
    """The tokenizer a base of `how` is pre-trained with: a BPE learned on its plays, or a character vocabulary
    broad enough for the Python reference too."""
    text = corpora.shakespeare(how.plays or corpora.DEFAULT_PLAYS).text
    if how.tokenizer == "bpe":
        return BPETokenizer().train(text, vocab_size=how.vocab_size)
    return base_vocabulary(text, corpora.python_docs().text)


def pretraining_text(how: Pretraining = ASSISTANT_BASE) -> str:
    """What a base reads: the built-in plays, and, for the assistant's base, the passages of a few generated
    worlds between their speeches, spread evenly (so the last tenth, the validation text, has its share).
    The plays alone never taught this small model to copy from its context: instruction-tuned on the passages
    task, a base of the plays alone could not even repeat the name the question had just given
    (bench/RESULTS.md, "Answering from passages")."""
    plays = corpora.shakespeare(how.plays or corpora.DEFAULT_PLAYS).text
    if not how.worlds:
        return plays
    docs = world.pretraining_passages(how.worlds)
    speeches = plays.rstrip("\n").split("\n\n")
    every = len(speeches) / len(docs)
    out, j = [], 0
    for i, speech in enumerate(speeches):
        out.append(speech)
        while j < len(docs) and i + 1 >= (j + 1) * every:
            out.append(docs[j])
            j += 1
    return "\n\n".join(out + docs[j:]) + "\n"


def pretraining_run(how: Pretraining = ASSISTANT_BASE) -> TrainingRun:
    """A run (not started) that pre-trains a base on the built-in Shakespeare (and the assistant base's generated
    worlds: pretraining_text): with a BPE learned on the plays, or with a character vocabulary broad enough for
    the Python reference too."""
    text = pretraining_text(how)
    tok = base_tokenizer(how)
    cfg = preset_train_config(how.preset, max_iters=how.max_iters, seed=how.seed)
    return TrainingRun.new(preset_config(how.preset, tok.vocab_size), cfg, text, tokenizer=tok, preset=how.preset)


def pretraining_eta(run: TrainingRun) -> float:
    """Seconds a pre-training run is expected to take here, said before it starts: from two of its own
    steps, timed (llmviz.training.pace.measure)."""
    return pace.measure(run).seconds


def save_base(run: TrainingRun, how: Pretraining = ASSISTANT_BASE, cache: Path | None = None) -> Path:

    return checkpoint.save_run(base_path(how, cache), run, extra={"corpus": "shakespeare", "pretraining": how.key()})


def pretrained_base(how: Pretraining = ASSISTANT_BASE, on_step=None, on_start=None):
    """The cached pre-trained base; pre-trained now and cached if missing: on_start(seconds) hears how long
    that is expected to take before it starts, on_step(snapshot) its progress. Its checkpoint's extra
    records "pretrain_seconds" when it was made now."""
    base = cached_base(how)
    if base is None:
        run = pretraining_run(how)
        if on_start is not None:
            on_start(pretraining_eta(run))
        began = time.perf_counter()
        run.train(on_step=on_step)
        if run.state != "finished":
            raise TrainingError("the base's pre-training was stopped before it finished; nothing was cached")
        base = checkpoint.load(save_base(run, how))
        base.extra["pretrain_seconds"] = round(time.perf_counter() - began, 1)
    return base


def cached_base(how: Pretraining = ASSISTANT_BASE, cache: Path | None = None):
    """The cached pre-trained base checkpoint, or None when it has not been made yet (or is unreadable)."""
    path = base_path(how, cache)
    if not path.is_file():
        return None
    try:
        return checkpoint.load(path)
    except checkpoint.CheckpointError:
        return None


def config_for(base: TrainConfig, method: str, steps: int = STEPS, device: str = "auto") -> TrainConfig:
    """default_config with the learner's number of steps, ten loss estimates along the way."""
    from dataclasses import replace

    return replace(default_config(base, method), max_iters=steps, eval_interval=max(10, steps // 10), device=device)


def to_keep(run: TrainingRun) -> bytes:
    """The file to take away: the adapters alone for LoRA, the whole model otherwise (weights, tokenizer,
    settings; no optimizer state)."""

    if run.model.adapters is not None:
        return checkpoint.adapter_to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, preset=run.preset)
    return checkpoint.to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, preset=run.preset)


def adapter_round_trip(run: TrainingRun, base, prompt_ids: list[int]) -> dict:
    """Save a LoRA run's adapters alone, load them onto a copy of their base (the outputs must match the
    run's) and onto another base of the same shape (refused): what the "LoRA, inside" page shows."""
    import torch


    data = to_keep(run)
    idx = torch.tensor([prompt_ids[-run.model_cfg.block_size:]])
    same = copy.copy(base)
    same.model = copy.deepcopy(base.model)
    with torch.no_grad():
        loaded = checkpoint.load_adapter(data, same).model
        diff = float((loaded(idx)[0] - run.model(idx)[0]).abs().max())
    other = copy.copy(base)
    torch.manual_seed(base.train_config.seed + 1)
    other.model = LanguageModel(base.model_config)  # the same shape, other weights
    try:
        checkpoint.load_adapter(data, other)
        refused = ""
    except checkpoint.CheckpointError as e:
        refused = str(e)
    return {"bytes": len(data), "same_base_max_diff": diff, "other_base_refused": refused}


def inside_checks(run: TrainingRun, base, prompt_ids: list[int]) -> dict[str, float]:
    """Merge vs adapters, unmerge again, and fresh adapters (B = 0) vs the base, as largest logit differences."""
    import torch

    idx = torch.tensor([prompt_ids[-run.model_cfg.block_size:]])
    spec = run.model.adapters
    out = lora.merge_check(run.model, idx)
    out["identity"] = lora.identity_check(base.model, spec.rank, spec.alpha, spec.targets, idx, spec.tokens)
    return out
