"""``ImageClassificationModule``: trains :class:`ConvViTForImageClassification` with Lightning.

The model, optimizer, schedule, fit timer and checkpoint contract come from :class:`TaskModule`; this module writes
the classification step (label smoothing, soft Mixup/CutMix targets, top-1/top-5 accuracy), the class names taken
from the data, and the image processor the contract carries. An EMA of the weights is Lightning's
``EMAWeightAveraging`` callback, configured in the YAML as for translation.
"""

from __future__ import annotations

import json
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from hf_seq2seq_vit.export.contract import IMAGE_CLASSIFICATION, CheckpointContract
from hf_seq2seq_vit.lightning.base import TaskModule
from hf_seq2seq_vit.models.conv_vit import ConvViTConfig, ConvViTForImageClassification

SPLITS = ("train", "val", "test")


class ImageClassificationModule(TaskModule):
    """A CNN-stem ViT classifier trained with cross-entropy, AdamW and a warm-up + cosine schedule.

    The training arguments (``pretrained``, ``lr``, ``weight_decay``, ``betas``, ``eps``, ``scheduler``,
    ``warmup_steps``, ``label_smoothing``, ``compile``) are :class:`TaskModule`'s, with the ViT recipe's defaults here
    (weight decay 0.05 on matrices and conv kernels, not on position embeddings; 5% warm-up; cosine decay).

    Args:
        model_config: :class:`ConvViTConfig` fields (applied over ``preset`` when given, or over the ``pretrained``
            model's config), e.g. ``{"hidden_size": 256, "num_hidden_layers": 6}``. ``id2label`` and ``label2id``
            are taken from the data module's class names at setup.
        preset: a ``ConvViTConfig.from_preset`` name (``"cifar10"``, ``"cifar10-patch"``, ``"imagenet"``).
        top_k: how many classes ``predict_step`` returns per image, best first.

    Example::

        >>> module = ImageClassificationModule(model_config={"image_size": 32, "stem_channels": [16, 32],
        ...     "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_labels": 10})
        >>> module(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    task = IMAGE_CLASSIFICATION
    model_class = ConvViTForImageClassification
    no_weight_decay = ("position_embeddings",)

    def __init__(
        self,
        model_config: dict[str, Any] | None = None,
        preset: str | None = None,
        pretrained: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        scheduler: str = "cosine",
        warmup_steps: int | float = 0.05,
        label_smoothing: float = 0.1,
        top_k: int = 5,
        compile: bool = False,
    ):
        super().__init__(pretrained=pretrained, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps,
                         scheduler=scheduler, warmup_steps=warmup_steps, label_smoothing=label_smoothing,
                         compile=compile)
        self.build_model()  # here, not in configure_model: the metrics need the number of classes
        num_classes = self.model.config.num_labels
        self.metrics = torch.nn.ModuleDict({
            f"{split}_metrics": MetricCollection({
                "acc": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
                "acc_top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
            }, prefix=f"{split}_") for split in SPLITS
        })
        self._dataset_name: str | None = None
        self._image_processor = None
        self._predicted = 0

    def build_config(self) -> ConvViTConfig:
        overrides = dict(self.hparams.model_config or {})
        preset = self.hparams.preset
        return ConvViTConfig.from_preset(preset, **overrides) if preset else ConvViTConfig(**overrides)

    def load_pretrained(self, path: str) -> ConvViTForImageClassification:
        return self.model_class.from_pretrained(path, **dict(self.hparams.model_config or {}))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_labels)``."""
        return self.model(pixel_values).logits

    # ---------------------------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Check the data against the model and name the classes (``id2label``) from the dataset."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "class_names"):
            raise ValueError("ImageClassificationModule needs an ImageDataModule (it names the classes and holds the "
                             "image processor); pass datamodule=ImageDataModule(...) or data: in the YAML.")
        config = self.model.config
        if tuple(datamodule.image_size) != config.image_height_width:
            raise ValueError(
                f"The image processor produces {datamodule.image_size[0]}x{datamodule.image_size[1]} images but the "
                f"model's image_size is {config.image_size}; make data.image_processor's size match "
                "model_config.image_size."
            )
        names = datamodule.class_names
        if names and len(names) != config.num_labels:
            raise ValueError(f"The dataset has {len(names)} classes but the model has num_labels={config.num_labels};"
                             f" set model_config.num_labels: {len(names)}.")
        if names:
            config.id2label = dict(enumerate(names))
            config.label2id = {name: index for index, name in enumerate(names)}
        self._dataset_name = datamodule.dataset_name
        self._image_processor = datamodule.image_processor

    def shared_step(self, batch: dict[str, torch.Tensor], split: str) -> torch.Tensor:
        """One batch of any split: logits, loss (soft targets from Mixup alike), accuracy metrics, logging."""
        logits = self(batch["pixel_values"])  # (B, num_labels)
        labels = batch["labels"]  # (B,) class indices, or (B, num_labels) Mixup/CutMix probabilities
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.hparams.label_smoothing)
        hard_labels = labels.argmax(-1) if labels.is_floating_point() else labels  # Mixup: the dominant class
        metrics = self.metrics[f"{split}_metrics"]
        metrics.update(logits, hard_labels)
        on_step = split == "train"
        self.log(f"{split}_loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=split != "train")
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.shared_step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def on_predict_epoch_start(self) -> None:
        self._predicted = 0

    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> dict[str, list]:
        """``{"index", "labels", "scores"}``: per image its input position and the ``top_k`` classes, best first."""
        probabilities = self(batch["pixel_values"]).float().softmax(-1)  # (B, num_labels)
        scores, classes = probabilities.topk(min(self.hparams.top_k, probabilities.shape[-1]), dim=-1)
        id2label = self.model.config.id2label
        count = len(classes)
        index = batch["index"].tolist() if "index" in batch else list(range(self._predicted, self._predicted + count))
        self._predicted += count
        return {"index": index, "labels": [[id2label[c] for c in row] for row in classes.tolist()],
                "scores": scores.tolist()}

    # ---------------------------------------------------------------------------------------------------------------
    def data_info(self) -> dict[str, Any]:
        return {"dataset": self._dataset_name} if self._dataset_name else {}

    def restore_contract(self, contract: CheckpointContract) -> None:
        # The class names the model was trained with (predicting on a folder of images has none of its own).
        id2label = contract.model_config.get("id2label")
        if id2label and len(id2label) == self.model.config.num_labels:
            self.model.config.id2label = {int(index): name for index, name in id2label.items()}
            self.model.config.label2id = {name: index for index, name in self.model.config.id2label.items()}

    def contract_extras(self) -> dict[str, Any]:
        processor = self._image_processor
        # Through JSON: plain numbers and strings (e.g. the resampling enum as its int), so weights_only loads it.
        return {"image_processor": json.loads(processor.to_json_string()) if processor is not None else None}
