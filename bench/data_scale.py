"""Benchmark: what the translation data path costs as the corpus grows (10k ... 10M pairs), #19.

For each size, a synthetic parallel corpus (TSV, two columns ``en``/``de``) is written once, then a fresh child
process (so that its peak memory is its own) builds ``TranslationDataModule`` on it with an empty cache and
measures:

  * preparation: ``setup("fit")`` = TSV -> Arrow (``datasets``' csv builder), the blank-pair filter, tokenization
    through ``datasets.map(num_proc=...)`` into the Arrow cache, the length column (``.npy``, memory-mapped);
  * a second ``setup("fit")`` in a new data module on the same cache (what every later run and every other DDP
    rank pays);
  * one training epoch through ``train_dataloader()``: batches/s and pairs/s (token-budget batches, collated to
    padded tensors; no model);
  * peak memory of the child, sampled every 50 ms from ``/proc/self/status``: ``VmRSS`` (all resident pages),
    split into ``RssAnon`` (heap: what the process really holds) and ``RssFile`` (pages of memory-mapped Arrow
    files the epoch touched, which the kernel reclaims under pressure), and ``ru_maxrss`` of the tokenizing
    worker processes.

The tokenizer (joint BPE) is trained once on the first 10k pairs and shared by all sizes: its cost does not grow
with the corpus (the WMT recipe trains it on a sample too). Sentences are drawn from a Zipf-distributed synthetic
vocabulary of 6,000 words, 2-44 words a side (23 on average, like WMT14), so that token-budget batches have realistic length spread.

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python bench/data_scale.py --sizes 10000,100000,1000000,10000000 --num-proc 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GIB = 1 << 30


# --------------------------------------------------------------------------------------------------- the corpora
def write_corpus(path: Path, pairs: int, seed: int = 0, chunk: int = 200_000) -> None:
    """``pairs`` lines of ``en<TAB>de`` under a header, built from two pools of fragments so that writing 10M
    pairs takes seconds; every pair is a distinct combination (fragment ids differ).

    The 6,000 words are the same for every corpus (drawn with a fixed seed: one synthetic language, which the
    tokenizer trained on the 10k-pair sample knows); ``seed`` draws the fragments and the pairs. (Until
    2026-12-03 the words came from ``seed`` too, so every corpus but the sample was in a language the tokenizer
    had not seen: ~4x the tokens a pair, and 22-30% of the pairs over ``max_length``.)
    """
    words_rng, rng = np.random.default_rng(0), np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(letters[words_rng.integers(0, 26, words_rng.integers(2, 11))]) for _ in range(6000)]
    zipf = 1.0 / np.arange(1, len(words) + 1)
    zipf /= zipf.sum()

    def pool(size: int, low: int, high: int) -> list[str]:
        lengths = rng.integers(low, high + 1, size)
        ids = rng.choice(len(words), size=int(lengths.sum()), p=zipf)
        out, start = [], 0
        for length in lengths.tolist():
            out.append(" ".join(words[i] for i in ids[start:start + length]))
            start += length
        return out

    heads_en, tails_en = pool(4096, 1, 22), pool(4096, 1, 22)  # 2-44 words a side, 23 on average (WMT14: ~23)
    heads_de, tails_de = [s.title() for s in pool(4096, 1, 22)], [s.title() for s in pool(4096, 1, 22)]
    temporary = path.with_suffix(".partial")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write("en\tde\n")
        for start in range(0, pairs, chunk):
            count = min(chunk, pairs - start)
            a, b = rng.integers(0, 4096, count).tolist(), rng.integers(0, 4096, count).tolist()
            handle.write("".join(f"{heads_en[i]} {tails_en[j]}\t{heads_de[i]} {tails_de[j]}\n" for i, j in zip(a, b)))
    temporary.rename(path)


# ----------------------------------------------------------------------------------------------------- memory
class PeakMemory:
    """Peak VmRSS / RssAnon / RssFile of this process, sampled from /proc/self/status on a thread, per stage.

    ``stage(name)`` starts a stage: its peaks are kept apart (``stages[name]``), and ``/proc/self/smaps_rollup``
    is read when it ends (``Private_*``: the process's own pages, i.e. USS; ``Anonymous``; ``Rss`` again).
    """

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self, interval: float = 0.05):
        self.peak = dict.fromkeys(self.FIELDS, 0)
        self.stages: dict[str, dict] = {}
        self._current: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def sample(self) -> None:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in self.peak:
                    value = int(value.split()[0]) * 1024
                    self.peak[key] = max(self.peak[key], value)
                    if self._current is not None:
                        self._current[key] = max(self._current.get(key, 0), value)

    @staticmethod
    def rollup() -> dict:
        fields = {}
        with open("/proc/self/smaps_rollup") as rollup:
            for line in rollup:
                key, _, value = line.partition(":")
                if value.strip().endswith("kB"):
                    fields[key] = int(value.split()[0]) * 1024
        return {"Rss": fields.get("Rss", 0), "Anonymous": fields.get("Anonymous", 0),
                "USS": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}

    def stage(self, name: str) -> None:
        self.end_stage()
        self._current = self.stages.setdefault(name, {})
        self.sample()

    def end_stage(self) -> None:
        if self._current is not None:
            self.sample()
            self._current.update({f"end_{key}": value for key, value in self.rollup().items()})
        self._current = None

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.end_stage()
        self._stop.set()
        self._thread.join()
        self.sample()


# ------------------------------------------------------------------------------------------------------ child
def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children: on a shared machine the wall time
    depends on the other jobs, the CPU time much less."""
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def child(args) -> dict:
    import torch

    from hf_seq2seq_vit.data.translation import TranslationDataModule

    torch.set_num_threads(1)
    options = dict(data_files={"train": str(args.corpus), "validation": str(args.validation)}, src_lang="en",
                   tgt_lang="de", tokenizer_dir=str(args.tokenizer), max_length=128, max_tokens=args.max_tokens,
                   num_proc=args.num_proc, cache_dir=str(args.cache), max_val_examples=100)
    result: dict = {"pairs": args.pairs}
    with PeakMemory() as memory:
        memory.stage("load_text")
        start, cpu = time.perf_counter(), cpu_seconds()
        dm = TranslationDataModule(**options)
        dm._load_raw()  # TSV -> Arrow and the blank-pair filter, timed apart from the tokenization
        result["load_text_s"] = time.perf_counter() - start
        memory.stage("tokenize")
        dm.setup("fit")
        result["prepare_s"] = time.perf_counter() - start
        result["tokenize_s"] = result["prepare_s"] - result["load_text_s"]
        result["prepare_cpu_s"] = cpu_seconds() - cpu  # this process and its (finished) tokenizing workers
        result["train_pairs"] = len(dm.datasets["train"])
        result["lengths_type"] = type(dm.lengths["train"]).__name__
        result["rss_after_prepare_gib"] = memory.peak["VmRSS"] / GIB

        memory.stage("cached_setup")
        start = time.perf_counter()
        again = TranslationDataModule(**options)
        again.setup("fit")
        result["prepare_cached_s"] = time.perf_counter() - start
        del again

        memory.stage("epoch")
        loader = dm.train_dataloader()
        result["batches"] = len(loader)
        start, pairs, tokens, cpu = time.perf_counter(), 0, 0, cpu_seconds()
        for batch in loader:
            pairs += batch["input_ids"].shape[0]
            tokens += int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
        epoch = time.perf_counter() - start
        result["epoch_cpu_s"] = cpu_seconds() - cpu
    result.update(epoch_s=epoch, batches_per_s=result["batches"] / epoch, pairs_per_s=pairs / epoch,
                  epoch_pairs=pairs, real_tokens_per_batch=tokens / result["batches"])
    result.update({f"peak_{key}_gib": value / GIB for key, value in memory.peak.items()})
    result["stages_gib"] = {name: {key: round(value / GIB, 4) for key, value in peaks.items()}
                            for name, peaks in memory.stages.items()}
    result["ru_maxrss_self_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    result["ru_maxrss_workers_gib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / GIB
    result["cache_gib"] = sum(f.stat().st_size for f in Path(args.cache).rglob("*") if f.is_file()) / GIB
    return result


# ----------------------------------------------------------------------------------------------------- parent
def machine() -> dict:
    import datasets
    import pyarrow
    import tokenizers
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf(
        "SC_PHYS_PAGES") / GIB, "python": platform.python_version(), "torch": torch.__version__,
        "datasets": datasets.__version__, "pyarrow": pyarrow.__version__, "tokenizers": tokenizers.__version__,
        "numpy": np.__version__, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "load_average_at_start": os.getloadavg()}


def train_tokenizer(corpus: Path, folder: Path) -> float:
    from hf_seq2seq_vit.tokenization import train_translation_tokenizers

    lines = corpus.read_text(encoding="utf-8").splitlines()[1:10_001]
    start = time.perf_counter()
    tokenizer, _ = train_translation_tokenizers([line.split("\t")[0] for line in lines],
                                                [line.split("\t")[1] for line in lines], vocab_size=8000, model="bpe",
                                                model_max_length=128)
    tokenizer.save_pretrained(str(folder))
    return time.perf_counter() - start


def markdown(report: dict) -> str:
    rows = report["results"]
    lines = [f"# data_scale ({report['date']})", ""]
    for run in report["runs"]:
        lines += [f"- run {run['date']}, sizes {run.get('sizes', 'see rows')}: {run['note']}", "  machine: "
                  + ", ".join(f"{k} {v}" for k, v in run["machine"].items())]
    lines += ["",
             f"num_proc {report['num_proc']}, max_tokens {report['max_tokens']}, max_length 128, tokenizer: 8k BPE "
             f"trained on 10k pairs in {report['tokenizer_s']:.1f} s (not counted below)", "",
             "Times in seconds; memory in GiB, peaks over the whole child (prepare, cached setup, epoch). VmRSS = "
             "RssAnon (heap: what the process holds) + RssFile (pages of memory-mapped files it touched: page cache "
             "the kernel can drop and read again).", "",
             "| pairs | prepare s (text / tokenize) | µs/pair | prepare CPU µs/pair | cached setup s | epoch s | "
             "epoch CPU µs/pair | batches | batches/s | pairs/s | peak VmRSS | peak RssAnon | peak RssFile | "
             "RssAnon: prepare / epoch | tokenizer workers' peak RSS | cache GiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['pairs']:,} | failed: {r['error']} |")
            continue
        split = f" ({r['load_text_s']:.1f} / {r['tokenize_s']:.1f})" if "load_text_s" in r else ""
        stages = r.get("stages_gib")
        anon = (f"{max(stages['load_text']['RssAnon'], stages['tokenize']['RssAnon']):.2f} / "
                f"{stages['epoch']['RssAnon']:.2f}") if stages else "-"
        cpu = {key: f"{1e6 * r[key] / r['pairs']:.1f}" if key in r else "-" for key in ("prepare_cpu_s", "epoch_cpu_s")}
        lines.append(f"| {r['pairs']:,} | {r['prepare_s']:.1f}{split} | {1e6 * r['prepare_s'] / r['pairs']:.1f} | "
                     f"{cpu['prepare_cpu_s']} | {r['prepare_cached_s']:.1f} | {r['epoch_s']:.1f} | "
                     f"{cpu['epoch_cpu_s']} | "
                     f"{r['batches']:,} | {r['batches_per_s']:.0f} "
                     f"| {r['pairs_per_s']:,.0f} | {r['peak_VmRSS_gib']:.2f} | {r['peak_RssAnon_gib']:.2f} | "
                     f"{r['peak_RssFile_gib']:.2f} | {anon} | {r['ru_maxrss_workers_gib']:.2f} | "
                     f"{r['cache_gib']:.2f} |")
    lines += ["", "## Goals", ""] + [f"- {goal}" for goal in report["goals"]]
    return "\n".join(lines) + "\n"


def goals(rows: list[dict]) -> list[str]:
    ok = {r["pairs"]: r for r in rows if "error" not in r}
    out = []
    sizes = sorted(ok)
    if len(sizes) >= 2:
        # Linear means a fixed cost (imports, process start-up, the tokenizer's fingerprint) plus a cost per pair:
        # compare the cost of each further pair between consecutive sizes from 100k up (wall and CPU seconds).
        big = [n for n in sizes if n >= 100_000]
        steps = list(zip(big, big[1:]))
        out.append("linear time: µs per pair (prepare, wall) " + ", ".join(
            f"{n:,}: {1e6 * ok[n]['prepare_s'] / n:.0f}" for n in sizes) + "; µs per further pair between sizes "
            "(prepare wall / prepare CPU / epoch wall) " + ", ".join(
            f"{a:,}->{b:,}: " + " / ".join(f"{1e6 * (ok[b][key] - ok[a][key]) / (b - a):.0f}"
                                          for key in ("prepare_s", "prepare_cpu_s", "epoch_s")) for a, b in steps))
        if len(steps) >= 2:
            spreads = {key: max(values) / min(values) for key in ("prepare_s", "prepare_cpu_s", "epoch_s")
                       if min(values := [(ok[b][key] - ok[a][key]) / (b - a) for a, b in steps]) > 0}
            out[-1] += " -> the cost of a further pair varies by " + ", ".join(
                f"x{value:.2f} ({key})" for key, value in spreads.items()) + (
                " (met: within x1.5)" if spreads and max(spreads.values()) <= 1.5 else " (NOT met: more than x1.5)")
    if 1_000_000 in ok:
        r = ok[1_000_000]
        met = r["peak_VmRSS_gib"] <= 2 and r["ru_maxrss_workers_gib"] <= 2
        out.append(f"peak RSS at 1M <= 2 GiB: VmRSS {r['peak_VmRSS_gib']:.2f} GiB (RssAnon {r['peak_RssAnon_gib']:.2f}"
                   f", RssFile {r['peak_RssFile_gib']:.2f}); tokenizer workers {r['ru_maxrss_workers_gib']:.2f} GiB -> "
                   + ("met, counting every resident page" if met else
                      "NOT met counting mapped file pages; " + ("met" if r["peak_RssAnon_gib"] <= 2 else "NOT met")
                      + " for the heap (RssAnon)"))
    largest = max(ok, default=0)
    if 1_000_000 in ok and largest > 1_000_000:
        a, b = ok[1_000_000], ok[largest]
        growth = {key: b[f"peak_{key}_gib"] / a[f"peak_{key}_gib"] for key in ("RssAnon", "VmRSS", "RssFile")}
        out.append(f"flat from 1M to {largest:,} (x{largest / 1e6:g} pairs): RssAnon {a['peak_RssAnon_gib']:.2f} -> "
                   f"{b['peak_RssAnon_gib']:.2f} GiB (x{growth['RssAnon']:.2f}), VmRSS {a['peak_VmRSS_gib']:.2f} -> "
                   f"{b['peak_VmRSS_gib']:.2f} GiB (x{growth['VmRSS']:.2f}), RssFile {a['peak_RssFile_gib']:.2f} -> "
                   f"{b['peak_RssFile_gib']:.2f} GiB (x{growth['RssFile']:.2f}), tokenizer workers "
                   f"{a['ru_maxrss_workers_gib']:.2f} -> {b['ru_maxrss_workers_gib']:.2f} GiB -> heap "
                   + ("flat (met: within x1.25)" if growth["RssAnon"] <= 1.25 else "NOT flat (more than x1.25)")
                   + "; all resident pages " + ("flat" if growth["VmRSS"] <= 1.25 else "NOT flat"))
    if 10_000_000 not in ok:
        out.append("10M pairs: not measured (see the runs' notes)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--work", type=Path, default=REPO / "outputs" / "bench_data_scale")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and caches (they are deleted)")
    parser.add_argument("--note", default="")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one size may take")
    parser.add_argument("--out", type=Path, default=None,
                        help="results stem (default bench/results/data_scale-<date>); rows of other sizes already "
                        "in <out>.json are kept")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pairs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--validation", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    sizes = [int(size) for size in args.sizes.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    validation = args.work / "validation.tsv"
    write_corpus(validation, 1000, seed=1)
    tokenizer = args.work / "tokenizer"
    sample = args.work / "sample.tsv"
    write_corpus(sample, 10_000, seed=0)
    tokenizer_s = train_tokenizer(sample, tokenizer)
    report = {"benchmark": "data_scale", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), "num_proc": args.num_proc, "max_tokens": args.max_tokens,
              "tokenizer_s": tokenizer_s, "note": args.note, "results": []}
    stamp = datetime.date.today().isoformat()
    out = args.out or REPO / "bench" / "results" / f"data_scale-{stamp}"
    if out.with_suffix(".json").is_file():  # a later run of the same day adds its sizes to the earlier rows
        earlier = json.loads(out.with_suffix(".json").read_text())
        report["results"] = [row for row in earlier["results"] if row["pairs"] not in sizes]
        report["runs"] = earlier.get("runs", [{key: earlier[key] for key in ("date", "machine", "note")}])
    report.setdefault("runs", []).append({"date": report["date"], "machine": report["machine"], "note": args.note,
                                          "sizes": sizes})
    for pairs in sizes:
        corpus, cache = args.work / f"corpus-{pairs}.tsv", args.work / f"cache-{pairs}"
        start = time.perf_counter()
        if not corpus.is_file():
            write_corpus(corpus, pairs, seed=pairs)
        written = time.perf_counter() - start
        shutil.rmtree(cache, ignore_errors=True)
        command = [sys.executable, __file__, "--child", "--pairs", str(pairs), "--corpus", str(corpus),
                   "--validation", str(validation), "--tokenizer", str(tokenizer), "--cache", str(cache),
                   "--num-proc", str(args.num_proc), "--max-tokens", str(args.max_tokens)]
        print(f"{pairs:,} pairs: corpus {corpus.stat().st_size / GIB:.2f} GiB written in {written:.0f} s; running",
              flush=True)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            if done.returncode:
                row = {"pairs": pairs, "error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
            else:
                row = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            row = {"pairs": pairs, "error": f"took more than {args.timeout:.0f} s"}
        row["corpus_gib"] = corpus.stat().st_size / GIB
        row["load_average_after"] = os.getloadavg()  # the other jobs on the machine during this size (1/5/15 min)
        print(json.dumps(row), flush=True)
        report["results"] = sorted(report["results"] + [row], key=lambda r: r["pairs"])
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
            corpus.unlink()
        report["goals"] = goals(report["results"])
        out.with_suffix(".json").write_text(json.dumps(report, indent=1))  # after every size: partial results
        out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
