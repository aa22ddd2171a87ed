"""ImageDataModule: the shared argument names, max_*_examples, and predict_path (a file, a folder or a glob)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image

from hf_seq2seq_vit.data.images import ImageDataModule
from hf_seq2seq_vit.models.conv_vit import ConvViTImageProcessor

TINY_PARQUET = str(FIXTURES / "cifar10_tiny.parquet")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Five images of different sizes and modes, one in a subfolder, and a text file that is no image."""
    root = tmp_path_factory.mktemp("images")
    (root / "more").mkdir()
    rng = np.random.default_rng(0)
    shapes = {"a.png": (40, 30, 3), "b.jpg": (32, 32, 3), "c.png": (20, 50), "d.bmp": (33, 31, 3),
              "more/e.png": (64, 64, 3)}
    for name, shape in shapes.items():
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(root / name)
    (root / "notes.txt").write_text("not an image")
    return root


def predict_batches(**options):
    dm = ImageDataModule(image_processor="cifar10", batch_size=2, num_workers=0, pin_memory=False, **options)
    dm.setup("predict")
    return dm, list(dm.predict_dataloader())


def test_predict_folder_gives_every_image_in_order_with_its_index(image_folder):
    dm, batches = predict_batches(predict_path=str(image_folder))
    assert [Path(p).relative_to(image_folder).as_posix() for p in dm.predict_inputs] == [
        "a.png", "b.jpg", "c.png", "d.bmp", "more/e.png"]
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(5))
    processor = ConvViTImageProcessor.from_preset("cifar10")
    pixels = torch.cat([b["pixel_values"] for b in batches])
    assert pixels.shape == (5, 3, 32, 32)
    for path, row in zip(dm.predict_inputs, pixels):  # exactly what the processor gives at inference
        with Image.open(path) as image:
            assert torch.equal(row, processor(image, return_tensors="pt")["pixel_values"][0])


def test_predict_glob_and_single_file(image_folder):
    dm, batches = predict_batches(predict_path=str(image_folder / "*.png"))
    assert [Path(p).name for p in dm.predict_inputs] == ["a.png", "c.png"]
    dm, batches = predict_batches(predict_path=str(image_folder / "b.jpg"))
    assert dm.predict_inputs == [str(image_folder / "b.jpg")] and batches[0]["index"].tolist() == [0]


def test_predict_without_predict_path_uses_the_test_split():
    dm = ImageDataModule(data_files={"train": TINY_PARQUET, "test": TINY_PARQUET}, val_size=20, batch_size=16,
                         num_workers=0, pin_memory=False, max_test_examples=24)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(24))
    assert torch.cat([b["labels"] for b in batches]).shape == (24,)


def test_predict_path_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"predict_path='.*missing/\*.png'.*matches no file"):
        ImageDataModule(predict_path=str(tmp_path / "missing" / "*.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"predict_path='.*empty' is a folder without images"):
        ImageDataModule(predict_path=str(tmp_path / "empty"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    dm = ImageDataModule(predict_path=str(tmp_path / "broken.png"), num_workers=0, pin_memory=False)
    dm.setup("predict")
    with pytest.raises(ValueError, match=r"Cannot read the image '.*broken.png'"):
        next(iter(dm.predict_dataloader()))


def test_max_examples_and_test_size_use_split_seed():
    options = dict(data_files={"train": TINY_PARQUET}, val_size=20, test_size=10, batch_size=8, num_workers=0,
                   pin_memory=False, max_train_examples=30)
    dm = ImageDataModule(**options, split_seed=1)
    dm.setup("fit")
    assert {name: len(split) for name, split in dm.splits.items()} == {"train": 30, "validation": 20, "test": 10}
    again = ImageDataModule(**options, split_seed=1, seed=5)  # `seed` (augmentation order) does not move the split
    again.setup("fit")
    other = ImageDataModule(**options, split_seed=2)
    other.setup("fit")
    labels = {name: dm.splits["test"].with_format(None)["label"] for name, dm in
              (("first", dm), ("again", again), ("other", other))}
    assert labels["first"] == labels["again"]
    assert dm.splits["train"].with_format(None)["image"] != other.splits["train"].with_format(None)["image"]


@pytest.mark.parametrize("name", ["max_train_examples", "max_val_examples", "max_test_examples"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_max_examples_must_be_a_positive_int(name, value):
    with pytest.raises(ValueError, match=rf"ImageDataModule.{name}={value!r} is invalid: give an int >= 1"):
        ImageDataModule(data_files={"train": TINY_PARQUET}, **{name: value})
