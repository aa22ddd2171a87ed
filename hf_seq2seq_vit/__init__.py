"""hf-seq2seq-vit: an "Attention Is All You Need" translator and a CNN-stem Vision Transformer as Hugging Face models.

Importing the package registers both model families with the transformers Auto classes::

    >>> import hf_seq2seq_vit
    >>> from transformers import AutoConfig
    >>> AutoConfig.for_model("seq2seq_transformer", d_model=32, encoder_attention_heads=4).model_type
    'seq2seq_transformer'

Lightning, data and export code live in sub-modules that are imported only when used.
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSeq2SeqLM,
)

from .models.conv_vit import (
    ConvViTConfig,
    ConvViTForImageClassification,
    ConvViTImageProcessor,
    ConvViTModel,
)
from .models.seq2seq_transformer import (
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
    Seq2SeqTransformerModel,
)

__version__ = "0.1.0"

AutoConfig.register(Seq2SeqTransformerConfig.model_type, Seq2SeqTransformerConfig, exist_ok=True)
AutoModel.register(Seq2SeqTransformerConfig, Seq2SeqTransformerModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration, exist_ok=True)

# Saved folders carry our modeling code and an `auto_map`, so they load with trust_remote_code=True anywhere.
Seq2SeqTransformerConfig.register_for_auto_class()
Seq2SeqTransformerModel.register_for_auto_class("AutoModel")
Seq2SeqTransformerForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

# ConvViT registers itself with the Auto classes beside its model (hf_seq2seq_vit/models/conv_vit/__init__.py).

__all__ = [
    "ConvViTConfig",
    "ConvViTForImageClassification",
    "ConvViTImageProcessor",
    "ConvViTModel",
    "Seq2SeqTransformerConfig",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
]
