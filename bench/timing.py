"""Side-by-side timing shared by the benchmarks: medians of interleaved repetitions in one process."""

import statistics
import time

import torch


def sync(device):
    """Wait for queued GPU work, so a timer measures the kernels and not only their launch."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(fns: dict, reps: int, device, warmup: int = 1) -> dict:
    """Median seconds per call of each fn, rotating which runs first in each repetition (robust to machine load).

    Example::

        >>> import torch
        >>> result = interleaved({"a": lambda: None, "b": lambda: None}, reps=3, device=torch.device("cpu"))
        >>> sorted(result), len(result["a"]["all_s"])
        (['a', 'b'], 3)
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[: rep % len(names)]:
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "all_s": t} for name, t in times.items()}
