"""``TaskModule``: what the translation and image-classification LightningModules share.

A task module writes only its step and its metrics. This base owns the rest:

- **the model**: built from the task's config arguments, or loaded with ``from_pretrained(pretrained)`` (and put
  back in training mode: ``from_pretrained`` returns eval mode, and Lightning keeps each module's mode);
- **the optimizer**: AdamW with weight decay on matrices only (not biases, norms or the names in
  ``no_weight_decay``), and the schedule of :func:`build_scheduler`; ``warmup_steps`` is a step count or, below
  1, a fraction of the run;
- **the checkpoint contract** (:mod:`hf_seq2seq_vit.export.contract`): task, HF config, the weights' prefix
  (always ``model.``: an EMA is Lightning's ``EMAWeightAveraging`` callback, which saves the averaged weights
  there), the latest validation/test metrics, the fit time and hardware, plus the task's extras (tokenizer and
  generation config, or image processor);
- **exact resume**: the random generators (torch CPU and CUDA, numpy, Python) are seeded from
  ``(seed, epoch, batch, rank)`` at the start of every epoch and every training batch, as fairseq does. A run
  killed at any point and resumed with ``--ckpt_path last`` draws the same dropout masks (and every other random
  number of a training step) as the uninterrupted run, whatever ran in between (validation, checkpointing, a fresh
  DataLoader iterator). Saved generator states could not do that: what they would have to restore is the state at
  the next batch's start, which a checkpoint written after a batch has not seen yet. The batch sampler's own
  generator is seeded from ``seed + epoch`` and its position comes back through the data module's ``state_dict``.
  (Random data augmentation drawn while the loader prefetches is the data module's to make resumable.)
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

import math
import os
import platform
import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from transformers import PretrainedConfig, PreTrainedModel

from hf_seq2seq_vit.export.contract import TASK_KEY, CheckpointContract, TrainInfo
from hf_seq2seq_vit.lightning.schedules import SCHEDULES, build_scheduler

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

    A task sets ``task`` (the checkpoint contract's task name) and ``model_class``, implements ``build_config``,
    its steps and ``contract_extras``, and calls ``super()`` in the hooks it overrides.

    Args (shared by both tasks, under the same names):
        pretrained: a folder (or Hub id) written by ``save_pretrained`` to start from instead of random weights.
        lr: peak learning rate, reached after ``warmup_steps``.
        weight_decay, betas, eps: AdamW settings.
        scheduler: ``inverse_sqrt``, ``cosine``, ``linear`` or ``constant`` (see :func:`build_scheduler`).
        warmup_steps: linear warm-up length in optimizer steps, or (a float below 1) as a fraction of the run.
        label_smoothing: smoothing of the cross-entropy targets.
        compile: ``torch.compile`` the model (GPU runs).
    """

    task: str = ""
    model_class: type[PreTrainedModel]
    no_weight_decay: tuple[str, ...] = ()  # parameter-name parts kept out of weight decay besides 1-D parameters

    def __init__(
        self,
        pretrained: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        scheduler: str = "cosine",
        warmup_steps: int | float = 0,
        label_smoothing: float = 0.1,
        compile: bool = False,
    ):
        super().__init__()
        if scheduler not in SCHEDULES:
            raise ValueError(f"scheduler={scheduler!r} is not a schedule; choose one of {list(SCHEDULES)}")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0 (a step count, or a fraction below 1), got {warmup_steps}")
        self.save_hyperparameters()  # the task's own arguments too (Lightning collects the subclass's frame)
        self.model: PreTrainedModel | None = None
        self.eval_results: dict[str, float] = {}
        self.train_time_s, self._fit_started = 0.0, None

    # -- the model ---------------------------------------------------------------------------------------------------
    def build_config(self) -> PretrainedConfig:
        """The task's model config from its arguments (used when there is no ``pretrained`` folder)."""
        raise NotImplementedError

    def load_pretrained(self, path: str) -> PreTrainedModel:
        """``from_pretrained`` of the task's model; a task overrides it to apply its own settings."""
        return self.model_class.from_pretrained(path)

    def build_model(self) -> None:
        """Create ``self.model`` once: from ``pretrained`` (in training mode) or from ``build_config()``."""
        if self.model is not None:
            return
        if self.hparams.pretrained:
            model = self.load_pretrained(self.hparams.pretrained)
            model.train()  # from_pretrained returns eval mode, and Lightning keeps modules' modes: dropout on
        else:
            model = self.model_class(self.build_config())
        if self.hparams.compile:
            model.compile()  # in place: state-dict keys stay `model.` + the HF keys
        self.model = model

    def configure_model(self) -> None:
        self.build_model()

    # -- optimizer and schedule --------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        h = self.hparams
        decay, no_decay = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                decayed = parameter.ndim >= 2 and not any(part in name for part in self.no_weight_decay)
                (decay if decayed else no_decay).append(parameter)
        groups = [{"params": decay, "weight_decay": h.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=h.lr, betas=tuple(h.betas), eps=h.eps,
                                      fused=self.device.type == "cuda")  # the fused kernel is CUDA only
        total = self.trainer.estimated_stepping_batches
        total = int(total) if math.isfinite(total) else 0
        return {"optimizer": optimizer, "lr_scheduler": build_scheduler(optimizer, h.scheduler, h.warmup_steps, total)}

    # -- fit timer and metrics ---------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._fit_started = time.perf_counter()

    def _update_train_time(self) -> None:
        if self._fit_started is not None:
            now = time.perf_counter()
            self.train_time_s += now - self._fit_started
            self._fit_started = now

    def _update_eval_results(self) -> None:
        """Keep the latest epoch-level val/test metrics (checkpoint callbacks save before the module's hooks run)."""
        if self._trainer is None:
            return
        self.eval_results.update({key: float(value) for key, value in self.trainer.callback_metrics.items()
                                  if key.startswith(("val_", "test_")) and value.numel() == 1})

    def on_validation_end(self) -> None:
        self._update_eval_results()

    def on_test_end(self) -> None:
        self._update_eval_results()

    # -- exact resume ------------------------------------------------------------------------------------------------
    def _seed_position(self, batch: int) -> None:
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        seed_random_generators(seed, self.current_epoch, batch, self.global_rank)

    def on_train_epoch_start(self) -> None:
        # Before the training DataLoader iterator is created (it draws its workers' base seed from torch).
        self._seed_position(_EPOCH_START)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._seed_position(batch_idx)

    # -- the checkpoint contract -------------------------------------------------------------------------------------
    def data_info(self) -> dict[str, Any]:
        """What the run trained on, for the model card (``dataset``, ``src_lang``, ``tgt_lang``)."""
        return {}

    def contract_extras(self) -> dict[str, Any]:
        """The task's own contract entries: ``generation_config``, ``tokenizer`` or ``image_processor``."""
        return {}

    def hardware(self) -> str:
        trainer = self.trainer
        if self.device.type == "cuda":
            name = torch.cuda.get_device_name(self.device)
        else:
            name = f"{platform.processor() or platform.machine() or 'cpu'}, {torch.get_num_threads()} threads"
        return f"{trainer.num_nodes} node(s) x {trainer.num_devices} {self.device.type} ({name})"

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Write the export contract, so that a checkpoint exports to a Hugging Face folder on its own."""
        self._update_eval_results()
        self._update_train_time()
        info = TrainInfo.from_dict({**self.data_info(), "global_step": int(self.trainer.global_step),
                                    "train_time_s": round(self.train_time_s, 3), "hardware": self.hardware()})
        CheckpointContract(task=self.task, model_config=self.model.config.to_dict(), weights_prefix="model.",
                           eval_results=dict(self.eval_results), train_info=info,
                           **self.contract_extras()).write(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        found = checkpoint.get(TASK_KEY)
        if found is not None and found != self.task:
            raise ValueError(
                f"The checkpoint is a {found!r} checkpoint but {type(self).__name__} trains {self.task!r}; pass a "
                f"checkpoint written by a {self.task} run (or the config of the {found} task)"
            )
        if found is not None:
            contract = CheckpointContract.read(checkpoint)
            self.eval_results = dict(contract.eval_results)
            self.train_time_s = float(contract.train_info.train_time_s or 0.0)
            self.restore_contract(contract)

    def restore_contract(self, contract: CheckpointContract) -> None:
        """Take back what the task keeps in the contract (e.g. the tokenizer) when loading a checkpoint."""

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
