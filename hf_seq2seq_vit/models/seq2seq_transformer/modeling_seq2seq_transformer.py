"""The encoder–decoder Transformer of Vaswani et al. (2017), "Attention Is All You Need", as a transformers model.

Read top to bottom like the paper, after its building blocks in `layers_seq2seq_transformer.py` (positional
encodings §3.5, multi-head attention §3.2, feed-forward network §3.3, encoder and decoder layers §3.1): weight
initialisation → encoder and decoder stacks (§3.1) → the model and its language-modelling head with label-smoothed
cross-entropy (§5.4).

Shapes in comments: B batch, S source length, T target length (new tokens this call), P cached + new target
length, D d_model, H heads, Dh = D / H head size, V vocabulary.

The transformers plumbing is transformers' own: attention kernels from `ALL_ATTENTION_FUNCTIONS`, masks from
`masking_utils`, `EncoderDecoderCache` (dynamic or static), attentions and hidden states recorded by forward hooks
(`_can_record_outputs` + `capture_outputs`) instead of being threaded through every return, `return_dict=False`
tuples from `can_return_tuple`, and decoding by `GenerationMixin.generate()` with nothing overridden inside it.

This file travels to the Hugging Face Hub as remote code: it imports only torch, transformers and its own
configuration and layers files (flat relative imports).
"""

import copy
import functools
import inspect
import math

import torch
from torch import nn
from transformers import GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
)
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs
from transformers.utils.deprecation import deprecate_kwarg
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import OutputRecorder, capture_outputs

from .configuration_seq2seq_transformer import Seq2SeqTransformerConfig
from .layers_seq2seq_transformer import (
    Seq2SeqTransformerAttention,
    Seq2SeqTransformerDecoderLayer,
    Seq2SeqTransformerEncoderLayer,
    SinusoidalPositionalEmbedding,
    make_position_embedding,
    sinusoidal_table,
)

# transformers 5.2x renamed the KV-cache argument and output field `past_key_values` to `cache` (the old name is
# accepted until 5.40). We return the cache under the name this transformers version uses; where it is `cache`, an
# old-style `past_key_values=` argument is renamed with transformers' own FutureWarning, as its models do.
_CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


def accepts_old_cache_name(forward):
    """Let `forward` take the KV cache as `cache=` or (older name) `past_key_values=`.

    Example:
        >>> @accepts_old_cache_name
        ... def forward(input_ids=None, cache=None, **kwargs):
        ...     return cache
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     forward(past_key_values="the cache")
        'the cache'
    """
    if _CACHE_FIELD == "cache":
        return deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")(forward)

    @functools.wraps(forward)
    def renamed(*args, **kwargs):  # transformers before 5.2x: generate() itself passes past_key_values
        if "past_key_values" in kwargs:
            kwargs["cache"] = kwargs.pop("past_key_values")
        return forward(*args, **kwargs)

    signature = inspect.signature(forward)
    old_name = inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY, default=None)
    parameters = list(signature.parameters.values())
    renamed.__signature__ = signature.replace(parameters=[*parameters[:-1], old_name, parameters[-1]])  # before **kwargs
    return renamed


# --------------------------------------------------------------------------------------------------------------
# Base class: weight initialisation and the transformers plumbing
# --------------------------------------------------------------------------------------------------------------
class Seq2SeqTransformerPreTrainedModel(PreTrainedModel):
    """Initialises weights and declares the attention kernels and caches the model supports.

    Example:
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerModel
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> model = Seq2SeqTransformerModel(config)  # weights drawn by _init_weights (std config.init_std)
        >>> bias = model.encoder.layers[0].ffn.fc1.bias
        >>> isinstance(model, Seq2SeqTransformerPreTrainedModel), float(bias.detach().abs().sum())
        (True, 0.0)
    """

    config_class = Seq2SeqTransformerConfig
    config: Seq2SeqTransformerConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True  # the layers are transformers GradientCheckpointingLayers
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

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True):
        """transformers' `resize_token_embeddings` for the source vocabulary, which is also the target one if shared.

        Shared vocabulary: encoder, decoder and output projection all grow, and `tgt_vocab_size` follows `vocab_size`
        (so the decoder takes the new ids and the saved config loads again). Separate vocabularies: only the source
        side (encoder embedding, `vocab_size`) changes; the decoder and its output projection keep the target size.

        Example:
            >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration
            >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=1,
            ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
            >>> model = Seq2SeqTransformerForConditionalGeneration(config)
            >>> _ = model.resize_token_embeddings(110)
            >>> model.config.vocab_size, model.config.tgt_vocab_size, model.lm_head.weight.shape[0]
            (110, 110, 110)
        """
        shared = self.config.share_encoder_decoder_embeddings
        output_embeddings = None if shared else self.get_output_embeddings()
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        if shared:
            self.config.tgt_vocab_size = self.config.vocab_size
        elif output_embeddings is not None:  # transformers resized the output projection to the source size
            self.set_output_embeddings(output_embeddings)
            self.tie_weights()
        return embeddings

    def mark_tied_weights_as_initialized(self, loading_info):
        """Keep a tied weight's source (e.g. `shared.weight`) in `missing_keys` when the checkpoint lacks it.

        transformers marks the tensor of every tied key as loaded before it reports what is missing; the source
        shares that tensor, and for code outside transformers the report then drops it, so a checkpoint without its
        embedding matrix would load with no warning. Putting the source back lets `tie_weights` decide: it removes
        the key again when a tied copy was in the checkpoint, and reports it missing when none was.
        """
        tied_sources = set(getattr(self, "all_tied_weights_keys", {}).values())
        missing_sources = tied_sources & set(loading_info.missing_keys)
        super().mark_tied_weights_as_initialized(loading_info)
        loading_info.missing_keys |= missing_sources


def check_input_ids(input_ids: torch.LongTensor, vocab_size: int, max_positions: int, name: str) -> None:
    """Fail early with a readable ValueError instead of an index error deep inside an embedding lookup.

    Example:
        >>> import torch
        >>> check_input_ids(torch.tensor([[5, 6, 2]]), vocab_size=100, max_positions=64, name="input_ids")
        >>> check_input_ids(torch.tensor([[5.0]]), vocab_size=100, max_positions=64, name="input_ids")
        Traceback (most recent call last):
        ValueError: input_ids must hold integer token ids (torch.long), got dtype torch.float32; ...
    """
    if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
        raise ValueError(
            f"{name} must hold integer token ids (torch.long), got dtype {input_ids.dtype}; encode text with the "
            "tokenizer (tokenizer(texts, return_tensors='pt')) or convert with .long()."
        )
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



def check_padding_mask(mask: torch.Tensor | None, batch: int, length: int, name: str, of: str) -> None:
    """Refuse a 2-D padding mask whose shape is not (batch, length) of the tokens it masks.

    A mask of the wrong length would otherwise be broadcast or cut by the attention-mask builders and give a
    silently wrong answer (padding attended to, or real tokens hidden).

    Example:
        >>> import torch
        >>> check_padding_mask(torch.ones(2, 3), batch=2, length=3, name="attention_mask", of="input_ids")
        >>> check_padding_mask(torch.ones(2, 4), batch=2, length=3, name="attention_mask", of="input_ids")
        Traceback (most recent call last):
        ValueError: attention_mask has shape (2, 4) but input_ids has shape (2, 3); ...
    """
    if mask is None or mask.dim() != 2 or torch.compiler.is_compiling():
        return
    if tuple(mask.shape) != (batch, length):
        raise ValueError(
            f"{name} has shape {tuple(mask.shape)} but {of} has shape {(batch, length)}; pass the mask the "
            "tokenizer returned with these ids (1 = token, 0 = padding), one row per sequence."
        )

# --------------------------------------------------------------------------------------------------------------
# The encoder and decoder stacks
# --------------------------------------------------------------------------------------------------------------
class Seq2SeqTransformerEncoder(Seq2SeqTransformerPreTrainedModel):
    """N encoder layers over scaled token embeddings plus positions (a final LayerNorm when pre-norm).

    Built from the config alone it owns its embedding; the full model passes the (shared) one in.
    `output_attentions` / `output_hidden_states` (arguments or config fields) are recorded by transformers'
    output-capturing hooks (`_can_record_outputs`): embeddings output + one hidden state per layer.

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=1,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> out = Seq2SeqTransformerEncoder(config)(torch.tensor([[5, 6, 2]]), output_hidden_states=True)
        >>> tuple(out.last_hidden_state.shape), len(out.hidden_states)
        ((1, 3, 32), 3)
    """

    _can_record_outputs = {
        "hidden_states": Seq2SeqTransformerEncoderLayer,
        "attentions": Seq2SeqTransformerAttention,
    }

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding | None = None):
        super().__init__(config)
        if embed_tokens is None:
            embed_tokens = nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)
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

    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, S)
        attention_mask: torch.Tensor | None = None,  # (B, S), 1 = token, 0 = padding
        inputs_embeds: torch.Tensor | None = None,  # (B, S, D)
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds to the encoder.")
        if input_ids is not None:
            check_input_ids(input_ids, self.config.vocab_size, self.config.max_position_embeddings, "input_ids")
            inputs_embeds = self.embed_tokens(input_ids)
        check_padding_mask(attention_mask, *inputs_embeds.shape[:2], "attention_mask", "input_ids")
        inputs_embeds = inputs_embeds * self.embed_scale  # (B, S, D)
        positions = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
        hidden_states = self.dropout(inputs_embeds + self.embed_positions(positions))
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask)
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, **kwargs)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return BaseModelOutput(last_hidden_state=hidden_states)


class Seq2SeqTransformerDecoder(Seq2SeqTransformerPreTrainedModel):
    """N decoder layers; self-attention is causal and cached, cross-attention reads the encoder output.

    Built from the config alone it owns its embedding; the full model passes the (shared) one in. Usable on its own
    with `encoder_hidden_states` (B, S, D) and an `EncoderDecoderCache` (`use_cache=True` creates one).

    Example:
        >>> import torch
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(vocab_size=100, d_model=32, encoder_layers=1, decoder_layers=2,
        ...     encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> decoder = Seq2SeqTransformerDecoder(config)
        >>> out = decoder(torch.tensor([[1, 7]]), encoder_hidden_states=torch.randn(1, 3, 32), use_cache=True)
        >>> tuple(out.last_hidden_state.shape), out[1].get_seq_length()
        ((1, 2, 32), 2)
    """

    _can_record_outputs = {
        "hidden_states": Seq2SeqTransformerDecoderLayer,
        "attentions": OutputRecorder(Seq2SeqTransformerAttention, index=1, layer_name="self_attn"),
        "cross_attentions": OutputRecorder(Seq2SeqTransformerAttention, index=1, layer_name="encoder_attn"),
    }

    def __init__(self, config: Seq2SeqTransformerConfig, embed_tokens: nn.Embedding | None = None):
        super().__init__(config)
        if embed_tokens is None:
            embed_tokens = nn.Embedding(config.target_vocab_size, config.d_model, config.pad_token_id)
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

    @capture_outputs
    @accepts_old_cache_name
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, T)
        attention_mask: torch.Tensor | None = None,  # (B, P)
        encoder_hidden_states: torch.Tensor | None = None,  # (B, S, D)
        encoder_attention_mask: torch.Tensor | None = None,  # (B, S)
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,  # (B, T, D)
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,  # (T,) or (B, T)
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPastAndCrossAttentions:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of decoder_input_ids or decoder_inputs_embeds to the decoder.")
        if encoder_hidden_states is None:
            raise ValueError(
                "The decoder attends to the encoder output: pass encoder_hidden_states (B, S, D), e.g. "
                "model.get_encoder()(input_ids).last_hidden_state."
            )
        check_padding_mask(
            encoder_attention_mask, *encoder_hidden_states.shape[:2], "encoder_attention_mask", "the encoder output"
        )
        if input_ids is not None:
            check_input_ids(
                input_ids, self.config.target_vocab_size, self.config.max_position_embeddings, "decoder_input_ids"
            )
            inputs_embeds = self.embed_tokens(input_ids)
        inputs_embeds = inputs_embeds * self.embed_scale  # (B, T, D)
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        past_length = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + past_length
        target_length = past_length + inputs_embeds.shape[1]
        if not torch.compiler.is_compiling() and target_length > self.config.max_position_embeddings:
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
        for layer in self.layers:
            hidden_states = layer(hidden_states, causal_mask, encoder_hidden_states, cross_mask, cache=cache, **kwargs)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states, **{_CACHE_FIELD: cache if use_cache else None}
        )


# --------------------------------------------------------------------------------------------------------------
# The model and its generation head
# --------------------------------------------------------------------------------------------------------------
def check_generation_config(generation_config, where: str) -> None:
    """Reject search settings that cannot work (transformers' own validation lets them through to a crash).

    Example:
        >>> from transformers import GenerationConfig
        >>> check_generation_config(GenerationConfig(num_beams=0), "passed to generate()")
        Traceback (most recent call last):
        ValueError: num_beams=0 passed to generate() is invalid: it must be an integer >= 1 ...
    """
    for name in ("num_beams", "num_return_sequences"):
        value = getattr(generation_config, name, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(
                f"{name}={value!r} {where} is invalid: it must be an integer >= 1 (num_beams=1 is greedy search)."
            )


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Teacher forcing: the decoder reads `<s> y1 … y(n-1)` to predict `y1 … yn` (-100 ignore labels become pad).

    Example:
        >>> import torch
        >>> shift_tokens_right(torch.tensor([[7, 8, 2, -100]]), pad_token_id=0, decoder_start_token_id=1).tolist()
        [[1, 7, 8, 2]]
    """
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

    @can_return_tuple
    @accepts_old_cache_name
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,  # (B, S)
        attention_mask: torch.Tensor | None = None,  # (B, S)
        decoder_input_ids: torch.LongTensor | None = None,  # (B, T)
        decoder_attention_mask: torch.Tensor | None = None,  # (B, P)
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        decoder_position_ids: torch.LongTensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqModelOutput:
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids, attention_mask, inputs_embeds=inputs_embeds, return_dict=True, **kwargs
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(*encoder_outputs[:3])  # a tuple from return_dict=False
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("Pass decoder_input_ids (or labels to Seq2SeqTransformerForConditionalGeneration).")
        decoder_outputs = self.decoder(
            decoder_input_ids, decoder_attention_mask, encoder_outputs.last_hidden_state, attention_mask,
            cache=cache, inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
            position_ids=decoder_position_ids, return_dict=True, **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
            **{_CACHE_FIELD: getattr(decoder_outputs, _CACHE_FIELD)},
        )


class Seq2SeqTransformerForConditionalGeneration(Seq2SeqTransformerPreTrainedModel, GenerationMixin):
    """The translator: encoder–decoder plus a linear projection to target-vocabulary logits; works with `generate()`.

    With `labels`, the decoder input is the labels shifted right behind `decoder_start_token_id` and the loss is
    (label-smoothed) cross-entropy ignoring -100. For fast decoding use transformers' static cache with a compiled
    forward: `generate(..., cache_implementation="static", compile_config=CompileConfig(fullgraph=True))`.

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
        shared = config.share_encoder_decoder_embeddings
        source = "model.shared.weight" if shared else "model.decoder.embed_tokens.weight"
        tied = {"lm_head.weight": source} if config.tie_word_embeddings else {}
        if config.share_encoder_decoder_embeddings:
            tied.update({"model.encoder.embed_tokens.weight": source, "model.decoder.embed_tokens.weight": source})
        self._tied_weights_keys = tied
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    # Impossible search settings fail with a ValueError that names them wherever they enter: a `generate()` call,
    # a saved `generation_config.json` (at load) or the model's own `generation_config` (at save).
    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
                 **kwargs):
        """transformers' `generate()`, after checking the search settings (`num_beams`, `num_return_sequences`)."""
        settings = copy.copy(generation_config if generation_config is not None else self.generation_config)
        for name in ("num_beams", "num_return_sequences"):
            if name in kwargs:
                setattr(settings, name, kwargs[name])
        check_generation_config(settings, "passed to generate()")
        return super().generate(inputs, generation_config=generation_config, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        check_generation_config(self.generation_config, "in model.generation_config (not saved)")
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        model = loaded[0] if isinstance(loaded, tuple) else loaded  # output_loading_info=True gives (model, info)
        check_generation_config(
            model.generation_config, f"in {pretrained_model_name_or_path}/generation_config.json (fix that file)"
        )
        return loaded

    @can_return_tuple
    @accepts_old_cache_name
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: EncoderDecoderCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,  # (B, T), -100 = ignore
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        **kwargs: Unpack[TransformersKwargs],
    ) -> Seq2SeqLMOutput:
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.model(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
            cache=cache, inputs_embeds=inputs_embeds,
            decoder_inputs_embeds=decoder_inputs_embeds, use_cache=use_cache, return_dict=True, **kwargs,
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
