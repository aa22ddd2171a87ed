"""Benchmark: the translator's CPU inference engines against transformers' MarianMTModel at the same sizes.

Rows (random init, same sizes as bench/seq2seq.py's preset; one process, repetitions interleaved, medians):
  * `hf_marian`: transformers' MarianMTModel `generate()` (the reference of every ratio);
  * `ours_torch`: our model's `generate()`;
  * `ours_torch_int8`: the same with its Linear layers dynamically quantized (hf_seq2seq_vit.engines.quantize_int8);
  * `ours_ct2_float32`, `ours_ct2_int8`: our model converted to CTranslate2 (hf_seq2seq_vit.export.ctranslate2),
    decoded by `ctranslate2.Translator` (token ids -> tokens -> ids included in the time);
  * from 2 threads on, `ours_ct2_float32_interN`, `ours_ct2_int8_interN`: the same with `inter_threads=N,
    intra_threads=1` and the batch split in N parts decoded side by side (CTranslate2's data parallelism).
Greedy and beam search, batch B of sources of S tokens, exactly N new tokens per row (no end token for the torch
models; CTranslate2 with min = max decoding length = N), for each thread count in --threads. Ratios are the median
of the paired per-repetition time ratios (each engine against Marian in the same repetition), which a noisy,
shared machine disturbs far less than the ratio of medians (kept beside it).

Usage (see bench/README.md):
    python bench/engines.py --threads 1,2 --reps 5          # CPU, about 10 minutes
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ctranslate2  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from seq2seq import PRESETS, build_models  # noqa: E402  (bench/seq2seq.py, beside this script)
from timing import cpu_name, interleaved, markdown_table, results_path, thread_counts, write_results  # noqa: E402
from transformers import GenerationConfig  # noqa: E402

from hf_seq2seq_vit.engines import quantize_int8  # noqa: E402
from hf_seq2seq_vit.export.ctranslate2 import save_ctranslate2  # noqa: E402


class VocabularyTokenizer:
    """Just what save_ctranslate2 reads from a tokenizer: the vocabulary (random models need no real one)."""

    unk_token = "<unk>"

    def __init__(self, size: int):
        self.vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, **{f"t{i}": i for i in range(4, size)}}

    def get_vocab(self):
        return dict(self.vocab)

    def save_pretrained(self, folder):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--src-len", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--note", default="", help="a line for the results (e.g. what else ran on the machine)")
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/engines-<preset>-cpu-<date>.json)")
    args = parser.parse_args()

    preset = PRESETS[args.preset]
    models = build_models(preset, torch.device("cpu"))
    ours, marian = models["ours"].eval(), models["hf_marian"].eval()
    ours_int8 = quantize_int8(ours)
    vocab = VocabularyTokenizer(preset["vocab_size"])
    tokens = {index: token for token, index in vocab.vocab.items()}
    ids = {token: index for index, token in tokens.items()}
    folders = {}
    scratch = tempfile.TemporaryDirectory(prefix="bench_engines_")
    for quantization in ("float32", "int8"):
        folders[quantization] = Path(scratch.name) / quantization
        save_ctranslate2(ours, vocab, folders[quantization], quantization=quantization,
                         generation_config=GenerationConfig())

    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, preset["vocab_size"], (args.batch, args.src_len), generator=g)
    mask = torch.ones_like(src)
    out = results_path(args.out, f"engines-{args.preset}-cpu")
    result = {
        "benchmark": "engines", "preset": args.preset, "sizes": preset, "args": vars(args),
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": cpu_name(),
        "cpu_count": os.cpu_count(), "torch": torch.__version__, "transformers": transformers.__version__,
        "ctranslate2": ctranslate2.__version__, "python": platform.python_version(), "note": args.note, "rows": [],
    }
    for threads in thread_counts(args.threads):
        translators = {q: ctranslate2.Translator(str(folder), device="cpu", intra_threads=threads)
                       for q, folder in folders.items()}
        # CTranslate2's data parallelism: `threads` batches side by side, one thread each (CTranslate2Engine's
        # inter_threads), the batch split evenly.
        parallel = {q: ctranslate2.Translator(str(folder), device="cpu", intra_threads=1, inter_threads=threads)
                    for q, folder in folders.items()} if threads > 1 else {}
        for search, beams in (("greedy", 1), (f"beam{args.beams}", args.beams)):
            config = GenerationConfig(max_new_tokens=args.new_tokens, do_sample=False, num_beams=beams,
                                      eos_token_id=None, pad_token_id=0, bos_token_id=1, decoder_start_token_id=1)

            def torch_run(model):
                with torch.no_grad():
                    return model.generate(src, attention_mask=mask, generation_config=config)

            def ct2_run(translator, max_batch_size=0):
                batch = [[tokens[i] for i in row] for row in src.tolist()]
                results = translator.translate_batch(batch, beam_size=beams, max_decoding_length=args.new_tokens,
                                                     min_decoding_length=args.new_tokens, max_input_length=0,
                                                     max_batch_size=max_batch_size)
                return [[ids[t] for t in r.hypotheses[0]] for r in results]

            runs = {"hf_marian": lambda: torch_run(marian), "ours_torch": lambda: torch_run(ours),
                    "ours_torch_int8": lambda: torch_run(ours_int8),
                    "ours_ct2_float32": lambda: ct2_run(translators["float32"]),
                    "ours_ct2_int8": lambda: ct2_run(translators["int8"])}
            split = -(-args.batch // threads)
            for quantization, translator in parallel.items():
                runs[f"ours_ct2_{quantization}_inter{threads}"] = lambda t=translator: ct2_run(t, split)
            produced = {name: (len(fn()[0]) if name.startswith("ours_ct2") else fn().shape[1] - 1)
                        for name, fn in runs.items()}
            timing = interleaved(runs, args.reps, torch.device("cpu"), warmup=1)
            row = {"threads": threads, "search": search, "batch": args.batch, "src_len": args.src_len,
                   "new_tokens": produced}
            reference = timing["hf_marian"]["all_s"]
            for name, t in timing.items():
                row[name] = {"tokens_per_s": args.batch * produced[name] / t["median_s"], **t,
                             "ratio_over_hf_marian": statistics.median(r / own for r, own in zip(reference, t["all_s"])),
                             "ratio_of_medians": timing["hf_marian"]["median_s"] / t["median_s"]}
            result["rows"].append(row)
            print(f"{threads} thread(s) {search}: " + ", ".join(
                f"{n} {row[n]['tokens_per_s']:.0f} tok/s ({row[n]['ratio_over_hf_marian']:.2f}x)" for n in runs),
                flush=True)
            write_results(out, result, markdown, show=False)  # after every row: a run cut short keeps its rows
    write_results(out, result, markdown)


ENGINES = ("hf_marian", "ours_torch", "ours_torch_int8", "ours_ct2_float32", "ours_ct2_int8")


def markdown(result: dict) -> str:
    lines = [f"# Translation engines on CPU, preset `{result['preset']}` ({result['date']})", "",
             f"machine: {result['machine']}, {result['cpu_count']} cores; torch {result['torch']}, transformers "
             f"{result['transformers']}, ctranslate2 {result['ctranslate2']}, python {result['python']}; "
             f"sizes {result['sizes']}; B{result['args']['batch']}, source {result['args']['src_len']} tokens, "
             f"{result['args']['new_tokens']} new tokens per row; reps {result['args']['reps']} (interleaved)."]
    if result["note"]:
        lines += ["", f"Note: {result['note']}"]
    lines += ["", "tokens/s (median) and speed over HF Marian (median of paired ratios; ratio of medians in "
              "brackets):", ""]
    # The inter_threads rows exist from 2 threads on: one column per name, "—" where a row has none.
    names = [*ENGINES, *dict.fromkeys(name for row in result["rows"] for name in row
                                      if name.startswith("ours_ct2_") and "_inter" in name)]
    lines += markdown_table(["threads", "search", *names],
                            ([row["threads"], row["search"], *(speed(row[name]) if name in row else "—"
                                                               for name in names)]
                             for row in result["rows"]))
    return "\n".join(lines) + "\n"


def speed(engine: dict) -> str:
    """One engine's cell: tokens/s, speed over HF Marian (paired median, bold; ratio of medians in brackets)."""
    return (f"{engine['tokens_per_s']:.0f} (**{engine['ratio_over_hf_marian']:.2f}x**, "
            f"{engine['ratio_of_medians']:.2f})")


if __name__ == "__main__":
    main()
