"""``HubExportCallback``: when ``fit`` ends, export the best checkpoint as a Hugging Face folder (and push it).

Add it to a config next to ``ModelCheckpoint``::

    trainer:
      callbacks:
        - class_path: lightning.pytorch.callbacks.ModelCheckpoint
          init_args: {monitor: val_bleu, mode: max, save_last: true}
        - class_path: hf_seq2seq_vit.lightning.export_callback.HubExportCallback
          init_args: {output_dir: outputs/my-model}      # push_to_hub: user/my-model to upload too

or on the command line: ``--trainer.callbacks+=hf_seq2seq_vit.lightning.export_callback.HubExportCallback
--trainer.callbacks.output_dir=outputs/my-model``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

logger = logging.getLogger(__name__)

__all__ = ["HubExportCallback"]


class HubExportCallback(Callback):
    """Export the run's best checkpoint (else its last, else the final weights) with ``hf_seq2seq_vit.export``.

    The checkpoint is chosen from the Trainer's ``ModelCheckpoint``: ``best_model_path`` when it monitors a metric,
    else ``last_model_path``. When no checkpoint file exists (``fast_dev_run``, checkpointing off) the final state is
    saved with ``trainer.save_checkpoint`` first, so the export always goes through the same checkpoint contract.
    Runs on global rank 0 only; the export is verified (reloaded and compared) before it replaces ``output_dir``.
    A non-empty ``output_dir`` that is not an earlier export is refused when fit *starts* (not after training),
    unless ``overwrite=True``, which replaces only the files an export writes.

    Args:
        output_dir: the folder to write (an earlier export there is replaced).
        overwrite: write into a non-empty folder that is not an earlier export (the user's other files are kept).
        push_to_hub: a Hub repo id (``user/name``) to upload the folder to afterwards; ``None`` keeps it local.
        private: create the Hub repo as private.
        license: Hub license id of the weights for the model card.

    Example::

        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[HubExportCallback("outputs/my-model")])   # doctest: +SKIP
        >>> trainer.fit(module, datamodule)   # doctest: +SKIP   (then outputs/my-model/ holds the HF folder)
    """

    def __init__(self, output_dir: str = "outputs/model", push_to_hub: str | None = None, private: bool = False,
                 license: str = "apache-2.0", overwrite: bool = False):
        self.output_dir = output_dir
        self.overwrite = overwrite
        self.push_to_hub = push_to_hub
        self.private = private
        self.license = license
        self.exported_from: str | None = None  # the checkpoint the last export used

    @staticmethod
    def checkpoint_to_export(trainer: Trainer) -> str | None:
        """The best checkpoint of the run, else the last one; ``None`` when no checkpoint file was written."""
        from hf_seq2seq_vit.export import checkpoint_to_export

        return checkpoint_to_export(trainer)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero:
            from hf_seq2seq_vit.export import check_export_target

            check_export_target(self.output_dir, overwrite=self.overwrite)  # fail before training, not after

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        from hf_seq2seq_vit.export import export_checkpoint, push_exported

        path = self.checkpoint_to_export(trainer)
        with tempfile.TemporaryDirectory() as scratch:
            if path is None:
                # save_checkpoint is collective under distributed strategies: every rank calls it, rank 0 writes.
                path = trainer.strategy.broadcast(os.path.join(scratch, "final.ckpt"))
                trainer.save_checkpoint(path)
            if trainer.is_global_zero:
                model_name = self.push_to_hub or Path(self.output_dir).name
                folder = export_checkpoint(path, self.output_dir, model_name=model_name, license=self.license,
                                           overwrite=self.overwrite)
                self.exported_from = path
                logger.info("Exported %s to %s", path, folder)
                if self.push_to_hub:
                    url = push_exported(folder, self.push_to_hub, private=self.private or None)
                    logger.info("Pushed %s to the Hub: %s", folder, url)
        trainer.strategy.barrier("HubExportCallback")
