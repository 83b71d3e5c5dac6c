"""A checkpoint's tensors onto the model its description configures, checked before one byte is read.

The model is laid out on PyTorch's "meta" device (names and shapes, no memory) and every tensor the
file declares is compared with it: the weights exactly the model's (names, float32, shapes), AdamW's
state for parameters that exist and of their shapes, the random generators' states of their fixed size.
Only then do the file's tensors become the weights, and they must be finite numbers.
"""

from __future__ import annotations

import torch

from llmviz.errors import LearnerError
from llmviz.io.fileformat import CheckpointError
from llmviz.nn import lora
from llmviz.nn.encoder_decoder import build_model
from llmviz.nn.lora import AdapterSpec
from llmviz.nn.model import LanguageModel, ModelConfig
from llmviz.training import memory

MAX_PARAMS = memory.MAX_PARAMS  # parameters of the model a file describes: the limit every model keeps
ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
OPTIMIZER_KEYS = ADAM_KEYS + ("momentum_buffer",)  # AdamW's memory, and Muon's (llmviz.training.muon)
RNG_STREAMS = ("batches", "torch")


def layout(cfg: ModelConfig, adapters: AdapterSpec | None = None) -> LanguageModel:
    """The model (with its adapters) laid out on the meta device: names and shapes, no memory."""
    with torch.device("meta"):
        model = build_model(cfg)  # a LanguageModel, or an EncoderDecoder for an EncoderDecoderConfig
        if adapters is not None:
            try:
                lora.apply_lora(model, adapters.rank, adapters.alpha, adapters.targets, adapters.tokens)
            except LearnerError as e:
                raise CheckpointError(f"this checkpoint's adapters do not fit its model: {e}") from None
            model.adapters = adapters
    n_params = model.num_params()
    if n_params > MAX_PARAMS:
        raise CheckpointError(f"this checkpoint describes a model of {n_params:,} parameters; llmviz loads models "
                              f"of at most {MAX_PARAMS:,}.")
    return model


def _parameter_of(key: str, where: str, version: int, order: dict) -> tuple[str, str]:
    """(parameter name, AdamW key) of an optimizer entry: "<name>.<key>", or in version 1 "<number>.<key>"
    (`order`: a dict whose keys are the model's parameter names, in its order)."""
    if "." not in key:
        raise CheckpointError(f"this checkpoint's optimizer state has an entry {key!r} with no parameter name.")
    if version == 1:
        i, k = key.split(".", 1)
        if not (i.isdigit() and int(i) < len(order)):
            raise CheckpointError(f"this checkpoint's optimizer state names parameter number {i!r}; the model "
                                  f"has {len(order)}.")
        name = list(order)[int(i)]
    else:
        name, k = key.rsplit(".", 1)
        if name not in order:
            raise CheckpointError(f"this checkpoint's optimizer state names a parameter the model lacks: {name!r}.")
    if k not in OPTIMIZER_KEYS:
        raise CheckpointError(f"this checkpoint's optimizer state has an unknown entry {k!r} ({where}).")
    return name, k


def check_tensors(table: dict, model: LanguageModel, version: int, scalars: dict) -> None:
    """Every tensor the file declares (`table`: name -> (dtype, shape)), compared with the model laid out
    on the meta device, and AdamW's scalars' names. Nothing has been read yet."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    params = {n: tuple(p.shape) for n, p in model.named_parameters()}
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
    for key, (dtype, shape) in table.items():
        if key.startswith("model."):
            continue
        if key.startswith("optim."):
            name, k = _parameter_of(key[len("optim."):], key, version, params)
            want = () if k == "step" else params[name]
            if dtype != "F32" or shape != want:
                raise CheckpointError(f"this checkpoint's optimizer state {key} is {dtype} {list(shape)}; its "
                                      f"parameter needs F32 {list(want)}.")
        elif key.startswith("rng."):
            if key[len("rng."):] not in RNG_STREAMS or dtype != "U8" or shape != rng_size:
                raise CheckpointError(f"this checkpoint's random generator state {key} is not one llmviz writes "
                                      f"(U8 {list(rng_size)} named rng.batches or rng.torch).")
        else:
            raise CheckpointError(f"this checkpoint holds a tensor llmviz does not know: {key[:60]!r}.")
    for key in scalars:
        _parameter_of(key, "optimizer.scalars", version, params)


def assign(model: LanguageModel, tensors: dict) -> LanguageModel:
    """A meta-device model takes the file's `model.*` tensors as its weights; they must be finite, and so
    must AdamW's state."""
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError("the weights do not match the model configuration saved with them: "
                              + " ".join(line.strip() for line in first[1:4])) from None
    for name, t in list(model.state_dict().items()) + [(k, v) for k, v in tensors.items() if k.startswith("optim.")]:
        if not torch.isfinite(t).all():
            raise CheckpointError(f"this checkpoint's {name} holds NaN or infinite values: it cannot be used.")
    return model


def rng_state(tensors: dict) -> dict | None:
    """The random generators' states (`rng.*`), both or none, each one torch accepts."""
    found = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")} or None
    if found is not None and set(found) != set(RNG_STREAMS):
        raise CheckpointError("this checkpoint has only part of the random generators' state.")
    for k, v in (found or {}).items():
        try:
            torch.Generator().set_state(v)
        except RuntimeError:
            raise CheckpointError(f"this checkpoint's random generator state rng.{k} is not a valid state.") from None
    return found


def optimizer_state(scalars: dict | None, tensors: dict, version: int, model: LanguageModel) -> dict | None:
    """The optimizer's state by parameter name (None if the file has none). Version 1 numbered parameters in the
    model's order (one group)."""
    if scalars is None:
        return None
    names = dict(model.named_parameters())
    by_name: dict[str, dict] = {}
    entries = [(key[len("optim."):], v) for key, v in tensors.items() if key.startswith("optim.")]
    for key, v in entries + list(scalars.items()):
        name, k = _parameter_of(key, "optimizer", version, names)
        by_name.setdefault(name, {})[k] = v
    for name, state in by_name.items():
        # a parameter moved by AdamW keeps its step and both averages; one moved by Muon, its momentum
        lacking = set() if set(state) == {"momentum_buffer"} else {"step", "exp_avg", "exp_avg_sq"} - set(state)
        if lacking:
            raise CheckpointError(f"this checkpoint's optimizer state for {name} lacks {', '.join(sorted(lacking))}.")
    return by_name
