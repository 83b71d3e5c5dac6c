"""Where the maths runs: pick CUDA -> Apple MPS -> CPU, and how many CPU threads to use.

On a small CPU the thread count matters more than anything else for the tiny models of the
tutorial: every matrix is so small that splitting it across threads costs more than it saves.
"""

from __future__ import annotations

import os


def available_devices() -> list[str]:
    """Devices this machine can run torch on, best first."""
    import torch

    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def pick_device(requested: str | None = None) -> str:
    """The requested device if it is available, else the best one ("auto" or None asks for the best)."""
    devices = available_devices()
    if requested in (None, "", "auto"):
        return devices[0]
    if requested not in devices:
        raise ValueError(f"device {requested!r} is not available here; choose one of {devices}")
    return requested


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for(n_params: int, cores: int | None = None) -> int:
    """CPU threads for a model of n_params parameters.

    Measured on a 2-core machine: below about a million parameters one thread is several times
    faster than two (a tiny Linear costs ~0.1 ms on one thread, ~2.6 ms on two), so small models
    get one thread and only large ones get every core.
    """
    cores = cores or cpu_count()
    if n_params < 1_000_000:
        return 1
    return max(1, cores)


def describe(device: str, threads: int | None = None) -> str:
    """One human line: 'CPU · 1 of 2 threads', 'CUDA · NVIDIA H100', 'Apple MPS'."""
    import torch

    if device == "cuda":
        return f"CUDA · {torch.cuda.get_device_name(0)}"
    if device == "mps":
        return "Apple MPS"
    threads = threads or torch.get_num_threads()
    return f"CPU · {threads} of {cpu_count()} threads"
