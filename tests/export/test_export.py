"""Export: Lightning checkpoint -> Hugging Face folder that loads anywhere and computes what the checkpoint computed."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES, REPO
from lightning.pytorch.callbacks import EMAWeightAveraging
from helpers.fresh_process import run_fresh_python
from helpers.checkpoints import SAMPLE_SENTENCES, make_image_checkpoint, make_translation_checkpoint
from huggingface_hub import ModelCard

from hf_seq2seq_vit.export import ExportError, export_checkpoint, load_exported, main, read_checkpoint

EVAL = {"val_bleu": 23.4567, "test_bleu": 21.25, "val_loss": 2.5}
# A fixed 40x30 RGB image (uint8 pattern), so both processes feed the image processor the same pixels.
IMAGE_SNIPPET = "np.arange(40 * 30 * 3, dtype=np.int64).reshape(30, 40, 3).__mod__(251).astype(np.uint8)"

# Runs in a fresh interpreter; IMPORT_PACKAGE decides whether hf_seq2seq_vit is imported (Auto classes registered)
# or the folders must load through their remote code alone.
LOAD_SCRIPT = """
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
if IMPORT_PACKAGE:
    import hf_seq2seq_vit
from transformers import (AutoImageProcessor, AutoModelForImageClassification, AutoModelForSeq2SeqLM, AutoTokenizer,
                          pipeline)
remote = not IMPORT_PACKAGE
tokenizer = AutoTokenizer.from_pretrained(TRANSLATION, trust_remote_code=remote)
model = AutoModelForSeq2SeqLM.from_pretrained(TRANSLATION, trust_remote_code=remote).eval()
inputs = tokenizer(SENTENCES, return_tensors="pt", padding=True)
with torch.no_grad():
    logits = model(**inputs, decoder_input_ids=inputs["input_ids"][:, :6]).logits
    generated = model.generate(**inputs)  # beam size and max length from generation_config.json
translator = pipeline("translation", model=TRANSLATION, trust_remote_code=True)
processor = AutoImageProcessor.from_pretrained(IMAGE, trust_remote_code=remote)
classifier = AutoModelForImageClassification.from_pretrained(IMAGE, trust_remote_code=remote).eval()
with torch.no_grad():
    image_logits = classifier(**processor(IMAGE_ARRAY, return_tensors="pt")).logits
print(json.dumps({
    "logits": logits.tolist(), "generated": generated.tolist(), "pipeline": translator(SENTENCES, batch_size=2),
    "image_logits": image_logits.tolist(), "model_module": type(model).__module__,
    "image_module": type(classifier).__module__, "package_imported": "hf_seq2seq_vit" in sys.modules,
}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tokenizer):
    """A translation checkpoint (with eval results) and an image checkpoint (EMA, no eval), both exported."""
    root = tmp_path_factory.mktemp("export")
    translation_model = make_translation_checkpoint(root / "translation.ckpt", tokenizer, eval_results=EVAL)
    image_model, raw_image_model = make_image_checkpoint(root / "image.ckpt")
    assert main([str(root / "translation.ckpt"), str(root / "translator"), "--task", "translation"]) == 0
    assert main([str(root / "image.ckpt"), str(root / "classifier")]) == 0
    return {"root": root, "translation_model": translation_model, "image_model": image_model,
            "raw_image_model": raw_image_model, "tokenizer": tokenizer}


@pytest.fixture(scope="module")
def reference(exported, tokenizer):
    """What the checkpoints' own models compute on the inputs the fresh processes use (one thread, like them)."""
    import numpy as np

    from hf_seq2seq_vit.models.conv_vit import ConvViTImageProcessor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = exported["translation_model"]
        inputs = tokenizer(SAMPLE_SENTENCES, return_tensors="pt", padding=True)
        processor = ConvViTImageProcessor.from_dict(read_checkpoint(exported["root"] / "image.ckpt")["hf_image_processor"])
        image = eval(IMAGE_SNIPPET, {"np": np})
        with torch.no_grad():
            return {
                "logits": model(**inputs, decoder_input_ids=inputs["input_ids"][:, :6]).logits,
                # the checkpoint's hf_generation_config: num_beams 3, max_length 24
                "generated": model.generate(**inputs, num_beams=3, max_length=24),
                "image_logits": exported["image_model"](**processor(image, return_tensors="pt")).logits,
            }
    finally:
        torch.set_num_threads(threads)


def load_in_fresh_process(exported, import_package: bool, home: Path) -> dict:
    header = (f"IMPORT_PACKAGE = {import_package}\nTRANSLATION = {str(exported['root'] / 'translator')!r}\n"
              f"IMAGE = {str(exported['root'] / 'classifier')!r}\nSENTENCES = {SAMPLE_SENTENCES!r}\n"
              f"import numpy as np\nIMAGE_ARRAY = {IMAGE_SNIPPET}\n")
    return run_fresh_python(header + LOAD_SCRIPT, home)


def assert_same_outputs(result: dict, reference: dict, tokenizer) -> None:
    torch.testing.assert_close(torch.tensor(result["logits"]), reference["logits"], rtol=1e-5, atol=1e-5)
    assert result["generated"] == reference["generated"].tolist()
    torch.testing.assert_close(torch.tensor(result["image_logits"]), reference["image_logits"], rtol=1e-5, atol=1e-5)
    expected_texts = tokenizer.batch_decode(reference["generated"], skip_special_tokens=True)
    assert [item["translation_text"] for item in result["pipeline"]] == expected_texts


def test_export_writes_the_hugging_face_folder(exported):
    translator, classifier = exported["root"] / "translator", exported["root"] / "classifier"
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "README.md",
            "configuration_seq2seq_transformer.py", "modeling_seq2seq_transformer.py",
            "pipeline_seq2seq_transformer.py"} <= {
        path.name for path in translator.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "configuration_conv_vit.py",
            "modeling_conv_vit.py", "image_processing_conv_vit.py"} <= {path.name for path in classifier.iterdir()}
    generation = json.loads((translator / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["max_length"], generation["decoder_start_token_id"]) == (3, 24, 1)
    config = json.loads((translator / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"].startswith("modeling_seq2seq_transformer.")
    assert config["custom_pipelines"]["translation"]["impl"] == "pipeline_seq2seq_transformer.TranslationPipeline"
    image_config = json.loads((classifier / "config.json").read_text())
    assert image_config["auto_map"]["AutoModelForImageClassification"].startswith("modeling_conv_vit.")
    assert not list(exported["root"].glob(".translator.*")), "the staging folder was left behind"


def test_fresh_process_without_the_package_gives_the_checkpoints_outputs(exported, reference, tokenizer, tmp_path):
    result = load_in_fresh_process(exported, import_package=False, home=tmp_path)
    assert result["package_imported"] is False
    assert result["model_module"].startswith("transformers_modules.")  # the folder's own copy of the modeling code
    assert result["image_module"].startswith("transformers_modules.")
    assert_same_outputs(result, reference, tokenizer)


def test_fresh_process_with_the_package_gives_the_checkpoints_outputs(exported, reference, tokenizer, tmp_path):
    result = load_in_fresh_process(exported, import_package=True, home=tmp_path)
    assert result["model_module"] == "hf_seq2seq_vit.models.seq2seq_transformer.modeling_seq2seq_transformer"
    assert result["image_module"] == "hf_seq2seq_vit.models.conv_vit.modeling_conv_vit"
    assert_same_outputs(result, reference, tokenizer)


def test_export_uses_the_ema_weights_of_an_image_checkpoint(exported):
    model, _ = load_exported(exported["root"] / "classifier")
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = model(pixel_values=pixels).logits
        assert torch.equal(got, exported["image_model"](pixel_values=pixels).logits)
        assert not torch.allclose(got, exported["raw_image_model"](pixel_values=pixels).logits)


# ------------------------------------------------------------------------------------------------------- model cards
def test_model_card_metadata_parses_and_holds_the_checkpoints_numbers(exported):
    card = ModelCard.load(exported["root"] / "translator" / "README.md")
    data = card.data.to_dict()
    assert (data["pipeline_tag"], data["library_name"], data["license"]) == ("translation", "transformers", "apache-2.0")
    assert data["language"] == ["en", "de"] and data["datasets"] == ["multi30k"]
    measured = {(result.dataset_split, result.metric_type): result.metric_value for result in card.data.eval_results}
    assert measured == {("validation", "bleu"): 23.4567, ("test", "bleu"): 21.25, ("validation", "loss"): 2.5}
    assert "| validation | BLEU | 23.46 |" in card.text and "| test | BLEU | 21.25 |" in card.text
    assert "CPU (2 cores)" in card.text and "1 min 15 s" in card.text  # hardware and time from hf_train_info
    assert "non-commercial" in card.text  # the training data's terms
    assert "| learning_rate | 0.0005 |" in card.text and "| num_beams | 3 |" in card.text


def test_model_card_without_evaluation_says_so_and_has_no_results(exported):
    card = ModelCard.load(exported["root"] / "classifier" / "README.md")
    assert card.data.eval_results is None
    assert "model-index" not in card.content.split("---")[1]
    assert "has **not been evaluated**" in card.text
    assert card.data.pipeline_tag == "image-classification" and card.data.datasets == ["cifar10"]
    assert "airplane, automobile, bird" in card.text
    assert "imports [`timm`]" in card.text and "torch torchvision timm pillow" in card.text  # remote code


def test_model_card_refuses_a_non_numeric_score(tmp_path, tokenizer):
    make_translation_checkpoint(tmp_path / "nan.ckpt", tokenizer, eval_results={"val_bleu": float("nan")})
    with pytest.raises(ExportError, match=r"hf_eval_results\['val_bleu'\] = nan is not a finite number"):
        export_checkpoint(tmp_path / "nan.ckpt", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------------- bad input
def test_wrong_task_is_refused_with_the_command_line_exit_code(exported, tmp_path, capsys):
    assert main([str(exported["root"] / "image.ckpt"), str(tmp_path / "out"), "--task", "translation"]) == 2
    assert "is an 'image-classification' checkpoint but --task translation was asked" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_folder_of_the_other_task_is_refused_naming_both(exported):
    with pytest.raises(ExportError, match="holds an 'image-classification' model but 'translation' was asked"):
        load_exported(exported["root"] / "classifier", task="translation")


def test_checkpoint_without_hf_task_is_refused(exported, tmp_path):
    checkpoint = torch.load(exported["root"] / "translation.ckpt", weights_only=True)
    del checkpoint["hf_task"]
    torch.save(checkpoint, tmp_path / "plain.ckpt")
    with pytest.raises(ExportError, match="has no 'hf_task' entry.*TranslationModule"):
        export_checkpoint(tmp_path / "plain.ckpt", tmp_path / "out")


def test_truncated_checkpoint_is_refused(exported, tmp_path):
    data = (exported["root"] / "translation.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match="Could not read .* with torch.load\\(weights_only=True\\)"):
        read_checkpoint(tmp_path / "cut.ckpt")


class _RunsCodeWhenUnpickled:
    """Unpickling this creates a marker file: proof that a loader ran pickle code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_with_pickled_code_is_refused_without_running_it(exported, tmp_path):
    checkpoint = torch.load(exported["root"] / "translation.ckpt", weights_only=True)
    marker = tmp_path / "pwned"
    checkpoint["hyper_parameters"] = {"payload": _RunsCodeWhenUnpickled(str(marker))}
    torch.save(checkpoint, tmp_path / "evil.ckpt")
    with pytest.raises(ExportError, match="export never unpickles code"):
        export_checkpoint(tmp_path / "evil.ckpt", tmp_path / "out")
    assert not marker.exists()


def test_folder_with_only_a_pickle_weights_file_is_refused_without_running_it(exported, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(exported["root"] / "translator", folder)
    marker = tmp_path / "pwned"
    torch.save({"weight": _RunsCodeWhenUnpickled(str(marker))}, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ExportError, match=r"no model.safetensors \(only \['pytorch_model.bin'\], pickle files"):
        load_exported(folder)
    assert not marker.exists()


def test_truncated_safetensors_gives_a_clear_error(exported, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(exported["root"] / "translator", folder)
    weights = folder / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    with pytest.raises(ExportError, match="model.safetensors' is damaged .*truncated"):
        load_exported(folder)


def _rewrite_weights(folder: Path, change) -> str:
    """Apply ``change(tensors)`` to the folder's model.safetensors; returns the name of the tensor it changed."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    name = next(key for key in sorted(tensors) if key.endswith("fc1.weight"))
    change(tensors, name)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return name


@pytest.mark.parametrize("damage", ["missing", "nan", "inf"])
def test_weights_file_missing_a_tensor_or_with_non_finite_values_is_refused(exported, tmp_path, damage):
    from transformers import pipeline

    folder = tmp_path / damage
    shutil.copytree(exported["root"] / "translator", folder)

    def change(tensors, name):
        if damage == "missing":
            del tensors[name]
        else:
            tensors[name][0, 0] = float(damage)

    name = _rewrite_weights(folder, change)
    expected = (f"model.safetensors has no tensor {name!r}" if damage == "missing"
                else f"Tensor {name!r} of the weights file .*model.safetensors holds NaN or inf")
    with pytest.raises(ExportError, match=expected):
        load_exported(folder)
    with pytest.raises(ValueError, match=expected):  # the pipeline entry point, remote code
        pipeline("translation", model=str(folder), trust_remote_code=True)


@pytest.mark.parametrize("name", ["translation.ckpt", "image.ckpt"])
def test_checkpoint_with_non_finite_weights_is_refused(exported, tmp_path, name, capsys):
    checkpoint = torch.load(exported["root"] / name, weights_only=True)
    key = next(key for key in sorted(checkpoint["state_dict"]) if key.endswith("fc1.weight"))
    checkpoint["state_dict"][key][0, 0] = float("inf")
    torch.save(checkpoint, tmp_path / "diverged.ckpt")
    assert main([str(tmp_path / "diverged.ckpt"), str(tmp_path / "out")]) == 2
    assert "holds NaN or inf values" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_invalid_tokenizer_json_names_the_file(exported, tmp_path):
    folder = tmp_path / "bad-tokenizer"
    shutil.copytree(exported["root"] / "translator", folder)
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(ExportError, match=r"tokenizer.json' is not a valid tokenizer.json .*re-export"):
        load_exported(folder)


def test_folder_missing_the_tokenizer_gives_a_clear_error(exported, tmp_path):
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(exported["root"] / "translator", folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ExportError, match="has no tokenizer.json: the tokenizer was not saved with the model"):
        load_exported(folder)


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(tmp_path, tokenizer):
    make_translation_checkpoint(tmp_path / "small.ckpt", tokenizer, vocab_size=len(tokenizer) - 40)
    with pytest.raises(ExportError, match=f"the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
                                          f"{len(tokenizer) - 40}"):
        export_checkpoint(tmp_path / "small.ckpt", tmp_path / "out")


def test_config_that_does_not_match_the_weights_is_refused(exported, tmp_path):
    checkpoint = torch.load(exported["root"] / "translation.ckpt", weights_only=True)
    checkpoint["hf_config"]["encoder_layers"] = 3
    torch.save(checkpoint, tmp_path / "mismatch.ckpt")
    with pytest.raises(ExportError, match=r"weights under 'model.' miss \d+ parameters .*'model.encoder.layers.2"):
        export_checkpoint(tmp_path / "mismatch.ckpt", tmp_path / "out")


# ---------------------------------------------------------------------------------------- never lose a user's data
def test_export_refuses_a_folder_with_the_users_files_even_with_a_config_json(exported, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    (folder / "config.json").write_text('{"mine": true}')
    with pytest.raises(ExportError, match=r"is not empty and is not an earlier export \(it holds \['config.json', "
                                          r"'todo.txt'\].*pass --overwrite"):
        export_checkpoint(exported["root"] / "translation.ckpt", folder)
    assert (folder / "todo.txt").read_text() == "keep me" and (folder / "config.json").read_text() == '{"mine": true}'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"], "a staging folder was left behind"


def test_overwrite_replaces_only_the_files_an_export_writes(exported, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("keep me")
    (folder / "config.json").write_text('{"mine": true}')
    assert main([str(exported["root"] / "image.ckpt"), str(folder), "--overwrite"]) == 0
    assert (folder / "todo.txt").read_text() == "keep me"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "conv_vit"
    model, _ = load_exported(folder)
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(pixel_values=pixels).logits,
                                   exported["image_model"](pixel_values=pixels).logits)
    # the folder now holds the user's file too, so it is not a pure export: a second export needs --overwrite again
    with pytest.raises(ExportError, match=r"it holds \['todo.txt'\]"):
        export_checkpoint(exported["root"] / "image.ckpt", folder)


def test_overwrite_refuses_a_folder_where_the_export_writes_a_file_and_changes_nothing(exported, tmp_path):
    folder = tmp_path / "notes"
    (folder / "README.md").mkdir(parents=True)
    (folder / "README.md" / "chapter.txt").write_text("keep me")
    with pytest.raises(ExportError, match="README.md' is a folder where the export writes a file"):
        export_checkpoint(exported["root"] / "image.ckpt", folder, overwrite=True)
    assert [path.name for path in folder.rglob("*")] == ["README.md", "chapter.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]


def test_export_to_the_current_folder_is_refused_and_wipes_nothing(exported, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(exported["root"] / "translation.ckpt", work / "run.ckpt")
    (work / "data.txt").write_text("my data")
    monkeypatch.chdir(work)
    assert main(["run.ckpt", "."]) == 2
    assert "is not empty and is not an earlier export" in capsys.readouterr().err
    assert sorted(path.name for path in work.iterdir()) == ["data.txt", "run.ckpt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["work"]
    # --overwrite writes the export's files beside the user's: the checkpoint and data stay
    assert main(["run.ckpt", ".", "--overwrite"]) == 0
    assert (work / "data.txt").read_text() == "my data" and (work / "run.ckpt").is_file()
    load_exported(work)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["work"]


def test_an_earlier_export_is_replaced_whole_and_a_failed_export_leaves_it_as_it_was(exported, tmp_path):
    folder = tmp_path / "model"
    export_checkpoint(exported["root"] / "translation.ckpt", folder)
    assert (folder / "tokenizer.json").is_file() and (folder / "export_manifest.json").is_file()
    export_checkpoint(exported["root"] / "image.ckpt", folder)  # no --overwrite needed: it is our own export
    assert not (folder / "tokenizer.json").exists(), "a file of the earlier export survived"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "conv_vit"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    make_translation_checkpoint(tmp_path / "nan.ckpt", exported["tokenizer"], eval_results={"val_bleu": float("nan")})
    with pytest.raises(ExportError, match="not a finite number"):
        export_checkpoint(tmp_path / "nan.ckpt", folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model", "nan.ckpt"]


def test_export_callback_refuses_a_foreign_folder_before_training(tmp_path):
    from types import SimpleNamespace

    from hf_seq2seq_vit.lightning.export_callback import HubExportCallback

    (tmp_path / "mine.txt").write_text("keep me")
    rank_zero = SimpleNamespace(is_global_zero=True)
    with pytest.raises(ExportError, match=r"it holds \['mine.txt'\]"):
        HubExportCallback(output_dir=str(tmp_path)).setup(rank_zero, None, stage="fit")
    HubExportCallback(output_dir=str(tmp_path), overwrite=True).setup(rank_zero, None, stage="fit")
    HubExportCallback(output_dir=str(tmp_path / "new")).setup(rank_zero, None, stage="fit")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.txt"]


def test_an_unwritable_target_is_a_one_line_error(exported, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert main([str(exported["root"] / "image.ckpt"), str(tmp_path / "notes.txt" / "model")]) == 2
    assert "error: could not write the export to" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_exported_folder_has_the_permissions_the_umask_gives(exported, tmp_path, umask, folder_mode, file_mode):
    previous = os.umask(umask)
    try:
        folder = export_checkpoint(exported["root"] / "image.ckpt", tmp_path / "model", verify=False)
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == folder_mode
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {file_mode}


# -------------------------------------------------------------------------------------- real training checkpoints
def run_training_cli(config: str, overrides: list[str], tmp_path: Path, monkeypatch):
    """train.py (LightningCLI) in this process, fast_dev_run, with HubExportCallback exporting to tmp_path/model."""
    sys.path.insert(0, str(REPO))
    try:
        from train import main as train_main
    finally:
        sys.path.remove(str(REPO))
    monkeypatch.chdir(tmp_path)  # the config's relative outputs/ paths land in tmp_path
    monkeypatch.setattr(sys, "argv", ["train.py"])  # LightningCLI would otherwise see pytest's arguments
    return train_main([
        "fit", "--config", str(REPO / "configs" / config), "--trainer.fast_dev_run=1",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", *overrides,
        "--trainer.callbacks+=hf_seq2seq_vit.lightning.export_callback.HubExportCallback",
        f"--trainer.callbacks.output_dir={tmp_path / 'model'}",
    ])


def test_training_cli_with_the_export_callback_exports_the_trained_translator(tmp_path, monkeypatch):
    cli = run_training_cli("demo_translation_cpu.yaml", [
        "--data.init_args.max_train_examples=200", "--data.init_args.max_val_examples=4",
        "--data.init_args.max_test_examples=4",
        "--model.init_args.max_generation_length=12"], tmp_path, monkeypatch)
    trained = cli.model.model.eval()
    model, tokenizer = load_exported(tmp_path / "model")
    inputs = tokenizer(SAMPLE_SENTENCES, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = trained.generate(**inputs.to(trained.device), num_beams=2, max_length=20)
        assert torch.equal(model.generate(**inputs, num_beams=2, max_length=20), expected.cpu())
    card = ModelCard.load(tmp_path / "model" / "README.md")
    assert card.data.pipeline_tag == "translation" and card.data.language == ["en", "de"]
    generation = json.loads((tmp_path / "model" / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["max_length"]) == (2, 12)  # the module's decoding settings


def test_training_cli_with_the_export_callback_exports_the_ema_image_classifier(tmp_path, monkeypatch):
    tiny = FIXTURES / "cifar10_tiny.parquet"
    cli = run_training_cli("demo_cifar10_cpu.yaml", [
        f'--data.init_args.data_files={{"train": "{tiny}"}}', "--data.init_args.val_size=20",
        "--data.init_args.batch_size=8", "--data.init_args.num_workers=0",
        "--data.init_args.max_test_examples=null", "--data.init_args.max_train_examples=null",
        # The config's EMAWeightAveraging copies the weights at step 1 and averages from step 2; no LR
        # warm-up, so both steps change the weights: after 2 steps the EMA weights differ from the raw ones.
        "--trainer.fast_dev_run=2", "--model.init_args.warmup_steps=0"],
        tmp_path, monkeypatch)
    ema = next(c for c in cli.trainer.callbacks if isinstance(c, EMAWeightAveraging))
    assert int(ema._average_model.n_averaged) == 2
    model, processor = load_exported(tmp_path / "model")
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model(pixel_values=pixels).logits
        assert torch.equal(got, ema._average_model.module.model.eval()(pixel_values=pixels).logits)  # the EMA weights
    assert processor.to_dict()["image_mean"] == cli.datamodule.image_processor.image_mean
    assert model.config.id2label[0] == "airplane"
