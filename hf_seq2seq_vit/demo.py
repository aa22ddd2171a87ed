"""``make demo``: train a tiny English→German translator on CPU, export it, reload it elsewhere and translate.

    python -m hf_seq2seq_vit.demo                                  # about 2 minutes on 2 CPU cores
    python -m hf_seq2seq_vit.demo --trainer.max_epochs=1           # extra arguments go to the training CLI

Steps:

1. ``python train.py fit --config configs/demo_translation_cpu.yaml`` (the LightningCLI at the repository root),
   with :class:`~hf_seq2seq_vit.lightning.export_callback.HubExportCallback` added, which
2. exports the best checkpoint (highest ``val_bleu``; the last one if none was scored) to ``outputs/demo-model/``:
   model, tokenizer, ``generation_config.json``, remote code, ``pipeline_seq2seq_transformer.py`` and a model card;
3. a fresh Python process that never imports this package loads that folder (``from_pretrained`` through
   ``pipeline("translation", model=..., trust_remote_code=True)``) and translates the sample sentences;
4. ``hf-seq2seq-vit explain`` prints how the first sentence is decoded step by step (top candidates and their
   probabilities) and saves the cross-attention heatmap beside the folder (``outputs/demo-model-attention.png``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = ["A man is riding a bicycle.", "Two dogs are playing in the snow.", "A woman sings on a stage."]

# Runs in the fresh process: only transformers (and torch) are imported there.
TRANSLATE_SCRIPT = """
import sys
from transformers import pipeline

folder, sentences = sys.argv[1], sys.argv[2:]
translator = pipeline("translation", model=folder, trust_remote_code=True)
for sentence, result in zip(sentences, translator(sentences, batch_size=len(sentences))):
    print(f"{sentence}  ->  {result['translation_text']}")
assert "hf_seq2seq_vit" not in sys.modules
"""


def main(argv: list[str] | None = None) -> int:
    """Train, export and translate; returns the exit status (non-zero if a step failed)."""
    parser = argparse.ArgumentParser(prog="python -m hf_seq2seq_vit.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/demo_translation_cpu.yaml", help="training config (YAML)")
    parser.add_argument("--output-dir", default="outputs/demo-model", help="where the exported model goes")
    args, train_args = parser.parse_known_args(argv)

    train_script = REPO / "train.py"
    if not train_script.is_file():
        print(f"error: {train_script} not found; the demo runs from a source checkout of hf-seq2seq-vit "
              "(git clone, then `make demo`)", file=sys.stderr)
        return 2
    output_dir = (REPO / args.output_dir).resolve()

    print(f"[1/4] Training with {args.config} ...", flush=True)
    train = subprocess.run([
        sys.executable, str(train_script), "fit", "--config", args.config,
        "--trainer.callbacks+=hf_seq2seq_vit.lightning.export_callback.HubExportCallback",
        f"--trainer.callbacks.output_dir={output_dir}",
        *train_args,
    ], cwd=REPO)
    if train.returncode != 0:
        print("error: training failed (see above)", file=sys.stderr)
        return train.returncode
    if not (output_dir / "config.json").is_file():
        print(f"error: training finished but nothing was exported to {output_dir}", file=sys.stderr)
        return 1

    print(f"[2/4] Exported the best checkpoint to {output_dir}:", flush=True)
    for path in sorted(output_dir.iterdir()):
        print(f"    {path.name}")
    card = (output_dir / "README.md").read_text(encoding="utf-8")
    evaluation = card.split("## Evaluation", 1)[-1].split("## Limitations", 1)[0].strip()
    print("    model card, evaluation section:\n      " + evaluation.replace("\n", "\n      "))

    print("[3/4] Loading it in a fresh Python process (without this package) and translating:", flush=True)
    # -I: ignore PYTHONPATH and the current directory, so only the folder's own remote code can be used.
    translate = subprocess.run([sys.executable, "-I", "-c", TRANSLATE_SCRIPT, str(output_dir), *SAMPLES],
                               cwd=output_dir.parent)
    if translate.returncode != 0:
        return translate.returncode

    # The paper's picture of decoding: <s> -> "Ein" -> "Ein Mann" -> ... -> </s>, with each step's candidates.
    picture = output_dir.parent / f"{output_dir.name}-attention.png"
    print(f"[4/4] Explaining one sentence (hf-seq2seq-vit explain {args.output_dir} \"{SAMPLES[0]}\"):", flush=True)
    from .cli import main as command_line

    return command_line(["explain", str(output_dir), SAMPLES[0], "-o", str(picture)])


if __name__ == "__main__":
    sys.exit(main())
