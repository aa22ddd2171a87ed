"""``ImageDataModule``: an image-classification dataset (Hub name, parquet or image folder) as Lightning data loaders.

Training images get timm augmentation (random crop, flip, RandAugment / AutoAugment / AugMix, or torchvision's
TrivialAugment, random erasing) and, optionally, timm Mixup/CutMix on the whole batch once it is on the device.
Evaluation images go through the model's image processor (:class:`ConvViTImageProcessor`), exactly as at inference.
For ``predict``, ``predict_path`` names an image file, a folder (searched recursively) or a glob; each batch carries
``index``, the image's position in :attr:`ImageDataModule.predict_inputs` (the sorted list of paths).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from timm.data import Mixup, create_transform
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler, TensorDataset
from torchvision import transforms

from hf_seq2seq_vit.models.conv_vit import ConvViTImageProcessor
from hf_seq2seq_vit.data.translation import check_example_limit
from hf_seq2seq_vit.models.conv_vit.image_processing_conv_vit import PROCESSOR_PRESETS

LOCAL_BUILDERS = ("parquet", "imagefolder", "arrow", "csv", "json")
VAL_SPLIT_NAMES = ("validation", "val", "valid")
TRAIN_CROPS = ("pad", "rrc")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def find_images(path: str) -> list[str]:
    """The image files ``path`` names: one file, every image under a folder (recursively, sorted), or a glob (sorted).

    Example::

        >>> find_images("tests/fixtures/images/*.png")  # doctest: +SKIP
        ['tests/fixtures/images/a.png', 'tests/fixtures/images/b.png']
    """
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        found = sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not found:
            raise FileNotFoundError(f"predict_path={path!r} is a folder without images (looked for "
                                    f"{', '.join(IMAGE_SUFFIXES)} files, also in subfolders)")
        return found
    found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if not found:
        raise FileNotFoundError(f"predict_path={path!r} is no image file or folder and, as a glob, matches no file "
                                f"(working directory {os.getcwd()}); fix the path")
    return found


class ImageFiles(Dataset):
    """Image files → ``{"pixel_values": (C, H, W), "index": i}`` through the model's processor, as at inference."""

    def __init__(self, paths: list[str], transform: Any):
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        path = self.paths[index]
        try:
            with Image.open(path) as image:
                image.load()
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"Cannot read the image {path!r} ({error}); remove it or convert it to PNG/JPEG") from None
        return {"pixel_values": self.transform(image), "index": index}


class PixelTransform:
    """Turns a ``datasets`` batch ``{image: [PIL], label: [int]}`` into ``{pixel_values: [tensor], labels: [int]}``."""

    def __init__(self, transform: Any, image_column: str, label_column: str):
        self.transform, self.image_column, self.label_column = transform, image_column, label_column

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        pixels = [self.transform(image.convert("RGB")) for image in batch[self.image_column]]
        return {"pixel_values": pixels, "labels": batch[self.label_column]}


class ProcessorTransform:
    """One PIL image → the processor's normalised ``(C, H, W)`` tensor (a class, so workers can pickle it)."""

    def __init__(self, processor: ConvViTImageProcessor, **overrides: Any):
        self.processor, self.overrides = processor, overrides

    def __call__(self, image: Any) -> torch.Tensor:
        return self.processor(image, return_tensors="pt", **self.overrides)["pixel_values"][0]


class ImageDataModule(LightningDataModule):
    """Image classification data: loading, splits, subsets, timm augmentation, Mixup/CutMix, loaders.

    Args:
        dataset: a Hub dataset name (e.g. ``"uoft-cs/cifar10"``, which names its image column ``img``; downloads
            need the internet) or a local ``datasets`` builder: ``"parquet"`` / ``"imagefolder"`` (with
            ``data_files`` or ``data_dir``).
        dataset_config: the Hub dataset's configuration name, if it has several.
        data_files: split → file path or glob (or list of them), e.g. ``{"train": "cifar/train-*.parquet",
            "test": "cifar/test-00000-of-00001.parquet"}``.
        data_dir: a folder for ``imagefolder`` (``train/<class>/*.jpg``, ...).
        image_column, label_column: column names; the label should be a ``ClassLabel`` (its names become the
            model's ``id2label``).
        val_size: when there is no validation split, this many training images (an int, or a fraction of the
            training split) are carved out, stratified by label, with ``split_seed``.
        test_size: likewise for a missing test split (``0``, the default: no test split is carved out).
        split_seed: seed of those carve-outs and of the ``max_*_examples`` choice (kept apart from ``seed``).
        max_train_examples, max_val_examples, max_test_examples: keep only this many (randomly chosen with
            ``split_seed``) images of that split, for quick CPU runs; ``None`` keeps all.
        predict_path: an image file, a folder of images or a glob, for ``predict`` (no labels needed).
        image_processor: the model's processor: a preset name (``"cifar10"``, ``"imagenet"``), a folder / Hub id
            saved by ``save_pretrained``, or a dict of :class:`ConvViTImageProcessor` arguments.
        train_crop: ``"pad"`` (random crop of the resized image padded by ``crop_padding``, for small images like
            CIFAR) or ``"rrc"`` (timm's random-resized crop, for ImageNet-like data).
        auto_augment: a timm policy string (``"rand-m9-mstd0.5-inc1"``, ``"augmix-m5-w4-d2"``, ``"original"``),
            ``"trivialaugment"`` (torchvision's TrivialAugmentWide) or ``None``.
        hflip, color_jitter, random_erasing: flip probability, timm colour jitter (used without auto-augment) and
            random-erasing probability.
        mixup_alpha, cutmix_alpha, mixup_prob, mixup_switch_prob, mixup_mode: timm ``Mixup`` on each training batch
            (labels become soft targets; label smoothing is the LightningModule's job). Off when both alphas are 0.
        batch_size, eval_batch_size: images per training / evaluation batch.
        num_workers, pin_memory, persistent_workers: DataLoader settings.
        device_augment: decode every split once to a uint8 tensor and crop/flip/TrivialAugment/normalise batches on
            the training device (GPU) instead of in CPU workers. Needs fixed-size images; single device only.
        seed: seed of the device augmentation's shuffling.

    Example::

        >>> dm = ImageDataModule(data_files={"train": "tests/fixtures/cifar10_tiny.parquet"}, val_size=20,
        ...                      image_processor="cifar10", batch_size=8, num_workers=0)
        >>> dm.setup("fit")
        >>> dm.class_names[:3], len(dm.splits["train"]), len(dm.splits["validation"])
        (['airplane', 'automobile', 'bird'], 60, 20)
        >>> next(iter(dm.train_dataloader()))["pixel_values"].shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        dataset: str = "parquet",
        dataset_config: str | None = None,
        data_files: dict[str, str | list[str]] | None = None,
        data_dir: str | None = None,
        image_column: str = "image",
        label_column: str = "label",
        val_size: int | float = 0.1,
        test_size: int | float = 0,
        split_seed: int = 0,
        max_train_examples: int | None = None,
        max_val_examples: int | None = None,
        max_test_examples: int | None = None,
        predict_path: str | None = None,
        image_processor: str | dict[str, Any] = "cifar10",
        train_crop: str = "pad",
        crop_padding: int = 4,
        auto_augment: str | None = "rand-m9-mstd0.5-inc1",
        hflip: float = 0.5,
        color_jitter: float = 0.0,
        random_erasing: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mixup_prob: float = 1.0,
        mixup_switch_prob: float = 0.5,
        mixup_mode: str = "batch",
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = False,
        device_augment: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        for name, value in (("max_train_examples", max_train_examples), ("max_val_examples", max_val_examples),
                            ("max_test_examples", max_test_examples)):
            check_example_limit(f"ImageDataModule.{name}", value)
        if train_crop not in TRAIN_CROPS:
            raise ValueError(f"ImageDataModule.train_crop={train_crop!r} is invalid: expected one of {TRAIN_CROPS}.")
        if (mixup_alpha > 0 or cutmix_alpha > 0) and batch_size % 2:
            raise ValueError(f"ImageDataModule.batch_size={batch_size} must be even when Mixup/CutMix is on.")
        if device_augment and auto_augment not in (None, "trivialaugment"):
            raise ValueError(
                f"ImageDataModule.auto_augment={auto_augment!r} runs on PIL images in CPU workers; with "
                "device_augment=True use auto_augment='trivialaugment' or None."
            )
        self.dataset, self.dataset_config, self.data_files = dataset, dataset_config, data_files
        self.val_size, self.test_size, self.split_seed, self.seed = val_size, test_size, split_seed, seed
        self.max_train_examples, self.max_val_examples = max_train_examples, max_val_examples
        self.max_test_examples, self.num_workers, self.predict_path = max_test_examples, num_workers, predict_path
        # Cheap (globs), so that a wrong path fails when the CLI builds the objects; predicting needs no dataset.
        self._check_files(need_data=predict_path is None)
        self.predict_inputs: list[str] = find_images(predict_path) if predict_path is not None else []
        self.image_processor = self._build_processor(image_processor)
        self.image_size = self._output_size(self.image_processor)
        self.eval_batch_size = eval_batch_size or batch_size
        self.splits: dict[str, Any] = {}
        self.class_names: list[str] = []
        self.mixup: Mixup | None = None
        self.device_tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    # ----------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _build_processor(spec: str | dict[str, Any]) -> ConvViTImageProcessor:
        if isinstance(spec, dict):
            return ConvViTImageProcessor(**spec)
        if spec in PROCESSOR_PRESETS:
            return ConvViTImageProcessor.from_preset(spec)
        return ConvViTImageProcessor.from_pretrained(spec)

    @staticmethod
    def _output_size(processor: ConvViTImageProcessor) -> tuple[int, int]:
        """The fixed ``(height, width)`` the processor produces (the model's input size)."""
        size = processor.crop_size if processor.do_center_crop else processor.size
        if "height" not in size:
            raise ValueError(
                f"ImageDataModule.image_processor resizes to {size} without a center crop, so images would have "
                "different sizes; set do_center_crop=True with a crop_size, or size={'height': h, 'width': w}."
            )
        return size["height"], size["width"]

    @property
    def dataset_name(self) -> str:
        """What the data is, for checkpoints and model cards: the Hub name or the builder with its files."""
        hp = self.hparams
        if hp.dataset not in LOCAL_BUILDERS:
            return hp.dataset + (f"/{hp.dataset_config}" if hp.dataset_config else "")
        if hp.data_files:
            return f"{hp.dataset}: " + ", ".join(f"{split}={files}" for split, files in hp.data_files.items())
        return f"{hp.dataset}: {hp.data_dir}"

    @property
    def mean_std(self) -> tuple[list[float], list[float]]:
        return list(self.image_processor.image_mean), list(self.image_processor.image_std)

    # ----------------------------------------------------------------------------------------------------------------
    def _check_files(self, need_data: bool = True) -> None:
        hp = self.hparams
        if need_data and hp.dataset in LOCAL_BUILDERS and not hp.data_files and not hp.data_dir:
            raise ValueError(f"ImageDataModule(dataset={hp.dataset!r}) needs data_files (split → path/glob) or "
                             "data_dir.")
        if hp.data_dir and not os.path.isdir(hp.data_dir):
            raise FileNotFoundError(f"ImageDataModule.data_dir={hp.data_dir!r} is not a folder.")
        for split, patterns in (hp.data_files or {}).items():
            for pattern in [patterns] if isinstance(patterns, str) else patterns:
                if "://" not in pattern and not glob.glob(os.path.join(hp.data_dir or "", pattern)):
                    raise FileNotFoundError(
                        f"ImageDataModule.data_files[{split!r}]={pattern!r} matches no file (working directory "
                        f"{os.getcwd()}); fix the path or glob."
                    )

    def _load(self) -> dict[str, Any]:
        import datasets  # imported here: loading the library is slow and only needed once data is set up

        self._check_files()
        hp = self.hparams
        loaded = datasets.load_dataset(hp.dataset, hp.dataset_config, data_files=hp.data_files, data_dir=hp.data_dir)
        splits = {("validation" if name in VAL_SPLIT_NAMES else name): split for name, split in loaded.items()}
        if "train" not in splits:
            raise ValueError(f"ImageDataModule: the dataset has splits {sorted(splits)} but no 'train' split.")
        columns = splits["train"].column_names
        for field in ("image_column", "label_column"):
            if getattr(hp, field) not in columns:
                raise ValueError(f"ImageDataModule.{field}={getattr(hp, field)!r} is not a column of the dataset; "
                                 f"its columns are {columns}.")
        label_feature = splits["train"].features[hp.label_column]
        if hasattr(label_feature, "names"):
            self.class_names = list(label_feature.names)
        else:  # plain integers: name classes by their index
            self.class_names = [str(i) for i in range(int(max(splits["train"][hp.label_column])) + 1)]
        stratify = hp.label_column if hasattr(label_feature, "names") else None
        for split, size in (("test", hp.test_size), ("validation", hp.val_size)):
            if split not in splits and size:  # carve a fixed, class-balanced split out of train
                carved = splits["train"].train_test_split(test_size=size, seed=hp.split_seed,
                                                          stratify_by_column=stratify)
                splits["train"], splits[split] = carved["train"], carved["test"]
        limits = (("train", hp.max_train_examples), ("validation", hp.max_val_examples), ("test", hp.max_test_examples))
        for split, size in limits:
            if size is not None and split in splits and size < len(splits[split]):
                splits[split] = splits[split].shuffle(seed=hp.split_seed).select(range(size))
        return splits

    def train_transform(self) -> Any:
        """PIL image → normalised tensor for training: timm's pipeline, with a padded random crop for ``"pad"``."""
        hp = self.hparams
        mean, std = self.mean_std
        trivial = hp.auto_augment == "trivialaugment"
        primary, secondary, final = create_transform(
            self.image_size, is_training=True, hflip=hp.hflip, color_jitter=hp.color_jitter,
            auto_augment=None if trivial else hp.auto_augment, mean=mean, std=std, re_prob=hp.random_erasing,
            separate=True,
        )
        if hp.train_crop == "pad":  # CIFAR-style: keep the whole image, shift it by up to crop_padding pixels
            resize = [transforms.Resize(self.image_size)] if self.image_processor.do_resize else []
            primary = transforms.Compose([*resize, transforms.RandomCrop(self.image_size, padding=hp.crop_padding,
                                                                         padding_mode="reflect"),
                                          transforms.RandomHorizontalFlip(hp.hflip)])
        if trivial:
            secondary = transforms.TrivialAugmentWide()
        return transforms.Compose([primary, secondary, final])

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self.predict_path is not None:
            # Class names come from the model (its id2label), so predicting needs no labelled data at all.
            self.splits["predict"] = ImageFiles(self.predict_inputs, ProcessorTransform(self.image_processor))
            return
        if set(self.splits) - {"predict"}:
            return
        loaded = self._load()
        self.splits.update(loaded)
        hp = self.hparams
        if hp.mixup_alpha > 0 or hp.cutmix_alpha > 0:
            self.mixup = Mixup(mixup_alpha=hp.mixup_alpha, cutmix_alpha=hp.cutmix_alpha, prob=hp.mixup_prob,
                               switch_prob=hp.mixup_switch_prob, mode=hp.mixup_mode, label_smoothing=0.0,
                               num_classes=len(self.class_names))
        if hp.device_augment:
            self.device_tensors = {name: self._decode(split) for name, split in loaded.items()}
            return
        eval_transform = PixelTransform(ProcessorTransform(self.image_processor), hp.image_column, hp.label_column)
        train_transform = PixelTransform(self.train_transform(), hp.image_column, hp.label_column)
        for name, split in loaded.items():
            self.splits[name] = split.with_transform(train_transform if name == "train" else eval_transform)

    # ----------------------------------------------------------------------------------------------------------------
    def _decode(self, split: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image of a split, resized/cropped by the processor but not rescaled: ``(N, C, H, W)`` uint8."""
        hp = self.hparams
        to_uint8 = ProcessorTransform(self.image_processor, do_rescale=False, do_normalize=False)
        images = torch.stack([to_uint8(image.convert("RGB")).round().to(torch.uint8) for image in
                              split[hp.image_column]])
        return images, torch.tensor(split[hp.label_column])

    def _loader(self, split: str, train: bool) -> DataLoader:
        hp = self.hparams
        if split not in self.splits:
            raise ValueError(f"ImageDataModule has no {split!r} split (it has {sorted(self.splits)}); add it to "
                             "data_files.")
        batch_size = hp.batch_size if train else self.eval_batch_size
        if hp.device_augment:  # one gather per batch from the decoded tensor; the work happens on the device
            tensors = TensorDataset(*self.device_tensors[split])
            order = RandomSampler(tensors, generator=torch.Generator().manual_seed(hp.seed)) if train else \
                SequentialSampler(tensors)
            return DataLoader(tensors, sampler=BatchSampler(order, batch_size, drop_last=train), batch_size=None,
                              pin_memory=hp.pin_memory)
        return DataLoader(self.splits[split], batch_size=batch_size, shuffle=train, drop_last=train,
                          num_workers=hp.num_workers, pin_memory=hp.pin_memory,
                          persistent_workers=hp.persistent_workers and hp.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of ``pixel_values`` and ``index`` (the image's position in :attr:`predict_inputs`), in order.

        Without ``predict_path`` the test split is predicted, ``index`` being the position in that split.
        """
        if self.predict_path is None:
            if "test" not in self.splits:
                raise ValueError("ImageDataModule has no test split to predict; set predict_path to your images")
            test = self.splits["test"]
            if self.hparams.device_augment:  # the split was decoded to a tensor; predict through the processor
                test = test.with_transform(PixelTransform(ProcessorTransform(self.image_processor),
                                                          self.hparams.image_column, self.hparams.label_column))
            return DataLoader(_Indexed(test), batch_size=self.eval_batch_size,
                              num_workers=self.hparams.num_workers, pin_memory=self.hparams.pin_memory,
                              collate_fn=_collate_indexed)
        return DataLoader(self.splits["predict"], batch_size=self.eval_batch_size, num_workers=self.hparams.num_workers,
                          pin_memory=self.hparams.pin_memory, collate_fn=_collate_indexed)

    # ----------------------------------------------------------------------------------------------------------------
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> dict[str, torch.Tensor]:
        """On the device: the device-augment pipeline (if on), then Mixup/CutMix on training batches."""
        training = self.trainer is not None and self.trainer.training
        if self.hparams.device_augment:
            images, labels = batch
            batch = {"pixel_values": self.device_pixels(images, training), "labels": labels}
        if training and self.mixup is not None:
            batch["pixel_values"], batch["labels"] = self.mixup(batch["pixel_values"], batch["labels"])
        return batch

    def device_pixels(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` → normalised float: with ``train``, TrivialAugment, padded random crop and flip.

        Without ``train`` this equals what the image processor gives for the same (already sized) images.
        """
        hp = self.hparams
        if train and hp.auto_augment == "trivialaugment":
            # torchvision applies one random op to a whole tensor batch; chunks of 8 keep the ops varied
            augment = transforms.TrivialAugmentWide()
            images = torch.cat([augment(chunk) for chunk in images.split(8)])
        pixels = images.float() * self.image_processor.rescale_factor
        if train:
            size, pad = images.shape[-2:], hp.crop_padding
            padded = torch.nn.functional.pad(pixels, (pad, pad, pad, pad), mode="reflect")
            top, left = (torch.randint(0, 2 * pad + 1, (len(images), 1), device=images.device) for _ in range(2))
            rows = (top + torch.arange(size[0], device=images.device))[:, None, :, None]  # (B, 1, H, 1)
            cols = (left + torch.arange(size[1], device=images.device))[:, None, None, :]  # (B, 1, 1, W)
            batch_index = torch.arange(len(images), device=images.device)[:, None, None, None]
            channel_index = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
            pixels = padded[batch_index, channel_index, rows, cols]
            flip = torch.rand(len(images), 1, 1, 1, device=images.device) < hp.hflip
            pixels = torch.where(flip, pixels.flip(-1), pixels)
        mean, std = (torch.tensor(v, device=images.device)[None, :, None, None] for v in self.mean_std)
        return (pixels - mean) / std


class _Indexed(Dataset):
    """A split's examples with their position added as ``index`` (labels stay, for whoever wants to compare)."""

    def __init__(self, split: Any):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.split[index], "index": index}


def _collate_indexed(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples]),
             "index": torch.tensor([e["index"] for e in examples], dtype=torch.long)}
    if all("labels" in e for e in examples):
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
    return batch
