"""Export a Lightning checkpoint as a Hugging Face model folder (and optionally push it to the Hub).

Command line::

    python -m hf_seq2seq_vit.export runs/best.ckpt outputs/my-model
    python -m hf_seq2seq_vit.export runs/best.ckpt outputs/my-model --push-to-hub user/my-model

From Python::

    >>> from hf_seq2seq_vit.export import export_checkpoint, load_exported, push_exported
    >>> folder = export_checkpoint("runs/best.ckpt", "outputs/my-model")   # doctest: +SKIP
    >>> model, tokenizer = load_exported(folder)                            # doctest: +SKIP
    >>> push_exported(folder, "user/my-model")                              # doctest: +SKIP

``contract`` defines what a checkpoint must hold (the ``hf_*`` entries), written and read by the same code.
"""

from .contract import CheckpointContract, CheckpointContractError, TokenizerRecord, TrainInfo
from .errors import ExportError, HubExportError
from .target import check_export_target
from .exporting import (
    TASKS,
    export_checkpoint,
    generation_config_from_checkpoint,
    load_exported,
    main,
    model_from_checkpoint,
    push_exported,
    read_checkpoint,
    tokenizer_from_checkpoint,
)

__all__ = [
    "TASKS",
    "CheckpointContract",
    "CheckpointContractError",
    "ExportError",
    "HubExportError",
    "TokenizerRecord",
    "TrainInfo",
    "check_export_target",
    "export_checkpoint",
    "generation_config_from_checkpoint",
    "load_exported",
    "main",
    "model_from_checkpoint",
    "push_exported",
    "read_checkpoint",
    "tokenizer_from_checkpoint",
]
