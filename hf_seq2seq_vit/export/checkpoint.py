"""Reading a Lightning checkpoint for export: safely (no pickle code runs), checked against the contract and the task;
and the start every export format shares (:func:`prepared_export`).

Example::

    >>> checkpoint = read_checkpoint("runs/best.ckpt", task="translation")   # doctest: +SKIP
    >>> model = model_from_checkpoint(checkpoint)                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from ..model_card import evaluation_rows
from .contract import TASKS, CheckpointContract
from .errors import ExportError
from .exporters import TaskExporter, exporter_for
from .target import check_export_target, staged_export

try:
    from PIL.Image import Resampling

    # PIL's Resampling enum is plain data (an image processor's `resample`); checkpoints written before the contract
    # turned it into an int may hold it. Nothing else is allowed.
    _SAFE_GLOBALS: list = [Resampling]
except ImportError:  # pragma: no cover - pillow comes with transformers' image processing
    _SAFE_GLOBALS = []

# Where the weights may sit in the Lightning state_dict when the checkpoint does not say (hf_weights_prefix None):
# EMA weights first, when the run kept them.
WEIGHT_PREFIXES = ("ema.module.", "ema.", "model.")

__all__ = ["WEIGHT_PREFIXES", "PreparedExport", "checkpoint_to_export", "model_from_checkpoint", "prepared_export",
           "read_checkpoint"]


def read_checkpoint(path: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Load a Lightning checkpoint without running pickle code and check that it can be exported.

    Args:
        path: the ``.ckpt`` file.
        task: the expected ``hf_task`` (``"translation"`` / ``"image-classification"``); ``None`` accepts either.

    Returns:
        The checkpoint dict; :meth:`CheckpointContract.read` gives its ``hf_*`` entries typed.

    Raises:
        ExportError: the file is missing or not a checkpoint, holds objects ``weights_only`` refuses, breaks the
            contract, or is of another task than ``task`` (the message names both).

    Example::

        >>> read_checkpoint("runs/best.ckpt")["hf_task"]   # doctest: +SKIP
        'translation'
    """
    path = Path(path)
    if task is not None and task not in TASKS:
        raise ExportError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    if not path.is_file():
        raise ExportError(f"No checkpoint file at {str(path)!r}; pass the .ckpt written by the Trainer")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        raise ExportError(
            f"Could not read {str(path)!r} as a checkpoint with torch.load(weights_only=True): {error}. "
            "A truncated or corrupted file must be re-saved; a checkpoint holding arbitrary Python objects (e.g. in "
            "hyper_parameters) must store plain types instead, since export never unpickles code."
        ) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ExportError(f"{str(path)!r} is not a Lightning checkpoint (no 'state_dict' entry)")
    source = repr(str(path))
    contract = CheckpointContract.read(checkpoint, source=source)
    if task is not None and contract.task != task:
        raise ExportError(
            f"{source} is an {contract.task!r} checkpoint but --task {task} was asked; drop --task or pass the "
            f"checkpoint of a {task} run"
        )
    exporter_for(contract.task).check(contract, source)
    try:  # the card reports these numbers: check them now rather than after the model is built
        evaluation_rows(contract.eval_results)
    except ValueError as error:
        raise ExportError(f"{source}: {error}") from error
    return checkpoint


def model_from_checkpoint(checkpoint: dict[str, Any]) -> PreTrainedModel:
    """Build the Hugging Face model of a checkpoint read by :func:`read_checkpoint`, with its (EMA) weights, in eval mode.

    Example::

        >>> model = model_from_checkpoint(read_checkpoint("runs/best.ckpt"))   # doctest: +SKIP
    """
    contract = CheckpointContract.read(checkpoint)
    exporter = exporter_for(contract.task)
    config = CONFIG_MAPPING[exporter.model_type].from_dict(dict(contract.model_config))
    model = exporter.auto_model_class.from_config(config)
    weights = _select_weights(model, checkpoint["state_dict"], contract.weights_prefix)
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ExportError(
                f"The checkpoint's weight {name!r} holds NaN or inf values (training diverged, or the file is "
                "damaged); export an earlier checkpoint of the run"
            )
    model.load_state_dict(weights, strict=True)
    return model.eval()


@dataclass(frozen=True)
class PreparedExport:
    """A checkpoint read for export: its contract and task exporter, the model with its weights and the tokenizer or
    image processor, ready to be written into ``staging`` (which becomes ``output_dir`` when the export succeeds)."""

    checkpoint: dict[str, Any]
    contract: CheckpointContract
    exporter: TaskExporter
    source: str  # the checkpoint path as error messages quote it
    model: PreTrainedModel
    companion: Any
    output_dir: Path
    staging: Path


@contextlib.contextmanager
def prepared_export(checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, task: str | None = None,
                    overwrite: bool = False, only_task: str | None = None,
                    refusal: str = "") -> Iterator[PreparedExport]:
    """Read, check and build what every export format starts from, then stage its folder; the ``with`` body writes
    the files into ``.staging`` and the folder moves to ``output_dir`` when the body ends without an error.

    The order is the one each format needs to fail fast: the checkpoint (:func:`read_checkpoint`, with ``task``),
    the format's task (``only_task``: another task is an :class:`ExportError` "<checkpoint> is a(n) <task>
    checkpoint; <refusal>"), the target folder (:func:`check_export_target`, ``overwrite``) before any model is
    built, then the model, its companion and the task exporter's ``prepare``. The checkpoint file itself is never
    moved or deleted by the staging.

    Example::

        >>> with prepared_export("runs/best.ckpt", "outputs/model") as export:   # doctest: +SKIP
        ...     export.exporter.save(export.model, export.companion, export.staging)
    """
    checkpoint = read_checkpoint(checkpoint_path, task)
    contract = CheckpointContract.read(checkpoint)
    source = repr(str(checkpoint_path))
    if only_task is not None and contract.task != only_task:
        article = "an" if contract.task[0] in "aeiou" else "a"
        raise ExportError(f"{source} is {article} {contract.task} checkpoint; {refusal}")
    exporter = exporter_for(contract.task)
    output_dir = Path(os.path.abspath(output_dir))  # "." -> the current folder's own name and parent
    check_export_target(output_dir, overwrite)  # before the model is built: a refused folder fails fast
    model = model_from_checkpoint(checkpoint)
    companion = exporter.companion(contract, source)
    exporter.prepare(model, companion, contract, source)
    with staged_export(output_dir, overwrite=overwrite, protect=(checkpoint_path,)) as staging:
        yield PreparedExport(checkpoint, contract, exporter, source, model, companion, output_dir, staging)


def _select_weights(
    model: torch.nn.Module, state_dict: dict[str, torch.Tensor], preferred: str | None = None
) -> dict[str, torch.Tensor]:
    """The model's weights out of the Lightning state_dict: under the ``preferred`` prefix (the checkpoint's
    ``hf_weights_prefix``) if given, else under the first of ``WEIGHT_PREFIXES`` that has keys. Never falls back to
    another prefix: EMA weights that do not fit the model are an error, not a silent switch to the raw weights."""
    expected = set(model.state_dict())
    for prefix in [preferred] if preferred else WEIGHT_PREFIXES:
        # torch.compile wraps the module as `_orig_mod`; its keys name the same parameters.
        weights = {key[len(prefix):].replace("_orig_mod.", ""): value
                   for key, value in state_dict.items() if key.startswith(prefix)}
        if not weights:
            continue
        missing = sorted(expected - set(weights))
        if missing:
            raise ExportError(
                f"The checkpoint's weights under {prefix!r} miss {len(missing)} parameters of the model that hf_config "
                f"describes, e.g. {missing[:3]}; hf_config does not match the trained model"
            )
        unexpected = sorted(set(weights) - expected)
        if unexpected and prefix == "model.":
            raise ExportError(
                f"The checkpoint's model weights have keys the config's model lacks, e.g. {unexpected[:3]}; "
                "hf_config does not describe the trained model"
            )
        return {key: weights[key] for key in expected}  # EMA extras such as `n_averaged` are not weights
    tried = [preferred] if preferred else list(WEIGHT_PREFIXES)
    raise ExportError(
        f"The checkpoint's state_dict has no keys starting with {tried}; the LightningModule must keep the Hugging "
        "Face model as `self.model`"
    )


def checkpoint_to_export(trainer) -> str | None:
    """The run's best checkpoint (its ``ModelCheckpoint``'s monitored metric), else its last; ``None`` if none exists.

    Example::

        >>> checkpoint_to_export(trainer)   # doctest: +SKIP
        'outputs/run/checkpoints/epoch=9-val_bleu=31.20.ckpt'
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            for path in (callback.best_model_path, callback.last_model_path):
                if path and os.path.isfile(path):
                    return path
    return None
