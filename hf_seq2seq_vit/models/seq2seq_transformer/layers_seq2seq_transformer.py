"""The building blocks of Vaswani et al. (2017), "Attention Is All You Need": positional encodings (§3.5),
multi-head scaled dot-product attention (§3.2), the position-wise feed-forward network (§3.3) and the encoder and
decoder layers built from them (§3.1). `modeling_seq2seq_transformer.py` stacks these layers into the model.

Shapes in comments: B batch, S source length, T target length (new tokens this call), P cached + new target
length, D d_model, H heads, Dh = D / H head size, V vocabulary.

This file travels to the Hugging Face Hub as remote code with the modeling file: it imports only torch,
transformers and its own configuration (flat relative import).

Docstrings follow one style in this folder: a sentence on what the object is for, then `Args:` / `Returns:` where
the signature does not say it, then an `Example:` that runs as a doctest
(tests/models/test_docstrings.py).
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_seq2seq_transformer import Seq2SeqTransformerConfig


# --------------------------------------------------------------------------------------------------------------
# §3.5 Positional encoding
# --------------------------------------------------------------------------------------------------------------
def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """The paper's position table: PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(pos / 10000^(2i/D)).

    Returns:
        A float tensor of shape (num_positions, dim).

    Example:
        >>> table = sinusoidal_table(50, 16)
        >>> tuple(table.shape), float(table[0, 0]), float(table[0, 1])
        ((50, 16), 0.0, 1.0)
    """
    position = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)  # (N, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (ceil(D/2),)
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: dim // 2])
    return table


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed sinusoidal position encodings, kept as a non-persistent buffer (recomputed, never saved).

    Example:
        >>> import torch
        >>> SinusoidalPositionalEmbedding(64, 8)(torch.arange(3)).shape
        torch.Size([3, 8])
    """

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.num_positions, self.dim = num_positions, dim
        self.register_buffer("weight", sinusoidal_table(num_positions, dim), persistent=False)

    def forward(self, position_ids: torch.LongTensor) -> torch.Tensor:
        return self.weight[position_ids]  # (..., D)


class LearnedPositionalEmbedding(nn.Embedding):
    """Trained position embeddings (the paper found them on par with sinusoids).

    Example:
        >>> import torch
        >>> LearnedPositionalEmbedding(64, 8)(torch.arange(3)).shape
        torch.Size([3, 8])
    """

    def forward(self, position_ids: torch.LongTensor) -> torch.Tensor:
        return super().forward(position_ids)


def make_position_embedding(config: Seq2SeqTransformerConfig) -> nn.Module:
    """The position embedding that `config.position_embedding_type` names (`sinusoidal` or `learned`).

    Example:
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> type(make_position_embedding(Seq2SeqTransformerConfig(position_embedding_type="learned"))).__name__
        'LearnedPositionalEmbedding'
    """
    if config.position_embedding_type == "learned":
        return LearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
    return SinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model)


# --------------------------------------------------------------------------------------------------------------
# §3.2 Attention
# --------------------------------------------------------------------------------------------------------------
# Adapted from transformers.models.bert.modeling_bert.eager_attention_forward: also takes boolean masks and keeps
# the sdpa kernels' `is_causal` contract (no mask passed for a causal module), which the translator's decoder needs.
# (The ConvViT, with neither masks nor causality, uses transformers' ViT kernel as it is.)
def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,  # (B, H, T, Dh)
    key: torch.Tensor,  # (B, H, P, Dh)
    value: torch.Tensor,  # (B, H, P, Dh)
    attention_mask: torch.Tensor | None,  # (B, 1, T, P) additive float or boolean (True = attend)
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q Kᵀ / sqrt(Dh)) V, written out so that the attention probabilities can be returned.

    Same signature as transformers' attention kernels (`ALL_ATTENTION_FUNCTIONS`).

    Returns:
        The output (B, T, H, Dh) and the attention probabilities (B, H, T, P), after dropout as in transformers.

    Example:
        >>> import torch
        >>> q = k = v = torch.randn(1, 2, 3, 4)
        >>> output, probs = eager_attention_forward(torch.nn.Identity(), q, k, v, None, scaling=0.5)
        >>> tuple(output.shape), bool(torch.allclose(probs.sum(-1), torch.ones(1, 2, 3)))
        ((1, 3, 2, 4), True)
    """
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, T, P)
    if attention_mask is None and getattr(module, "is_causal", False) and query.shape[2] > 1:
        # transformers drops an all-ones causal mask when the configured kernel is sdpa (it passes is_causal
        # instead); honour the same contract here, aligning the last query with the last key.
        length, total = query.shape[2], key.shape[2]
        attention_mask = torch.ones(length, total, dtype=torch.bool, device=query.device).tril(total - length)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    probs = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = nn.functional.dropout(probs, p=dropout, training=module.training)
    output = torch.matmul(probs, value).transpose(1, 2).contiguous()  # (B, T, H, Dh)
    return output, probs


class Seq2SeqTransformerAttention(nn.Module):
    """Multi-head attention: H heads of scaled dot-product attention over learned projections of Q, K and V.

    Used three ways: encoder self-attention, causal decoder self-attention (with a growing KV cache during
    generation) and decoder→encoder cross-attention (whose keys and values are computed once and cached).
    The kernel comes from transformers' attention interface (`config._attn_implementation`: eager, sdpa,
    flash_attention_2, flex_attention). A call that records attentions (`output_attentions`) runs in eager, the only
    kernel that materialises the probabilities.

    Returns:
        The output (B, T, D) and the attention probabilities (B, H, T, P), or None from the fused kernels.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2)
        >>> attention = Seq2SeqTransformerAttention(config, num_heads=2, is_causal=False, layer_idx=0)
        >>> output, probs = attention(torch.randn(1, 3, 8), output_attentions=True)
        >>> tuple(output.shape), tuple(probs.shape)
        ((1, 3, 8), (1, 2, 3, 3))
    """

    def __init__(self, config: Seq2SeqTransformerConfig, num_heads: int, is_causal: bool, layer_idx: int | None):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = config.d_model // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.is_causal = is_causal  # read by the sdpa/flash kernels when no explicit mask is passed
        self.layer_idx = layer_idx
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)

    def forward(
        self,
        hidden_states: torch.Tensor,  # (B, T, D)
        attention_mask: torch.Tensor | None = None,
        key_value_states: torch.Tensor | None = None,  # (B, S, D) encoder output for cross-attention
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        is_cross_attention = key_value_states is not None
        batch, length = hidden_states.shape[:2]
        query = self.q_proj(hidden_states).view(batch, length, -1, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)

        layer_cache = None
        if cache is not None:
            layer_cache = cache.cross_attention_cache if is_cross_attention else cache.self_attention_cache
        if is_cross_attention and cache is not None and cache.is_updated.get(self.layer_idx, False):
            # The encoder output does not change while decoding: reuse its projections.
            key, value = layer_cache.layers[self.layer_idx].keys, layer_cache.layers[self.layer_idx].values
        else:
            source = key_value_states if is_cross_attention else hidden_states
            key = self.k_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)  # (B, H, P, Dh)
            value = self.v_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)
            if layer_cache is not None:
                key, value = layer_cache.update(key, value, self.layer_idx)
                if is_cross_attention:
                    cache.is_updated[self.layer_idx] = True

        implementation = self.config._attn_implementation or "eager"
        if kwargs.get("output_attentions", self.config.output_attentions):
            # Only the eager kernel materialises the attention probabilities. transformers' sdpa kernel would
            # return None (with a warning); we run this call in eager instead, which gives the same outputs.
            implementation = "eager"
        attention: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        output, weights = attention(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout if self.training else 0.0,
            scaling=self.scaling,
            **kwargs,
        )
        output = self.out_proj(output.reshape(batch, length, -1))  # (B, T, D)
        return output, weights


# --------------------------------------------------------------------------------------------------------------
# §3.3 Position-wise feed-forward network
# --------------------------------------------------------------------------------------------------------------
class Seq2SeqTransformerFeedForward(nn.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to every position separately (ReLU or another activation).

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2)
        >>> Seq2SeqTransformerFeedForward(config, ffn_dim=32)(torch.randn(1, 3, 8)).shape
        torch.Size([1, 3, 8])
    """

    def __init__(self, config: Seq2SeqTransformerConfig, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.activation = ACT2FN[config.activation_function]
        self.activation_dropout = nn.Dropout(config.activation_dropout)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, D)
        return self.fc2(self.activation_dropout(self.activation(self.fc1(hidden_states))))


# --------------------------------------------------------------------------------------------------------------
# §3.1 Encoder and decoder layers
# --------------------------------------------------------------------------------------------------------------
class AddAndNorm(nn.Module):
    """The paper's "Add & Norm" around a sub-layer, post-norm or pre-norm.

    Post-norm (the paper): `x = LayerNorm(x + Dropout(Sublayer(x)))`. Pre-norm (`normalize_before`):
    `x = x + Dropout(Sublayer(LayerNorm(x)))`. A layer writes `x = block(x, sublayer(block.sublayer_input(x)))`.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> block = AddAndNorm(Seq2SeqTransformerConfig(d_model=8, encoder_attention_heads=2,
        ...                                             decoder_attention_heads=2, dropout=0.0))
        >>> x = torch.randn(1, 3, 8)
        >>> torch.allclose(block(x, 2 * block.sublayer_input(x)), block.layer_norm(3 * x))
        True
    """

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__()
        self.normalize_before = config.normalize_before
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def sublayer_input(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """What the sub-layer reads: LayerNorm(x) under pre-norm, x itself under post-norm."""
        return self.layer_norm(hidden_states) if self.normalize_before else hidden_states

    def forward(self, hidden_states: torch.Tensor, sublayer_output: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states + self.dropout(sublayer_output)
        return hidden_states if self.normalize_before else self.layer_norm(hidden_states)


class Seq2SeqTransformerEncoderLayer(GradientCheckpointingLayer):
    """Self-attention then feed-forward, each wrapped in Add & Norm.

    Returns the new hidden states (B, S, D); the attention probabilities are recorded by the encoder's
    `_can_record_outputs` hooks when asked for.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2)
        >>> Seq2SeqTransformerEncoderLayer(config, layer_idx=0)(torch.randn(1, 3, 8), None).shape
        torch.Size([1, 3, 8])
    """

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__()
        self.self_attn = Seq2SeqTransformerAttention(config, config.encoder_attention_heads, False, layer_idx)
        self.self_attn_block = AddAndNorm(config)
        self.ffn = Seq2SeqTransformerFeedForward(config, config.encoder_ffn_dim)
        self.ffn_block = AddAndNorm(config)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None, **kwargs) -> torch.Tensor:
        attn, ffn = self.self_attn_block, self.ffn_block
        x = attn(x, self.self_attn(attn.sublayer_input(x), attention_mask, **kwargs)[0])  # x + MultiHead(x, x, x)
        x = ffn(x, self.ffn(ffn.sublayer_input(x)))  # x + FFN(x)
        return x  # (B, S, D)


class Seq2SeqTransformerDecoderLayer(GradientCheckpointingLayer):
    """Masked self-attention, then attention over the encoder output, then feed-forward, each in Add & Norm.

    Returns the new hidden states (B, T, D); self- and cross-attention probabilities are recorded by the decoder's
    `_can_record_outputs` hooks when asked for.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(d_model=8, encoder_attention_heads=2, decoder_attention_heads=2)
        >>> config._attn_implementation = "eager"
        >>> layer = Seq2SeqTransformerDecoderLayer(config, layer_idx=0)
        >>> layer(torch.randn(1, 2, 8), None, torch.randn(1, 5, 8), None).shape
        torch.Size([1, 2, 8])
    """

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__()
        self.self_attn = Seq2SeqTransformerAttention(config, config.decoder_attention_heads, True, layer_idx)
        self.self_attn_block = AddAndNorm(config)
        self.encoder_attn = Seq2SeqTransformerAttention(config, config.decoder_attention_heads, False, layer_idx)
        self.encoder_attn_block = AddAndNorm(config)
        self.ffn = Seq2SeqTransformerFeedForward(config, config.decoder_ffn_dim)
        self.ffn_block = AddAndNorm(config)

    def forward(
        self,
        x: torch.Tensor,  # (B, T, D)
        attention_mask: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,  # (B, S, D)
        encoder_attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        **kwargs,
    ) -> torch.Tensor:
        attn, cross, ffn = self.self_attn_block, self.encoder_attn_block, self.ffn_block
        x = attn(x, self.self_attn(attn.sublayer_input(x), attention_mask, cache=cache, **kwargs)[0])
        x = cross(x, self.encoder_attn(
            cross.sublayer_input(x), encoder_attention_mask, key_value_states=encoder_hidden_states, cache=cache,
            **kwargs,
        )[0])  # x + MultiHead(x, memory, memory)
        x = ffn(x, self.ffn(ffn.sublayer_input(x)))
        return x  # (B, T, D)
