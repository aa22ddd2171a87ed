"""Benchmark: how much padding and loader wait the translation data path costs.

Builds `TranslationDataModule` on the bundled Multi30k and walks one training epoch, measuring
  * padding ratio of the source (`input_ids`) and target (`labels`) tensors: padded positions / all positions,
    for the token-budget batches, and for a baseline of the same batch sizes filled with random pairs;
  * real tokens per batch (what the model learns from) against the `max_tokens` budget;
  * loader wait per batch: the time `next(iterator)` blocks, i.e. what a training step would stall on when the
    model is faster than the loader (with `num_workers` 0 and the value of `--workers`).

Usage:
    .venv/bin/python bench/data_path.py --max-tokens 4096 --examples 10000 --workers 2
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from hf_seq2seq_vit.data.translation import TranslationDataModule  # noqa: E402


def padding_of(batches: list[list[int]], lengths: list[int]) -> float:
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths[i] for b in batches for i in b) / padded


def walk(loader) -> dict:
    waits, real_src, all_src, real_tgt, all_tgt, sizes = [], 0, 0, 0, 0, []
    iterator = iter(loader)
    while True:
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            break
        waits.append(time.perf_counter() - start)
        real_src += int(batch["attention_mask"].sum())
        all_src += batch["input_ids"].numel()
        real_tgt += int((batch["labels"] != -100).sum())
        all_tgt += batch["labels"].numel()
        sizes.append(batch["input_ids"].shape[0])
    return {"batches": len(sizes), "mean_sentences_per_batch": statistics.mean(sizes),
            "source_padding_ratio": 1 - real_src / all_src, "target_padding_ratio": 1 - real_tgt / all_tgt,
            "mean_real_tokens_per_batch": (real_src + real_tgt) / len(sizes),
            "loader_wait_ms_median": 1000 * statistics.median(waits), "loader_wait_ms_mean": 1000 * statistics.mean(waits),
            "loader_wait_s_total": sum(waits), "pin_memory": bool(getattr(loader, "pin_memory", False))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--examples", type=int, default=10000, help="training pairs kept (max_train_examples)")
    parser.add_argument("--vocab", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    result = {"benchmark": "data_path", "args": vars(args), "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(), "runs": {}}
    for workers in sorted({0, args.workers}):
        dm = TranslationDataModule("bundled:multi30k", "en", "de", tokenizer_vocab_size=args.vocab,
                                   max_train_examples=args.examples, max_tokens=args.max_tokens, num_workers=workers)
        dm.setup("fit")
        loader = dm.train_dataloader()
        result["runs"][f"workers={workers}"] = walk(loader)
    # the same batch sizes, filled with random pairs: what padding costs without length bucketing
    sampler = loader.batch_sampler
    dataset = dm.datasets["train"]
    src_len = [len(x) for x in dataset["input_ids"]]
    tgt_len = [len(x) for x in dataset["labels"]]
    batches = list(sampler)
    order = list(range(len(src_len)))
    random.Random(0).shuffle(order)
    random_batches, start = [], 0
    for b in batches:
        random_batches.append(order[start:start + len(b)])
        start += len(b)
    result["bucketed_padding"] = {"source": padding_of(batches, src_len), "target": padding_of(batches, tgt_len)}
    result["random_batches_padding"] = {"source": padding_of(random_batches, src_len),
                                        "target": padding_of(random_batches, tgt_len)}

    out = Path(args.out) if args.out else Path(__file__).parent / "results" / (
        f"data_path-{datetime.date.today().isoformat()}.json")
    out.write_text(json.dumps(result, indent=1))
    lines = [f"# data path ({result['date']}): Multi30k, {args.examples} pairs, max_tokens {args.max_tokens}", "",
             "| loader | batches | sentences/batch | real tokens/batch | source pad | target pad | wait ms (median / mean) | pin_memory |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in result["runs"].items():
        lines.append(f"| {name} | {r['batches']} | {r['mean_sentences_per_batch']:.1f} | {r['mean_real_tokens_per_batch']:.0f} | "
                     f"{r['source_padding_ratio']:.1%} | {r['target_padding_ratio']:.1%} | "
                     f"{r['loader_wait_ms_median']:.2f} / {r['loader_wait_ms_mean']:.2f} | {r['pin_memory']} |")
    lines += ["", f"same batch sizes with random pairs: source pad {result['random_batches_padding']['source']:.1%}, "
              f"target pad {result['random_batches_padding']['target']:.1%} (bucketed: "
              f"{result['bucketed_padding']['source']:.1%} / {result['bucketed_padding']['target']:.1%})"]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
