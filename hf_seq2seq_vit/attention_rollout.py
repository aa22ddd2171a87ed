"""Old import path of the attention rollout tooling, which now lives beside its model.

Use :mod:`hf_seq2seq_vit.models.conv_vit.attention_rollout`; this module re-exports it so that existing imports keep
working.
"""

from .models.conv_vit.attention_rollout import attention_rollout, attention_rollout_heatmap, overlay_heatmap

__all__ = ["attention_rollout", "attention_rollout_heatmap", "overlay_heatmap"]
