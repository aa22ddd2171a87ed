"""The checkpoint contract: written and read by the same code; checkpoints written before it still read and export."""

from __future__ import annotations

import pytest
import torch
from conftest import FIXTURES

from hf_seq2seq_vit.export import CheckpointContract, CheckpointContractError, TokenizerRecord, TrainInfo
from hf_seq2seq_vit.export.contract import KEYS

LEGACY = FIXTURES / "legacy_checkpoints"


def test_written_contract_reads_back_equal_through_a_weights_only_checkpoint(tmp_path):
    contract = CheckpointContract(
        task="translation", model_config={"model_type": "seq2seq_transformer", "d_model": 32},
        eval_results={"val_bleu": 12.5}, generation_config={"num_beams": 4},
        tokenizer=TokenizerRecord(tokenizer_json='{"version": "1.0"}', model_max_length=64),
        train_info=TrainInfo(dataset="bundled:multi30k", src_lang="en", tgt_lang="de", global_step=7,
                             train_time_s=1.5, hardware="cpu", extra={"note": "kept"}),
    )
    checkpoint = {"state_dict": {}}
    contract.write(checkpoint)
    assert set(KEYS) <= set(checkpoint)
    torch.save(checkpoint, tmp_path / "c.ckpt")
    assert CheckpointContract.read(torch.load(tmp_path / "c.ckpt", weights_only=True)) == contract


def test_metrics_are_stored_as_plain_floats():
    checkpoint = {}
    CheckpointContract(task="image-classification", model_config={"model_type": "conv_vit"},
                       eval_results={"val_acc": torch.tensor(0.25)}).write(checkpoint)
    assert checkpoint["hf_eval_results"] == {"val_acc": 0.25} and type(checkpoint["hf_eval_results"]["val_acc"]) is float


@pytest.mark.parametrize("entries, message", [
    ({}, "has no 'hf_task' entry"),
    ({"hf_task": "summarization"}, "hf_task='summarization'; export supports"),
    ({"hf_task": "translation", "hf_config": "seq2seq"}, "hf_config must be the model config dict"),
    ({"hf_task": "translation", "hf_config": {"model_type": "x"}, "hf_tokenizer": "tok"}, "hf_tokenizer must be"),
    ({"hf_task": "translation", "hf_config": {"model_type": "x"}, "hf_train_info": [1]}, "hf_train_info must be a dict"),
    ({"hf_task": "translation", "hf_contract_version": 99}, "newer than this hf_seq2seq_vit understands"),
])
def test_broken_entries_are_named(entries, message):
    with pytest.raises(CheckpointContractError, match=message):
        CheckpointContract.read({"state_dict": {}, **entries}, source="'x.ckpt'")


@pytest.mark.parametrize("name, task, prefix", [("translation_2026-12-02.ckpt", "translation", None),
                                                ("image_classification_2026-12-02.ckpt", "image-classification",
                                                 "ema.module.")])
def test_checkpoints_written_before_the_contract_still_read(name, task, prefix):
    contract = CheckpointContract.read(torch.load(LEGACY / name, weights_only=True))
    assert (contract.version, contract.task, contract.weights_prefix) == (0, task, prefix)
    assert contract.train_info.global_step == 2


def test_checkpoints_written_before_the_contract_still_export_and_load(tmp_path):
    from hf_seq2seq_vit.export import export_checkpoint, load_exported, model_from_checkpoint, read_checkpoint

    translation = LEGACY / "translation_2026-12-02.ckpt"
    model, tokenizer = load_exported(export_checkpoint(translation, tmp_path / "translator"))
    reference = model_from_checkpoint(read_checkpoint(translation))
    inputs = tokenizer(["A man is riding a bicycle.", "Two dogs."], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs, decoder_input_ids=inputs["input_ids"][:, :4]).logits,
                                   reference(**inputs, decoder_input_ids=inputs["input_ids"][:, :4]).logits)
    assert model.generation_config.num_beams == 2  # the module's decoding settings, kept

    image = LEGACY / "image_classification_2026-12-02.ckpt"
    classifier, processor = load_exported(export_checkpoint(image, tmp_path / "classifier"))
    state = torch.load(image, weights_only=True)["state_dict"]
    ema = {key.removeprefix("ema.module."): value for key, value in state.items() if key.startswith("ema.module.")}
    assert all(torch.equal(classifier.state_dict()[key], value) for key, value in ema.items()
               if key in classifier.state_dict())
    pixels = processor(torch.zeros(3, 40, 30, dtype=torch.uint8), return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32)


@pytest.mark.parametrize("module", ["hf_seq2seq_vit.export.contract", "hf_seq2seq_vit.export.exporters",
                                    "hf_seq2seq_vit.model_card"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
