"""Saving and loading a trained model: one `.safetensors` file holding everything needed to use it or
to go on training it.

The file is a standard safetensors file (readable by any safetensors tool). Format version 2:
- tensors `model.<name>`: the weights (the model's state_dict);
- tensors `optim.<parameter name>.<key>`: AdamW's running averages per parameter, so training resumes
  exactly (kept by name, so they find their parameter whatever is trained or frozen);
- tensors `rng.<stream>`: the random generators' states;
- a model with LoRA adapters (llmviz.nn.lora) keeps them among its `model.*` tensors; an adapter-only
  file (`adapter_to_bytes`) holds just `adapter.<name>` tensors and loads onto its base model alone;
- header metadata `format` = "llmviz-checkpoint", `version` = "2", and `llmviz`: one JSON document with
  the architecture ("decoder-only" or "encoder-decoder"), the model configuration, the tokenizer with its special tokens,
  the training configuration, the history rows, the best validation loss, the number of steps
  trained, the tutorial preset, the adapters' description (rank, alpha, target matrices, and the
  sha256 of the base weights they belong to) and anything else the caller adds.
Version-1 files (no architecture, optimizer state by position) still load.

Loading parses only JSON and raw tensor bytes: nothing is ever unpickled, so opening a file someone
sent you cannot run their code. Nothing in the file is trusted: the header's size is bounded, its
table of tensors is checked against the file's length, the whole description is checked against a
schema (llmviz.io.schema: every field's type and range, sane upper bounds on every size), the model is
laid out on PyTorch's "meta" device (shapes, no memory) and every declared tensor's name, type and
shape is compared with it, all before a single tensor is read. Only then do the file's tensors become
the weights. Every refusal is a CheckpointError that says what is wrong, never a traceback.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from llmviz.io import schema
from llmviz.errors import LearnerError
from llmviz.nn import lora
from llmviz.nn.lora import AdapterSpec
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.text.saved import tokenizer_from_dict
from llmviz.text.tokenizers import Tokenizer
from llmviz.training.config import TrainConfig
from llmviz.training.record import Record
from llmviz.nn.encoder_decoder import ARCHITECTURES, EncoderDecoderConfig, build_model

FORMAT, VERSION = "llmviz-checkpoint", 2
READABLE_VERSIONS = (1, 2)
CONFIGS = {"decoder-only": ModelConfig, "encoder-decoder": EncoderDecoderConfig}  # one per ARCHITECTURES
MAX_HEADER = 16 * 1024 * 1024  # the JSON header (safetensors allows 100 MB; ours are kilobytes, a big BPE a few MB)
MAX_FILE = 2 * 1024**3  # bytes of a checkpoint file read from disk


class CheckpointError(LearnerError):
    """The file is not a usable llmviz checkpoint; the message says why."""


@dataclass
class Checkpoint:
    model: LanguageModel  # on the CPU
    tokenizer: Tokenizer
    model_config: ModelConfig
    train_config: TrainConfig
    history: tuple = ()  # llmviz.training.train.Record rows
    best_val_loss: float = float("nan")
    step: int = 0  # optimizer steps trained so far
    optimizer_state: dict | None = None  # parameter name -> AdamW state (llmviz.training.optim.load_state_by_name)
    rng_state: dict | None = None  # {"batches", "torch"}: random generator states, so resuming is seamless
    preset: str = ""  # the tutorial model it is a version of, or ""
    architecture: str = "decoder-only"
    adapters: AdapterSpec | None = None  # the model carries these adapters (llmviz.nn.lora)
    version: int = VERSION  # the format version the file was written in
    extra: dict = field(default_factory=dict)  # anything else that was saved (e.g. a corpus name)


def _spec_json(spec: AdapterSpec | None) -> dict | None:
    return {**asdict(spec), "targets": list(spec.targets)} if spec else None


def to_bytes(model: LanguageModel, tokenizer: Tokenizer, train_cfg: TrainConfig, history=(), *,
             optimizer_state: dict | None = None, step: int | None = None, rng_state: dict | None = None,
             preset: str = "", extra: dict | None = None) -> bytes:
    """The checkpoint as bytes (for a download button, or to write to disk)."""
    from safetensors.torch import save

    state = {**lora.base_state(model), **lora.adapter_state(model)}  # refuses merged adapters
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
    for k, v in (rng_state or {}).items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous()
    scalars = {}
    for name, state in (optimizer_state or {}).items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{name}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{name}.{k}"] = v
    history = [r._asdict() if hasattr(r, "_asdict") else dict(r) for r in history]
    vals = [r["val_loss"] for r in history if math.isfinite(r["val_loss"])]
    meta = {
        "architecture": getattr(model, "architecture", "decoder-only"),
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "train_config": train_cfg.to_dict(),
        "history": history,
        "best_val_loss": min(vals) if vals else None,
        "step": step if step is not None else (history[-1]["step"] if history else 0),
        "optimizer": {"scalars": scalars} if optimizer_state else None,
        "preset": preset,
        "adapters": _spec_json(model.adapters),
        "extra": extra or {},
    }
    return save(tensors, metadata={"format": FORMAT, "version": str(VERSION), "llmviz": json.dumps(meta)})


def _json(text: str | bytes):
    """JSON that may be hostile: deep nesting and giant numbers are refused like any other bad JSON."""
    return json.loads(text)  # RecursionError and the int-digits ValueError are caught by the callers


def _header(data: bytes) -> tuple[dict, int]:
    """The safetensors header (a JSON object) and its length."""
    if len(data) < 8:
        raise CheckpointError("this is not an llmviz checkpoint: the file is too short to be a safetensors file.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER and 8 + n <= len(data):
        raise CheckpointError(f"this checkpoint's header is {n:,} bytes; llmviz reads headers of at most "
                              f"{MAX_HEADER:,} bytes.")
    if n > MAX_HEADER or 8 + n > len(data):
        raise CheckpointError("this is not an llmviz checkpoint: it does not start with a safetensors header "
                              "(the file may be truncated or of another kind).")
    try:
        header = _json(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not valid JSON.") from None
    if not isinstance(header, dict):
        raise CheckpointError("this is not an llmviz checkpoint: its header is not a JSON object.")
    return header, n


def _version(meta) -> int:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("this safetensors file was not written by llmviz (it has no llmviz metadata), "
                              "so there is no configuration or tokenizer to rebuild the model from.")
    v = meta.get("version", "0")
    version = int(v) if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 5 else -1
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"this checkpoint has format version {meta.get('version')!r}; this llmviz reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}.")
    return version


def _layout(cfg: ModelConfig, adapters: AdapterSpec | None = None) -> LanguageModel:
    """The model (with its adapters) laid out on the meta device: names and shapes, no memory."""
    with torch.device("meta"):
        model = build_model(cfg)  # a LanguageModel, or an EncoderDecoder for an EncoderDecoderConfig
        if adapters is not None:
            try:
                lora.apply_lora(model, adapters.rank, adapters.alpha, adapters.targets)
            except LearnerError as e:
                raise CheckpointError(f"this checkpoint's adapters do not fit its model: {e}") from None
            model.adapters = adapters
    return model


def _assign(model: LanguageModel, weights: dict) -> LanguageModel:
    """A meta-device model takes the file's tensors as its weights."""
    try:
        model.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError("the weights do not match the model configuration saved with them: "
                              + " ".join(line.strip() for line in first[1:4])) from None
    return model


def _check_tensors(table: dict, model: LanguageModel, version: int, scalars: dict) -> None:
    """Every tensor the file declares, compared with the model laid out on the meta device: the weights
    exactly the model's (names, float32, shapes), AdamW's state for parameters that exist and of their
    shapes, the random generators' states of their fixed size. Nothing has been read yet."""
    import torch

    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    params = {n: tuple(p.shape) for n, p in model.named_parameters()}
    order = list(params)
    rng_size = tuple(torch.Generator().get_state().shape)
    weights = {k[len("model."):]: v for k, v in table.items() if k.startswith("model.")}
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError("the weights do not match the model configuration saved with them: "
                              + (f"missing {', '.join(missing[:3])}" if missing else "")
                              + ("; " if missing and unexpected else "")
                              + (f"unexpected {', '.join(unexpected[:3])}" if unexpected else "") + ".")
    for name, (dtype, shape) in weights.items():
        if dtype != "F32" or shape != expected[name]:
            raise CheckpointError(f"the weights do not match the model configuration saved with them: {name} is "
                                  f"{dtype} {list(shape)}, the configuration needs F32 {list(expected[name])}.")

    def param_of(key: str, where: str) -> tuple[str, str]:
        if "." not in key:
            raise CheckpointError(f"this checkpoint's optimizer state has an entry {key!r} with no parameter name.")
        if version == 1:
            i, k = key.split(".", 1)
            if not (i.isdigit() and int(i) < len(order)):
                raise CheckpointError(f"this checkpoint's optimizer state names parameter number {i!r}; the model "
                                      f"has {len(order)}.")
            name = order[int(i)]
        else:
            name, k = key.rsplit(".", 1)
            if name not in params:
                raise CheckpointError(f"this checkpoint's optimizer state names a parameter the model lacks: {name!r}.")
        if k not in schema.ADAM_KEYS:
            raise CheckpointError(f"this checkpoint's optimizer state has an unknown entry {k!r} ({where}).")
        return name, k

    for key, (dtype, shape) in table.items():
        if key.startswith("model."):
            continue
        if key.startswith("optim."):
            name, k = param_of(key[len("optim."):], key)
            want = () if k == "step" else params[name]
            if dtype != "F32" or shape != want:
                raise CheckpointError(f"this checkpoint's optimizer state {key} is {dtype} {list(shape)}; its "
                                      f"parameter needs F32 {list(want)}.")
        elif key.startswith("rng."):
            if key not in ("rng.batches", "rng.torch") or dtype != "U8" or shape != rng_size:
                raise CheckpointError(f"this checkpoint's random generator state {key} is not one llmviz writes "
                                      f"(U8 {list(rng_size)} named rng.batches or rng.torch).")
        else:
            raise CheckpointError(f"this checkpoint holds a tensor llmviz does not know: {key[:60]!r}.")
    for key in scalars:
        param_of(key, "optimizer.scalars")


def _optimizer_state(info: dict, tensors: dict, version: int, model: LanguageModel) -> dict | None:
    """AdamW's state by parameter name. Version 1 numbered parameters in the model's order (one group)."""
    if not info.get("has_optimizer"):
        return None
    names = [n for n, _ in model.named_parameters()]
    by_name: dict[str, dict] = {}

    def put(key: str, value):
        if version == 1:
            i, k = key.split(".", 1)
            name = names[int(i)]
        else:
            name, k = key.rsplit(".", 1)
        by_name.setdefault(name, {})[k] = value

    try:
        for key, v in tensors.items():
            if key.startswith("optim."):
                put(key[len("optim."):], v)
        for key, v in (info["optimizer"] or {}).items():
            put(key, v)
    except (ValueError, IndexError):
        raise CheckpointError("this checkpoint's optimizer state does not match its model.") from None
    unknown = set(by_name) - set(names)
    if unknown:
        raise CheckpointError(f"this checkpoint's optimizer state names parameters the model lacks: {sorted(unknown)[:3]}")
    for name, state in by_name.items():
        lacking = {"step", "exp_avg", "exp_avg_sq"} - set(state)
        if lacking:
            raise CheckpointError(f"this checkpoint's optimizer state for {name} lacks {', '.join(sorted(lacking))}.")
    return by_name


def from_bytes(data: bytes) -> Checkpoint:
    """Rebuild the model, tokenizer, configurations, history and optimizer state from to_bytes' output.
    Anything else is refused with a CheckpointError in words (see the module's docstring)."""
    try:
        return _from_bytes(data)
    except CheckpointError:
        raise
    except schema.Invalid as e:
        raise CheckpointError(f"this checkpoint's description is invalid: {e}.") from None
    except Exception as e:  # damage no check foresaw: still words for the learner, the traceback to the log
        traceback.print_exc(file=sys.stderr)
        raise CheckpointError(f"this checkpoint could not be read ({type(e).__name__}: {str(e)[:200]}); "
                              "the file may be damaged.") from None


def _from_bytes(data: bytes) -> Checkpoint:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    header, n = _header(data)
    table = schema.tensor_table(header, len(data) - 8 - n)  # offsets inside the file, sizes that match
    meta = header.get("__metadata__") or {}
    version = _version(meta)
    doc = meta.get("llmviz")
    if not isinstance(doc, str):
        raise CheckpointError("this checkpoint has no llmviz description (no configuration or tokenizer).")
    try:
        raw = _json(doc)
    except (ValueError, RecursionError):
        raise CheckpointError("this checkpoint's description is not valid JSON.") from None
    info = schema.description(raw)  # types, ranges and sizes of every field
    architecture = info["architecture"]
    if architecture not in ARCHITECTURES:
        raise CheckpointError(f"this checkpoint holds a {architecture!r} model; this llmviz knows "
                              f"{', '.join(ARCHITECTURES)}.")
    model_cfg = CONFIGS[architecture](**info["model_config"])
    problems = model_cfg.problems()
    if problems:
        raise CheckpointError("this checkpoint's model configuration is invalid: " + " ".join(problems))
    train_cfg = TrainConfig(**info["train_config"])
    problems = replace(train_cfg, device="cpu").problems()  # the device: whatever this machine has, when used
    if problems:
        raise CheckpointError("this checkpoint's training configuration is invalid: " + " ".join(problems))
    try:
        tokenizer = tokenizer_from_dict(info["tokenizer"])
    except ValueError as e:  # LearnerError included
        raise CheckpointError(f"this checkpoint's tokenizer is invalid: {e}") from None
    source = getattr(tokenizer, "source", None)  # a translation's source side: every id the encoder reads
    if source is not None and source.vocab_size != getattr(model_cfg, "src_vocab_size", None):
        raise CheckpointError(f"the source tokenizer has {source.vocab_size} tokens but the model's source side "
                              f"{getattr(model_cfg, 'src_vocab_size', 0)}: the file is inconsistent.")
    if tokenizer.vocab_size != model_cfg.vocab_size:  # every id the model can write must have a text
        raise CheckpointError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                              f"{model_cfg.vocab_size}: the file is inconsistent.")
    if info["weights"] == "adapters-only":
        raise CheckpointError("this file holds LoRA adapters only, not a whole model: load it onto the base model "
                              "it was trained on (llmviz.io.checkpoint.load_adapter).")
    a = info["adapters"]
    adapters = AdapterSpec(a["rank"], a["alpha"], tuple(a["targets"]), a["base_sha256"]) if a else None
    model = _layout(model_cfg, adapters)  # shapes only, no memory
    n_params = model.num_params()
    if n_params > schema.MAX_PARAMS:
        raise CheckpointError(f"this checkpoint describes a model of {n_params:,} parameters; llmviz loads models "
                              f"of at most {schema.MAX_PARAMS:,}.")
    _check_tensors(table, model, version, info["optimizer"] or {})
    try:
        tensors = load(bytes(data))
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the weights in this checkpoint cannot be read ({e}); the file may be truncated.") from None
    model = _assign(model, {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    for name, t in list(model.state_dict().items()) + [(k, v) for k, v in tensors.items() if k.startswith("optim.")]:
        if not torch.isfinite(t).all():
            raise CheckpointError(f"this checkpoint's {name} holds NaN or infinite values: it cannot be used.")
    rng_state = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")} or None
    if rng_state is not None and set(rng_state) != {"batches", "torch"}:
        raise CheckpointError("this checkpoint has only part of the random generators' state.")
    for k, v in (rng_state or {}).items():
        try:
            torch.Generator().set_state(v)
        except RuntimeError:
            raise CheckpointError(f"this checkpoint's random generator state rng.{k} is not a valid state.") from None
    history = tuple(Record(**r) for r in info["history"])
    return Checkpoint(model, tokenizer, model_cfg, train_cfg, history, info["best_val_loss"], info["step"],
                      _optimizer_state(info, tensors, version, model), rng_state, info["preset"], architecture,
                      adapters, version, info["extra"])


def adapter_to_bytes(model: LanguageModel, tokenizer: Tokenizer, train_cfg: TrainConfig, history=(), *,
                     preset: str = "", extra: dict | None = None) -> bytes:
    """Only the LoRA adapters (and what is needed to check they meet their base): a tiny file."""
    from safetensors.torch import save

    if model.adapters is None:
        raise CheckpointError("this model has no adapters to save")
    tensors = {f"adapter.{k}": v.detach().cpu().contiguous() for k, v in lora.adapter_state(model).items()}
    meta = {"architecture": "decoder-only", "weights": "adapters-only", "model_config": model.config.to_dict(),
            "tokenizer": tokenizer.to_dict(), "train_config": train_cfg.to_dict(),
            "history": [r._asdict() for r in history], "preset": preset, "adapters": _spec_json(model.adapters),
            "extra": extra or {}}
    return save(tensors, metadata={"format": FORMAT, "version": str(VERSION), "llmviz": json.dumps(meta)})


def load_adapter(data: bytes, base: Checkpoint) -> Checkpoint:
    """Put an adapter-only file's adapters on the base model it was trained on (in place) and return the
    base checkpoint with them. Another base (other weights, shape or tokenizer) is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    meta = _header(data)[0].get("__metadata__") or {}
    _version(meta)
    try:
        info = json.loads(meta["llmviz"])
        a = info["adapters"]
        spec = AdapterSpec(int(a["rank"]), float(a["alpha"]), tuple(a["targets"]), str(a["base_sha256"]))
        model_cfg = ModelConfig.from_dict(info["model_config"])
        tokenizer = info["tokenizer"]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"this is not an adapter file ({type(e).__name__}: {e}).") from None
    if info.get("weights") != "adapters-only":
        raise CheckpointError("this file is a whole model, not adapters: load it with llmviz.io.checkpoint.load.")
    if base.model.adapters is not None:
        raise CheckpointError("this base model already carries adapters")
    found = lora.weights_sha256(base.model)
    if model_cfg != base.model_config or tokenizer != base.tokenizer.to_dict() or found != spec.base_sha256:
        raise CheckpointError(f"these adapters were trained on another base model (weights sha256 "
                              f"{spec.base_sha256[:12]}…, this base has {found[:12]}…): adapters only make sense on "
                              f"the exact weights they were trained against. Load the base they came from.")
    try:
        tensors = {k[len("adapter."):]: v for k, v in load_tensors(bytes(data)).items()}
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"the adapter weights cannot be read ({e}).") from None
    with torch.device("meta"):  # the adapters' expected names and shapes, before the base is touched
        probe = LanguageModel(model_cfg)
        lora.apply_lora(probe, spec.rank, spec.alpha, spec.targets)
    expected = {k: tuple(v.shape) for k, v in lora.adapter_state(probe).items()}
    if expected != {k: tuple(v.shape) for k, v in tensors.items()}:
        raise CheckpointError("the adapter tensors do not match their description in the file")
    lora.apply_lora(base.model, spec.rank, spec.alpha, spec.targets)
    base.model.load_state_dict(tensors, strict=False)
    base.model.adapters = base.adapters = spec
    return base


def save(path: str | Path, model, tokenizer, train_cfg, history=(), **kwargs) -> Path:
    """Write to_bytes(...) to path (".safetensors" is added if missing), atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(to_bytes(model, tokenizer, train_cfg, history, **kwargs))
    tmp.replace(path)  # never leave a half-written checkpoint behind
    return path


def load(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file() and path.with_name(path.name + ".safetensors").is_file():
        path = path.with_name(path.name + ".safetensors")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise CheckpointError(f"{path} is {size / 2**30:.1f} GB; llmviz reads checkpoints of at most "
                                  f"{MAX_FILE / 2**30:.0f} GB.")
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}") from None
    return from_bytes(data)


def _run_fields(run) -> dict:
    return dict(optimizer_state=run.optimizer_state(), step=run.step, rng_state=run.rng_state(), preset=run.preset)


def run_to_bytes(run, extra: dict | None = None) -> bytes:
    """A TrainingRun's model, tokenizer, history and optimizer state (stop the run first)."""
    return to_bytes(run.model, run.tokenizer, run.train_cfg, run.history, extra=extra, **_run_fields(run))


def save_run(path: str | Path, run, extra: dict | None = None) -> Path:
    return save(path, run.model, run.tokenizer, run.train_cfg, run.history, extra=extra, **_run_fields(run))
