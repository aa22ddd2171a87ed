"""LightningModules: ``TranslationModule`` and ``ImageClassificationModule`` on one base, ``TaskModule``.

``base.py`` holds what both tasks share (model building, optimizer and schedule, fit timer, checkpoint contract,
exact resume), ``schedules.py`` the learning-rate schedules, ``cli.py`` the training entry point (``main``). Each
module is imported on first use, so a translation run does not import the image stack and vice versa::

    >>> from hf_seq2seq_vit.lightning import TranslationModule, build_scheduler
"""

from .schedules import SCHEDULES, build_scheduler

__all__ = ["SCHEDULES", "ImageClassificationModule", "TaskModule", "TranslationModule", "build_scheduler"]


def __getattr__(name: str):
    if name == "TranslationModule":
        from .translation import TranslationModule

        return TranslationModule
    if name == "ImageClassificationModule":
        from .image_classification import ImageClassificationModule

        return ImageClassificationModule
    if name == "TaskModule":
        from .base import TaskModule

        return TaskModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
