"""The training entry point: a ``LightningCLI`` that fits, validates, tests or predicts from YAML configs.

    python -m hf_seq2seq_vit.lightning.cli fit --config configs/demo_translation_cpu.yaml
    python train.py fit --config configs/multi30k_en_de.yaml --trainer.max_epochs 40    # train.py: the same
    python train.py fit --config configs/multi30k_en_de.yaml --ckpt_path last            # resume
    python train.py fit --config configs/demo_translation_cpu.yaml --print_config       # the full, resolved config

The config names the LightningModule and LightningDataModule by ``class_path`` (translation or image
classification), so one entry point runs every task; any key can be overridden on the command line. Configs are
composed: several ``--config`` files are merged in order (later ones override earlier ones, ``callbacks+:`` appends
to a list), and a config may name the files it builds on in a ``base_configs:`` list (paths relative to the
``configs/`` folder), which stand in front of it as if given with ``--config`` before it::

    # configs/multi30k_de_en.yaml
    base_configs: [multi30k_en_de.yaml]      # itself: base/translation.yaml + hardware/gpu.yaml + its own keys
    data: {init_args: {src_lang: de, tgt_lang: en}}

Checkpoints given to ``--ckpt_path`` are loaded with ``weights_only=True`` and must be local files.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from pathlib import Path

import torch
import yaml
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

import hf_seq2seq_vit  # noqa: F401  (registers the models with the transformers Auto classes)
from hf_seq2seq_vit.lightning.base import check_local_checkpoint, peek_task

__all__ = ["BASES_KEY", "TrainingCLI", "expand_config_args", "main"]

BASES_KEY = "base_configs"
CHECKOUT_CONFIGS = Path(__file__).resolve().parents[2] / "configs"  # the repository's configs/ (source checkouts)


def expand_config_args(args: list[str]) -> list[str]:
    """Replace each ``--config FILE`` whose YAML has ``base_configs`` by ``--config`` for each base, then the file.

    Bases are expanded recursively (a cycle is an error); the file itself follows as YAML text without the key.

    Example::

        >>> expand_config_args(["fit", "--config", "configs/multi30k_de_en.yaml"])[:5]  # doctest: +SKIP
        ['fit', '--config', 'configs/base/translation.yaml', '--config', 'configs/hardware/gpu.yaml']
    """
    expanded, index = [], 0
    while index < len(args):
        arg = args[index]
        if arg == "--config" and index + 1 < len(args):
            expanded += _config_and_bases(args[index + 1], ())
            index += 2
        elif arg.startswith("--config="):
            expanded += _config_and_bases(arg.split("=", 1)[1], ())
            index += 1
        else:
            expanded.append(arg)
            index += 1
    return expanded


def _config_and_bases(path: str, chain: tuple[str, ...]) -> list[str]:
    if not os.path.isfile(path):
        return ["--config", path]  # YAML text, or a missing file that LightningCLI reports
    with open(path, encoding="utf-8") as handle:
        content = yaml.safe_load(handle)
    if not isinstance(content, dict) or BASES_KEY not in content:
        return ["--config", path]
    bases = content.pop(BASES_KEY)
    if not isinstance(bases, list) or not all(isinstance(base, str) for base in bases):
        raise ValueError(f"{path}: {BASES_KEY} must be a list of paths relative to the configs/ folder, got {bases!r}")
    args = []
    for base in bases:
        base_path = _find_base(path, base)
        if os.path.abspath(base_path) in chain:
            raise ValueError(f"{path}: {BASES_KEY} loops back to {base_path!r}")
        args += _config_and_bases(base_path, (*chain, os.path.abspath(path)))
    return args + (["--config", yaml.safe_dump(content, sort_keys=False)] if content else [])


def _find_base(path: str, base: str) -> str:
    """``base`` under the ``configs/`` folder that holds ``path``, else under this checkout's ``configs/``.

    The second place lets a recipe copied elsewhere (e.g. shrunk by a test into a temporary folder) keep its bases.
    """
    roots = [parent for parent in Path(path).resolve().parents if parent.name == "configs"][:1]
    roots.append(CHECKOUT_CONFIGS)
    for root in roots:
        candidate = root / base
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"{path}: {BASES_KEY} names {base!r}, which is in none of "
                            f"{[str(root) for root in roots]} (base paths are relative to the configs/ folder)")


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
    if args is None:  # LightningCLI reads sys.argv itself (and warns when given args beside it)
        sys.argv[1:] = expand_config_args(sys.argv[1:])
    else:
        args = expand_config_args(list(args))
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
