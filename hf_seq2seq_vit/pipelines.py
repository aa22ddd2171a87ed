"""The translation pipeline, kept importable at its old path; it lives beside its model in
``hf_seq2seq_vit/models/seq2seq_transformer/pipeline_seq2seq_transformer.py`` (the file exported folders carry)."""

from .models.seq2seq_transformer.pipeline_seq2seq_transformer import GENERATION_OPTIONS, TranslationPipeline

__all__ = ["GENERATION_OPTIONS", "TranslationPipeline"]
