"""The training entry point: a ``LightningCLI`` that fits, validates, tests or predicts from YAML configs.

    python -m hf_seq2seq_vit.lightning.cli fit --config configs/demo_translation_cpu.yaml
    python train.py fit --config configs/multi30k_en_de.yaml --trainer.max_epochs 40    # train.py: the same
    python train.py fit --config configs/multi30k_en_de.yaml --ckpt_path last            # resume
    python train.py fit --config configs/demo_translation_cpu.yaml --print_config       # the full, resolved config

The config names the LightningModule and LightningDataModule by ``class_path`` (translation or image
classification), so one entry point runs every task; any key can be overridden on the command line, and several
``--config`` files are merged in order (a task's base config, then overlays). Checkpoints given to
``--ckpt_path`` are loaded with ``weights_only=True`` and must be local files.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

import hf_seq2seq_vit  # noqa: F401  (registers the models with the transformers Auto classes)
from hf_seq2seq_vit.lightning.base import check_local_checkpoint, peek_task

__all__ = ["TrainingCLI", "main"]


class TrainingCLI(LightningCLI):
    """``LightningCLI`` that loads ``--ckpt_path`` with ``weights_only=True``, refuses checkpoint URLs and checkpoints
    of the other task (before it reads their hyper-parameters into the config, which would fail obscurely)."""

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        config = self.config.get(str(self.config.get("subcommand"))) if self.config.get("subcommand") else None
        if config is None or not config.get("ckpt_path"):
            return
        ckpt_path = config.get("ckpt_path")
        check_local_checkpoint(ckpt_path, argument="--ckpt_path")
        module_class = _import_class((config.get("model") or {}).get("class_path"))
        expected = getattr(module_class, "task", None)
        found = peek_task(ckpt_path) if expected and os.path.isfile(ckpt_path) else None
        if found is not None and found != expected:
            raise ValueError(
                f"--ckpt_path {str(ckpt_path)!r} is a {found!r} checkpoint but the config trains {expected!r} "
                f"({module_class.__name__}); pass a {expected} checkpoint, or the config of the {found} task"
            )

    def before_instantiate_classes(self) -> None:
        config = self.config.get(str(self.subcommand)) if self.subcommand else None
        if config is not None and "weights_only" in config and config.get("weights_only") is None:
            config["weights_only"] = True  # Lightning's default would let torch decide (and unpickle for URLs)


def _import_class(class_path: str | None):
    if not class_path or "." not in class_path:
        return None
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None  # the CLI reports a bad class_path itself


def main(args: list[str] | None = None) -> LightningCLI:
    """Run the CLI on ``args`` (``None``: ``sys.argv``) and return it (its ``trainer``, ``model``, ``datamodule``).

    Example::

        >>> cli = main(["fit", "--config", "configs/demo_translation_cpu.yaml", "--trainer.fast_dev_run=true"])  # doctest: +SKIP
    """
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hf_seq2seq_vit").setLevel(logging.INFO)  # data filtering counts, sample translations
    # TranslationDataModule restores its position inside the epoch through its own state_dict (see its
    # docstring), which this generic Lightning warning about mid-epoch resumption does not know about.
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 matmuls for the fp32 parts of bf16-mixed training
    return TrainingCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        auto_configure_optimizers=False,  # each module builds its optimizer and schedule from its own arguments
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()
