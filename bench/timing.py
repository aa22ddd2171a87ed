"""What the benchmarks share: medians of interleaved repetitions in one process, the thread counts to run at, the
machine's name, and the results files (JSON and a markdown table in ``bench/results/``)."""

import datetime
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


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


def thread_counts(spec: str) -> Iterator[int]:
    """Each count of a comma-separated ``--threads`` value, torch set to that many threads before it is yielded.

    Example::

        >>> [(n, torch.get_num_threads()) for n in thread_counts("1,2")]
        [(1, 1), (2, 2)]
    """
    for threads in (int(count) for count in spec.split(",")):
        torch.set_num_threads(threads)
        yield threads


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (platform.processor() is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU model (:func:`cpu_name`)."""
    return torch.cuda.get_device_name() if device.type == "cuda" else cpu_name()


def results_path(out: str | None, name: str) -> Path:
    """Where a run's JSON goes: ``out`` (the scripts' ``--out``) if given, else ``bench/results/<name>-<today>.json``;
    its folder is created.

    Example::

        >>> results_path(None, "engines-small-cpu").name  # doctest: +SKIP
        'engines-small-cpu-2026-12-03.json'
    """
    path = Path(out) if out else RESULTS / f"{name}-{datetime.date.today().isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def markdown_table(columns: list[str], rows: Iterable[Iterable]) -> list[str]:
    """The lines of a markdown table: header, rule, then one line per row (each cell written with ``str``).

    Example::

        >>> markdown_table(["threads", "img/s"], [[1, "812"], [2, "1490"]])
        ['| threads | img/s |', '|---|---|', '| 1 | 812 |', '| 2 | 1490 |']
    """
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def write_results(out: Path, result: dict, markdown: Callable[[dict], str], show: bool = True) -> None:
    """Write ``result`` as JSON at ``out`` and ``markdown(result)`` beside it (``.md``); with ``show``, also print
    the table and where both went. Sentences and notes stay readable in the JSON (UTF-8, not ``\\u`` escapes)."""
    table = markdown(result)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    if show:
        print(table)
        print(f"wrote {out} and {out.with_suffix('.md')}")
