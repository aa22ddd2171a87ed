"""ConvViTImageProcessor gives the same pixels as the hand-written processor it replaced.

`tests/fixtures/conv_vit_processor_reference.npz` holds the outputs of the earlier processor (commit f4493a1, ~350
hand-written lines of torch) on the cases below: sizes up and down, non-square, shortest-edge resize then crop, crops
larger than the image, PIL modes (RGB, L, RGBA, P, 1, LA), numpy and torch inputs in both layouts, 4-D batches and
lists, bicubic and nearest resampling. `tests/fixtures/make_conv_vit_processor_reference.py` wrote it, from the same
`reference_cases()`. `tests/fixtures/conv_vit_preprocessor_config_*.json` are that processor's saved settings: a folder
exported before the switch must load and give the same pixels.
"""

import json

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image

from hf_seq2seq_vit import ConvViTImageProcessor

DATA = FIXTURES
REFERENCE = DATA / "conv_vit_processor_reference.npz"

# The earlier processor worked in float32 and rescaled then normalised; the new one fuses the two (as transformers
# does): the same numbers up to float rounding.
ATOL = 2e-5


def _rgb(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth gradient plus noise, so resampling has structure to get wrong."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) % 256], axis=-1)
    return np.clip(base + rng.integers(-40, 41, size=(height, width, 3)), 0, 255).astype(np.uint8)


def _palette_image() -> Image.Image:
    indices = (np.arange(32 * 32).reshape(32, 32) % 7).astype(np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([value for index in range(7) for value in (index * 36, 255 - index * 30, (index * 77) % 256)])
    return image


def reference_cases() -> dict[str, tuple[dict, object, dict]]:
    """name → (processor settings, images, call arguments)."""
    cifar = {"preset": "cifar10"}
    imagenet_small = {"preset": "imagenet", "size": {"shortest_edge": 40}, "crop_size": 36}
    rgba = np.concatenate([_rgb(32, 32, 4), np.arange(32 * 32).reshape(32, 32, 1).astype(np.uint8)], axis=-1)
    gray = _rgb(32, 32, 5)[..., 0]
    two = np.stack([_rgb(32, 32, 6), _rgb(32, 32, 7)])
    return {
        "pil_rgb_32": (cifar, Image.fromarray(_rgb(32, 32, 0)), {}),
        "pil_rgb_down_40x30": (cifar, Image.fromarray(_rgb(30, 40, 1)), {}),
        "pil_rgb_up_20x24": (cifar, Image.fromarray(_rgb(24, 20, 2)), {}),
        "shortest_edge_then_crop_30x47": (imagenet_small, Image.fromarray(_rgb(30, 47, 3)), {}),
        "shortest_edge_no_crop_30x47": (
            {"preset": "imagenet", "size": {"shortest_edge": 40}, "do_center_crop": False},
            Image.fromarray(_rgb(30, 47, 3)),
            {},
        ),
        "crop_larger_than_image": (
            {"do_resize": False, "do_center_crop": True, "crop_size": {"height": 40, "width": 35}},
            Image.fromarray(_rgb(31, 30, 8)),
            {},
        ),
        "pil_L": (cifar, Image.fromarray(gray, mode="L"), {}),
        "pil_RGBA": (cifar, Image.fromarray(rgba, mode="RGBA"), {}),
        "pil_P": (cifar, _palette_image(), {}),
        "pil_1": (cifar, Image.fromarray(gray > 128), {}),
        "pil_LA": (cifar, Image.fromarray(np.stack([gray, gray[::-1]], axis=-1), mode="LA"), {}),
        "numpy_hwc_uint8": (cifar, _rgb(36, 28, 9), {}),
        "numpy_chw_uint8": (cifar, _rgb(36, 28, 9).transpose(2, 0, 1).copy(), {}),
        "torch_chw_uint8": (cifar, torch.from_numpy(_rgb(36, 28, 9)).permute(2, 0, 1), {}),
        "torch_hwc_float_255": (cifar, torch.from_numpy(_rgb(36, 28, 9)).float(), {}),
        "torch_chw_float_01_no_rescale": (
            cifar,
            torch.from_numpy(_rgb(36, 28, 9)).permute(2, 0, 1).float() / 255,
            {"do_rescale": False},
        ),
        "numpy_gray_2d": (cifar, gray, {}),
        "numpy_rgba_hwc": (cifar, rgba, {}),
        "numpy_int32": (cifar, _rgb(32, 32, 10).astype(np.int32), {}),
        "numpy_batch_4d": (cifar, two, {}),
        "torch_batch_4d_chw": (cifar, torch.from_numpy(two).permute(0, 3, 1, 2), {}),
        "list_of_mixed_sizes": (cifar, [Image.fromarray(_rgb(30, 40, 11)), _rgb(50, 45, 12)], {}),
        "bicubic_up_no_normalize": ({"size": 64, "resample": 3, "do_normalize": False}, _rgb(32, 32, 13), {}),
        "nearest_down": ({"size": {"height": 20, "width": 16}, "resample": 0}, _rgb(40, 32, 14), {}),
        "call_overrides": (
            cifar,
            Image.fromarray(_rgb(40, 40, 15)),
            {"size": {"height": 24, "width": 28}, "image_mean": 0.5, "image_std": 0.25},
        ),
    }


def build_processor(settings: dict) -> ConvViTImageProcessor:
    settings = dict(settings)
    preset = settings.pop("preset", None)
    return ConvViTImageProcessor.from_preset(preset, **settings) if preset else ConvViTImageProcessor(**settings)


def run_case(settings: dict, images: object, call: dict) -> np.ndarray:
    pixel_values = build_processor(settings)(images, return_tensors="pt", **call)["pixel_values"]
    return pixel_values.numpy()


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as stored:
        return {name: stored[name] for name in stored.files}


def test_reference_covers_every_case(reference):
    assert sorted(reference) == sorted(reference_cases())


# Deliberate changes, each tested against a better reference below.
CHANGED = {"nearest_down"}


@pytest.mark.parametrize("name", sorted(set(reference_cases()) - CHANGED))
def test_same_pixels_as_the_earlier_processor(name, reference):
    settings, images, call = reference_cases()[name]
    output = run_case(settings, images, call)
    expected = reference[name]
    assert output.shape == expected.shape
    assert output.dtype == np.float32
    np.testing.assert_allclose(output, expected, rtol=0, atol=ATOL)


def test_nearest_resize_now_picks_the_pixels_pil_picks():
    # The earlier processor used torch's legacy "nearest" (half a pixel off: rows 0, 2, 4, ... of a 2x reduction);
    # transformers maps PIL's NEAREST to "nearest-exact", which picks the pixel centres as PIL does (rows 1, 3, 5, ...).
    settings, image, call = reference_cases()["nearest_down"]
    output = run_case(settings, image, call)
    by_pil = np.asarray(Image.fromarray(image).resize((16, 20), Image.Resampling.NEAREST))
    expected = run_case({**settings, "do_resize": False}, by_pil, call)
    np.testing.assert_allclose(output, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("preset", ["cifar10", "imagenet"])
def test_settings_saved_by_the_earlier_processor_load_and_give_the_same_pixels(tmp_path, preset, reference):
    saved = json.loads((DATA / f"conv_vit_preprocessor_config_{preset}.json").read_text())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(saved))
    loaded = ConvViTImageProcessor.from_pretrained(tmp_path)
    fresh = ConvViTImageProcessor.from_preset(preset)
    image = Image.fromarray(_rgb(300, 260, 16))
    assert torch.equal(loaded(image, return_tensors="pt")["pixel_values"], fresh(image, return_tensors="pt")["pixel_values"])
    name = "pil_rgb_down_40x30" if preset == "cifar10" else None
    if name:
        settings, images, call = reference_cases()[name]
        output = loaded(images, return_tensors="pt", **call)["pixel_values"].numpy()
        np.testing.assert_allclose(output, reference[name], rtol=0, atol=ATOL)
