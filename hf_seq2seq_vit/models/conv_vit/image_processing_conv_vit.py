"""Image processor of the CNN-stem Vision Transformer: resize → center crop → rescale → normalize.

The settings (size, crop, mean/std, ...) are saved in ``preprocessor_config.json`` by ``save_pretrained``. Images may
be PIL images, numpy arrays or torch tensors, channels first or last, one at a time, as a list, or as a 4-D batch.
The work is done with torch (``interpolate`` with antialiasing), the same code path for every input type.

This file is copied next to the weights by ``save_pretrained`` (remote code), so it imports only numpy, PIL, torch and
transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.utils import logging

logger = logging.get_logger(__name__)

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# PIL's resampling codes (what transformers stores in `resample`) → torch interpolation modes.
RESAMPLE_MODES = {0: "nearest", 2: "bilinear", 3: "bicubic", "nearest": "nearest", "bilinear": "bilinear",
                  "bicubic": "bicubic"}

PROCESSOR_PRESETS: dict[str, dict[str, Any]] = {
    "cifar10": {"size": {"height": 32, "width": 32}, "image_mean": CIFAR10_MEAN, "image_std": CIFAR10_STD},
    # the usual ImageNet evaluation transform: shorter side to 256, center crop 224
    "imagenet": {
        "size": {"shortest_edge": 256},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224},
        "image_mean": IMAGENET_DEFAULT_MEAN,
        "image_std": IMAGENET_DEFAULT_STD,
    },
}


def _size_dict(value: int | Sequence[int] | dict[str, int] | None, field: str, allow_shortest_edge: bool) -> dict:
    """Normalise ``32``, ``(32, 48)``, ``{"height": 32, "width": 48}`` or ``{"shortest_edge": 32}`` to a dict."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value}
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        value = {"height": value[0], "width": value[1]}
    allowed = "an int, (height, width), {'height': h, 'width': w}" + (
        " or {'shortest_edge': s}" if allow_shortest_edge else ""
    )
    if not isinstance(value, dict):
        raise ValueError(f"ConvViTImageProcessor.{field}={value!r} is invalid: expected {allowed}.")
    keys = set(value)
    if keys not in ({"height", "width"}, {"shortest_edge"} if allow_shortest_edge else {"height", "width"}):
        raise ValueError(f"ConvViTImageProcessor.{field}={value!r} is invalid: expected {allowed}.")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
        raise ValueError(f"ConvViTImageProcessor.{field}={value!r} is invalid: sizes must be positive integers.")
    return dict(value)


class ConvViTImageProcessor(BaseImageProcessor):
    """Prepares images for :class:`ConvViTForImageClassification`.

    Steps, each switchable: convert to RGB (grayscale → 3 channels, alpha dropped), resize (to ``height × width``,
    or the shorter side to ``shortest_edge``), center crop, rescale (``× 1/255``), normalize with ``image_mean`` /
    ``image_std``. Returns a ``BatchFeature`` with ``pixel_values`` ``(B, C, H, W)``.

    Args:
        do_resize, size, resample: resize, to ``size`` (an int, ``{"height", "width"}`` or ``{"shortest_edge"}``),
            with ``resample`` a PIL code (0 nearest, 2 bilinear, 3 bicubic) or the mode's name.
        do_center_crop, crop_size: crop the center ``crop_size`` (zero-padded when the image is smaller).
        do_rescale, rescale_factor: multiply by ``rescale_factor`` (``1/255`` maps uint8 to [0, 1]).
        do_normalize, image_mean, image_std: subtract the mean and divide by the std, per channel.
        do_convert_rgb: convert grayscale / RGBA inputs to 3 channels instead of rejecting them.
        num_channels: number of channels the model expects; other counts raise ``ValueError``.

    Example::

        >>> from PIL import Image
        >>> from hf_seq2seq_vit import ConvViTImageProcessor
        >>> processor = ConvViTImageProcessor.from_preset("cifar10")
        >>> processor(Image.new("RGB", (40, 30)), return_tensors="pt")["pixel_values"].shape
        torch.Size([1, 3, 32, 32])
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        do_resize: bool = True,
        size: int | Sequence[int] | dict[str, int] | None = None,
        resample: int | str = 2,
        do_center_crop: bool = False,
        crop_size: int | Sequence[int] | dict[str, int] | None = None,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_convert_rgb: bool = True,
        num_channels: int = 3,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.do_resize = do_resize
        self.size = _size_dict(size if size is not None else 224, "size", allow_shortest_edge=True)
        self.resample = resample
        self.do_center_crop = do_center_crop
        self.crop_size = _size_dict(crop_size if crop_size is not None else 224, "crop_size", allow_shortest_edge=False)
        self.do_rescale = do_rescale
        self.rescale_factor = rescale_factor
        self.do_normalize = do_normalize
        self.image_mean = list(image_mean) if image_mean is not None else list(IMAGENET_DEFAULT_MEAN)
        self.image_std = list(image_std) if image_std is not None else list(IMAGENET_DEFAULT_STD)
        self.do_convert_rgb = do_convert_rgb
        self.num_channels = num_channels
        self._check_settings(self.__dict__)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ConvViTImageProcessor:
        """The processor matching a :meth:`ConvViTConfig.from_preset` preset (``"cifar10"`` or ``"imagenet"``)."""
        if name not in PROCESSOR_PRESETS:
            raise ValueError(f"Unknown ConvViTImageProcessor preset {name!r}; available: {sorted(PROCESSOR_PRESETS)}.")
        return cls(**{**PROCESSOR_PRESETS[name], **overrides})

    # ----------------------------------------------------------------------------------------------------------------
    def preprocess(
        self,
        images: Any,
        do_resize: bool | None = None,
        size: int | Sequence[int] | dict[str, int] | None = None,
        resample: int | str | None = None,
        do_center_crop: bool | None = None,
        crop_size: int | Sequence[int] | dict[str, int] | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_normalize: bool | None = None,
        image_mean: float | Sequence[float] | None = None,
        image_std: float | Sequence[float] | None = None,
        do_convert_rgb: bool | None = None,
        input_data_format: str | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """Process one image or a batch; arguments left as ``None`` use the processor's settings.

        ``input_data_format`` (``"channels_first"`` / ``"channels_last"``) overrides the layout inferred for arrays
        and tensors. ``return_tensors="pt"`` (or ``"np"``) stacks the batch; ``None`` returns a list of arrays.
        """
        settings = {
            "do_resize": do_resize,
            "size": _size_dict(size, "size", True) if size is not None else None,
            "resample": resample,
            "do_center_crop": do_center_crop,
            "crop_size": _size_dict(crop_size, "crop_size", False) if crop_size is not None else None,
            "do_rescale": do_rescale,
            "rescale_factor": rescale_factor,
            "do_normalize": do_normalize,
            "image_mean": image_mean,
            "image_std": image_std,
            "do_convert_rgb": do_convert_rgb,
        }
        settings = {key: getattr(self, key) if value is None else value for key, value in settings.items()}
        settings["num_channels"] = self.num_channels
        self._check_settings(settings)
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors={return_tensors!r} is not supported: use 'pt', 'np' or None.")

        processed = [self._process_one(image, settings, input_data_format) for image in self._as_list(images)]
        if return_tensors is None:
            return BatchFeature(data={"pixel_values": [image.numpy() for image in processed]})
        shapes = {tuple(image.shape) for image in processed}
        if len(shapes) > 1:
            raise ValueError(
                f"Processed images have different shapes {sorted(shapes)} and cannot be stacked; enable do_resize "
                "with a fixed {'height', 'width'} size or do_center_crop."
            )
        pixel_values = torch.stack(processed)  # (B, C, H, W)
        if return_tensors == "np":
            pixel_values = pixel_values.numpy()
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)

    # ----------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _check_settings(settings: dict[str, Any]) -> None:
        channels = settings["num_channels"]
        if not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0:
            raise ValueError(f"ConvViTImageProcessor.num_channels={channels!r} is invalid: expected a positive int.")
        if settings["resample"] not in RESAMPLE_MODES:
            raise ValueError(
                f"ConvViTImageProcessor.resample={settings['resample']!r} is invalid: expected one of "
                f"{list(RESAMPLE_MODES)}."
            )
        for field in ("image_mean", "image_std"):
            value = settings[field]
            values = [value] * channels if isinstance(value, (int, float)) else list(value)
            if len(values) != channels or not all(isinstance(v, (int, float)) for v in values):
                raise ValueError(
                    f"ConvViTImageProcessor.{field}={value!r} is invalid: expected {channels} numbers (num_channels)."
                )
            if field == "image_std" and any(v <= 0 for v in values):
                raise ValueError(f"ConvViTImageProcessor.image_std={value!r} is invalid: values must be positive.")
        factor = settings["rescale_factor"]
        if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 0:
            raise ValueError(f"ConvViTImageProcessor.rescale_factor={factor!r} is invalid: expected a positive number.")

    @staticmethod
    def _is_image(value: Any) -> bool:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - PIL comes with transformers' vision extras
            return isinstance(value, (np.ndarray, torch.Tensor))
        return isinstance(value, (Image.Image, np.ndarray, torch.Tensor))

    def _as_list(self, images: Any) -> list[Any]:
        """One image, a list/tuple of images, or a 4-D batch → a list of single images."""
        if images is None:
            raise ValueError("ConvViTImageProcessor got images=None; pass a PIL image, numpy array or torch tensor.")
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            images = list(images)
        elif not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            raise ValueError("ConvViTImageProcessor got an empty list of images.")
        for index, image in enumerate(images):
            if not self._is_image(image):
                raise ValueError(
                    f"Image {index} has type {type(image).__name__}; expected a PIL.Image.Image, a numpy array or a "
                    "torch tensor (load files or URLs with PIL.Image.open first)."
                )
        return images

    def _process_one(self, image: Any, settings: dict[str, Any], input_data_format: str | None) -> torch.Tensor:
        pixels = self._to_channels_first(image, settings, input_data_format)  # (C, H, W) float32
        if settings["do_resize"]:
            pixels = self._resize(pixels, settings["size"], RESAMPLE_MODES[settings["resample"]])
        if settings["do_center_crop"]:
            pixels = self._center_crop(pixels, settings["crop_size"])
        if settings["do_rescale"]:
            pixels = pixels * settings["rescale_factor"]
        if settings["do_normalize"]:
            channels = pixels.shape[0]
            mean, std = settings["image_mean"], settings["image_std"]
            mean = torch.tensor([mean] * channels if isinstance(mean, (int, float)) else list(mean))
            std = torch.tensor([std] * channels if isinstance(std, (int, float)) else list(std))
            pixels = (pixels - mean[:, None, None]) / std[:, None, None]
        return pixels.contiguous()

    def _to_channels_first(self, image: Any, settings: dict[str, Any], input_data_format: str | None) -> torch.Tensor:
        """Any supported image → float32 ``(C, H, W)`` with ``num_channels`` channels, values in the input's range."""
        expected = settings["num_channels"]
        is_pil = not isinstance(image, (np.ndarray, torch.Tensor))
        if is_pil:
            if settings["do_convert_rgb"] and expected == 3 and image.mode != "RGB":
                image = image.convert("RGB")
            array = torch.from_numpy(np.array(image))  # (H, W) or (H, W, C)
            layout = "channels_last"
        else:
            array = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.asarray(image))
            layout = input_data_format
        array = array.detach().cpu()
        if array.dtype in (torch.bool, torch.complex64, torch.complex128) or not (
            array.dtype.is_floating_point or array.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32,
                                                             torch.int64)
        ):
            raise ValueError(f"Image has dtype {array.dtype}; expected integer or floating point pixel values.")
        if array.ndim == 2:
            array = array[None]  # (1, H, W): a grayscale image
            layout = "channels_first"
        elif array.ndim != 3:
            raise ValueError(
                f"Image has shape {tuple(array.shape)}; expected (height, width), (channels, height, width) or "
                "(height, width, channels)."
            )
        if array.numel() == 0:
            raise ValueError(f"Image is empty: shape {tuple(array.shape)}.")
        if layout is None:
            layout = self._infer_layout(tuple(array.shape))
        if str(layout) in ("channels_last", "ChannelDimension.LAST"):
            array = array.permute(2, 0, 1)
        elif str(layout) not in ("channels_first", "ChannelDimension.FIRST"):
            raise ValueError(f"input_data_format={input_data_format!r}: expected 'channels_first' or 'channels_last'.")
        channels = array.shape[0]

        if channels != expected and settings["do_convert_rgb"] and expected == 3 and channels in (1, 4):
            array = array.expand(3, -1, -1) if channels == 1 else array[:3]  # grayscale → RGB; RGBA → RGB
            channels = 3
        if channels != expected:
            raise ValueError(
                f"Image has {channels} channels but the processor expects num_channels={expected} "
                f"(image shape {tuple(image.shape) if hasattr(image, 'shape') else image.size}); "
                "grayscale and RGBA images are converted only with do_convert_rgb=True."
            )
        pixels = array.to(torch.float32)
        if settings["do_rescale"] and array.dtype.is_floating_point and pixels.numel() and pixels.max() <= 1.0:
            logger.warning_once(
                "ConvViTImageProcessor: the image is floating point with values in [0, 1] and do_rescale=True, so it "
                "will be divided by 255 again; pass do_rescale=False for already rescaled images."
            )
        return pixels

    @staticmethod
    def _infer_layout(shape: tuple[int, int, int]) -> str:
        """Channels first or last for an array without ``input_data_format``: the axis that looks like channels."""
        first, last = shape[0] <= 4, shape[-1] <= 4
        if first and not last:
            return "channels_first"
        if last and not first:
            return "channels_last"
        if first and last:  # a tiny image, e.g. (3, 4, 4): follow torch's convention
            return "channels_first"
        raise ValueError(
            f"Cannot tell the channel axis of an image with shape {shape}: neither the first nor the last axis "
            "looks like 1-4 channels. Pass input_data_format='channels_first' or 'channels_last'."
        )

    @staticmethod
    def _resize(pixels: torch.Tensor, size: dict[str, int], mode: str) -> torch.Tensor:
        height, width = pixels.shape[-2:]
        if "shortest_edge" in size:
            scale = size["shortest_edge"] / min(height, width)
            target = (max(1, round(height * scale)), max(1, round(width * scale)))
        else:
            target = (size["height"], size["width"])
        if target == (height, width):
            return pixels
        low, high = pixels.min(), pixels.max()
        options = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
        resized = torch.nn.functional.interpolate(pixels[None], size=target, mode=mode, **options)[0]
        # bicubic overshoots; stay within the input's value range as PIL does
        return resized.clamp(low, high)

    @staticmethod
    def _center_crop(pixels: torch.Tensor, crop_size: dict[str, int]) -> torch.Tensor:
        crop_height, crop_width = crop_size["height"], crop_size["width"]
        height, width = pixels.shape[-2:]
        pad_height, pad_width = max(crop_height - height, 0), max(crop_width - width, 0)
        if pad_height or pad_width:  # smaller than the crop: pad with zeros around, as torchvision does
            pixels = torch.nn.functional.pad(
                pixels, (pad_width // 2, pad_width - pad_width // 2, pad_height // 2, pad_height - pad_height // 2)
            )
            height, width = pixels.shape[-2:]
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
        return pixels[:, top : top + crop_height, left : left + crop_width]


__all__ = ["ConvViTImageProcessor", "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_DEFAULT_MEAN", "IMAGENET_DEFAULT_STD"]
