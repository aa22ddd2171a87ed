"""Equality and speed of the inference engines on Multi30k test_2016_flickr with a trained checkpoint.

Each engine translates the 1,000 English sentences through `hf_seq2seq_vit.cli.translate_lines` (what
`hf-seq2seq-vit translate` runs: sentences sorted by length into batches), greedy and beam 4 (beam 4 twice: with
the models' saved default, `early_stopping=True`, the rule CTranslate2 implements, and with the torch engines on
transformers' library default `early_stopping=False`, CTranslate2 keeping its own rule):

  * `torch`: the checkpoint's model, `generate()` (the reference);
  * `torch_int8`: its Linear layers dynamically quantized;
  * `ct2_float32`, `ct2_int8`: folders written by `export --format ctranslate2 [--quantization int8]`.

Reported per engine and search: sentences/s, the share of translations identical to torch's, sacreBLEU against
the references and its difference to torch's.

Usage (see bench/README.md):
    python bench/ct2_multi30k.py outputs/cpu/multi30k_en_de/checkpoints/last.ckpt --threads 1
"""

import argparse
import datetime
import gzip
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import ctranslate2  # noqa: E402
import sacrebleu  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from timing import cpu_name, markdown_table, results_path, write_results  # noqa: E402  (bench/timing.py)

from hf_seq2seq_vit.cli import translate_lines  # noqa: E402
from hf_seq2seq_vit.engines import CTranslate2Engine, quantize_int8  # noqa: E402
from hf_seq2seq_vit.export import model_from_checkpoint, read_checkpoint, tokenizer_from_checkpoint  # noqa: E402
from hf_seq2seq_vit.export.ctranslate2 import export_ctranslate2  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "hf_seq2seq_vit" / "bundled" / "multi30k"


def read(name: str) -> list[str]:
    with gzip.open(BUNDLED / name, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="de")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--note", default="")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sources, references = read(f"{args.split}.{args.src}.gz"), read(f"{args.split}.{args.tgt}.gz")
    checkpoint = read_checkpoint(args.checkpoint, "translation")
    model, tokenizer = model_from_checkpoint(checkpoint).eval(), tokenizer_from_checkpoint(checkpoint)
    scratch = tempfile.TemporaryDirectory(prefix="bench_ct2_")
    engines = {"torch": model, "torch_int8": quantize_int8(model)}
    for quantization in ("float32", "int8"):
        folder = export_ctranslate2(args.checkpoint, Path(scratch.name) / quantization, quantization=quantization)
        engines[f"ct2_{quantization}"] = CTranslate2Engine(folder, intra_threads=args.threads)

    result = {"benchmark": "ct2_multi30k", "checkpoint": args.checkpoint, "args": vars(args),
              "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": cpu_name(),
              "torch": torch.__version__, "transformers": transformers.__version__,
              "ctranslate2": ctranslate2.__version__, "python": platform.python_version(),
              "sentences": len(sources), "rows": []}
    # Beam search twice: with the model's saved default (early_stopping=True since 2026-12-03: stop when num_beams
    # hypotheses are finished, the rule CTranslate2 implements, patience 1), and with the torch engines on
    # transformers' library default (early_stopping=False: keep searching while a running beam could still beat the
    # worst finished one), which CTranslate2 has no equivalent of (it refuses it), so it runs its own rule there.
    searches = [("greedy", 1, {}), (f"beam{args.beams}", args.beams, {"early_stopping": True}),
                (f"beam{args.beams}, torch early_stopping=False", args.beams, {"early_stopping": False})]
    for search, beams, options in searches:
        outputs, seconds = {}, {}
        for name, engine in engines.items():
            engine_options = {} if name.startswith("ct2") and options.get("early_stopping") is False else options
            start = time.perf_counter()
            outputs[name] = list(translate_lines(sources, engine, tokenizer, batch_size=args.batch_size,
                                                 num_beams=beams, max_new_tokens=args.max_new_tokens,
                                                 **engine_options))
            seconds[name] = time.perf_counter() - start
        reference_bleu = sacrebleu.corpus_bleu(outputs["torch"], [references]).score
        for name in engines:
            bleu = sacrebleu.corpus_bleu(outputs[name], [references]).score
            same = sum(a == b for a, b in zip(outputs[name], outputs["torch"])) / len(sources)
            row = {"search": search, "engine": name, "sentences_per_s": len(sources) / seconds[name],
                   "speed_over_torch": seconds["torch"] / seconds[name], "identical_to_torch": same,
                   "bleu": bleu, "bleu_minus_torch": bleu - reference_bleu,
                   "first_differences": [{"source": s, "torch": t, "engine": o} for s, t, o in
                                         zip(sources, outputs["torch"], outputs[name]) if t != o][:5]}
            result["rows"].append(row)
            print(f"{search} {name}: {row['sentences_per_s']:.1f} sent/s ({row['speed_over_torch']:.2f}x torch), "
                  f"identical {same:.1%}, BLEU {bleu:.2f} ({row['bleu_minus_torch']:+.2f})", flush=True)
    write_results(results_path(args.out, f"ct2-multi30k-{args.threads}thread"), result, markdown)


def markdown(result: dict) -> str:
    args = result["args"]
    lines = [f"# Engines on Multi30k {args['split']} ({args['src']}->{args['tgt']}, {result['sentences']} sentences; "
             f"{result['date']})", "",
             f"checkpoint `{result['checkpoint']}`; machine {result['machine']}, {args['threads']} thread(s); torch "
             f"{result['torch']}, transformers {result['transformers']}, ctranslate2 {result['ctranslate2']}, "
             f"python {result['python']}; batches of {args['batch_size']} sentences sorted by length, "
             f"max_new_tokens {args['max_new_tokens']}; one timed pass per engine (includes tokenization)."]
    if args["note"]:
        lines += ["", f"Note: {args['note']}"]
    lines += ["", *markdown_table(
        ["search", "engine", "sentences/s", "speed / torch", "identical to torch", "sacreBLEU", "BLEU - torch"],
        ([row["search"], row["engine"], f"{row['sentences_per_s']:.1f}", f"{row['speed_over_torch']:.2f}",
          f"{row['identical_to_torch']:.1%}", f"{row['bleu']:.2f}", f"{row['bleu_minus_torch']:+.2f}"]
         for row in result["rows"]))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
