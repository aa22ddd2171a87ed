"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers") for ViT-style models.

Raw attention of one layer says little about which pixels a prediction uses, because every block mixes tokens again.
Rollout follows attention through all blocks: each layer's head-averaged attention `A` is mixed with the identity
for the residual connection, `Â = ½(A + I)` (rows re-normalised), and the layers are multiplied,
`R = Â_L ··· Â_1`. Row `i` of `R` says how much each input token contributes to token `i` at the output; the
[CLS] row (or the mean row with mean pooling) reshaped to the token grid is a heatmap over the image.

Example:

    >>> import torch
    >>> from hf_seq2seq_vit import ConvViTConfig, ConvViTForImageClassification
    >>> from hf_seq2seq_vit.models.conv_vit.attention_rollout import attention_rollout_heatmap
    >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_hidden_layers=2,
    ...                        num_attention_heads=4, num_labels=10)
    >>> heatmap = attention_rollout_heatmap(ConvViTForImageClassification(config).eval(), torch.randn(1, 3, 32, 32))
    >>> heatmap.shape, bool(torch.allclose(heatmap.amax(dim=(-2, -1)), torch.ones(1)))
    (torch.Size([1, 4, 4]), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["attention_rollout", "attention_rollout_heatmap", "overlay_heatmap"]


def attention_rollout(
    attentions: Sequence[torch.Tensor], head_fusion: str = "mean", residual_weight: float = 0.5
) -> torch.Tensor:
    """Roll attention out through the layers: `(B, H, N, N)` per layer → `(B, N, N)`.

    Args:
        attentions: each layer's attention probabilities, first layer first (`outputs.attentions`).
        head_fusion: how heads are combined per layer: `"mean"`, `"max"` or `"min"`.
        residual_weight: weight of the identity (the residual path) in `Â = w·I + (1 - w)·A`; 0.5 in the paper.

    Example:

        >>> uniform = torch.full((1, 2, 3, 3), 1 / 3)
        >>> attention_rollout([uniform, uniform])[0, 0]  # rows of the rollout stay distributions
        tensor([0.5000, 0.2500, 0.2500])
    """
    if len(attentions) == 0:
        raise ValueError("attention_rollout needs at least one layer of attentions; run the model with "
                         "output_attentions=True.")
    fusions = {"mean": lambda a: a.mean(dim=1), "max": lambda a: a.amax(dim=1), "min": lambda a: a.amin(dim=1)}
    if head_fusion not in fusions:
        raise ValueError(f"head_fusion={head_fusion!r} is invalid: expected one of {list(fusions)}.")
    if not 0.0 <= residual_weight <= 1.0:
        raise ValueError(f"residual_weight={residual_weight!r} is invalid: expected a number in [0, 1].")
    first = attentions[0]
    if first is None or first.ndim != 4 or first.shape[-1] != first.shape[-2]:
        raise ValueError("attentions must be (batch, heads, tokens, tokens) tensors; got "
                         f"{None if first is None else tuple(first.shape)}.")
    num_tokens = first.shape[-1]
    identity = torch.eye(num_tokens, dtype=torch.float32, device=first.device)
    rollout = identity.expand(first.shape[0], -1, -1)  # (B, N, N)
    for layer_attention in attentions:
        fused = fusions[head_fusion](layer_attention.float())  # (B, N, N)
        mixed = residual_weight * identity + (1.0 - residual_weight) * fused
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        rollout = mixed @ rollout  # later layers act on the mixture produced by the earlier ones
    return rollout


@torch.no_grad()
def attention_rollout_heatmap(
    model: Any,
    pixel_values: torch.Tensor,
    head_fusion: str = "mean",
    residual_weight: float = 0.5,
    interpolate_pos_encoding: bool = False,
) -> torch.Tensor:
    """Heatmap `(B, h, w)` in [0, 1] of how much each image region flows into the pooled representation.

    Works with :class:`ConvViTModel` / :class:`ConvViTForImageClassification` (any model whose forward accepts
    `output_attentions` and whose config has `pooling`; a [CLS] token is assumed unless `pooling="mean"`).
    The token grid is found from the model's stem. Put the model in `eval()` mode first so that dropout and
    stochastic depth do not disturb the maps.

    Example:
        >>> from hf_seq2seq_vit import ConvViTConfig, ConvViTForImageClassification
        >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32], hidden_size=32, num_hidden_layers=2,
        ...                        num_attention_heads=4, pooling="mean")
        >>> heatmap = attention_rollout_heatmap(ConvViTForImageClassification(config).eval(), torch.randn(2, 3, 32, 32))
        >>> heatmap.shape, bool((heatmap.amax(dim=(-2, -1)) == 1).all())
        (torch.Size([2, 8, 8]), True)
    """
    outputs = model(pixel_values, output_attentions=True, interpolate_pos_encoding=interpolate_pos_encoding)
    rollout = attention_rollout(outputs.attentions, head_fusion=head_fusion, residual_weight=residual_weight)
    base = getattr(model, "conv_vit", model)
    embeddings = base.embeddings
    grid_height, grid_width = embeddings.stem.output_size(*pixel_values.shape[-2:])
    prefix = embeddings.num_prefix_tokens
    if rollout.shape[-1] != prefix + grid_height * grid_width:
        raise ValueError(
            f"{rollout.shape[-1]} tokens do not match a {grid_height}×{grid_width} grid plus {prefix} prefix token(s)."
        )
    # what the pooled output reads: the [CLS] row, or the average of all rows for mean pooling
    pooled_row = rollout[:, 0] if prefix else rollout.mean(dim=1)  # (B, N)
    heatmap = pooled_row[:, prefix:].reshape(-1, grid_height, grid_width)  # (B, h, w)
    return heatmap / heatmap.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def overlay_heatmap(image: Any, heatmap: torch.Tensor, alpha: float = 0.5, path: str | Path | None = None) -> Any:
    """Blend a `(h, w)` heatmap in [0, 1] over a PIL image (red = high); optionally save it (e.g. as PNG).

    Uses only Pillow: the heatmap is upsampled bilinearly to the image size and drawn in red over a dimmed copy.

    Example:

        >>> from PIL import Image
        >>> overlay_heatmap(Image.new("RGB", (32, 32)), torch.rand(4, 4)).size
        (32, 32)
    """
    import numpy as np
    from PIL import Image

    if heatmap.ndim != 2:
        raise ValueError(f"heatmap must be (height, width); got shape {tuple(heatmap.shape)}.")
    base = image.convert("RGB")
    values = heatmap.detach().float().clamp(0, 1).cpu().numpy()
    mask = Image.fromarray((values * 255).astype(np.uint8), mode="L").resize(base.size, Image.BILINEAR)
    red = Image.merge("RGB", (mask, Image.new("L", base.size, 0), Image.new("L", base.size, 0)))
    blended = Image.blend(base, red, alpha)
    if path is not None:
        blended.save(path)
    return blended
