"""Export a Lightning checkpoint as a Hugging Face model folder (and optionally push it to the Hub).

Command line::

    python -m hf_seq2seq_vit.export runs/best.ckpt outputs/my-model                  # write the folder
    python -m hf_seq2seq_vit.export runs/best.ckpt outputs/my-model --push-to-hub user/my-model

From Python::

    >>> from hf_seq2seq_vit.export import export_checkpoint, load_exported, push_exported
    >>> folder = export_checkpoint("runs/best.ckpt", "outputs/my-model")   # doctest: +SKIP
    >>> model, tokenizer = load_exported(folder)                            # doctest: +SKIP
    >>> push_exported(folder, "user/my-model")                              # doctest: +SKIP

The folder holds what ``save_pretrained`` writes for the model (``config.json`` with an ``auto_map``,
``model.safetensors``, ``generation_config.json``) and for the tokenizer or image processor, the remote-code files
(``configuration_*.py``, ``modeling_*.py``, ``image_processing_*.py``, and for translation
``pipeline_seq2seq_transformer.py`` + ``custom_pipelines``), a ``README.md`` model card and ``export_manifest.json``
(the files the export wrote, so that a later export replaces exactly those). It loads with the Auto classes after
``import hf_seq2seq_vit``, or anywhere with ``trust_remote_code=True``.

The modules, in the order a checkpoint goes through them:

- ``contract``: the ``hf_*`` entries a LightningModule writes into its checkpoint, typed (written and read here);
- ``checkpoint``: reading a checkpoint with ``torch.load(weights_only=True)``; its model and (EMA) weights;
- ``exporters``: one exporter per task (what it needs, how its folder is written, checked and loaded);
- ``target``: where the folder goes, never deleting what an export did not write;
- ``writing``: :func:`export_checkpoint`; ``loading``: :func:`load_exported`; ``hub``: :func:`push_exported`;
- ``cli``: ``python -m hf_seq2seq_vit.export``;
- other formats (``--format``): ``ctranslate2`` (a translator for CTranslate2, optional extra ``[ct2]``) and
  ``onnx`` (an image classifier for ONNX Runtime, optional extra ``[onnx]``), written with the same target rules.
"""

from .checkpoint import WEIGHT_PREFIXES, checkpoint_to_export, model_from_checkpoint, read_checkpoint
from .cli import main
from .contract import TASKS, CheckpointContract, CheckpointContractError, TokenizerRecord, TrainInfo
from .errors import ExportError, HubExportError
from .exporters import (
    EXPORTERS,
    MainMetric,
    TaskExporter,
    exporter_for,
    generation_config_from_checkpoint,
    register_exporter,
    tokenizer_from_checkpoint,
)
from .hub import push_exported
from .loading import load_exported
from .target import check_export_target
from .writing import export_checkpoint

__all__ = [
    "EXPORTERS",
    "TASKS",
    "WEIGHT_PREFIXES",
    "CheckpointContract",
    "CheckpointContractError",
    "ExportError",
    "HubExportError",
    "MainMetric",
    "TaskExporter",
    "TokenizerRecord",
    "TrainInfo",
    "check_export_target",
    "checkpoint_to_export",
    "export_checkpoint",
    "exporter_for",
    "generation_config_from_checkpoint",
    "load_exported",
    "main",
    "model_from_checkpoint",
    "push_exported",
    "read_checkpoint",
    "register_exporter",
    "tokenizer_from_checkpoint",
]
