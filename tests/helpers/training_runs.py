"""Run ``train.py`` in a child process the way the training tests do, and stop it part-way like a cluster would.

- :func:`demo_config` is the demo translation recipe shrunk to a d_model-32 model that writes only under a folder;
- :func:`train_env` / :func:`train_command` are the environment and command line of a ``train.py`` child process;
- :class:`SignalAtStep` is a callback a test names in the child's config to signal itself at a training step.

Example::

    >>> config = demo_config(tmp_path)                # doctest: +SKIP
    >>> config["trainer"]["callbacks"].append(
    ...     {"class_path": "helpers.training_runs.SignalAtStep", "init_args": {"step": 7, "signal": "SIGKILL"}})
    >>> subprocess.run(train_command("fit", "--config", path), env=train_env(), cwd=REPO)
"""

from __future__ import annotations

import os
import signal as signals
import sys
from pathlib import Path

import lightning as L
import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "configs" / "demo_translation_cpu.yaml"


class SignalAtStep(L.Callback):
    """Send this process ``signal`` when training reaches ``step``: ``"SIGKILL"`` is a pre-empted job,
    ``"SIGUSR1"`` is SLURM's warning before the time limit (``--signal=SIGUSR1@90``)."""

    def __init__(self, step: int, signal: str = "SIGUSR1"):
        self.step = step
        self.signal = getattr(signals, signal)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signal)


def demo_config(tmp_path: Path) -> dict:
    """The demo recipe with a d_model-32 model that writes only under ``tmp_path``: CSV logs in
    ``tmp_path/csv/version_0``, checkpoints (with ``last.ckpt``) in ``tmp_path/checkpoints``. A test sets the
    epochs, data sizes and schedule it needs on top."""
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    config["trainer"].update(default_root_dir=str(tmp_path), log_every_n_steps=1, check_val_every_n_epoch=1,
                             enable_progress_bar=False, enable_model_summary=False)
    config["trainer"]["logger"] = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                                    "init_args": {"save_dir": str(tmp_path), "name": "csv", "version": 0}}]
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                       "init_args": {"dirpath": str(tmp_path / "checkpoints"), "save_last": True}}]
    config["model"]["init_args"].update(d_model=32, ffn_dim=64, dropout=0.0, max_position_embeddings=48,
                                        num_beams=1, lr=0.003)
    config["data"]["init_args"].update(max_length=40, max_tokens=256)
    return config


def train_env(**extra: str) -> dict[str, str]:
    """The environment of a ``train.py`` child process: offline, one thread, ``tests/`` importable (for callbacks
    named in its config, such as :class:`SignalAtStep`), plus ``extra``."""
    # One thread per process: on a busy 2-core machine more threads make each step ~20x slower, not faster.
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "WANDB_MODE": "offline", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), **extra}


def train_command(*args) -> list[str]:
    """``python train.py *args`` with this interpreter."""
    return [sys.executable, str(REPO / "train.py"), *map(str, args)]
