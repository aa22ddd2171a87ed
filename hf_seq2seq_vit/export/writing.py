"""Writing the Hugging Face folder of a checkpoint: model, tokenizer/processor, remote code, model card; verified."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from ..model_card import build_model_card
from .checkpoint import prepared_export
from .errors import ExportError
from .exporters import TaskExporter
from .loading import load_exported

__all__ = ["export_checkpoint"]


def export_checkpoint(
    checkpoint_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    task: str | None = None,
    model_name: str | None = None,
    license: str = "apache-2.0",
    verify: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write the Hugging Face folder of a Lightning checkpoint: model, tokenizer/processor, remote code, model card.

    The folder is built next to ``output_dir`` and moved into place only when complete (and, with ``verify=True``,
    reloaded with :func:`load_exported` and checked to give the same logits as the checkpoint's weights), so a
    failed export never leaves a half-written folder. An earlier export in ``output_dir`` is replaced; any other
    non-empty folder is refused unless ``overwrite=True``, which replaces only the files an export writes
    (:mod:`hf_seq2seq_vit.export.target`). Nothing the export did not write is ever deleted.

    Args:
        checkpoint_path: the Lightning ``.ckpt``.
        output_dir: where the folder goes.
        task: the expected task; a checkpoint of another task is an error.
        model_name: the name the card uses (default: the folder name); pass the Hub repo id when pushing.
        license: Hub license of the weights, unless the checkpoint's ``hf_train_info`` has a ``license``.
        verify: reload the written folder and compare its outputs with the checkpoint's.
        overwrite: write into a non-empty folder that is not an earlier export (same-named files are replaced).

    Returns:
        ``output_dir`` as a ``Path``.

    Example::

        >>> export_checkpoint("runs/best.ckpt", "outputs/demo-model")   # doctest: +SKIP
        PosixPath('outputs/demo-model')
    """
    with prepared_export(checkpoint_path, output_dir, task, overwrite) as export:
        model, companion, exporter = export.model, export.companion, export.exporter
        exporter.save(model, companion, export.staging)
        card = build_model_card(
            exporter.card,
            model.config,
            eval_results=export.contract.eval_results,
            train_info=export.contract.train_info.to_dict(),
            hyper_parameters=_plain(export.checkpoint.get("hyper_parameters")),
            generation_config=exporter.card_generation_config(model),
            num_parameters=model.num_parameters(),
            model_name=model_name or export.output_dir.name,
            license=license,
        )
        card.save(export.staging / "README.md")
        if verify:
            _verify(export.staging, model, companion, exporter)
    return export.output_dir


def _plain(values: Any) -> Any:
    """Hyper-parameters as JSON-able data for the card (Lightning may store an AttributeDict)."""
    return json.loads(json.dumps(dict(values or {}), default=str))


@torch.no_grad()
def _verify(folder: Path, model: PreTrainedModel, companion, exporter: TaskExporter) -> None:
    """Reload ``folder`` and check that it computes exactly what the checkpoint's weights compute."""
    reloaded, reloaded_companion = load_exported(folder, task=exporter.task)
    exporter.check_reloaded_companion(companion, reloaded_companion, folder)
    inputs = exporter.example_inputs(model, companion)
    expected, got = model(**inputs).logits, reloaded(**inputs).logits
    if not torch.equal(expected, got):
        raise ExportError(
            f"The model reloaded from {folder} gives other logits than the checkpoint's weights (max difference "
            f"{(expected - got).abs().max().item():.3g}); a weight is not saved or restored, e.g. a buffer"
        )
