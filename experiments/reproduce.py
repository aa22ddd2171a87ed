"""Reproduce one published result: train a config, test it on every test split, export it, record the numbers.

    python experiments/reproduce.py configs/cpu/multi30k_en_de_cpu.yaml
    python experiments/reproduce.py configs/multi30k_en_de.yaml --trainer.max_time=00:00:08:00   # extra args: train.py
    python experiments/reproduce.py configs/cpu/ko_en_tatoeba_cpu.yaml --ckpt outputs/.../best.ckpt  # no training

Steps, all through ``train.py``'s ``LightningCLI`` (in this process), so the numbers are the ones the training
code itself reports (beam-search sacreBLEU with the 13a tokenizer on detokenised, cased output; top-1 accuracy):

1. ``train.py fit --config CONFIG [extra args]`` (skipped with ``--ckpt``); the checkpoint to publish is the best one
   of the config's first ``ModelCheckpoint`` (its monitored metric), else its last one;
2. ``train.py test`` with that checkpoint on each test split of the data (``TEST_SUITES``: Multi30k
   test_2016_flickr and test_2017_flickr; for Korean the Tatoeba held-out split, the kosp2e test split and
   jhe.eval), always with the tokenizer stored in the checkpoint and the full split (``max_test_examples: null``);
3. export the checkpoint with :func:`hf_seq2seq_vit.export.export_checkpoint` (the model card gets the first test
   split's scores in its ``model-index`` and a section listing every split, sample translations and the command);
4. translate ``SAMPLES`` with the exported folder (``load_exported`` + ``generate``: what a user gets);
5. write ``results/<name>.json`` and rebuild the table in ``results/README.md`` from every ``results/*.json``.

Run it from the repository root (config paths, data paths and ``outputs/`` are relative to it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
JHE_DIR = REPO / "hf_seq2seq_vit" / "bundled" / "korean-english"

# A test split is a name and the `train.py test` overrides of the data module that select it. An empty dict is the
# config's own test split. Splits held out by a fixed-seed shuffle (Tatoeba) keep the config's val_size, test_size
# and split_seed when only `dataset` is overridden, so a ko-en-mixed model is tested on exactly the Tatoeba pairs its
# own split held out.
TATOEBA = {"dataset": "bundled:tatoeba-ko-en"}
KOSP2E = {"dataset": "bundled:stylekqc-ko-en"}
# jhe.eval is read as a folder of line-parallel files; the folder has no "train" file, so jhe.dev stands in for it
# (the tokenizer comes from the checkpoint, so nothing is trained on it).
JHE = {"dataset": str(JHE_DIR), "train_split": "jhe.dev", "val_split": "jhe.dev", "test_split": "jhe.eval"}
TEST_SUITES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "bundled:multi30k": [("test_2016_flickr", {"test_split": "test_2016_flickr"}),
                         ("test_2017_flickr", {"test_split": "test_2017_flickr"})],
    "bundled:tatoeba-ko-en": [("tatoeba_test", {}), ("jhe.eval", JHE), ("kosp2e_test", KOSP2E)],
    # The older 3.8k Tatoeba file (results before 2026-12-03): its own row split, then the new group-disjoint test
    # split for comparison (its test pairs are mostly in the old training split: that score is flattered).
    "bundled:tatoeba-ko-en-2025": [("tatoeba_2025_test", {}),
                                   ("tatoeba_test", {**TATOEBA, "val_size": 500, "test_size": 500, "split_seed": 0}),
                                   ("jhe.eval", JHE), ("kosp2e_test", KOSP2E)],
    "bundled:stylekqc-ko-en": [("kosp2e_test", {}), ("jhe.eval", JHE), ("tatoeba_test", TATOEBA)],
    "bundled:ko-en-mixed": [("mixed_test", {}), ("tatoeba_test", TATOEBA), ("kosp2e_test", KOSP2E),
                            ("jhe.eval", JHE)],
}
DEFAULT_SUITE = [("test", {})]  # image classification and any other data: the config's test split
SAMPLES = {
    ("en", "de"): ["A man is riding a bicycle.", "Two dogs are playing in the snow.",
                   "A little girl in a pink dress is climbing stairs."],
    ("de", "en"): ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.",
                   "Ein kleines Mädchen in einem rosa Kleid klettert eine Treppe hinauf."],
    ("ko", "en"): ["나는 사과를 좋아해", "오늘 날씨가 좋네요.", "내일 아침에 만나요."],
}
VERSIONED = ("torch", "transformers", "lightning", "tokenizers", "sacrebleu", "timm", "datasets", "torchmetrics")
TABLE_START, TABLE_END = "<!-- results-table:start -->", "<!-- results-table:end -->"

__all__ = ["TEST_SUITES", "main", "rebuild_table", "render_results_table", "reproduce", "test_suite", "write_results"]


# ----------------------------------------------------------------------------------------------------------- running
def _train_cli(args: list[str]):
    """Run ``train.py`` with ``args`` in this process and return its ``LightningCLI``."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import train  # the repository's train.py (outermost layer: imported only here)

    # LightningCLI warns when it gets `args` while sys.argv holds other arguments (ours): show it only its own.
    saved, sys.argv = sys.argv, [str(REPO / "train.py")]
    try:
        return train.main(args)
    finally:
        sys.argv = saved


def _overrides(values: dict[str, Any]) -> list[str]:
    """``{"test_split": "x", "max_test_examples": None}`` -> ``--data.init_args.test_split=x ...=null``."""
    return [f"--data.init_args.{key}={'null' if value is None else value}" for key, value in values.items()]


def _checkpoint_of(trainer) -> str:
    from hf_seq2seq_vit.export import checkpoint_to_export

    path = checkpoint_to_export(trainer)
    if path is None:
        raise RuntimeError(
            "Training wrote no checkpoint: the config needs a ModelCheckpoint callback (and a validation run for "
            "`monitor`); or pass --ckpt PATH to evaluate an existing checkpoint"
        )
    return path


def test_suite(dataset: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The ``(split name, data overrides)`` pairs a model trained on ``dataset`` is tested on.

    Example::

        >>> [name for name, _ in test_suite("bundled:multi30k")]
        ['test_2016_flickr', 'test_2017_flickr']
    """
    return TEST_SUITES.get(dataset, DEFAULT_SUITE)


def reproduce(
    config: str,
    train_args: list[str],
    name: str,
    results_dir: Path,
    export_dir: Path,
    ckpt: str | None = None,
    samples: list[str] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Fit (unless ``ckpt``), test on every split, export and translate samples; returns the results record."""
    import torch

    from hf_seq2seq_vit.export import CheckpointContract, export_checkpoint, exporter_for, load_exported, read_checkpoint

    started = time.monotonic()
    wall: dict[str, float] = {}
    if ckpt is None:
        t0 = time.monotonic()
        cli = _train_cli(["fit", "--config", config, *train_args])
        wall["fit_s"] = round(time.monotonic() - t0, 1)
        ckpt = _checkpoint_of(cli.trainer)
        fit_info = {"epochs": int(cli.trainer.current_epoch), "stopped_by_max_time": _stopped_by_time(cli.trainer)}
        # The CSVLogger's metrics.csv, drawn as loss / score curves beside the result (see below).
        metrics_csv = next((Path(lg.log_dir) / "metrics.csv" for lg in cli.trainer.loggers
                            if type(lg).__name__ == "CSVLogger"), None)
    else:
        fit_info, metrics_csv = {}, None
    checkpoint = read_checkpoint(ckpt)
    contract = CheckpointContract.read(checkpoint)
    task, train_info, exporter = contract.task, contract.train_info, exporter_for(contract.task)
    dataset = train_info.dataset
    validation = {key: round(float(value), 4) for key, value in contract.eval_results.items()
                  if key.startswith("val_")}

    with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
        # Not `enable_progress_bar=false`: Lightning refuses it when the config adds a RichProgressBar callback.
        test_args = ["--ckpt_path", ckpt, "--trainer.logger=false"]
        data_defaults = exporter.test_data_overrides(contract, Path(scratch))
        tests = []
        for split, overrides in test_suite(dataset):
            t0 = time.monotonic()
            cli = _train_cli(["test", "--config", config, *train_args, *test_args,
                              *_overrides({**data_defaults, **overrides})])
            metrics = {key: round(float(value), 4) for key, value in cli.trainer.callback_metrics.items()
                       if key.startswith("test_") and value.numel() == 1}
            shown = {key: _relative(value) if str(value).startswith(str(REPO)) else value
                     for key, value in overrides.items()}
            tests.append({"split": split, "metrics": metrics, "data_overrides": shown,
                          "wall_s": round(time.monotonic() - t0, 1)})
        wall["test_s"] = round(sum(test["wall_s"] for test in tests), 1)

        # The card's model-index gets the first (main) split's scores; every split is listed in its extra section.
        contract.eval_results = {**contract.eval_results, **tests[0]["metrics"]}
        contract.write(checkpoint)
        augmented = Path(scratch) / "with-test-results.ckpt"
        torch.save(checkpoint, augmented)
        del checkpoint
        t0 = time.monotonic()
        folder = export_checkpoint(augmented, export_dir, model_name=name)
        wall["export_s"] = round(time.monotonic() - t0, 1)

    languages = [train_info.src_lang, train_info.tgt_lang] if train_info.src_lang else None
    sentences = samples if samples is not None else SAMPLES.get(tuple(languages or ()), [])
    translations = exporter.sample_outputs(*load_exported(folder), sentences)
    wall["total_s"] = round(time.monotonic() - started, 1)

    record = {
        "name": name,
        "task": task,
        "config": _relative(config),
        "train_args": train_args,
        "command": command,
        "checkpoint": _relative(ckpt),
        "export_dir": _relative(folder),
        "dataset": dataset,
        "languages": languages,
        "validation": validation,
        "tests": tests,
        "samples": translations,
        "train": {"global_step": train_info.global_step, "train_time_s": train_info.train_time_s,
                  "hardware_recorded": train_info.hardware, **fit_info},
        "wall_time": wall,
        "hardware": hardware(),
        "versions": versions(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if metrics_csv is not None and metrics_csv.is_file():
        from hf_seq2seq_vit.visualize import plot_training_curves

        try:
            record["curves"] = _relative(
                plot_training_curves(metrics_csv, Path(results_dir) / f"{name}_curves.png", title=name))
        except ValueError as error:  # nothing to draw: the numbers still count, the picture is a bonus
            print(f"no training curves: {error}", file=sys.stderr)
    _append_card_section(Path(folder) / "README.md", record)
    write_results(record, results_dir)
    return record


def _stopped_by_time(trainer) -> bool:
    from lightning.pytorch.callbacks import Timer

    return any(isinstance(cb, Timer) and cb.time_remaining() is not None and cb.time_remaining() <= 0
               for cb in trainer.callbacks)


def _relative(path: str | os.PathLike) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


# ------------------------------------------------------------------------------------------------ facts of the run
def hardware() -> dict[str, Any]:
    """What ran the job: the GPU's name, else the CPU model, with core and thread counts."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["gpu_count"] = torch.cuda.device_count()
    return info


def versions() -> dict[str, str]:
    """Python, the libraries that decide the numbers, and the repository commit (``+dirty`` with local edits)."""
    found = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        found["commit"] = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        found["commit"] = "unknown (not a git checkout)"
    return found


# ------------------------------------------------------------------------------------------------ writing results
def _main_value(record: dict[str, Any], test: dict[str, Any]) -> tuple[str, float | None]:
    from hf_seq2seq_vit.export import EXPORTERS, MainMetric

    exporter = EXPORTERS.get(record["task"])
    metric = exporter.main_metric if exporter else MainMetric("loss", "loss")
    value = test["metrics"].get(f"test_{metric.name}")
    return metric.table_label, None if value is None else round(value * metric.table_scale, 2)


def _hardware_text(info: dict[str, Any]) -> str:
    if info.get("gpu"):
        return f"{info.get('gpu_count', 1)}x {info['gpu']}"
    return f"CPU {info.get('cpu', '?')}, {info.get('cpu_cores', '?')} cores, {info.get('torch_threads', '?')} threads"


def _versions_text(found: dict[str, str]) -> str:
    keys = ("torch", "transformers", "lightning", "commit")
    return ", ".join(f"{key} {found[key]}" for key in keys if key in found)


def render_results_table(records: list[dict[str, Any]]) -> str:
    """One markdown row per (run, test split), in the order given.

    Example::

        >>> record = {"name": "r", "task": "translation", "config": "c.yaml", "command": "python x", "date": "d",
        ...           "tests": [{"split": "test_2016_flickr", "metrics": {"test_bleu": 30.0}}],
        ...           "wall_time": {"fit_s": 60.0}, "hardware": {"cpu": "AMD EPYC", "cpu_cores": 2,
        ...           "torch_threads": 2}, "versions": {"torch": "2.14.1"}}
        >>> render_results_table([record]).splitlines()[2].split(" | ")[1:4]
        ['test_2016_flickr', 'sacreBLEU', '30.0']
    """
    lines = ["| run | test split | metric | value | config | command | hardware | fit wall time | versions | date |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for record in records:
        fit_s = record.get("wall_time", {}).get("fit_s")
        # --ckpt runs did not train here: show the training time the checkpoint recorded instead
        trained_s = record.get("train", {}).get("train_time_s")
        if fit_s is not None:
            fit = f"{fit_s / 60:.1f} min"
        elif trained_s is not None:
            fit = f"{trained_s / 60:.1f} min (training time in the checkpoint)"
        else:
            fit = "not trained here"
        for test in record["tests"]:
            label, value = _main_value(record, test)
            lines.append(" | ".join([
                f"| {record['name']}", test["split"], label, "n/a" if value is None else str(value),
                f"`{record['config']}`", f"`{record['command']}`", _hardware_text(record["hardware"]), fit,
                _versions_text(record["versions"]), f"{record['date']} |",
            ]))
    return "\n".join(lines)


def write_results(record: dict[str, Any], results_dir: str | os.PathLike) -> Path:
    """Write ``<results_dir>/<name>.json`` and rebuild the table in ``<results_dir>/README.md`` from every JSON file.

    The README's text outside the table markers is kept, so notes written there by hand survive a rerun.

    Example::

        >>> write_results(record, "results")   # doctest: +SKIP
        PosixPath('results/multi30k_en_de_cpu.json')
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{record['name']}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    rebuild_table(results_dir)
    return path


def rebuild_table(results_dir: str | os.PathLike) -> Path:
    """Rewrite the table of ``<results_dir>/README.md`` from every ``<results_dir>/*.json``; returns the README path.

    Example::

        >>> rebuild_table("results")   # doctest: +SKIP
        PosixPath('results/README.md')
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(results_dir.glob("*.json"))]
    table = f"{TABLE_START}\n{render_results_table(records)}\n{TABLE_END}"
    readme = results_dir / "README.md"
    if readme.is_file() and TABLE_START in (text := readme.read_text(encoding="utf-8")) and TABLE_END in text:
        before, rest = text.split(TABLE_START, 1)
        text = before + table + rest.split(TABLE_END, 1)[1]
    else:
        text = ("# Measured results\n\nWritten by `experiments/reproduce.py` (one JSON file per run beside this file, "
                "with every metric, the sample translations, wall times and versions). Rerunning a command replaces "
                "its rows.\n\n" + table + "\n")
    readme.write_text(text, encoding="utf-8")
    return readme


def _append_card_section(card: Path, record: dict[str, Any]) -> None:
    """Add every test split, the samples and the exact command to the exported model card."""
    lines = ["", "", "## Results on every test split (experiments/reproduce.py)", "",
             "| split | " + " | ".join(sorted({k for t in record["tests"] for k in t["metrics"]})) + " |"]
    keys = sorted({k for t in record["tests"] for k in t["metrics"]})
    lines.append("|---|" + "---|" * len(keys))
    for test in record["tests"]:
        lines.append(f"| {test['split']} | " + " | ".join(str(test["metrics"].get(k, "")) for k in keys) + " |")
    if record["samples"]:
        lines += ["", "Sample translations of this folder (its `generation_config` defaults):", ""]
        lines += [f"- {s['source']} → {s['translation']}" for s in record["samples"]]
    lines += ["", f"Command: `{record['command']}` (config `{record['config']}`), "
              f"hardware: {_hardware_text(record['hardware'])}, wall time: "
              + ", ".join(f"{key.removesuffix('_s')} {value:.0f} s" for key, value in record["wall_time"].items())
              + f", "
              f"versions: {_versions_text(record['versions'])}, {record['date']}.", ""]
    with card.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


# ------------------------------------------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    """``python experiments/reproduce.py CONFIG [options] [train.py args]``; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python experiments/reproduce.py", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="the training YAML (e.g. configs/cpu/multi30k_en_de_cpu.yaml)")
    parser.add_argument("--name", help="run name for results/<name>.json (default: the config's file name)")
    parser.add_argument("--results-dir", default="results", help="where <name>.json and README.md go")
    parser.add_argument("--export-dir", help="the exported model folder (default: outputs/models/<name>)")
    parser.add_argument("--ckpt", help="skip training: test and export this checkpoint (trained with CONFIG)")
    parser.add_argument("--samples", nargs="*", help="sentences to translate (default: per language pair)")
    parser.add_argument("--rebuild-table", action="store_true",
                        help="only rebuild results/README.md from the JSON files there (e.g. after copying in a GPU run)")
    args, train_args = parser.parse_known_args(argv)
    if args.rebuild_table:
        print(f"Rebuilt {rebuild_table(args.results_dir)}")
        return 0
    if args.config is None:
        parser.error("give a config file (or --rebuild-table)")
    if not os.path.isfile(args.config):
        parser.error(f"no config file at {args.config!r} (paths are relative to {os.getcwd()}; run from the "
                     "repository root)")
    if args.ckpt is not None and not os.path.isfile(args.ckpt):
        parser.error(f"--ckpt {args.ckpt!r} is not a file")
    name = args.name or Path(args.config).stem
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on the network
    os.environ.setdefault("WANDB_MODE", "offline")
    record = reproduce(
        args.config, train_args, name, Path(args.results_dir), Path(args.export_dir or f"outputs/models/{name}"),
        ckpt=args.ckpt, samples=args.samples, command="python " + shlex.join(["experiments/reproduce.py", *argv]),
    )
    print(json.dumps({"name": name, "tests": record["tests"], "samples": record["samples"],
                      "wall_time": record["wall_time"]}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
