"""Where the maths runs: pick CUDA -> Apple MPS -> CPU, and how many CPU threads to use.

On a small CPU the thread count matters more than anything else for the tiny models of the
tutorial: every matrix is so small that splitting it across threads costs more than it saves.
"""

from __future__ import annotations

import os
import time


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


# below this many parameters a second thread gains little (lm5: 1.17x on an idle machine) and risks a lot
ONE_THREAD_BELOW = 100_000
# above it, about one thread per this many parameters (at most the idle cores)
PARAMS_PER_THREAD = 250_000


def _cpu_times() -> dict[int, tuple[int, int]] | None:
    """(idle, total) clock ticks of each CPU this process may run on, from Linux's /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        mine = os.sched_getaffinity(0)
    except (OSError, AttributeError):
        return None
    out = {}
    for line in lines:
        name, *ticks = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in mine:
            t = [int(x) for x in ticks[:8]]  # user nice system idle iowait irq softirq steal
            out[int(name[3:])] = (t[3] + t[4], sum(t))
    return out or None


_busy: list = []  # (monotonic time, busy cores) of the last measurement


def busy_cores(window: float = 0.2, max_age: float = 5.0) -> float:
    """How many of this process's cores other work keeps busy now: measured over `window` seconds from the
    CPUs' idle time (Linux), remembered for max_age seconds; elsewhere the 1-minute load average. The load
    average lags: a run that ended a minute ago still counts almost one core in it (measured: the assistant
    base then trained on one thread, at 0.53 s a step instead of 0.30)."""
    if _busy and time.monotonic() - _busy[0] < max_age:
        return _busy[1]
    before = _cpu_times()
    if before is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    time.sleep(window)
    after = _cpu_times() or {}
    busy = 0.0
    for cpu, (idle, total) in after.items():
        idle0, total0 = before.get(cpu, (idle, total))
        if total > total0:
            busy += 1 - (idle - idle0) / (total - total0)
    _busy[:] = [time.monotonic(), busy]
    return busy


def threads_for(n_params: int, cores: int | None = None, load: float | None = None) -> int:
    """CPU threads for a model of n_params parameters, given how many cores other work keeps busy (`load`;
    None: measured now by busy_cores()).

    Measured on a 2-core machine (bench/bench_speed.py --threads-table), training steps:
    - idle machine: two threads beat one at every size, by 1.17x for the tutorial's LM5 (30 k
      parameters), 1.4x for nanoGPT's CPU recipe (0.8 M) and 1.9x from 5 M parameters up;
    - machine busy with other work (load average 5-12): two threads were 3-20x SLOWER than one at
      every size, because each step waits for the thread that lost its core.
    One thread costs at most the 2x above, more threads can cost 20x: so tiny models get one thread,
    and larger ones get the cores that are idle right now (cores minus busy_cores()), about one per
    PARAMS_PER_THREAD parameters.
    """
    cores = cores or cpu_count()
    if n_params < ONE_THREAD_BELOW or cores <= 1:
        return 1
    if load is None:
        load = busy_cores()
    idle = int(cores - load + 0.5)  # busy cores make extra threads wait on each other
    # from ONE_THREAD_BELOW up two threads pay on an idle machine (fast-cpu, 0.24 M: 31.6 against 46.6 s to
    # its target, bench/bench_fast_cpu.py --to-target), more for bigger models
    return max(1, min(cores, idle, max(2, n_params // PARAMS_PER_THREAD)))


def threads_reason(n_params: int, threads: int, cores: int | None = None) -> str:
    """Why threads_for chose `threads` for this model, in a few words (the CLI says it beside the count)."""
    cores = cores or cpu_count()
    if threads == 1 and cores > 1 and n_params < ONE_THREAD_BELOW:
        return (f"under {ONE_THREAD_BELOW:,} parameters a second thread gains little and, on a busy machine, "
                f"makes each step wait; --threads {cores} uses all {cores} cores")
    if threads == 1 and cores > 1:
        return "the other cores are busy right now, where more threads make each step wait"
    if threads == 1:
        return "this machine has one core"
    return f"{threads} of {cores} cores, the ones idle now, for a model this size"


PRECISIONS = ("auto", "float32", "bfloat16")
# on a CPU with native bfloat16 (AVX512-BF16 / AMX), bfloat16 products pay from about this many parameters:
# measured on a 2-core Xeon with AMX (bench/bench_precision.py, 2 threads), against float32: 0.58x at
# 0.24 M, 0.79x at 0.8 M, 1.05x at 4.8 M and 1.99x at 10.8 M parameters
BF16_CPU_FROM = 4_000_000


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (otherwise bfloat16 is emulated and only slower)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device: str, precision: str = "auto", n_params: int = 0):
    """The dtype the training step's matrix products run in under torch.autocast, or None (float32).

    "auto" is decided by measurement, not assumed (bench/bench_precision.py): on a CUDA GPU with bfloat16
    (Ampere and later) bfloat16 halves the memory traffic and runs on the tensor cores, as nanoGPT does;
    on a CPU with native bfloat16 it pays from BF16_CPU_FROM parameters, and is slower below (the small
    models of the tutorial stay float32). Weights, gradients and AdamW's state stay float32 either way
    (autocast only changes the products), so no loss scaling is needed. Apple's MPS stays float32."""
    import torch

    if precision == "float32" or device not in ("cuda", "cpu"):
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if n_params >= BF16_CPU_FROM and cpu_has_bf16() else None


def describe(device: str, threads: int | None = None) -> str:
    """One human line: 'CPU · 1 of 2 threads', 'CUDA · NVIDIA H100', 'Apple MPS'."""
    import torch

    if device == "cuda":
        return f"CUDA · {torch.cuda.get_device_name(0)}"
    if device == "mps":
        return "Apple MPS"
    threads = threads or torch.get_num_threads()
    return f"CPU · {threads} of {cpu_count()} threads"


def warm_up() -> list[str]:
    """Import torch (a second or two), make one thread the default for the small models and
    matrices the app computes in its pages (training runs set their own count), and list the
    devices. The app calls this once, in the background, at start-up."""
    import torch
    import torch._dynamo  # noqa: F401  an optimizer's first use imports it: another second, not on a page

    torch.set_num_threads(threads_for(0))
    return available_devices()
