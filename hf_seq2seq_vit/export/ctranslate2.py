"""Export a translator to CTranslate2, the C++ inference engine OpenNMT, Marian users and faster-whisper deploy on.

Command line (``--quantization`` is how the weights are stored: ``float32`` (default), ``int8``, ``int8_float32``)::

    python -m hf_seq2seq_vit.export runs/best.ckpt outputs/my-model-ct2 --format ctranslate2 --quantization int8
    hf-seq2seq-vit export runs/best.ckpt outputs/my-model-ct2 --format ctranslate2
    hf-seq2seq-vit translate outputs/my-model-ct2 -i sentences.txt --engine ctranslate2

From Python::

    >>> from hf_seq2seq_vit.export.ctranslate2 import save_ctranslate2
    >>> save_ctranslate2(model, tokenizer, "outputs/my-model-ct2", quantization="int8")   # doctest: +SKIP

The folder holds what CTranslate2 reads (``model.bin``, its ``config.json``, ``shared_vocabulary.json`` or
``source_vocabulary.json`` + ``target_vocabulary.json``), the tokenizer (``tokenizer.json`` ...), the decoding
defaults (``generation_config.json``) and ``hf_seq2seq_vit_ctranslate2.json`` (what the engine needs to map token
ids: the model config's special ids and vocabulary sizes). :class:`hf_seq2seq_vit.engines.CTranslate2Engine`
loads it.

How our model maps onto CTranslate2's ``TransformerSpec`` (its layout read from ``ctranslate2/specs`` and the
BART/Marian loader of ``ctranslate2/converters/transformers.py``; the code here is ours):

- pre-norm / post-norm: CTranslate2's ``pre_norm`` flag; each sub-layer's LayerNorm sits on its attention or FFN
  spec exactly as our ``AddAndNorm`` wraps the sub-layer; pre-norm stacks have a final LayerNorm (ours too);
- positions: always written as a table (``position_encodings.encodings``), ours sinusoidal (interleaved sin/cos,
  which is not CTranslate2's built-in concatenated layout) or learned; position 0 is the first token on both sides;
- scaled embeddings: ``scale_embeddings`` = sqrt(d_model) or 1;
- shared / separate vocabularies: one token list registered for both sides, or one per side (the vocabularies are
  the tokenizer's tokens in id order, cut or padded with unused names to the embedding sizes);
- tied output: the projection gets the decoder's embedding matrix (CTranslate2 stores the shared tensor once);
- Q, K, V: self-attention fused as one [Q; K; V] linear, cross-attention as Q and a fused [K; V].
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from .errors import ExportError

QUANTIZATIONS = ("float32", "int8", "int8_float32")
COMPUTE_TYPES = ("default", *QUANTIZATIONS)  # what a loaded model may compute in ("default": as stored)
ENGINE_FILE = "hf_seq2seq_vit_ctranslate2.json"
FORMAT_NAME = "hf_seq2seq_vit ctranslate2"
INSTALL_HINT = "pip install 'hf-seq2seq-vit[ct2]' (or pip install ctranslate2)"

# Our activation names -> CTranslate2's Activation enum member names.
_ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "gelu_new": "GELUTanh", "silu": "SWISH", "swish": "SWISH",
                "tanh": "Tanh"}

__all__ = ["COMPUTE_TYPES", "ENGINE_FILE", "QUANTIZATIONS", "export_ctranslate2", "import_ctranslate2",
           "read_engine_record", "save_ctranslate2", "transformer_spec", "vocabulary_tokens"]


def import_ctranslate2(error_class: type[Exception] = ExportError):
    """The ``ctranslate2`` module, or an ``error_class`` error that says how to install it."""
    try:
        import ctranslate2
        import ctranslate2.specs  # noqa: F401
    except ImportError as error:
        raise error_class(f"CTranslate2 is not installed ({error}); {INSTALL_HINT}") from error
    return ctranslate2


def check_quantization(quantization: str) -> str:
    """Refuse a storage type this export does not write, naming the allowed ones."""
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"--quantization {quantization!r} is not supported; choose one of {list(QUANTIZATIONS)}")
    return quantization


def vocabulary_tokens(tokenizer, size: int) -> list[str]:
    """The tokenizer's tokens in id order, cut or padded (with unused names) to ``size`` embedding rows.

    CTranslate2 maps tokens to ids through this list, so it must have exactly one entry per embedding row and no
    duplicates.

    Example::

        >>> vocabulary_tokens(tokenizer, len(tokenizer) + 2)[-2:]   # doctest: +SKIP
        ['<ct2_unused_0>', '<ct2_unused_1>']
    """
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    tokens = [by_id.get(index) for index in range(size)]
    taken = set(by_id.values())
    filler = (f"<ct2_unused_{n}>" for n in range(size + len(taken)))
    for index, token in enumerate(tokens):
        if token is None:
            name = next(filler)
            while name in taken:
                name = next(filler)
            tokens[index] = name
    if len(set(tokens)) != len(tokens):
        raise ExportError("The tokenizer's vocabulary has two ids for one token; CTranslate2 needs unique tokens")
    return tokens


def _linear(spec, module: torch.nn.Linear | None = None, weight=None, bias=None) -> None:
    weight = module.weight if module is not None else weight
    bias = module.bias if module is not None else bias
    spec.weight = weight.detach().float().contiguous().numpy()
    if bias is not None:
        spec.bias = bias.detach().float().contiguous().numpy()


def _layer_norm(spec, module: torch.nn.LayerNorm) -> None:
    spec.gamma = module.weight.detach().float().numpy()
    spec.beta = module.bias.detach().float().numpy()


def _attention(spec, attention, self_attention: bool) -> None:
    q, k, v = attention.q_proj, attention.k_proj, attention.v_proj
    if self_attention:  # linear[0] = [Q; K; V], linear[1] = output
        _linear(spec.linear[0], weight=torch.cat([q.weight, k.weight, v.weight]),
                bias=torch.cat([q.bias, k.bias, v.bias]))
    else:  # linear[0] = Q, linear[1] = [K; V], linear[2] = output
        _linear(spec.linear[0], q)
        _linear(spec.linear[1], weight=torch.cat([k.weight, v.weight]), bias=torch.cat([k.bias, v.bias]))
    _linear(spec.linear[-1], attention.out_proj)


def _stack(spec, stack, config) -> None:
    """Embeddings, positions, scale and final LayerNorm of an encoder or decoder stack."""
    embeddings = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    embeddings.weight = stack.embed_tokens.weight.detach().float().numpy()
    spec.scale_embeddings = math.sqrt(config.d_model) if config.scale_embedding else 1.0
    spec.position_encodings.encodings = stack.embed_positions.weight.detach().float().numpy()
    if stack.layer_norm is not None:
        _layer_norm(spec.layer_norm, stack.layer_norm)


def transformer_spec(model, tokenizer):
    """CTranslate2's ``TransformerSpec`` of a :class:`Seq2SeqTransformerForConditionalGeneration` (float32 weights).

    Example::

        >>> spec = transformer_spec(model, tokenizer)   # doctest: +SKIP
        >>> spec.save("outputs/model-ct2")              # doctest: +SKIP
    """
    ctranslate2 = import_ctranslate2()
    from ctranslate2.specs import common_spec, transformer_spec as specs

    config = model.config
    if config.activation_function not in _ACTIVATIONS:
        raise ExportError(f"activation_function={config.activation_function!r} has no CTranslate2 equivalent")
    activation = getattr(common_spec.Activation, _ACTIVATIONS[config.activation_function])
    encoder_spec = specs.TransformerEncoderSpec(
        config.encoder_layers, config.encoder_attention_heads, pre_norm=config.normalize_before, activation=activation
    )
    decoder_spec = specs.TransformerDecoderSpec(
        config.decoder_layers, config.decoder_attention_heads, pre_norm=config.normalize_before, activation=activation
    )
    spec = specs.TransformerSpec(encoder_spec, decoder_spec)
    encoder, decoder = model.get_encoder(), model.get_decoder()
    _stack(spec.encoder, encoder, config)
    for layer_spec, layer in zip(spec.encoder.layer, encoder.layers):
        _attention(layer_spec.self_attention, layer.self_attn, self_attention=True)
        _layer_norm(layer_spec.self_attention.layer_norm, layer.self_attn_block.layer_norm)
        _linear(layer_spec.ffn.linear_0, layer.ffn.fc1)
        _linear(layer_spec.ffn.linear_1, layer.ffn.fc2)
        _layer_norm(layer_spec.ffn.layer_norm, layer.ffn_block.layer_norm)
    _stack(spec.decoder, decoder, config)
    for layer_spec, layer in zip(spec.decoder.layer, decoder.layers):
        _attention(layer_spec.self_attention, layer.self_attn, self_attention=True)
        _layer_norm(layer_spec.self_attention.layer_norm, layer.self_attn_block.layer_norm)
        _attention(layer_spec.attention, layer.encoder_attn, self_attention=False)
        _layer_norm(layer_spec.attention.layer_norm, layer.encoder_attn_block.layer_norm)
        _linear(layer_spec.ffn.linear_0, layer.ffn.fc1)
        _linear(layer_spec.ffn.linear_1, layer.ffn.fc2)
        _layer_norm(layer_spec.ffn.layer_norm, layer.ffn_block.layer_norm)
    # Tied or not, the output projection is lm_head (tied: the same tensor as the decoder embedding).
    _linear(spec.decoder.projection, model.get_output_embeddings())

    source = vocabulary_tokens(tokenizer, config.vocab_size)
    target = vocabulary_tokens(tokenizer, config.target_vocab_size)
    spec.register_source_vocabulary(source)
    spec.register_target_vocabulary(target)
    spec.config.bos_token = target[config.bos_token_id]
    eos_id = config.eos_token_id if isinstance(config.eos_token_id, int) else config.eos_token_id[0]
    spec.config.eos_token = target[eos_id]
    spec.config.decoder_start_token = target[config.decoder_start_token_id]
    spec.config.unk_token = tokenizer.unk_token if tokenizer.unk_token in target else target[config.pad_token_id]
    spec.config.layer_norm_epsilon = encoder.layers[0].self_attn_block.layer_norm.eps
    del ctranslate2
    return spec


def save_ctranslate2(model, tokenizer, folder: str | os.PathLike, quantization: str = "float32",
                     generation_config=None) -> Path:
    """Write the CTranslate2 model, the tokenizer and the decoding defaults into ``folder`` (created if needed).

    Example::

        >>> save_ctranslate2(model, tokenizer, staging_folder, quantization="int8")   # doctest: +SKIP
    """
    check_quantization(quantization)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec = transformer_spec(model, tokenizer)
    spec.validate()
    spec.optimize(quantization=quantization)
    spec.save(str(folder))
    tokenizer.save_pretrained(folder)
    (generation_config if generation_config is not None else model.generation_config).save_pretrained(folder)
    config = model.config
    record = {
        "format": FORMAT_NAME,
        "quantization": quantization,
        "model_type": config.model_type,
        "vocab_size": config.vocab_size,
        "tgt_vocab_size": config.target_vocab_size,
        "max_position_embeddings": config.max_position_embeddings,
        "pad_token_id": config.pad_token_id,
        "eos_token_id": config.eos_token_id,
        "decoder_start_token_id": config.decoder_start_token_id,
    }
    (folder / ENGINE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder


def export_ctranslate2(checkpoint_path: str | os.PathLike, output_dir: str | os.PathLike, quantization: str = "float32",
                       task: str | None = None, overwrite: bool = False) -> Path:
    """Write the CTranslate2 folder of a translation checkpoint (built beside ``output_dir``, then moved in place).

    The target rules are those of :func:`hf_seq2seq_vit.export.export_checkpoint`: an earlier export is replaced,
    another non-empty folder is refused unless ``overwrite``, and nothing the export did not write is deleted.

    Example::

        >>> export_ctranslate2("runs/best.ckpt", "outputs/model-ct2", quantization="int8")   # doctest: +SKIP
        PosixPath('outputs/model-ct2')
    """
    from .checkpoint import prepared_export
    from .contract import TRANSLATION
    from .exporters import generation_config_from_checkpoint

    check_quantization(quantization)
    import_ctranslate2()
    with prepared_export(checkpoint_path, output_dir, task, overwrite, only_task=TRANSLATION,
                         refusal="--format ctranslate2 exports translators only (export image classifiers with "
                                 "--format hf or --format onnx)") as export:
        save_ctranslate2(export.model, export.companion, export.staging, quantization,
                         generation_config=generation_config_from_checkpoint(export.contract, export.model))
    return export.output_dir


def read_engine_record(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``hf_seq2seq_vit_ctranslate2.json`` of an exported folder, or an :class:`ExportError` naming it."""
    path = Path(folder) / ENGINE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportError(
            f"{str(folder)!r} is not a CTranslate2 export of hf_seq2seq_vit (no readable {ENGINE_FILE}: {error}); "
            "write one with `hf-seq2seq-vit export CKPT DIR --format ctranslate2`"
        ) from error
    if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
        raise ExportError(f"{str(path)!r} is not an hf_seq2seq_vit CTranslate2 record; re-export the checkpoint")
    return record
