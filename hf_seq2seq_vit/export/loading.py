"""Loading an exported folder with errors that say what is wrong, never with random or damaged weights in silence."""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers import AutoConfig

from ..models.seq2seq_transformer.pipeline_seq2seq_transformer import check_loaded_weights
from .errors import ExportError
from .exporters import exporter_for_model_type

__all__ = ["load_exported"]


def load_exported(folder: str | os.PathLike, trust_remote_code: bool = False, task: str | None = None):
    """Load an exported folder as ``(model, tokenizer)`` or ``(model, image_processor)``, with clear errors.

    Checks, before transformers runs: the folder and ``config.json`` exist; the weights are safetensors (pickle
    files are refused, never loaded) and every file is complete; the tokenizer (``tokenizer.json``, which must parse)
    or image processor (``preprocessor_config.json``) is there; the tokenizer's vocabulary fits the model's
    embeddings. After loading: every tensor of the model was in the weights file and all weights are finite.

    Args:
        folder: the exported folder.
        trust_remote_code: load the folder's own modeling code instead of this package's.
        task: the expected task (``"translation"`` / ``"image-classification"``); a folder of another task is an
            error naming both.

    Example::

        >>> model, tokenizer = load_exported("outputs/demo-model")   # doctest: +SKIP
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ExportError(
            f"{str(folder)!r} is not an exported model folder (no config.json); create one with "
            "`python -m hf_seq2seq_vit.export <checkpoint> <folder>`"
        )
    _check_safetensors(folder)
    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    exporter = exporter_for_model_type(getattr(config, "model_type", None), where=repr(str(folder)))
    if task is not None and exporter.task != task:
        raise ExportError(
            f"{str(folder)!r} holds an {exporter.task!r} model but {task!r} was asked; pass a folder exported from "
            f"a {task} checkpoint"
        )
    companion = exporter.load_companion(folder, config, trust_remote_code)
    try:
        model = exporter.auto_model_class.from_pretrained(folder, use_safetensors=True,
                                                          trust_remote_code=trust_remote_code)
    except Exception as error:
        raise ExportError(f"Could not load the model in {str(folder)!r}: {type(error).__name__}: {error}") from error
    try:  # from_pretrained fills a tensor missing from the file at random, with only a warning
        check_loaded_weights(model)
    except ValueError as error:
        raise ExportError(str(error)) from error
    return model.eval(), companion


def _check_safetensors(folder: Path) -> None:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
        raise ExportError(
            f"{str(folder)!r} has no model.safetensors"
            + (f" (only {pickles}, pickle files that are never loaded, since unpickling runs code)" if pickles else "")
            + "; re-export the checkpoint with `python -m hf_seq2seq_vit.export`"
        )
    for name in files:
        path = folder / name
        if not path.is_file():
            raise ExportError(f"{str(folder)!r}: the weights file {name} listed in the index is missing; re-export")
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except SafetensorError as error:
            raise ExportError(
                f"The weights file {str(path)!r} is damaged ({error}); it was probably truncated by an interrupted "
                "copy or download: copy or download it again, or re-export the checkpoint"
            ) from error


