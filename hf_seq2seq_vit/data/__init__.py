"""Lightning data modules: ``TranslationDataModule`` (parallel text) and ``ImageDataModule`` (image folders/parquet).

``ImageDataModule`` is imported on first use, so translation-only code does not load the image stack::

    >>> from hf_seq2seq_vit.data import TranslationDataModule
"""

from .batching import TokenBudgetBatchSampler
from .translation import TranslationDataModule, load_parallel_text

__all__ = ["ImageDataModule", "TokenBudgetBatchSampler", "TranslationDataModule", "load_parallel_text"]


def __getattr__(name: str):
    if name == "ImageDataModule":
        from .images import ImageDataModule

        return ImageDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
