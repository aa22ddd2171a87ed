"""TranslationDataModule and TokenBudgetBatchSampler: token budgets, shuffling, DDP shards, sources, errors."""

import gzip
import json
import logging

import pytest

from hf_seq2seq_vit.data import TokenBudgetBatchSampler, TranslationDataModule, load_parallel_text

from conftest import BUNDLED, read_lines


@pytest.fixture(scope="module")
def multi30k_lengths():
    """Token lengths of the first 3,000 Multi30k pairs (max of source and target), as the data module computes them."""
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=3000, max_val_examples=50,
                               tokenizer_vocab_size=600, max_length=64, max_tokens=1000)
    dm.setup("fit")
    return dm.datasets["train"]["length"]


def _epoch_batches(lengths, epoch, **options):
    sampler = TokenBudgetBatchSampler(lengths, **options)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_every_batch_fits_the_token_budget_and_covers_each_pair_once(multi30k_lengths):
    batches = _epoch_batches(multi30k_lengths, 0, max_tokens=1000, seed=3)
    assert all(len(b) * max(multi30k_lengths[i] for i in b) <= 1000 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(len(multi30k_lengths)))
    # Length bucketing: far less padding than the same batches drawn without sorting (measured ~3% vs ~45%).
    padded = sum(len(b) * max(multi30k_lengths[i] for i in b) for b in batches)
    assert sum(multi30k_lengths) / padded > 0.9
    assert len({len(b) for b in batches}) > 3  # batch sizes follow sentence length, not a fixed count


def test_shuffle_differs_between_epochs_and_repeats_for_the_same_seed_and_epoch(multi30k_lengths):
    epoch0 = _epoch_batches(multi30k_lengths, 0, max_tokens=1000, seed=3)
    assert _epoch_batches(multi30k_lengths, 0, max_tokens=1000, seed=3) == epoch0
    assert _epoch_batches(multi30k_lengths, 1, max_tokens=1000, seed=3) != epoch0
    assert _epoch_batches(multi30k_lengths, 0, max_tokens=1000, seed=4) != epoch0


@pytest.mark.parametrize("replicas", [2, 3])
def test_ddp_ranks_get_disjoint_shards_that_cover_the_data(multi30k_lengths, replicas):
    shards = [_epoch_batches(multi30k_lengths, 1, max_tokens=1000, seed=0, num_replicas=replicas, rank=r)
              for r in range(replicas)]
    assert len({len(shard) for shard in shards}) == 1  # same number of steps on every rank, or DDP hangs
    indices = [set(i for b in shard for i in b) for shard in shards]
    assert sum(len(s) for s in indices) == len(multi30k_lengths)
    assert set.union(*indices) == set(range(len(multi30k_lengths)))


def test_resume_skips_the_batches_already_consumed_in_that_epoch_only(multi30k_lengths):
    full = _epoch_batches(multi30k_lengths, 2, max_tokens=1000)
    sampler = TokenBudgetBatchSampler(multi30k_lengths, max_tokens=1000)
    sampler.set_epoch(2)
    sampler.resume(epoch=2, batches_done=5)
    assert list(sampler) == full[5:]
    assert list(sampler) == full  # the next pass over the same epoch is complete again
    assert len(sampler) == len(full)


def test_sampler_rejects_a_pair_longer_than_the_budget():
    with pytest.raises(ValueError, match="An example has 50 tokens but max_tokens=40"):
        TokenBudgetBatchSampler([10, 50], max_tokens=40)


def test_over_long_training_pairs_are_dropped_with_a_logged_count(caplog):
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=500, max_val_examples=20,
                               tokenizer_vocab_size=500, max_length=16, max_tokens=256)
    with caplog.at_level(logging.INFO, logger="hf_seq2seq_vit"):
        dm.setup("fit")
    lengths = dm.datasets["train"]["length"]
    assert max(lengths) <= 16 and dm.num_filtered > 0 and len(lengths) + dm.num_filtered == 500
    assert f"Dropped {dm.num_filtered} of 500 training pairs longer than max_length=16" in caplog.text
    # Evaluation pairs are never dropped (that would flatter BLEU): their sources are cut to max_length instead.
    assert len(dm.datasets["validation"]) == 20
    batch = next(iter(dm.val_dataloader()))
    assert batch["input_ids"].shape[0] == len(batch["tgt_text"]) == len(batch["src_text"])
    assert batch["input_ids"].shape[1] <= 16 and batch["labels"].shape[1] <= 16


def test_setup_reads_only_what_the_stage_needs_and_other_loaders_still_work():
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=200, max_val_examples=10,
                               max_test_examples=6, tokenizer_vocab_size=400)
    assert dm.tokenizer is None and dm.raw is None  # __init__ reads no text
    dm.setup("test")
    assert set(dm.datasets) == {"test"}
    assert sum(len(batch["input_ids"]) for batch in dm.test_dataloader()) == 6
    assert sum(len(batch["input_ids"]) for batch in dm.val_dataloader()) == 10  # tokenized when first asked for


def test_train_batches_decode_back_to_the_text_and_pad_labels_with_minus_100():
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=300, max_val_examples=20,
                               tokenizer_vocab_size=500, max_length=48, max_tokens=400)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    first = batch["labels"][0]
    text = dm.tokenizer.decode(first[first != -100], skip_special_tokens=True)
    assert text in set(read_lines(BUNDLED / "multi30k" / "train.de.gz", 300))
    assert ((batch["input_ids"] == 0) == (batch["attention_mask"] == 0)).all()


def test_tokenizer_is_saved_and_reloaded_from_tokenizer_dir(tmp_path):
    options = dict(max_train_examples=300, max_val_examples=10, tokenizer_vocab_size=400,
                   tokenizer_dir=str(tmp_path / "tok"))
    first = TranslationDataModule("bundled:multi30k", "en", "de", **options)
    first.prepare_data()
    assert (tmp_path / "tok" / "tokenizer.json").is_file()
    second = TranslationDataModule("bundled:multi30k", "en", "de", **{**options, "tokenizer_vocab_size": 999})
    second.setup("validate")
    # Compared without the truncation settings, which tokenizing the validation split leaves on the backend.
    saved, loaded = (json.loads(dm.tokenizer.backend_tokenizer.to_str()) for dm in (first, second))
    assert {**saved, "truncation": None} == {**loaded, "truncation": None}


def test_tatoeba_2025_is_shuffled_with_a_fixed_seed_before_holding_out_val_and_test():
    # The older 3.8k ManyThings file, split by row (the full export, bundled:tatoeba-ko-en, is split by group:
    # tests/data/test_data_korean.py).
    raw = load_parallel_text("bundled:tatoeba-ko-en-2025", "ko", "en", val_size=300, test_size=300, split_seed=0)
    assert {split: len(ds) for split, ds in raw.items()} == {"train": 3198, "validation": 300, "test": 300}
    again = load_parallel_text("bundled:tatoeba-ko-en-2025", "ko", "en", val_size=300, test_size=300, split_seed=0)
    assert again["test"]["en"] == raw["test"]["en"]
    # The file is sorted by length: an unshuffled tail would hold only long sentences.
    mean = {split: sum(map(len, raw[split]["en"])) / len(raw[split]) for split in raw}
    assert abs(mean["test"] - mean["train"]) < 5
    pairs = {split: set(zip(raw[split]["ko"], raw[split]["en"])) for split in raw}
    assert not pairs["train"] & pairs["test"] and not pairs["validation"] & pairs["test"]


def test_stylekqc_splits_by_paraphrase_group_and_mixed_concatenates_both():
    raw = load_parallel_text("bundled:stylekqc-ko-en", "ko", "en")
    assert {split: len(ds) for split, ds in raw.items()} == {"train": 27660, "validation": 480, "test": 690}
    meta = [line.split("\t") for line in read_lines(BUNDLED / "korean-english" / "stylekqc_kosp2e.meta.tsv.gz")[1:]]
    korean = [line.split("\t")[0] for line in read_lines(BUNDLED / "korean-english" / "stylekqc_kosp2e.kor-eng.tsv.gz")]
    group_of = dict(zip(korean, (row[1] for row in meta)))
    groups = {split: {group_of[ko] for ko in raw[split]["ko"]} for split in raw}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["validation"]
    mixed = load_parallel_text("bundled:ko-en-mixed", "ko", "en", val_size=500, test_size=500)
    assert {split: len(ds) for split, ds in mixed.items()} == {"train": 27660 + 10443, "validation": 980,
                                                                 "test": 1190}


@pytest.mark.parametrize("kind", ["tsv", "jsonl", "parquet", "folder"])
def test_local_files_load_as_parallel_text(tmp_path, kind):
    en = read_lines(BUNDLED / "multi30k" / "train.en.gz", 40)
    de = read_lines(BUNDLED / "multi30k" / "train.de.gz", 40)
    if kind == "tsv":
        path = tmp_path / "pairs.tsv"
        path.write_text("en\tde\n" + "".join(f"{e}\t{d}\n" for e, d in zip(en, de)), encoding="utf-8")
    elif kind == "jsonl":
        path = tmp_path / "pairs.jsonl"
        path.write_text("".join(json.dumps({"translation": {"en": e, "de": d}}) + "\n" for e, d in zip(en, de)))
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "pairs.parquet"
        pq.write_table(pa.table({"en": en, "de": de}), path)
    else:
        path = tmp_path / "corpus"
        path.mkdir()
        for split, rows in (("train", slice(0, 30)), ("dev", slice(30, 40))):
            for lang, lines in (("en", en), ("de", de)):
                with gzip.open(path / f"{split}.{lang}.gz", "wt", encoding="utf-8") as handle:
                    handle.write("\n".join(lines[rows]) + "\n")
    raw = load_parallel_text(str(path), "de", "en", val_size=5, test_size=5)
    assert list(raw["train"].column_names) == ["de", "en"]
    everything = [pair for split in raw.values() for pair in zip(split["en"], split["de"])]
    assert sorted(everything) == sorted(zip(en, de))


def test_missing_files_and_unknown_languages_fail_with_a_clear_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="No data file or folder at 'data/missing.tsv'"):
        load_parallel_text("data/missing.tsv", "en", "de")
    with pytest.raises(ValueError, match=r"Language 'fr' is not in the data .*multi30k.*\['de', 'en'\]"):
        load_parallel_text("bundled:multi30k", "en", "fr")
    with pytest.raises(ValueError, match="Unknown bundled dataset 'bundled:wmt'"):
        load_parallel_text("bundled:wmt", "en", "de")
    with pytest.raises(ValueError, match="src_lang and tgt_lang are both 'en'"):
        TranslationDataModule("bundled:multi30k", "en", "en")
    # A mistyped folder under an existing one is a path, not a Hub dataset name (which would fail only in setup).
    (tmp_path / "data").mkdir()
    with pytest.raises(FileNotFoundError, match="No data file or folder at 'data/corpus'"):
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)
            TranslationDataModule("data/corpus", "en", "de")


# ---------------------------------------------------------------------------------------------------------------------
# predict_path: the user's own sentences, one per line, each batch carrying the line's index


@pytest.fixture(scope="module")
def predict_module(tmp_path_factory):
    lines = ["A man rides a bike.", "", "Two dogs\tplay in the snow.", "A woman   sings.", "Kids.", "",
             "A very long sentence about a man who walks down the street with his dog in the rain."]
    path = tmp_path_factory.mktemp("predict") / "sentences.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=300, tokenizer_vocab_size=400,
                               max_length=48, max_tokens=64, predict_path=str(path))
    dm.setup("predict")
    return dm, lines


def test_predict_batches_cover_every_line_once_with_its_index(predict_module):
    dm, lines = predict_module
    batches = list(dm.predict_dataloader())
    indices = [i for batch in batches for i in batch["index"].tolist()]
    assert sorted(indices) == list(range(len(lines)))  # empty lines included, none twice
    assert len(batches) > 1 and indices != sorted(indices)  # length-bucketed: the writer restores the order by index
    assert dm.predict_inputs == lines
    for batch in batches:
        assert set(batch) == {"input_ids", "attention_mask", "index", "src_text"}
        for row, index, text in zip(batch["input_ids"], batch["index"].tolist(), batch["src_text"]):
            ids = row[row != dm.tokenizer.pad_token_id].tolist()
            assert text == lines[index]
            # Tabs and runs of spaces are word boundaries: the ids are those of the single-spaced sentence.
            assert ids == dm.tokenizer(" ".join(lines[index].split())).input_ids
            if not lines[index]:
                assert ids == [dm.tokenizer.eos_token_id]  # an empty source stays empty (just </s>)


def test_predict_without_predict_path_uses_the_test_split_with_indices():
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=300, max_test_examples=12,
                               tokenizer_vocab_size=400, max_tokens=512)
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert sorted(i for b in batches for i in b["index"].tolist()) == list(range(12))
    test_sources = read_lines(BUNDLED / "multi30k" / "test_2016_flickr.en.gz", 12)
    assert dm.predict_inputs == test_sources
    assert all(test_sources[i] == text for b in batches for i, text in zip(b["index"].tolist(), b["src_text"]))


def test_predict_path_that_is_not_a_file_fails_at_start_up(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"predict_path='.*nothing.txt' is not a file"):
        TranslationDataModule("bundled:multi30k", "en", "de", predict_path=str(tmp_path / "nothing.txt"))


# ---------------------------------------------------------------------------------------------------------------------
# Incomplete pairs and unreadable corpora (issue 15)


def test_tsv_rows_without_a_target_are_dropped_and_counted(tmp_path, caplog):
    path = tmp_path / "pairs.tsv"
    rows = ["en\tde", "A man.\tEin Mann.", "A dog.", "\tEine Katze.", "A tree.\tEin Baum.", "A car.\t ",
            "A house.\tEin Haus.", "A bird.\tEin Vogel.", "A boat.\tEin Boot."]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="hf_seq2seq_vit"):
        raw = load_parallel_text(str(path), "en", "de", val_size=1, test_size=1)
    assert "Dropped 3 of 8 train pairs" in caplog.text and "missing or empty 'en' or 'de' side" in caplog.text
    kept = sorted(pair for split in raw.values() for pair in zip(split["en"], split["de"]))
    assert kept == sorted([("A man.", "Ein Mann."), ("A tree.", "Ein Baum."), ("A house.", "Ein Haus."),
                           ("A bird.", "Ein Vogel."), ("A boat.", "Ein Boot.")])


def test_a_tsv_without_any_complete_pair_is_refused(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("en\tde\nA man.\nA dog.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"The 'train' split of '.*pairs.tsv' has no pair with both an? 'en' and an? 'de'"):
        load_parallel_text(str(path), "en", "de", val_size=0, test_size=0)


def test_malformed_tsv_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("en\tde\nA man.\tEin Mann.\nA dog.\tEin Hund.\tEXTRA\nA cat.\tEine Katze.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Could not read the data file '.*pairs.tsv': ParserError: .*line 3.*"
                                         r"tab-separated fields as the header"):
        load_parallel_text(str(path), "en", "de", val_size=1, test_size=1)


def test_non_utf8_tsv_names_the_file(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes("en\tde\nA man.\tEin Mann.\nGreetings.\tGrüße.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"Could not read the data file '.*pairs.tsv': UnicodeDecodeError.*as UTF-8"):
        load_parallel_text(str(path), "en", "de", val_size=1, test_size=1)


def _corpus_folder(tmp_path, de_bytes: bytes):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.en").write_text("A man.\nA dog.\nGreetings from Cologne.\n", encoding="utf-8")
    (folder / "train.de.gz").write_bytes(de_bytes)
    return folder


def test_non_utf8_line_parallel_file_names_the_file_and_line(tmp_path):
    folder = _corpus_folder(tmp_path, gzip.compress("Ein Mann.\nEin Hund.\nGrüße aus Köln.\n".encode("latin-1")))
    with pytest.raises(ValueError, match=r"train.de.gz', line 3: .* is not UTF-8; save the file as UTF-8"):
        load_parallel_text(str(folder), "en", "de", val_size=1, test_size=1)


def test_truncated_gzip_corpus_names_the_file(tmp_path):
    lines = "".join(f"Satz Nummer {i}.\n" for i in range(3000)).encode()
    folder = _corpus_folder(tmp_path, gzip.compress(lines)[:2000])
    with pytest.raises(ValueError, match=r"train.de.gz' is a truncated or corrupt gzip file .*compress it again"):
        load_parallel_text(str(folder), "en", "de", val_size=1, test_size=1)


def test_line_parallel_files_of_different_lengths_name_both_files(tmp_path):
    folder = _corpus_folder(tmp_path, gzip.compress("Ein Mann.\nEin Hund.\n".encode()))
    with pytest.raises(ValueError, match=r"'.*train.en' has 3 lines but '.*train.de.gz' has 2"):
        load_parallel_text(str(folder), "en", "de", val_size=1, test_size=1)


@pytest.mark.parametrize("name", ["max_train_examples", "max_val_examples", "max_test_examples"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_max_examples_must_be_a_positive_int(name, value):
    with pytest.raises(ValueError, match=rf"^{name}={value!r} is invalid: give an int >= 1"):
        TranslationDataModule("bundled:multi30k", "en", "de", **{name: value})


def test_a_tsv_header_without_the_language_fails_at_start_up(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("en\tfr\nA man.\tUn homme.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"Language 'de' is not in the data '.*pairs.tsv': its columns are \['en', 'fr'\]"):
        TranslationDataModule(str(path), "en", "de")
