"""LightningModules: ``TranslationModule`` and ``ImageClassificationModule``, plus shared LR schedules.

Each module is imported on first use, so a translation run does not import the image stack and vice versa::

    >>> from hf_seq2seq_vit.lightning import TranslationModule, build_scheduler
"""

from .schedules import SCHEDULES, build_scheduler

__all__ = ["SCHEDULES", "ImageClassificationModule", "TranslationModule", "build_scheduler"]


def __getattr__(name: str):
    if name == "TranslationModule":
        from .translation import TranslationModule

        return TranslationModule
    if name == "ImageClassificationModule":
        from .image_classification import ImageClassificationModule

        return ImageClassificationModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
