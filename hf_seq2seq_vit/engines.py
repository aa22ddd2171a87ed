"""Inference engines for the translator besides plain PyTorch: CTranslate2 and PyTorch int8.

- ``"torch"``: the model's own ``generate()`` (transformers' decoding loop).
- ``"torch-int8"``: the same model with its ``nn.Linear`` layers dynamically quantized to int8 (weights int8,
  activations quantized per batch): :func:`quantize_int8`. CPU only.
- ``"ctranslate2"``: the model converted to CTranslate2 (:mod:`hf_seq2seq_vit.export.ctranslate2`) and decoded by
  its C++ engine: :class:`CTranslate2Engine`, built from a folder that ``export --format ctranslate2`` wrote or
  from a loaded model (converted in memory). Needs ``pip install 'hf-seq2seq-vit[ct2]'``.

Every engine answers ``generate(input_ids, attention_mask, num_beams=..., max_new_tokens=...)`` with the
token ids transformers' ``generate()`` returns (decoder start token, tokens, end token, padding), so the
translation pipeline and ``hf-seq2seq-vit translate`` use them interchangeably::

    >>> from hf_seq2seq_vit.engines import build_engine
    >>> engine = build_engine("ctranslate2", model, tokenizer, quantization="int8")   # doctest: +SKIP
    >>> TranslationPipeline(model=model, tokenizer=tokenizer, engine="ctranslate2")   # the same, through the pipeline
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, GenerationConfig

ENGINES = ("torch", "torch-int8", "ctranslate2")

__all__ = ["ENGINES", "CTranslate2Engine", "build_engine", "is_ctranslate2_folder", "quantize_int8"]


# ------------------------------------------------------------------------------------------------------ torch int8
def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose ``nn.Linear`` layers compute in int8 (dynamic quantization; CPU inference only).

    Weights are stored int8 per output channel; activations are quantized per batch on the fly. Embeddings,
    LayerNorms and attention products stay float32. This uses ``torch.ao.quantization.quantize_dynamic``: PyTorch
    marks it deprecated in favour of torchao's ``quantize_`` (a separate package whose CPU int8 kernels need
    ``torch.compile``); it is still shipped and works in torch 2.14, and its warning is silenced here.

    Example::

        >>> int8_model = quantize_int8(model)                               # doctest: +SKIP
        >>> int8_model.generate(**tokenizer(["A man."], return_tensors="pt"))  # doctest: +SKIP
    """
    from torch.ao.quantization import quantize_dynamic

    if any(parameter.device.type != "cpu" for parameter in model.parameters()):
        raise ValueError("engine 'torch-int8' runs on the CPU only; load the model with --device cpu (model.to('cpu'))")
    quantized = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(quantized, {torch.nn.Linear}, dtype=torch.qint8)


# ------------------------------------------------------------------------------------------------------ CTranslate2
def is_ctranslate2_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a CTranslate2 export of ours (``hf_seq2seq_vit_ctranslate2.json``)."""
    from .export.ctranslate2 import ENGINE_FILE

    return (Path(folder) / ENGINE_FILE).is_file()


class _EngineConfig:
    """The few model-config fields the pipeline and ``translate`` read from an engine."""

    is_encoder_decoder = True

    def __init__(self, record: dict[str, Any]):
        self.vocab_size = record["vocab_size"]
        self.tgt_vocab_size = record["tgt_vocab_size"]
        self.max_position_embeddings = record["max_position_embeddings"]
        self.pad_token_id = record["pad_token_id"]
        self.eos_token_id = record["eos_token_id"]
        self.decoder_start_token_id = record["decoder_start_token_id"]


class CTranslate2Engine:
    """A translator exported to CTranslate2, decoded by ``ctranslate2.Translator`` on the CPU.

    Args:
        folder: a folder written by ``export --format ctranslate2`` (or :func:`save_ctranslate2`).
        compute_type: ``"default"`` (as stored), ``"float32"``, ``"int8"`` or ``"int8_float32"`` (converted on
            load).
        intra_threads: threads per batch (0: CTranslate2's default, 4 or the cores available).
        inter_threads: batches decoded at once, each by its own ``intra_threads`` (CTranslate2's data parallelism:
            with 2 cores, ``inter_threads=2, intra_threads=1`` decodes a batch of 64 as two batches of 32 side by
            side, which on a small model is faster than two threads inside one batch: ``bench/engines.py``).
        max_batch_size: sentences per batch when ``generate`` is given more (CTranslate2 sorts them by length
            first, so that a batch holds sentences of similar length and little padding).

    Beam search stops as transformers' ``early_stopping=True`` does (CTranslate2's ``patience=1``: when
    ``num_beams`` hypotheses are finished), which is what our models save as their default; CTranslate2 has no
    equivalent of ``early_stopping=False`` or ``"never"`` (keep searching while a running beam could still win), so
    asking for one is an error, and a folder whose ``generation_config.json`` says so gets a warning (identical
    outputs on 96.6% of Multi30k test_2016 under ``early_stopping=False``, 100% under ``True``:
    ``bench/results/ct2-multi30k-*``). Scores agree to 1e-4 where the hypotheses agree.

    Example::

        >>> engine = CTranslate2Engine("outputs/model-ct2", compute_type="int8")   # doctest: +SKIP
        >>> engine.translate(["A man is riding a bicycle."], num_beams=4)            # doctest: +SKIP
        ['Ein Mann fährt Fahrrad.']
    """

    def __init__(self, folder: str | os.PathLike, compute_type: str = "default", intra_threads: int = 0,
                 max_batch_size: int = 0, tokenizer=None, inter_threads: int = 1):
        from .export.ctranslate2 import COMPUTE_TYPES, import_ctranslate2, read_engine_record, vocabulary_tokens

        ctranslate2 = import_ctranslate2(ImportError)
        for name, value, least in (("intra_threads", intra_threads, 0), ("inter_threads", inter_threads, 1),
                                   ("max_batch_size", max_batch_size, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name}={value!r} is invalid: it must be an integer >= {least}")
        if compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type {compute_type!r} is not supported; choose one of {list(COMPUTE_TYPES)}")
        folder = Path(folder)
        record = read_engine_record(folder)
        self.folder = folder
        self.config = _EngineConfig(record)
        self.generation_config = GenerationConfig.from_pretrained(folder)
        self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(folder)
        self.translator = ctranslate2.Translator(str(folder), device="cpu", compute_type=compute_type,
                                                 intra_threads=intra_threads, inter_threads=inter_threads)
        self.inter_threads = inter_threads
        self.compute_type = compute_type
        self.max_batch_size = max_batch_size
        self.device = torch.device("cpu")
        vocab = self.tokenizer.get_vocab()
        self._source_tokens = {index: token for token, index in vocab.items()}
        self._target_tokens = vocabulary_tokens(self.tokenizer, self.config.tgt_vocab_size)
        self._target_ids = {token: index for index, token in enumerate(self._target_tokens)}

    @classmethod
    def from_model(cls, model, tokenizer, compute_type: str = "default", intra_threads: int = 0,
                   max_batch_size: int = 0, inter_threads: int = 1) -> CTranslate2Engine:
        """Convert a loaded :class:`Seq2SeqTransformerForConditionalGeneration` in memory (float32 weights)."""
        from .export.ctranslate2 import import_ctranslate2, save_ctranslate2

        import_ctranslate2(ImportError)
        with tempfile.TemporaryDirectory(prefix="hf_seq2seq_vit_ct2_") as folder:
            save_ctranslate2(model, tokenizer, folder)
            return cls(folder, compute_type=compute_type, intra_threads=intra_threads, max_batch_size=max_batch_size,
                       inter_threads=inter_threads,
                       tokenizer=tokenizer)  # CTranslate2 reads the files when it loads; the folder may go

    # The generate() options CTranslate2 has an equivalent for; anything else is refused by name.
    _OPTIONS = ("num_beams", "max_new_tokens", "max_length", "num_return_sequences", "length_penalty",
                "repetition_penalty", "no_repeat_ngram_size", "do_sample", "early_stopping", "batch_size")

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(self._OPTIONS))
        if unknown:
            raise TypeError(f"engine 'ctranslate2' does not take {unknown}; it takes {list(self._OPTIONS)}")
        settings = self.generation_config
        get = lambda name: kwargs[name] if kwargs.get(name) is not None else getattr(settings, name, None)  # noqa: E731
        if get("do_sample"):
            raise ValueError("engine 'ctranslate2' decodes with greedy or beam search only; do_sample must be False")
        num_beams = get("num_beams") or 1
        returned = get("num_return_sequences") or 1
        if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
            raise ValueError(f"num_beams={num_beams!r} is invalid: it must be an integer >= 1")
        if returned > num_beams:
            raise ValueError(f"num_return_sequences={returned} must be <= num_beams={num_beams}")
        if num_beams > 1:
            self._check_early_stopping(kwargs.get("early_stopping"), settings.early_stopping)
        if kwargs.get("max_new_tokens") is not None:
            max_new = kwargs["max_new_tokens"]
        elif kwargs.get("max_length") is not None:
            max_new = kwargs["max_length"] - 1  # transformers' max_length counts the decoder start token
        elif settings.max_new_tokens is not None:
            max_new = settings.max_new_tokens
        else:
            max_new = (settings.max_length or self.config.max_position_embeddings) - 1
        max_new = min(max_new, self.config.max_position_embeddings - 1)  # positions beyond the table do not exist
        batch_size = kwargs.get("batch_size") or self.max_batch_size
        return dict(
            beam_size=num_beams, num_hypotheses=returned, max_decoding_length=max_new, min_decoding_length=0,
            length_penalty=get("length_penalty") if get("length_penalty") is not None else 1.0,
            repetition_penalty=get("repetition_penalty") or 1.0,
            no_repeat_ngram_size=get("no_repeat_ngram_size") or 0,
            max_input_length=0, return_end_token=True, return_scores=True, max_batch_size=batch_size,
        )

    _warned_early_stopping = False

    def _check_early_stopping(self, asked, stored) -> None:
        """CTranslate2's beam search is transformers' ``early_stopping=True``: refuse another rule, never ignore it."""
        if asked is not None and asked is not True:
            raise ValueError(
                f"early_stopping={asked!r} is not available with engine 'ctranslate2': its beam search ends when "
                "num_beams hypotheses are finished (early_stopping=True); use engine='torch' for another rule"
            )
        if asked is None and stored is not True and not self._warned_early_stopping:
            self._warned_early_stopping = True
            warnings.warn(
                f"the model's generation_config has early_stopping={stored!r}, but engine 'ctranslate2' ends "
                "beam search when num_beams hypotheses are finished (early_stopping=True), so a few translations "
                "may differ from the torch model's; set generation_config.early_stopping=True (re-export) to match",
                stacklevel=4,
            )

    def translate_ids(self, sources: list[list[int]], **kwargs: Any) -> list[list[tuple[list[int], float]]]:
        """For each source (token ids, end token included), its hypotheses as (target ids, score), best first.

        The ids run from the first generated token to the end token (included when it was generated); the score
        is CTranslate2's (the sum of the token log-probabilities, divided by length ** length_penalty in beam
        search).
        """
        options = self._options(kwargs)
        tokens = [[self._source_tokens[index] for index in ids] for ids in sources]
        if self.inter_threads > 1 and not options["max_batch_size"]:
            # Split the batch so that every decoding thread gets a part (CTranslate2 runs the parts side by side).
            options["max_batch_size"] = -(-len(tokens) // self.inter_threads)
        results = self.translator.translate_batch(tokens, **options)
        return [[([self._target_ids[token] for token in hypothesis], score)
                 for hypothesis, score in zip(result.hypotheses, result.scores)] for result in results]

    def generate(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None,
                 **kwargs: Any) -> torch.LongTensor:
        """What ``model.generate()`` returns: (B * n, T) ids, each row ``start, tokens..., end, pad...``."""
        if attention_mask is None:
            attention_mask = input_ids.ne(self.config.pad_token_id)
        sources = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask)]
        rows = [[self.config.decoder_start_token_id, *ids] for hypotheses in self.translate_ids(sources, **kwargs)
                for ids, _ in hypotheses]
        width = max(len(row) for row in rows)
        output = torch.full((len(rows), width), self.config.pad_token_id, dtype=torch.long)
        for index, row in enumerate(rows):
            output[index, : len(row)] = torch.tensor(row)
        return output

    def translate(self, sentences: list[str], **kwargs: Any) -> list[str]:
        """Translate strings (the first hypothesis of each)."""
        sources = [self.tokenizer(sentence, truncation=True).input_ids for sentence in sentences]
        results = self.translate_ids(sources, **kwargs)
        return [self.tokenizer.decode(hypotheses[0][0], skip_special_tokens=True) for hypotheses in results]


# ------------------------------------------------------------------------------------------------------ choosing one
def build_engine(engine: str, model=None, tokenizer=None, quantization: str | None = None, intra_threads: int = 0,
                 max_batch_size: int = 0, inter_threads: int = 1):
    """The engine named ``engine`` for a loaded model (``None`` for ``"torch"``: use the model itself).

    ``quantization`` picks CTranslate2's compute type (``int8``, ``int8_float32``, ``float32``; default: as
    stored); ``"torch-int8"`` is already int8.

    Example::

        >>> build_engine("torch-int8", model, tokenizer).generate(**inputs)   # doctest: +SKIP
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not supported; choose one of {list(ENGINES)}")
    if engine != "ctranslate2" and quantization is not None:
        raise ValueError(f"quantization={quantization!r} picks CTranslate2's compute type; engine={engine!r} takes none")
    if engine == "torch":
        return None
    if engine == "torch-int8":
        return quantize_int8(model)
    return CTranslate2Engine.from_model(model, tokenizer, compute_type=quantization or "default",
                                        intra_threads=intra_threads, max_batch_size=max_batch_size,
                                        inter_threads=inter_threads)
