"""PredictionWriter: predictions written in input order (.txt / .jsonl / .csv) whatever the batch order, one result
per example under 2-process CPU DDP (whose sampler repeats examples), and `train.py predict` end to end."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import FIXTURES, REPO
from torch.utils.data import DataLoader

from hf_seq2seq_vit.lightning.prediction_writer import PredictionWriter, merge_prediction_parts

SOURCES = ["Ein Mann.", "", "Zwei Hunde spielen im Schnee.", "Grüße 🐕", "Eine Frau singt.", "Kinder.", ""]


class FakeTranslator(L.LightningModule):
    """predict_step per the shared interface: the 'translation' of example i is its source reversed, '' if blank."""

    def __init__(self, sources):
        super().__init__()
        self.sources = sources
        self.layer = torch.nn.Linear(1, 1)

    def predict_step(self, batch, batch_idx):
        index = batch["index"].tolist()
        return {"index": index, "translation": [self.sources[i][::-1] for i in index]}


class FakeClassifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def predict_step(self, batch, batch_idx):
        index = batch["index"].tolist()
        return {"index": batch["index"], "labels": [[f"class{i}", f"other{i}"] for i in index],
                "scores": torch.tensor([[0.5 + i / 100, 0.25] for i in index])}


class Inputs(L.LightningDataModule):
    """Batches of indices in a scrambled order (as a length-sorted loader gives them), plus predict_inputs."""

    def __init__(self, inputs, batch_size=3):
        super().__init__()
        self.predict_inputs = list(inputs)
        self.batch_size = batch_size

    def predict_dataloader(self):
        order = sorted(range(len(self.predict_inputs)), key=lambda i: (-len(self.predict_inputs[i]), i))
        return DataLoader([{"index": i} for i in order], batch_size=self.batch_size, shuffle=False)


def predict(module, data, output):
    trainer = L.Trainer(accelerator="cpu", devices=1, callbacks=[PredictionWriter(output)], logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.predict(module, datamodule=data, return_predictions=False)
    return Path(output)


def test_translations_are_written_in_input_order_in_each_format(tmp_path):
    expected = [source[::-1] for source in SOURCES]
    text = predict(FakeTranslator(SOURCES), Inputs(SOURCES), tmp_path / "out.txt")
    assert text.read_text(encoding="utf-8") == "".join(line + "\n" for line in expected)
    assert not (tmp_path / "out.txt.parts").exists()  # the part files are cleaned up

    jsonl = predict(FakeTranslator(SOURCES), Inputs(SOURCES), tmp_path / "out.jsonl")
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert records == [{"index": i, "source": s, "translation": t} for i, (s, t) in enumerate(zip(SOURCES, expected))]

    table = predict(FakeTranslator(SOURCES), Inputs(SOURCES), tmp_path / "sub" / "out.csv")
    with table.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["index", "source", "translation"]
    assert rows[1:] == [[str(i), s, t] for i, (s, t) in enumerate(zip(SOURCES, expected))]


def test_image_labels_and_scores_in_input_order(tmp_path):
    paths = [f"photos/{name}.png" for name in ("a", "bb", "ccc", "d", "eeeee")]
    jsonl = predict(FakeClassifier(), Inputs(paths, batch_size=2), tmp_path / "labels.jsonl")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [record["path"] for record in records] == paths
    assert [record["labels"] for record in records] == [[f"class{i}", f"other{i}"] for i in range(5)]
    assert [record["scores"][0] for record in records] == pytest.approx([0.5 + i / 100 for i in range(5)])

    table = predict(FakeClassifier(), Inputs(paths, batch_size=2), tmp_path / "labels.csv")
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == paths
    assert [row["label_1"] for row in rows] == [f"class{i}" for i in range(5)]
    assert list(rows[0]) == ["index", "path", "label_1", "score_1", "label_2", "score_2"]
    text = predict(FakeClassifier(), Inputs(paths, batch_size=2), tmp_path / "labels.txt")
    assert text.read_text().splitlines() == [f"class{i}" for i in range(5)]


def test_a_plain_list_of_translations_takes_the_index_from_the_batch(tmp_path):
    class ListTranslator(FakeTranslator):
        def predict_step(self, batch, batch_idx):
            return super().predict_step(batch, batch_idx)["translation"]

    text = predict(ListTranslator(SOURCES), Inputs(SOURCES), tmp_path / "out.txt")
    assert text.read_text(encoding="utf-8").splitlines() == [source[::-1] for source in SOURCES]


def test_bad_outputs_and_predictions_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"output_path='.*out.parquet'.*\.csv"):
        PredictionWriter(tmp_path / "out.parquet")

    class NoIndex(FakeTranslator):
        def predict_step(self, batch, batch_idx):
            return {"translation": ["x"] * len(batch["index"])}

    with pytest.raises(ValueError, match="without 'index'"):
        predict(NoIndex(SOURCES), Inputs(SOURCES), tmp_path / "o.txt")


DDP_SCRIPT = textwrap.dedent('''
    import sys
    import lightning as L
    sys.path.insert(0, sys.argv[2])
    from test_predict import FakeTranslator, Inputs, SOURCES
    from hf_seq2seq_vit.lightning.prediction_writer import PredictionWriter

    sources = SOURCES * 3  # 21 examples: 11 on one rank, 10 on the other
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", callbacks=[PredictionWriter(sys.argv[1])],
                        logger=False, enable_progress_bar=False, enable_model_summary=False)
    data = Inputs(sources, batch_size=4)
    trainer.predict(FakeTranslator(sources), datamodule=data, return_predictions=False)
    print(f"rank {trainer.global_rank} predicted {len(trainer.predict_dataloaders.batch_sampler.sampler)} examples")
''')


def test_two_process_ddp_writes_each_example_once_in_order(tmp_path):
    script = tmp_path / "ddp_predict.py"
    script.write_text(DDP_SCRIPT)
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    result = subprocess.run([sys.executable, str(script), str(output), os.path.dirname(__file__)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = {int(rank): int(count) for rank, count in re.findall(r"rank (\d) predicted (\d+) examples", result.stdout)}
    assert sorted(counts) == [0, 1] and sum(counts.values()) == 21 and min(counts.values()) >= 10  # work was split
    sources = SOURCES * 3
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert records == [{"index": i, "source": s, "translation": s[::-1]} for i, s in enumerate(sources)]
    assert not (tmp_path / "out.jsonl.parts").exists()


def test_merging_keeps_one_result_per_index_when_ranks_repeat_examples(tmp_path):
    # Samplers that give every rank the same number of batches repeat examples (DistributedSampler pads, so does
    # the token-budget sampler): rank 1 here predicted example 0 again.
    parts = [tmp_path / "rank0.jsonl", tmp_path / "rank1.jsonl"]
    parts[0].write_text("".join(json.dumps({"index": i, "translation": f"t{i}"}) + "\n" for i in (4, 0, 2)))
    parts[1].write_text("".join(json.dumps({"index": i, "translation": f"t{i}"}) + "\n" for i in (3, 1, 0)))
    merged = merge_prediction_parts(parts, tmp_path / "out.txt", inputs=[f"s{i}" for i in range(6)])
    assert merged.read_text().splitlines() == ["t0", "t1", "t2", "t3", "t4", ""]  # no result for input 5: blank


# ----------------------------------------------------------------------------------------- train.py predict, end to end
def run_train_script(*args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, str(REPO / "train.py"), *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A translator trained for 3 steps through `train.py fit` (the demo config, shrunk): (config, checkpoint)."""
    import yaml

    root = tmp_path_factory.mktemp("predict_e2e")
    config = yaml.safe_load((REPO / "configs" / "demo_translation_cpu.yaml").read_text())
    config["trainer"].update(default_root_dir=str(root), max_steps=3, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, check_val_every_n_epoch=None, val_check_interval=None,
                             limit_val_batches=0)
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                       "init_args": {"dirpath": str(root / "checkpoints"), "save_last": True}}]
    config["model"]["init_args"].update(d_model=32, encoder_layers=1, decoder_layers=1, ffn_dim=64,
                                        max_position_embeddings=48, num_beams=2, max_generation_length=10)
    config["data"]["init_args"].update(max_train_examples=200, max_val_examples=8, max_test_examples=8,
                                       tokenizer_vocab_size=300, max_length=40, max_tokens=256,
                                       tokenizer_dir=str(root / "tokenizer"))
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_train_script("fit", "--config", path, cwd=root)
    return path, root / "checkpoints" / "last.ckpt"


def translations_one_at_a_time(checkpoint, lines):
    """The reference: the trained module's own predict_step on one line at a time (no padding, no sorting)."""
    from hf_seq2seq_vit.lightning.translation import TranslationModule

    module = TranslationModule.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    results = []
    for line in lines:
        batch = dict(module.tokenizer([line], return_tensors="pt"), index=torch.tensor([0]))
        output = module.predict_step(batch, 0)
        results.append(output["translation"][0] if isinstance(output, dict) else output[0])
    return results


@pytest.mark.parametrize("devices", [1, 2])
def test_train_py_predict_writes_translations_in_input_order(trained, tmp_path, devices):
    config, checkpoint = trained
    lines = ["A man is riding a bicycle.", "Two dogs are playing in the snow.", "Hi.", "",
             "A little girl climbs into a wooden playhouse with her brother.", "People are walking.",
             "A woman sings on a stage.", "Children.", "An old man sits on a bench in the park and reads a paper."]
    source = tmp_path / "sentences.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / "translations.jsonl"
    run_train_script("predict", "--config", config, "--ckpt_path", checkpoint, "--data.predict_path", source,
                     "--data.max_tokens", 48, "--trainer.devices", devices,
                     *(["--trainer.strategy", "ddp"] if devices == 2 else []),
                     "--trainer.callbacks+=hf_seq2seq_vit.lightning.PredictionWriter",
                     f"--trainer.callbacks.output_path={output}", cwd=tmp_path)
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["index"] for record in records] == list(range(len(lines)))
    assert [record["source"] for record in records] == lines
    assert [record["translation"] for record in records] == translations_one_at_a_time(checkpoint, lines)
    assert records[3]["source"] == records[3]["translation"] == ""  # an empty line stays an empty line


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory):
    """A ConvViT trained for 2 steps through `train.py fit` on the 80-image parquet: (config, checkpoint)."""
    import yaml

    root = tmp_path_factory.mktemp("predict_images")
    config = yaml.safe_load((REPO / "configs" / "demo_cifar10_cpu.yaml").read_text())
    config["trainer"].update(default_root_dir=str(root), max_steps=2, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, limit_val_batches=0)
    config["trainer"]["callbacks"] = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                       "init_args": {"dirpath": str(root / "checkpoints"), "save_last": True}}]
    config["model"]["init_args"]["model_config"].update(stem_channels=[8, 16], hidden_size=32, num_hidden_layers=2)
    parquet = str(FIXTURES / "cifar10_tiny.parquet")
    config["data"]["init_args"].update(data_files={"train": parquet, "test": parquet}, val_size=20,
                                       max_train_examples=None, max_test_examples=None, batch_size=10, num_workers=0)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    run_train_script("fit", "--config", path, cwd=root)
    return path, root / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("devices", [1, 2])
def test_train_py_predict_classifies_a_folder_in_input_order(trained_classifier, tmp_path, devices):
    from PIL import Image

    from hf_seq2seq_vit.export import export_checkpoint, load_exported

    config, checkpoint = trained_classifier
    generator = torch.Generator().manual_seed(devices)
    paths = [tmp_path / "photos" / name for name in ("b.png", "a.png", "sub/c.png", "d.jpg", "e.png")]
    for size, path in zip((32, 48, 40, 32, 64), paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()).save(path)
    output = tmp_path / "labels.jsonl"
    run_train_script("predict", "--config", config, "--ckpt_path", checkpoint,
                     "--data.predict_path", tmp_path / "photos", "--data.batch_size", 2, "--trainer.devices", devices,
                     *(["--trainer.strategy", "ddp"] if devices == 2 else []),
                     "--trainer.callbacks+=hf_seq2seq_vit.lightning.prediction_writer.PredictionWriter",
                     f"--trainer.callbacks.output_path={output}", cwd=tmp_path)
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["index"] for record in records] == list(range(len(paths)))
    assert sorted(Path(record["path"]).name for record in records) == ["a.png", "b.png", "c.png", "d.jpg", "e.png"]

    # the reference: the exported model and processor on each image alone
    model, processor = load_exported(export_checkpoint(checkpoint, tmp_path / "exported"))
    for record in records:
        with Image.open(record["path"]) as image, torch.no_grad():
            pixels = processor(image.convert("RGB"), return_tensors="pt")["pixel_values"]
            top = model(pixels).logits[0].softmax(-1).topk(len(record["labels"]))
        assert record["labels"] == [model.config.id2label[i] for i in top.indices.tolist()]
        assert record["scores"] == pytest.approx(top.values.tolist(), abs=1e-5)
