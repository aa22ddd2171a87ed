"""The "Attention Is All You Need" encoder–decoder Transformer as a Hugging Face model."""

from .configuration_seq2seq_transformer import Seq2SeqTransformerConfig
from .modeling_seq2seq_transformer import (
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
    Seq2SeqTransformerPreTrainedModel,
)

__all__ = [
    "Seq2SeqTransformerConfig",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
    "Seq2SeqTransformerPreTrainedModel",
]
