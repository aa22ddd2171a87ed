"""``TranslationModule``: trains ``Seq2SeqTransformerForConditionalGeneration`` and scores it with sacreBLEU."""

from __future__ import annotations

import contextlib
import math
import platform
import time

import lightning as L
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from torchmetrics import MeanMetric
from transformers import PreTrainedTokenizerFast

from hf_seq2seq_vit.callbacks import TranslationSamplesLogger
from hf_seq2seq_vit.export.contract import TRANSLATION
from hf_seq2seq_vit.lightning.base import TaskModule
from hf_seq2seq_vit.lightning.schedules import build_scheduler
from hf_seq2seq_vit.metrics import CorpusBLEU
from hf_seq2seq_vit.models.seq2seq_transformer import (
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from hf_seq2seq_vit.tokenization import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, UNK_TOKEN

__all__ = ["TranslationModule"]


class TranslationModule(TaskModule):
    """Label-smoothed training, validation loss / perplexity / beam-search sacreBLEU, and an HF-ready checkpoint.

    The model is built from the sizes below (``vocab_size`` defaults to the data module's tokenizer, filled in
    when the Trainer starts) or loaded with ``from_pretrained(pretrained)``. Every argument is a plain number or
    string, so checkpoints load with ``torch.load(weights_only=True)`` and ``load_from_checkpoint`` rebuilds it.

    Args:
        vocab_size: vocabulary size; ``None`` takes ``len(trainer.datamodule.tokenizer)``.
        pretrained: a folder written by ``save_pretrained`` to start from instead of random weights.
        lr: peak learning rate (reached after ``warmup_steps``); ``schedule``: see ``build_scheduler``.
        num_beams, max_generation_length: beam search settings of validation/test BLEU (and of the saved
            ``generation_config``).
        compile: ``torch.compile`` the model (GPU runs).

    Example::

        >>> module = TranslationModule(vocab_size=1000, d_model=32, encoder_layers=2, decoder_layers=2,
        ...                            attention_heads=4, ffn_dim=64)
        >>> next(iter(module.state_dict())).startswith("model.")
        True
    """

    task = TRANSLATION

    def __init__(
        self,
        vocab_size: int | None = None,
        pretrained: str | None = None,
        d_model: int = 256,
        encoder_layers: int = 3,
        decoder_layers: int = 3,
        attention_heads: int = 4,
        ffn_dim: int = 1024,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        normalize_before: bool = False,
        max_position_embeddings: int = 256,
        label_smoothing: float = 0.1,
        lr: float = 5e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 4000,
        schedule: str = "inverse_sqrt",
        num_beams: int = 4,
        max_generation_length: int = 128,
        num_samples: int = 3,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model: Seq2SeqTransformerForConditionalGeneration | None = None
        self.tokenizer: PreTrainedTokenizerFast | None = None
        self.bleu = nn.ModuleDict({"val": CorpusBLEU(), "test": CorpusBLEU()})
        self.nll = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        self.data_info: dict = {}
        self.train_time_s, self._fit_start = 0.0, None
        if vocab_size is not None or pretrained:
            self.configure_model()

    def setup(self, stage: str) -> None:
        self._adopt_datamodule_tokenizer()

    def _adopt_datamodule_tokenizer(self) -> None:
        # Also called from configure_model: callbacks such as Lightning's WeightAveraging build the model in their
        # own setup hook, which the Trainer runs before this module's setup.
        datamodule = getattr(self._trainer, "datamodule", None)
        if getattr(datamodule, "tokenizer", None) is not None:
            self.tokenizer = datamodule.tokenizer
            self.data_info = {"dataset": datamodule.dataset, "src_lang": datamodule.src_lang,
                              "tgt_lang": datamodule.tgt_lang}
            if self.hparams.vocab_size is None and not self.hparams.pretrained:
                self.hparams.vocab_size = len(self.tokenizer)  # saved with the other hyper-parameters

    def configure_model(self) -> None:
        if self.model is None:
            self._adopt_datamodule_tokenizer()
            if self.hparams.pretrained:
                self.model = Seq2SeqTransformerForConditionalGeneration.from_pretrained(self.hparams.pretrained)
                self.model.train()  # from_pretrained returns eval mode, and Lightning keeps modules' modes: dropout on
                self.model.config.label_smoothing = self.hparams.label_smoothing
            else:
                if self.hparams.vocab_size is None:
                    raise ValueError("TranslationModule needs vocab_size, a pretrained folder or a data module "
                                     "with a tokenizer (train with the Trainer and a TranslationDataModule)")
                self.model = Seq2SeqTransformerForConditionalGeneration(self._config())
            if self.hparams.compile:
                self.model.compile()  # compiles in place: state-dict keys stay `model.` + the HF keys
        if self.tokenizer is not None and len(self.tokenizer) > self.model.config.vocab_size:
            raise ValueError(f"The tokenizer has {len(self.tokenizer)} tokens but the model only "
                             f"{self.model.config.vocab_size}; use the tokenizer the model was trained with")

    def _config(self) -> Seq2SeqTransformerConfig:
        h = self.hparams
        return Seq2SeqTransformerConfig(
            vocab_size=h.vocab_size, d_model=h.d_model, encoder_layers=h.encoder_layers,
            decoder_layers=h.decoder_layers, encoder_attention_heads=h.attention_heads,
            decoder_attention_heads=h.attention_heads, encoder_ffn_dim=h.ffn_dim, decoder_ffn_dim=h.ffn_dim,
            dropout=h.dropout, attention_dropout=h.attention_dropout, normalize_before=h.normalize_before,
            max_position_embeddings=h.max_position_embeddings, label_smoothing=h.label_smoothing,
        )

    def configure_callbacks(self):
        return [TranslationSamplesLogger(self.hparams.num_samples)] if self.hparams.num_samples else []

    def _shared_step(self, batch: dict, split: str):
        """Loss for every split; validation/test add perplexity and beam-search BLEU."""
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        tokens = int((batch["labels"] != -100).sum())
        self.log(f"{split}_loss", out.loss, batch_size=tokens, prog_bar=True, sync_dist=split != "train")
        if split == "train":
            return out.loss
        # Perplexity from the plain negative log-likelihood: the label-smoothed loss is not a likelihood.
        nll = F.cross_entropy(out.logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=-100)
        self.nll[split].update(nll, weight=tokens)
        hypotheses = self.translate(batch)
        self.bleu[split].update(hypotheses, batch["tgt_text"])
        self.log(f"{split}_bleu", self.bleu[split], batch_size=len(hypotheses), prog_bar=True)
        return {"loss": out.loss, "hypotheses": hypotheses}

    @torch.no_grad()
    def translate(self, batch: dict) -> list[str]:
        """Beam-search translations of a batch, detokenized (what BLEU scores)."""
        with self._full_parameters():
            ids = self.model.generate(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False,
                num_beams=self.hparams.num_beams, max_length=self.hparams.max_generation_length,
            )
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def _full_parameters(self):
        # Under FSDP the layers hold only their shard; generate() runs outside the wrapped forward, so gather first.
        strategy = self.trainer.strategy if self._trainer is not None else None
        if type(strategy).__name__ == "FSDPStrategy":
            from torch.distributed.fsdp import FullyShardedDataParallel

            return FullyShardedDataParallel.summon_full_params(strategy.model, writeback=False)
        return contextlib.nullcontext()

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._shared_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.translate(batch)

    def _log_perplexity(self, split: str) -> None:
        self.log(f"{split}_ppl", torch.exp(self.nll[split].compute()))
        self.nll[split].reset()

    def on_validation_epoch_end(self):
        self._log_perplexity("val")

    def on_test_epoch_end(self):
        self._log_perplexity("test")

    def configure_optimizers(self):
        h = self.hparams
        # No weight decay on biases and LayerNorm gains (1-D); matrices and embeddings are decayed.
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": h.weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=h.lr, betas=(0.9, 0.98), eps=1e-9, fused=self.device.type == "cuda")
        total = self.trainer.estimated_stepping_batches
        total = int(total) if math.isfinite(total) else 0
        return {"optimizer": optimizer, "lr_scheduler": build_scheduler(optimizer, h.schedule, h.warmup_steps, total)}

    def on_fit_start(self):
        self._fit_start = time.monotonic()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Store what ``save_pretrained`` needs, so a checkpoint exports to a Hugging Face folder on its own."""
        generation = self.model.generation_config
        generation.num_beams, generation.max_length = self.hparams.num_beams, self.hparams.max_generation_length
        checkpoint["hf_task"] = "translation"
        checkpoint["hf_config"] = self.model.config.to_dict()
        checkpoint["hf_generation_config"] = generation.to_dict()
        if self.tokenizer is not None:
            checkpoint["hf_tokenizer"] = {"tokenizer_json": self.tokenizer.backend_tokenizer.to_str(),
                                          "model_max_length": int(self.tokenizer.model_max_length)}
        trainer = self.trainer
        checkpoint["hf_eval_results"] = {
            key: float(value) for key, value in trainer.callback_metrics.items() if key.startswith(("val_", "test_"))
        }
        elapsed = time.monotonic() - self._fit_start if self._fit_start is not None else 0.0
        device = torch.cuda.get_device_name() if self.device.type == "cuda" else (platform.processor() or "cpu")
        checkpoint["hf_train_info"] = {
            **self.data_info, "global_step": int(trainer.global_step), "train_time_s": self.train_time_s + elapsed,
            "hardware": f"{trainer.num_nodes} node(s) x {trainer.num_devices} {self.device.type} ({device})",
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)  # refuses the other task's checkpoint
        self.train_time_s = float(checkpoint.get("hf_train_info", {}).get("train_time_s", 0.0))
        if self.tokenizer is None and "hf_tokenizer" in checkpoint:
            saved = checkpoint["hf_tokenizer"]
            self.tokenizer = PreTrainedTokenizerFast(
                tokenizer_object=Tokenizer.from_str(saved["tokenizer_json"]), model_max_length=saved["model_max_length"],
                pad_token=PAD_TOKEN, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, unk_token=UNK_TOKEN,
                clean_up_tokenization_spaces=False,
            )
