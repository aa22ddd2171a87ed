"""Image-classification pipeline for ConvViT: transformers' pipeline, with images read by the model's processor.

transformers' `ImageClassificationPipeline` opens every path and PIL image with `load_image`, which converts to
8-bit RGB first: a 16-bit PNG saturates to white, and a path that does not exist is reported as invalid base64. This
subclass hands paths and images to :class:`ConvViTImageProcessor` as they are, so 16-bit images keep their range and a
missing file is reported as missing; scores and labels are transformers' own.
"""

import os
from typing import Any

from transformers import ImageClassificationPipeline

from .image_processing_conv_vit import load_image_file


class ConvViTImageClassificationPipeline(ImageClassificationPipeline):
    """`pipeline("image-classification", model=folder, pipeline_class=ConvViTImageClassificationPipeline)`.

    Example:

        >>> from transformers import pipeline
        >>> classifier = pipeline("image-classification", model="outputs/conv-vit-tiny",  # doctest: +SKIP
        ...                       pipeline_class=ConvViTImageClassificationPipeline)
        >>> classifier("photos/cat.png", top_k=1)  # doctest: +SKIP
        [{'label': 'cat', 'score': 0.93}]
    """

    def preprocess(self, image: Any, timeout: float | None = None) -> Any:
        if isinstance(image, (str, os.PathLike)):
            image = load_image_file(image)  # URLs still go through transformers' loader
        model_inputs = self.image_processor(images=image, return_tensors="pt")
        return model_inputs.to(self.dtype)


__all__ = ["ConvViTImageClassificationPipeline"]
