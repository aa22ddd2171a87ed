"""One exporter per task: what its checkpoint must hold, how its folder is written, checked, loaded and described.

The rest of the package (export, loading, model card, ``experiments/reproduce.py``) asks the task's exporter instead
of branching on the task name. A new task is one more :class:`TaskExporter` subclass with ``@register_exporter``.

Example::

    >>> exporter_for("translation").model_type
    'seq2seq_transformer'
    >>> exporter_for("image-classification").main_metric.name
    'acc'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tokenizers import Tokenizer
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

import hf_seq2seq_vit  # noqa: F401  (registers our configs and models with the Auto classes)

from ..model_card import CardSpec
from ..models.conv_vit import ConvViTImageProcessor
from ..models.seq2seq_transformer.pipeline_seq2seq_transformer import TranslationPipeline
from .contract import IMAGE_CLASSIFICATION, TRANSLATION, CheckpointContract
from .errors import ExportError

# Decoding defaults written only when the checkpoint's generation config leaves them unset: the paper's beam size.
DEFAULT_NUM_BEAMS = 4
VERIFY_SENTENCES = ["A man is riding a bicycle.", "Two dogs are playing in the snow."]

__all__ = [
    "EXPORTERS",
    "ImageClassificationExporter",
    "MainMetric",
    "TaskExporter",
    "TranslationExporter",
    "exporter_for",
    "exporter_for_model_type",
    "generation_config_from_checkpoint",
    "register_exporter",
    "tokenizer_from_checkpoint",
]


@dataclass(frozen=True)
class MainMetric:
    """The metric a task is judged by: logged as ``<split>_<name>``; results tables show ``value * scale``."""

    name: str
    table_label: str
    table_scale: float = 1.0


class TaskExporter:
    """What export needs to know about one task. Subclasses set the class attributes and override the hooks."""

    task: ClassVar[str]
    model_type: ClassVar[str]  # the ``model_type`` of the task's model config
    auto_model_class: ClassVar[type]
    main_metric: ClassVar[MainMetric]
    card: ClassVar[CardSpec]

    def check(self, contract: CheckpointContract, source: str) -> None:
        """Refuse a checkpoint that lacks what this task's export needs; errors name ``source`` and the entry."""
        found = contract.model_config.get("model_type")
        if found != self.model_type:
            raise ExportError(
                f"{source}: hf_config must be the model config dict with model_type {self.model_type!r} for "
                f"{self.task!r}, got {found!r}"
            )

    def companion(self, contract: CheckpointContract, source: str) -> Any:
        """The tokenizer or image processor the model was trained with."""
        raise NotImplementedError

    def prepare(self, model: PreTrainedModel, companion: Any, contract: CheckpointContract, source: str) -> None:
        """Check that model and companion belong together and set what the folder should carry (decoding)."""

    def save(self, model: PreTrainedModel, companion: Any, folder: Path) -> None:
        """Write model, companion and remote code into ``folder``."""
        model.save_pretrained(folder)
        companion.save_pretrained(folder)

    def card_generation_config(self, model: PreTrainedModel) -> dict[str, Any] | None:
        """Decoding defaults the model card shows (None: the task does not generate)."""
        return None

    def example_inputs(self, model: PreTrainedModel, companion: Any) -> dict[str, torch.Tensor]:
        """Inputs on which the exported folder must compute exactly what the checkpoint's weights compute."""
        raise NotImplementedError

    def check_reloaded_companion(self, companion: Any, reloaded: Any, folder: Path) -> None:
        """Refuse an export whose saved companion behaves differently from the checkpoint's."""

    def load_companion(self, folder: Path, config: Any, trust_remote_code: bool) -> Any:
        """Load the companion of an exported folder, with an error naming the missing or damaged file."""
        raise NotImplementedError

    def test_data_overrides(self, contract: CheckpointContract, scratch: Path) -> dict[str, Any]:
        """Data-module arguments that test this checkpoint as it was trained, on the full test split."""
        return {"max_test_examples": None}

    def sample_outputs(self, model: PreTrainedModel, companion: Any, inputs: list[Any]) -> list[dict[str, Any]]:
        """What the exported model makes of a few sample inputs (for the results record); none by default."""
        return []


EXPORTERS: dict[str, TaskExporter] = {}


def register_exporter(cls: type[TaskExporter]) -> type[TaskExporter]:
    """Class decorator: make ``cls`` the exporter of ``cls.task``."""
    EXPORTERS[cls.task] = cls()
    return cls


def exporter_for(task: str) -> TaskExporter:
    """The exporter of ``task``; an unknown task is an :class:`ExportError` listing the known ones."""
    try:
        return EXPORTERS[task]
    except KeyError:
        raise ExportError(f"No exporter for task {task!r}; known tasks: {sorted(EXPORTERS)}") from None


def exporter_for_model_type(model_type: str | None, where: str) -> TaskExporter:
    """The exporter whose models have ``model_type`` (read from an exported folder's config.json)."""
    for exporter in EXPORTERS.values():
        if exporter.model_type == model_type:
            return exporter
    known = sorted(exporter.model_type for exporter in EXPORTERS.values())
    raise ExportError(f"{where} holds a {model_type!r} model; hf_seq2seq_vit exports and loads {known}")


# ---------------------------------------------------------------------------------------------------- translation
def tokenizer_from_checkpoint(checkpoint: dict[str, Any] | CheckpointContract) -> PreTrainedTokenizerFast:
    """Rebuild the translation tokenizer stored in a checkpoint (``hf_tokenizer``).

    The special tokens are the ones at the config's ``pad/bos/eos_token_id``, plus ``<unk>`` and the other special
    tokens of the vocabulary (language tags), as :func:`hf_seq2seq_vit.tokenization.train_tokenizer` sets them.

    Example::

        >>> tokenizer_from_checkpoint(read_checkpoint("runs/best.ckpt")).pad_token_id   # doctest: +SKIP
        0
    """
    contract = checkpoint if isinstance(checkpoint, CheckpointContract) else CheckpointContract.read(checkpoint)
    if contract.tokenizer is None:
        raise ExportError(
            "The checkpoint has no tokenizer (hf_tokenizer['tokenizer_json']); a translation checkpoint must carry "
            "the tokenizer it was trained with"
        )
    config = contract.model_config
    try:
        backend = Tokenizer.from_str(contract.tokenizer.tokenizer_json)
    except Exception as error:  # the Rust side raises a bare Exception
        raise ExportError(f"hf_tokenizer['tokenizer_json'] is not a valid tokenizer.json: {error}") from error
    roles = {}
    for role in ("pad", "bos", "eos"):
        token_id = config.get(f"{role}_token_id")
        token = backend.id_to_token(token_id) if isinstance(token_id, int) else None
        if token is None:
            raise ExportError(
                f"The checkpoint's tokenizer has no token with the config's {role}_token_id={token_id!r}; the "
                "tokenizer and the model config do not belong together"
            )
        roles[f"{role}_token"] = token
    if backend.token_to_id("<unk>") is not None:
        roles["unk_token"] = "<unk>"
    specials = [token.content for token in backend.get_added_tokens_decoder().values() if token.special]
    extra = [token for token in specials if token not in roles.values()]
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        extra_special_tokens=extra,
        model_max_length=int(contract.tokenizer.model_max_length or config.get("max_position_embeddings") or 512),
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
        **roles,
    )


def generation_config_from_checkpoint(checkpoint: dict[str, Any] | CheckpointContract,
                                      model: PreTrainedModel) -> GenerationConfig:
    """The decoding defaults to save: the checkpoint's, completed with the model's special ids and a beam size.

    Example::

        >>> generation_config_from_checkpoint(checkpoint, model).num_beams   # doctest: +SKIP
        4
    """
    contract = checkpoint if isinstance(checkpoint, CheckpointContract) else CheckpointContract.read(checkpoint)
    stored = dict(contract.generation_config or {})
    stored.pop("transformers_version", None)
    generation_config = GenerationConfig.from_dict(stored)
    config = model.config
    for name in ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(generation_config, name, None) is None:
            setattr(generation_config, name, getattr(config, name))
    if "num_beams" not in stored:
        generation_config.num_beams = DEFAULT_NUM_BEAMS
    if stored.get("early_stopping") is None and (generation_config.num_beams or 1) > 1:
        # Checkpoints written before the setting existed: beam search ends when num_beams hypotheses are finished,
        # as the training module now saves it (and as CTranslate2 decodes). transformers refuses to save the flag
        # without beams.
        generation_config.early_stopping = True
    if "max_length" not in stored and "max_new_tokens" not in stored:
        # Positions beyond max_position_embeddings do not exist, so that is the longest translation possible.
        generation_config.max_length = config.max_position_embeddings
    try:
        generation_config.validate(strict=True)
    except ValueError as error:
        raise ExportError(f"The checkpoint's hf_generation_config is not valid: {error}") from error
    return generation_config


def check_vocab(tokenizer, config, where: str) -> None:
    """Refuse a tokenizer with more tokens than the model has embeddings, or other pad/eos ids."""
    if len(tokenizer) > config.vocab_size:
        raise ExportError(
            f"{where}: the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}, "
            "so some token ids have no embedding; train the model with vocab_size=len(tokenizer)"
        )
    if tokenizer.pad_token_id != config.pad_token_id or tokenizer.eos_token_id != config.eos_token_id:
        raise ExportError(
            f"{where}: the tokenizer's pad/eos ids ({tokenizer.pad_token_id}, {tokenizer.eos_token_id}) differ from "
            f"the model config's ({config.pad_token_id}, {config.eos_token_id}); they were not trained together"
        )


@register_exporter
class TranslationExporter(TaskExporter):
    """Translation: the tokenizer travels in the checkpoint; the folder carries the translation pipeline."""

    task = TRANSLATION
    model_type = "seq2seq_transformer"
    auto_model_class = AutoModelForSeq2SeqLM
    main_metric = MainMetric("bleu", "sacreBLEU")
    card = CardSpec(
        task=TRANSLATION, template="translation.md", main_metric="bleu",
        config_keys=("vocab_size", "tgt_vocab_size", "d_model", "encoder_layers", "decoder_layers",
                     "encoder_attention_heads", "encoder_ffn_dim", "dropout", "label_smoothing", "normalize_before",
                     "position_embedding_type", "max_position_embeddings"),
    )

    def check(self, contract: CheckpointContract, source: str) -> None:
        super().check(contract, source)
        if contract.tokenizer is None:
            raise ExportError(
                f"{source} has no tokenizer (hf_tokenizer['tokenizer_json']); a translation checkpoint must carry "
                "the tokenizer it was trained with"
            )

    def companion(self, contract: CheckpointContract, source: str) -> PreTrainedTokenizerFast:
        return tokenizer_from_checkpoint(contract)

    def prepare(self, model, companion, contract, source) -> None:
        check_vocab(companion, model.config, where=source)
        model.generation_config = generation_config_from_checkpoint(contract, model)

    def save(self, model, companion, folder: Path) -> None:
        # Saving through the pipeline writes model + tokenizer + its pipeline file + custom_pipelines in config.json.
        TranslationPipeline(model=model, tokenizer=companion).save_pretrained(folder)

    def card_generation_config(self, model) -> dict[str, Any]:
        return model.generation_config.to_diff_dict()

    def example_inputs(self, model, companion) -> dict[str, torch.Tensor]:
        inputs = dict(companion(VERIFY_SENTENCES, return_tensors="pt", padding=True))
        inputs["decoder_input_ids"] = inputs["input_ids"][:, :8]
        return inputs

    def check_reloaded_companion(self, companion, reloaded, folder: Path) -> None:
        expected = companion(VERIFY_SENTENCES, return_tensors="pt", padding=True)["input_ids"]
        if not torch.equal(expected, reloaded(VERIFY_SENTENCES, return_tensors="pt", padding=True)["input_ids"]):
            raise ExportError(f"The tokenizer saved in {folder} encodes text differently from the checkpoint's")

    def load_companion(self, folder: Path, config, trust_remote_code: bool) -> PreTrainedTokenizerFast:
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ExportError(
                f"{str(folder)!r} has no tokenizer.json: the tokenizer was not saved with the model; re-export the "
                "checkpoint, or save the tokenizer there with tokenizer.save_pretrained(folder)"
            )
        try:
            Tokenizer.from_file(str(path))
        except Exception as error:  # the Rust side raises a bare Exception
            raise ExportError(
                f"{str(path)!r} is not a valid tokenizer.json ({error}); the file is damaged or was edited by hand: "
                "re-export the checkpoint, or save the tokenizer there again with tokenizer.save_pretrained(folder)"
            ) from error
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        check_vocab(tokenizer, config, where=str(folder))
        return tokenizer

    def test_data_overrides(self, contract: CheckpointContract, scratch: Path) -> dict[str, Any]:
        # The checkpoint's own tokenizer, whatever tokenizer_dir the config names (or whether it exists).
        tokenizer_dir = scratch / "tokenizer"
        tokenizer_from_checkpoint(contract).save_pretrained(tokenizer_dir)
        return {**super().test_data_overrides(contract, scratch), "tokenizer_dir": str(tokenizer_dir)}

    def sample_outputs(self, model, companion, inputs: list[str]) -> list[dict[str, str]]:
        """Translations with the folder's decoding defaults (its ``generation_config``): what a user gets."""
        if not inputs:
            return []
        with torch.no_grad():
            ids = model.generate(**companion(inputs, return_tensors="pt", padding=True))
        outputs = companion.batch_decode(ids, skip_special_tokens=True)
        return [{"source": source, "translation": text} for source, text in zip(inputs, outputs)]


# ------------------------------------------------------------------------------------------- image classification
@register_exporter
class ImageClassificationExporter(TaskExporter):
    """Image classification: the image processor travels in the checkpoint; the weights may be the EMA's."""

    task = IMAGE_CLASSIFICATION
    model_type = "conv_vit"
    auto_model_class = AutoModelForImageClassification
    main_metric = MainMetric("acc", "top-1 %", 100.0)
    card = CardSpec(
        task=IMAGE_CLASSIFICATION, template="image_classification.md", main_metric="acc",
        config_keys=("image_size", "stem_type", "stem_channels", "patch_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "mlp_ratio", "pooling", "drop_path_rate", "num_labels"),
    )

    def companion(self, contract: CheckpointContract, source: str) -> ConvViTImageProcessor:
        try:
            return ConvViTImageProcessor.from_dict(dict(contract.image_processor or {}))
        except Exception as error:
            raise ExportError(f"{source}: hf_image_processor does not build an image processor: {error}") from error

    def example_inputs(self, model, companion) -> dict[str, torch.Tensor]:
        size = model.config.image_height_width
        generator = torch.Generator().manual_seed(0)
        return {"pixel_values": torch.randn(2, model.config.num_channels, *size, generator=generator)}

    def load_companion(self, folder: Path, config, trust_remote_code: bool):
        if not (folder / "preprocessor_config.json").is_file():
            raise ExportError(
                f"{str(folder)!r} has no preprocessor_config.json: the image processor was not saved with the model; "
                "re-export the checkpoint"
            )
        return AutoImageProcessor.from_pretrained(folder, trust_remote_code=trust_remote_code)
