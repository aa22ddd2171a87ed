"""Write ``trainer.predict`` outputs to a file, in input order, also under DDP.

Add it to a ``predict`` run with the LightningCLI::

    python train.py predict --config configs/demo_translation_cpu.yaml --ckpt_path best.ckpt \\
        --data.predict_path my_sentences.txt \\
        --trainer.callbacks+=hf_seq2seq_vit.lightning.prediction_writer.PredictionWriter \\
        --trainer.callbacks.output_path=translations.txt

or in Python: ``Trainer(callbacks=[PredictionWriter("labels.csv")]).predict(module, datamodule)``.

Each ``predict_step`` returns ``{"index": [...], "translation": [...]}`` (text) or ``{"index": [...], "labels":
[[top-k labels]], "scores": [[top-k scores]]}`` (images); ``index`` is each example's position in the user's input,
as the data modules put it in the batch. (A plain list of translations is accepted too; the indices are then read
from ``batch["index"]``.) Batches may come in any order (the translation data module sorts by length) and DDP may
repeat an example to give every rank the same number of batches: each rank appends its results to a part file as it
goes, and after all ranks finished, rank 0 merges the parts by index, keeps one result per index and writes
``output_path``, whose suffix picks the format:

- ``.txt``: one line per input: the translation, or the top label (blank inputs give blank lines);
- ``.jsonl``: one JSON object per input: ``index``, ``source``/``path`` (when the data module has
  ``predict_inputs``), ``translation`` or ``labels`` + ``scores``;
- ``.csv``: the same as columns (``label_1, score_1, label_2, ...`` for images).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

__all__ = ["FORMATS", "PredictionWriter", "merge_prediction_parts"]

FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".csv": "csv"}


class PredictionWriter(BasePredictionWriter):
    """Write the predictions of ``trainer.predict`` to ``output_path`` (.txt / .jsonl / .csv) in input order.

    Args:
        output_path: the file to write; its folder is created. Part files go to ``<output_path>.parts/`` while
            predicting and are removed after the merge.

    Example::

        >>> trainer = Trainer(callbacks=[PredictionWriter("outputs/translations.jsonl")])   # doctest: +SKIP
        >>> trainer.predict(module, datamodule=data, return_predictions=False)               # doctest: +SKIP
    """

    def __init__(self, output_path: str | os.PathLike):
        super().__init__(write_interval="batch")
        self.output_path = Path(output_path)
        suffix = self.output_path.suffix.lower()
        if suffix not in FORMATS:
            raise ValueError(
                f"PredictionWriter output_path={str(output_path)!r} must end in one of {sorted(FORMATS)} "
                "(the suffix picks the format)"
            )
        self.format = FORMATS[suffix]
        self._part = None

    @property
    def parts_dir(self) -> Path:
        return self.output_path.with_name(self.output_path.name + ".parts")

    def _part_path(self, rank: int) -> Path:
        return self.parts_dir / f"rank{rank}.jsonl"

    def on_predict_start(self, trainer, pl_module) -> None:
        path = self._part_path(trainer.global_rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._part = path.open("w", encoding="utf-8")  # this rank's results of this run only

    def write_on_batch_end(self, trainer, pl_module, prediction: Any, batch_indices: Sequence[int] | None,
                           batch: Any, batch_idx: int, dataloader_idx: int) -> None:
        for record in _records(prediction, batch):
            self._part.write(json.dumps(record, ensure_ascii=False) + "\n")

    def on_predict_end(self, trainer, pl_module) -> None:
        if self._part is not None:
            self._part.close()
            self._part = None
        trainer.strategy.barrier("prediction_writer_parts_done")  # every rank's part is complete
        if trainer.is_global_zero:
            datamodule = getattr(trainer, "datamodule", None)
            inputs = getattr(datamodule, "predict_inputs", None) or None
            merge_prediction_parts([self._part_path(rank) for rank in range(trainer.world_size)], self.output_path,
                                   inputs=inputs)
            shutil.rmtree(self.parts_dir, ignore_errors=True)
        trainer.strategy.barrier("prediction_writer_merged")


def _records(prediction: Any, batch: Any) -> list[dict[str, Any]]:
    """One JSON-able dict per example of a batch's prediction."""
    if not isinstance(prediction, dict):  # a plain list of translations: the indices are in the batch
        index = batch.get("index") if isinstance(batch, dict) else None
        if index is None:
            raise ValueError("PredictionWriter needs each example's index: predict_step must return a dict with "
                             "'index', or the batch must carry 'index' (set by the data modules)")
        prediction = {"index": index, "translation": prediction}
    if "index" not in prediction:
        raise ValueError(f"predict_step returned a dict without 'index' (keys {sorted(prediction)}); PredictionWriter "
                         "needs each example's position in the input")
    columns = {key: _plain(value) for key, value in prediction.items()}
    count = len(columns["index"])
    for key, values in columns.items():
        if not isinstance(values, list) or len(values) != count:
            raise ValueError(f"predict_step's {key!r} must hold one entry per example ({count}), got {values!r:.80}")
    return [{key: values[i] for key, values in columns.items()} for i in range(count)]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def merge_prediction_parts(parts: Sequence[str | os.PathLike], output_path: str | os.PathLike,
                           inputs: Sequence[str] | None = None) -> Path:
    """Merge per-rank JSONL part files into ``output_path`` in index order, one result per index.

    ``inputs`` (the data module's ``predict_inputs``: source lines or image paths) adds a ``source``/``path``
    column and, for ``.txt``, the number of lines to write (inputs without a result become blank lines).
    """
    output_path = Path(output_path)
    records: dict[int, dict[str, Any]] = {}
    for part in parts:
        with open(part, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                records.setdefault(int(record["index"]), record)  # DDP padding repeats examples: keep one
    ordered = [records[index] for index in sorted(records)]
    is_text = any("translation" in record for record in ordered)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    kind = FORMATS.get(output_path.suffix.lower())
    source_key = "source" if is_text else "path"
    if inputs is not None:
        for record in ordered:
            if 0 <= record["index"] < len(inputs):
                record[source_key] = inputs[record["index"]]
    with output_path.open("w", encoding="utf-8", newline="") as handle:
        if kind == "txt":
            total = len(inputs) if inputs is not None else (max(records) + 1 if records else 0)
            for index in range(total):
                record = records.get(index)
                text = "" if record is None else (record["translation"] if is_text else record["labels"][0])
                handle.write(" ".join(str(text).splitlines()) + "\n")
        elif kind == "jsonl":
            for record in ordered:
                front = {key: record[key] for key in ("index", source_key) if key in record}
                handle.write(json.dumps({**front, **record}, ensure_ascii=False) + "\n")
        elif kind == "csv":
            writer = csv.writer(handle, lineterminator="\n")
            if is_text:
                header = ["index"] + (["source"] if inputs is not None else []) + ["translation"]
                writer.writerow(header)
                writer.writerows([[record.get(name, "") for name in header] for record in ordered])
            else:
                top_k = max((len(record["labels"]) for record in ordered), default=0)
                writer.writerow(["index"] + (["path"] if inputs is not None else [])
                                + [f"{name}_{rank}" for rank in range(1, top_k + 1) for name in ("label", "score")])
                for record in ordered:
                    pairs = [value for pair in zip(record["labels"], record["scores"]) for value in pair]
                    writer.writerow([record["index"]] + ([record.get("path", "")] if inputs is not None else [])
                                    + pairs)
        else:
            raise ValueError(f"output_path={str(output_path)!r} must end in one of {sorted(FORMATS)}")
    return output_path
