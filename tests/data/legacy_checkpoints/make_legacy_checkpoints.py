"""Write the legacy checkpoints kept here: two steps of real training with the LightningModules of 2026-12-02.

They pin the checkpoint format as TranslationModule / ImageClassificationModule wrote it before the export package
and the checkpoint contract existed (contract version 0: no hf_contract_version, no hf_weights_prefix for
translation, timm's EMA under ``ema.module.`` for images), so tests/test_export_contract.py can prove such
checkpoints still export and load. Not run by the tests. The argument names below are the ones of that code (commit
1a7cd2e); they have since changed, so this script runs only with that code (it writes beside itself):

    git worktree add /tmp/legacy 1a7cd2e && mkdir -p /tmp/legacy/tests/data/legacy_checkpoints
    cp tests/data/legacy_checkpoints/make_legacy_checkpoints.py /tmp/legacy/tests/data/legacy_checkpoints/
    cd /tmp/legacy && python tests/data/legacy_checkpoints/make_legacy_checkpoints.py
"""

from pathlib import Path

import lightning as L
import torch

from hf_seq2seq_vit.data.images import ImageDataModule
from hf_seq2seq_vit.data.translation import TranslationDataModule
from hf_seq2seq_vit.lightning.image_classification import ImageClassificationModule
from hf_seq2seq_vit.lightning.translation import TranslationModule

HERE = Path(__file__).resolve().parent
TINY_PARQUET = str(HERE.parent / "cifar10_tiny.parquet")


def trainer() -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                     limit_val_batches=1, val_check_interval=2, use_distributed_sampler=False)


def main() -> None:
    torch.set_num_threads(1)
    L.seed_everything(0)
    data = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=100, max_eval_examples=8,
                                 tokenizer_vocab_size=300, max_length=24, max_tokens=256)
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=32, num_beams=2, max_generation_length=16, num_samples=0)
    run = trainer()
    run.fit(module, data)
    run.save_checkpoint(HERE / "translation_2026-12-02.ckpt", weights_only=False)

    L.seed_everything(0)
    images = ImageDataModule(data_files={"train": TINY_PARQUET, "test": TINY_PARQUET}, val_size=20, batch_size=10,
                             num_workers=0, pin_memory=False, auto_augment=None)
    module = ImageClassificationModule(model_config={"image_size": 32, "stem_channels": [8, 16], "hidden_size": 32,
                                                     "num_hidden_layers": 1, "num_attention_heads": 4,
                                                     "mlp_ratio": 2.0, "num_labels": 10},
                                       learning_rate=3e-3, ema_decay=0.9)
    run = trainer()
    run.fit(module, datamodule=images)
    run.save_checkpoint(HERE / "image_classification_2026-12-02.ckpt", weights_only=False)


if __name__ == "__main__":
    main()
