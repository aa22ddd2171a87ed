"""CNN-stem Vision Transformer (Xiao et al. 2021) as a Hugging Face model: config, models and image processor.

The classes are registered for the transformers Auto classes' remote code: `save_pretrained` copies
`configuration_conv_vit.py`, `modeling_conv_vit.py` and `image_processing_conv_vit.py` next to the weights and
writes an `auto_map`, so a folder (or Hub repo) loads with `trust_remote_code=True` without this package.
"""

import inspect

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForImageClassification

from .configuration_conv_vit import PRESETS, ConvViTConfig
from .image_processing_conv_vit import CIFAR10_MEAN, CIFAR10_STD, ConvViTImageProcessor
from .modeling_conv_vit import ConvViTForImageClassification, ConvViTModel, ConvViTPreTrainedModel

# In-process: the Auto classes map model_type "conv_vit" to these classes.
AutoConfig.register(ConvViTConfig.model_type, ConvViTConfig, exist_ok=True)
AutoModel.register(ConvViTConfig, ConvViTModel, exist_ok=True)
AutoModelForImageClassification.register(ConvViTConfig, ConvViTForImageClassification, exist_ok=True)
# transformers >= 5.2x keys image processors by backend; ours is declared on the torchvision backend and reads every
# input type, so it serves both slots and no "backend not available" fallback warning appears.
if "image_processor_classes" in inspect.signature(AutoImageProcessor.register).parameters:
    AutoImageProcessor.register(
        ConvViTConfig,
        image_processor_classes={"torchvision": ConvViTImageProcessor, "pil": ConvViTImageProcessor},
        exist_ok=True,
    )
else:  # pragma: no cover - depends on the installed transformers
    AutoImageProcessor.register(ConvViTConfig, slow_image_processor_class=ConvViTImageProcessor, exist_ok=True)

# Saved folders: copy the code files next to the weights and write an `auto_map` (remote code).
ConvViTConfig.register_for_auto_class()
ConvViTModel.register_for_auto_class("AutoModel")
ConvViTForImageClassification.register_for_auto_class("AutoModelForImageClassification")
ConvViTImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "PRESETS",
    "ConvViTConfig",
    "ConvViTForImageClassification",
    "ConvViTImageProcessor",
    "ConvViTModel",
    "ConvViTPreTrainedModel",
]
