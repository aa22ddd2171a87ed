"""Explain: the printed decoding steps are generate()'s tokens (greedy and beam), the attention shapes fit the model and
the sentence, every picture is a valid PNG (heatmaps, rollout overlays, training curves)."""

from __future__ import annotations

import io
import math

import numpy
import pytest
import torch
from helpers.checkpoints import SAMPLE_SENTENCES, make_image_checkpoint, make_translation_checkpoint
from PIL import Image

from hf_seq2seq_vit.visualize import (
    explain_image,
    explain_translation,
    plot_training_curves,
    save_cross_attention_heatmap,
    save_rollout_overlay,
)

SENTENCES = [*SAMPLE_SENTENCES, "A little girl climbs into a wooden playhouse."]


@pytest.fixture(scope="module")
def model(tmp_path_factory, tokenizer):
    """A random tiny translator whose outputs depend on its input (init_std 0.3)."""
    return make_translation_checkpoint(tmp_path_factory.mktemp("explain") / "t.ckpt", tokenizer)


def generated(model, tokenizer, sentence, **kwargs):
    with torch.no_grad():
        return model.generate(**tokenizer([sentence], return_tensors="pt"), output_scores=True,
                              return_dict_in_generate=True, do_sample=False, **kwargs)


def assert_png(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()


@pytest.mark.parametrize("sentence", SENTENCES)
def test_greedy_steps_are_generate_tokens_and_each_is_the_top_candidate(model, tokenizer, sentence):
    explanation = explain_translation(model, tokenizer, sentence, num_beams=1, max_new_tokens=10, top_k=3)
    expected = generated(model, tokenizer, sentence, num_beams=1, max_new_tokens=10).sequences[0].tolist()
    assert explanation.target_ids == expected
    assert [step.token_id for step in explanation.steps] == expected[1:]
    assert explanation.translation == tokenizer.decode(expected, skip_special_tokens=True)
    for step in explanation.steps:  # teacher forcing reproduces the distributions greedy search chose from
        assert tokenizer.convert_tokens_to_ids(step.candidates[0][0]) == step.token_id
        assert step.probability == pytest.approx(step.candidates[0][1])
        assert len(step.candidates) == 3 and step.candidates[0][1] >= step.candidates[1][1] >= step.candidates[2][1]
    # the prefixes grow one token at a time from <s>: "<s>" -> "<s> w1" -> "<s> w1w2" ...
    assert explanation.steps[0].prefix == "<s>"
    for t, step in enumerate(explanation.steps[1:], start=1):
        assert step.prefix == ("<s> " + tokenizer.decode(expected[1 : t + 1], skip_special_tokens=True)).rstrip()


@pytest.mark.parametrize("sentence", SENTENCES)
def test_beam_steps_are_the_best_hypothesis_and_its_score(model, tokenizer, sentence):
    explanation = explain_translation(model, tokenizer, sentence, num_beams=3, max_new_tokens=10)
    output = generated(model, tokenizer, sentence, num_beams=3, max_new_tokens=10)
    assert explanation.target_ids == output.sequences[0].tolist()
    # beam search ranks hypotheses by sum(log p) / length**length_penalty: the teacher-forced probabilities of
    # the explained steps must give generate()'s own score for the hypothesis it returned
    length_penalty = model.generation_config.length_penalty or 1.0
    log_probability = sum(math.log(step.probability) for step in explanation.steps)
    assert log_probability / len(explanation.steps) ** length_penalty == pytest.approx(
        float(output.sequences_scores[0]), abs=1e-4)


def test_an_eos_ends_the_explanation(model, tokenizer):
    eos = tokenizer.eos_token_id
    # make </s> the certain choice after two tokens, by construction: a logits processor that forces it
    from transformers import LogitsProcessor, LogitsProcessorList

    class EosAfterTwo(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if input_ids.shape[1] >= 3:
                scores = torch.full_like(scores, -math.inf)
                scores[:, eos] = 0.0
            return scores

    processors = LogitsProcessorList([EosAfterTwo()])
    explanation = explain_translation(model, tokenizer, SENTENCES[0], num_beams=1, max_new_tokens=10,
                                      logits_processor=processors)
    assert len(explanation.target_ids) == 4 and explanation.target_ids[-1] == eos
    assert explanation.steps[-1].token == tokenizer.eos_token


def test_cross_attention_shapes_and_heatmaps(model, tokenizer, tmp_path):
    config = model.config
    explanation = explain_translation(model, tokenizer, SENTENCES[3], num_beams=1, max_new_tokens=7)
    source_length = len(tokenizer(SENTENCES[3]).input_ids)
    steps = len(explanation.target_ids) - 1
    assert explanation.cross_attentions.shape == (config.decoder_layers, config.decoder_attention_heads, steps,
                                                  source_length)
    assert explanation.source_tokens == tokenizer.convert_ids_to_tokens(tokenizer(SENTENCES[3]).input_ids)
    sums = explanation.cross_attentions.sum(dim=-1)  # each query's attention is a distribution over the source
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    # the same attention as a plain forward pass over the explained sequence
    with torch.no_grad():
        reference = model(**tokenizer([SENTENCES[3]], return_tensors="pt"),
                          decoder_input_ids=torch.tensor([explanation.target_ids[:-1]]), output_attentions=True)
    assert torch.allclose(explanation.cross_attentions[-1], reference.cross_attentions[-1][0], atol=1e-6)

    last = save_cross_attention_heatmap(explanation, tmp_path / "last.png")
    every = save_cross_attention_heatmap(explanation, tmp_path / "sub" / "all.png", layer="all")
    assert_png(last)
    assert_png(every)
    with Image.open(last) as one, Image.open(every) as two:
        assert two.size[0] > one.size[0]  # one panel per layer
    with pytest.raises(ValueError, match="layer"):
        save_cross_attention_heatmap(explanation, tmp_path / "bad.png", layer=5)
    text = explanation.format_steps()
    assert len(text.splitlines()) == steps + 1


def test_bad_arguments_name_the_argument(model, tokenizer):
    with pytest.raises(ValueError, match="sentence"):
        explain_translation(model, tokenizer, "   ")
    with pytest.raises(ValueError, match="top_k"):
        explain_translation(model, tokenizer, SENTENCES[0], top_k=0)


def test_image_explanation_and_rollout_overlay(tmp_path):
    from hf_seq2seq_vit import ConvViTImageProcessor
    from hf_seq2seq_vit.attention_rollout import attention_rollout_heatmap

    model, _ = make_image_checkpoint(tmp_path / "i.ckpt")
    processor = ConvViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.25] * 3)
    generator = torch.Generator().manual_seed(0)
    image = Image.fromarray((torch.rand(40, 48, 3, generator=generator) * 255).to(torch.uint8).numpy())
    explanation = explain_image(model, processor, image, top_k=3)
    pixel_values = processor(image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        top = model(pixel_values).logits[0].softmax(-1).topk(3)
    assert explanation.labels == [model.config.id2label[i] for i in top.indices.tolist()]
    assert explanation.scores == pytest.approx(top.values.tolist())
    assert torch.equal(explanation.heatmap, attention_rollout_heatmap(model, pixel_values)[0])
    # the picture is the processed 32x32 input, de-normalised (up to uint8 rounding), shown at >= 224 pixels
    assert explanation.image.size == (224, 224)
    small = torch.tensor(numpy.asarray(explanation.image.resize((32, 32), Image.NEAREST)), dtype=torch.float32)
    small = small.reshape(-1, 3)
    restored = (pixel_values[0] * 0.25 + 0.5).clamp(0, 1).permute(1, 2, 0).reshape(-1, 3) * 255
    assert (small - restored).abs().max() <= 1.0
    assert_png(save_rollout_overlay(explanation, tmp_path / "rollout.png"))
    from hf_seq2seq_vit.visualize.explain import stretch

    shown = stretch(explanation.heatmap)  # what the overlays draw: the map's own range spread over the colours
    assert float(shown.amin()) == 0.0 and float(shown.amax()) == 1.0
    order = explanation.heatmap.flatten().argsort(stable=True)
    assert torch.equal(shown.flatten().argsort(stable=True), order)
    assert torch.equal(stretch(torch.full((2, 2), 0.7)), torch.zeros(2, 2))


def test_training_curves_from_a_csv_logger(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(tmp_path, name="run")
    for step in range(20):
        logger.log_metrics({"train_loss_step": 5.0 - 0.1 * step, "epoch": step // 10}, step=step)
        if step % 10 == 9:
            logger.log_metrics({"val_loss": 4.0 - 0.1 * step, "val_bleu": 2.0 * step, "epoch": step // 10},
                               step=step)
    logger.save()
    metrics = tmp_path / "run" / "version_0" / "metrics.csv"
    assert_png(plot_training_curves(metrics, tmp_path / "curves.png", title="demo"))

    from hf_seq2seq_vit.visualize.curves import read_metrics_csv

    series = read_metrics_csv(metrics)
    assert series["val_bleu"] == [(9, 18.0), (19, 38.0)]
    assert len(series["train_loss_step"]) == 20
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        plot_training_curves(tmp_path / "none" / "metrics.csv", tmp_path / "x.png")
    only_epochs = tmp_path / "empty.csv"
    only_epochs.write_text("epoch,step\n0,9\n")
    with pytest.raises(ValueError, match="no \\*_loss"):
        plot_training_curves(only_epochs, tmp_path / "y.png")


# ------------------------------------------------------------------------------------------- pictures during training
def tensorboard_images(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    events.Reload()
    return {tag: events.Images(tag) for tag in events.Tags()["images"]}


def fit_one_epoch(module, data, tmp_path, callback):
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    loggers = [CSVLogger(tmp_path, name="csv"), TensorBoardLogger(tmp_path, name="tb", version=0)]
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=2, limit_val_batches=2,
                        num_sanity_val_steps=1, logger=loggers, callbacks=[callback], enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(module, datamodule=data)
    finally:
        torch.set_num_threads(threads)
    return tensorboard_images(tmp_path / "tb" / "version_0")


def test_translation_training_logs_cross_attention_images_to_tensorboard(tmp_path):
    from hf_seq2seq_vit.data import TranslationDataModule
    from hf_seq2seq_vit.lightning.attention_images import AttentionImages
    from hf_seq2seq_vit.lightning.translation import TranslationModule

    data = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=100, max_val_examples=8,
                                 tokenizer_vocab_size=300, max_length=32, max_tokens=256)
    module = TranslationModule(d_model=32, encoder_layers=1, decoder_layers=2, attention_heads=4, ffn_dim=64,
                               max_position_embeddings=48, num_beams=1, max_generation_length=8, warmup_steps=5)
    images = fit_one_epoch(module, data, tmp_path, AttentionImages(num_examples=2, max_new_tokens=6))
    assert sorted(images) == ["attention/example_0", "attention/example_1"]
    for events in images.values():
        assert len(events) == 1  # the sanity check is not drawn; the one validation is
        with Image.open(io.BytesIO(events[0].encoded_image_string)) as picture:
            assert picture.format == "PNG" and picture.size[0] >= 100
    assert (tmp_path / "csv" / "version_0" / "metrics.csv").is_file()  # the CSV logger is simply skipped


def test_image_training_logs_rollout_overlays_and_nothing_without_an_image_logger(tmp_path):
    import lightning as L

    from conftest import FIXTURES
    from hf_seq2seq_vit.data.images import ImageDataModule
    from hf_seq2seq_vit.lightning.attention_images import AttentionImages
    from hf_seq2seq_vit.lightning.image_classification import ImageClassificationModule

    def data():
        parquet = str(FIXTURES / "cifar10_tiny.parquet")
        return ImageDataModule(data_files={"train": parquet, "test": parquet}, val_size=20, batch_size=10,
                               num_workers=0, pin_memory=False, auto_augment=None)

    def module():
        return ImageClassificationModule(model_config={
            "image_size": 32, "stem_channels": [16, 32], "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "mlp_ratio": 2.0, "num_labels": 10})

    images = fit_one_epoch(module(), data(), tmp_path, AttentionImages(num_examples=3))
    assert sorted(images) == [f"attention/example_{i}" for i in range(3)]
    with Image.open(io.BytesIO(images["attention/example_0"][0].encoded_image_string)) as picture:
        assert picture.size == (224, 224)  # the 32x32 input, shown at 224 pixels

    callback = AttentionImages(num_examples=3)
    drawn = []
    callback._rollout_pictures = lambda *args: drawn.append(args) or []
    L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=False,
              callbacks=[callback], enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False).fit(module(), datamodule=data())
    assert drawn == []  # no TensorBoard / W&B logger: nothing is computed
    with pytest.raises(ValueError, match="num_examples"):
        AttentionImages(num_examples=0)


def test_rollout_overlays_reach_a_wandb_logger_offline(tmp_path, monkeypatch):
    import lightning as L
    from lightning.pytorch.loggers import WandbLogger

    from conftest import FIXTURES
    from hf_seq2seq_vit.data.images import ImageDataModule
    from hf_seq2seq_vit.lightning.attention_images import AttentionImages
    from hf_seq2seq_vit.lightning.image_classification import ImageClassificationModule

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    parquet = str(FIXTURES / "cifar10_tiny.parquet")
    data = ImageDataModule(data_files={"train": parquet, "test": parquet}, val_size=20, batch_size=10, num_workers=0,
                           pin_memory=False, auto_augment=None)
    module = ImageClassificationModule(model_config={
        "image_size": 32, "stem_channels": [16, 32], "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "mlp_ratio": 2.0, "num_labels": 10})
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="attention-images")
    L.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0,
              logger=logger, callbacks=[AttentionImages(num_examples=2)], enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False).fit(module, datamodule=data)
    logger.experiment.finish()
    media = sorted(tmp_path.glob("wandb/offline-run-*/files/media/images/attention/*.png"))
    assert [path.name.split("_")[:2] for path in media] == [["example", "0"], ["example", "1"]]
    for path in media:
        assert_png(path)
