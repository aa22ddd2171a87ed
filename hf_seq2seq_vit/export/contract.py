"""The checkpoint contract: what a LightningModule stores in its checkpoint so that it exports on its own.

A Lightning checkpoint is a dict; next to Lightning's own entries (``state_dict``, ``epoch``, ...) our modules keep
the ``hf_*`` entries below. They are written and read only through :class:`CheckpointContract`, so the key names,
their types and the defaults of older checkpoints live in this one file::

    hf_contract_version   int          1 (absent in checkpoints written before this module: read as 0)
    hf_task               str          "translation" | "image-classification"
    hf_config             dict         the model's ``PreTrainedConfig.to_dict()``
    hf_weights_prefix     str | None   where the weights to export sit in ``state_dict`` ("model.", "ema.module.");
                                       None (older translation checkpoints): the exporter looks for EMA, then model
    hf_eval_results       dict         {"val_bleu": 31.2, "test_acc": 0.8, ...}: measured numbers only
    hf_train_info         dict         dataset, src_lang, tgt_lang, global_step, train_time_s, hardware, license
    hf_generation_config  dict | None  decoding defaults (translation)
    hf_tokenizer          dict | None  {"tokenizer_json": str, "model_max_length": int} (translation)
    hf_image_processor    dict | None  the image processor's ``to_dict()`` (image classification)

Everything is plain Python data, so ``torch.load(weights_only=True)`` reads it without unpickling code.

Writing (a LightningModule's ``on_save_checkpoint``)::

    >>> checkpoint = {"state_dict": {}}
    >>> CheckpointContract(task="translation", model_config={"model_type": "seq2seq_transformer"},
    ...                    tokenizer=TokenizerRecord("{...}", model_max_length=64),
    ...                    train_info=TrainInfo(dataset="bundled:multi30k", global_step=10)).write(checkpoint)
    >>> checkpoint["hf_task"], checkpoint["hf_train_info"]["global_step"]
    ('translation', 10)

Reading (export, ``on_load_checkpoint``)::

    >>> contract = CheckpointContract.read(checkpoint)
    >>> contract.tokenizer.model_max_length, contract.train_info.dataset
    (64, 'bundled:multi30k')
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ExportError

CONTRACT_VERSION = 1
TRANSLATION = "translation"
IMAGE_CLASSIFICATION = "image-classification"
TASKS = (TRANSLATION, IMAGE_CLASSIFICATION)

# The checkpoint keys, each spelled once.
VERSION_KEY = "hf_contract_version"
TASK_KEY = "hf_task"
CONFIG_KEY = "hf_config"
WEIGHTS_PREFIX_KEY = "hf_weights_prefix"
EVAL_RESULTS_KEY = "hf_eval_results"
TRAIN_INFO_KEY = "hf_train_info"
GENERATION_CONFIG_KEY = "hf_generation_config"
TOKENIZER_KEY = "hf_tokenizer"
IMAGE_PROCESSOR_KEY = "hf_image_processor"
KEYS = (VERSION_KEY, TASK_KEY, CONFIG_KEY, WEIGHTS_PREFIX_KEY, EVAL_RESULTS_KEY, TRAIN_INFO_KEY,
        GENERATION_CONFIG_KEY, TOKENIZER_KEY, IMAGE_PROCESSOR_KEY)

__all__ = [
    "CONTRACT_VERSION",
    "IMAGE_CLASSIFICATION",
    "KEYS",
    "TASKS",
    "TRANSLATION",
    "CheckpointContract",
    "CheckpointContractError",
    "TokenizerRecord",
    "TrainInfo",
]


class CheckpointContractError(ExportError):
    """A checkpoint whose ``hf_*`` entries are missing or of the wrong type; the message names the entry."""


@dataclass
class TokenizerRecord:
    """The tokenizer a translation model was trained with: its ``tokenizer.json`` text and maximum length."""

    tokenizer_json: str
    model_max_length: int | None = None


@dataclass
class TrainInfo:
    """Facts of the training run the model card reports; ``extra`` keeps any other recorded entries."""

    dataset: str | None = None
    src_lang: str | None = None
    tgt_lang: str | None = None
    global_step: int | None = None
    train_time_s: float | None = None
    hardware: str | None = None
    license: str | None = None  # the license to publish the weights under, when the data demands one
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The recorded facts as a flat dict (unset ones left out)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **{key: value for key, value in values.items() if value is not None}}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TrainInfo:
        """Read ``hf_train_info``; unknown keys go to ``extra``."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {key: values.pop(key) for key in list(values) if key in names}
        return cls(**known, extra=values)


@dataclass
class CheckpointContract:
    """The ``hf_*`` entries of one checkpoint, typed. See the module docstring for the keys."""

    task: str
    model_config: dict[str, Any]
    weights_prefix: str | None = "model."
    eval_results: dict[str, float] = field(default_factory=dict)
    train_info: TrainInfo = field(default_factory=TrainInfo)
    generation_config: dict[str, Any] | None = None
    tokenizer: TokenizerRecord | None = None
    image_processor: dict[str, Any] | None = None
    version: int = CONTRACT_VERSION

    def write(self, checkpoint: dict[str, Any]) -> None:
        """Store the entries in ``checkpoint`` (in place); refuses values a checkpoint cannot hold."""
        self.validate()
        checkpoint[VERSION_KEY] = CONTRACT_VERSION
        checkpoint[TASK_KEY] = self.task
        checkpoint[CONFIG_KEY] = _plain(self.model_config, CONFIG_KEY)
        checkpoint[WEIGHTS_PREFIX_KEY] = self.weights_prefix
        checkpoint[EVAL_RESULTS_KEY] = {key: _number(value) for key, value in self.eval_results.items()}
        checkpoint[TRAIN_INFO_KEY] = _plain(self.train_info.to_dict(), TRAIN_INFO_KEY)
        checkpoint[GENERATION_CONFIG_KEY] = _plain(self.generation_config, GENERATION_CONFIG_KEY)
        checkpoint[TOKENIZER_KEY] = None if self.tokenizer is None else dataclasses.asdict(self.tokenizer)
        checkpoint[IMAGE_PROCESSOR_KEY] = _plain(self.image_processor, IMAGE_PROCESSOR_KEY)

    @classmethod
    def read(cls, checkpoint: Mapping[str, Any], source: str = "the checkpoint") -> CheckpointContract:
        """Read the entries of a checkpoint (any contract version so far); ``source`` names it in errors.

        Raises:
            CheckpointContractError: an entry is missing or has the wrong type; the message names it.
        """
        if not isinstance(checkpoint, Mapping):
            raise CheckpointContractError(f"{source} is not a Lightning checkpoint (a dict); got {type(checkpoint)}")
        version = checkpoint.get(VERSION_KEY, 0)
        if not isinstance(version, int) or version > CONTRACT_VERSION:
            raise CheckpointContractError(
                f"{source} has {VERSION_KEY}={version!r}, newer than this hf_seq2seq_vit understands "
                f"({CONTRACT_VERSION}); upgrade hf-seq2seq-vit to export it"
            )
        task = checkpoint.get(TASK_KEY)
        if task is None:
            raise CheckpointContractError(
                f"{source} has no {TASK_KEY!r} entry, so it was not written by TranslationModule or "
                "ImageClassificationModule (their on_save_checkpoint adds hf_task, hf_config, ...); re-save it with them"
            )
        if task not in TASKS:
            raise CheckpointContractError(f"{source} has {TASK_KEY}={task!r}; export supports {sorted(TASKS)}")
        tokenizer = checkpoint.get(TOKENIZER_KEY)
        if tokenizer is not None:
            if not isinstance(tokenizer, Mapping) or not isinstance(tokenizer.get("tokenizer_json"), str):
                raise CheckpointContractError(
                    f"{source}: {TOKENIZER_KEY} must be {{'tokenizer_json': str, 'model_max_length': int}}, got "
                    f"{_shape(tokenizer)}"
                )
            tokenizer = TokenizerRecord(tokenizer["tokenizer_json"], tokenizer.get("model_max_length"))
        contract = cls(
            task=task,
            model_config=checkpoint.get(CONFIG_KEY),
            # Version 0 image checkpoints wrote the prefix; version 0 translation ones did not (None: look for it).
            weights_prefix=checkpoint.get(WEIGHTS_PREFIX_KEY),
            eval_results=_dict_entry(checkpoint, EVAL_RESULTS_KEY, source),
            train_info=TrainInfo.from_dict(_dict_entry(checkpoint, TRAIN_INFO_KEY, source)),
            generation_config=checkpoint.get(GENERATION_CONFIG_KEY),
            tokenizer=tokenizer,
            image_processor=checkpoint.get(IMAGE_PROCESSOR_KEY),
            version=version,
        )
        contract.validate(source)
        return contract

    def validate(self, source: str = "the checkpoint contract") -> None:
        """Check the types of the entries (not whether they fit a task: the task's exporter checks that)."""
        if self.task not in TASKS:
            raise CheckpointContractError(f"{source}: task must be one of {sorted(TASKS)}, got {self.task!r}")
        if not isinstance(self.model_config, Mapping) or not isinstance(self.model_config.get("model_type"), str):
            raise CheckpointContractError(
                f"{source}: {CONFIG_KEY} must be the model config dict (PreTrainedConfig.to_dict(), with a "
                f"model_type), got {_shape(self.model_config)}"
            )
        if self.weights_prefix is not None and not (isinstance(self.weights_prefix, str) and self.weights_prefix):
            raise CheckpointContractError(
                f"{source}: {WEIGHTS_PREFIX_KEY} must be a non-empty str such as 'model.', got {self.weights_prefix!r}"
            )
        for key, value in [(GENERATION_CONFIG_KEY, self.generation_config), (IMAGE_PROCESSOR_KEY, self.image_processor)]:
            if value is not None and not isinstance(value, Mapping):
                raise CheckpointContractError(f"{source}: {key} must be a dict or None, got {_shape(value)}")
        if not isinstance(self.eval_results, Mapping):
            raise CheckpointContractError(f"{source}: {EVAL_RESULTS_KEY} must be a dict, got {_shape(self.eval_results)}")


def _dict_entry(checkpoint: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = checkpoint.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CheckpointContractError(f"{source}: {key} must be a dict, got {_shape(value)}")
    return dict(value)


def _plain(value: Any, key: str) -> Any:
    """``value`` as JSON data (dicts, lists, str, numbers, bool, None), so that ``torch.load(weights_only=True)``
    reads it: enums (e.g. PIL's ``Resampling`` in an image processor's ``to_dict()``) become their values, tuples
    and arrays lists."""
    if value is None:
        return None

    def convert(item: Any) -> Any:
        if isinstance(item, enum.Enum):
            return item.value
        if hasattr(item, "tolist"):  # numpy arrays and scalars, tensors
            return item.tolist()
        raise CheckpointContractError(
            f"{key} holds {type(item).__name__} {item!r}, which a checkpoint read with weights_only=True cannot "
            "hold; store plain values (str, numbers, lists, dicts)"
        )

    return json.loads(json.dumps(value, default=convert))


def _number(value: Any) -> float:
    """A metric as a float (tensors and numpy scalars included); NaN is kept, the model card refuses it."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointContractError(f"{EVAL_RESULTS_KEY} values must be numbers, got {value!r}")
    return float(value)


def _shape(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:120]
