"""``TranslationModule``: trains ``Seq2SeqTransformerForConditionalGeneration`` and scores it with sacreBLEU.

The model, optimizer, schedule, fit timer and checkpoint contract come from :class:`TaskModule`; this module writes
the translation step (label-smoothed loss, perplexity, beam-search BLEU) and what the contract needs of a
translator (its tokenizer and generation settings).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn
from torchmetrics import MeanMetric
from transformers import GenerationConfig, PreTrainedTokenizerFast

from hf_seq2seq_vit.callbacks import TranslationSamplesLogger
from hf_seq2seq_vit.export.contract import TRANSLATION, CheckpointContract, TokenizerRecord
from hf_seq2seq_vit.lightning.base import TaskModule
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
    The training arguments (``pretrained``, ``lr``, ``weight_decay``, ``betas``, ``eps``, ``scheduler``,
    ``warmup_steps``, ``label_smoothing``, ``compile``) are :class:`TaskModule`'s, with the paper's defaults here
    (AdamW betas 0.9/0.98, eps 1e-9, 4,000 warm-up steps, inverse square root decay).

    Args:
        vocab_size: vocabulary size; ``None`` takes ``len(trainer.datamodule.tokenizer)``.
        num_beams, max_generation_length, early_stopping: beam search settings of validation/test BLEU (and of
            the saved ``generation_config``). ``early_stopping=True`` (as BART, mBART and Pegasus ship) ends a beam
            search when ``num_beams`` hypotheses are finished, the rule CTranslate2 implements, so an export to
            CTranslate2 translates as the torch model does; ``False`` is transformers' default (keep searching while
            a running beam could still beat a finished one).
        num_samples: validation translations shown after each validation (``TranslationSamplesLogger``).

    Example::

        >>> module = TranslationModule(vocab_size=1000, d_model=32, encoder_layers=2, decoder_layers=2,
        ...                            attention_heads=4, ffn_dim=64)
        >>> next(iter(module.state_dict())).startswith("model.")
        True
    """

    task = TRANSLATION
    model_class = Seq2SeqTransformerForConditionalGeneration

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
        betas: tuple[float, float] = (0.9, 0.98),
        eps: float = 1e-9,
        warmup_steps: int | float = 4000,
        scheduler: str = "inverse_sqrt",
        num_beams: int = 4,
        max_generation_length: int = 128,
        early_stopping: bool = True,
        num_samples: int = 3,
        compile: bool = False,
    ):
        super().__init__(pretrained=pretrained, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps,
                         scheduler=scheduler, warmup_steps=warmup_steps, label_smoothing=label_smoothing,
                         compile=compile)
        self.tokenizer: PreTrainedTokenizerFast | None = None
        self.bleu = nn.ModuleDict({"val": CorpusBLEU(), "test": CorpusBLEU()})
        self.nll = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        self._data_info: dict = {}
        self._predicted = 0
        if vocab_size is not None or pretrained:
            self.build_model()

    # -- the model ---------------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        self._adopt_datamodule_tokenizer()

    def _adopt_datamodule_tokenizer(self) -> None:
        # Also called from configure_model: callbacks such as Lightning's WeightAveraging build the model in their
        # own setup hook, which the Trainer runs before this module's setup.
        datamodule = getattr(self._trainer, "datamodule", None)
        if getattr(datamodule, "tokenizer", None) is not None:
            self.tokenizer = datamodule.tokenizer
            self._data_info = {"dataset": datamodule.dataset, "src_lang": datamodule.src_lang,
                               "tgt_lang": datamodule.tgt_lang}
            if self.hparams.vocab_size is None and not self.hparams.pretrained:
                self.hparams.vocab_size = len(self.tokenizer)  # saved with the other hyper-parameters

    def configure_model(self) -> None:
        if self.model is None:
            self._adopt_datamodule_tokenizer()
            self.build_model()
        if self.tokenizer is not None and len(self.tokenizer) > self.model.config.vocab_size:
            raise ValueError(f"The tokenizer has {len(self.tokenizer)} tokens but the model only "
                             f"{self.model.config.vocab_size}; use the tokenizer the model was trained with")

    def build_config(self) -> Seq2SeqTransformerConfig:
        h = self.hparams
        if h.vocab_size is None:
            raise ValueError("TranslationModule needs vocab_size, a pretrained folder or a data module "
                             "with a tokenizer (train with the Trainer and a TranslationDataModule)")
        return Seq2SeqTransformerConfig(
            vocab_size=h.vocab_size, d_model=h.d_model, encoder_layers=h.encoder_layers,
            decoder_layers=h.decoder_layers, encoder_attention_heads=h.attention_heads,
            decoder_attention_heads=h.attention_heads, encoder_ffn_dim=h.ffn_dim, decoder_ffn_dim=h.ffn_dim,
            dropout=h.dropout, attention_dropout=h.attention_dropout, normalize_before=h.normalize_before,
            max_position_embeddings=h.max_position_embeddings, label_smoothing=h.label_smoothing,
        )

    def load_pretrained(self, path: str) -> Seq2SeqTransformerForConditionalGeneration:
        model = super().load_pretrained(path)
        model.config.label_smoothing = self.hparams.label_smoothing
        return model

    def configure_callbacks(self):
        return [TranslationSamplesLogger(self.hparams.num_samples)] if self.hparams.num_samples else []

    # -- steps -------------------------------------------------------------------------------------------------------
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
                **self._beam_stopping(),
            )
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def _beam_stopping(self) -> dict[str, Any]:
        # Only beam search has a stopping rule (transformers refuses to save the flag without beams); older
        # checkpoints' hyper-parameters lack it and get the default.
        if self.hparams.num_beams > 1:
            return {"early_stopping": self.hparams.get("early_stopping", True)}
        return {}

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

    def on_predict_epoch_start(self) -> None:
        self._predicted = 0

    def predict_step(self, batch, batch_idx) -> dict[str, list]:
        """``{"index": [...], "translation": [...]}``: ``index`` is each sentence's position in the input."""
        translations = self.translate(batch)
        # An empty (or blank) line encodes to special tokens only: its translation is an empty line, not whatever
        # the model says about nothing (the pipeline and the command line do the same).
        specials = torch.tensor(self.tokenizer.all_special_ids, device=batch["input_ids"].device)
        content = ~torch.isin(batch["input_ids"], specials) & batch["attention_mask"].bool()
        translations = [text if has_content else "" for text, has_content in zip(translations, content.any(dim=1))]
        if "index" in batch:
            index = batch["index"].tolist()
        else:  # a loader without positions (e.g. the test split): number the sentences in the order they come
            index = list(range(self._predicted, self._predicted + len(translations)))
        self._predicted += len(translations)
        return {"index": index, "translation": translations}

    def _log_perplexity(self, split: str) -> None:
        self.log(f"{split}_ppl", torch.exp(self.nll[split].compute()))
        self.nll[split].reset()

    def on_validation_epoch_end(self):
        self._log_perplexity("val")

    def on_test_epoch_end(self):
        self._log_perplexity("test")

    # -- the checkpoint contract -------------------------------------------------------------------------------------
    def data_info(self) -> dict[str, Any]:
        return dict(self._data_info)

    def contract_extras(self) -> dict[str, Any]:
        generation = GenerationConfig.from_dict(self.model.generation_config.to_dict())
        generation.num_beams, generation.max_length = self.hparams.num_beams, self.hparams.max_generation_length
        generation.update(**self._beam_stopping())
        tokenizer = None
        if self.tokenizer is not None:
            tokenizer = TokenizerRecord(self.tokenizer.backend_tokenizer.to_str(),
                                        int(self.tokenizer.model_max_length))
        return {"generation_config": generation.to_dict(), "tokenizer": tokenizer}

    def restore_contract(self, contract: CheckpointContract) -> None:
        if self.tokenizer is None and contract.tokenizer is not None:
            self.tokenizer = PreTrainedTokenizerFast(
                tokenizer_object=Tokenizer.from_str(contract.tokenizer.tokenizer_json),
                model_max_length=contract.tokenizer.model_max_length,
                pad_token=PAD_TOKEN, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, unk_token=UNK_TOKEN,
                clean_up_tokenization_spaces=False,
            )
