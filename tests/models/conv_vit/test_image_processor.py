"""ConvViTImageProcessor: the arithmetic of each step, input types and layouts, save/load, and clear errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from hf_seq2seq_vit import ConvViTImageProcessor
from hf_seq2seq_vit.models.conv_vit import CIFAR10_MEAN, CIFAR10_STD


@pytest.fixture(scope="module")
def rgb_array() -> np.ndarray:
    """A 32×32 RGB uint8 image (H, W, C) with structure in every channel."""
    return np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)


def test_constant_image_is_rescaled_and_normalised_per_channel():
    processor = ConvViTImageProcessor(size=32, image_mean=[0.5, 0.25, 0.0], image_std=[0.5, 0.25, 1.0])
    image = Image.new("RGB", (32, 32), color=(255, 51, 0))
    pixel_values = processor(image, return_tensors="pt")["pixel_values"]
    assert pixel_values.shape == (1, 3, 32, 32) and pixel_values.dtype == torch.float32
    expected = torch.tensor([(1.0 - 0.5) / 0.5, (0.2 - 0.25) / 0.25, 0.0])
    assert torch.allclose(pixel_values[0, :, 5, 7], expected, atol=1e-6)


def test_pil_numpy_and_torch_inputs_give_the_same_pixels(rgb_array):
    processor = ConvViTImageProcessor.from_preset("cifar10")
    reference = processor(Image.fromarray(rgb_array), return_tensors="pt")["pixel_values"]
    variants = [
        rgb_array,  # (H, W, C) uint8
        rgb_array.transpose(2, 0, 1),  # (C, H, W) uint8
        torch.from_numpy(rgb_array).permute(2, 0, 1),  # (C, H, W) uint8 tensor
        torch.from_numpy(rgb_array).float(),  # (H, W, C) float tensor in [0, 255]
    ]
    for variant in variants:
        assert torch.allclose(processor(variant, return_tensors="pt")["pixel_values"], reference, atol=1e-6)
    already_rescaled = torch.from_numpy(rgb_array).permute(2, 0, 1).float() / 255
    out = processor(already_rescaled, do_rescale=False, return_tensors="pt")["pixel_values"]
    assert torch.allclose(out, reference, atol=1e-5)


def test_batches_lists_and_4d_arrays(rgb_array):
    processor = ConvViTImageProcessor.from_preset("cifar10")
    batch = np.stack([rgb_array, rgb_array[::-1]])  # (2, H, W, C)
    from_array = processor(batch, return_tensors="pt")["pixel_values"]
    from_list = processor([Image.fromarray(rgb_array), Image.fromarray(rgb_array[::-1].copy())], return_tensors="pt")
    assert from_array.shape == (2, 3, 32, 32)
    assert torch.allclose(from_array, from_list["pixel_values"], atol=1e-6)
    as_numpy = processor(batch, return_tensors="np")["pixel_values"]
    assert isinstance(as_numpy, np.ndarray) and np.allclose(as_numpy, from_array.numpy())
    unstacked = processor(batch)["pixel_values"]  # no return_tensors: a list of arrays
    assert isinstance(unstacked, list) and len(unstacked) == 2 and unstacked[0].shape == (3, 32, 32)


def test_resize_to_fixed_size_and_shortest_edge_then_center_crop():
    image = Image.new("RGB", (60, 40))  # width 60, height 40
    assert ConvViTImageProcessor(size=32)(image, return_tensors="pt")["pixel_values"].shape == (1, 3, 32, 32)
    processor = ConvViTImageProcessor(size={"shortest_edge": 20}, do_center_crop=True, crop_size=16)
    assert processor(image, return_tensors="pt")["pixel_values"].shape == (1, 3, 16, 16)
    no_crop = ConvViTImageProcessor(size={"shortest_edge": 20})
    assert no_crop(image, return_tensors="pt")["pixel_values"].shape == (1, 3, 20, 30)  # aspect ratio kept


def test_center_crop_keeps_the_middle():
    array = np.zeros((32, 48, 3), dtype=np.uint8)
    array[:, :8] = 255  # bright borders left and right, dark middle 32 columns
    array[:, 40:] = 255
    processor = ConvViTImageProcessor(do_resize=False, do_center_crop=True, crop_size=32, do_normalize=False)
    cropped = processor(array, return_tensors="pt")["pixel_values"]
    assert cropped.shape == (1, 3, 32, 32)
    assert torch.count_nonzero(cropped) == 0


def test_resize_is_smooth_and_stays_in_range(rgb_array):
    processor = ConvViTImageProcessor(size=64, resample=3, do_normalize=False)  # bicubic upsampling
    up = processor(rgb_array, return_tensors="pt")["pixel_values"]
    assert up.shape == (1, 3, 64, 64)
    assert up.min() >= 0.0 and up.max() <= 1.0  # no bicubic overshoot
    constant = processor(np.full((32, 32, 3), 128, dtype=np.uint8), return_tensors="pt")["pixel_values"]
    assert torch.allclose(constant, torch.full_like(constant, 128 / 255), atol=1e-6)


def test_grayscale_and_rgba_are_converted_to_rgb():
    processor = ConvViTImageProcessor(size=32, do_normalize=False)
    gray = processor(Image.new("L", (32, 32), color=100), return_tensors="pt")["pixel_values"]
    assert gray.shape == (1, 3, 32, 32) and torch.allclose(gray, torch.full_like(gray, 100 / 255))
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    out = processor(rgba, return_tensors="pt")["pixel_values"]
    assert out.shape == (1, 3, 32, 32) and torch.allclose(out[0, 0], torch.ones(32, 32))
    assert processor(np.full((32, 32), 7, dtype=np.uint8), return_tensors="pt")["pixel_values"].shape[1] == 3


def test_save_load_round_trip(tmp_path, rgb_array):
    from transformers import AutoImageProcessor

    processor = ConvViTImageProcessor.from_preset("imagenet", size={"shortest_edge": 40}, crop_size=36)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "ConvViTImageProcessor"
    assert saved["image_mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert saved["image_std"] == pytest.approx([0.229, 0.224, 0.225])
    assert saved["size"] == {"shortest_edge": 40} and saved["crop_size"] == {"height": 36, "width": 36}

    for loaded in (ConvViTImageProcessor.from_pretrained(tmp_path), AutoImageProcessor.from_pretrained(tmp_path)):
        assert type(loaded) is ConvViTImageProcessor
        assert loaded.to_dict() == processor.to_dict()
        assert torch.equal(
            loaded(rgb_array, return_tensors="pt")["pixel_values"],
            processor(rgb_array, return_tensors="pt")["pixel_values"],
        )
    overridden = ConvViTImageProcessor.from_pretrained(tmp_path, do_center_crop=False)
    assert overridden.do_center_crop is False


def test_cifar_preset_values():
    processor = ConvViTImageProcessor.from_preset("cifar10")
    assert processor.size == {"height": 32, "width": 32}
    assert tuple(processor.image_mean) == CIFAR10_MEAN and tuple(processor.image_std) == CIFAR10_STD
    with pytest.raises(ValueError, match="Unknown ConvViTImageProcessor preset"):
        ConvViTImageProcessor.from_preset("mnist")


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((32, 32, 2), dtype=np.uint8), r"2 channels but the processor expects num_channels=3"),
        (np.zeros((5, 32, 32), dtype=np.uint8), r"Cannot tell the channel axis"),
        (np.zeros((0, 32, 3), dtype=np.uint8), r"Image is empty"),
        (np.zeros((2, 2, 32, 32, 3), dtype=np.uint8), r"expected \(height, width\)"),
        (np.zeros((32, 32, 3), dtype=bool), r"dtype bool; expected uint8, uint16"),
        (torch.zeros(3, 32, 32, dtype=torch.bool), r"dtype torch.bool; expected uint8, uint16"),
        (np.zeros((32, 32, 3), dtype=np.uint32), r"dtype uint32; expected uint8, uint16"),
        ([], r"empty list of images"),
        (None, r"images=None"),
        ([Image.new("RGB", (8, 8)), 3], r"Image 1 has type int"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(images, message):
    processor = ConvViTImageProcessor(size=32)
    with pytest.raises(ValueError, match=message):
        processor(images, return_tensors="pt")


def test_grayscale_is_rejected_without_rgb_conversion():
    processor = ConvViTImageProcessor(size=32, do_convert_rgb=False)
    with pytest.raises(ValueError, match=r"1 channels .* do_convert_rgb=True"):
        processor(np.zeros((32, 32), dtype=np.uint8), return_tensors="pt")


def test_mixed_sizes_without_resize_cannot_be_stacked():
    processor = ConvViTImageProcessor(do_resize=False)
    with pytest.raises(ValueError, match="different shapes"):
        processor([Image.new("RGB", (8, 8)), Image.new("RGB", (9, 9))], return_tensors="pt")


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"image_mean": [0.5, 0.5]}, "image_mean"),
        ({"image_std": [0.5, 0.0, 0.5]}, "image_std"),
        ({"size": {"width": 32}}, "size"),
        ({"size": 0}, "size"),
        ({"crop_size": {"shortest_edge": 32}}, "crop_size"),
        ({"resample": "lanczos"}, "resample"),
        ({"rescale_factor": 0}, "rescale_factor"),
    ],
)
def test_invalid_settings_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"ConvViTImageProcessor\.{field}="):
        ConvViTImageProcessor(**kwargs)


# ------------------------------------------------------------------------------------------------------------------
# high bit depth, non-finite pixels, file paths
# ------------------------------------------------------------------------------------------------------------------


def test_16_bit_png_is_scaled_not_saturated(tmp_path):
    # a 16-bit gradient saved as PNG opens as PIL mode I;16; converting it to RGB would clip everything above 255
    levels = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64  # 0 .. 65472
    Image.fromarray(levels).save(tmp_path / "gray16.png")
    image = Image.open(tmp_path / "gray16.png")
    assert image.mode == "I;16"
    processor = ConvViTImageProcessor(size=32, do_normalize=False)
    out = processor(image, return_tensors="pt")["pixel_values"]
    expected = torch.from_numpy(levels.astype(np.float32) / 65535).expand(3, -1, -1)
    assert torch.allclose(out[0], expected, atol=1e-6)
    assert out.max() < 1.0 and (out < 0.5).float().mean() > 0.45  # half the gradient is dark, not white
    # the same picture at 8 bits gives (nearly) the same pixels
    eight_bit = Image.fromarray((levels // 257).astype(np.uint8), mode="L")
    assert torch.allclose(processor(eight_bit, return_tensors="pt")["pixel_values"], out, atol=1.5 / 255)
    # and a path to the file reads it the same way
    assert torch.equal(processor(str(tmp_path / "gray16.png"), return_tensors="pt")["pixel_values"], out)


def test_uint16_arrays_and_tensors_are_read_on_the_16_bit_scale(rgb_array):
    processor = ConvViTImageProcessor.from_preset("cifar10")
    reference = processor(rgb_array, return_tensors="pt")["pixel_values"]
    sixteen = rgb_array.astype(np.uint16) * 257  # 255 → 65535: the same picture at 16 bits
    for variant in (sixteen, sixteen.transpose(2, 0, 1).copy(), torch.from_numpy(sixteen)):
        assert torch.allclose(processor(variant, return_tensors="pt")["pixel_values"], reference, atol=1e-5)


def test_uint8_tensors_are_rescaled_and_normalised_like_uint8_arrays(rgb_array):
    processor = ConvViTImageProcessor.from_preset("cifar10")
    reference = processor(rgb_array, return_tensors="pt")["pixel_values"]
    chw = torch.from_numpy(rgb_array).permute(2, 0, 1)
    for variant in (chw, chw[None], [chw], torch.from_numpy(rgb_array)):
        assert torch.allclose(processor(variant, return_tensors="pt")["pixel_values"], reference, atol=1e-6)
    assert reference.abs().max() < 3  # normalised, not 0..255


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_pixels_are_refused(bad):
    processor = ConvViTImageProcessor(size=32)
    array = np.full((32, 32, 3), 100.0, dtype=np.float32)
    array[3, 4, 1] = bad
    for image in (array, torch.from_numpy(array).permute(2, 0, 1)):
        with pytest.raises(ValueError, match=r"1 NaN or infinite pixel values"):
            processor(image, return_tensors="pt")


def test_a_missing_image_path_says_the_file_does_not_exist(tmp_path):
    processor = ConvViTImageProcessor(size=32)
    missing = tmp_path / "no_such_cat.jpg"
    for path in (str(missing), missing, "cat.jpg"):
        with pytest.raises(FileNotFoundError, match=r"Image file .*cat\.jpg' does not exist"):
            processor(path, return_tensors="pt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        processor(str(tmp_path), return_tensors="pt")
    (tmp_path / "not_an_image.png").write_text("hello")
    with pytest.raises(ValueError, match=r"not_an_image.png' could not be read as an image"):
        processor(str(tmp_path / "not_an_image.png"), return_tensors="pt")


def test_image_paths_give_the_same_pixels_as_the_opened_images(tmp_path, rgb_array):
    processor = ConvViTImageProcessor.from_preset("cifar10")
    Image.fromarray(rgb_array).save(tmp_path / "a.png")
    Image.fromarray(rgb_array[::-1].copy()).save(tmp_path / "b.png")
    from_paths = processor([str(tmp_path / "a.png"), tmp_path / "b.png"], return_tensors="pt")["pixel_values"]
    opened = [Image.open(tmp_path / "a.png"), Image.open(tmp_path / "b.png")]
    assert torch.equal(from_paths, processor(opened, return_tensors="pt")["pixel_values"])
