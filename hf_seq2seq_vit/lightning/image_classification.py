"""``ImageClassificationModule``: trains :class:`ConvViTForImageClassification` with Lightning.

It only wires the model, the loss (label smoothing; soft Mixup/CutMix targets), top-1/top-5 accuracy, AdamW with a
warmup schedule and an optional EMA of the weights. Checkpoints carry what the export needs to write a Hugging Face
folder (see :meth:`ImageClassificationModule.on_save_checkpoint`).
"""

from __future__ import annotations

import platform
import time
from typing import Any

import torch
import torch.nn.functional as F
from timm.utils import ModelEmaV3
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from hf_seq2seq_vit.export.contract import IMAGE_CLASSIFICATION
from hf_seq2seq_vit.lightning.base import TaskModule
from hf_seq2seq_vit.models.conv_vit import ConvViTConfig, ConvViTForImageClassification

SPLITS = ("train", "val", "test")


class ImageClassificationModule(TaskModule):
    """A CNN-stem ViT classifier trained with cross-entropy, AdamW, warmup + cosine and (optionally) EMA.

    Args:
        model_config: :class:`ConvViTConfig` fields (applied over ``preset`` when given), e.g.
            ``{"hidden_size": 256, "num_hidden_layers": 6}``. ``num_labels``, ``id2label`` and ``label2id`` are
            taken from the data module's class names at setup.
        preset: a ``ConvViTConfig.from_preset`` name (``"cifar10"``, ``"cifar10-patch"``, ``"imagenet"``).
        pretrained_model: a folder or Hub id to start from (``from_pretrained``); ``model_config`` overrides its
            config and ``preset`` is ignored.
        learning_rate, weight_decay, betas: AdamW settings (biases, norms and embeddings get no weight decay).
        scheduler, warmup_fraction: schedule name for ``build_scheduler`` and the share of all steps spent warming up.
        label_smoothing: smoothing of the cross-entropy targets, one-hot or Mixup soft targets alike.
        ema_decay: keep an exponential moving average of the weights (timm ``ModelEmaV3``) with this decay and use
            it for validation and test; ``None`` turns EMA off. ``ema_warmup`` ramps the decay up early in training.

    Example::

        >>> module = ImageClassificationModule(model_config={"image_size": 32, "stem_channels": [16, 32],
        ...     "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_labels": 10})
        >>> module(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    task = IMAGE_CLASSIFICATION

    def __init__(
        self,
        model_config: dict[str, Any] | None = None,
        preset: str | None = None,
        pretrained_model: str | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.05,
        betas: list[float] | None = None,
        scheduler: str = "cosine",
        warmup_fraction: float = 0.05,
        label_smoothing: float = 0.1,
        ema_decay: float | None = None,
        ema_warmup: bool = True,
    ):
        super().__init__()
        self.save_hyperparameters()
        overrides = dict(model_config or {})
        if pretrained_model:
            self.model = ConvViTForImageClassification.from_pretrained(pretrained_model, **overrides)
            self.model.train()  # from_pretrained returns eval mode and Lightning keeps it: no dropout / drop-path
        else:
            config = ConvViTConfig.from_preset(preset, **overrides) if preset else ConvViTConfig(**overrides)
            self.model = ConvViTForImageClassification(config)
        self.ema = None
        if ema_decay:
            self.ema = ModelEmaV3(self.model, decay=ema_decay, use_warmup=ema_warmup).requires_grad_(False)
            # ModelEmaV3 puts its copy in eval mode; Lightning switches modes for the whole module itself (eval for
            # validation/test), so start in train mode like the rest and avoid its "modules in eval mode" warning.
            self.ema.train()
        num_classes = self.model.config.num_labels
        self.metrics = torch.nn.ModuleDict({
            f"{split}_metrics": MetricCollection({
                "acc": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
                "acc_top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
            }, prefix=f"{split}_") for split in SPLITS
        })
        self.eval_results: dict[str, float] = {}
        self.train_seconds, self._fit_started = 0.0, None

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_labels)``: from the EMA weights outside training when EMA is on."""
        model = self.ema.module if self.ema is not None and not self.training else self.model
        return model(pixel_values).logits

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
        if len(names) != config.num_labels:
            raise ValueError(f"The dataset has {len(names)} classes but the model has num_labels={config.num_labels};"
                             f" set model_config.num_labels: {len(names)}.")
        for model in (self.model, self.ema.module if self.ema is not None else None):
            if model is not None:
                model.config.id2label = dict(enumerate(names))
                model.config.label2id = {name: index for index, name in enumerate(names)}

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

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)

    def on_validation_end(self) -> None:
        self._collect_results()

    def on_test_end(self) -> None:
        self._collect_results()

    def _collect_results(self) -> None:
        """Keep the latest epoch-level val/test metrics (the checkpoint callback saves before ``on_validation_end``)."""
        self.eval_results.update({k: float(v) for k, v in self.trainer.callback_metrics.items()
                                  if k.startswith(("val_", "test_")) and v.numel() == 1})

    def on_fit_start(self) -> None:
        self._fit_started = time.perf_counter()

    # ---------------------------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        from hf_seq2seq_vit.lightning.schedules import build_scheduler

        hp = self.hparams
        decay, no_decay = [], []
        for name, parameter in self.model.named_parameters():
            # weight decay on matrices and conv kernels only, as in timm / the ViT recipe
            (decay if parameter.ndim > 1 and "position_embeddings" not in name else no_decay).append(parameter)
        groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        fused = self.device.type == "cuda"  # the fused kernel is CUDA only
        optimizer = torch.optim.AdamW(groups, lr=hp.learning_rate, betas=tuple(hp.betas or (0.9, 0.999)),
                                      fused=fused)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(hp.warmup_fraction * total)
        return {"optimizer": optimizer, "lr_scheduler": build_scheduler(optimizer, hp.scheduler, warmup, total)}

    # ---------------------------------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the export contract: task, HF config and processor, latest metrics, training facts.

        Weights: ``model.`` + the HF keys are the raw weights; with EMA, ``ema.module.`` + the HF keys hold the EMA
        weights, which are what validation/test measured; ``hf_weights_prefix`` names the prefix to export.
        """
        datamodule = self.trainer.datamodule
        self._collect_results()
        if self._fit_started is not None:
            now = time.perf_counter()
            self.train_seconds += now - self._fit_started
            self._fit_started = now
        if torch.cuda.is_available():
            hardware = f"{self.trainer.num_devices}x {torch.cuda.get_device_name()}"
        else:
            hardware = f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        checkpoint["hf_task"] = "image-classification"
        checkpoint["hf_config"] = self.model.config.to_dict()
        checkpoint["hf_image_processor"] = datamodule.image_processor.to_dict()
        checkpoint["hf_eval_results"] = dict(self.eval_results)
        checkpoint["hf_weights_prefix"] = "ema.module." if self.ema is not None else "model."
        checkpoint["hf_train_info"] = {"dataset": datamodule.dataset_name, "global_step": int(self.global_step),
                                       "train_time_s": round(self.train_seconds, 1), "hardware": hardware}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)  # refuses the other task's checkpoint
        self.eval_results = dict(checkpoint.get("hf_eval_results", {}))
        self.train_seconds = float(checkpoint.get("hf_train_info", {}).get("train_time_s", 0.0))
