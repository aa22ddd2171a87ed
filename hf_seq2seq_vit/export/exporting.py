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
``model.safetensors``, ``generation_config.json`` with beam size / max length / decoder start) and for the tokenizer or
image processor, the remote-code files (``configuration_*.py``, ``modeling_*.py``, ``image_processing_*.py``, and for
translation ``pipeline_seq2seq_transformer.py`` + ``custom_pipelines``), and a ``README.md`` model card. It loads with
``AutoModelForSeq2SeqLM`` / ``AutoModelForImageClassification`` after ``import hf_seq2seq_vit``, or anywhere with
``trust_remote_code=True``; ``pipeline("translation", model=folder, trust_remote_code=True)`` translates.

The checkpoint is read with ``torch.load(weights_only=True)`` (no pickle code runs) and must follow the checkpoint
contract of the LightningModules: ``state_dict`` with ``model.<HF keys>`` (and optionally ``ema.<HF keys>``, preferred),
``hf_task``, ``hf_config``, ``hf_generation_config`` + ``hf_tokenizer`` (translation), ``hf_image_processor`` (image
classification), ``hf_eval_results``, ``hf_train_info``. Lightning modules are never imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from tokenizers import Tokenizer
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

import hf_seq2seq_vit  # noqa: F401  (registers our configs and models with the Auto classes)

from .contract import CheckpointContract
from .errors import ExportError, HubExportError
from .target import check_export_target, staged_export
from ..model_card import build_model_card, evaluation_rows
from ..models.conv_vit import ConvViTImageProcessor
from ..models.seq2seq_transformer.pipeline_seq2seq_transformer import TranslationPipeline, check_loaded_weights

# task -> (model_type the task's checkpoints carry, Auto class that loads the exported folder)
TASKS = {
    "translation": ("seq2seq_transformer", AutoModelForSeq2SeqLM),
    "image-classification": ("conv_vit", AutoModelForImageClassification),
}
try:
    from PIL.Image import Resampling

    _SAFE_GLOBALS = [Resampling]
except ImportError:  # pragma: no cover - pillow comes with the image extras
    _SAFE_GLOBALS = []
# Preference order of the weights inside the Lightning state_dict: EMA weights when the run kept them.
WEIGHT_PREFIXES = ("ema.module.", "ema.", "model.")
# Decoding defaults written only when the checkpoint's generation config leaves them unset: the paper's beam size.
DEFAULT_NUM_BEAMS = 4
VERIFY_SENTENCES = ["A man is riding a bicycle.", "Two dogs are playing in the snow."]

__all__ = [
    "TASKS",
    "ExportError",
    "HubExportError",
    "export_checkpoint",
    "load_exported",
    "main",
    "model_from_checkpoint",
    "push_exported",
    "read_checkpoint",
]


# ------------------------------------------------------------------------------------------------- reading a checkpoint
def read_checkpoint(path: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Load a Lightning checkpoint without running pickle code and check that it can be exported.

    Args:
        path: the ``.ckpt`` file.
        task: the expected ``hf_task`` (``"translation"`` / ``"image-classification"``); ``None`` accepts either.

    Raises:
        ExportError: the file is missing or not a checkpoint, holds objects ``weights_only`` refuses, lacks the
            ``hf_*`` entries, or is of another task than ``task``.

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
        # PIL's Resampling enum is plain data (an image processor's `resample`); checkpoints written before the
        # contract turned it into an int may hold it. Nothing else is allowed.
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
    contract = CheckpointContract.read(checkpoint, source=repr(str(path)))
    found = contract.task
    if task is not None and found != task:
        raise ExportError(
            f"{str(path)!r} is an {found!r} checkpoint but --task {task} was asked; drop --task or pass the "
            f"checkpoint of a {task} run"
        )
    config = checkpoint.get("hf_config")
    expected_type = TASKS[found][0]
    if not isinstance(config, dict) or config.get("model_type") != expected_type:
        got = config.get("model_type") if isinstance(config, dict) else type(config).__name__
        raise ExportError(
            f"{str(path)!r}: hf_config must be the model config dict with model_type {expected_type!r} for "
            f"{found!r}, got {got!r}"
        )
    if found == "translation" and not isinstance((checkpoint.get("hf_tokenizer") or {}).get("tokenizer_json"), str):
        raise ExportError(
            f"{str(path)!r} has no tokenizer (hf_tokenizer['tokenizer_json']); a translation checkpoint must carry "
            "the tokenizer it was trained with"
        )
    try:  # the card reports these numbers: check them now rather than after the model is built
        evaluation_rows(checkpoint.get("hf_eval_results"))
    except ValueError as error:
        raise ExportError(f"{str(path)!r}: {error}") from error
    return checkpoint


def model_from_checkpoint(checkpoint: dict[str, Any]) -> PreTrainedModel:
    """Build the Hugging Face model of a checkpoint read by :func:`read_checkpoint`, with its (EMA) weights, in eval mode.

    Example::

        >>> model = model_from_checkpoint(read_checkpoint("runs/best.ckpt"))   # doctest: +SKIP
    """
    task = checkpoint["hf_task"]
    config = CONFIG_MAPPING[checkpoint["hf_config"]["model_type"]].from_dict(dict(checkpoint["hf_config"]))
    model = TASKS[task][1].from_config(config)
    weights = _select_weights(model, checkpoint["state_dict"], checkpoint.get("hf_weights_prefix"))
    model.load_state_dict(weights, strict=True)
    return model.eval()


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


def tokenizer_from_checkpoint(checkpoint: dict[str, Any]) -> PreTrainedTokenizerFast:
    """Rebuild the translation tokenizer stored as ``hf_tokenizer={"tokenizer_json": ..., "model_max_length": ...}``.

    The special tokens are the ones at the config's ``pad/bos/eos_token_id``, plus ``<unk>`` and the other special
    tokens of the vocabulary (language tags), as :func:`hf_seq2seq_vit.tokenization.train_tokenizer` sets them.

    Example::

        >>> tokenizer_from_checkpoint(read_checkpoint("runs/best.ckpt")).pad_token_id   # doctest: +SKIP
        0
    """
    stored = checkpoint["hf_tokenizer"]
    config = checkpoint["hf_config"]
    try:
        backend = Tokenizer.from_str(stored["tokenizer_json"])
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
        model_max_length=int(stored.get("model_max_length") or config.get("max_position_embeddings") or 512),
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
        **roles,
    )


def generation_config_from_checkpoint(checkpoint: dict[str, Any], model: PreTrainedModel) -> GenerationConfig:
    """The decoding defaults to save: the checkpoint's, completed with the model's special ids and a beam size.

    Example::

        >>> generation_config_from_checkpoint(checkpoint, model).num_beams   # doctest: +SKIP
        4
    """
    stored = dict(checkpoint.get("hf_generation_config") or {})
    stored.pop("transformers_version", None)
    generation_config = GenerationConfig.from_dict(stored)
    config = model.config
    for name in ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(generation_config, name, None) is None:
            setattr(generation_config, name, getattr(config, name))
    if "num_beams" not in stored:
        generation_config.num_beams = DEFAULT_NUM_BEAMS
    if "max_length" not in stored and "max_new_tokens" not in stored:
        # Positions beyond max_position_embeddings do not exist, so that is the longest translation possible.
        generation_config.max_length = config.max_position_embeddings
    generation_config.validate(strict=True)
    return generation_config


# --------------------------------------------------------------------------------------------------------- exporting
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
    checkpoint = read_checkpoint(checkpoint_path, task)
    task = checkpoint["hf_task"]
    output_dir = Path(os.path.abspath(output_dir))  # "." -> the current folder's own name and parent
    check_export_target(output_dir, overwrite)  # before the model is built: a refused folder fails fast
    model = model_from_checkpoint(checkpoint)
    with staged_export(output_dir, overwrite=overwrite, protect=(checkpoint_path,)) as staging:
        if task == "translation":
            companion = tokenizer_from_checkpoint(checkpoint)
            _check_vocab(companion, model.config, where=str(checkpoint_path))
            model.generation_config = generation_config_from_checkpoint(checkpoint, model)
            # Saving through the pipeline writes model + tokenizer + its pipeline file + custom_pipelines in config.json.
            TranslationPipeline(model=model, tokenizer=companion).save_pretrained(staging)
        else:
            companion = ConvViTImageProcessor.from_dict(dict(checkpoint.get("hf_image_processor") or {}))
            model.save_pretrained(staging)
            companion.save_pretrained(staging)
        card = build_model_card(
            task,
            model.config,
            eval_results=checkpoint.get("hf_eval_results"),
            train_info=checkpoint.get("hf_train_info"),
            hyper_parameters=_plain(checkpoint.get("hyper_parameters")),
            generation_config=model.generation_config.to_diff_dict() if task == "translation" else None,
            num_parameters=model.num_parameters(),
            model_name=model_name or output_dir.name,
            license=license,
        )
        card.save(staging / "README.md")
        if verify:
            _verify(staging, model, companion, task)
    return output_dir


def _plain(values: Any) -> Any:
    """Hyper-parameters as JSON-able data for the card (Lightning may store an AttributeDict)."""
    return json.loads(json.dumps(dict(values or {}), default=str))


def _check_vocab(tokenizer, config, where: str) -> None:
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


@torch.no_grad()
def _verify(folder: Path, model: PreTrainedModel, companion, task: str) -> None:
    """Reload ``folder`` and check that it computes exactly what the checkpoint's weights compute."""
    reloaded, reloaded_companion = load_exported(folder)
    if task == "translation":
        inputs = dict(companion(VERIFY_SENTENCES, return_tensors="pt", padding=True))
        inputs["decoder_input_ids"] = inputs["input_ids"][:, :8]
        inputs2 = dict(reloaded_companion(VERIFY_SENTENCES, return_tensors="pt", padding=True))
        if not torch.equal(inputs["input_ids"], inputs2["input_ids"]):
            raise ExportError(f"The tokenizer saved in {folder} encodes text differently from the checkpoint's")
    else:
        size = model.config.image_height_width
        generator = torch.Generator().manual_seed(0)
        inputs = {"pixel_values": torch.randn(2, model.config.num_channels, *size, generator=generator)}
    expected, got = model(**inputs).logits, reloaded(**inputs).logits
    if not torch.equal(expected, got):
        raise ExportError(
            f"The model reloaded from {folder} gives other logits than the checkpoint's weights (max difference "
            f"{(expected - got).abs().max().item():.3g}); a weight is not saved or restored, e.g. a buffer"
        )


# ------------------------------------------------------------------------------------------------ loading an export
def load_exported(folder: str | os.PathLike, trust_remote_code: bool = False):
    """Load an exported folder as ``(model, tokenizer)`` or ``(model, image_processor)``, with clear errors.

    Checks, before transformers runs: the folder and ``config.json`` exist; the weights are safetensors (pickle
    files are refused, never loaded) and every file is complete; the tokenizer (``tokenizer.json``, which must parse)
    or image processor (``preprocessor_config.json``) is there; the tokenizer's vocabulary fits the model's
    embeddings. After loading: every tensor of the model was in the weights file and all weights are finite.

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
    task = "translation" if getattr(config, "is_encoder_decoder", False) else "image-classification"
    if task == "translation":
        if not (folder / "tokenizer.json").is_file():
            raise ExportError(
                f"{str(folder)!r} has no tokenizer.json: the tokenizer was not saved with the model; re-export the "
                "checkpoint, or save the tokenizer there with tokenizer.save_pretrained(folder)"
            )
        try:
            Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as error:  # the Rust side raises a bare Exception
            raise ExportError(
                f"{str(folder / 'tokenizer.json')!r} is not a valid tokenizer.json ({error}); the file is damaged or "
                "was edited by hand: re-export the checkpoint, or save the tokenizer there again with "
                "tokenizer.save_pretrained(folder)"
            ) from error
        companion = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
        _check_vocab(companion, config, where=str(folder))
    else:
        if not (folder / "preprocessor_config.json").is_file():
            raise ExportError(
                f"{str(folder)!r} has no preprocessor_config.json: the image processor was not saved with the model; "
                "re-export the checkpoint"
            )
        companion = AutoImageProcessor.from_pretrained(folder, trust_remote_code=trust_remote_code)
    try:
        model = TASKS[task][1].from_pretrained(folder, use_safetensors=True, trust_remote_code=trust_remote_code)
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


# ------------------------------------------------------------------------------------------------------------ the Hub
def push_exported(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload model exported by hf_seq2seq_vit",
) -> str:
    """Create ``repo_id`` on the Hub (if needed) and upload the exported folder as one commit; returns the commit url.

    The Hub address comes from ``HF_ENDPOINT`` and the token from ``token`` / ``HF_TOKEN`` / ``hf auth login``,
    as for every huggingface_hub call. Afterwards ``from_pretrained(repo_id, trust_remote_code=True)`` and
    ``pipeline("translation", model=repo_id, trust_remote_code=True)`` load it anywhere.

    Example::

        >>> push_exported("outputs/demo-model", "user/demo-translator")   # doctest: +SKIP
        'https://huggingface.co/user/demo-translator/commit/...'
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    load_exported(folder)  # never publish a folder that does not load
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message=commit_message)
    except Exception as error:
        raise HubExportError(
            f"Pushing {str(folder)!r} to {repo_id!r} at {api.endpoint} failed: {type(error).__name__}: {error}. "
            "Check the network, the token (HF_TOKEN or `hf auth login`) and that repo_id is 'user/name'."
        ) from error
    return commit.commit_url


# ------------------------------------------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    """``python -m hf_seq2seq_vit.export CKPT OUT_DIR [--task T] [--push-to-hub REPO]``; errors exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m hf_seq2seq_vit.export",
        description="Export a Lightning checkpoint as a Hugging Face model folder (save_pretrained + model card).",
    )
    parser.add_argument("checkpoint", help="the Lightning .ckpt file")
    parser.add_argument("output_dir", help="folder to write (an earlier export there is replaced)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a non-empty folder that is not an earlier export: files with the export's "
                             "names are replaced, other files are kept")
    parser.add_argument("--task", choices=sorted(TASKS), help="fail unless the checkpoint is of this task")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the folder to this Hub repo (user/name)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument("--model-name", help="name used in the model card (default: the repo id or folder name)")
    parser.add_argument("--license", default="apache-2.0", help="Hub license id of the weights (default apache-2.0)")
    parser.add_argument("--no-verify", action="store_true", help="skip reloading the folder to compare outputs")
    args = parser.parse_args(argv)
    try:
        folder = export_checkpoint(
            args.checkpoint,
            args.output_dir,
            task=args.task,
            model_name=args.model_name or args.push_to_hub,
            license=args.license,
            verify=not args.no_verify,
            overwrite=args.overwrite,
        )
        print(f"Exported {args.checkpoint} to {folder}")
        if args.push_to_hub:
            print(f"Pushed to {args.push_to_hub}: {push_exported(folder, args.push_to_hub, private=args.private or None)}")
    except (ExportError, HubExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0

