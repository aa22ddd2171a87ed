"""More than one node (#19.3): the SLURM recipe (configs/cluster/slurm_ddp.yaml) on localhost, with SLURM's variables
set by hand the way ``srun`` sets them for each task, on CPU (gloo) instead of GPUs.

- two "nodes" x one process each fit to the end, each rank reading only its own training shard;
- SIGUSR1 before the time limit: Lightning's SLURMEnvironment saves ``hpc_ckpt_1.ckpt`` and calls
  ``scontrol requeue`` (a stub on PATH here that records the call and ends the job, as SLURM does on requeue);
  the requeued job, started again with the same command, resumes from that checkpoint at the step it stopped.
"""

import csv
import os
import signal
import socket
import subprocess
from pathlib import Path

import torch
import yaml
from helpers.training_runs import REPO, demo_config, train_command, train_env

from hf_seq2seq_vit.data import TranslationDataModule

CLUSTER_CONFIG = REPO / "configs" / "cluster" / "slurm_ddp.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def task_config(tmp_path: Path, tokenizer, **data) -> Path:
    """The demo recipe shrunk to a d_model-32 model on 160 pairs, writing only under ``tmp_path``."""
    tokenizer.save_pretrained(str(tmp_path / "tokenizer"))  # trained once by conftest; no rank trains its own
    config = demo_config(tmp_path)
    config["trainer"].update(max_epochs=1, num_sanity_val_steps=0)
    config["model"]["init_args"].update(max_generation_length=16, warmup_steps=5)
    config["data"]["init_args"].update(max_train_examples=160, max_val_examples=8, max_test_examples=8,
                                       tokenizer_dir=str(tmp_path / "tokenizer"), **data)
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def slurm_env(rank: int, nodes: int, port: int) -> dict[str, str]:
    """What ``srun`` sets for task ``rank`` of ``nodes`` one-task nodes (and the job's ``MASTER_*`` on localhost)."""
    return train_env(SLURM_JOB_ID="4242", SLURM_JOB_NAME="hf-seq2seq", SLURM_NTASKS=str(nodes),
                     SLURM_NTASKS_PER_NODE="1", SLURM_NNODES=str(nodes), SLURM_NODELIST="localhost",
                     SLURM_PROCID=str(rank), SLURM_NODEID=str(rank), SLURM_LOCALID="0",
                     MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def fit_command(config: Path, nodes: int, *extra: str) -> list[str]:
    # The recipe's command line (train.sbatch), with the GPU settings of the cluster overlay turned into CPU ones.
    return train_command("fit", "--config", config, "--config", CLUSTER_CONFIG, f"--trainer.num_nodes={nodes}",
                         "--trainer.devices=1", "--trainer.accelerator=cpu", "--trainer.precision=32-true", *extra)


def test_two_nodes_of_one_process_fit_to_the_end_each_reading_its_own_shard(tmp_path, tokenizer):
    config = task_config(tmp_path, tokenizer, train_shards=2, shard_dir=str(tmp_path / "shards"))
    port = free_port()
    nodes = [subprocess.Popen(fit_command(config, 2), cwd=REPO, env=slurm_env(rank, 2, port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for rank, (node, (_, err)) in enumerate(zip(nodes, outputs)):
        assert node.returncode == 0, f"node {rank} failed:\n{err[-3000:]}"
        # Node rank and world size came from the SLURM variables; each rank opened only its own shard.
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in err
        assert f"Rank {rank} of 2 reads the training shards ['train-{rank:05d}-of-00002.arrow']" in err
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] > 0
    metrics = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    assert "val_loss" in metrics and "val_bleu" in metrics


def test_sigusr1_saves_a_checkpoint_requeues_and_the_requeued_job_resumes_at_that_step(tmp_path, tokenizer):
    config = task_config(tmp_path, tokenizer)
    stub = tmp_path / "bin" / "scontrol"
    stub.parent.mkdir()
    # SLURM requeues by ending the job and starting it again: record the call, then end the job.
    stub.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\nkill -9 $PPID\n')
    stub.chmod(0o755)
    env = slurm_env(0, 1, free_port())
    env["PATH"] = f"{stub.parent}{os.pathsep}{env['PATH']}"
    data = yaml.safe_load(config.read_text())
    data["trainer"]["callbacks"].append({"class_path": "helpers.training_runs.SignalAtStep",
                                         "init_args": {"step": 7, "signal": "SIGUSR1"}})
    data["trainer"]["logger"][0]["init_args"]["version"] = "signalled"  # the requeued job logs to version_0 alone
    signalled = config.with_name("signalled.yaml")
    signalled.write_text(yaml.safe_dump(data))

    first = subprocess.run(fit_command(signalled, 1), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]  # ended by the requeue, not by finishing
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]
    saved = torch.load(tmp_path / "hpc_ckpt_1.ckpt", weights_only=True)
    assert saved["global_step"] == 7 and saved["epoch"] == 0
    assert saved["TranslationDataModule"] == {"epoch": 0, "batches_done": 7}  # mid-epoch: where to continue
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()

    # The requeued job runs the same command (without the signal): Lightning finds hpc_ckpt_1.ckpt by itself.
    second = subprocess.run(fit_command(config, 1), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "hpc_ckpt_1.ckpt" in second.stderr  # "Restoring states from the checkpoint path at .../hpc_ckpt_1.ckpt"
    with open(tmp_path / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        trained = [row for row in csv.DictReader(handle) if row["train_loss"]]
    dm = TranslationDataModule(**yaml.safe_load(config.read_text())["data"]["init_args"])
    dm.setup("fit")
    steps_per_epoch = len(dm.train_dataloader())
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] == steps_per_epoch > 7  # the epoch finished ...
    assert len(trained) == steps_per_epoch - 7  # ... by the steps after 7 only: none repeated, none skipped
