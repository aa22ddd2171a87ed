"""``TranslationDataModule``: parallel text in, token-budget batches of ``input_ids`` / ``labels`` out.

Where the text comes from (``dataset=``):

- ``"bundled:multi30k"`` (default): the Multi30k files shipped in the package, found relative to the package so
  the configs work from any checkout or install. Splits train / val / test_2016_flickr (``test_split`` picks
  ``test_2017_flickr``).
- ``"bundled:tatoeba-ko-en"``: Tatoeba English–Korean TSV (sorted by length), shuffled with ``split_seed`` and cut
  into ``val_size`` / ``test_size`` held-out pairs and the rest for training.
- ``"bundled:stylekqc-ko-en"``: StyleKQC Korean × kosp2e English, split by paraphrase group through the
  ``kosp2e_split`` meta column (rows of one group never straddle splits).
- ``"bundled:ko-en-mixed"``: both Korean corpora, split as above and concatenated split by split.
- a local folder of line-parallel files ``{split}.{lang}[.gz]`` (like the Multi30k folder);
- a local TSV / CSV / JSONL / parquet file (or ``data_files={"train": ..., "validation": ...}``) with one column
  per language (or a ``translation`` column of ``{lang: text}``; ``columns=`` names header-less TSV columns);
- anything else is a Hugging Face Hub dataset loaded with ``datasets.load_dataset(dataset, dataset_config)``,
  e.g. ``bentrevett/multi30k`` or ``wmt14`` + ``de-en`` (needs the internet once; cached afterwards).

Everything is checked in ``__init__`` (files exist, languages present, tokenizer ready), so a bad config fails
when the CLI builds the objects, before any training.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import datasets
import lightning as L
from torch.utils.data import DataLoader
from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerFast

from hf_seq2seq_vit.data.batching import TokenBudgetBatchSampler
from hf_seq2seq_vit.tokenization import load_tokenizer, train_translation_tokenizers

logger = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"
BUNDLED_DATASETS = ("bundled:multi30k", "bundled:tatoeba-ko-en", "bundled:stylekqc-ko-en", "bundled:ko-en-mixed")
TABLE_BUILDERS = {".tsv": "csv", ".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
VAL_SPLIT_NAMES = ("validation", "valid", "val", "dev")
SPLITS = ("train", "validation", "test")

__all__ = ["BUNDLED_DATASETS", "TranslationDataModule", "load_parallel_text"]


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
        max_train_examples, max_eval_examples: keep only the first N pairs (quick runs).
        tokenizer_dir: a saved tokenizer folder to load; if it does not exist, the trained tokenizer is saved there.
        tokenizer_vocab_size, tokenizer_model: size and kind (``bpe``/``unigram``) of the joint tokenizer trained otherwise.
        max_length: training pairs with more tokens on either side are dropped (count logged); eval sources cut.
        max_tokens: padded tokens per batch and side; ``eval_max_tokens`` for validation/test (default the same).
        seed: seed of the per-epoch batch shuffle.

    Example::

        >>> dm = TranslationDataModule("bundled:multi30k", "en", "de", tokenizer_vocab_size=1000, max_train_examples=500)
        >>> dm.setup("fit")
        >>> batch = next(iter(dm.train_dataloader()))
        >>> batch["input_ids"].numel() <= dm.max_tokens
        True
    """

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
        max_eval_examples: int | None = None,
        tokenizer_dir: str | None = None,
        tokenizer_vocab_size: int = 8000,
        tokenizer_model: str = "bpe",
        max_length: int = 128,
        max_tokens: int = 4096,
        eval_max_tokens: int | None = None,
        max_sentences: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ):
        super().__init__()
        if src_lang == tgt_lang:
            raise ValueError(f"src_lang and tgt_lang are both {src_lang!r}; pick two different languages")
        if max_length > max_tokens:
            raise ValueError(f"max_length={max_length} exceeds max_tokens={max_tokens}: one pair would not fit a batch")
        self.save_hyperparameters()
        self.dataset, self.src_lang, self.tgt_lang = dataset, src_lang, tgt_lang
        self.max_length, self.max_tokens = max_length, max_tokens
        self.eval_max_tokens = eval_max_tokens or max_tokens
        self.raw = load_parallel_text(
            dataset, src_lang, tgt_lang, dataset_config=dataset_config, data_files=data_files, columns=columns,
            train_split=train_split, val_split=val_split, test_split=test_split, val_size=val_size,
            test_size=test_size, split_seed=split_seed,
        )
        for split, limit in (("train", max_train_examples), ("validation", max_eval_examples),
                             ("test", max_eval_examples)):
            if limit is not None and split in self.raw and len(self.raw[split]) > limit:
                self.raw[split] = self.raw[split].select(range(limit))
        self.tokenizer = self._load_or_train_tokenizer(tokenizer_dir, tokenizer_vocab_size, tokenizer_model)
        self.datasets: dict[str, datasets.Dataset] = {}
        self.num_filtered = 0
        self._resume: dict[str, int] | None = None

    @property
    def vocab_size(self) -> int:
        """Size of the (joint) vocabulary the model must have."""
        return len(self.tokenizer)

    def prepare_data(self) -> None:
        tokenizer_dir = self.hparams.tokenizer_dir
        if tokenizer_dir and not os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")):
            self.tokenizer.save_pretrained(tokenizer_dir)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        for split in self.raw:
            self.datasets[split] = self._tokenize(split)

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
        return self.test_dataloader()

    def state_dict(self) -> dict[str, Any]:
        # Where the epoch stood when the checkpoint was written, so a resumed run continues with the next batch
        # instead of replaying the epoch from its start.
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return {}
        return {"epoch": trainer.current_epoch, "batches_done": trainer.fit_loop.epoch_loop.batch_idx + 1}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = dict(state_dict) if state_dict else None

    def _load_or_train_tokenizer(self, tokenizer_dir, vocab_size, tokenizer_model) -> PreTrainedTokenizerFast:
        if tokenizer_dir and os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")):
            return load_tokenizer(tokenizer_dir)
        train = self.raw["train"]
        tokenizer, _ = train_translation_tokenizers(
            train[self.src_lang], train[self.tgt_lang], vocab_size=vocab_size, model=tokenizer_model,
            model_max_length=self.max_length,
        )
        return tokenizer

    def _tokenize(self, split: str) -> datasets.Dataset:
        tokenizer, src, tgt, max_length = self.tokenizer, self.src_lang, self.tgt_lang, self.max_length
        training = split == "train"

        def encode(batch):
            # Evaluation keeps every pair (a filtered test set would flatter BLEU); its sources are cut instead.
            encoded = tokenizer(batch[src], text_target=batch[tgt], truncation=not training, max_length=max_length)
            encoded["length"] = [max(len(s), len(t)) for s, t in zip(encoded["input_ids"], encoded["labels"])]
            return encoded

        dataset = self.raw[split].map(encode, batched=True, desc=f"Tokenizing {split}")
        if training:
            before = len(dataset)
            dataset = dataset.filter(
                lambda lengths, texts: [0 < n <= max_length and t.strip() != "" for n, t in zip(lengths, texts)],
                input_columns=["length", src], batched=True,
            )
            self.num_filtered = before - len(dataset)
            logger.info(
                "Dropped %d of %d training pairs longer than max_length=%d tokens or empty; %d remain",
                self.num_filtered, before, max_length, len(dataset),
            )
            if len(dataset) == 0:
                raise ValueError(f"No training pair has at most max_length={max_length} tokens; raise max_length")
        return dataset

    def _sampler(self, split: str, max_tokens: int, shuffle: bool) -> TokenBudgetBatchSampler:
        if split not in self.datasets:
            raise ValueError(f"The data has no {split!r} split (it has {sorted(self.datasets)}); see the split options")
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return TokenBudgetBatchSampler(
            self.datasets[split]["length"], max_tokens, shuffle=shuffle, seed=self.hparams.seed,
            num_replicas=replicas, rank=rank, max_sentences=self.hparams.max_sentences,
        )

    def _loader(self, split: str, sampler: TokenBudgetBatchSampler) -> DataLoader:
        keep_text = split != "train"
        columns = ["input_ids", "attention_mask", "labels"] + ([self.src_lang, self.tgt_lang] if keep_text else [])
        dataset = self.datasets[split].select_columns(columns)
        collate = _TranslationCollator(self.tokenizer, self.src_lang, self.tgt_lang)
        workers = self.hparams.num_workers
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=workers,
                          persistent_workers=workers > 0)


class _TranslationCollator:
    """Pad ids (labels with -100, which the loss ignores) and carry the raw texts along for BLEU."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, src_lang: str, tgt_lang: str):
        self.pad = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, return_tensors="pt")
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def __call__(self, examples: list[dict]) -> dict:
        texts = {"src_text": [e.pop(self.src_lang) for e in examples if self.src_lang in e],
                 "tgt_text": [e.pop(self.tgt_lang) for e in examples if self.tgt_lang in e]}
        batch = dict(self.pad(examples))
        return batch | {key: value for key, value in texts.items() if value}


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
) -> datasets.DatasetDict:
    """Load parallel text as a ``DatasetDict`` with splits train/validation/test and one column per language.

    Example::

        >>> raw = load_parallel_text("bundled:multi30k", "en", "de")
        >>> {split: len(ds) for split, ds in raw.items()}
        {'train': 29000, 'validation': 1014, 'test': 1000}
    """
    langs = (src_lang, tgt_lang)
    if data_files is not None:
        raw = _load_table_files(data_files, columns)
    elif dataset.startswith("bundled:"):
        raw = _load_bundled(dataset, langs, test_split, split_seed, val_size, test_size)
        return _check_languages(raw, langs, dataset)
    elif os.path.isdir(dataset):
        raw = _load_line_parallel(Path(dataset), langs, train_split, val_split, test_split)
        return _check_languages(raw, langs, dataset)
    elif os.path.isfile(dataset):
        raw = _load_table_files({"train": dataset}, columns)
    elif dataset.startswith((".", "/", "~")) or set(Path(dataset).suffixes) & (set(TABLE_BUILDERS) | {".gz"}):
        raise FileNotFoundError(f"No data file or folder at {dataset!r}; check the path (relative to {os.getcwd()})")
    else:  # a Hub dataset name such as "bentrevett/multi30k" or "wmt14"
        raw = datasets.load_dataset(dataset, dataset_config)
    raw = _flatten_translation_column(raw, langs)
    _check_languages(raw, langs, dataset)
    return _canonical_splits(raw, langs, train_split, val_split, test_split, val_size, test_size, split_seed)


def _load_bundled(name, langs, test_split, split_seed, val_size, test_size) -> datasets.DatasetDict:
    if name not in BUNDLED_DATASETS:
        raise ValueError(f"Unknown bundled dataset {name!r}; choose one of {list(BUNDLED_DATASETS)}")
    if name == "bundled:multi30k":
        return _load_line_parallel(BUNDLED_DIR / "multi30k", langs, "train", "val", test_split or "test_2016_flickr")
    korean = BUNDLED_DIR / "korean-english"
    parts = []
    if name in ("bundled:tatoeba-ko-en", "bundled:ko-en-mixed"):
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
    return datasets.DatasetDict({
        split: datasets.concatenate_datasets([part[split].select_columns(list(langs)) for part in parts])
        for split in SPLITS
    })


def _load_line_parallel(folder: Path, langs, train_split, val_split, test_split) -> datasets.DatasetDict:
    # `{split}.{lang}[.gz]` files only: a README.md or PROVENANCE.md beside them is not a language "md".
    files = sorted(p.name for p in folder.iterdir() if p.suffix not in {".md", ".txt", ".json", ".yaml"}
                   and "." in p.name.removesuffix(".gz")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"No data files in {str(folder)!r}; expected {{split}}.{{lang}}[.gz] line-parallel files")
    stems = {name.removesuffix(".gz").rsplit(".", 1)[0] for name in files}
    found_langs = sorted({name.removesuffix(".gz").rsplit(".", 1)[-1] for name in files})
    for lang in langs:
        if lang not in found_langs:
            raise ValueError(f"Language {lang!r} is not in the data at {str(folder)!r}; it has {found_langs}")
    val_split = val_split or next((s for s in VAL_SPLIT_NAMES if s in stems), None)
    test_split = test_split or ("test" if "test" in stems else None)
    raw = {}
    for split, stem in (("train", train_split), ("validation", val_split), ("test", test_split)):
        if stem is None:
            continue
        sides = []
        for lang in langs:
            path = next((folder / f"{stem}.{lang}{ext}" for ext in (".gz", "") if (folder / f"{stem}.{lang}{ext}").is_file()),
                        None)
            if path is None:
                raise FileNotFoundError(f"Missing data file {str(folder / f'{stem}.{lang}.gz')!r}; the folder has {files}")
            side = datasets.load_dataset("text", data_files={split: str(path)}, split=split)
            sides.append(side.rename_column("text", lang))
        if len(sides[0]) != len(sides[1]):
            raise ValueError(f"Split {stem!r} is not line-parallel: {len(sides[0])} vs {len(sides[1])} lines")
        raw[split] = datasets.concatenate_datasets(sides, axis=1)
    return datasets.DatasetDict(raw)


def _load_table_files(data_files: dict[str, str], columns: list[str] | None) -> datasets.DatasetDict:
    for split, path in data_files.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Missing data file {path!r} (split {split!r}); check the path")
    suffixes = {next((s for s in reversed(Path(p).suffixes) if s in TABLE_BUILDERS), None) for p in data_files.values()}
    if None in suffixes or len(suffixes) != 1:
        raise ValueError(f"data_files must all be one of {sorted(TABLE_BUILDERS)} (optionally .gz); got {data_files}")
    suffix = suffixes.pop()
    options: dict[str, Any] = {}
    if TABLE_BUILDERS[suffix] == "csv":
        # Text is data, not CSV syntax: no quote handling (Tatoeba has quotes), no "NA" -> missing conversion.
        options = dict(sep="\t" if suffix == ".tsv" else ",", quoting=3, na_filter=False)
        if columns:
            options["column_names"] = columns
    return datasets.load_dataset(TABLE_BUILDERS[suffix], data_files=dict(data_files), **options)


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
        train = train.shuffle(seed=split_seed).flatten_indices()
        start = 0
        for split, size, source in (("validation", val_size, val_split), ("test", test_size, test_split)):
            if source is None:
                out[split] = train.select(range(start, start + size))
                start += size
        train = train.select(range(start, len(train)))
    out["train"] = train
    for split, source in (("validation", val_split), ("test", test_split)):
        if source is not None:
            out[split] = raw[source].select_columns(list(langs))
    return datasets.DatasetDict({split: out[split] for split in SPLITS if split in out})
