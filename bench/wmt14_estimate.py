"""Expected training time of configs/wmt14_en_de.yaml on N GPUs, from what can be measured on this machine (#19.4).

Measured here:
  * FLOPs of one training step (forward + backward) of the recipe's transformer-base (d_model 512, 6+6 layers,
    FFN 2048, vocab 32,000, tied embeddings), counted by ``torch.utils.flop_counter.FlopCounterMode`` on a CPU step
    of ``--cpu-batch`` x ``--length`` and scaled to the GPU batch ``--batch`` x ``--length`` (every product is
    linear in the batch at a fixed length);
  * the same step's throughput on this CPU (``--threads`` threads, median of ``--reps``), on a batch small enough
    to time here (``--cpu-batch``), in tokens/s (source + target tokens).

Assumed (stated in the output, not measured here):
  * GPU peak dense bf16 throughput (vendor data sheets: A100 312 TFLOP/s, H100 SXM 989 TFLOP/s);
  * model FLOPs utilisation (MFU) between 10% (a small model's many memory-bound kernels: layer norms, softmax,
    dropout, the 32k-way output; data loading and DDP all-reduce not hidden) and 40% (well-fed large matrix
    products under bf16 autocast);
  * the work: the recipe's 100,000 steps x 8 GPUs x 4,096 padded tokens per side (the paper's ~25k real source
    + ~25k real target tokens per step).

Usage:
    OMP_NUM_THREADS=1 .venv/bin/python bench/wmt14_estimate.py --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import yaml  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from hf_seq2seq_vit.lightning.translation import TranslationModule  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GPUS = {"A100 (bf16 dense 312 TFLOP/s)": 312e12, "H100 SXM (bf16 dense 989 TFLOP/s)": 989e12}
MFU = (0.10, 0.40)


def recipe_module(vocab_size: int) -> TranslationModule:
    recipe = yaml.safe_load((REPO / "configs" / "wmt14_en_de.yaml").read_text())
    options = {k: v for k, v in recipe["model"]["init_args"].items() if k not in ("num_samples",)}
    return TranslationModule(vocab_size=vocab_size, num_samples=0, **options)


def batch(size: int, length: int, vocab: int, device: str) -> dict:
    ids = torch.randint(4, vocab, (size, length), device=device) if device != "meta" else torch.empty(
        size, length, dtype=torch.long, device=device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def cpu_step(vocab: int, size: int, length: int, reps: int) -> tuple[int, float, list[float]]:
    """FLOPs of one training step (counted in the warm-up step) and the median tokens/s of ``reps`` timed steps."""
    torch.manual_seed(0)
    model = recipe_module(vocab).model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98))
    inputs = batch(size, length, vocab, "cpu")
    with FlopCounterMode(display=False) as counter:
        model(**inputs).loss.backward()
    optimizer.zero_grad(set_to_none=True)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        model(**inputs).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return counter.get_total_flops(), 2 * size * length / statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--batch", type=int, default=128, help="sentences of a 4,096-token GPU batch (x --length)")
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--cpu-batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--recipe-gpus", type=int, default=8)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cpu_step_flops, cpu_tps, cpu_times = cpu_step(args.vocab, args.cpu_batch, args.length, args.reps)
    # Every matrix product scales with the batch at a fixed length: FLOPs per token are those of the GPU batch.
    flops_per_token = cpu_step_flops / (2 * args.cpu_batch * args.length)
    tokens_per_step = 2 * args.batch * args.length  # source + target, padded, one GPU
    flops = flops_per_token * tokens_per_step
    cpu_flops = flops_per_token * cpu_tps
    work_tokens = args.steps * args.recipe_gpus * tokens_per_step
    rows = []
    for gpu, peak in GPUS.items():
        for gpus in (8, 16, 32, 64):
            hours = [work_tokens * flops_per_token / (gpus * peak * mfu) / 3600 for mfu in MFU]
            rows.append({"gpu": gpu, "gpus": gpus, "hours_at_mfu": dict(zip(map(str, MFU), hours)),
                         "tokens_per_s_per_gpu_at_mfu": {str(m): peak * m / flops_per_token for m in MFU}})
    report = {
        "benchmark": "wmt14_estimate", "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "note": args.note, "args": vars(args),
        "machine": {"cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                                 if line.startswith("model name")), platform.processor()),
                    "threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "measured": {"flops_per_step": flops, "padded_tokens_per_step": tokens_per_step,
                     "flops_per_token": flops_per_token, "cpu_tokens_per_s": cpu_tps, "cpu_step_s": cpu_times,
                     "cpu_achieved_gflops": cpu_flops / 1e9,
                     "params": sum(p.numel() for p in recipe_module(args.vocab).model.parameters())},
        "assumed": {"gpu_peak_flops": GPUS, "mfu_range": MFU,
                    "work_padded_tokens": work_tokens,
                    "work": f"{args.steps} steps x {args.recipe_gpus} GPUs x {tokens_per_step} padded tokens"},
        "estimate": rows,
        "cpu_hours_for_the_work": work_tokens / cpu_tps / 3600,
    }
    stamp = datetime.date.today().isoformat()
    out = REPO / "bench" / "results" / f"wmt14_estimate-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    m = report["measured"]
    lines = [f"# WMT14 En->De transformer-base: expected training time ({report['date']})", "", args.note, "",
             f"machine: {report['machine']}", "", "## Measured here", "",
             f"- parameters: {m['params']:,}",
             f"- FLOPs of a training step (forward + backward), FlopCounterMode on B{args.cpu_batch} x L{args.length}, "
             f"scaled to a GPU batch of B{args.batch} x L{args.length} ({tokens_per_step:,} padded tokens): "
             f"{flops / 1e12:.3f} TFLOP -> "
             f"**{flops_per_token / 1e6:.0f} MFLOP per token**",
             f"- CPU training step (AdamW, fp32, {args.threads} thread(s), B{args.cpu_batch} x L{args.length}, median "
             f"of {args.reps}): **{cpu_tps:.0f} tokens/s** ({cpu_flops / 1e9:.1f} GFLOP/s achieved); the recipe's "
             f"work would take {report['cpu_hours_for_the_work'] / 24 / 365:.1f} years on this core", "",
             "## Assumed", "", f"- work: {report['assumed']['work']} = {work_tokens / 1e9:.2f}B padded tokens",
             f"- GPU peaks: {', '.join(GPUS)}; MFU {MFU[0]:.0%}-{MFU[1]:.0%}", "",
             "## Estimate (hours for the 100k-step schedule; the same total tokens on every GPU count)", "",
             f"| GPU | GPUs | time at MFU {MFU[1]:.0%} | time at MFU {MFU[0]:.0%} | tokens/s per GPU at {MFU[1]:.0%} / "
             f"{MFU[0]:.0%} |", "|---|---|---|---|---|"]

    def clock(hours: float) -> str:
        return f"{int(hours)} h {round(60 * (hours % 1)):02d} min"

    for row in rows:
        h, t = row["hours_at_mfu"], row["tokens_per_s_per_gpu_at_mfu"]
        lines.append(f"| {row['gpu']} | {row['gpus']} | {clock(h[str(MFU[1])])} | {clock(h[str(MFU[0])])} | "
                     f"{t[str(MFU[1])]:,.0f} / {t[str(MFU[0])]:,.0f} |")
    lines += ["", "Validation (beam search on newstest2013 every 5k steps) and the one-off data preparation are not in "
              "these times. Cross-check: the paper trained the base model for 100k steps of ~25k+25k tokens in 12 hours on "
              f"8 P100s (0.4 s a step); at {flops_per_token / 1e6:.0f} MFLOP per token that is "
              f"{work_tokens * flops_per_token / (8 * 12 * 3600) / 1e12:.1f} TFLOP/s per P100, about 35% of a P100's "
              "9.3 TFLOP/s fp32 peak (an inference from the paper's numbers, not a measurement). Tensor-core GPUs "
              "raise the matrix-product peak far more than the memory-bound rest, so a 60M-parameter model reaches a "
              "smaller fraction of their peak: read the 10% column as the likely case until a GPU run measures it "
              "(bench/seq2seq.py --preset base on a GPU reports tokens/s and MFU of exactly this step)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
