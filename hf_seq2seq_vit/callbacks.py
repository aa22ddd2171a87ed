"""Callbacks shared by the training runs."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only

logger = logging.getLogger(__name__)

__all__ = ["TranslationSamplesLogger"]


class TranslationSamplesLogger(L.Callback):
    """Show a few validation translations (source, reference, hypothesis) after every validation.

    They go to the Python log (hence the console), to TensorBoard as text and to W&B as a table when those
    loggers are on. ``TranslationModule`` adds this callback itself (``num_samples`` > 0); the module's
    ``validation_step`` returns ``{"hypotheses": [...]}`` for the batch.

    Example::

        >>> trainer = L.Trainer(callbacks=[TranslationSamplesLogger(num_samples=3)])  # doctest: +SKIP
    """

    def __init__(self, num_samples: int = 3):
        self.num_samples = num_samples
        self.samples: list[tuple[str, str, str]] = []

    def on_validation_epoch_start(self, trainer, pl_module):
        self.samples = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if len(self.samples) >= self.num_samples or not isinstance(outputs, dict) or "hypotheses" not in outputs:
            return
        rows = zip(batch["src_text"], batch["tgt_text"], outputs["hypotheses"])
        self.samples.extend(list(rows)[: self.num_samples - len(self.samples)])

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module):
        if not self.samples or trainer.sanity_checking:
            return
        step = trainer.global_step
        text = "\n".join(f"SRC: {s}\nREF: {r}\nHYP: {h}" for s, r, h in self.samples)
        logger.info("Sample translations at step %d:\n%s", step, text)
        for run_logger in trainer.loggers:
            if isinstance(run_logger, WandbLogger):
                run_logger.log_text("val_samples", columns=["source", "reference", "hypothesis"],
                                    data=[list(row) for row in self.samples], step=step)
            elif isinstance(run_logger, TensorBoardLogger):
                run_logger.experiment.add_text("val_samples", text.replace("\n", "  \n"), step)
