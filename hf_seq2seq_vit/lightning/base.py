"""``TaskModule``: what the translation and image-classification LightningModules share.

A task module writes only its step and its metrics. This base owns the rest:

- **exact resume**: the random generators (torch CPU and CUDA, numpy, Python) are seeded from
  ``(seed, epoch, batch, rank)`` at the start of every epoch and every training batch, as fairseq does. A run
  killed at any point and resumed with ``--ckpt_path last`` draws the same dropout masks (and Mixup boxes) as the
  uninterrupted run, whatever ran in between (validation, checkpointing, a fresh DataLoader iterator): there is
  no random state that a checkpoint could miss. The batch sampler's own generator is seeded from
  ``seed + epoch`` and its position comes back through the data module's ``state_dict``.
- **safe checkpoints**: :meth:`TaskModule.load_from_checkpoint` loads with ``weights_only=True`` and refuses
  ``http(s)`` URLs (for those Lightning would unpickle the remote file); a checkpoint of the other task stops
  with a message that names the task found and the task expected.

Example::

    >>> seed_random_generators(0, epoch=1, batch=5, rank=0)
    >>> first = torch.rand(1)
    >>> seed_random_generators(0, epoch=1, batch=5, rank=0)
    >>> bool(torch.rand(1) == first)
    True
"""

from __future__ import annotations

import os
import random
from typing import Any

import lightning as L
import numpy as np
import torch

from hf_seq2seq_vit.export.contract import TASK_KEY

__all__ = ["TaskModule", "check_local_checkpoint", "peek_task", "seed_random_generators"]

_EPOCH_START = -1  # the "batch" whose seed the epoch start uses (before the DataLoader iterator draws its seed)


def seed_random_generators(seed: int, epoch: int, batch: int, rank: int) -> None:
    """Seed torch (CPU and every CUDA device), numpy and Python's ``random`` from the training position.

    ``numpy.random.SeedSequence`` mixes the four numbers, so neighbouring steps get unrelated streams.
    """
    state = np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, batch - _EPOCH_START, rank]).generate_state(2)
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))  # also seeds all CUDA devices
    np.random.seed(int(state[0]))
    random.seed(int(state[1]))


def check_local_checkpoint(path: Any, argument: str = "checkpoint_path") -> None:
    """Refuse ``http(s)`` checkpoint URLs: Lightning loads those with ``weights_only=False`` (arbitrary code)."""
    if isinstance(path, (str, os.PathLike)) and str(path).lower().startswith(("http://", "https://")):
        raise ValueError(
            f"{argument}={str(path)!r} is a URL; loading a remote checkpoint could run code from it. Download the "
            "file from a source you trust and pass its local path (it is then loaded with weights_only=True)."
        )


class TaskModule(L.LightningModule):
    """Base of :class:`TranslationModule` and :class:`ImageClassificationModule` (see the module docstring).

    Subclasses set ``task`` (the checkpoint contract's task name) and call ``super()`` in the hooks they override.
    """

    task: str = ""

    # -- exact resume ------------------------------------------------------------------------------------------------
    def _seed_position(self, batch: int) -> None:
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        seed_random_generators(seed, self.current_epoch, batch, self.global_rank)

    def on_train_epoch_start(self) -> None:
        # Before the training DataLoader iterator is created (it draws its workers' base seed from torch).
        self._seed_position(_EPOCH_START)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._seed_position(batch_idx)

    # -- safe checkpoints --------------------------------------------------------------------------------------------
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        found = checkpoint.get(TASK_KEY)
        if found is not None and found != self.task:
            raise ValueError(
                f"The checkpoint is a {found!r} checkpoint but {type(self).__name__} trains {self.task!r}; pass a "
                f"checkpoint written by a {self.task} run (or the config of the {found} task)"
            )

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, hparams_file=None, strict=None,
                             weights_only: bool = True, **kwargs):
        """Lightning's ``load_from_checkpoint`` with ``weights_only=True``, local files only and a task check.

        Example::

            >>> module = TranslationModule.load_from_checkpoint("outputs/demo/checkpoints/last.ckpt")  # doctest: +SKIP
        """
        check_local_checkpoint(checkpoint_path)
        if isinstance(checkpoint_path, (str, os.PathLike)) and os.path.isfile(checkpoint_path):
            found = peek_task(checkpoint_path)
            if found is not None and found != cls.task:
                raise ValueError(
                    f"{str(checkpoint_path)!r} is a {found!r} checkpoint, not a {cls.task!r} one; load it with the "
                    f"module of its task"
                )
        return super().load_from_checkpoint(checkpoint_path, map_location=map_location, hparams_file=hparams_file,
                                            strict=strict, weights_only=weights_only, **kwargs)


def peek_task(path: str | os.PathLike) -> str | None:
    """The ``hf_task`` of a checkpoint file, read without loading its tensors into memory (``mmap``)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # not a zip-format file: mmap is not possible; Lightning's own load reports real errors
        return None
    return checkpoint.get(TASK_KEY) if isinstance(checkpoint, dict) else None
