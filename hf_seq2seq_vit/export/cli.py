"""``python -m hf_seq2seq_vit.export CKPT OUT_DIR [--format hf|ctranslate2|onnx] [--quantization Q] [--task T]
[--overwrite] [--push-to-hub REPO]``."""

from __future__ import annotations

import argparse
import sys

from .contract import TASKS
from .ctranslate2 import QUANTIZATIONS
from .errors import ExportError, HubExportError
from .hub import push_exported
from .writing import export_checkpoint

__all__ = ["FORMATS", "main"]

FORMATS = ("hf", "ctranslate2", "onnx")


def _export_other_format(args: argparse.Namespace):
    if args.format == "ctranslate2":
        from .ctranslate2 import export_ctranslate2

        return export_ctranslate2(args.checkpoint, args.output_dir, quantization=args.quantization or "float32",
                                  task=args.task, overwrite=args.overwrite)
    from .onnx import export_onnx

    return export_onnx(args.checkpoint, args.output_dir, task=args.task, overwrite=args.overwrite)


def main(argv: list[str] | None = None) -> int:
    """``python -m hf_seq2seq_vit.export CKPT OUT_DIR [--task T] [--push-to-hub REPO]``; errors exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m hf_seq2seq_vit.export",
        description="Export a Lightning checkpoint as a Hugging Face model folder (save_pretrained + model card).",
    )
    parser.add_argument("checkpoint", help="the Lightning .ckpt file")
    parser.add_argument("output_dir", help="folder to write (an earlier export there is replaced)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty folder that is not an earlier export: files with the export's "
                             "names are replaced, other files are kept")
    parser.add_argument("--task", choices=sorted(TASKS), help="fail unless the checkpoint is of this task")
    parser.add_argument("--format", choices=FORMATS, default="hf",
                        help="hf: a Hugging Face folder (default); ctranslate2: a CTranslate2 translator (pip "
                             "install 'hf-seq2seq-vit[ct2]'); onnx: an ONNX image classifier (pip install "
                             "'hf-seq2seq-vit[onnx]')")
    parser.add_argument("--quantization", choices=QUANTIZATIONS,
                        help="--format ctranslate2 only: how the weights are stored (default float32)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the folder to this Hub repo (user/name)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--model-name", help="name used in the model card (default: the repo id or folder name)")
    parser.add_argument("--license", default="apache-2.0", help="Hub license id of the weights (default apache-2.0)")
    parser.add_argument("--no-verify", action="store_true", help="skip reloading the folder to compare outputs")
    args = parser.parse_args(argv)
    if args.quantization is not None and args.format != "ctranslate2":
        parser.error(f"--quantization is for --format ctranslate2, not --format {args.format}")
    if args.format != "hf" and (args.push_to_hub or args.model_name):
        parser.error(f"--push-to-hub and --model-name are for --format hf (a Hub folder), not --format {args.format}")
    try:
        if args.format != "hf":
            folder = _export_other_format(args)
            print(f"Exported {args.checkpoint} to {folder} ({args.format})")
            return 0
        folder = export_checkpoint(
            args.checkpoint,
            args.output_dir,
            task=args.task,
            model_name=args.model_name or args.push_to_hub,
            license=args.license,
            verify=not args.no_verify,
            overwrite=args.overwrite,
        )
        print(f"Exported {args.checkpoint} to {folder}")
        if args.push_to_hub:
            print(f"Pushed to {args.push_to_hub}: {push_exported(folder, args.push_to_hub, private=args.private or None)}")
    except (ExportError, HubExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # a format whose optional dependencies are missing
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # no permission, disk full, a file where a folder should be
        print(f"error: could not write the export to {args.output_dir!r}: {error}", file=sys.stderr)
        return 2
    return 0

