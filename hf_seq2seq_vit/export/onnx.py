"""Export an image classifier (ConvViT) to ONNX, run by ONNX Runtime on the CPU.

Command line::

    python -m hf_seq2seq_vit.export runs/cifar10.ckpt outputs/cifar10-onnx --format onnx
    hf-seq2seq-vit export runs/cifar10.ckpt outputs/cifar10-onnx --format onnx

From Python::

    >>> from hf_seq2seq_vit.export.onnx import OnnxImageClassifier
    >>> classifier = OnnxImageClassifier("outputs/cifar10-onnx")            # doctest: +SKIP
    >>> classifier(pixel_values).shape                                      # doctest: +SKIP
    (8, 10)

The graph is traced by PyTorch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``, the one PyTorch
recommends) with a dynamic batch dimension: input ``pixel_values`` (B, C, H, W) float32, output ``logits``
(B, num_labels). The folder also holds ``config.json`` (labels), ``preprocessor_config.json`` (the image
processor to prepare inputs) and ``hf_seq2seq_vit_onnx.json``. The export is checked before it is moved into place:
ONNX Runtime must give the model's logits within 1e-4. Needs ``pip install 'hf-seq2seq-vit[onnx]'``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ExportError

ONNX_FILE = "model.onnx"
RECORD_FILE = "hf_seq2seq_vit_onnx.json"
FORMAT_NAME = "hf_seq2seq_vit onnx"
INSTALL_HINT = "pip install 'hf-seq2seq-vit[onnx]' (or pip install onnx onnxscript onnxruntime)"
TOLERANCE = 1e-4

__all__ = ["ONNX_FILE", "OnnxImageClassifier", "export_onnx", "save_onnx"]


def _require(*modules: str, error_class: type[Exception] = ExportError) -> None:
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise error_class(f"{name} is not installed ({error}); {INSTALL_HINT}") from error


class _Logits(torch.nn.Module):
    """The classifier as a graph of one tensor in, one tensor out (ONNX has no ModelOutput)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixel_values).logits


def save_onnx(model, image_processor, folder: str | os.PathLike, check: bool = True) -> Path:
    """Write ``model.onnx`` (dynamic batch), the config and the image processor into ``folder`` (which must exist).

    With ``check`` the written graph is run by ONNX Runtime on random images and must give the model's logits
    within 1e-4 (an :class:`ExportError` otherwise).

    Example::

        >>> save_onnx(model, image_processor, staging_folder)   # doctest: +SKIP
    """
    _require("onnx", "onnxscript", "onnxruntime")
    folder = Path(folder)
    model = model.eval()
    height, width = model.config.image_height_width
    example = torch.randn(2, model.config.num_channels, height, width, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            _Logits(model), (example,), dynamo=True, input_names=["pixel_values"], output_names=["logits"],
            dynamic_shapes={"pixel_values": {0: torch.export.Dim("batch")}}, verbose=False,
        )
    program.save(str(folder / ONNX_FILE))
    model.config.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    record = {"format": FORMAT_NAME, "input": "pixel_values", "output": "logits", "model_type": model.config.model_type,
              "image_size": [height, width], "num_channels": model.config.num_channels}
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if check:
        for batch in (1, 3):
            pixels = torch.randn(batch, model.config.num_channels, height, width,
                                 generator=torch.Generator().manual_seed(batch))
            with torch.no_grad():
                expected = model(pixel_values=pixels).logits.numpy()
            got = OnnxImageClassifier(folder, intra_threads=1)(pixels)
            difference = float(np.abs(expected - got).max())
            if difference > TOLERANCE:
                raise ExportError(
                    f"ONNX Runtime's logits differ from the model's by {difference:.3g} (> {TOLERANCE}) on a batch of "
                    f"{batch}; the graph was not exported faithfully"
                )
    return folder


def export_onnx(checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, task: str | None = None,
                overwrite: bool = False) -> Path:
    """Write the ONNX folder of an image-classification checkpoint (built beside ``output_dir``, then moved).

    Example::

        >>> export_onnx("runs/cifar10.ckpt", "outputs/cifar10-onnx")   # doctest: +SKIP
        PosixPath('outputs/cifar10-onnx')
    """
    from .checkpoint import prepared_export
    from .contract import IMAGE_CLASSIFICATION

    _require("onnx", "onnxscript", "onnxruntime")
    with prepared_export(checkpoint_path, output_dir, task, overwrite, only_task=IMAGE_CLASSIFICATION,
                         refusal="--format onnx exports image classifiers only (export translators with --format hf "
                                 "or --format ctranslate2)") as export:
        save_onnx(export.model, export.companion, export.staging)
    return export.output_dir


class OnnxImageClassifier:
    """An exported ONNX folder run by ONNX Runtime on the CPU: pixel values in, logits (numpy) out.

    Args:
        folder: a folder written by ``export --format onnx``.
        intra_threads: threads per call (0: ONNX Runtime's default).

    Example::

        >>> classifier = OnnxImageClassifier("outputs/cifar10-onnx", intra_threads=1)   # doctest: +SKIP
        >>> pixels = classifier.image_processor(images, return_tensors="pt").pixel_values   # doctest: +SKIP
        >>> classifier(pixels).argmax(-1)                                                    # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike, intra_threads: int = 0):
        _require("onnxruntime", error_class=ImportError)
        import onnxruntime

        self.folder = Path(folder)
        path = self.folder / ONNX_FILE
        if not path.is_file():
            raise ExportError(f"{str(self.folder)!r} has no {ONNX_FILE}; write it with `export CKPT DIR --format onnx`")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._image_processor: Any = None

    @property
    def image_processor(self):
        """The folder's image processor (``preprocessor_config.json``)."""
        if self._image_processor is None:
            from transformers import AutoImageProcessor

            import hf_seq2seq_vit  # noqa: F401  (registers ConvViTImageProcessor)

            self._image_processor = AutoImageProcessor.from_pretrained(self.folder)
        return self._image_processor

    def __call__(self, pixel_values: torch.Tensor | np.ndarray) -> np.ndarray:
        if isinstance(pixel_values, torch.Tensor):
            pixel_values = pixel_values.detach().cpu().numpy()
        pixel_values = np.ascontiguousarray(pixel_values, dtype=np.float32)
        return self.session.run(["logits"], {"pixel_values": pixel_values})[0]
