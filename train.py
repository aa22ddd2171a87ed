"""Train, validate, test or predict with a YAML config: a thin ``LightningCLI``.

    python train.py fit --config configs/demo_translation_cpu.yaml
    python train.py fit --config configs/multi30k_en_de.yaml --trainer.max_epochs 40
    python train.py fit --config configs/multi30k_en_de.yaml --ckpt_path last      # resume
    python train.py test --config configs/multi30k_en_de.yaml --ckpt_path outputs/multi30k_en_de/checkpoints/best.ckpt
    python train.py fit --config configs/demo_translation_cpu.yaml --print_config  # the full, resolved config

The config names the LightningModule and LightningDataModule by ``class_path`` (translation or image
classification), so one script runs every task; any key can be overridden on the command line.
"""

import logging
import warnings

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.cli import LightningCLI

import hf_seq2seq_vit  # noqa: F401  (registers the models with the transformers Auto classes)


def main(args=None) -> LightningCLI:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("hf_seq2seq_vit").setLevel(logging.INFO)  # data filtering counts, sample translations
    # TranslationDataModule restores its position inside the epoch through its own state_dict (see its
    # docstring), which this generic Lightning warning about mid-epoch resumption does not know about.
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 matmuls for the fp32 parts of bf16-mixed training
    return LightningCLI(
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
