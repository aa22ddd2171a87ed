"""experiments/reproduce.py: the results writer, and one tiny end-to-end run (fit, two test splits, export, samples)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

REPO = Path(__file__).resolve().parents[1]


def _load_reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", REPO / "experiments" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reproduce = _load_reproduce()


def _record(name, bleu_2016, bleu_2017):
    return {
        "name": name, "task": "translation", "config": f"configs/cpu/{name}.yaml",
        "command": f"python experiments/reproduce.py configs/cpu/{name}.yaml", "date": "2026-11-28 16:00 UTC",
        "tests": [{"split": "test_2016_flickr", "metrics": {"test_bleu": bleu_2016, "test_loss": 3.0}},
                  {"split": "test_2017_flickr", "metrics": {"test_bleu": bleu_2017, "test_loss": 3.2}}],
        "wall_time": {"fit_s": 3000.0}, "hardware": {"cpu": "AMD EPYC", "cpu_cores": 2, "torch_threads": 2},
        "versions": {"torch": "2.14.1", "transformers": "5.24.0", "lightning": "2.6.6", "commit": "abc1234"},
    }


def _rows(readme: Path) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in readme.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| run ")]


def test_write_results_rebuilds_the_table_from_every_json_and_keeps_notes(tmp_path):
    reproduce.write_results(_record("multi30k_en_de_cpu", 26.1, 22.3), tmp_path)
    reproduce.write_results(_record("multi30k_de_en_cpu", 30.5, 27.0), tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("Notes by hand.\n\n" + readme.read_text() + "\nMore notes.\n")

    reproduce.write_results(_record("multi30k_en_de_cpu", 27.4, 23.0), tmp_path)  # a rerun replaces its rows

    assert json.loads((tmp_path / "multi30k_en_de_cpu.json").read_text())["tests"][0]["metrics"]["test_bleu"] == 27.4
    rows = _rows(readme)
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("multi30k_de_en_cpu", "test_2016_flickr", "30.5"), ("multi30k_de_en_cpu", "test_2017_flickr", "27.0"),
        ("multi30k_en_de_cpu", "test_2016_flickr", "27.4"), ("multi30k_en_de_cpu", "test_2017_flickr", "23.0"),
    ]
    assert rows[0][6] == "CPU AMD EPYC, 2 cores, 2 threads" and rows[0][7] == "50.0 min"
    text = readme.read_text()
    assert text.startswith("Notes by hand.") and text.rstrip().endswith("More notes.")


def test_image_accuracy_is_reported_in_percent(tmp_path):
    record = _record("cifar10_conv_vit_cpu", 0, 0) | {"task": "image-classification"}
    record["tests"] = [{"split": "test", "metrics": {"test_acc": 0.7321, "test_loss": 0.9}}]
    reproduce.write_results(record, tmp_path)
    assert [(row[1], row[2], row[3]) for row in _rows(tmp_path / "README.md")] == [("test", "top-1 %", "73.21")]


def test_reproduce_end_to_end_on_a_tiny_multi30k_run(tmp_path, monkeypatch):
    """Fit a tiny model for a few steps, test on test_2016 and test_2017, export, translate, write results."""
    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "configs" / "cpu" / "multi30k_en_de_cpu.yaml").read_text())
    out = tmp_path / "run"
    config["trainer"].update(default_root_dir=str(out), max_epochs=1, limit_train_batches=4, limit_val_batches=1,
                             limit_test_batches=1, logger=False, max_time=None)
    # The ModelCheckpoint (no logger for the LR monitor) and, as in the GPU configs, a RichProgressBar: the test
    # runs must not switch the progress bar off then (Lightning refuses that combination).
    config["trainer"]["callbacks"] = config["trainer"]["callbacks"][:1] + [
        {"class_path": "lightning.pytorch.callbacks.RichProgressBar"}]
    config["trainer"]["callbacks"][0]["init_args"]["dirpath"] = str(out / "checkpoints")
    config["model"]["init_args"].update(d_model=32, encoder_layers=1, decoder_layers=1, ffn_dim=64,
                                        max_generation_length=12, num_beams=2)
    config["data"]["init_args"].update(max_train_examples=300, tokenizer_vocab_size=300,
                                       tokenizer_dir=str(out / "tokenizer"), eval_max_tokens=256)
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(config))

    status = reproduce.main([str(config_path), "--name", "tiny", "--results-dir", str(tmp_path / "results"),
                             "--export-dir", str(tmp_path / "model")])

    assert status == 0
    record = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert [test["split"] for test in record["tests"]] == ["test_2016_flickr", "test_2017_flickr"]
    first, second = (test["metrics"] for test in record["tests"])
    assert all(math.isfinite(m["test_bleu"]) and m["test_loss"] > 0 for m in (first, second))
    assert first["test_loss"] != second["test_loss"]  # the split override really selected other sentences
    assert [sample["source"] for sample in record["samples"]] == reproduce.SAMPLES[("en", "de")]
    assert all(isinstance(sample["translation"], str) for sample in record["samples"])
    assert record["wall_time"]["fit_s"] > 0 and record["versions"]["torch"] and record["hardware"]["cpu"]
    # The exported card carries the measured test score in its model-index and lists both splits.
    card = ModelCard.load(tmp_path / "model" / "README.md")
    test_scores = [r.metric_value for r in card.data.eval_results if r.dataset_split == "test" and r.metric_type == "bleu"]
    assert test_scores == [first["test_bleu"]]
    assert "| test_2017_flickr |" in card.text
    table = (tmp_path / "results" / "README.md").read_text()
    assert f"| tiny | test_2017_flickr | sacreBLEU | {round(second['test_bleu'], 2)} |" in table


def test_a_missing_config_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["configs/cpu/no_such_config.yaml"])
    assert "no config file at 'configs/cpu/no_such_config.yaml'" in capsys.readouterr().err
