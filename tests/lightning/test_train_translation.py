"""Training the translator end to end: CLI fast_dev_run, DDP on CPU, BLEU rises, checkpoint contract, W&B offline,
and resuming a killed run from ``last`` with the same losses as an uninterrupted run."""

import csv
import os
import pickle
import signal
import subprocess
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from conftest import FIXTURES
from helpers.training_runs import DEMO_CONFIG, REPO, demo_config, train_command, train_env

from hf_seq2seq_vit.data import TokenBudgetBatchSampler, TranslationDataModule
from hf_seq2seq_vit.lightning.cli import main
from hf_seq2seq_vit.lightning.image_classification import ImageClassificationModule
from hf_seq2seq_vit.lightning.translation import TranslationModule

LEGACY = FIXTURES / "legacy_checkpoints"


def tiny_config(tmp_path: Path, **trainer) -> Path:
    """The demo config shrunk to a 2-layer d_model-32 model on 200 pairs, writing only under ``tmp_path``."""
    config = demo_config(tmp_path)
    config["trainer"]["max_epochs"] = 2
    config["trainer"]["callbacks"][0]["init_args"].update(every_n_train_steps=5, save_top_k=-1)
    config["trainer"].update(trainer)
    config["model"]["init_args"].update(max_generation_length=24, warmup_steps=10)
    config["data"]["init_args"].update(max_train_examples=200, max_val_examples=16, max_test_examples=16,
                                       tokenizer_vocab_size=500)  # 178 pairs kept, 20 batches an epoch
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(*args, cwd=REPO, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(train_command(*args), cwd=cwd, env=train_env(), capture_output=True, text=True,
                            timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"train.py {' '.join(map(str, args))} failed:\n{result.stderr[-4000:]}")
    return result


def read_metrics(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict], name: str) -> dict[int, float]:
    return {int(row["step"]): float(row[name]) for row in rows if row.get(name)}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_fast_dev_run_through_the_cli_trains_validates_and_translates(tmp_path):
    # run in tmp_path: the demo config's relative outputs/ paths (tokenizer, logs) must not land in the checkout
    result = run_cli("fit", "--config", DEMO_CONFIG, "--trainer.fast_dev_run=true",
                     "--data.init_args.max_train_examples=300", "--data.init_args.max_val_examples=8",
                     "--data.init_args.max_test_examples=8", cwd=tmp_path)
    log = result.stdout + result.stderr
    assert "`Trainer.fit` stopped: `max_steps=1` reached" in log
    assert "Sample translations at step 1" in log and "HYP:" in log  # validation ran beam search


def epoch_checkpoints(config: Path, dirpath: Path) -> None:
    """Add a ModelCheckpoint that saves after each validation as ``epoch=N.ckpt`` (as the shipped configs do)."""
    data = yaml.safe_load(config.read_text())
    data["trainer"]["callbacks"].append({"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                         "init_args": {"dirpath": str(dirpath), "filename": "{epoch}",
                                                       "save_top_k": -1, "every_n_epochs": 1}})
    config.write_text(yaml.safe_dump(data))


def test_sampler_yields_the_same_number_of_batches_every_epoch_whatever_the_shuffle():
    # Lightning reads the number of training batches once and validates when (batch_idx + 1) is a multiple of it.
    # 20,000 lengths drawn at random (as in a real corpus): sorting inside random pools of 4,096 gave 622 batches in
    # some epochs and 621 in others here, which skipped validation in every 621-batch epoch.
    lengths = torch.randint(2, 60, (20_000,), generator=torch.Generator().manual_seed(0)).tolist()
    for replicas in (1, 2, 3):
        sampler = TokenBudgetBatchSampler(lengths, max_tokens=1024, seed=0, num_replicas=replicas)
        counts, firsts = set(), set()
        for epoch in range(8):
            sampler.set_epoch(epoch)
            batches = list(sampler)
            counts |= {len(batches), len(sampler)}
            firsts.add(tuple(batches[0]))
        assert len(firsts) == 8  # every epoch shuffles: different batches ...
        assert len(counts) == 1  # ... but always as many of them, and the length Lightning read is the truth


def test_every_epoch_validates_and_saves_a_checkpoint(tmp_path, one_thread):
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=300, max_val_examples=8,
                               tokenizer_vocab_size=300, max_length=32, max_tokens=256)
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=48, num_beams=1, max_generation_length=8, num_samples=0,
                               warmup_steps=5)
    validated = []
    recorder = L.Callback()
    recorder.on_validation_epoch_end = lambda trainer, pl: validated.append(trainer.current_epoch)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", save_top_k=-1)
    trainer = L.Trainer(accelerator="cpu", max_epochs=4, logger=False, callbacks=[checkpoint, recorder],
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        use_distributed_sampler=False)
    trainer.fit(module, dm)
    sampler = trainer.train_dataloader.batch_sampler
    epochs = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        epochs.append(list(sampler))
    assert len({tuple(map(tuple, batches)) for batches in epochs}) == 4  # each epoch drew its own batches
    assert validated == [0, 1, 2, 3]
    assert sorted(path.name for path in tmp_path.glob("*.ckpt")) == [f"epoch={e}.ckpt" for e in range(4)]
    assert trainer.global_step == 4 * len(epochs[0])


def test_ddp_on_two_cpu_processes_validates_and_checkpoints_every_epoch(tmp_path):
    config = tiny_config(tmp_path, max_epochs=3, strategy="ddp", devices=2)
    epoch_checkpoints(config, tmp_path / "epochs")
    run_cli("fit", "--config", config)
    rows = read_metrics(tmp_path / "csv" / "version_0" / "metrics.csv")
    assert column(rows, "val_bleu") and column(rows, "val_loss")
    assert sorted({int(row["epoch"]) for row in rows if row.get("val_loss")}) == [0, 1, 2]
    assert sorted(path.name for path in (tmp_path / "epochs").glob("*.ckpt")) == [f"epoch={e}.ckpt" for e in range(3)]
    # Each rank takes half the batches: an epoch takes half the steps of a single process, the same every epoch.
    dm = TranslationDataModule(**yaml.safe_load(config.read_text())["data"]["init_args"])
    dm.setup("fit")
    batches = len(dm.train_dataloader())
    assert max(column(rows, "train_loss")) + 1 == 3 * ((batches + batches % 2) // 2)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2 and last["global_step"] == 3 * ((batches + batches % 2) // 2)


def with_dropout(config: Path, dropout: float) -> Path:
    data = yaml.safe_load(config.read_text())
    data["model"]["init_args"]["dropout"] = dropout
    config.write_text(yaml.safe_dump(data))
    return config


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_resume_after_sigkill_continues_the_step_count_and_matches_an_uninterrupted_run(tmp_path, dropout):
    # With dropout, every step draws random masks: the resumed run must draw the same ones as the uninterrupted run
    # (the random generators are seeded from the training position, see lightning/base.py).
    full = with_dropout(tiny_config(tmp_path / "full"), dropout)
    run_cli("fit", "--config", full)
    expected = read_metrics(tmp_path / "full" / "csv" / "version_0" / "metrics.csv")

    config = with_dropout(tiny_config(tmp_path / "killed"), dropout)
    data = yaml.safe_load(config.read_text())
    data["trainer"]["callbacks"].append({"class_path": "helpers.training_runs.SignalAtStep",
                                         "init_args": {"step": 7, "signal": "SIGKILL"}})
    data["trainer"]["logger"][0]["init_args"]["version"] = "killed"  # the resumed run logs to version_0 alone
    config.with_name("kill.yaml").write_text(yaml.safe_dump(data))
    killed = run_cli("fit", "--config", config.with_name("kill.yaml"), check=False)
    assert killed.returncode == -signal.SIGKILL
    checkpoint = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    total_steps = max(column(expected, "train_loss")) + 1  # two epochs
    assert checkpoint["global_step"] == 5 and checkpoint["epoch"] == 0 and total_steps > 2 * 7  # mid-epoch 0

    run_cli("fit", "--config", config, "--ckpt_path", "last")
    resumed = read_metrics(tmp_path / "killed" / "csv" / "version_0" / "metrics.csv")
    resumed_loss, expected_loss = column(resumed, "train_loss"), column(expected, "train_loss")
    assert min(resumed_loss) == 5 and max(resumed_loss) == max(expected_loss)  # continued at step 5, not from 0
    # Same batches in the same order from the same weights and optimizer state: the same losses (measured: equal).
    assert resumed_loss == pytest.approx({step: expected_loss[step] for step in resumed_loss}, rel=1e-6)
    assert column(resumed, "val_bleu")[max(column(resumed, "val_bleu"))] == pytest.approx(
        column(expected, "val_bleu")[max(column(expected, "val_bleu"))], abs=1e-6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A few epochs on 1,000 Multi30k pairs (about 25 s on one busy core), with a checkpoint written at the end."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("bleu")
    L.seed_everything(0)
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=1000, max_val_examples=100,
                               tokenizer_vocab_size=600, max_length=32, max_tokens=1024)
    module = TranslationModule(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=4, ffn_dim=128,
                               dropout=0.0, normalize_before=True, max_position_embeddings=64, lr=0.006,
                               warmup_steps=40, num_beams=1, max_generation_length=32, num_samples=0)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=root, filename="final")
    history = []
    recorder = L.Callback()
    recorder.on_validation_epoch_end = lambda trainer, pl: history.append(float(trainer.callback_metrics["val_bleu"]))
    trainer = L.Trainer(accelerator="cpu", max_epochs=16, check_val_every_n_epoch=8, logger=False,
                        callbacks=[checkpoint, recorder], enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, use_distributed_sampler=False, gradient_clip_val=1.0)
    trainer.fit(module, dm)
    torch.set_num_threads(threads)
    return {"module": module, "dm": dm, "history": history, "path": root / "final.ckpt"}


def test_validation_bleu_rises_on_1k_multi30k_pairs(trained):
    first, last = trained["history"]
    # Measured: 1.3 after 8 epochs, 6.0 after 16 (greedy decoding, 100 validation pairs, seed 0).
    assert last > 3.0 and last > first


def test_checkpoint_carries_the_hf_contract_and_loads_with_weights_only(trained):
    checkpoint = torch.load(trained["path"], weights_only=True)
    module, dm = trained["module"], trained["dm"]
    assert checkpoint["hf_task"] == "translation"
    assert checkpoint["hf_config"]["vocab_size"] == len(dm.tokenizer) == checkpoint["hyper_parameters"]["vocab_size"]
    assert checkpoint["hf_generation_config"]["num_beams"] == 1
    assert checkpoint["hf_generation_config"]["max_length"] == 32
    assert checkpoint["hf_tokenizer"]["tokenizer_json"] == dm.tokenizer.backend_tokenizer.to_str()
    assert checkpoint["hf_eval_results"]["val_bleu"] == pytest.approx(trained["history"][-1])
    info = checkpoint["hf_train_info"]
    assert (info["dataset"], info["src_lang"], info["tgt_lang"]) == ("bundled:multi30k", "en", "de")
    assert info["global_step"] == checkpoint["global_step"] > 0 and info["train_time_s"] > 0
    model_keys = {f"model.{key}" for key in module.model.state_dict()}
    assert set(checkpoint["state_dict"]) == model_keys

    restored = TranslationModule.load_from_checkpoint(trained["path"], weights_only=True).eval()
    batch = {key: value[:8] for key, value in next(iter(dm.val_dataloader())).items()}
    assert restored.translate(batch) == module.eval().translate(batch)  # tokenizer restored from the checkpoint


def test_wandb_logger_offline_writes_its_run_files(tmp_path, one_thread):
    from lightning.pytorch.loggers import WandbLogger

    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=100, max_val_examples=8,
                               tokenizer_vocab_size=300, max_length=24, max_tokens=256)
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=32, num_beams=1, max_generation_length=16, num_samples=2)
    logger = WandbLogger(project="hf-seq2seq-vit-tests", save_dir=str(tmp_path), offline=True)
    trainer = L.Trainer(accelerator="cpu", max_steps=2, val_check_interval=2, limit_val_batches=1, logger=logger, enable_progress_bar=False,
                        enable_checkpointing=False, num_sanity_val_steps=0, use_distributed_sampler=False)
    trainer.fit(module, dm)
    logger.experiment.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))
    assert (runs[0] / "files" / "config.yaml").is_file() or (runs[0] / "files").is_dir()


def test_lightning_ema_weight_averaging_saves_the_averaged_weights_and_exports_them(tmp_path):
    # The model is built from the data module's tokenizer; Lightning's WeightAveraging builds it in its own setup
    # hook, before the module's setup runs, so this also checks configure_model finds the tokenizer by itself.
    config = tiny_config(tmp_path, max_epochs=1)
    data = yaml.safe_load(config.read_text())
    data["trainer"]["callbacks"].append({"class_path": "lightning.pytorch.callbacks.EMAWeightAveraging",
                                         "init_args": {"decay": 0.9}})
    config.write_text(yaml.safe_dump(data))
    run_cli("fit", "--config", config)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    averaged, current = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert set(averaged) == set(current) and checkpoint["global_step"] > 10
    name = "model.model.encoder.layers.0.ffn.fc1.weight"
    assert name in averaged and not torch.equal(averaged[name], current[name])

    from hf_seq2seq_vit.export import export_checkpoint, load_exported

    export_checkpoint(tmp_path / "checkpoints" / "last.ckpt", tmp_path / "exported")
    model, _ = load_exported(tmp_path / "exported")
    exported = model.state_dict()[name.removeprefix("model.")]
    assert torch.equal(exported, averaged[name])  # the published weights are the averaged ones


def test_starting_from_a_pretrained_folder_loads_its_weights_and_trains_with_dropout(tmp_path, tiny_seq2seq):
    tiny_seq2seq.save_pretrained(tmp_path)
    module = TranslationModule(pretrained=str(tmp_path), label_smoothing=0.2)
    # from_pretrained hands back an eval-mode model and Lightning keeps each module's mode: fine-tuning would then
    # run without dropout, so the module switches it to training mode.
    assert module.model.training and all(sub.training for sub in module.model.modules())
    assert module.model.config.label_smoothing == 0.2
    for name, tensor in tiny_seq2seq.state_dict().items():
        assert torch.equal(module.model.state_dict()[name], tensor), name


class RunsCode:
    """Unpickles into a call (``os.mkdir(path)``): what a malicious checkpoint would hide."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_checkpoints_load_with_weights_only_and_urls_are_refused(tmp_path, one_thread):
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hf_task": "translation", "payload": RunsCode(marker)}, evil)
    url = "https://example.com/model.ckpt"
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only load failed"):
        TranslationModule.load_from_checkpoint(evil)
    with pytest.raises(ValueError, match="checkpoint_path='https://example.com/model.ckpt' is a URL"):
        TranslationModule.load_from_checkpoint(url)
    with pytest.raises(ValueError, match="--ckpt_path='https://example.com/model.ckpt' is a URL.*local path"):
        main(["fit", "--config", str(DEMO_CONFIG), "--ckpt_path", url])
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only load failed"):
        main(["fit", "--config", str(tiny_config(tmp_path)), "--ckpt_path", str(evil)])
    assert not marker.exists()  # nothing in the file ran


def test_a_checkpoint_of_the_other_task_stops_with_both_task_names(tmp_path, one_thread):
    image, translation = LEGACY / "image_classification_2026-12-02.ckpt", LEGACY / "translation_2026-12-02.ckpt"
    with pytest.raises(ValueError, match="is a 'image-classification' checkpoint, not a 'translation' one"):
        TranslationModule.load_from_checkpoint(image)
    with pytest.raises(ValueError, match="is a 'translation' checkpoint, not a 'image-classification' one"):
        ImageClassificationModule.load_from_checkpoint(translation)
    with pytest.raises(ValueError, match="is a 'image-classification' checkpoint but the config trains 'translation'"):
        main(["fit", "--config", str(tiny_config(tmp_path)), "--ckpt_path", str(image)])
    # The Trainer path (trainer.fit(ckpt_path=...)): the module checks the checkpoint before any weight is loaded.
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=50, max_val_examples=4,
                               tokenizer_vocab_size=200, max_length=32, max_tokens=256)
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=48, num_samples=0)
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False)
    with pytest.raises(ValueError, match="'image-classification' checkpoint but TranslationModule trains "
                                         "'translation'"):
        trainer.fit(module, dm, ckpt_path=image)


def test_predict_step_returns_each_sentences_input_position_and_translation(tmp_path, one_thread):
    lines = ["A man is riding a bike.", "Two dogs play in the snow.", "A woman reads a book on a bench by the river.",
             "A child."]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=100, max_val_examples=4,
                               tokenizer_vocab_size=200, max_length=32, max_tokens=64,
                               predict_path=str(tmp_path / "in.txt"))
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=48, num_beams=1, max_generation_length=6, num_samples=0)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        use_distributed_sampler=False)
    outputs = trainer.predict(module, dm)
    assert len(outputs) > 1  # several batches (sorted by length), so the positions are what puts them back
    assert sorted(i for out in outputs for i in out["index"]) == list(range(len(lines)))
    assert all(len(out["index"]) == len(out["translation"]) for out in outputs)
    assert all(isinstance(text, str) for out in outputs for text in out["translation"])
