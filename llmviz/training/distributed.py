"""Training on several processes at once: PyTorch's DistributedDataParallel (DDP), launched by torchrun.

    torchrun --standalone --nproc_per_node=2 -m llmviz train --preset fast-cpu --out model.safetensors

torchrun starts one process per device ("rank") and tells each, in environment variables, who it is:
RANK (0 ... WORLD_SIZE - 1 over all machines), WORLD_SIZE, LOCAL_RANK (its number on this machine) and
LOCAL_WORLD_SIZE, plus where to meet the others (MASTER_ADDR, MASTER_PORT). `setup` joins them: the
"gloo" backend for CPUs, "nccl" for CUDA GPUs (rank r on a machine uses cuda:LOCAL_RANK).

The one trainer (llmviz.training.train.TrainingRun) then trains the same model on every rank:
- each rank draws its own batches (`train_seed`: seed + 2·rank; evaluation batches `eval_seed`:
  seed + 2·rank + 1; a single process is rank 0, so its streams are the seed and seed + 1 as always);
- DDP averages the gradients of all ranks in the backward pass, so every rank takes the same AdamW
  step, the one a single process would take on all ranks' batches together: the effective batch is
  batch_size × world size;
- everything the ranks must decide together (the loss estimates, a diverging loss, a stop) is decided
  on values averaged over all ranks (`all_reduce_mean`), so they all take part in the same collectives
  in the same order: a decision made on one rank alone would leave the others waiting forever;
- only rank 0 (`is_main`) prints, generates text samples (on the unwrapped model: no collectives) and
  writes the checkpoint, which holds the inner model's weights and loads anywhere;
- a stop (Ctrl-C) is heard between two steps only, when all ranks agree on it; a resumed run (every
  rank loads the checkpoint) continues rank 0's saved batch stream, and rank r > 0 skips the batches
  its own stream gave the steps already trained;
- on the CPU the processes of one machine share its cores: 2 processes on 2 cores get 1 thread each.

Without torchrun (no RANK in the environment) nothing here does anything: `world()` is one process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from llmviz.device import pick_device

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}


@dataclass(frozen=True)
class World:
    """Who this process is among those training together (one process: rank 0 of 1)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1  # processes on this machine (they share its CPU cores)
    device: str = ""  # "cpu" or "cuda" when several processes train together

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World()


def launched() -> bool:
    """Was this process started by torchrun (or another launcher that sets RANK and WORLD_SIZE)?"""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ValueError(f"{name} is not set: start the processes with torchrun")
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (it is {value!r})") from None


def setup(requested_device: str | None = None) -> World:
    """Join the other processes torchrun started (idempotent). The device is the requested one, or the
    best available ("auto": CUDA if there is one, else the CPU); MPS cannot train with several processes.
    Without torchrun, returns SINGLE and starts nothing."""
    import torch.distributed as dist


    if not launched():
        return SINGLE
    rank, size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", 0)
    local_size = _env_int("LOCAL_WORLD_SIZE", size)
    if not 0 <= rank < size:
        raise ValueError(f"RANK must be between 0 and WORLD_SIZE - 1 (RANK={rank}, WORLD_SIZE={size})")
    device = pick_device(requested_device)
    if device not in BACKENDS:
        raise ValueError(f"several processes train on CPUs (gloo) or CUDA GPUs (NCCL), not on {device!r}: "
                         f"pass --device cpu or --device cuda")
    if device == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"process {local_rank} of this machine has no GPU: it has "
                             f"{torch.cuda.device_count()}; start at most that many (--nproc_per_node)")
        torch.cuda.set_device(local_rank)  # "cuda" means cuda:LOCAL_RANK from now on, in this thread
    if not dist.is_initialized():
        dist.init_process_group(BACKENDS[device], rank=rank, world_size=size)
    global _world
    _world = World(rank, size, local_rank, local_size, device)
    return _world


_world: World | None = None


def world() -> World:
    """This process's place among those training together (SINGLE unless `setup` joined a group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    global _world
    if _world is None or _world.rank != dist.get_rank() or _world.size != dist.get_world_size():
        device = "cuda" if dist.get_backend() == "nccl" else "cpu"
        _world = World(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0),
                       _env_int("LOCAL_WORLD_SIZE", dist.get_world_size()), device)
    return _world


def is_main() -> bool:
    """Rank 0 (or the only process): the one that prints, samples text and writes checkpoints."""
    return world().is_main


def bind_device(w: World) -> None:
    """Make "cuda" mean this rank's GPU in the calling thread (the current GPU is per thread): the
    trainer's background thread calls this before its first step."""
    if w.distributed and w.device == "cuda":
        torch.cuda.set_device(w.local_rank)


def train_seed(seed: int, rank: int) -> int:
    """The seed of rank's training batches (and dropout masks): seed + 2·rank."""
    return seed + 2 * rank


def eval_seed(seed: int, rank: int) -> int:
    """The seed of rank's evaluation batches: seed + 2·rank + 1 (never another stream's seed)."""
    return seed + 2 * rank + 1


def random_streams(seed: int, w: World, saved: dict | None, steps_done: int,
                   draw: Callable[[torch.Generator], object]) -> torch.Generator:
    """This rank's random streams: the batches' generator (returned) and torch's global one (dropout masks).
    Rank 0 (the single process's) goes on from a resumed run's saved streams; a fresh run, and another
    rank, starts from train_seed; a resumed run saved rank 0's streams only, so another rank then draws
    (draw(generator)) the batches of the steps done again, as the same processes running on would have."""
    gen = torch.Generator()
    if saved is not None and w.is_main:
        gen.set_state(saved["batches"])
        torch.set_rng_state(saved["torch"])
        return gen
    gen.manual_seed(train_seed(seed, w.rank))
    torch.manual_seed(train_seed(seed, w.rank))
    if saved is not None:
        for _ in range(steps_done):
            draw(gen)
    return gen


def all_reduce_mean(values: list[float], w: World | None = None) -> list[float]:
    """The mean of each value over all ranks, the same list on every rank (one collective call: every
    rank must call it, in the same order). A NaN on any rank makes that mean NaN everywhere."""
    w = w or world()
    if not w.distributed:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=w.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / w.size).tolist()


def wrap(model: torch.nn.Module, w: World) -> torch.nn.Module:
    """The model that trains: DDP around it when several processes train (it averages the gradients in
    the backward pass and starts every rank from rank 0's weights), the model itself otherwise."""
    if not w.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[w.local_rank] if w.device == "cuda" else None)


def shutdown() -> None:
    """Leave the group (the end of a torchrun process)."""
    import torch.distributed as dist

    global _world
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _world = None
