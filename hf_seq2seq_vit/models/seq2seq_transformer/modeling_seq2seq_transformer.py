"""The encoder–decoder Transformer of Vaswani et al. (2017), "Attention Is All You Need", as a transformers model.

Read top to bottom like the paper: positional encodings (§3.5) → multi-head scaled dot-product attention (§3.2)
→ position-wise feed-forward network (§3.3) → encoder and decoder layers (§3.1) → encoder and decoder stacks →
the model and its language-modelling head with label-smoothed cross-entropy (§5.4).

Shapes in comments: B batch, S source length, T target length (new tokens this call), P cached + new target
length, D d_model, H heads, Dh = D / H head size, V vocabulary.

This file travels to the Hugging Face Hub as remote code: it imports only torch, transformers and its own
configuration (flat relative import).
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_seq2seq_transformer import Seq2SeqTransformerConfig
from .generation_seq2seq_transformer import StaticGreedyGenerationMixin

# transformers 5.2x renamed the KV-cache argument and output field `past_key_values` to `cache` (the old name is
# accepted until 5.40). We accept both and return the cache under the name this transformers version uses.
_CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


# --------------------------------------------------------------------------------------------------------------
# §3.5 Positional encoding
# --------------------------------------------------------------------------------------------------------------
def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(pos / 10000^(2i/D)), shape (num_positions, dim)."""
    position = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)  # (N, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (ceil(D/2),)
    table = torch.zeros(num_positions, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: dim // 2])
    return table


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed sinusoidal position encodings, kept as a non-persistent buffer (recomputed, never saved)."""

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.num_positions, self.dim = num_positions, dim
        self.register_buffer("weight", sinusoidal_table(num_positions, dim), persistent=False)

    def forward(self, position_ids: torch.LongTensor) -> torch.Tensor:
        return self.weight[position_ids]  # (..., D)


class LearnedPositionalEmbedding(nn.Embedding):
    """Trained position embeddings (the paper found them on par with sinusoids)."""

    def forward(self, position_ids: torch.LongTensor) -> torch.Tensor:
        return super().forward(position_ids)


def make_position_embedding(config: Seq2SeqTransformerConfig) -> nn.Module:
    if config.position_embedding_type == "learned":
        return LearnedPositionalEmbedding(config.max_position_embeddings, config.d_model)
    return SinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model)


# --------------------------------------------------------------------------------------------------------------
# §3.2 Attention
# --------------------------------------------------------------------------------------------------------------
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
    """softmax(Q Kᵀ / sqrt(Dh)) V, written out so that the attention probabilities can be returned."""
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
    flash_attention_2, flex_attention).
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
        output_attentions: bool = False,
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
        if output_attentions:
            implementation = "eager"  # only the eager kernel materialises the attention probabilities
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
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to every position separately."""

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
class ResidualSublayer(nn.Module):
    """LayerNorm(x + Dropout(Sublayer(x))) (post-norm, the paper) or x + Dropout(Sublayer(LayerNorm(x))) (pre-norm)."""

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__()
        self.normalize_before = config.normalize_before
        self.layer_norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states: torch.Tensor, sublayer: Callable[[torch.Tensor], tuple]) -> tuple:
        inputs = self.layer_norm(hidden_states) if self.normalize_before else hidden_states
        output, *extra = sublayer(inputs)
        hidden_states = hidden_states + self.dropout(output)
        if not self.normalize_before:
            hidden_states = self.layer_norm(hidden_states)
        return hidden_states, *extra


class Seq2SeqTransformerEncoderLayer(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and layer normalisation."""

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__()
        self.self_attn = Seq2SeqTransformerAttention(config, config.encoder_attention_heads, False, layer_idx)
        self.self_attn_block = ResidualSublayer(config)
        self.ffn = Seq2SeqTransformerFeedForward(config, config.encoder_ffn_dim)
        self.ffn_block = ResidualSublayer(config)

    def forward(self, hidden_states, attention_mask, output_attentions=False, **kwargs):
        hidden_states, weights = self.self_attn_block(
            hidden_states, lambda x: self.self_attn(x, attention_mask, output_attentions=output_attentions, **kwargs)
        )
        hidden_states, = self.ffn_block(hidden_states, lambda x: (self.ffn(x),))
        return hidden_states, weights  # (B, S, D), (B, H, S, S) or None


class Seq2SeqTransformerDecoderLayer(nn.Module):
    """Masked self-attention, then attention over the encoder output, then feed-forward (three residual blocks)."""

    def __init__(self, config: Seq2SeqTransformerConfig, layer_idx: int):
        super().__init__()
        self.self_attn = Seq2SeqTransformerAttention(config, config.decoder_attention_heads, True, layer_idx)
        self.self_attn_block = ResidualSublayer(config)
        self.encoder_attn = Seq2SeqTransformerAttention(config, config.decoder_attention_heads, False, layer_idx)
        self.encoder_attn_block = ResidualSublayer(config)
        self.ffn = Seq2SeqTransformerFeedForward(config, config.decoder_ffn_dim)
        self.ffn_block = ResidualSublayer(config)

    def forward(
        self, hidden_states, attention_mask, encoder_hidden_states, encoder_attention_mask, cache=None,
        output_attentions=False, **kwargs,
    ):
        hidden_states, self_weights = self.self_attn_block(
            hidden_states,
            lambda x: self.self_attn(x, attention_mask, cache=cache, output_attentions=output_attentions, **kwargs),
        )
        hidden_states, cross_weights = self.encoder_attn_block(
            hidden_states,
            lambda x: self.encoder_attn(
                x, encoder_attention_mask, key_value_states=encoder_hidden_states, cache=cache,
                output_attentions=output_attentions, **kwargs,
            ),
        )
        hidden_states, = self.ffn_block(hidden_states, lambda x: (self.ffn(x),))
        return hidden_states, self_weights, cross_weights  # (B, T, D), (B, H, T, P), (B, H, T, S)


# --------------------------------------------------------------------------------------------------------------
# Base class: weight initialisation and the transformers plumbing
# --------------------------------------------------------------------------------------------------------------
class Seq2SeqTransformerPreTrainedModel(PreTrainedModel):
    """Initialises weights and declares the attention kernels and caches the model supports."""

    config_class = Seq2SeqTransformerConfig
    config: Seq2SeqTransformerConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False
    _no_split_modules = ["Seq2SeqTransformerEncoderLayer", "Seq2SeqTransformerDecoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _can_compile_fullgraph = True

    def _init_weights(self, module: nn.Module):
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, SinusoidalPositionalEmbedding):
            # Non-persistent buffers are not in the checkpoint: recompute them, or from_pretrained leaves zeros.
            init.copy_(module.weight, sinusoidal_table(module.num_positions, module.dim))


def check_input_ids(input_ids: torch.LongTensor, vocab_size: int, max_positions: int, name: str) -> None:
    """Fail early with a readable message instead of an index error deep inside an embedding lookup."""
    if input_ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, length), got {tuple(input_ids.shape)}.")
    if input_ids.shape[0] == 0 or input_ids.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(input_ids.shape)}); pass at least one token per sequence.")
    if input_ids.shape[1] > max_positions:
        raise ValueError(
            f"{name} has {input_ids.shape[1]} tokens but the model has max_position_embeddings={max_positions}; "
            "truncate the input (e.g. tokenizer(..., truncation=True, max_length=...))."
        )
    if input_ids.device.type == "cpu" and not torch.compiler.is_compiling():
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(
                f"{name} contains token id {high if high >= vocab_size else low} outside the vocabulary "
                f"[0, {vocab_size}); was the text encoded with a different tokenizer?"
            )


# --------------------------------------------------------------------------------------------------------------
# The encoder and decoder stacks
# --------------------------------------------------------------------------------------------------------------
class Seq2SeqTransformerEncoder(Seq2SeqTransformerPreTrainedModel):
    """N encoder layers over scaled token embeddings plus positions (a final LayerNorm when pre-norm)."""

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(config)
        self.embed_tokens = embed_tokens
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_positions = make_position_embedding(config)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(Seq2SeqTransformerEncoderLayer(config, i) for i in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model) if config.normalize_before else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, S)
        attention_mask: torch.Tensor | None = None,  # (B, S), 1 = token, 0 = padding
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds to the encoder.")
        if input_ids is not None:
            check_input_ids(input_ids, self.config.vocab_size, self.config.max_position_embeddings, "input_ids")
            inputs_embeds = self.embed_tokens(input_ids)
        inputs_embeds = inputs_embeds * self.embed_scale  # (B, S, D)
        positions = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
        hidden_states = self.dropout(inputs_embeds + self.embed_positions(positions))
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)

        all_hidden, all_attentions = [], []
        for layer in self.layers:
            all_hidden.append(hidden_states)
            hidden_states, weights = layer(hidden_states, mask, output_attentions=bool(output_attentions), **kwargs)
            all_attentions.append(weights)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        all_hidden.append(hidden_states)
        return BaseModelOutput(
            last_hidden_state=hidden_states,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
            attentions=tuple(all_attentions) if output_attentions else None,
        )


class Seq2SeqTransformerDecoder(Seq2SeqTransformerPreTrainedModel):
    """N decoder layers; self-attention is causal and cached, cross-attention reads the encoder output."""

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding):
        super().__init__(config)
        self.embed_tokens = embed_tokens
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.embed_positions = make_position_embedding(config)
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(Seq2SeqTransformerDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model) if config.normalize_before else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, T)
        attention_mask: torch.Tensor | None = None,  # (B, P)
        encoder_hidden_states: torch.Tensor | None = None,  # (B, S, D)
        encoder_attention_mask: torch.Tensor | None = None,  # (B, S)
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> dict:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of decoder_input_ids or decoder_inputs_embeds to the decoder.")
        if input_ids is not None:
            check_input_ids(
                input_ids, self.config.target_vocab_size, self.config.max_position_embeddings, "decoder_input_ids"
            )
            inputs_embeds = self.embed_tokens(input_ids)
        inputs_embeds = inputs_embeds * self.embed_scale  # (B, T, D)
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        past_length = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + inputs_embeds.shape[1], device=inputs_embeds.device)
        if past_length + inputs_embeds.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"The target would grow past max_position_embeddings={self.config.max_position_embeddings}; "
                "lower max_length / max_new_tokens."
            )
        hidden_states = self.dropout(inputs_embeds + self.embed_positions(position_ids))

        self_cache = cache.self_attention_cache if cache is not None else None
        causal_mask = create_causal_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask,
            position_ids=position_ids.expand(hidden_states.shape[0], -1), **{_CACHE_FIELD: self_cache},
        )
        cross_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=encoder_attention_mask,
            encoder_hidden_states=encoder_hidden_states,
        )

        all_hidden, all_self, all_cross = [], [], []
        for layer in self.layers:
            all_hidden.append(hidden_states)
            hidden_states, self_weights, cross_weights = layer(
                hidden_states, causal_mask, encoder_hidden_states, cross_mask, cache=cache,
                output_attentions=bool(output_attentions), **kwargs,
            )
            all_self.append(self_weights)
            all_cross.append(cross_weights)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        all_hidden.append(hidden_states)
        return {
            "last_hidden_state": hidden_states,
            "cache": cache if use_cache else None,
            "hidden_states": tuple(all_hidden) if output_hidden_states else None,
            "attentions": tuple(all_self) if output_attentions else None,
            "cross_attentions": tuple(all_cross) if output_attentions else None,
        }


# --------------------------------------------------------------------------------------------------------------
# The model and its generation head
# --------------------------------------------------------------------------------------------------------------
def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Teacher forcing: the decoder reads `<s> y1 … y(n-1)` to predict `y1 … yn` (-100 ignore labels become pad)."""
    shifted = labels.new_full(labels.shape, pad_token_id)
    shifted[:, 1:] = labels[:, :-1]
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


class Seq2SeqTransformerModel(Seq2SeqTransformerPreTrainedModel):
    """The bare encoder–decoder, returning the decoder's last hidden states.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerModel
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> out = Seq2SeqTransformerModel(config)(torch.tensor([[5, 6, 2]]), decoder_input_ids=torch.tensor([[1, 7]]))
        >>> tuple(out.last_hidden_state.shape)
        (1, 2, 32)
    """

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__(config)
        if config.share_encoder_decoder_embeddings:
            self.shared = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
            encoder_embed = decoder_embed = self.shared
            self._tied_weights_keys = {
                "encoder.embed_tokens.weight": "shared.weight",
                "decoder.embed_tokens.weight": "shared.weight",
            }
        else:
            encoder_embed = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
            decoder_embed = nn.Embedding(config.target_vocab_size, config.d_model, config.pad_token_id)
        self.encoder = Seq2SeqTransformerEncoder(config, encoder_embed)
        self.decoder = Seq2SeqTransformerDecoder(config, decoder_embed)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value):
        self.encoder.embed_tokens = value
        if self.config.share_encoder_decoder_embeddings:
            self.shared = self.decoder.embed_tokens = value

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, S)
        attention_mask: torch.Tensor | None = None,  # (B, S)
        decoder_input_ids: torch.LongTensor | None = None,  # (B, T)
        decoder_attention_mask: torch.Tensor | None = None,  # (B, P)
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> Seq2SeqModelOutput:
        cache = cache if cache is not None else past_key_values
        use_cache = use_cache if use_cache is not None else (self.config.use_cache and not self.training)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids, attention_mask, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, **kwargs,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs)
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("Pass decoder_input_ids (or labels to Seq2SeqTransformerForConditionalGeneration).")
        decoder_outputs = self.decoder(
            decoder_input_ids, decoder_attention_mask, encoder_outputs.last_hidden_state, attention_mask,
            cache=cache, inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            position_ids=decoder_position_ids, **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs["last_hidden_state"],
            decoder_hidden_states=decoder_outputs["hidden_states"],
            decoder_attentions=decoder_outputs["attentions"],
            cross_attentions=decoder_outputs["cross_attentions"],
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            **{_CACHE_FIELD: decoder_outputs["cache"]},
        )


class Seq2SeqTransformerForConditionalGeneration(
    Seq2SeqTransformerPreTrainedModel, StaticGreedyGenerationMixin, GenerationMixin
):
    """The translator: encoder–decoder plus a linear projection to target-vocabulary logits; works with `generate()`.

    With `labels`, the decoder input is the labels shifted right behind `decoder_start_token_id` and the loss is
    (label-smoothed) cross-entropy ignoring -100.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> model = Seq2SeqTransformerForConditionalGeneration(config).eval()
        >>> loss = model(torch.tensor([[5, 6, 2]]), labels=torch.tensor([[7, 8, 2]])).loss
        >>> out = model.generate(torch.tensor([[5, 6, 2]]), max_new_tokens=5, do_sample=False)
        >>> int(out[0, 0]) == config.decoder_start_token_id
        True
    """

    def __init__(self, config: Seq2SeqTransformerConfig):
        super().__init__(config)
        self.model = Seq2SeqTransformerModel(config)
        self.lm_head = nn.Linear(config.d_model, config.target_vocab_size, bias=False)
        source = "model.shared.weight" if config.share_encoder_decoder_embeddings else "model.decoder.embed_tokens.weight"
        tied = {"lm_head.weight": source} if config.tie_word_embeddings else {}
        if config.share_encoder_decoder_embeddings:
            tied.update({"model.encoder.embed_tokens.weight": source, "model.decoder.embed_tokens.weight": source})
        self._tied_weights_keys = tied
        self.post_init()

    def get_encoder(self):
        return self.model.encoder

    def get_decoder(self):
        return self.model.decoder

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        past_key_values: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,  # (B, T), -100 = ignore
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
            cache=cache if cache is not None else past_key_values, inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds, use_cache=use_cache, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if logits_to_keep:
            hidden_states = hidden_states[:, -logits_to_keep:]  # generation needs only the last position's logits
        logits = self.lm_head(hidden_states)  # (B, T, V)

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1).to(logits.device),
                ignore_index=-100, label_smoothing=self.config.label_smoothing,
            )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_attentions=outputs.encoder_attentions,
            **{_CACHE_FIELD: getattr(outputs, _CACHE_FIELD)},
        )


__all__ = [
    "Seq2SeqTransformerForConditionalGeneration",
    "Seq2SeqTransformerModel",
    "Seq2SeqTransformerPreTrainedModel",
]
