"""Configuration of the encoder–decoder Transformer of Vaswani et al. (2017), "Attention Is All You Need"."""

import dataclasses
import difflib

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

ACTIVATIONS = ("relu", "gelu", "gelu_new", "silu", "swish", "tanh")
POSITION_EMBEDDING_TYPES = ("sinusoidal", "learned")


@strict(accept_kwargs=True)
class Seq2SeqTransformerConfig(PreTrainedConfig):
    r"""Sizes and switches of a [`Seq2SeqTransformerForConditionalGeneration`].

    The defaults are the paper's *base* model (d_model 512, 6+6 layers, 8 heads, FFN 2048, dropout 0.1,
    post-norm, sinusoidal positions, shared source/target vocabulary, tied embeddings).

    Args:
        vocab_size: source vocabulary size (the whole vocabulary when it is shared).
        tgt_vocab_size: target vocabulary size; `None` means the target shares `vocab_size`.
        share_encoder_decoder_embeddings: one embedding matrix for encoder and decoder (needs a shared vocabulary).
        tie_word_embeddings: the output projection reuses the decoder's input embedding matrix.
        d_model: width of every residual stream.
        encoder_layers, decoder_layers: number of layers of each stack.
        encoder_attention_heads, decoder_attention_heads: heads per attention; must divide `d_model`.
        encoder_ffn_dim, decoder_ffn_dim: inner width of the position-wise feed-forward networks.
        dropout: dropout on embeddings and on every sub-layer output (the paper's P_drop).
        attention_dropout: dropout on attention probabilities.
        activation_dropout: dropout inside the feed-forward network.
        activation_function: one of `relu` (the paper's), `gelu`, `gelu_new`, `silu`, `swish`, `tanh`.
        normalize_before: pre-norm (LayerNorm before each sub-layer; trains more easily) instead of the paper's post-norm.
        max_position_embeddings: longest source or target sequence, in tokens.
        position_embedding_type: `sinusoidal` (the paper's, not trained) or `learned`.
        scale_embedding: multiply token embeddings by sqrt(d_model), as the paper does.
        label_smoothing: label smoothing used by the loss when `labels` are given (the paper uses 0.1).
        init_std: standard deviation of the normal initialisation of linear and embedding weights.

    Example:
        >>> from hf_seq2seq_vit import Seq2SeqTransformerConfig
        >>> config = Seq2SeqTransformerConfig(vocab_size=1000, d_model=32, encoder_layers=2, decoder_layers=2,
        ...                                   encoder_attention_heads=4, decoder_attention_heads=4,
        ...                                   encoder_ffn_dim=64, decoder_ffn_dim=64)
        >>> config.hidden_size
        32
    """

    model_type = "seq2seq_transformer"
    keys_to_ignore_at_inference = ["past_key_values", "cache"]
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "encoder_attention_heads",
        "num_hidden_layers": "encoder_layers",
    }

    vocab_size: int = 32000
    tgt_vocab_size: int | None = None
    share_encoder_decoder_embeddings: bool = True
    tie_word_embeddings: bool = True
    d_model: int = 512
    encoder_layers: int = 6
    decoder_layers: int = 6
    encoder_attention_heads: int = 8
    decoder_attention_heads: int = 8
    encoder_ffn_dim: int = 2048
    decoder_ffn_dim: int = 2048
    dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    activation_dropout: float | int = 0.0
    activation_function: str = "relu"
    normalize_before: bool = False
    max_position_embeddings: int = 512
    position_embedding_type: str = "sinusoidal"
    scale_embedding: bool = True
    label_smoothing: float | int = 0.0
    init_std: float = 0.02
    use_cache: bool = True
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    decoder_start_token_id: int | None = 1

    def __post_init__(self, **kwargs):
        if self.tgt_vocab_size is None:
            self.tgt_vocab_size = self.vocab_size
        # Extra keys are allowed (transformers stores bookkeeping such as `architectures` in the config), but a
        # near-miss of one of our fields is almost certainly a typo that would otherwise be silently ignored.
        fields = [f.name for f in dataclasses.fields(self)]
        for key in kwargs:
            close = difflib.get_close_matches(key, fields, n=1, cutoff=0.8)
            if key not in fields and close:
                raise ValueError(f"Seq2SeqTransformerConfig got an unknown key {key!r}; did you mean {close[0]!r}?")
        self.check_values()
        super().__post_init__(**kwargs)

    @property
    def target_vocab_size(self) -> int:
        """Size of the vocabulary the decoder reads and writes."""
        return self.tgt_vocab_size if self.tgt_vocab_size is not None else self.vocab_size

    def get_text_config(self, decoder=None, encoder=None) -> PreTrainedConfig:
        """transformers' per-side view of an encoder–decoder config; the decoder's side reads the target vocabulary.

        transformers (generation, caches, the common tests) asks `get_text_config(decoder=True)` for the decoder's
        sizes: its `num_hidden_layers` / `num_attention_heads` come from `decoder_layers` / `decoder_attention_heads`,
        and here its `vocab_size` is `tgt_vocab_size` (the size of the logits), as Marian's `decoder_vocab_size` is.

        Example:
            >>> config = Seq2SeqTransformerConfig(vocab_size=1000, tgt_vocab_size=800,
            ...                                   share_encoder_decoder_embeddings=False, decoder_layers=3)
            >>> decoder = config.get_text_config(decoder=True)
            >>> decoder.vocab_size, decoder.num_hidden_layers, config.get_text_config(encoder=True).vocab_size
            (800, 3, 1000)
        """
        text_config = super().get_text_config(decoder=decoder, encoder=encoder)
        if decoder and not encoder and text_config is not self:  # a copy holding the decoder's sizes
            text_config.vocab_size = self.target_vocab_size
        return text_config

    def check_values(self):
        """Reject impossible sizes with a ValueError that names the field (run at construction)."""
        for name in ("vocab_size", "tgt_vocab_size", "d_model", "encoder_attention_heads", "decoder_attention_heads",
                     "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Seq2SeqTransformerConfig.{name} must be a positive integer, got {value}.")
        for name in ("encoder_layers", "decoder_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"Seq2SeqTransformerConfig.{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("encoder_attention_heads", "decoder_attention_heads"):
            if self.d_model % getattr(self, name):
                raise ValueError(
                    f"Seq2SeqTransformerConfig.d_model ({self.d_model}) must be divisible by {name} "
                    f"({getattr(self, name)})."
                )
        for name in ("dropout", "attention_dropout", "activation_dropout", "label_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"Seq2SeqTransformerConfig.{name} must be in [0, 1), got {getattr(self, name)}.")
        if self.activation_function not in ACTIVATIONS:
            raise ValueError(
                f"Seq2SeqTransformerConfig.activation_function={self.activation_function!r} is not supported; "
                f"choose one of {ACTIVATIONS}."
            )
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            raise ValueError(
                f"Seq2SeqTransformerConfig.position_embedding_type={self.position_embedding_type!r} is not supported; "
                f"choose one of {POSITION_EMBEDDING_TYPES}."
            )
        if self.share_encoder_decoder_embeddings and self.target_vocab_size != self.vocab_size:
            raise ValueError(
                "Seq2SeqTransformerConfig.share_encoder_decoder_embeddings=True needs one vocabulary, but "
                f"tgt_vocab_size ({self.tgt_vocab_size}) != vocab_size ({self.vocab_size}); set "
                "share_encoder_decoder_embeddings=False for separate source and target vocabularies."
            )
        for name in ("pad_token_id", "bos_token_id", "decoder_start_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.target_vocab_size:
                raise ValueError(
                    f"Seq2SeqTransformerConfig.{name}={value} is outside the vocabulary [0, {self.target_vocab_size})."
                )


__all__ = ["Seq2SeqTransformerConfig"]
