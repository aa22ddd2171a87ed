"""PyTorch CNN-stem Vision Transformer.

Reads top to bottom like the papers it implements:

1. stem: `(B, 3, H, W) → (B, D, h, w)`, one of
   - the convolutional stem of Xiao et al. 2021, "Early Convolutions Help Transformers See Better"
     (stacked 3×3 stride-2 convs + BatchNorm + GELU, then a 1×1 projection to `D`),
   - the patchify stem of Dosovitskiy et al. 2021 (one `p × p` convolution with stride `p`),
   - any timm CNN (`features_only`, random weights) followed by a 1×1 projection, like timm's `HybridEmbed`;
2. embeddings: flatten the feature map into tokens `(B, N, D)`, prepend a [CLS] token, add learned absolute
   position embeddings (resampled bicubically for other resolutions);
3. multi-head self-attention, through transformers' attention interface (sdpa by default, eager when attention
   probabilities are asked for);
4. a pre-norm transformer block: `x + DropPath(Attn(LN(x)))`, then `x + DropPath(MLP(LN(x)))`;
5. the encoder: a stack of blocks with linearly increasing stochastic depth;
6. the model: stem → encoder → final LayerNorm → pooling ([CLS] token or mean of tokens);
7. the classification head: dropout → linear.

As in timm, `forward_features` (image → normalised tokens) is kept apart from `forward_head` (tokens → logits).

This file is copied next to the weights by `save_pretrained` (remote code), so it imports only torch,
transformers, timm layers and its sibling configuration file.
"""

import math
from collections.abc import Callable

import torch
from timm.layers import DropPath, Mlp, resample_abs_pos_embed
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPooling, ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

# The eager kernel is transformers' own ViT one (no mask, no causal case: all a ConvViT needs); sdpa and the other
# kernels come from ALL_ATTENTION_FUNCTIONS. Importing it, rather than copying the translator's, keeps one kernel per
# idea and stays inside what remote code may import (torch, transformers, timm).
from transformers.models.vit.modeling_vit import eager_attention_forward

from .configuration_conv_vit import ConvViTConfig

# ---------------------------------------------------------------------------------------------------------------------
# 1. Stems: (B, C_in, H, W) → (B, D, h, w)
# ---------------------------------------------------------------------------------------------------------------------


class ConvViTConvStem(nn.Module):
    """Convolutional stem of Xiao et al. 2021: `[3×3 conv (stride s) → BN → GELU] × k → 1×1 conv to D`.

    With the default four stride-2 convs it reduces a 224 px image to a 14×14 grid, the same grid as 16×16 patches,
    but the early convolutions make optimisation much less sensitive to learning rate and optimizer.

    Example:

        >>> stem = ConvViTConvStem(ConvViTConfig(stem_channels=[16, 32], hidden_size=32, num_attention_heads=4))
        >>> stem(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 32, 8, 8])
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        self.kernel_size = config.stem_kernel_size
        self.strides = list(config.stem_strides)
        layers: list[nn.Module] = []
        in_channels = config.num_channels
        for out_channels, stride in zip(config.stem_channels, config.stem_strides):
            # no bias: the BatchNorm right after has its own shift
            padding = self.kernel_size // 2
            layers.append(nn.Conv2d(in_channels, out_channels, self.kernel_size, stride, padding, bias=False))
            layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.GELU())
            in_channels = out_channels
        self.convs = nn.Sequential(*layers)
        self.projection = nn.Conv2d(in_channels, config.hidden_size, kernel_size=1)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid `(h, w)` this stem produces for a `height × width` image."""
        padding = self.kernel_size // 2
        for stride in self.strides:
            height = (height + 2 * padding - self.kernel_size) // stride + 1
            width = (width + 2 * padding - self.kernel_size) // stride + 1
        return height, width

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(self.convs(pixel_values))  # (B, D, h, w)


class ConvViTPatchStem(nn.Module):
    """Patchify stem of the original ViT: one `p × p` convolution with stride `p` (non-overlapping patches).

    Example:

        >>> stem = ConvViTPatchStem(ConvViTConfig(image_size=32, stem_type="patch", patch_size=4, hidden_size=32,
        ...                                       num_attention_heads=4))
        >>> stem(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 32, 8, 8])
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, config.patch_size, config.patch_size)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid `(h, w)` this stem produces for a `height × width` image."""
        return height // self.patch_size, width // self.patch_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values)  # (B, D, h, w)


class ConvViTTimmStem(nn.Module):
    """A timm CNN (`features_only`, random weights, never downloaded) followed by a 1×1 projection to `D`.

    `config.timm_out_index` picks the feature level (`-1`: the deepest one); the grid is the image size divided
    by that level's reduction, so the image size must be a multiple of it.

    Example:

        >>> config = ConvViTConfig(image_size=32, stem_type="timm", timm_backbone="resnet10t", timm_out_index=2,
        ...                        hidden_size=32, num_attention_heads=4)
        >>> ConvViTTimmStem(config)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        try:
            import timm  # only this stem needs the model zoo; the rest of the file uses timm.layers
        except ImportError as error:  # pragma: no cover - timm is a dependency of the package
            raise ImportError("stem_type='timm' needs the `timm` package: pip install timm") from error
        if not timm.is_model(config.timm_backbone):
            raise ValueError(
                f"ConvViTConfig.timm_backbone={config.timm_backbone!r} is not a timm model (see timm.list_models())."
            )
        self.backbone = timm.create_model(
            config.timm_backbone,
            pretrained=False,
            features_only=True,
            out_indices=(config.timm_out_index,),
            in_chans=config.num_channels,
        )
        # Keep timm's own initialisation for the backbone (see ConvViTPreTrainedModel._init_weights).
        for module in self.backbone.modules():
            module._conv_vit_keep_timm_init = True
        self.reduction = int(self.backbone.feature_info.reduction()[-1])
        height, width = config.image_height_width
        if height % self.reduction or width % self.reduction:
            raise ValueError(
                f"ConvViTConfig.image_size={config.image_size!r} must be a multiple of {self.reduction}, the reduction "
                f"of feature level {config.timm_out_index} of timm_backbone={config.timm_backbone!r}."
            )
        channels = int(self.backbone.feature_info.channels()[-1])
        self.projection = nn.Conv2d(channels, config.hidden_size, kernel_size=1)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid `(h, w)` this stem produces for a `height × width` image."""
        return math.ceil(height / self.reduction), math.ceil(width / self.reduction)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(pixel_values)[-1])  # (B, D, h, w)


STEMS: dict[str, type[nn.Module]] = {"conv": ConvViTConvStem, "patch": ConvViTPatchStem, "timm": ConvViTTimmStem}


# ---------------------------------------------------------------------------------------------------------------------
# 2. Embeddings: stem → tokens → [CLS] → + position embeddings
# ---------------------------------------------------------------------------------------------------------------------


class ConvViTEmbeddings(nn.Module):
    """Turns images `(B, C, H, W)` into tokens `(B, N, D)`: stem, flatten, [CLS] token, position embeddings.

    `N = h·w + 1` with `pooling="cls"` and `h·w` with `pooling="mean"`. With `interpolate_pos_encoding=True`
    the learned `(h, w)` grid of position embeddings is resampled bicubically (timm's `resample_abs_pos_embed`)
    to the grid of the actual input; at the configured size it is used as is.

    Example:

        >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_attention_heads=4)
        >>> ConvViTEmbeddings(config)(torch.zeros(2, 3, 32, 32)).shape  # 4×4 grid + [CLS]
        torch.Size([2, 17, 32])
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        self.config = config
        self.stem = STEMS[config.stem_type](config)
        self.image_size = config.image_height_width
        self.grid_size = self.stem.output_size(*self.image_size)
        self.num_prefix_tokens = 1 if config.pooling == "cls" else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if self.num_prefix_tokens else None
        num_positions = self.grid_size[0] * self.grid_size[1] + self.num_prefix_tokens
        self.position_embeddings = (
            nn.Parameter(torch.zeros(1, num_positions, config.hidden_size))
            if config.position_embedding_type == "learned"
            else None
        )
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        if pixel_values.ndim != 4:
            raise ValueError(
                f"pixel_values must have shape (batch, channels, height, width); got {tuple(pixel_values.shape)}."
            )
        batch_size, num_channels, height, width = pixel_values.shape
        if num_channels != self.config.num_channels:
            raise ValueError(
                f"pixel_values have {num_channels} channels but the model expects num_channels="
                f"{self.config.num_channels} (shape (batch, channels, height, width) was {tuple(pixel_values.shape)})."
            )
        if not interpolate_pos_encoding and (height, width) != self.image_size:
            raise ValueError(
                f"Input image size ({height}×{width}) doesn't match the model's image_size "
                f"({self.image_size[0]}×{self.image_size[1]}). Resize the image, or pass "
                "interpolate_pos_encoding=True to resample the position embeddings."
            )

        features = self.stem(pixel_values)  # (B, D, h, w)
        grid = (features.shape[-2], features.shape[-1])
        embeddings = features.flatten(2).transpose(1, 2)  # (B, h·w, D)
        if self.cls_token is not None:
            embeddings = torch.cat([self.cls_token.expand(batch_size, -1, -1), embeddings], dim=1)  # (B, 1 + h·w, D)
        if self.position_embeddings is not None:
            embeddings = embeddings + self.position_embeddings_for(grid)
        return self.dropout(embeddings)

    def position_embeddings_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embeddings `(1, N, D)` for a token grid, resampled when it differs from the trained one."""
        if grid == tuple(self.grid_size):
            return self.position_embeddings
        return resample_abs_pos_embed(
            self.position_embeddings,
            new_size=list(grid),
            old_size=list(self.grid_size),
            num_prefix_tokens=self.num_prefix_tokens,
        )


# ---------------------------------------------------------------------------------------------------------------------
# 3. Multi-head self-attention
# ---------------------------------------------------------------------------------------------------------------------


class ConvViTAttention(nn.Module):
    """Multi-head self-attention over all tokens (no mask), with a fused query/key/value projection as in timm.

    The kernel is chosen by `config._attn_implementation` (`"sdpa"` by default, `"eager"`, or any kernel
    registered in transformers' `ALL_ATTENTION_FUNCTIONS`). Attention probabilities only exist in the eager kernel,
    so a call with `output_attentions=True` uses it whatever the configured implementation.

    Example:

        >>> attention = ConvViTAttention(ConvViTConfig(hidden_size=32, num_attention_heads=4))
        >>> output, probabilities = attention(torch.zeros(2, 17, 32), output_attentions=True)
        >>> output.shape, probabilities.shape
        (torch.Size([2, 17, 32]), torch.Size([2, 4, 17, 17]))
    """

    is_causal = False  # read by transformers' sdpa / flash kernels

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_probs_dropout_prob
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.proj_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, num_tokens, hidden_size = hidden_states.shape  # (B, N, D)
        qkv = self.qkv(hidden_states).view(batch_size, num_tokens, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, H, N, d)

        implementation = self.config._attn_implementation
        attention_function: Callable = eager_attention_forward
        if not output_attentions and implementation not in (None, "eager"):
            attention_function = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        output, probabilities = attention_function(
            self,
            query,
            key,
            value,
            None,
            scaling=self.scaling,
            dropout=self.attention_dropout if self.training else 0.0,
        )
        output = output.reshape(batch_size, num_tokens, hidden_size)  # (B, N, H·d = D)
        return self.proj_dropout(self.proj(output)), probabilities


# ---------------------------------------------------------------------------------------------------------------------
# 4. Transformer block (pre-norm) and 5. encoder
# ---------------------------------------------------------------------------------------------------------------------


def _activation_factory(name: str) -> Callable[[], nn.Module]:
    """timm's Mlp builds its activation by calling `act_layer()`; this makes one from a transformers name."""
    return lambda: ACT2FN[name]


class ConvViTLayer(nn.Module):
    """Pre-norm transformer block: `x + DropPath(Attn(LN(x)))` then `x + DropPath(MLP(LN(x)))`.

    The MLP (`Linear → act → dropout → Linear → dropout`) and stochastic depth are timm's `Mlp` and `DropPath`.

    Example:

        >>> block = ConvViTLayer(ConvViTConfig(hidden_size=32, num_attention_heads=4), drop_path=0.1)
        >>> hidden_states, _ = block(torch.zeros(2, 17, 32))
        >>> hidden_states.shape
        torch.Size([2, 17, 32])
    """

    def __init__(self, config: ConvViTConfig, drop_path: float = 0.0):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = ConvViTAttention(config)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = Mlp(
            in_features=config.hidden_size,
            hidden_features=config.intermediate_size,
            act_layer=_activation_factory(config.hidden_act),
            drop=config.hidden_dropout_prob,
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, probabilities = self.attention(self.layernorm_before(hidden_states), output_attentions)
        hidden_states = hidden_states + self.drop_path(attention_output)  # (B, N, D)
        hidden_states = hidden_states + self.drop_path(self.mlp(self.layernorm_after(hidden_states)))  # (B, N, D)
        return hidden_states, probabilities


class ConvViTEncoder(nn.Module):
    """A stack of :class:`ConvViTLayer` whose stochastic depth grows linearly from 0 to `drop_path_rate`.

    Returns a `BaseModelOutput`; `hidden_states` holds the input and every block's output (`L + 1` tensors,
    before the final LayerNorm), `attentions` every block's probabilities `(B, H, N, N)`.

    Example:
        >>> encoder = ConvViTEncoder(ConvViTConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
        ...                                        drop_path_rate=0.2))
        >>> [round(layer.drop_path.drop_prob, 2) if hasattr(layer.drop_path, "drop_prob") else 0.0
        ...  for layer in encoder.layers]
        [0.0, 0.1, 0.2]
        >>> outputs = encoder(torch.zeros(2, 17, 32), output_hidden_states=True)
        >>> outputs.last_hidden_state.shape, len(outputs.hidden_states)
        (torch.Size([2, 17, 32]), 4)
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__()
        depth = config.num_hidden_layers
        # plain Python (not torch.linspace) so that building the model on the meta device works
        rates = [config.drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.layers = nn.ModuleList(ConvViTLayer(config, drop_path=rate) for rate in rates)

    def forward(
        self, hidden_states: torch.Tensor, output_attentions: bool = False, output_hidden_states: bool = False
    ) -> BaseModelOutput:
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, probabilities = layer(hidden_states, output_attentions)  # (B, N, D)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (probabilities,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


# ---------------------------------------------------------------------------------------------------------------------
# 6. Model
# ---------------------------------------------------------------------------------------------------------------------


class ConvViTPreTrainedModel(PreTrainedModel):
    """Weight initialisation, the attention backends and the loading/saving glue shared by the ConvViT models.

    Building a model checks the config's architecture (`ConvViTConfig.check_architecture`).

    Example:
        >>> config = ConvViTConfig(image_size=32, stem_channels=[16], hidden_size=32, num_attention_heads=4)
        >>> config.num_attention_heads = 5
        >>> ConvViTModel(config)
        Traceback (most recent call last):
        ...
        ValueError: ConvViTConfig.num_attention_heads=5 is invalid: expected a divisor of hidden_size=32.
    """

    config_class = ConvViTConfig
    base_model_prefix = "conv_vit"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["ConvViTLayer"]
    _supports_sdpa = True

    def __init__(self, config: ConvViTConfig, *inputs, **kwargs):
        # The config accepts any well-typed value (as transformers configs do); whether the values make a model is
        # checked here, where the model is built, with an error naming the field and the allowed values.
        config.check_architecture()
        super().__init__(config, *inputs, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        """ViT initialisation: truncated normal for linear layers and embeddings, He normal for convolutions.

        Uses transformers' `initialization` helpers rather than timm's `trunc_normal_`: they skip tensors already
        filled from a checkpoint, so `from_pretrained` never overwrites loaded weights. A timm backbone keeps the
        initialisation timm gave it; only its BatchNorm statistics (state, not weights: mean 0, variance 1, no
        batches seen) are set here, so a model built on the meta device and then initialised has real statistics.
        """
        if getattr(module, "_conv_vit_keep_timm_init", False):
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
            return
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm2d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, ConvViTEmbeddings):
            if module.position_embeddings is not None:
                init.trunc_normal_(module.position_embeddings, std=std)
            if module.cls_token is not None:
                init.trunc_normal_(module.cls_token, std=std)


class ConvViTModel(ConvViTPreTrainedModel):
    """The bare CNN-stem ViT: stem → transformer encoder → final LayerNorm → pooled features (no head).

    `pooler_output` is the final-normalised [CLS] token (`pooling="cls"`) or the mean of all tokens
    (`pooling="mean"`); unlike transformers' `ViTModel` there is no extra dense+tanh pooler.

    Example:

        >>> import torch
        >>> from hf_seq2seq_vit import ConvViTConfig, ConvViTModel
        >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_hidden_layers=2,
        ...                        num_attention_heads=4)
        >>> outputs = ConvViTModel(config)(torch.randn(2, 3, 32, 32), output_attentions=True)
        >>> outputs.last_hidden_state.shape, outputs.pooler_output.shape, len(outputs.attentions)
        (torch.Size([2, 17, 32]), torch.Size([2, 32]), 2)
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__(config)
        self.embeddings = ConvViTEmbeddings(config)
        self.encoder = ConvViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.stem

    def pool(self, sequence_output: torch.Tensor) -> torch.Tensor:
        """`(B, N, D) → (B, D)`: the [CLS] token, or the mean over tokens."""
        if self.config.pooling == "cls":
            return sequence_output[:, 0]
        return sequence_output.mean(dim=1)

    def forward_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        """Image `(B, C, H, W)` → final-normalised tokens `(B, N, D)` before pooling, like timm's method."""
        return self(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding).last_hidden_state

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        r"""
        Args:
            pixel_values: `(B, C, H, W)` images, normalised as by :class:`ConvViTImageProcessor`.
            output_attentions: return every block's attention probabilities `(B, H, N, N)` (uses eager attention).
            output_hidden_states: return the embeddings and every block's output `(B, N, D)`.
            interpolate_pos_encoding: accept images of another size by resampling the position embeddings.
            return_dict: return a `BaseModelOutputWithPooling` (default) or a plain tuple.
        """
        if pixel_values is None:
            raise ValueError("ConvViTModel.forward needs pixel_values of shape (batch, channels, height, width).")
        if not pixel_values.is_floating_point():
            # raw 0-255 integers would go in un-normalised and give confident nonsense
            raise ValueError(
                f"pixel_values have dtype {pixel_values.dtype}, but the model expects rescaled and normalised floats; "
                "run the images through the model's image processor first (ConvViTImageProcessor / "
                "AutoImageProcessor.from_pretrained(...)(images, return_tensors='pt'))."
            )
        if pixel_values.device.type == "cpu" and not (torch.compiler.is_compiling() or torch.compiler.is_exporting()):
            if not bool(torch.isfinite(pixel_values).all()):
                # one NaN pixel spreads through the attention to every logit of its image
                raise ValueError(
                    "pixel_values contain NaN or infinite values; check the image files or the arrays passed to "
                    "the image processor (it refuses non-finite inputs)."
                )
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            self.config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )
        return_dict = self.config.return_dict if return_dict is None else return_dict
        # processors return float32; match the weights' dtype (e.g. bfloat16) here rather than in every caller
        pixel_values = pixel_values.to(self.embeddings.stem.projection.weight.dtype)

        embeddings = self.embeddings(pixel_values, interpolate_pos_encoding=bool(interpolate_pos_encoding))  # (B,N,D)
        encoder_outputs = self.encoder(embeddings, output_attentions, output_hidden_states)
        sequence_output = self.layernorm(encoder_outputs.last_hidden_state)  # (B, N, D)
        outputs = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self.pool(sequence_output),  # (B, D)
            hidden_states=encoder_outputs.hidden_states,
            attentions=encoder_outputs.attentions,
        )
        return outputs if return_dict else outputs.to_tuple()


# ---------------------------------------------------------------------------------------------------------------------
# 7. Classification head
# ---------------------------------------------------------------------------------------------------------------------


class ConvViTForImageClassification(ConvViTPreTrainedModel):
    """CNN-stem ViT with a linear classifier on the pooled features; cross-entropy loss when `labels` are given.

    Example:

        >>> import torch
        >>> from hf_seq2seq_vit import ConvViTConfig, ConvViTForImageClassification
        >>> config = ConvViTConfig(image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_hidden_layers=2,
        ...                        num_attention_heads=4, num_labels=10)
        >>> model = ConvViTForImageClassification(config)
        >>> outputs = model(torch.randn(4, 3, 32, 32), labels=torch.tensor([0, 1, 2, 3]))
        >>> outputs.logits.shape, outputs.loss.ndim
        (torch.Size([4, 10]), 0)
        >>> tokens = model.forward_features(torch.randn(4, 3, 32, 32))  # (4, 17, 32), as in timm
        >>> model.forward_head(tokens).shape
        torch.Size([4, 10])
    """

    def __init__(self, config: ConvViTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.conv_vit = ConvViTModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob)
        self.classifier = (
            nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        )
        self.post_init()

    def forward_features(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        """Image `(B, C, H, W)` → final-normalised tokens `(B, N, D)`."""
        return self.conv_vit.forward_features(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens `(B, N, D)` → logits `(B, num_labels)` (or the pooled `(B, D)` with `pre_logits=True`)."""
        pooled = self.dropout(self.conv_vit.pool(features))  # (B, D)
        return pooled if pre_logits else self.classifier(pooled)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        interpolate_pos_encoding: bool | None = None,
        return_dict: bool | None = None,
        **loss_kwargs,
    ) -> ImageClassifierOutput | tuple:
        r"""
        Args:
            pixel_values: `(B, C, H, W)` images.
            labels: `(B,)` class indices (cross-entropy), or floats for regression / multi-label, following
                `config.problem_type` as in every transformers classifier.
            output_attentions, output_hidden_states, interpolate_pos_encoding, return_dict: as in
                :meth:`ConvViTModel.forward`.
            loss_kwargs: passed to the loss (e.g. `num_items_in_batch` from the Trainer).
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.conv_vit(
            pixel_values,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            interpolate_pos_encoding=interpolate_pos_encoding,
            return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (B, num_labels)
        loss = None
        if labels is not None:
            if self.num_labels == 0:
                raise ValueError(
                    "labels were given but config.num_labels=0 (a feature extractor with no classifier); set "
                    "num_labels to the number of classes to train a head."
                )
            loss = self.loss_function(labels, logits, self.config, **loss_kwargs)
        result = ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return result if return_dict else result.to_tuple()


__all__ = ["ConvViTForImageClassification", "ConvViTModel", "ConvViTPreTrainedModel"]
