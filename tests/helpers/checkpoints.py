"""Build small Lightning-style checkpoints that follow the checkpoint contract, for export tests.

A checkpoint is what ``trainer.save_checkpoint`` writes for TranslationModule / ImageClassificationModule:
``state_dict`` with ``model.<HF keys>`` (image runs may add ``ema.<HF keys>``), the ``hf_*`` entries written by
:class:`hf_seq2seq_vit.export.CheckpointContract` (as the LightningModules write them) and Lightning's own
entries. Built here directly so export tests need neither training nor the Lightning modules. Checkpoints written
by real training before the contract existed are kept in ``tests/fixtures/legacy_checkpoints/``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hf_seq2seq_vit.export import CheckpointContract, TokenizerRecord, TrainInfo

CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SAMPLE_SENTENCES = ["A man is riding a bicycle.", "Two dogs are playing in the snow.", "A woman sings on a stage."]


def _lightning_entries(global_step: int) -> dict:
    return {
        "epoch": 1,
        "global_step": global_step,
        "pytorch-lightning_version": "2.6.6",
        "loops": {},
        "callbacks": {},
        "optimizer_states": [],
        "lr_schedulers": [],
    }


def make_translation_checkpoint(path: Path, tokenizer, eval_results: dict | None = None, seed: int = 0,
                                **config_overrides):
    """Save a translation checkpoint of a random tiny model; returns the model (eval mode) it holds.

    ``init_std=0.3`` makes the random model's translations depend on the input, so that equality checks between
    two ways of translating mean something.
    """
    from hf_seq2seq_vit import Seq2SeqTransformerConfig, Seq2SeqTransformerForConditionalGeneration

    sizes = dict(vocab_size=len(tokenizer), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                 decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                 dropout=0.0, init_std=0.3)
    sizes.update(config_overrides)
    torch.manual_seed(seed)
    model = Seq2SeqTransformerForConditionalGeneration(Seq2SeqTransformerConfig(**sizes)).eval()
    checkpoint = {
        **_lightning_entries(global_step=120),
        "state_dict": {f"model.{key}": value for key, value in model.state_dict().items()},
        "hyper_parameters": {"learning_rate": 0.0005, "warmup_steps": 40, "label_smoothing": 0.1,
                             "batch_size": 32, "optimizer": {"name": "AdamW", "betas": [0.9, 0.98]}},
    }
    CheckpointContract(
        task="translation",
        model_config=model.config.to_dict(),
        generation_config={"num_beams": 3, "max_length": 24, "decoder_start_token_id": 1},
        tokenizer=TokenizerRecord(tokenizer.backend_tokenizer.to_str(), model_max_length=64),
        eval_results={} if eval_results is None else eval_results,
        train_info=TrainInfo(dataset="multi30k", src_lang="en", tgt_lang="de", global_step=120, train_time_s=75.25,
                             hardware="CPU (2 cores)"),
    ).write(checkpoint)
    torch.save(checkpoint, path)
    return model


def make_image_checkpoint(path: Path, eval_results: dict | None = None, ema: bool = True, seed: int = 0):
    """Save an image-classification checkpoint; returns ``(model_with_checkpoint_weights, raw_model)``.

    With ``ema=True`` the state_dict also holds ``ema.<keys>`` weights that differ from ``model.<keys>``: an export
    must use them, so the first returned model carries the EMA weights.
    """
    from hf_seq2seq_vit import ConvViTConfig, ConvViTForImageClassification, ConvViTImageProcessor

    config = ConvViTConfig(image_size=32, stem_channels=[8, 16], hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, mlp_ratio=2.0, num_labels=10,
                           id2label=dict(enumerate(CIFAR10_LABELS)),
                           label2id={label: index for index, label in enumerate(CIFAR10_LABELS)})
    torch.manual_seed(seed)
    raw = ConvViTForImageClassification(config).eval()
    state_dict = {f"model.{key}": value for key, value in raw.state_dict().items()}
    exported = raw
    if ema:
        exported = ConvViTForImageClassification(config).eval()
        with torch.no_grad():
            for (name, param), raw_param in zip(exported.state_dict().items(), raw.state_dict().values()):
                if param.is_floating_point():
                    param.copy_(raw_param + 0.05 * torch.randn_like(raw_param))
        state_dict.update({f"ema.{key}": value for key, value in exported.state_dict().items()})
    processor = ConvViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32},
                                      image_mean=[0.49, 0.48, 0.45], image_std=[0.25, 0.24, 0.26])
    checkpoint = {
        **_lightning_entries(global_step=300),
        "state_dict": state_dict,
        "hyper_parameters": {"learning_rate": 0.001, "weight_decay": 0.05, "ema_decay": 0.999},
    }
    CheckpointContract(
        task="image-classification",
        model_config=config.to_dict(),
        weights_prefix="ema." if ema else "model.",
        image_processor=processor.to_dict(),
        eval_results={} if eval_results is None else eval_results,
        train_info=TrainInfo(dataset="cifar10", global_step=300, train_time_s=3725.0, hardware="1x NVIDIA H200"),
    ).write(checkpoint)
    torch.save(checkpoint, path)
    return exported, raw
