"""LightningModules: ``TranslationModule`` and ``ImageClassificationModule`` on one base, ``TaskModule``.

``base.py`` holds what both tasks share (model building, optimizer and schedule, fit timer, checkpoint contract,
exact resume), ``schedules.py`` the learning-rate schedules, ``cli.py`` the training entry point (``main``).
The callbacks: ``PredictionWriter`` (``predict`` results in input order, also under DDP), ``AttentionImages``
(attention maps / rollout overlays to TensorBoard or W&B at validation), ``HubExportCallback`` (export, and push,
when fit ends). Each is imported on first use, so a translation run does not import the image stack and vice
versa::

    >>> from hf_seq2seq_vit.lightning import TranslationModule, build_scheduler
    >>> from hf_seq2seq_vit.lightning import PredictionWriter  # also in configs: hf_seq2seq_vit.lightning.PredictionWriter
"""

from .schedules import SCHEDULES, build_scheduler

__all__ = [
    "SCHEDULES", "AttentionImages", "HubExportCallback", "ImageClassificationModule", "PredictionWriter", "TaskModule",
    "TranslationModule", "build_scheduler",
]

_LAZY = {
    "TranslationModule": ".translation",
    "ImageClassificationModule": ".image_classification",
    "TaskModule": ".base",
    "PredictionWriter": ".prediction_writer",
    "AttentionImages": ".attention_images",
    "HubExportCallback": ".export_callback",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
