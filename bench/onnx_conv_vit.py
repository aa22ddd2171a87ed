"""Benchmark: ConvViT inference on CPU, ONNX Runtime (the `export --format onnx` graph) against torch eager.

For each preset and batch size: images/s of `model(pixel_values).logits` in torch eager (no_grad, float32) and of
the exported graph in ONNX Runtime (CPUExecutionProvider, intra-op threads = torch's), repetitions interleaved in
one process; the ratio is the median of paired per-repetition time ratios. The largest logit difference is
reported too. Random weights (nothing downloaded).

Usage (see bench/README.md):
    python bench/onnx_conv_vit.py --threads 1,2 --reps 20
"""

import argparse
import datetime
import os
import platform
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import torch  # noqa: E402
from timing import cpu_name, interleaved, markdown_table, results_path, thread_counts, write_results  # noqa: E402

from hf_seq2seq_vit import ConvViTImageProcessor  # noqa: E402
from hf_seq2seq_vit.export.onnx import OnnxImageClassifier, save_onnx  # noqa: E402
from hf_seq2seq_vit.models.conv_vit import ConvViTConfig, ConvViTForImageClassification  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="cifar10:1,cifar10:64,imagenet:1",
                        help="comma-separated PRESET:BATCH (ConvViTConfig presets)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--note", default="")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory(prefix="bench_onnx_")
    models, folders = {}, {}
    cases = [(preset, int(batch)) for preset, batch in (case.split(":") for case in args.cases.split(","))]
    for preset in dict.fromkeys(preset for preset, _ in cases):
        torch.manual_seed(0)
        models[preset] = ConvViTForImageClassification(ConvViTConfig.from_preset(preset)).eval()
        folders[preset] = Path(scratch.name) / preset
        folders[preset].mkdir()
        save_onnx(models[preset], ConvViTImageProcessor(), folders[preset])
    result = {"benchmark": "onnx_conv_vit", "args": vars(args), "machine": cpu_name(), "cpu_count": os.cpu_count(),
              "date": datetime.datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
              "onnxruntime": onnxruntime.__version__, "python": platform.python_version(), "rows": []}
    for threads in thread_counts(args.threads):
        sessions = {preset: OnnxImageClassifier(folder, intra_threads=threads) for preset, folder in folders.items()}
        for preset, batch in cases:
            model, session = models[preset], sessions[preset]
            size = model.config.image_height_width
            pixels = torch.randn(batch, model.config.num_channels, *size, generator=torch.Generator().manual_seed(0))
            array = pixels.numpy()

            def eager():
                with torch.no_grad():
                    return model(pixel_values=pixels).logits

            runs = {"torch_eager": eager, "onnxruntime": lambda: session(array)}
            difference = float(np.abs(eager().numpy() - session(array)).max())
            timing = interleaved(runs, args.reps, torch.device("cpu"), warmup=2)
            row = {"threads": threads, "preset": preset, "image_size": list(size), "batch": batch,
                   "max_logit_difference": difference,
                   "ratio_onnxruntime_over_eager": statistics.median(
                       e / o for e, o in zip(timing["torch_eager"]["all_s"], timing["onnxruntime"]["all_s"]))}
            for name, t in timing.items():
                row[name] = {"images_per_s": batch / t["median_s"], **t}
            result["rows"].append(row)
            print(f"{threads} thread(s) {preset} B{batch}: eager {row['torch_eager']['images_per_s']:.0f} img/s, "
                  f"ORT {row['onnxruntime']['images_per_s']:.0f} img/s, ratio {row['ratio_onnxruntime_over_eager']:.2f}"
                  f", max |diff| {difference:.1e}", flush=True)
    write_results(results_path(args.out, "onnx-conv_vit-cpu"), result, markdown)


def markdown(result: dict) -> str:
    lines = [f"# ConvViT on CPU: ONNX Runtime vs torch eager ({result['date']})", "",
             f"machine: {result['machine']}, {result['cpu_count']} cores; torch {result['torch']}, onnxruntime "
             f"{result['onnxruntime']}, python {result['python']}; float32, random weights; reps "
             f"{result['args']['reps']} (interleaved, medians)."]
    if result["args"]["note"]:
        lines += ["", f"Note: {result['args']['note']}"]
    lines += ["", *markdown_table(
        ["threads", "preset (px)", "batch", "torch eager img/s", "ONNX Runtime img/s", "ORT / eager (paired median)",
         "max logit diff"],
        ([row["threads"], f"{row['preset']} ({row['image_size'][0]})", row["batch"],
          f"{row['torch_eager']['images_per_s']:.0f}", f"{row['onnxruntime']['images_per_s']:.0f}",
          f"**{row['ratio_onnxruntime_over_eager']:.2f}**", f"{row['max_logit_difference']:.1e}"]
         for row in result["rows"]))]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
