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
    pairs takes seconds; every pair is a distinct combination (fragment ids differ)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(letters[rng.integers(0, 26, rng.integers(2, 11))]) for _ in range(6000)]
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
    """Peak VmRSS / RssAnon / RssFile of this process, sampled from /proc/self/status on a thread."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self, interval: float = 0.05):
        self.peak = dict.fromkeys(self.FIELDS, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def sample(self) -> None:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], int(value.split()[0]) * 1024)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


# ------------------------------------------------------------------------------------------------------ child
def child(args) -> dict:
    import torch

    from hf_seq2seq_vit.data.translation import TranslationDataModule

    torch.set_num_threads(1)
    options = dict(data_files={"train": str(args.corpus), "validation": str(args.validation)}, src_lang="en",
                   tgt_lang="de", tokenizer_dir=str(args.tokenizer), max_length=128, max_tokens=args.max_tokens,
                   num_proc=args.num_proc, cache_dir=str(args.cache), max_val_examples=100)
    result: dict = {"pairs": args.pairs}
    with PeakMemory() as memory:
        start = time.perf_counter()
        dm = TranslationDataModule(**options)
        dm.setup("fit")
        result["prepare_s"] = time.perf_counter() - start
        result["train_pairs"] = len(dm.datasets["train"])
        result["lengths_type"] = type(dm.lengths["train"]).__name__
        result["rss_after_prepare_gib"] = memory.peak["VmRSS"] / GIB

        start = time.perf_counter()
        again = TranslationDataModule(**options)
        again.setup("fit")
        result["prepare_cached_s"] = time.perf_counter() - start
        del again

        loader = dm.train_dataloader()
        result["batches"] = len(loader)
        start, pairs, tokens = time.perf_counter(), 0, 0
        for batch in loader:
            pairs += batch["input_ids"].shape[0]
            tokens += int(batch["attention_mask"].sum()) + int((batch["labels"] != -100).sum())
        epoch = time.perf_counter() - start
    result.update(epoch_s=epoch, batches_per_s=result["batches"] / epoch, pairs_per_s=pairs / epoch,
                  epoch_pairs=pairs, real_tokens_per_batch=tokens / result["batches"])
    result.update({f"peak_{key}_gib": value / GIB for key, value in memory.peak.items()})
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
             "| pairs | prepare s | µs/pair | cached setup s | batches | batches/s | pairs/s | peak RSS GiB | "
             "peak RssAnon GiB | peak RssFile GiB | tokenizer workers' peak RSS GiB | cache GiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['pairs']:,} | failed: {r['error']} |")
            continue
        lines.append(f"| {r['pairs']:,} | {r['prepare_s']:.1f} | {1e6 * r['prepare_s'] / r['pairs']:.1f} | "
                     f"{r['prepare_cached_s']:.1f} | {r['batches']:,} | {r['batches_per_s']:.0f} | "
                     f"{r['pairs_per_s']:,.0f} | {r['peak_VmRSS_gib']:.2f} | {r['peak_RssAnon_gib']:.2f} | "
                     f"{r['peak_RssFile_gib']:.2f} | {r['ru_maxrss_workers_gib']:.2f} | {r['cache_gib']:.2f} |")
    lines += ["", "## Goals", ""] + [f"- {goal}" for goal in report["goals"]]
    return "\n".join(lines) + "\n"


def goals(rows: list[dict]) -> list[str]:
    ok = {r["pairs"]: r for r in rows if "error" not in r}
    out = []
    sizes = sorted(ok)
    if len(sizes) >= 2:
        per_pair = {n: ok[n]["prepare_s"] / n for n in sizes}
        epoch_pair = {n: ok[n]["epoch_s"] / n for n in sizes}
        big = [n for n in sizes if n >= 100_000]
        spread = max(per_pair[n] for n in big) / min(per_pair[n] for n in big) if len(big) >= 2 else float("nan")
        out.append("linear time: preparation µs/pair " + ", ".join(f"{n:,}: {1e6 * per_pair[n]:.1f}" for n in sizes)
                   + "; epoch µs/pair " + ", ".join(f"{n:,}: {1e6 * epoch_pair[n]:.1f}" for n in sizes)
                   + f" -> from 100k up the preparation cost per pair varies by x{spread:.2f} "
                   + ("(met: within x1.5)" if spread <= 1.5 else "(NOT met: more than x1.5)"))
    if 1_000_000 in ok:
        r = ok[1_000_000]
        out.append(f"peak RSS at 1M <= 2 GiB: VmRSS {r['peak_VmRSS_gib']:.2f} GiB (RssAnon {r['peak_RssAnon_gib']:.2f}"
                   f", RssFile {r['peak_RssFile_gib']:.2f}); tokenizer workers {r['ru_maxrss_workers_gib']:.2f} GiB -> "
                   + ("met" if r["peak_VmRSS_gib"] <= 2 and r["ru_maxrss_workers_gib"] <= 2 else "NOT met"))
    largest = max(ok, default=0)
    if 1_000_000 in ok and largest > 1_000_000:
        a, b = ok[1_000_000], ok[largest]
        out.append(f"flat from 1M to {largest:,}: RssAnon {a['peak_RssAnon_gib']:.2f} -> {b['peak_RssAnon_gib']:.2f} "
                   f"GiB (x{b['peak_RssAnon_gib'] / a['peak_RssAnon_gib']:.2f} for x{largest / 1e6:g} pairs), VmRSS "
                   f"{a['peak_VmRSS_gib']:.2f} -> {b['peak_VmRSS_gib']:.2f} GiB "
                   f"(x{b['peak_VmRSS_gib'] / a['peak_VmRSS_gib']:.2f}), tokenizer workers "
                   f"{a['ru_maxrss_workers_gib']:.2f} -> {b['ru_maxrss_workers_gib']:.2f} GiB")
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
    out = REPO / "bench" / "results" / f"data_scale-{stamp}"
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
