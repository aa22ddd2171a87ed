"""Pictures of what the models do: decoding step by step with cross-attention, attention rollout, training curves.

    >>> from hf_seq2seq_vit.visualize import explain_translation, save_cross_attention_heatmap   # doctest: +SKIP
    >>> explanation = explain_translation(model, tokenizer, "A man is riding a bicycle.")   # doctest: +SKIP
    >>> print(explanation.format_steps())   # doctest: +SKIP
    >>> save_cross_attention_heatmap(explanation, "attention.png")   # doctest: +SKIP

matplotlib draws with its file-only ``Agg`` backend, so no display is needed.
"""

from .curves import plot_training_curves
from .explain import (
    DecodingStep,
    ImageExplanation,
    TranslationExplanation,
    explain_image,
    explain_translation,
    save_cross_attention_heatmap,
    save_rollout_overlay,
)

__all__ = [
    "DecodingStep",
    "ImageExplanation",
    "TranslationExplanation",
    "explain_image",
    "explain_translation",
    "plot_training_curves",
    "save_cross_attention_heatmap",
    "save_rollout_overlay",
]
