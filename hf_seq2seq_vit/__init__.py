"""hf-seq2seq-vit: an "Attention Is All You Need" translator and a CNN-stem Vision Transformer as Hugging Face models.

Importing the package registers both model families with the transformers Auto classes::

    >>> import hf_seq2seq_vit
    >>> from transformers import AutoConfig
    >>> AutoConfig.for_model("seq2seq_transformer", d_model=32, encoder_attention_heads=4).model_type
    'seq2seq_transformer'

Lightning, data and export code live in sub-modules that are imported only when used.
"""

import inspect

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
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

AutoConfig.register(ConvViTConfig.model_type, ConvViTConfig, exist_ok=True)
AutoModel.register(ConvViTConfig, ConvViTModel, exist_ok=True)
AutoModelForImageClassification.register(ConvViTConfig, ConvViTForImageClassification, exist_ok=True)
# transformers >= 5.2x keys image processors by backend; ours is backend-agnostic (torch ops on any input), so it
# serves both and no "torchvision backend not available" fallback warning appears. Older 5.x takes the slow slot.
if "image_processor_classes" in inspect.signature(AutoImageProcessor.register).parameters:
    AutoImageProcessor.register(
        ConvViTConfig,
        image_processor_classes={"torchvision": ConvViTImageProcessor, "pil": ConvViTImageProcessor},
        exist_ok=True,
    )
else:  # pragma: no cover - depends on the installed transformers
    AutoImageProcessor.register(ConvViTConfig, slow_image_processor_class=ConvViTImageProcessor, exist_ok=True)

__all__ = [
    "ConvViTConfig",
    "ConvViTForImageClassification",
    "ConvViTImageProcessor",
    "ConvViTModel",
    "Seq2SeqTransformerConfig",
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
]
