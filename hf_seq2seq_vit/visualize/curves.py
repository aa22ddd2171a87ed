"""Training curves as a PNG from the ``metrics.csv`` that Lightning's ``CSVLogger`` writes.

    >>> from hf_seq2seq_vit.visualize import plot_training_curves
    >>> plot_training_curves("outputs/demo/csv/version_0/metrics.csv", "outputs/demo/curves.png")   # doctest: +SKIP
    PosixPath('outputs/demo/curves.png')

Left panel: every ``*_loss`` column (train per step or per epoch, validation) against the global step. Right panel:
the validation scores (``val_bleu`` for translation, ``val_acc``/``val_top5`` ... for images), also per step. Each
metric is drawn from the rows where it was logged (``CSVLogger`` leaves the other cells empty).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from .explain import _save, new_figure

__all__ = ["plot_training_curves", "read_metrics_csv"]

# Columns that are bookkeeping or on another scale than the scores (perplexity, learning rate).
SKIPPED = ("epoch", "step", "lr", "learning_rate")


def read_metrics_csv(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` for every column of a CSVLogger ``metrics.csv`` with at least one value.

    Example::

        >>> read_metrics_csv("metrics.csv")["val_loss"][:2]   # doctest: +SKIP
        [(49, 5.21), (99, 4.73)]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No metrics file at {str(path)!r}; CSVLogger writes <save_dir>/<name>/version_N/metrics.csv")
    series: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "step" not in reader.fieldnames:
            raise ValueError(f"{str(path)!r} is not a CSVLogger metrics file (no 'step' column)")
        for row in reader:
            step = int(float(row["step"])) if row.get("step") else None
            for name, value in row.items():
                if name in SKIPPED or step is None or value in (None, ""):
                    continue
                number = float(value)
                if math.isfinite(number):
                    series.setdefault(name, []).append((step, number))
    return series


def plot_training_curves(
    metrics_csv: str | os.PathLike, output_png: str | os.PathLike, title: str | None = None
) -> Path:
    """Draw the losses and the validation scores of a run into ``output_png``; returns its path.

    Raises:
        FileNotFoundError: no ``metrics_csv``.
        ValueError: the file has no loss and no score column to draw.
    """
    series = read_metrics_csv(metrics_csv)
    losses = {name: points for name, points in series.items() if name.endswith("_loss") or "_loss_" in name}
    scores = {name: points for name, points in series.items()
              if name.startswith(("val_", "test_")) and name not in losses and not name.endswith("_ppl")}
    if not losses and not scores:
        raise ValueError(f"{str(metrics_csv)!r} has no *_loss or val_* columns to plot (found {sorted(series)})")
    figure, axes = new_figure(1, 2, figsize=(10, 3.8))
    for axis, group, label in ((axes[0][0], losses, "loss"), (axes[0][1], scores, "score")):
        for name, points in sorted(group.items()):
            steps, values = zip(*points)
            axis.plot(steps, values, marker="o" if len(points) < 30 else None, markersize=3, label=name)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if group:
            axis.legend(fontsize=8)
        else:
            axis.text(0.5, 0.5, f"no {label} logged", ha="center", va="center", transform=axis.transAxes)
    if title:
        figure.suptitle(title)
    return _save(figure, output_png)
