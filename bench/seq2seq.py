"""Benchmark: our Seq2SeqTransformer against transformers' MarianMTModel at the same sizes (random init).

Measures, in one process with the two models' repetitions interleaved (so that a shared, noisy machine slows
both alike; medians reported):
  * training step throughput (forward + backward + AdamW step), tokens/s = (source + target tokens) / step time;
  * `generate()` throughput, greedy and beam 4, tokens/s = batch x new tokens / time (every row is forced to
    produce exactly `--new-tokens` tokens: no end-of-sequence token is configured for either model);
  * peak GPU memory (CUDA only) and, on a GPU, model FLOPs utilisation (MFU) of the training step;
  * with `--greedy-paths`: our greedy `generate()` with transformers' dynamic cache and with its static cache plus a
    `torch.compile`d forward (and the retired `StaticGreedyDecoder`, on a checkout that still has it), against HF
    Marian's plain `generate()`, all interleaved, with the tokens checked equal.

Usage (see bench/README.md):
    python bench/seq2seq.py --preset small --reps 5                # CPU, a few minutes
    python bench/seq2seq.py --preset base --train-shapes 8x128,32x32 --gen-batch 16 --reps 3   # CPU, base sizes
    python bench/seq2seq.py --preset base --compile                # GPU: bf16 autocast, fused AdamW, compiled steps
"""

import argparse
import datetime
import os
import platform
import statistics

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from timing import device_name, interleaved, markdown_table, results_path, sync, write_results  # noqa: E402
from transformers import GenerationConfig, MarianConfig, MarianMTModel  # noqa: E402
from transformers.generation.configuration_utils import CompileConfig  # noqa: E402

from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration  # noqa: E402

PRESETS = {
    "base": dict(vocab_size=32000, d_model=512, layers=6, heads=8, ffn=2048),  # Vaswani et al. base
    "small": dict(vocab_size=8000, d_model=256, layers=3, heads=4, ffn=1024),  # the "small Marian"
}
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}  # dense bf16 tensor-core peaks (datasheets)


def build_models(preset: dict, device: torch.device):
    """The two models with identical sizes: post-norm, ReLU, sinusoidal positions, tied embeddings, dropout 0.1."""
    torch.manual_seed(0)
    ours = Seq2SeqTransformerForConditionalGeneration(Seq2SeqTransformerConfig(
        vocab_size=preset["vocab_size"], d_model=preset["d_model"], encoder_layers=preset["layers"],
        decoder_layers=preset["layers"], encoder_attention_heads=preset["heads"],
        decoder_attention_heads=preset["heads"], encoder_ffn_dim=preset["ffn"], decoder_ffn_dim=preset["ffn"],
        dropout=0.1, max_position_embeddings=512,
    ))
    torch.manual_seed(0)
    theirs = MarianMTModel(MarianConfig(
        vocab_size=preset["vocab_size"], d_model=preset["d_model"], encoder_layers=preset["layers"],
        decoder_layers=preset["layers"], encoder_attention_heads=preset["heads"],
        decoder_attention_heads=preset["heads"], encoder_ffn_dim=preset["ffn"], decoder_ffn_dim=preset["ffn"],
        activation_function="relu", scale_embedding=True, dropout=0.1, max_position_embeddings=512,
        pad_token_id=0, eos_token_id=2, decoder_start_token_id=1, forced_eos_token_id=None,
    ))
    return {"ours": ours.to(device), "hf_marian": theirs.to(device)}



def make_optimizer(model, device):
    # fused AdamW: one kernel for all parameters (CUDA; recent torch also has a fused CPU kernel)
    try:
        return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True), True
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(model.parameters(), lr=1e-4), False


def training_batch(batch, length, vocab, device):
    g = torch.Generator().manual_seed(batch * 1000 + length)
    ids = torch.randint(4, vocab, (batch, length), generator=g)
    labels = torch.randint(4, vocab, (batch, length), generator=g)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device), "labels": labels.to(device)}


def train_step_fn(model, optimizer, device, dtype):
    def step(batch):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss  # no .item(): no host sync inside the step
    return step



def peak_memory(fn, device):
    if device.type != "cuda":
        return None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated() / 2**20


def step_flops(step, batch) -> int:
    with FlopCounterMode(display=False) as counter:
        step(batch)
    return counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--train-shapes", default="64x128,128x32", help="comma-separated BATCHxLENGTH")
    parser.add_argument("--gen-batch", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--beams", type=int, default=4, help="0 skips beam search")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU")
    parser.add_argument("--compile", action="store_true",
                        help="GPU: torch.compile our training step, and run our greedy generate() on transformers' "
                             "static cache with a compiled forward (CUDA graphs)")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    parser.add_argument("--greedy-paths", action="store_true",
                        help="time our greedy generate() per decoding path (dynamic cache, static cache + compile)")
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/seq2seq-<preset>-<device>-<date>.json)")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    preset = PRESETS[args.preset]
    models = build_models(preset, device)
    result = {
        "benchmark": "seq2seq", "preset": args.preset, "sizes": preset, "args": vars(args),
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "device": device.type,
        "device_name": device_name(device),
        "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "dtype": str(dtype),
        "params": {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()},
        "train": [], "generate": [], "greedy_paths": [],
    }

    if not args.skip_train:
        steps, fused = {}, {}
        for name, model in models.items():
            model.train()
            optimizer, fused[name] = make_optimizer(model, device)
            forward = model
            if args.compile and name == "ours":
                forward = torch.compile(model)
            steps[name] = train_step_fn(forward, optimizer, device, dtype)
        for shape in args.train_shapes.split(","):
            batch_size, length = (int(x) for x in shape.lower().split("x"))
            batch = training_batch(batch_size, length, preset["vocab_size"], device)
            timing = interleaved({n: (lambda s=s: s(batch)) for n, s in steps.items()}, args.reps, device)
            row = {"batch": batch_size, "length": length, "fused_adamw": fused}
            for name, t in timing.items():
                row[name] = {"tokens_per_s": 2 * batch_size * length / t["median_s"], **t,
                             "peak_mem_mib": peak_memory(lambda: steps[name](batch), device)}
            row["ratio_ours_over_hf"] = row["ours"]["tokens_per_s"] / row["hf_marian"]["tokens_per_s"]
            flops = step_flops(steps["ours"], batch)
            row["flops_per_step"] = flops
            peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in result["device_name"]), None)
            if device.type == "cuda" and peak:
                for name in models:
                    row[name]["mfu"] = flops / row[name]["median_s"] / peak
            result["train"].append(row)
            print(f"train B{batch_size}xL{length}: ours {row['ours']['tokens_per_s']:.0f} tok/s, "
                  f"HF {row['hf_marian']['tokens_per_s']:.0f} tok/s, ratio {row['ratio_ours_over_hf']:.2f}", flush=True)
        for model in models.values():
            model.zero_grad(set_to_none=True)

    if not args.skip_generate:
        g = torch.Generator().manual_seed(1)
        src = torch.randint(4, preset["vocab_size"], (args.gen_batch, args.src_len), generator=g).to(device)
        mask = torch.ones_like(src)
        for model in models.values():
            model.eval()
        searches = [("greedy", 1)] + ([(f"beam{args.beams}", args.beams)] if args.beams else [])
        for search, beams in searches:
            # eos_token_id=None: every row produces exactly new_tokens tokens, so both models do the same work
            config = GenerationConfig(max_new_tokens=args.new_tokens, do_sample=False, num_beams=beams,
                                      eos_token_id=None, pad_token_id=0, bos_token_id=1, decoder_start_token_id=1)

            compiled = {}
            if args.compile and beams == 1:  # transformers' recipe: static cache + compiled forward for the steps
                compile_config = CompileConfig(fullgraph=True, mode="reduce-overhead" if device.type == "cuda"
                                               else "default")
                compile_config._compile_all_devices = True
                compiled = dict(cache_implementation="static", compile_config=compile_config)

            def run(model):
                options = compiled if model is models["ours"] else {}
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    return model.generate(src, attention_mask=mask, generation_config=config, **options)

            outputs = {name: run(m) for name, m in models.items()}
            timing = interleaved({n: (lambda m=m: run(m)) for n, m in models.items()}, args.reps, device, warmup=0)
            row = {"search": search, "batch": args.gen_batch, "src_len": args.src_len, "new_tokens": args.new_tokens}
            for name, t in timing.items():
                produced = outputs[name].shape[1] - 1
                row[name] = {"tokens_per_s": args.gen_batch * produced / t["median_s"], "new_tokens": produced, **t,
                             "peak_mem_mib": peak_memory(lambda: run(models[name]), device)}
            row["ratio_ours_over_hf"] = row["ours"]["tokens_per_s"] / row["hf_marian"]["tokens_per_s"]
            result["generate"].append(row)
            print(f"generate {search} B{args.gen_batch}: ours {row['ours']['tokens_per_s']:.0f} tok/s, "
                  f"HF {row['hf_marian']['tokens_per_s']:.0f} tok/s, ratio {row['ratio_ours_over_hf']:.2f}", flush=True)

    if args.greedy_paths:
        result["greedy_paths"].append(greedy_paths(models, args, preset, device, dtype))

    write_results(results_path(args.out, f"seq2seq-{args.preset}-{device.type}"), result, markdown)


def greedy_paths(models: dict, args, preset: dict, device: torch.device, dtype: torch.dtype) -> dict:
    """Our greedy generate() per decoding path, interleaved with HF Marian's; every path must give the same tokens.

    `static_compiled` is transformers' own recipe: `cache_implementation="static"` and a `CompileConfig` (fullgraph;
    inductor, CUDA graphs on a GPU), which `generate()` applies to the decoding steps (compiled once, in the warm-up).
    """
    ours = models["ours"].eval()
    models["hf_marian"].eval()
    g = torch.Generator().manual_seed(2)
    src = torch.randint(4, preset["vocab_size"], (args.gen_batch, args.src_len), generator=g).to(device)
    mask = torch.ones_like(src)
    base = dict(max_new_tokens=args.new_tokens, do_sample=False, num_beams=1, eos_token_id=None, pad_token_id=0,
                bos_token_id=1, decoder_start_token_id=1)
    compile_config = CompileConfig(fullgraph=True, mode="reduce-overhead" if device.type == "cuda" else "default")
    compile_config._compile_all_devices = True  # transformers compiles on GPUs only unless told so
    has_fast_path = hasattr(ours, "fast_greedy")

    def run(model, fast=False, **options):
        if has_fast_path:
            model.fast_greedy = fast
        config = GenerationConfig(**base, **options)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            return model.generate(src, attention_mask=mask, generation_config=config)

    paths = {
        "ours_dynamic_cache": lambda: run(ours),
        "ours_static_compiled": lambda: run(ours, cache_implementation="static", compile_config=compile_config),
        "hf_marian": lambda: run(models["hf_marian"]),
    }
    if has_fast_path:
        paths["ours_static_greedy_decoder"] = lambda: run(ours, fast=True)
    outputs = {name: fn() for name, fn in paths.items()}  # also compiles the static path
    reference = outputs["ours_dynamic_cache"]
    equal = {name: bool(torch.equal(out, reference)) for name, out in outputs.items() if name.startswith("ours")}
    timing = interleaved(paths, args.reps, device, warmup=1)
    row = {"batch": args.gen_batch, "src_len": args.src_len, "new_tokens": args.new_tokens, "same_tokens": equal}
    for name, t in timing.items():
        row[name] = {"tokens_per_s": args.gen_batch * args.new_tokens / t["median_s"], **t}
    # On a shared machine single repetitions vary several-fold; the ratio of two paths timed back to back in the
    # same repetition varies far less, so the headline is the median of those paired ratios (the min-time ratio
    # and the ratio of medians are kept beside it).
    reference_times = timing["ours_dynamic_cache"]["all_s"]
    for name, t in timing.items():
        row[f"ratio_{name}_over_ours_dynamic_cache"] = statistics.median(
            ref / own for ref, own in zip(reference_times, t["all_s"]))
        row[name]["min_time_ratio"] = min(reference_times) / min(t["all_s"])
        row[name]["median_time_ratio"] = timing["ours_dynamic_cache"]["median_s"] / t["median_s"]
    print("greedy paths: " + ", ".join(f"{n} {row[n]['tokens_per_s']:.0f} tok/s" for n in timing)
          + f"; same tokens {equal}", flush=True)
    return row


def mib(value) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def markdown(result: dict) -> str:
    lines = [f"# seq2seq benchmark, preset `{result['preset']}` ({result['date']})", "",
             f"device: {result['device']} ({result['device_name']}, {result['cpu_threads']} CPU threads), "
             f"dtype {result['dtype']}, torch {result['torch']}, transformers {result['transformers']}, "
             f"python {result['python']}; params ours {result['params']['ours']:,}, "
             f"HF Marian {result['params']['hf_marian']:,}; reps {result['args']['reps']} (medians, interleaved)", ""]
    lines += markdown_table(
        ["measurement", "ours", "HF Marian", "ours / HF", "peak MiB ours / HF", "MFU ours / HF"],
        [*(against_marian(f"train B{row['batch']}xL{row['length']} tokens/s", row) for row in result["train"]),
         *(against_marian(f"generate {row['search']} B{row['batch']} src{row['src_len']} +{row['new_tokens']} "
                          "tokens/s", row) for row in result["generate"])])
    for row in result.get("greedy_paths", []):
        lines += ["", f"Greedy decoding paths, B{row['batch']} src{row['src_len']} +{row['new_tokens']} "
                  f"(same tokens: {row['same_tokens']}):", ""]
        lines += markdown_table(
            ["path", "tokens/s (median)", "speed vs ours, dynamic cache: median of paired ratios",
             "ratio of min times", "ratio of medians"],
            ([name, f"{row[name]['tokens_per_s']:.0f}", f"**{row[f'ratio_{name}_over_ours_dynamic_cache']:.2f}**",
              f"{row[name]['min_time_ratio']:.2f}", f"{row[name]['median_time_ratio']:.2f}"]
             for name in [k for k in row if isinstance(row[k], dict) and "median_s" in row[k]]))
    return "\n".join(lines) + "\n"


def against_marian(measurement: str, row: dict) -> list[str]:
    """A row of the main table: ours and HF Marian's tokens/s, their ratio (bold), peak memory and MFU."""
    ours, theirs = row["ours"], row["hf_marian"]
    mfu = f"{ours.get('mfu', float('nan')):.1%} / {theirs.get('mfu', float('nan')):.1%}" if "mfu" in ours else "n/a"
    return [measurement, f"{ours['tokens_per_s']:.0f}", f"{theirs['tokens_per_s']:.0f}",
            f"**{row['ratio_ours_over_hf']:.2f}**", f"{mib(ours['peak_mem_mib'])} / {mib(theirs['peak_mem_mib'])}", mfu]


if __name__ == "__main__":
    main()
