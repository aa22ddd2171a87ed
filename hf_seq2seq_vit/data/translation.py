"""``TranslationDataModule``: parallel text in, token-budget batches of ``input_ids`` / ``labels`` out.

Where the text comes from (``dataset=``):

- ``"bundled:multi30k"`` (default): the Multi30k files shipped in the package, found relative to the package so
  the configs work from any checkout or install. Splits train / val / test_2016_flickr (``test_split`` picks
  ``test_2017_flickr``).
- ``"bundled:tatoeba-ko-en"``: the full Tatoeba Korean–English export of 2026-05-13 (11,443 pairs, sentence ids
  kept as ``kor_id`` / ``eng_id``), split by connected group (pairs sharing a Korean or an English sentence stay in
  one split; ``hf_seq2seq_vit.data.korean``): ``val_size`` / ``test_size`` held-out pairs, groups shuffled with
  ``split_seed``.
- ``"bundled:tatoeba-ko-en-2025"``: the older 3,798-pair ManyThings TSV that results before 2026-12 used, shuffled
  by row with ``split_seed`` and cut into ``val_size`` / ``test_size`` held-out pairs (kept to reproduce them).
- ``"bundled:stylekqc-ko-en"``: StyleKQC Korean × kosp2e English, split by paraphrase group through the
  ``kosp2e_split`` meta column (rows of one group never straddle splits).
- ``"bundled:ko-en-mixed"``: both Korean corpora, split as above and concatenated split by split.
- a local folder of line-parallel files ``{split}.{lang}[.gz]`` (like the Multi30k folder);
- a local TSV / CSV / JSONL / parquet file (or ``data_files={"train": ..., "validation": ...}``) with one column
  per language (or a ``translation`` column of ``{lang: text}``; ``columns=`` names header-less TSV columns);
- anything else is a Hugging Face Hub dataset loaded with ``datasets.load_dataset(dataset, dataset_config)``,
  e.g. ``bentrevett/multi30k`` or ``wmt14`` + ``de-en`` (needs the internet once; cached afterwards).

Scale (#19): tokenization runs through ``datasets.map(batched=True, num_proc=num_proc)`` with a fingerprint made
of the text's fingerprint, the tokenizer and ``max_length``, so a second run (or the other DDP ranks) loads the
Arrow cache instead of tokenizing again; a source that ``datasets`` keeps in memory (bundled and line-parallel
files) is cached under ``cache_dir`` when one is given. The cache holds ``input_ids`` / ``labels`` as Arrow lists of
``uint16`` (``int32`` past 65,536 tokens) and ``length``; training pairs over ``max_length`` are dropped while
tokenizing, and a batch is read as one Arrow table and padded from flat arrays (``_PairEncoder``,
``_ArrowBatches``): no Python object per token on either side. Token lengths are kept as a numpy column
(memory-mapped from a ``.npy`` beside an Arrow cache), which the batch sampler works from; a training split of
more than ``batching.POOL_SIZE`` pairs is tokenized in an order of shuffled blocks of consecutive rows and batched
pool by pool (1M consecutive rows at a time), so that an epoch reads the cache with locality instead of one random
row per page. Pages of the
Arrow files that a pass has read are handed back whenever they pass a budget (``streaming.MappedPageBudget``), so a
process's resident memory does not grow with the corpus. Held-out splits are index mappings written without the
Python list of one int per row that ``Dataset.select`` builds (``_select_rows``). With ``train_shards`` the training
split is written as Arrow shards under ``shard_dir`` and each DDP rank memory-maps only its own
(``hf_seq2seq_vit.data.streaming``): the path for corpora larger than memory, e.g. WMT14 (``configs/wmt14_en_de.yaml``).

What is cheap to check is checked in ``__init__`` (files exist, languages present, limits valid), so a bad config
fails when the CLI builds the objects; the text is read and tokenized in ``setup()`` (and the tokenizer trained in
``prepare_data()`` when ``tokenizer_dir`` names a folder to save it in).

For ``predict``, ``predict_path`` names a UTF-8 text file (``.gz`` allowed) with one source sentence per line; empty
lines stay (their translation is empty) and each batch carries ``index``, the line's position in the file.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import zlib
from pathlib import Path
from typing import Any

import datasets
import lightning as L
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets.fingerprint import Hasher
from datasets.table import InMemoryTable, MemoryMappedTable
from tokenizers import Tokenizer
from torch.utils.data import DataLoader
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerFast

from hf_seq2seq_vit.data.batching import POOL_SIZE, TokenBudgetBatchSampler, as_length_array
from hf_seq2seq_vit.data.streaming import MappedPageBudget, ShardedCorpus, release_mapped_pages, write_token_shards
from hf_seq2seq_vit.data.korean import TATOEBA_FILE, read_tatoeba_pairs, split_by_group
from hf_seq2seq_vit.tokenization import (load_tokenizer, read_corpus_lines, train_separate_vocab_tokenizer,
                                         train_translation_tokenizers)

logger = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"
BUNDLED_DATASETS = ("bundled:multi30k", "bundled:tatoeba-ko-en", "bundled:tatoeba-ko-en-2025", "bundled:stylekqc-ko-en",
                    "bundled:ko-en-mixed")
BUNDLED_LANGUAGES = {"bundled:tatoeba-ko-en": ["en", "ko"], "bundled:tatoeba-ko-en-2025": ["en", "ko"],
                     "bundled:stylekqc-ko-en": ["en", "ko"], "bundled:ko-en-mixed": ["en", "ko"]}
TABLE_BUILDERS = {".tsv": "csv", ".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
VAL_SPLIT_NAMES = ("validation", "valid", "val", "dev")
SPLITS = ("train", "validation", "test")
STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",), "predict": ()}

__all__ = ["BUNDLED_DATASETS", "TranslationDataModule", "check_example_limit", "load_parallel_text"]


def check_example_limit(name: str, value: int | None) -> None:
    """Refuse a ``max_*_examples`` limit that is not ``None`` or an int >= 1, naming the argument."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}={value!r} is invalid: give an int >= 1 (keep that many examples) or null (keep all)")


class TranslationDataModule(L.LightningDataModule):
    """Load parallel text, train or load the tokenizer, tokenize with ``datasets.map`` and batch by token count.

    Args:
        dataset: where the text comes from (see the module docstring).
        src_lang, tgt_lang: the column / file-suffix names of the two languages, e.g. ``en`` and ``de``.
        dataset_config: the Hub dataset's configuration name (``de-en`` for ``wmt14``).
        data_files: split name -> local table file, instead of ``dataset``.
        columns: column names of header-less TSV/CSV files, e.g. ``[en, ko, attribution]``.
        train_split, val_split, test_split: the source's split names (file stems for a folder);
            ``None`` finds ``validation``/``val``/``dev`` and ``test``.
        val_size, test_size: pairs held out from a shuffled train split when the source has no such split.
        split_seed: seed of that hold-out shuffle (kept apart from ``seed`` so test sets stay put across runs).
        max_train_examples, max_val_examples, max_test_examples: keep only the first N pairs of that split
            (quick runs); ``None`` keeps all.
        predict_path: a text file (``.gz`` allowed), one source sentence per line, for ``predict``; without it,
            ``predict`` translates the test split.
        tokenizer_dir: a saved tokenizer folder to load; if it does not exist, the trained tokenizer is saved there.
        tokenizer_train_size: train the tokenizer on this many training pairs drawn with ``split_seed`` (``None``:
            all of them; a corpus of millions needs a sample, e.g. 1,000,000 for WMT14).
        tokenizer_vocab_size, tokenizer_model: size and kind (``bpe``/``unigram``) of the tokenizer trained otherwise.
            An int is one joint vocabulary learned on both sides; a mapping language -> size (``{ko: 4000, en: 2000}``)
            learns each language's vocabulary on its own side with its own budget and merges them into one
            tokenizer (``train_separate_vocab_tokenizer``), so Korean's thousand-plus syllables do not eat English's
            share. Either way one ``tokenizer.json`` is saved with the model and nothing else is needed to decode.
        max_length: training pairs with more tokens on either side are dropped (count logged); eval sources cut.
        max_tokens: padded tokens per batch and side; ``eval_max_tokens`` for validation/test/predict (default the same).
        max_sentences: optional cap on the pairs in one batch.
        seed: seed of the per-epoch batch shuffle.
        num_workers: DataLoader worker processes.
        num_proc: processes that tokenize (``datasets.map``); ``None`` tokenizes in this process.
        cache_dir: where ``datasets`` keeps Arrow files of loaded tables / Hub data and of tokenized in-memory
            sources (default: the ``datasets`` cache, and no cache for in-memory sources).
        train_shards, shard_dir: write the tokenized training split as ``train_shards`` Arrow shards in
            ``shard_dir`` (once; reused while the data and tokenizer are unchanged) and give each DDP rank only
            its shards ``rank::world_size`` (a multiple of the number of GPUs; see ``data.streaming``).

    Example::

        >>> dm = TranslationDataModule("bundled:multi30k", "en", "de", tokenizer_vocab_size=1000, max_train_examples=500)
        >>> dm.setup("fit")
        >>> batch = next(iter(dm.train_dataloader()))
        >>> batch["input_ids"].numel() <= dm.max_tokens
        True
    """

    # prepare_data (tokenizer training, shards) on global rank 0 only: on a cluster every node sees the same
    # tokenizer_dir / shard_dir on the shared filesystem, and two nodes writing them at once would collide.
    prepare_data_per_node = False

    def __init__(
        self,
        dataset: str = "bundled:multi30k",
        src_lang: str = "en",
        tgt_lang: str = "de",
        dataset_config: str | None = None,
        data_files: dict[str, str] | None = None,
        columns: list[str] | None = None,
        train_split: str = "train",
        val_split: str | None = None,
        test_split: str | None = None,
        val_size: int = 500,
        test_size: int = 500,
        split_seed: int = 0,
        max_train_examples: int | None = None,
        max_val_examples: int | None = None,
        max_test_examples: int | None = None,
        predict_path: str | None = None,
        tokenizer_dir: str | None = None,
        tokenizer_train_size: int | None = None,
        tokenizer_vocab_size: int | dict[str, int] = 8000,
        tokenizer_model: str = "bpe",
        max_length: int = 128,
        max_tokens: int = 4096,
        eval_max_tokens: int | None = None,
        max_sentences: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        num_proc: int | None = None,
        cache_dir: str | None = None,
        train_shards: int | None = None,
        shard_dir: str | None = None,
    ):
        super().__init__()
        if src_lang == tgt_lang:
            raise ValueError(f"src_lang and tgt_lang are both {src_lang!r}; pick two different languages")
        if max_length > max_tokens:
            raise ValueError(f"max_length={max_length} exceeds max_tokens={max_tokens}: one pair would not fit a batch")
        for name, value in (("max_train_examples", max_train_examples), ("max_val_examples", max_val_examples),
                            ("max_test_examples", max_test_examples)):
            check_example_limit(name, value)
        check_example_limit("tokenizer_train_size", tokenizer_train_size)
        if num_proc is not None and (isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1):
            raise ValueError(f"num_proc={num_proc!r} is invalid: give an int >= 1 (tokenizing processes) or null")
        if train_shards is not None:
            if isinstance(train_shards, bool) or not isinstance(train_shards, int) or train_shards < 1:
                raise ValueError(f"train_shards={train_shards!r} is invalid: give an int >= 1, a multiple of the "
                                 "number of GPUs, or null (no shards)")
            if not shard_dir:
                raise ValueError("train_shards is set but shard_dir is not: name a folder to write the shards to")
        if isinstance(tokenizer_vocab_size, dict) and set(tokenizer_vocab_size) != {src_lang, tgt_lang}:
            raise ValueError(f"tokenizer_vocab_size={tokenizer_vocab_size!r}: a per-language vocabulary needs one size "
                             f"for each of {src_lang!r} and {tgt_lang!r}, e.g. {{{src_lang!r}: 4000, {tgt_lang!r}: 2000}}; "
                             "or give one int for a joint vocabulary")
        if predict_path is not None and not os.path.isfile(predict_path):
            raise FileNotFoundError(f"predict_path={predict_path!r} is not a file (working directory {os.getcwd()}); "
                                    "give a text file with one sentence per line")
        self.save_hyperparameters()
        self.dataset, self.src_lang, self.tgt_lang = dataset, src_lang, tgt_lang
        self.dataset_config, self.data_files, self.split_seed = dataset_config, data_files, split_seed
        self.val_size, self.test_size, self.predict_path = val_size, test_size, predict_path
        self.max_train_examples, self.max_val_examples = max_train_examples, max_val_examples
        self.max_test_examples, self.num_workers, self.seed = max_test_examples, num_workers, seed
        self.max_length, self.max_tokens = max_length, max_tokens
        self.eval_max_tokens = eval_max_tokens or max_tokens
        # Cheap checks now (paths, folder listings, table headers); the text itself is read in setup().
        check_parallel_source(dataset, src_lang, tgt_lang, data_files=data_files, columns=columns)
        self.raw: datasets.DatasetDict | None = None
        self.tokenizer: PreTrainedTokenizerFast | None = None
        self.datasets: dict[str, datasets.Dataset] = {}
        # The sentences predicted, in input order (the predict file's lines, or the test split's sources), for a
        # prediction writer that puts each source beside its translation.
        self.predict_inputs: list[str] = []
        self.num_filtered = 0
        # Token lengths per split (numpy, memory-mapped where an Arrow cache backs the split), for the sampler.
        self.lengths: dict[str, np.ndarray] = {}
        self._batches_per_epoch: int | None = None  # sharded training: the most batches of any rank
        self._resume: dict[str, int] | None = None

    @property
    def dataset_name(self) -> str:
        """What the data is, for checkpoints and model cards (the same property as ``ImageDataModule``'s)."""
        if self.data_files:
            return ", ".join(f"{split}={path}" for split, path in self.data_files.items())
        return self.dataset + (f"/{self.dataset_config}" if self.dataset_config else "")

    @property
    def vocab_size(self) -> int:
        """Size of the (joint) vocabulary the model must have."""
        if self.tokenizer is None:
            raise RuntimeError("TranslationDataModule has no tokenizer yet; call setup() (the Trainer does) first")
        return len(self.tokenizer)

    def prepare_data(self) -> None:
        """Train the tokenizer once and save it to ``tokenizer_dir`` (the Trainer runs this on one process only)."""
        tokenizer_dir = self.hparams.tokenizer_dir
        if tokenizer_dir and not os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")):
            self._ensure_tokenizer()
            self.tokenizer.save_pretrained(tokenizer_dir)
        if self.hparams.train_shards:  # tokenize and shard once, before the ranks open their shards in setup()
            self._sharded_train(write=True)

    def setup(self, stage: str | None = None) -> None:
        """Read the splits ``stage`` needs (all for ``None``), load or train the tokenizer, tokenize."""
        predicting = stage == "predict" and self.predict_path is not None
        if not predicting:
            self._load_raw()
        self._ensure_tokenizer()
        needed = SPLITS if stage is None else STAGE_SPLITS.get(stage, SPLITS)
        if stage == "predict" and self.predict_path is None:
            needed = ("test",)
            self.predict_inputs = list(self.raw["test"][self.src_lang]) if "test" in self.raw else []
        for split in needed:
            if split == "train" and self.hparams.train_shards and "train" not in self.datasets:
                self._sharded_train(write=self._replicas()[0] == 1)
            elif split not in self.datasets and split in self.raw:
                self.datasets[split] = self._tokenize(split)
        if predicting and "predict" not in self.datasets:
            self.datasets["predict"] = self._predict_dataset()

    def train_dataloader(self) -> DataLoader:
        sampler = self._sampler("train", self.max_tokens, shuffle=True)
        if self._resume is not None:
            sampler.resume(self._resume["epoch"], self._resume["batches_done"])
            self._resume = None
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", self._sampler("validation", self.eval_max_tokens, shuffle=False))

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self._sampler("test", self.eval_max_tokens, shuffle=False))

    def predict_dataloader(self) -> DataLoader:
        """Length-bucketed batches of ``input_ids``, ``attention_mask``, ``index`` (position in the input), ``src_text``.

        The batches come sorted by length, not in input order; ``index`` lets a prediction writer put them back.
        """
        split = "predict" if self.predict_path is not None else "test"
        return self._loader(split, self._sampler(split, self.eval_max_tokens, shuffle=False), with_index=True)

    def state_dict(self) -> dict[str, Any]:
        # Where the epoch stood when the checkpoint was written, so a resumed run continues with the next batch
        # instead of replaying the epoch from its start.
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return {}
        # Batches whose step is done: the same as batch_idx + 1 for a checkpoint written after a batch, and right
        # too for one written from inside a batch (SLURM's SIGUSR1 handler saves wherever the signal lands).
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": trainer.current_epoch, "batches_done": done}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = dict(state_dict) if state_dict else None

    # ----------------------------------------------------------------------------------------------------------------
    def _load_raw(self) -> datasets.DatasetDict:
        if self.raw is None:
            h = self.hparams
            raw = load_parallel_text(
                self.dataset, self.src_lang, self.tgt_lang, dataset_config=h.dataset_config, data_files=h.data_files,
                columns=h.columns, train_split=h.train_split, val_split=h.val_split, test_split=h.test_split,
                val_size=h.val_size, test_size=h.test_size, split_seed=h.split_seed, cache_dir=h.cache_dir,
            )
            limits = {"train": h.max_train_examples, "validation": h.max_val_examples, "test": h.max_test_examples}
            for split, limit in limits.items():
                if limit is not None and split in raw and len(raw[split]) > limit:
                    raw[split] = raw[split].select(range(limit))
            # The blank-pair filter read every text once: its pages need not stay in this process (see
            # release_mapped_pages); the tokenizing processes read the text again where they need it.
            release_mapped_pages(_files(*raw.values()))
            _release_arrow_pool()
            self.raw = raw
        return self.raw

    def _ensure_tokenizer(self) -> PreTrainedTokenizerFast:
        if self.tokenizer is None:
            tokenizer_dir = self.hparams.tokenizer_dir
            if tokenizer_dir and os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")):
                self.tokenizer = load_tokenizer(tokenizer_dir)
            else:
                train = self._load_raw()["train"]
                sample = self.hparams.tokenizer_train_size
                if sample is not None and sample < len(train):
                    # A random sample (its rows sorted, so they are read in file order) learns nearly the merges
                    # that millions of pairs would, at a fraction of the time and memory.
                    rows = np.random.default_rng(self.split_seed).choice(len(train), sample, replace=False)
                    train = train.select(np.sort(rows))
                vocab_size = self.hparams.tokenizer_vocab_size
                if isinstance(vocab_size, dict):
                    self.tokenizer = train_separate_vocab_tokenizer(
                        {lang: train[lang] for lang in (self.src_lang, self.tgt_lang)}, dict(vocab_size),
                        model=self.hparams.tokenizer_model, model_max_length=self.max_length)
                else:
                    self.tokenizer, _ = train_translation_tokenizers(
                        train[self.src_lang], train[self.tgt_lang], vocab_size=vocab_size,
                        model=self.hparams.tokenizer_model, model_max_length=self.max_length,
                    )
        return self.tokenizer

    def _tokenize(self, split: str) -> datasets.Dataset:
        """Tokenize a split through ``datasets.map`` (cached), keep its lengths, drop over-long training pairs."""
        raw, training = self.raw[split], split == "train"
        if training and len(raw) > POOL_SIZE:
            # The sampler plans a corpus this large pool by pool (consecutive rows of the cache): written in an
            # order of shuffled blocks, each pool is a random sample of the corpus's blocks whatever order the file
            # came in, while the tokenizer reads the text a block of consecutive rows at a time.
            raw = _select_rows(raw, _shuffled_blocks(raw, self.split_seed), f"blocks-{self.split_seed}")
        encode = _PairEncoder(self.tokenizer, self.src_lang, self.tgt_lang, self.max_length, training,
                              text_files=_files(raw))
        fingerprint = self._tokenized_fingerprint(raw, training)
        # datasets warns (and starts idle processes) when there are fewer rows than processes.
        num_proc = min(self.hparams.num_proc or 1, max(1, len(raw) // 1000))
        options: dict[str, Any] = dict(batched=True, num_proc=num_proc if num_proc > 1 else None,
                                       new_fingerprint=fingerprint, desc=f"Tokenizing {split}")
        if not raw.cache_files and self.hparams.cache_dir:  # in memory: datasets would not cache it by itself
            os.makedirs(self.hparams.cache_dir, exist_ok=True)
            options["cache_file_name"] = os.path.join(self.hparams.cache_dir, f"tokenized-{fingerprint}.arrow")
        # Arrow in, Arrow out: the text reaches the tokenizer without a row of Python dicts, and the ids leave it as
        # one flat numpy array per batch (see _PairEncoder); the over-long training pairs are dropped right there,
        # so the cache holds only the rows that are trained on and needs no index mapping.
        dataset = raw.with_format("arrow").map(encode, **options).with_format(None)
        lengths = _length_column(dataset, fingerprint)
        release_mapped_pages(_files(raw, dataset))
        _release_arrow_pool()
        if training:
            self.num_filtered = len(raw) - len(dataset)
            logger.info("Dropped %d of %d training pairs longer than max_length=%d tokens; %d remain",
                        self.num_filtered, len(raw), self.max_length, len(dataset))
            if len(dataset) == 0:
                raise ValueError(f"No training pair has at most max_length={self.max_length} tokens; raise max_length")
        self.lengths[split] = lengths
        return dataset

    def _tokenized_fingerprint(self, raw: datasets.Dataset, training: bool) -> str:
        # The text's fingerprint (datasets: the source files, or the content of an in-memory table) and what the
        # tokenization depends on. The tokenizer enters as its JSON without the truncation/padding state that
        # each call leaves behind (hashing the object itself would change after its first use).
        state = json.loads(self.tokenizer.backend_tokenizer.to_str())
        state["truncation"] = state["padding"] = None
        return Hasher.hash([TOKENIZED_FORMAT, raw._fingerprint, state, self.src_lang, self.tgt_lang,
                            self.max_length, training])

    def _sharded_train(self, write: bool) -> None:
        """Open this rank's training shards (writing them first when ``write`` and they are missing or stale)."""
        h = self.hparams
        self._load_raw()
        self._ensure_tokenizer()
        fingerprint = self._tokenized_fingerprint(self.raw["train"], training=True) + f"-{h.train_shards}-shards"
        corpus = ShardedCorpus(h.shard_dir, fingerprint)
        if not corpus.is_current:
            if not write:
                raise RuntimeError(f"shard_dir={h.shard_dir!r} holds no finished shards of this data and tokenizer; "
                                   "prepare_data() writes them (the Trainer runs it before setup on each node)")
            dataset = self._tokenize("train")
            write_token_shards(dataset, self.lengths["train"], h.shard_dir, h.train_shards, fingerprint)
            corpus = ShardedCorpus(h.shard_dir, fingerprint)
        world_size, rank = self._replicas()
        self.datasets["train"], self.lengths["train"] = corpus.open(rank, world_size)
        logger.info("Rank %d of %d reads the training shards %s of %s (%d pairs)", rank, world_size,
                    [path.name for path in corpus.shard_files(rank, world_size)], h.shard_dir,
                    len(self.datasets["train"]))
        self._batches_per_epoch = corpus.batches_per_epoch(world_size, self.max_tokens, h.max_sentences)

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _predict_dataset(self) -> list[dict[str, Any]]:
        lines = read_corpus_lines(self.predict_path)
        if not lines:
            raise ValueError(f"predict_path={self.predict_path!r} is empty; give one sentence per line")
        self.predict_inputs = lines
        encoded = self.tokenizer(lines, truncation=True, max_length=self.max_length)
        return [{"index": index, "input_ids": ids, "attention_mask": mask, "src_text": text, "length": len(ids)}
                for index, (ids, mask, text) in enumerate(zip(encoded["input_ids"], encoded["attention_mask"], lines))]

    def _sampler(self, split: str, max_tokens: int, shuffle: bool) -> TokenBudgetBatchSampler:
        if split not in self.datasets and self.raw is not None and split in self.raw:
            self.datasets[split] = self._tokenize(split)  # set up for another stage (e.g. test after fit)
        if split not in self.datasets:
            raise ValueError(f"The data has no {split!r} split (it has {sorted(self.datasets)}); see the split options")
        replicas, rank = self._replicas()
        lengths = self.lengths[split] if split != "predict" else [e["length"] for e in self.datasets[split]]
        num_batches = None
        if split == "train" and self._batches_per_epoch is not None:
            # Sharded: the rows are this rank's already; every rank cuts as many batches as the fullest rank.
            replicas, rank, num_batches = 1, 0, self._batches_per_epoch
        return TokenBudgetBatchSampler(lengths, max_tokens, shuffle=shuffle, seed=self.seed, num_replicas=replicas,
                                       rank=rank, max_sentences=self.hparams.max_sentences, num_batches=num_batches,
                                       pool_size=POOL_SIZE)

    def _loader(self, split: str, sampler: TokenBudgetBatchSampler, with_index: bool = False) -> DataLoader:
        if split == "predict":
            dataset = self.datasets[split]
        else:
            keep_text = split != "train"
            columns = ["input_ids", "labels"] + ([self.src_lang, self.tgt_lang] if keep_text else [])
            dataset = _ArrowBatches(self.datasets[split], columns, with_index=with_index)
        collate = _TranslationCollator(self.tokenizer, self.src_lang, self.tgt_lang)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)


TOKENIZED_FORMAT = "hf_seq2seq_vit.translation.v2"  # enters the cache fingerprint: bump it when the columns change


class _PairEncoder:
    """The ``datasets.map`` function: an Arrow batch of text pairs in, an Arrow table of token ids out.

    The ids are those of ``tokenizer(src, text_target=tgt, truncation=not training, max_length=max_length)`` (the
    same Rust ``encode_batch`` on a copy of the tokenizer's backend; tested), but they go from the tokenizer to
    Arrow as one flat numpy array per column instead of a Python list of lists that Arrow converts int by int
    (a few per cent of the preparation: the tokenizer itself is most of it), and in fewer bytes. Columns:
    ``input_ids`` and ``labels`` (``uint16`` when the vocabulary fits, else ``int32``; the attention mask is not
    stored, the collator makes it), ``length`` (``int32``, the longer side), and for evaluation splits the two texts.
    Training pairs longer than ``max_length`` on either side are dropped here; evaluation sources are cut.
    The pages of ``text_files`` read so far are handed back whenever they pass a budget (``MappedPageBudget``),
    so that a tokenizing process does not grow with the corpus: the rows of a shuffled split are spread over the
    whole file, and the kernel maps the cached pages around each one it reads (fault-around), so that 16 batches
    of 1,000 pairs had mapped all 350 MB of a 1M-pair text file (measured).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, src_lang: str, tgt_lang: str, max_length: int,
                 training: bool, text_files: list[str] = ()):
        self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())  # a copy: its settings are ours
        self.backend.no_padding()
        if training:
            self.backend.no_truncation()
        else:  # what `tokenizer(..., truncation=True, max_length=...)` sets on the backend
            self.backend.enable_truncation(max_length, stride=0, strategy="longest_first",
                                           direction=tokenizer.truncation_side)
        self.src_lang, self.tgt_lang, self.max_length, self.training = src_lang, tgt_lang, max_length, training
        self.ids_type = pa.uint16() if len(tokenizer) <= 1 << 16 else pa.int32()
        self.release = MappedPageBudget(text_files)

    def __call__(self, table: pa.Table) -> pa.Table:
        self.release()
        sides = [[encoding.ids for encoding in self.backend.encode_batch(table.column(lang).to_pylist())]
                 for lang in (self.src_lang, self.tgt_lang)]
        counts = [np.fromiter(map(len, ids), dtype=np.int32, count=len(ids)) for ids in sides]
        length = np.maximum(*counts)
        columns: dict[str, Any] = {}
        if self.training:
            keep = length <= self.max_length
            if not keep.all():
                kept = np.flatnonzero(keep).tolist()
                sides = [[ids[i] for i in kept] for ids in sides]
                counts, length = [count[keep] for count in counts], length[keep]
        else:
            columns = {lang: table.column(lang) for lang in (self.src_lang, self.tgt_lang)}
        for name, ids, count in zip(("input_ids", "labels"), sides, counts):
            columns[name] = _list_array(ids, count, self.ids_type)
        columns["length"] = pa.array(length, type=pa.int32())
        return pa.table(columns)


def _list_array(rows: list[list[int]], counts: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """Rows of ints as an Arrow list array, through one flat numpy array (no Python int per value for Arrow)."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = np.fromiter(itertools.chain.from_iterable(rows), dtype=value_type.to_pandas_dtype(),
                         count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=value_type))


class _ArrowBatches(torch.utils.data.Dataset):
    """A tokenized split for the DataLoader: a batch of rows is fetched as one Arrow table (``__getitems__``).

    ``datasets`` would turn every row into a dict of Python lists (one Python int per token) that the collator then
    pads back into tensors; an Arrow table of the batch lets the collator pad from flat numpy arrays instead.
    ``with_index`` adds each row's position (``index``), for prediction writers. The pages of the split's
    Arrow files read so far are handed back whenever they pass a budget (``MappedPageBudget``): an epoch visits
    every row, and without that the process's RSS would end the epoch as large as the split's files.
    """

    def __init__(self, dataset: datasets.Dataset, columns: list[str], with_index: bool = False):
        self.dataset = dataset.select_columns(columns).with_format("arrow")
        self.with_index = with_index
        self.release = MappedPageBudget(_files(dataset))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> pa.Table:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> pa.Table:
        self.release()
        table = self.dataset[indices]
        if self.with_index:
            table = table.append_column("index", pa.array(indices, type=pa.int64()))
        return table


def _files(*splits: datasets.Dataset) -> list[str]:
    """The Arrow files behind datasets (none for in-memory ones)."""
    return [file["filename"] for split in splits for file in split.cache_files]


def _pad(column: pa.ChunkedArray | pa.Array, value: int, left: bool) -> tuple[np.ndarray, np.ndarray]:
    """A list column as a padded ``(rows, longest)`` int64 array, and the boolean mask of the real tokens."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    counts = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    width = int(counts.max()) if len(counts) else 0
    positions = np.arange(width)
    mask = positions >= (width - counts)[:, None] if left else positions < counts[:, None]
    padded = np.full(mask.shape, value, dtype=np.int64)
    padded[mask] = values  # row-major: each row's tokens in order
    return padded, mask


def _length_column(dataset: datasets.Dataset, fingerprint: str) -> np.ndarray:
    """The ``length`` column as int32 numpy: memory-mapped from a ``.npy`` beside the Arrow cache when there is one."""
    cached = dataset.cache_files and dataset._indices is None
    path = Path(dataset.cache_files[0]["filename"]).with_name(f"lengths-{fingerprint}.npy") if cached else None
    if path is not None and path.is_file():
        return np.load(path, mmap_mode="r")
    if path is None:
        column = dataset.select_columns(["length"]).with_format("arrow")[:]["length"]
        return np.asarray(as_length_array(column), dtype=np.int32)
    # Chunk by chunk from the memory-mapped Arrow column into the memory-mapped .npy: no copy of the whole column.
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")  # DDP ranks may write it at the same time
    out = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.int32, shape=(len(dataset),))
    start = 0
    for chunk in dataset.data.column("length").chunks:
        out[start:start + len(chunk)] = chunk.to_numpy()
        start += len(chunk)
    out.flush()
    del out
    os.replace(temporary, path)
    return np.load(path, mmap_mode="r")


class _TranslationCollator:
    """Pad ids (labels with -100, which the loss ignores) and carry the raw texts (for BLEU) and indices along.

    A batch comes either as an Arrow table from ``_ArrowBatches`` (padded from flat arrays, with what
    ``DataCollatorForSeq2Seq`` would give: the same keys, values and int64 dtype; tested) or, for a predict file,
    as a list of dicts (padded by ``DataCollatorForSeq2Seq`` / ``tokenizer.pad``).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerFast, src_lang: str, tgt_lang: str):
        self.pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, return_tensors="pt")
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.pad_id, self.left = tokenizer.pad_token_id, tokenizer.padding_side == "left"
        self.with_mask = "attention_mask" in tokenizer.model_input_names

    def __call__(self, examples: pa.Table | list[dict]) -> dict:
        if isinstance(examples, pa.Table):
            return self._from_table(examples)
        examples = [dict(e) for e in examples]
        texts = {"src_text": [e.pop(key) for e in examples for key in (self.src_lang, "src_text") if key in e],
                 "tgt_text": [e.pop(self.tgt_lang) for e in examples if self.tgt_lang in e]}
        index = [e.pop("index") for e in examples if "index" in e]
        for e in examples:
            e.pop("length", None)
        # Predict examples have no labels: DataCollatorForSeq2Seq would still add a "labels" entry.
        batch = dict(self.pad(examples) if "labels" in examples[0] else self.pad.tokenizer.pad(examples,
                                                                                            return_tensors="pt"))
        if index:
            batch["index"] = torch.tensor(index, dtype=torch.long)
        return batch | {key: value for key, value in texts.items() if value}

    def _from_table(self, table: pa.Table) -> dict:
        input_ids, mask = _pad(table.column("input_ids"), self.pad_id, self.left)
        batch = {"input_ids": torch.from_numpy(input_ids)}
        if self.with_mask:
            batch["attention_mask"] = torch.from_numpy(mask.astype(np.int64))
        if "labels" in table.column_names:
            batch["labels"] = torch.from_numpy(_pad(table.column("labels"), -100, self.left)[0])
        if "index" in table.column_names:
            batch["index"] = torch.tensor(table.column("index").to_numpy(), dtype=torch.long)
        for key, lang in (("src_text", self.src_lang), ("tgt_text", self.tgt_lang)):
            if lang in table.column_names:
                batch[key] = table.column(lang).to_pylist()
        return batch


def check_parallel_source(
    dataset: str,
    src_lang: str,
    tgt_lang: str,
    data_files: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> None:
    """Fail fast, without reading the text: files exist, languages are in a folder's file names or a table's header.

    Hub datasets are not checked here (that needs a download); ``load_parallel_text`` checks them when it loads.
    """
    langs = (src_lang, tgt_lang)
    if data_files is not None:
        _check_table_files(data_files, columns, langs)
    elif dataset.startswith("bundled:"):
        if dataset not in BUNDLED_DATASETS:
            raise ValueError(f"Unknown bundled dataset {dataset!r}; choose one of {list(BUNDLED_DATASETS)}")
        if dataset == "bundled:multi30k":
            _line_parallel_files(BUNDLED_DIR / "multi30k", langs)
        else:
            found = BUNDLED_LANGUAGES[dataset]
            for lang in langs:
                if lang not in found:
                    raise ValueError(f"Language {lang!r} is not in the data {dataset!r}; it has {found}")
    elif os.path.isdir(dataset):
        _line_parallel_files(Path(dataset), langs)
    elif os.path.isfile(dataset):
        _check_table_files({"train": dataset}, columns, langs)
    elif _looks_like_a_path(dataset):
        raise FileNotFoundError(f"No data file or folder at {dataset!r}; check the path (relative to {os.getcwd()})")


def _looks_like_a_path(dataset: str) -> bool:
    # "data/corpus" where ./data exists is a mistyped local path, not the Hub dataset "corpus" of a user "data".
    first = dataset.split("/", 1)[0]
    return (dataset.startswith((".", "/", "~")) or bool(set(Path(dataset).suffixes) & (set(TABLE_BUILDERS) | {".gz"}))
            or ("/" in dataset and os.path.isdir(first)))


def load_parallel_text(
    dataset: str,
    src_lang: str,
    tgt_lang: str,
    dataset_config: str | None = None,
    data_files: dict[str, str] | None = None,
    columns: list[str] | None = None,
    train_split: str = "train",
    val_split: str | None = None,
    test_split: str | None = None,
    val_size: int = 500,
    test_size: int = 500,
    split_seed: int = 0,
    cache_dir: str | None = None,
) -> datasets.DatasetDict:
    """Load parallel text as a ``DatasetDict`` with splits train/validation/test and one column per language.

    Pairs with a missing or blank side (a TSV row without its target column, an empty line) are dropped from
    every split, and the log says how many.

    Example::

        >>> raw = load_parallel_text("bundled:multi30k", "en", "de")
        >>> {split: len(ds) for split, ds in raw.items()}
        {'train': 29000, 'validation': 1014, 'test': 1000}
    """
    langs = (src_lang, tgt_lang)
    check_parallel_source(dataset, src_lang, tgt_lang, data_files=data_files, columns=columns)
    if data_files is not None:
        raw = _load_table_files(data_files, columns, cache_dir=cache_dir)
    elif dataset.startswith("bundled:"):
        raw = _load_bundled(dataset, langs, test_split, split_seed, val_size, test_size)
        return _drop_incomplete_pairs(_check_languages(raw, langs, dataset), langs, dataset)
    elif os.path.isdir(dataset):
        raw = _load_line_parallel(Path(dataset), langs, train_split, val_split, test_split)
        return _drop_incomplete_pairs(_check_languages(raw, langs, dataset), langs, dataset)
    elif os.path.isfile(dataset):
        raw = _load_table_files({"train": dataset}, columns, cache_dir=cache_dir)
    else:  # a Hub dataset name such as "bentrevett/multi30k" or "wmt14"
        raw = datasets.load_dataset(dataset, dataset_config, cache_dir=cache_dir)
    raw = _flatten_translation_column(raw, langs)
    _check_languages(raw, langs, dataset)
    raw = _drop_incomplete_pairs(raw, langs, dataset)
    return _canonical_splits(raw, langs, train_split, val_split, test_split, val_size, test_size, split_seed)


def _drop_incomplete_pairs(raw: datasets.DatasetDict, langs, source: str) -> datasets.DatasetDict:
    # A row without its target column reads as an empty string (or None): training on it teaches the model to
    # stop at once, and an empty reference is no test. Drop such pairs and say how many.
    out = {}
    for split, dataset in raw.items():
        before = len(dataset)
        dataset = dataset.filter(_CompletePairs(_files(dataset)), input_columns=list(langs), batched=True)
        if len(dataset) < before:
            logger.warning("Dropped %d of %d %s pairs of %r with a missing or empty %r or %r side",
                           before - len(dataset), before, split, source, *langs)
        if len(dataset) == 0:
            raise ValueError(f"The {split!r} split of {source!r} has no pair with both a {langs[0]!r} and a "
                             f"{langs[1]!r} text; check the columns / files")
        out[split] = dataset
    return datasets.DatasetDict(out)


class _CompletePairs:
    """The blank-pair filter: True for pairs whose sides are all non-blank strings. It reads every text once, so the
    pages it has read are handed back as they pass a budget (``MappedPageBudget``)."""

    def __init__(self, files: list[str]):
        self.release = MappedPageBudget(files)

    def __call__(self, *sides: list) -> list[bool]:
        self.release()
        return [all(isinstance(text, str) and text.strip() for text in pair) for pair in zip(*sides)]


def _load_bundled(name, langs, test_split, split_seed, val_size, test_size) -> datasets.DatasetDict:
    if name == "bundled:multi30k":
        return _load_line_parallel(BUNDLED_DIR / "multi30k", langs, "train", "val", test_split or "test_2016_flickr")
    korean = BUNDLED_DIR / "korean-english"
    parts = []
    if name in ("bundled:tatoeba-ko-en", "bundled:ko-en-mixed"):
        # Many-to-many links: split by connected group so that no sentence is in two splits.
        splits = split_by_group(read_tatoeba_pairs(TATOEBA_FILE), val_size, test_size, seed=split_seed)
        features = datasets.Features({"kor_id": datasets.Value("int64"), "ko": datasets.Value("string"),
                                      "eng_id": datasets.Value("int64"), "en": datasets.Value("string")})
        parts.append(datasets.DatasetDict({split: datasets.Dataset.from_list(rows, features=features)
                                           for split, rows in splits.items()}))
    if name == "bundled:tatoeba-ko-en-2025":
        table = _load_table_files({"train": str(korean / "tatoeba-kor-eng.tsv.gz")}, ["en", "ko", "attribution"])
        parts.append(_canonical_splits(table, langs, "train", None, None, val_size, test_size, split_seed))
    if name in ("bundled:stylekqc-ko-en", "bundled:ko-en-mixed"):
        pairs = _load_table_files({"train": str(korean / "stylekqc_kosp2e.kor-eng.tsv.gz")}, ["ko", "en"])["train"]
        meta = _load_table_files({"train": str(korean / "stylekqc_kosp2e.meta.tsv.gz")}, None)["train"]
        table = datasets.concatenate_datasets([pairs, meta.select_columns(["group", "kosp2e_split"])], axis=1)
        # The ten paraphrases of one meaning share a group; kosp2e_split keeps each group inside one split.
        parts.append(datasets.DatasetDict({
            split: table.filter(lambda s, name=source: s == name, input_columns="kosp2e_split")
            for split, source in (("train", "train"), ("validation", "dev"), ("test", "test"))
        }))
    # One text type for all parts (the CSV reader gives large_string, Dataset.from_list string).
    text = datasets.Features({lang: datasets.Value("string") for lang in langs})
    return datasets.DatasetDict({
        split: datasets.concatenate_datasets([part[split].select_columns(list(langs)).cast(text) for part in parts])
        for split in SPLITS
    })


def _line_parallel_files(folder: Path, langs) -> list[str]:
    """The folder's ``{split}.{lang}[.gz]`` file names, after checking that both languages have files."""
    # `{split}.{lang}[.gz]` files only: a README.md or PROVENANCE.md beside them is not a language "md".
    files = sorted(p.name for p in folder.iterdir() if p.suffix not in {".md", ".txt", ".json", ".yaml"}
                   and "." in p.name.removesuffix(".gz")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"No data files in {str(folder)!r}; expected {{split}}.{{lang}}[.gz] line-parallel files")
    found_langs = sorted({name.removesuffix(".gz").rsplit(".", 1)[-1] for name in files})
    for lang in langs:
        if lang not in found_langs:
            raise ValueError(f"Language {lang!r} is not in the data at {str(folder)!r}; it has {found_langs}")
    return files


def _load_line_parallel(folder: Path, langs, train_split, val_split, test_split) -> datasets.DatasetDict:
    files = _line_parallel_files(folder, langs)
    stems = {name.removesuffix(".gz").rsplit(".", 1)[0] for name in files}
    val_split = val_split or next((s for s in VAL_SPLIT_NAMES if s in stems), None)
    test_split = test_split or ("test" if "test" in stems else None)
    raw = {}
    for split, stem in (("train", train_split), ("validation", val_split), ("test", test_split)):
        if stem is None:
            continue
        sides = {}
        for lang in langs:
            path = next((folder / f"{stem}.{lang}{ext}" for ext in (".gz", "") if (folder / f"{stem}.{lang}{ext}").is_file()),
                        None)
            if path is None:
                raise FileNotFoundError(f"Missing data file {str(folder / f'{stem}.{lang}.gz')!r}; the folder has {files}")
            sides[lang] = (path, read_corpus_lines(path))
        (src_path, src_lines), (tgt_path, tgt_lines) = sides.values()
        if len(src_lines) != len(tgt_lines):
            raise ValueError(f"Split {stem!r} is not line-parallel: {str(src_path)!r} has {len(src_lines)} lines but "
                             f"{str(tgt_path)!r} has {len(tgt_lines)}; each line must translate the same line")
        raw[split] = datasets.Dataset.from_dict({langs[0]: src_lines, langs[1]: tgt_lines})
    return datasets.DatasetDict(raw)


def _table_suffix(data_files: dict[str, str]) -> str:
    suffixes = {next((s for s in reversed(Path(p).suffixes) if s in TABLE_BUILDERS), None) for p in data_files.values()}
    if None in suffixes or len(suffixes) != 1:
        raise ValueError(f"data_files must all be one of {sorted(TABLE_BUILDERS)} (optionally .gz); got {data_files}")
    return suffixes.pop()


def _check_table_files(data_files: dict[str, str], columns: list[str] | None, langs) -> None:
    if not isinstance(data_files, dict) or not data_files:
        raise ValueError(f"data_files must map split names to files, e.g. {{'train': 'pairs.tsv'}}; got {data_files!r}")
    for split, path in data_files.items():
        if not isinstance(path, str) or not os.path.isfile(path):
            raise FileNotFoundError(f"Missing data file {path!r} (data_files[{split!r}]); check the path "
                                    f"(relative to {os.getcwd()})")
    suffix = _table_suffix(data_files)
    if TABLE_BUILDERS[suffix] != "csv":
        return
    for split, path in data_files.items():  # the header (or `columns`) must name both languages
        header = columns
        if header is None:
            first = next(iter(read_corpus_lines(path, limit=1)), "")
            header = first.split("\t" if suffix == ".tsv" else ",")
        for lang in langs:
            if lang not in header:
                raise ValueError(f"Language {lang!r} is not in the data {path!r}: its columns are {list(header)}; set "
                                 "src_lang/tgt_lang to two of them, or name header-less columns with columns=[...]")


def _load_table_files(data_files: dict[str, str], columns: list[str] | None,
                      cache_dir: str | None = None) -> datasets.DatasetDict:
    suffix = _table_suffix(data_files)
    options: dict[str, Any] = {}
    if TABLE_BUILDERS[suffix] == "csv":
        # Text is data, not CSV syntax: no quote handling (Tatoeba has quotes), no "NA" -> missing conversion.
        options = dict(sep="\t" if suffix == ".tsv" else ",", quoting=3, na_filter=False)
        if columns:
            options["column_names"] = columns
    splits = {}
    for split, path in data_files.items():  # one file at a time, so that an error can name it
        try:
            splits[split] = datasets.load_dataset(TABLE_BUILDERS[suffix], data_files={split: path}, split=split,
                                                  cache_dir=cache_dir, **options)
        except (datasets.exceptions.DatasetGenerationError, UnicodeDecodeError, EOFError, OSError, zlib.error) as error:
            # datasets wraps the real cause (a pandas ParserError naming the line, a UnicodeDecodeError, a truncated
            # gzip stream) in a DatasetGenerationError that names no file.
            cause = error
            while cause.__cause__ is not None:
                cause = cause.__cause__
            raise ValueError(f"Could not read the data file {path!r}: {type(cause).__name__}: {str(cause).strip()}. "
                             f"{_fix_hint(cause, suffix)}") from error
    return datasets.DatasetDict(splits)


def _fix_hint(cause: BaseException, suffix: str) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "Save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
    if isinstance(cause, (EOFError, OSError, zlib.error)):
        return "The compressed file is truncated or corrupt; download or compress it again."
    if suffix in (".tsv", ".csv"):
        sep = "tab" if suffix == ".tsv" else "comma"
        return (f"Every row needs the same number of {sep}-separated fields as the header (or columns=[...]); "
                "fix or remove the line named above.")
    return "Check that the file is valid for its suffix."


def _flatten_translation_column(raw: datasets.DatasetDict, langs) -> datasets.DatasetDict:
    # Hub translation sets (wmt14, opus_books) store each pair as {"translation": {"de": ..., "en": ...}}.
    first = next(iter(raw.values()))
    if "translation" not in first.column_names or any(lang in first.column_names for lang in langs):
        return raw
    return raw.map(lambda b: {lang: [t.get(lang) for t in b["translation"]] for lang in langs}, batched=True,
                   remove_columns=first.column_names)


def _check_languages(raw: datasets.DatasetDict, langs, source: str) -> datasets.DatasetDict:
    for split, dataset in raw.items():
        for lang in langs:
            if lang not in dataset.column_names:
                raise ValueError(
                    f"Language {lang!r} is not in the data {source!r} (split {split!r} has the columns "
                    f"{dataset.column_names}); set src_lang/tgt_lang to two of them"
                )
    return raw


def _canonical_splits(raw, langs, train_split, val_split, test_split, val_size, test_size, split_seed):
    if train_split not in raw:
        raise ValueError(f"The data has no split {train_split!r} (it has {sorted(raw)}); set train_split")
    val_split = val_split or next((s for s in VAL_SPLIT_NAMES if s in raw), None)
    test_split = test_split or ("test" if "test" in raw else None)
    for name in (val_split, test_split):
        if name is not None and name not in raw:
            raise ValueError(f"The data has no split {name!r} (it has {sorted(raw)})")
    train = raw[train_split].select_columns(list(langs))
    out = {}
    held_out = (val_size if val_split is None else 0) + (test_size if test_split is None else 0)
    if held_out:
        if held_out >= len(train):
            raise ValueError(f"val_size + test_size = {held_out} leaves no training pairs out of {len(train)}")
        # Fixed-seed shuffle first: files like Tatoeba are sorted by length, so the tail would be only long pairs.
        # The splits are ranges of the permutation that `train.shuffle(seed=split_seed)` draws (same generator: the
        # same rows in the same order), taken as index mappings (not flattened: writing a shuffled copy of a corpus
        # of millions of pairs cost more than tokenizing it) by _select_rows, which does not need the Python list
        # of one int object per row that Dataset.select builds.
        permutation = _permutation(len(train), split_seed)
        start = 0
        for split, size, source in (("validation", val_size, val_split), ("test", test_size, test_split)):
            if source is None:
                out[split] = _select_rows(train, permutation[start:start + size], f"{split}-{split_seed}-{start}")
                start += size
        train = _select_rows(train, permutation[start:], f"train-{split_seed}-{start}")
        del permutation
    out["train"] = train
    for split, source in (("validation", val_split), ("test", test_split)):
        if source is not None:
            out[split] = raw[source].select_columns(list(langs))
    return datasets.DatasetDict({split: out[split] for split in SPLITS if split in out})


def _release_arrow_pool() -> None:
    """Hand the memory that Arrow's allocator keeps after a pass (reading the text, the held-out mappings, the
    tokenized cache's setup) back to the system: mimalloc kept 68 MB of freed heap after loading 5M pairs (measured),
    which the next stage's peak then stood on."""
    pa.default_memory_pool().release_unused()


def _permutation(count: int, seed: int) -> np.ndarray:
    """``np.random.default_rng(seed).permutation(count)`` (what ``Dataset.shuffle(seed=seed)`` draws) in 4 bytes a row
    instead of 8: ``Generator.shuffle`` draws the same swaps for an array of any dtype (tested)."""
    rows = np.arange(count, dtype=np.uint32 if count < 2**32 else np.int64)
    np.random.default_rng(seed).shuffle(rows)
    return rows


def _shuffled_blocks(dataset: datasets.Dataset, seed: int, block: int = 1 << 10) -> np.ndarray:
    """Positions of ``dataset``'s rows in the order of their rows in its Arrow file, cut into blocks of ``block``
    consecutive rows, the blocks in a shuffled order (``seed``).

    Reading rows in this order reads the file a block at a time (a shuffled split is an index mapping whose rows
    are spread over the whole file: one page fault a row once the file outgrows what stays mapped). 4 bytes a row
    twice: the mapping is inverted by scattering (no int64 argsort).
    """
    count = len(dataset)
    if dataset._indices is None:
        positions = np.arange(count, dtype=np.int64 if count >= 2**32 else np.uint32)
    else:
        rows = np.empty(count, dtype=np.int64 if dataset.data.num_rows >= 2**32 else np.uint32)
        start = 0
        for chunk in dataset._indices.column(0).chunks:
            rows[start:start + len(chunk)] = chunk.to_numpy()
            start += len(chunk)
        position_of = np.zeros(dataset.data.num_rows, dtype=rows.dtype)  # row of the file -> position in `dataset`
        for at in range(0, count, 1 << 20):
            position_of[rows[at:at + (1 << 20)]] = np.arange(at, min(at + (1 << 20), count), dtype=rows.dtype)
        rows.sort()
        positions = np.take(position_of, rows, out=rows)
        del position_of
    order = np.random.default_rng(seed).permutation(-(-count // block))
    return np.concatenate([positions[first * block:(first + 1) * block] for first in order.tolist()])


def _select_rows(dataset: datasets.Dataset, rows: np.ndarray, name: str, chunk: int = 1 << 20) -> datasets.Dataset:
    """``dataset.select(rows)`` for a numpy array of rows, as an index mapping, with bounded memory.

    ``Dataset.select`` turns the array into a Python list first (one int object per row, ~74 bytes a row with what
    follows: 0.37 GB of heap for the 5M-row benchmark corpus, measured) before writing the mapping. Here the rows
    (composed with the dataset's own mapping, e.g. the blank-pair filter's) are written chunk by chunk to an Arrow
    file beside the dataset's cache files and memory-mapped, as ``select`` would cache them; a dataset that
    ``datasets`` keeps in memory gets an in-memory mapping. ``name`` with the dataset's fingerprint names the result,
    so a second run finds the file (written to a temporary name and renamed: DDP ranks may write it together).
    """
    fingerprint = Hasher.hash(["select_rows", dataset._fingerprint, name, len(rows)])
    base = dataset._indices.column(0) if dataset._indices is not None else None
    batches = (pa.record_batch([pa.array(rows[at:at + chunk], type=pa.uint64()) if base is None else
                                base.take(pa.array(rows[at:at + chunk])).combine_chunks()], names=["indices"])
               for at in range(0, len(rows), chunk))
    schema = pa.schema([("indices", pa.uint64())])
    if not dataset.cache_files:
        indices = InMemoryTable(pa.Table.from_batches(list(batches), schema=schema))
    else:
        path = Path(dataset.cache_files[0]["filename"]).with_name(f"indices-{fingerprint}.arrow")
        if not path.is_file():
            temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
            with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
            os.replace(temporary, path)
        indices = MemoryMappedTable.from_file(str(path))
    return datasets.Dataset(dataset.data, info=dataset.info.copy(), split=dataset.split, indices_table=indices,
                            fingerprint=fingerprint)
