"""A ``translation`` pipeline for encoder–decoder models (transformers 5 removed its own).

The output format is the one of the pipeline transformers 4 had: one ``{"translation_text": ...}`` dict per
input sentence (a list of them per sentence when ``num_return_sequences > 1``)::

    >>> from hf_seq2seq_vit.models.seq2seq_transformer.pipeline_seq2seq_transformer import TranslationPipeline
    >>> translator = TranslationPipeline(model=model, tokenizer=tokenizer)   # doctest: +SKIP
    >>> translator("A man is riding a bicycle.", num_beams=4, max_new_tokens=40)   # doctest: +SKIP
    [{'translation_text': 'Ein Mann fährt Fahrrad.'}]

``TranslationPipeline.save_pretrained(folder)`` (which ``hf_seq2seq_vit.export`` calls) writes the model, the
tokenizer, a copy of this file and ``custom_pipelines`` in ``config.json``, so that in any other process::

    from transformers import pipeline
    translator = pipeline("translation", model=folder, trust_remote_code=True)

Built that way the pipeline refuses, with an error naming the file and tensor, a model whose weights file lacks a
tensor (transformers would fill it at random) or holds NaN/inf weights, and a tokenizer with more tokens than the
model has embeddings. An empty (or blank) sentence translates to an empty string.

This file travels next to the weights as remote code: it imports only torch and transformers (and safetensors,
which transformers itself requires).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSeq2SeqLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

# Arguments of `generate()` that the pipeline takes directly; anything else goes in `generate_kwargs={...}`.
GENERATION_OPTIONS = ("num_beams", "max_length", "max_new_tokens", "num_return_sequences", "do_sample", "early_stopping")


class TranslationPipeline(Pipeline):
    """Translate sentences with any encoder–decoder model that can ``generate()``.

    Call options (also accepted when the pipeline is built, as defaults for every call):

    - ``num_beams``, ``max_length``, ``max_new_tokens``, ``num_return_sequences``, ``do_sample``,
      ``early_stopping``: passed to ``model.generate``; unset ones come from the model's ``generation_config.json``.
    - ``generate_kwargs``: a dict of any other ``generate()`` arguments.
    - ``batch_size``: how many sentences go through the model at once (padded together).
    - ``truncation`` (default ``True``): cut sources longer than the tokenizer's ``model_max_length``.
    - ``clean_up_tokenization_spaces``: passed to ``tokenizer.decode``.

    Built with ``engine="ctranslate2"`` (the model converted to CTranslate2 in memory; ``engine_options=
    {"quantization": "int8"}`` computes in int8) or ``engine="torch-int8"`` (``nn.Linear`` layers dynamically
    quantized), the pipeline decodes with that engine, sentences sorted by length into batches; both need the
    ``hf_seq2seq_vit`` package (``pip install 'hf-seq2seq-vit[ct2]'`` for CTranslate2).

    Example::

        >>> translator = TranslationPipeline(model=model, tokenizer=tokenizer, num_beams=4)   # doctest: +SKIP
        >>> translator(["Two dogs play.", "A woman sings."], batch_size=2, max_new_tokens=30)   # doctest: +SKIP
        [{'translation_text': 'Zwei Hunde spielen.'}, {'translation_text': 'Eine Frau singt.'}]
    """

    # Only a tokenizer is needed; transformers' `pipeline()` reads these flags to decide what to load.
    _load_tokenizer = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_processor = False
    # Generation arguments are handled here, not by the base class: its handling changed between 5.x releases.
    _pipeline_calls_generate = False

    def __init__(self, *args: Any, engine: str = "torch", engine_options: dict[str, Any] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not self.model.config.is_encoder_decoder or not hasattr(self.model, "generate"):
            raise ValueError(
                f"TranslationPipeline needs an encoder-decoder model that can generate(); got "
                f"{type(self.model).__name__}. Load it with AutoModelForSeq2SeqLM."
            )
        if self.tokenizer is None:
            raise ValueError("TranslationPipeline needs a tokenizer: pass tokenizer=... or save one with the model.")
        vocab_size = self.model.config.vocab_size
        if len(self.tokenizer) > vocab_size:
            raise ValueError(
                f"The tokenizer has {len(self.tokenizer)} tokens but the model's vocab_size is {vocab_size}, so some "
                "token ids have no embedding and translations would be garbage; use the tokenizer the model was "
                "trained with"
            )
        check_loaded_weights(self.model)
        self.engine_name = engine
        self.engine = _build_engine(engine, self.model, self.tokenizer, dict(engine_options or {}))

    def _sanitize_parameters(
        self,
        truncation: bool | None = None,
        clean_up_tokenization_spaces: bool | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        unknown = sorted(set(kwargs) - set(GENERATION_OPTIONS))
        if unknown:
            raise TypeError(
                f"TranslationPipeline got unknown options {unknown}; it takes {list(GENERATION_OPTIONS)}, "
                "batch_size, truncation, clean_up_tokenization_spaces and generate_kwargs={...} for other "
                "generate() arguments."
            )
        preprocess_params = {} if truncation is None else {"truncation": truncation}
        forward_params = dict(generate_kwargs or {})
        forward_params.update({key: value for key, value in kwargs.items() if value is not None})
        postprocess_params = {}
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, inputs: str | list[str], **kwargs: Any):
        """Translate one sentence (``-> [{"translation_text": ...}]``) or a list (``-> one dict per sentence``)."""
        if isinstance(inputs, str):
            return self._translate([inputs], **kwargs)[0]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"TranslationPipeline takes a string or a list of strings, got {type(inputs).__name__}")
        if not inputs:
            raise ValueError("TranslationPipeline got an empty list of sentences; pass at least one string")
        for position, text in enumerate(inputs):
            if not isinstance(text, str):
                raise TypeError(
                    f"TranslationPipeline input {position} is {text!r} ({type(text).__name__}); every input must be a "
                    "string (use '' for an empty sentence)"
                )
        results = self._translate(list(inputs), **kwargs)
        # Like the transformers 4 pipeline: with one translation per sentence, a list of sentences gives a flat
        # list of dicts, not a list of one-element lists.
        if all(len(result) == 1 for result in results):
            return [result[0] for result in results]
        return results

    def _translate(self, sentences: list[str], **kwargs: Any) -> list[list[dict[str, str]]]:
        """The translations of each sentence; blank sentences get empty ones without running the model."""
        written = [index for index, text in enumerate(sentences) if text.strip()]
        if self.engine is not None:
            # Batches of similar length (longest first): less padding; results go back to input order below.
            written.sort(key=lambda index: -len(self.tokenizer(sentences[index], verbose=False).input_ids))
        outputs = super().__call__([sentences[index] for index in written], **kwargs) if written else []
        if written and len(sentences) == 1 and isinstance(outputs[0], dict):
            outputs = [outputs]  # the base class unwraps the result of a single input
        options = {**self._forward_params, **kwargs, **kwargs.get("generate_kwargs", {})}
        empty = [{"translation_text": ""} for _ in range(options.get("num_return_sequences") or 1)]
        results: list[list[dict[str, str]]] = [list(empty) for _ in sentences]
        for index, output in zip(written, outputs):
            results[index] = output
        return results

    def preprocess(self, text: str, truncation: bool = True):
        return self.tokenizer(text, return_tensors="pt", truncation=truncation)

    def _forward(self, model_inputs: dict[str, torch.Tensor], **generate_kwargs: Any):
        batch_size = model_inputs["input_ids"].shape[0]
        generate = self.engine.generate if self.engine is not None else self.model.generate
        output_ids = generate(**model_inputs, **generate_kwargs)  # (B * n, T)
        # Group the n translations of each sentence so that the base class can split the batch per sentence.
        return {"output_ids": output_ids.reshape(batch_size, -1, output_ids.shape[-1])}  # (B, n, T)

    def postprocess(self, model_outputs: dict[str, torch.Tensor], clean_up_tokenization_spaces: bool = False):
        return [
            {
                "translation_text": self.tokenizer.decode(
                    ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces
                )
            }
            for ids in model_outputs["output_ids"][0]
        ]


def _build_engine(engine: str, model, tokenizer, options: dict[str, Any]):
    """``None`` for ``engine="torch"``; otherwise the engine built by the ``hf_seq2seq_vit`` package.

    The other engines (``torch-int8``, ``ctranslate2``) live in ``hf_seq2seq_vit.engines``, imported by name only
    when asked for: this file travels as remote code and depends on torch and transformers alone.
    """
    if engine == "torch":
        if options:
            raise ValueError(f"engine_options {sorted(options)} are for the other engines; engine='torch' takes none")
        return None
    import importlib

    try:
        engines = importlib.import_module("hf_seq2seq_vit.engines")
    except ImportError as error:
        raise ImportError(
            f"engine={engine!r} comes with the hf_seq2seq_vit package ({error}); pip install 'hf-seq2seq-vit[ct2]'"
        ) from error
    return engines.build_engine(engine, model, tokenizer, **options)


def check_loaded_weights(model: torch.nn.Module) -> None:
    """Refuse a model whose weights file lacked one of its tensors, or whose weights are not finite.

    ``from_pretrained`` only warns when ``model.safetensors`` misses a tensor, and then initialises it at random;
    this compares the file's tensor names with the model's (tensors tied to a saved one excepted) and checks every
    weight for NaN/inf. A model built in memory (no ``name_or_path`` folder or repo) gets the finiteness check only.

    Raises:
        ValueError: naming the weights file and the first missing or non-finite tensor.

    Example::

        >>> from transformers import AutoConfig, AutoModelForSeq2SeqLM
        >>> config = AutoConfig.for_model("seq2seq_transformer", vocab_size=32, d_model=16, encoder_layers=1,
        ...                               decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        ...                               encoder_ffn_dim=32, decoder_ffn_dim=32)
        >>> model = AutoModelForSeq2SeqLM.from_config(config)
        >>> check_loaded_weights(model)  # built in memory, finite: nothing to report
        >>> _ = model.lm_head.weight.data.fill_(float("nan"))
        >>> check_loaded_weights(model)
        Traceback (most recent call last):
        ...
        ValueError: Tensor '...' of the model holds NaN or inf values; ...
    """
    state = model.state_dict()
    source = str(getattr(model, "name_or_path", "") or "")
    files = _weights_files(source) if source else []
    if files:
        from safetensors import safe_open  # a dependency of transformers

        saved: set[str] = set()
        for path in files:
            with safe_open(path, framework="pt") as handle:
                saved.update(handle.keys())
        # A tensor tied to a saved one (lm_head.weight = shared embeddings) is not in the file, by design.
        saved_storage = {state[name].data_ptr() for name in saved if name in state}
        missing = sorted(name for name, tensor in state.items()
                         if name not in saved and tensor.data_ptr() not in saved_storage)
        if missing:
            raise ValueError(
                f"The weights file {files[0]} has no tensor {missing[0]!r} ({len(missing)} of the model's tensors "
                f"are missing: {missing[:5]}), so the model would run with random weights there; the file is "
                "incomplete or belongs to another model: export or download it again"
            )
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            where = f"the weights file {files[0]}" if files else "the model"
            raise ValueError(
                f"Tensor {name!r} of {where} holds NaN or inf values; the weights are damaged (or training "
                "diverged): use another checkpoint"
            )


def _weights_files(source: str) -> list[str]:
    """The safetensors file(s) a model was loaded from (a folder or a Hub repo in the cache); [] when unknown."""
    from transformers.utils import cached_file

    def find(name: str) -> str | None:
        try:
            return cached_file(source, name, _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False)
        except Exception:  # not a folder nor a reachable repo id: the model was not loaded from files
            return None

    single = find("model.safetensors")
    if single:
        return [single]
    index = find("model.safetensors.index.json")
    if not index:
        return []
    import json

    with open(index, encoding="utf-8") as handle:
        shards = sorted(set(json.load(handle)["weight_map"].values()))
    return [path for path in map(find, shards) if path]


# Sets `TranslationPipeline._registered_impl`, which `save_pretrained` turns into `custom_pipelines` in config.json.
PIPELINE_REGISTRY.register_pipeline("translation", pipeline_class=TranslationPipeline, pt_model=AutoModelForSeq2SeqLM)

__all__ = ["GENERATION_OPTIONS", "TranslationPipeline", "check_loaded_weights"]
