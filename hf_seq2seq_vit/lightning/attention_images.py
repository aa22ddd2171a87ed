"""Pictures of attention during training: a few validation examples logged as images to TensorBoard or W&B.

Translation: for the first ``num_examples`` sentences of the first validation batch, the decoder's cross-attention
(last layer, mean of heads; generated tokens × source tokens) for the model's current greedy translation.
Images: the attention-rollout overlay on the first ``num_examples`` validation images. The images appear under
``attention/example_<i>`` at each validation (every ``every_n_epochs`` epochs), so one can watch alignment form.

Add it to a config (it does nothing, at no cost, when neither a TensorBoard nor a W&B logger is configured)::

    trainer:
      logger:
        - class_path: lightning.pytorch.loggers.TensorBoardLogger
          init_args: {save_dir: outputs/run}
      callbacks:
        - class_path: hf_seq2seq_vit.lightning.attention_images.AttentionImages
          init_args: {num_examples: 2}
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

__all__ = ["AttentionImages", "supported_loggers"]


def supported_loggers(trainer: L.Trainer) -> list[Any]:
    """The trainer's loggers that can show images: TensorBoard and W&B."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    return [logger for logger in trainer.loggers if isinstance(logger, (TensorBoardLogger, WandbLogger))]


class AttentionImages(L.Callback):
    """Log cross-attention maps (translation) or rollout overlays (images) of a few validation examples.

    Args:
        num_examples: how many examples of the first validation batch to draw.
        every_n_epochs: draw at the validation of every n-th epoch.
        max_new_tokens: longest translation drawn (translation only).

    Example::

        >>> trainer = L.Trainer(logger=TensorBoardLogger("outputs"),
        ...                     callbacks=[AttentionImages(num_examples=2)])   # doctest: +SKIP
    """

    def __init__(self, num_examples: int = 2, every_n_epochs: int = 1, max_new_tokens: int = 32):
        super().__init__()
        for name, value in (("num_examples", num_examples), ("every_n_epochs", every_n_epochs),
                            ("max_new_tokens", max_new_tokens)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"AttentionImages {name}={value!r} is invalid: expected an integer >= 1")
        self.num_examples = num_examples
        self.every_n_epochs = every_n_epochs
        self.max_new_tokens = max_new_tokens
        self._examples: dict[str, torch.Tensor] | None = None

    def _active(self, trainer: L.Trainer) -> bool:
        return (trainer.is_global_zero and not trainer.sanity_checking
                and trainer.current_epoch % self.every_n_epochs == 0 and bool(supported_loggers(trainer)))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and dataloader_idx == 0 and self._active(trainer) and isinstance(batch, dict):
            self._examples = {key: value[: self.num_examples].detach().cpu() for key, value in batch.items()
                              if key in ("input_ids", "attention_mask", "pixel_values") and torch.is_tensor(value)}

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        examples, self._examples = self._examples, None
        if not examples or not self._active(trainer):
            return
        if "input_ids" in examples:
            pictures = self._translation_pictures(pl_module, examples)
        elif "pixel_values" in examples:
            pictures = self._rollout_pictures(trainer, pl_module, examples)
        else:
            return
        for logger in supported_loggers(trainer):
            for number, picture in enumerate(pictures):
                log_image(logger, f"attention/example_{number}", picture, trainer.global_step)

    @torch.no_grad()
    def _translation_pictures(self, pl_module, examples) -> list[Any]:
        from ..visualize.explain import cross_attention_figure, explain_translation, figure_to_array

        model, tokenizer = pl_module.model, pl_module.tokenizer
        pictures = []
        for ids, mask in zip(examples["input_ids"], examples["attention_mask"]):
            sentence = tokenizer.decode(ids[mask.bool()], skip_special_tokens=True)
            if not sentence.strip():
                continue
            explanation = explain_translation(model, tokenizer, sentence, num_beams=1,
                                              max_new_tokens=self.max_new_tokens)
            pictures.append(figure_to_array(cross_attention_figure(explanation)))
        return pictures

    @torch.no_grad()
    def _rollout_pictures(self, trainer, pl_module, examples) -> list[Any]:
        import numpy as np

        from ..attention_rollout import attention_rollout_heatmap, overlay_heatmap
        from ..visualize.explain import pixels_to_image, stretch

        ema = getattr(pl_module, "ema", None)
        model = ema.module if ema is not None else pl_module.model  # the weights validation scores
        processor = getattr(getattr(trainer, "datamodule", None), "image_processor", None)
        pixel_values = examples["pixel_values"].to(pl_module.device)
        heatmaps = attention_rollout_heatmap(model, pixel_values).cpu()  # (B, h, w)
        return [np.asarray(overlay_heatmap(pixels_to_image(pixels, processor), stretch(heatmap)))
                for pixels, heatmap in zip(examples["pixel_values"], heatmaps)]


def log_image(logger: Any, tag: str, picture: Any, step: int) -> None:
    """Send one ``(H, W, 3)`` uint8 picture to a TensorBoard or W&B logger."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if isinstance(logger, TensorBoardLogger):
        logger.experiment.add_image(tag, picture, global_step=step, dataformats="HWC")
    else:  # WandbLogger
        logger.log_image(key=tag, images=[picture], step=step)
