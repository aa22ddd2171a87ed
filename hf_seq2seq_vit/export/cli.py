"""``python -m hf_seq2seq_vit.export CKPT OUT_DIR [--task T] [--overwrite] [--push-to-hub REPO]``."""

from __future__ import annotations

import argparse
import sys

from .contract import TASKS
from .errors import ExportError, HubExportError
from .hub import push_exported
from .writing import export_checkpoint

__all__ = ["main"]


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
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the folder to this Hub repo (user/name)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--model-name", help="name used in the model card (default: the repo id or folder name)")
    parser.add_argument("--license", default="apache-2.0", help="Hub license id of the weights (default apache-2.0)")
    parser.add_argument("--no-verify", action="store_true", help="skip reloading the folder to compare outputs")
    args = parser.parse_args(argv)
    try:
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
    except OSError as error:  # no permission, disk full, a file where a folder should be
        print(f"error: could not write the export to {args.output_dir!r}: {error}", file=sys.stderr)
        return 2
    return 0

