"""Image processor of the CNN-stem Vision Transformer: resize → center crop → rescale → normalize.

Declared on transformers' torchvision image-processing backend, as `ViTImageProcessor` is: the class attributes are
the defaults, and the backend does the batching, resizing, cropping, rescaling, normalising, saving and loading. What
is ours is how one raw image becomes a `(C, H, W)` tensor (`process_image`), so that every input is read at its
real scale or refused with a clear error:

- 16-bit images (PIL `I;16` PNGs, `uint16` arrays and tensors) are mapped onto the 0–255 scale of 8-bit images
  instead of saturating to white; NaN or infinite pixels are refused;
- grayscale and RGBA inputs become RGB (alpha dropped) only with `do_convert_rgb`; other channel counts are refused;
- the channel axis of arrays and tensors is found or asked for (`input_data_format`);
- a file path that does not exist says so.

Two choices of the earlier hand-written processor are kept so that trained models see the same pixels: the shorter
side is rounded (not truncated) in `{"shortest_edge": s}` resizes, and bicubic resizing stays within the input's
value range, as PIL does.

This file is copied next to the weights by `save_pretrained` (remote code), so it imports only numpy, PIL, torch and
transformers.
"""

import base64
import binascii
import io
import os
from typing import Any

import numpy as np
import torch
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_processing_base import BatchFeature
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import ImagesKwargs
from transformers.utils import logging

logger = logging.get_logger(__name__)

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

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

# PIL resampling codes the backend resizes with (0 nearest, 2 bilinear, 3 bicubic); names accepted at construction.
RESAMPLE_NAMES = {"nearest": 0, "bilinear": 2, "bicubic": 3}
# PIL modes holding more than 8 bits per pixel; a 16-bit PNG opens as "I;16" (or "I" with older Pillow).
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
UINT16_TO_UINT8_SCALE = 255 / 65535


class ConvViTImageProcessorKwargs(ImagesKwargs, total=False):
    """The backend's image arguments plus `num_channels`, the channel count the model expects.

    Example:
        >>> sorted(set(ConvViTImageProcessorKwargs.__annotations__) & {"num_channels", "size", "image_mean"})
        ['image_mean', 'num_channels', 'size']
    """

    num_channels: int


class ConvViTImageProcessor(TorchvisionBackend):
    """Prepares images for :class:`ConvViTForImageClassification`.

    Steps, each switchable: convert to RGB (grayscale → 3 channels, alpha dropped), resize (to `height × width`,
    or the shorter side to `shortest_edge`), center crop, rescale (`× 1/255`), normalize with `image_mean` /
    `image_std`. Images may be PIL images, numpy arrays, torch tensors or file paths, channels first or last, one at a
    time, as a list, or as a 4-D batch. Returns a `BatchFeature` with `pixel_values` `(B, C, H, W)`.

    Args:
        do_resize, size, resample: resize, to `size` (an int, `(height, width)`, `{"height", "width"}` or
            `{"shortest_edge"}`), with `resample` a PIL code (0 nearest, 2 bilinear, 3 bicubic).
        do_center_crop, crop_size: crop the center `crop_size` (zero-padded when the image is smaller).
        do_rescale, rescale_factor: multiply by `rescale_factor` (`1/255` maps 8-bit values to [0, 1]; 16-bit
            images are first brought to the 8-bit scale).
        do_normalize, image_mean, image_std: subtract the mean and divide by the std, per channel.
        do_convert_rgb: convert grayscale / RGBA inputs to 3 channels instead of rejecting them.
        num_channels: number of channels the model expects; other counts raise `ValueError`.

    Example:

        >>> from PIL import Image
        >>> from hf_seq2seq_vit import ConvViTImageProcessor
        >>> processor = ConvViTImageProcessor.from_preset("cifar10")
        >>> processor(Image.new("RGB", (40, 30)), return_tensors="pt")["pixel_values"].shape
        torch.Size([1, 3, 32, 32])
    """

    valid_kwargs = ConvViTImageProcessorKwargs
    model_input_names = ["pixel_values"]

    do_resize = True
    size = {"height": 224, "width": 224}
    resample = PILImageResampling.BILINEAR
    do_center_crop = False
    crop_size = {"height": 224, "width": 224}
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_convert_rgb = True
    num_channels = 3

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "ConvViTImageProcessor":
        """The processor matching a :meth:`ConvViTConfig.from_preset` preset (`"cifar10"` or `"imagenet"`)."""
        if name not in PROCESSOR_PRESETS:
            raise ValueError(f"Unknown ConvViTImageProcessor preset {name!r}; available: {sorted(PROCESSOR_PRESETS)}.")
        return cls(**{**PROCESSOR_PRESETS[name], **overrides})

    # ----------------------------------------------------------------------------------------------------------------
    # settings: checked where the backend standardises them (at construction and for every call's overrides)
    # ----------------------------------------------------------------------------------------------------------------
    def _standardize_kwargs(self, **kwargs: Any) -> dict:
        return super()._standardize_kwargs(**_checked_settings(kwargs))

    # ----------------------------------------------------------------------------------------------------------------
    # inputs: one image, a list, a 4-D batch, or file paths → a flat list of single images
    # ----------------------------------------------------------------------------------------------------------------
    def _prepare_images_structure(self, images: Any, expected_ndims: int = 3) -> list[Any]:
        if images is None:
            raise ValueError("ConvViTImageProcessor got images=None; pass a PIL image, numpy array or torch tensor.")
        if isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
            images = list(images)
        elif not isinstance(images, (list, tuple)):
            images = [images]
        if len(images) == 0:
            raise ValueError("ConvViTImageProcessor got an empty list of images.")
        images = [load_image_file(image) if isinstance(image, (str, os.PathLike)) else image for image in images]
        for index, image in enumerate(images):
            if not _is_image(image):
                raise ValueError(
                    f"Image {index} has type {type(image).__name__}; expected a PIL.Image.Image, a numpy array, a "
                    "torch tensor or the path of an image file."
                )
        return images

    def fetch_images(self, image_url_or_urls: Any) -> Any:
        """Paths and URLs → images, with a clear error for a file that does not exist."""
        if isinstance(image_url_or_urls, (list, tuple)):
            return [self.fetch_images(item) for item in image_url_or_urls]
        if isinstance(image_url_or_urls, (str, os.PathLike)):
            return load_image_file(image_url_or_urls)
        return image_url_or_urls

    def process_image(
        self,
        image: Any,
        do_convert_rgb: bool | None = None,
        input_data_format: str | None = None,
        device: torch.device | str | None = None,
        num_channels: int | None = None,
        do_rescale: bool | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """One raw image → float32 `(C, H, W)` on the 0–255 scale of 8-bit images (floats: as given)."""
        expected = self.num_channels if num_channels is None else num_channels
        convert_rgb = bool(self.do_convert_rgb if do_convert_rgb is None else do_convert_rgb) and expected == 3
        if _is_pil(image):
            array = _pil_to_array(image, convert_rgb)  # (H, W) or (H, W, C)
            pixels, layout = torch.from_numpy(array).to(torch.float32), "channels_last"
        else:
            pixels, layout = _tensor_on_8_bit_scale(image), input_data_format
        if pixels.ndim == 2:
            pixels, layout = pixels[None], "channels_first"  # (1, H, W): a grayscale image
        elif pixels.ndim != 3:
            raise ValueError(
                f"Image has shape {tuple(pixels.shape)}; expected (height, width), (channels, height, width) or "
                "(height, width, channels)."
            )
        if pixels.numel() == 0:
            raise ValueError(f"Image is empty: shape {tuple(pixels.shape)}.")
        is_float_input = not _is_pil(image) and _dtype_is_floating(image)
        if is_float_input and not torch.isfinite(pixels).all():
            bad = int((~torch.isfinite(pixels)).sum())
            raise ValueError(
                f"Image has {bad} NaN or infinite pixel values (shape {tuple(pixels.shape)}); replace or drop them "
                "before processing: the model would return NaN."
            )
        layout = _infer_layout(tuple(pixels.shape)) if layout is None else str(getattr(layout, "value", layout))
        if layout == "channels_last":
            pixels = pixels.permute(2, 0, 1)
        elif layout != "channels_first":
            raise ValueError(f"input_data_format={input_data_format!r}: expected 'channels_first' or 'channels_last'.")

        channels = pixels.shape[0]
        if channels != expected and convert_rgb and channels in (1, 4):
            pixels = pixels.expand(3, -1, -1) if channels == 1 else pixels[:3]  # grayscale → RGB; RGBA → RGB
            channels = 3
        if channels != expected:
            raise ValueError(
                f"Image has {channels} channels but the processor expects num_channels={expected} "
                f"(image shape {tuple(pixels.shape)}); grayscale and RGBA images are converted only with "
                "do_convert_rgb=True."
            )
        rescale = self.do_rescale if do_rescale is None else do_rescale
        if rescale and is_float_input and pixels.max() <= 1.0:
            logger.warning_once(
                "ConvViTImageProcessor: the image is floating point with values in [0, 1] and do_rescale=True, so it "
                "will be divided by 255 again; pass do_rescale=False for already rescaled images."
            )
        pixels = pixels.contiguous()
        return pixels if device is None else pixels.to(device)

    # ----------------------------------------------------------------------------------------------------------------
    # the two resize choices kept from the earlier processor, and one error for batches that cannot be stacked
    # ----------------------------------------------------------------------------------------------------------------
    def resize(self, image: torch.Tensor, size: SizeDict, resample: Any = None, **kwargs: Any) -> torch.Tensor:
        if size.shortest_edge and not size.longest_edge:
            height, width = image.shape[-2:]
            scale = size.shortest_edge / min(height, width)
            size = SizeDict(height=max(1, round(height * scale)), width=max(1, round(width * scale)))
        resized = super().resize(image, size, resample=resample, **kwargs)
        # bicubic overshoots; stay within each image's value range as PIL does
        low = image.amin(dim=(-3, -2, -1), keepdim=True)
        high = image.amax(dim=(-3, -2, -1), keepdim=True)
        return torch.clamp(resized, low, high)

    def _preprocess(self, images: list[torch.Tensor], return_tensors: str | None = None, **kwargs: Any) -> BatchFeature:
        pixel_values = super()._preprocess(images, return_tensors=None, **kwargs)["pixel_values"]
        shapes = {tuple(image.shape) for image in pixel_values}
        if return_tensors is not None and len(shapes) > 1:
            raise ValueError(
                f"Processed images have different shapes {sorted(shapes)} and cannot be stacked; enable do_resize "
                "with a fixed {'height', 'width'} size or do_center_crop."
            )
        return BatchFeature(data={"pixel_values": pixel_values}, tensor_type=return_tensors)


# ---------------------------------------------------------------------------------------------------------------------
# helpers: settings, files, and raw images → tensors
# ---------------------------------------------------------------------------------------------------------------------


def _size_dict(value: Any, field: str, allow_shortest_edge: bool) -> dict[str, int]:
    """`32`, `(32, 48)`, `{"height": 32, "width": 48}` or `{"shortest_edge": 32}` → a dict, or ValueError."""
    if isinstance(value, SizeDict):
        value = dict(value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value}
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        value = {"height": value[0], "width": value[1]}
    allowed = "an int, (height, width), {'height': h, 'width': w}" + (
        " or {'shortest_edge': s}" if allow_shortest_edge else ""
    )
    if not isinstance(value, dict) or set(value) not in (
        {"height", "width"},
        {"shortest_edge"} if allow_shortest_edge else {"height", "width"},
    ):
        raise ValueError(f"ConvViTImageProcessor.{field}={value!r} is invalid: expected {allowed}.")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value.values()):
        raise ValueError(f"ConvViTImageProcessor.{field}={value!r} is invalid: sizes must be positive integers.")
    return dict(value)


def _checked_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Check the processor's settings (`None` = unset), naming the field and what it accepts; normalise them."""
    settings = dict(settings)
    channels = settings.get("num_channels")
    if channels is not None and (not isinstance(channels, int) or isinstance(channels, bool) or channels <= 0):
        raise ValueError(f"ConvViTImageProcessor.num_channels={channels!r} is invalid: expected a positive int.")
    channels = channels or ConvViTImageProcessor.num_channels
    if settings.get("size") is not None:
        settings["size"] = _size_dict(settings["size"], "size", allow_shortest_edge=True)
    if settings.get("crop_size") is not None:
        settings["crop_size"] = _size_dict(settings["crop_size"], "crop_size", allow_shortest_edge=False)
    resample = settings.get("resample")
    if resample is not None:
        resample = RESAMPLE_NAMES.get(resample, resample) if isinstance(resample, str) else resample
        if isinstance(resample, bool) or resample not in RESAMPLE_NAMES.values():
            raise ValueError(
                f"ConvViTImageProcessor.resample={settings['resample']!r} is invalid: expected one of "
                f"{sorted(RESAMPLE_NAMES.values())} (PIL codes) or {list(RESAMPLE_NAMES)}."
            )
        settings["resample"] = resample
    for field in ("image_mean", "image_std"):
        value = settings.get(field)
        if value is None:
            continue
        values = [value] * channels if isinstance(value, (int, float)) else list(value)
        if len(values) != channels or not all(isinstance(v, (int, float)) for v in values):
            raise ValueError(
                f"ConvViTImageProcessor.{field}={value!r} is invalid: expected {channels} numbers (num_channels)."
            )
        if field == "image_std" and any(v <= 0 for v in values):
            raise ValueError(f"ConvViTImageProcessor.image_std={value!r} is invalid: values must be positive.")
        settings[field] = values
    factor = settings.get("rescale_factor")
    if factor is not None and (not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 0):
        raise ValueError(f"ConvViTImageProcessor.rescale_factor={factor!r} is invalid: expected a positive number.")
    return settings


def load_image_file(path: str | os.PathLike) -> Any:
    """An image file (or http(s) URL, or base64 string) → PIL image, keeping its bit depth; clear errors otherwise.

    Example:

        >>> load_image_file("no/such/cat.png")
        Traceback (most recent call last):
        ...
        FileNotFoundError: Image file 'no/such/cat.png' does not exist ...
    """
    from PIL import Image, ImageOps

    text = os.fspath(path)
    if text.startswith(("http://", "https://", "data:image/")):
        from transformers.image_utils import load_image

        return load_image(text)  # the transformers loader (network, data URIs), which converts to RGB
    if os.path.isdir(text):
        raise IsADirectoryError(f"Image path {text!r} is a folder; pass the path of an image file.")
    if os.path.isfile(text):
        try:
            image = Image.open(text)
            image.load()
        except Exception as error:
            raise ValueError(f"Image file {text!r} could not be read as an image: {error}") from error
        return ImageOps.exif_transpose(image)
    try:  # not a file: a base64-encoded image is the one other thing a string may be
        return Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError, OSError):
        pass
    raise FileNotFoundError(
        f"Image file {text!r} does not exist (looked for {os.path.abspath(text)!r}); pass the path of an existing "
        "image file, an http(s) URL, or a PIL image / numpy array / torch tensor."
    )


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with transformers' vision extras
        return False
    return isinstance(value, Image.Image)


def _is_image(value: Any) -> bool:
    return _is_pil(value) or isinstance(value, (np.ndarray, torch.Tensor))


def _dtype_is_floating(image: np.ndarray | torch.Tensor) -> bool:
    return image.is_floating_point() if isinstance(image, torch.Tensor) else np.issubdtype(image.dtype, np.floating)


def _pil_to_array(image: Any, convert_rgb: bool) -> np.ndarray:
    """PIL image → array on the 8-bit scale: 16-bit modes are scaled down instead of clipped, others kept or RGB."""
    if image.mode in SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.float32) * np.float32(UINT16_TO_UINT8_SCALE)
    if image.mode == "I":  # 32-bit integers: older Pillow opens 16-bit PNGs this way
        array = np.asarray(image)
        if array.min() < 0 or array.max() > 65535:
            raise ValueError(
                f"Image of PIL mode 'I' has values in [{array.min()}, {array.max()}]; expected 8-bit [0, 255] or "
                "16-bit [0, 65535] pixel values."
            )
        return array.astype(np.float32) * np.float32(UINT16_TO_UINT8_SCALE if array.max() > 255 else 1.0)
    if image.mode == "F":  # 32-bit floats: taken as values on the 8-bit scale, like mode "L"
        return np.asarray(image, dtype=np.float32)
    if convert_rgb and image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image)


def _tensor_on_8_bit_scale(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """numpy array or tensor → float32 tensor; 16-bit unsigned values are mapped onto [0, 255]."""
    dtype = image.dtype
    if isinstance(image, np.ndarray):
        if dtype == np.uint16:
            return torch.from_numpy(image.astype(np.float32) * np.float32(UINT16_TO_UINT8_SCALE))
        if dtype.kind not in "uif" or dtype in (np.uint32, np.uint64):
            raise ValueError(
                f"Image has dtype {dtype}; expected uint8, uint16, a signed integer type or floating point pixel "
                "values."
            )
        image = torch.from_numpy(np.require(image, requirements=["C", "W"]))  # a copy only when needed
    tensor = image.detach().cpu()
    if tensor.dtype == torch.uint16:
        return tensor.to(torch.float32) * UINT16_TO_UINT8_SCALE
    if tensor.dtype in (torch.bool, torch.uint32, torch.uint64) or tensor.is_complex():
        raise ValueError(
            f"Image has dtype {tensor.dtype}; expected uint8, uint16, a signed integer type or floating point pixel "
            "values."
        )
    return tensor.to(torch.float32)


def _infer_layout(shape: tuple[int, int, int]) -> str:
    """Channels first or last for an array without `input_data_format`: the axis that looks like channels."""
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


__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "ConvViTImageProcessor",
]
