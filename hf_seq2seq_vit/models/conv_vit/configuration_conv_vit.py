"""Configuration of the CNN-stem Vision Transformer (`model_type = "conv_vit"`).

The model is a plain pre-norm ViT (Dosovitskiy et al. 2021) whose "patchify" stem can be swapped for the small
convolutional stem of Xiao et al. 2021, "Early Convolutions Help Transformers See Better": a few stacked 3×3
convolutions with stride 2, each followed by BatchNorm and GELU, then a 1×1 convolution to the hidden size.

This file is copied next to the weights by `save_pretrained` (remote code), so it imports only transformers.
"""

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.activations import ACT2FN

STEM_TYPES = ("conv", "patch", "timm")
POOLING_TYPES = ("cls", "mean")
POSITION_EMBEDDING_TYPES = ("learned", "none")

# Named presets: plain data, applied by `ConvViTConfig.from_preset`. The conv stems follow Xiao et al. 2021.
PRESETS: dict[str, dict[str, Any]] = {
    # 32 px → three stride-2 convs → 4×4 = 16 tokens (+ CLS); ~3.6M parameters.
    "cifar10": {
        "image_size": 32,
        "stem_type": "conv",
        "stem_channels": [64, 128, 256],
        "stem_strides": [2, 2, 2],
        "hidden_size": 256,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "mlp_ratio": 2.0,
        "drop_path_rate": 0.1,
        "num_labels": 10,
    },
    # The same transformer with a 4×4 patchify stem (8×8 = 64 tokens), the baseline the paper compares against.
    "cifar10-patch": {
        "image_size": 32,
        "stem_type": "patch",
        "patch_size": 4,
        "hidden_size": 256,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "mlp_ratio": 2.0,
        "drop_path_rate": 0.1,
        "num_labels": 10,
    },
    # ViTC-4GF of Xiao et al.: four stride-2 convs (48→96→192→384) → 14×14 tokens at 224 px; one block fewer than
    # ViT-S to pay for the stem.
    "imagenet": {
        "image_size": 224,
        "stem_type": "conv",
        "stem_channels": [48, 96, 192, 384],
        "stem_strides": [2, 2, 2, 2],
        "hidden_size": 384,
        "num_hidden_layers": 11,
        "num_attention_heads": 6,
        "mlp_ratio": 4.0,
        "drop_path_rate": 0.1,
        "num_labels": 1000,
    },
}


@strict(accept_kwargs=True)
class ConvViTConfig(PreTrainedConfig):
    r"""Sizes and switches of a [`ConvViTModel`] / [`ConvViTForImageClassification`].

    A strict dataclass, like every transformers 5 config: each field has a type, checked when it is set (at
    construction or later as an attribute), but any well-typed value is accepted, as transformers configs accept
    e.g. a `num_attention_heads` that does not divide `hidden_size`. Whether the values make a buildable model is
    checked by [`~ConvViTConfig.check_architecture`] when a model is built from the config (as `ViTModel` checks its
    heads when it is built), with a `ValueError` that names the field and the allowed values.

    Args:
        image_size: input resolution the position embeddings are made for; an int or `[height, width]`.
        num_channels: channels of the input images (3 for RGB).
        stem_type: `"conv"` (stacked 3×3 convs + BN + GELU, then a 1×1 projection), `"patch"` (one
            `patch_size` × `patch_size` convolution with equal stride, as in the original ViT) or `"timm"`
            (a timm CNN, built with random weights, whose feature map is projected to `hidden_size`).
        stem_channels: output channels of each 3×3 conv of the conv stem (default `[48, 96, 192, 384]`).
        stem_strides: stride of each conv of the conv stem; defaults to 2 for every conv.
        stem_kernel_size: kernel size of the conv stem's convolutions (odd; padding keeps "same" alignment).
        patch_size: patch size of the patchify stem.
        timm_backbone: timm model name used when `stem_type="timm"` (e.g. `"resnet10t"`); never downloaded.
        timm_out_index: which feature level of the timm backbone feeds the transformer (negative counts from the
            last level).
        hidden_size, num_hidden_layers, num_attention_heads: transformer width, depth and heads.
        mlp_ratio: width of the MLP hidden layer relative to `hidden_size`.
        hidden_act: activation of the MLP (a name understood by transformers' `ACT2FN`).
        hidden_dropout_prob: dropout after the embeddings, inside the MLP and after the attention projection.
        attention_probs_dropout_prob: dropout on the attention probabilities.
        drop_path_rate: stochastic depth rate of the last block; block `i` uses `rate * i / (L - 1)`.
        classifier_dropout_prob: dropout before the classification head.
        qkv_bias: whether the query/key/value projection has a bias.
        layer_norm_eps: epsilon of the LayerNorms.
        pooling: `"cls"` (a learned class token) or `"mean"` (average of all tokens, no class token).
        position_embedding_type: `"learned"` (absolute, resampled bicubically for other resolutions when
            `interpolate_pos_encoding=True`) or `"none"`.
        initializer_range: standard deviation of the truncated normal used for linear layers and embeddings.

    Example:
        >>> from hf_seq2seq_vit import ConvViTConfig
        >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_hidden_layers=2,
        ...                        num_attention_heads=4, num_labels=10)
        >>> config.stem_strides
        [2, 2, 2]
        >>> ConvViTConfig.from_preset("cifar10").hidden_size
        256
        >>> config.num_attention_heads = 5  # accepted here; building a model from it raises a clear ValueError
    """

    model_type = "conv_vit"

    image_size: int | list[int] | tuple[int, ...] = 224
    num_channels: int = 3
    stem_type: str = "conv"
    stem_channels: list[int] | tuple[int, ...] | None = None
    stem_strides: list[int] | tuple[int, ...] | None = None
    stem_kernel_size: int = 3
    patch_size: int = 16
    timm_backbone: str | None = None
    timm_out_index: int = -1
    hidden_size: int = 384
    num_hidden_layers: int = 11
    num_attention_heads: int = 6
    mlp_ratio: float | int = 4.0
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.0
    attention_probs_dropout_prob: float | int = 0.0
    drop_path_rate: float | int = 0.0
    classifier_dropout_prob: float | int = 0.0
    qkv_bias: bool = True
    layer_norm_eps: float | int = 1e-6
    pooling: str = "cls"
    position_embedding_type: str = "learned"
    initializer_range: float | int = 0.02

    def __post_init__(self, **kwargs):
        # JSON has no tuples: store lists so that save → load gives an equal config
        if isinstance(self.image_size, tuple):
            self.image_size = list(self.image_size)
        self.stem_channels = list(self.stem_channels) if self.stem_channels is not None else [48, 96, 192, 384]
        self.stem_strides = list(self.stem_strides) if self.stem_strides is not None else [2] * len(self.stem_channels)
        super().__post_init__(**kwargs)

    # ----------------------------------------------------------------------------------------------------------------
    @property
    def image_height_width(self) -> tuple[int, int]:
        """`image_size` as a `(height, width)` pair."""
        if isinstance(self.image_size, (list, tuple)):
            return int(self.image_size[0]), int(self.image_size[1])
        return int(self.image_size), int(self.image_size)

    @property
    def intermediate_size(self) -> int:
        """Hidden width of the MLP (`hidden_size * mlp_ratio`)."""
        return int(self.hidden_size * self.mlp_ratio)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "ConvViTConfig":
        """Build a named preset (`"cifar10"`, `"cifar10-patch"`, `"imagenet"`), with fields overridden.

        Example:
            >>> ConvViTConfig.from_preset("imagenet", num_labels=10).image_size
            224
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown ConvViT preset {name!r}; available presets: {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    # ----------------------------------------------------------------------------------------------------------------
    def check_architecture(self) -> None:
        """Raise a `ValueError` naming the field and the allowed values if no model can be built from this config.

        Called by the ConvViT models when they are built (the types were already checked when the fields were set).

        Example:
            >>> config = ConvViTConfig(hidden_size=32, num_attention_heads=5)
            >>> config.check_architecture()
            Traceback (most recent call last):
            ...
            ValueError: ConvViTConfig.num_attention_heads=5 is invalid: expected a divisor of hidden_size=32.
        """
        def fail(field: str, value: Any, expected: str) -> None:
            raise ValueError(f"ConvViTConfig.{field}={value!r} is invalid: expected {expected}.")

        def is_int(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        def positive_int(field: str) -> None:
            value = getattr(self, field)
            if not is_int(value) or value <= 0:
                fail(field, value, "a positive integer")

        def probability(field: str, upper_inclusive: bool = False) -> None:
            value = getattr(self, field)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and 0.0 <= value and (value <= 1.0 if upper_inclusive else value < 1.0)
            if not ok:
                fail(field, value, "a number in [0, 1)")

        size = self.image_size
        if isinstance(size, (list, tuple)):
            if len(size) != 2 or not all(is_int(s) and s > 0 for s in size):
                fail("image_size", size, "a positive integer or [height, width] of positive integers")
        elif not is_int(size) or size <= 0:
            fail("image_size", size, "a positive integer or [height, width] of positive integers")
        for field in ("num_channels", "hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size"):
            positive_int(field)
        if self.stem_type not in STEM_TYPES:
            fail("stem_type", self.stem_type, f"one of {list(STEM_TYPES)}")
        if self.pooling not in POOLING_TYPES:
            fail("pooling", self.pooling, f"one of {list(POOLING_TYPES)}")
        if self.position_embedding_type not in POSITION_EMBEDDING_TYPES:
            fail("position_embedding_type", self.position_embedding_type, f"one of {list(POSITION_EMBEDDING_TYPES)}")
        if self.hidden_size % self.num_attention_heads != 0:
            fail("num_attention_heads", self.num_attention_heads, f"a divisor of hidden_size={self.hidden_size}")
        if not isinstance(self.mlp_ratio, (int, float)) or isinstance(self.mlp_ratio, bool) or self.mlp_ratio <= 0:
            fail("mlp_ratio", self.mlp_ratio, "a positive number")
        if int(self.hidden_size * self.mlp_ratio) < 1:
            fail("mlp_ratio", self.mlp_ratio, "a value giving an MLP at least one unit wide")
        for field in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob"):
            probability(field)
        probability("drop_path_rate")
        if not isinstance(self.layer_norm_eps, (int, float)) or self.layer_norm_eps <= 0:
            fail("layer_norm_eps", self.layer_norm_eps, "a positive number")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            fail("initializer_range", self.initializer_range, "a positive number")
        if not isinstance(self.hidden_act, str) or self.hidden_act not in ACT2FN:
            fail("hidden_act", self.hidden_act, "an activation name known to transformers, such as 'gelu'")

        if self.stem_type == "conv":
            if not self.stem_channels or not all(is_int(c) and c > 0 for c in self.stem_channels):
                fail("stem_channels", self.stem_channels, "a non-empty list of positive integers")
            if len(self.stem_strides) != len(self.stem_channels) or not all(
                is_int(s) and s > 0 for s in self.stem_strides
            ):
                fail(
                    "stem_strides",
                    self.stem_strides,
                    f"{len(self.stem_channels)} positive integers, one per entry of stem_channels",
                )
            if not is_int(self.stem_kernel_size) or self.stem_kernel_size <= 0 or self.stem_kernel_size % 2 == 0:
                fail("stem_kernel_size", self.stem_kernel_size, "a positive odd integer")
        if self.stem_type == "patch":
            height, width = self.image_height_width
            if height % self.patch_size or width % self.patch_size:
                fail("patch_size", self.patch_size, f"a divisor of image_size={self.image_size}")
        if self.stem_type == "timm":
            if not isinstance(self.timm_backbone, str) or not self.timm_backbone:
                fail("timm_backbone", self.timm_backbone, "a timm model name when stem_type='timm'")
            if not is_int(self.timm_out_index):
                fail("timm_out_index", self.timm_out_index, "an integer feature level")
            try:  # timm's model zoo is needed only by this stem
                import timm
            except ImportError:  # the stem raises a clear error asking to install timm
                return
            if not timm.is_model(self.timm_backbone):
                fail("timm_backbone", self.timm_backbone, "a model name known to timm (see timm.list_models())")


__all__ = ["ConvViTConfig", "PRESETS"]
