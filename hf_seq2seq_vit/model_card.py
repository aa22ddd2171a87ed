"""Write the ``README.md`` model card of an exported model from what its checkpoint recorded.

The card is a template of ``model_cards/`` (inside the package, so wheels carry it; the repository's top-level
``model_cards`` links there) filled by ``huggingface_hub.ModelCard.from_template`` (Jinja2). Its YAML header is Hub
metadata built with ``ModelCardData``: license, language, datasets, metrics, ``pipeline_tag``, ``library_name`` and
a ``model-index`` holding the checkpoint's measured scores. Every number comes from the checkpoint
(``hf_eval_results``, ``hf_train_info``, ``hyper_parameters``); with no evaluation recorded the card says so and the
``model-index`` is left out, never filled with a guess.

Example::

    >>> from hf_seq2seq_vit.export import exporter_for
    >>> from hf_seq2seq_vit.model_card import build_model_card
    >>> card = build_model_card(exporter_for("translation").card, config,   # doctest: +SKIP
    ...                         eval_results={"val_bleu": 31.2},
    ...                         train_info={"dataset": "multi30k", "src_lang": "en", "tgt_lang": "de"})
    >>> card.data.eval_results[0].metric_value   # doctest: +SKIP
    31.2
    >>> card.save("outputs/model/README.md")   # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATES_DIR = Path(__file__).resolve().parent / "model_cards"  # shipped in the wheel; ./model_cards links here

# What the card says about the bundled / known training sets (from each folder's PROVENANCE.md). Matched by a
# substring of `hf_train_info["dataset"]`; an unknown dataset is named as recorded and its license is "not recorded".
DATASET_FACTS = {
    "multi30k": {
        "name": "Multi30k (task 1, English–German; Elliott et al. 2016)",
        "license": "no license file; provided for non-commercial research and educational use (Flickr30K terms)",
        "url": "https://github.com/multi30k/dataset",
    },
    "tatoeba": {
        "name": "Tatoeba Korean–English sentence pairs (tatoeba.org export of 2026-05-13; tatoeba-ko-en-2025: the "
                "ManyThings export)",
        "license": "CC BY 2.0 France (keep the contributor attribution)",
        "url": "https://tatoeba.org",
    },
    "kosp2e": {
        "name": "StyleKQC / Kosp2e Korean–English",
        "license": "CC BY-SA 4.0 (some sub-corpora: academic use only)",
        "url": "https://github.com/warnikchow/kosp2e",
    },
    "jhe": {
        "name": "JHE Korean–English evaluation data",
        "license": "CC BY-SA 3.0",
        "url": "https://github.com/jungyeul/korean-parallel-corpora",
    },
    "cifar": {
        "name": "CIFAR-10 (Krizhevsky 2009)",
        "license": "no explicit license; widely redistributed for research and education",
        "url": "https://www.cs.toronto.edu/~kriz/cifar.html",
    },
}
SPLIT_NAMES = {"val": "validation", "valid": "validation", "validation": "validation", "test": "test", "train": "train"}
SPLIT_ORDER = ["validation", "test", "train", "unspecified"]
METRIC_NAMES = {"bleu": "BLEU", "sacrebleu": "BLEU", "acc": "Accuracy", "accuracy": "Accuracy", "loss": "Loss",
                "ppl": "Perplexity", "chrf": "chrF", "top5_acc": "Top-5 accuracy", "acc_top5": "Top-5 accuracy"}
METRIC_TYPES = {"acc": "accuracy", "sacrebleu": "bleu"}

__all__ = ["DATASET_FACTS", "TEMPLATES_DIR", "CardSpec", "build_model_card", "evaluation_rows"]


@dataclass(frozen=True)
class CardSpec:
    """What a task's model card needs: its Hub ``pipeline_tag``, template, headline metric and config keys shown.

    Each task's exporter (``hf_seq2seq_vit.export.exporters``) holds one.
    """

    task: str  # the Hub pipeline_tag, e.g. "translation"
    template: str  # a file of model_cards/
    main_metric: str  # metric suffix of hf_eval_results keys, e.g. "bleu" for "val_bleu"
    config_keys: tuple[str, ...] = ()  # model config entries listed under "Training procedure"


def evaluation_rows(eval_results: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Turn ``{"val_bleu": 31.2, "test_acc": 0.81}`` into sorted ``{split, metric_type, metric_name, value}`` rows.

    Keys are ``<split>_<metric>`` or ``<split>/<metric>`` (``val``/``test``/``train``); other keys keep split
    ``"unspecified"``. Values must be finite numbers: anything else is an error, since the card must show only
    measured numbers.

    Example::

        >>> evaluation_rows({"test_bleu": 30.0})[0]["split"], evaluation_rows({"test_bleu": 30.0})[0]["metric_name"]
        ('test', 'BLEU')
    """
    rows = []
    for key, value in (eval_results or {}).items():
        if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(
                f"hf_eval_results[{key!r}] = {value!r} is not a finite number; the model card only reports measured "
                "scores, so fix or drop that entry in the checkpoint"
            )
        match = re.match(r"^(val|valid|validation|test|train)[_/](.+)$", key)
        split, metric = (SPLIT_NAMES[match.group(1)], match.group(2)) if match else ("unspecified", key)
        metric_type = METRIC_TYPES.get(metric, metric)
        rows.append({"key": key, "split": split, "metric_type": metric_type,
                     "metric_name": METRIC_NAMES.get(metric, metric), "value": float(value)})
    return sorted(rows, key=lambda row: (SPLIT_ORDER.index(row["split"]), row["metric_type"]))


def build_model_card(
    spec: CardSpec,
    config: Any,
    eval_results: dict[str, Any] | None = None,
    train_info: dict[str, Any] | None = None,
    hyper_parameters: dict[str, Any] | None = None,
    generation_config: dict[str, Any] | None = None,
    num_parameters: int | None = None,
    model_name: str | None = None,
    license: str = "apache-2.0",
    template_path: str | os.PathLike | None = None,
) -> ModelCard:
    """Fill the task's template from ``model_cards/`` with the checkpoint's metadata and measured numbers.

    Args:
        spec: the task's card description (``exporter_for(task).card``).
        config: the model config (a ``PreTrainedConfig`` or its dict).
        eval_results: ``hf_eval_results`` of the checkpoint, e.g. ``{"val_bleu": 31.2, "test_bleu": 30.1}``.
        train_info: ``hf_train_info``: ``dataset``, ``src_lang``, ``tgt_lang``, ``global_step``, ``train_time_s``,
            ``hardware``, and optionally ``license`` (the license to publish the weights under).
        hyper_parameters: Lightning's ``hyper_parameters`` (shown as the training configuration).
        generation_config: decoding defaults (translation), shown in the card.
        num_parameters: parameter count of the model.
        model_name: the repo id or folder name the card describes (used in the usage example).
        license: Hub license id of the weights when ``train_info`` has no ``license``.
        template_path: another Jinja2 template instead of ``model_cards/<spec.template>``.

    Example::

        >>> card = build_model_card(exporter_for("image-classification").card, {"model_type": "conv_vit"},  # doctest: +SKIP
        ...                         eval_results={}, train_info={"dataset": "cifar10"})
        >>> "No evaluation" in card.text   # doctest: +SKIP
        True
    """
    task = spec.task
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    train_info = dict(train_info or {})
    rows = evaluation_rows(eval_results)
    dataset = train_info.get("dataset")
    facts = _dataset_facts(dataset)
    model_name = model_name or "model"
    languages = [lang for lang in (train_info.get("src_lang"), train_info.get("tgt_lang")) if lang]
    main_metric = spec.main_metric

    card_data = ModelCardData(
        license=train_info.get("license") or license,
        language=languages or None,
        # "bundled:multi30k" (the data module's spelling) -> "multi30k": Hub dataset ids have no scheme.
        datasets=[str(dataset).split(":")[-1]] if dataset else None,
        metrics=sorted({row["metric_type"] for row in rows}) or None,
        pipeline_tag=task,
        library_name="transformers",
        tags=[config.get("model_type", task), "custom_code", "pytorch-lightning"],
        model_name=model_name,
        # The Hub's model-index needs measured values: with no evaluation the field is left out entirely.
        eval_results=[
            EvalResult(
                task_type=task,
                dataset_type=str(dataset).split(":")[-1] if dataset else "unspecified",
                dataset_name=facts["name"] if facts else str(dataset or "unspecified"),
                dataset_split=row["split"],
                metric_type=row["metric_type"],
                metric_name=row["metric_name"],
                metric_value=row["value"],
            )
            for row in rows
        ] or None,
    )
    template = Path(template_path) if template_path else TEMPLATES_DIR / spec.template
    if not template.is_file():
        raise FileNotFoundError(
            f"Model card template {template} is missing; it ships inside the package (hf_seq2seq_vit/model_cards/): "
            "reinstall hf-seq2seq-vit, or pass template_path=... to use your own Jinja2 template"
        )
    return ModelCard.from_template(
        card_data,
        template_path=str(template),
        model_name=model_name,
        model_type=config.get("model_type", "unknown"),
        model_config={key: config[key] for key in spec.config_keys if key in config},
        num_parameters=f"{num_parameters:,}" if num_parameters else None,
        src_lang=train_info.get("src_lang"),
        tgt_lang=train_info.get("tgt_lang"),
        dataset=dataset,
        dataset_facts=facts,
        eval_rows=rows,
        main_metric=METRIC_NAMES.get(main_metric, main_metric),
        training_config=_flatten(hyper_parameters or {}),
        generation=_flatten({k: v for k, v in (generation_config or {}).items() if k != "transformers_version"}),
        global_step=train_info.get("global_step"),
        train_time=_duration(train_info.get("train_time_s")),
        hardware=train_info.get("hardware"),
        id2label=config.get("id2label") or {},
    )


def _dataset_facts(dataset: Any) -> dict[str, str] | None:
    if not dataset:
        return None
    for key, facts in DATASET_FACTS.items():
        if key in str(dataset).lower():
            return facts
    return None


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"optimizer": {"lr": 1e-3}}`` -> ``{"optimizer.lr": "0.001"}``; long values are shortened for the table."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            text = str(value).replace("|", "\\|").replace("\n", " ")
            flat[name] = text if len(text) <= 120 else text[:117] + "..."
    return flat


def _duration(seconds: Any) -> str | None:
    if seconds is None:
        return None
    seconds = float(seconds)
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes} min {secs} s" if hours else f"{minutes} min {secs} s ({seconds:.1f} s)"
