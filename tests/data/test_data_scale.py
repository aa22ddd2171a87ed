"""The data path at scale (#19): the numpy sampler gives the batches the list-based one gave, tokenization is cached
and not repeated, lengths are a memory-mapped column, sharded training data gives each DDP rank its own shards,
and fewer examples than ranks still works."""

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FIXTURES
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from hf_seq2seq_vit.data import TokenBudgetBatchSampler, TranslationDataModule
from hf_seq2seq_vit.data.streaming import MANIFEST, ShardedCorpus, rank_shard_ids
from hf_seq2seq_vit.lightning.prediction_writer import merge_prediction_parts

# Batches of the list-based sampler and data module of commit 1ef1728, recorded before the numpy rewrite by
# tests/fixtures/make_token_budget_batches.py (sha256 of each case's per-rank batch lists; the 7-pair case in full).
RECORDED = json.loads((FIXTURES / "token_budget_batches_1ef1728.json").read_text())


def _digest(batches) -> str:
    return hashlib.sha256(json.dumps(batches).encode()).hexdigest()


def _recorded_corpora() -> dict[str, list[int]]:
    rng = np.random.default_rng(19)  # the generator and draws of the recording script, in its order
    return {"uniform_2_60_x5000": rng.integers(2, 61, 5000).tolist(),
            "zipf_like_x3000": np.minimum(rng.zipf(1.6, 3000) + 3, 120).tolist(),
            "tiny_x7": [3, 9, 4, 8, 2, 9, 1]}


def test_sampler_gives_the_batches_the_previous_sampler_gave_on_recorded_inputs():
    corpora = _recorded_corpora()
    assert len(RECORDED["sampler"]) == 108  # shuffle on/off, 1-3 ranks, two epochs, three budgets, three corpora
    for case in RECORDED["sampler"]:
        lengths = corpora[case["corpus"]]
        options = case["options"]
        ranks = []
        for rank in range(options["num_replicas"]):
            # The lengths as the data module passes them now: an int32 numpy column.
            sampler = TokenBudgetBatchSampler(np.asarray(lengths, dtype=np.int32), rank=rank, **options)
            sampler.set_epoch(case["epoch"])
            ranks.append(list(sampler))
        assert _digest(ranks) == case["sha256"], case
        if case["batches"] is not None:
            assert ranks == case["batches"]


def test_data_module_gives_the_batches_it_gave_before_on_multi30k():
    recorded = RECORDED["datamodule"]
    dm = TranslationDataModule("bundled:multi30k", "en", "de", max_train_examples=3000, max_val_examples=200,
                               tokenizer_vocab_size=600, max_length=24, max_tokens=600, seed=5)
    dm.setup("fit")
    assert dm.num_filtered == recorded["num_filtered"]  # the max_length filter drops the same pairs
    assert _digest(list(map(int, dm.datasets["train"]["length"]))) == recorded["lengths"]
    for epoch in (0, 1):
        sampler = dm._sampler("train", dm.max_tokens, shuffle=True)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert batches[0] == recorded[f"train_epoch{epoch}_first"]
        assert _digest(batches) == recorded[f"train_epoch{epoch}"]
    assert _digest(list(dm._sampler("validation", dm.eval_max_tokens, shuffle=False))) == recorded["validation"]


def test_the_sampler_keeps_its_epoch_as_arrays_not_per_example_objects(tmp_path):
    lengths = np.lib.format.open_memmap(tmp_path / "lengths.npy", mode="w+", dtype=np.int32, shape=(200_000,))
    lengths[:] = np.random.default_rng(0).integers(1, 100, len(lengths))
    lengths.flush()
    mapped = np.load(tmp_path / "lengths.npy", mmap_mode="r")
    sampler = TokenBudgetBatchSampler(mapped, max_tokens=4096, num_replicas=2, rank=1)
    assert sampler.lengths is mapped  # used in place, not copied into a list
    order, starts, sizes = sampler.rank_plan()
    assert all(isinstance(array, np.ndarray) for array in (order, starts, sizes))
    assert order.dtype == np.int32 and len(order) == len(mapped)
    assert len(sampler) == len(starts) and sizes.min() >= 1
    first = next(iter(sampler))
    assert len(first) * max(int(mapped[i]) for i in first) <= 4096


def test_fewer_examples_than_ranks_pads_every_rank_and_the_writer_keeps_one_result(tmp_path):
    # A one-line predict file on two GPUs: both ranks get one batch (the same example), as DistributedSampler pads.
    shares = [list(TokenBudgetBatchSampler([5], max_tokens=64, shuffle=False, num_replicas=2, rank=rank))
              for rank in range(2)]
    assert shares == [[[0]], [[0]]]
    # Two examples, three ranks: nothing is split into an empty batch; every rank gets one non-empty batch.
    shares = [list(TokenBudgetBatchSampler([4, 7], max_tokens=64, num_replicas=3, rank=rank)) for rank in range(3)]
    assert all(len(share) == 1 and len(share[0]) == 1 for share in shares)
    assert {i for share in shares for batch in share for i in batch} == {0, 1}
    parts = []
    for rank in range(2):
        parts.append(tmp_path / f"rank{rank}.jsonl")
        parts[-1].write_text(json.dumps({"index": 0, "translation": "Hallo"}) + "\n")
    out = merge_prediction_parts(parts, tmp_path / "out.txt", inputs=["Hello"])
    assert out.read_text() == "Hallo\n"


def _write_tsv(path: Path, pairs: int, start: int = 0) -> Path:
    rng = np.random.default_rng(start)
    words = ["house", "cat", "dog", "tree", "green", "small", "runs", "sees", "the", "a", "big", "old", "red"]
    lines = ["en\tde"]
    for index in range(start, start + pairs):
        text = " ".join(rng.choice(words, rng.integers(2, 12)))
        lines.append(f"{text} number {index}\t{text.upper()} NUMMER {index}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path):
    return {"train": str(_write_tsv(tmp_path / "train.tsv", 2400)),
            "validation": str(_write_tsv(tmp_path / "valid.tsv", 40, start=10_000))}


def _options(tmp_path, corpus, **extra):
    return dict(dict(data_files=corpus, src_lang="en", tgt_lang="de", tokenizer_dir=str(tmp_path / "tokenizer"),
                     tokenizer_vocab_size=300, cache_dir=str(tmp_path / "cache"), max_length=64, max_tokens=512,
                     test_size=100), **extra)


def test_a_second_setup_loads_the_tokenized_cache_instead_of_tokenizing_again(tmp_path, corpus, monkeypatch):
    first = TranslationDataModule(**_options(tmp_path, corpus, num_proc=2))
    first.prepare_data()
    first.setup("fit")
    train = first.datasets["train"]
    assert len(train.cache_files) == 2  # tokenized by two processes into the Arrow cache under cache_dir
    assert all(f["filename"].startswith(str(tmp_path / "cache")) for f in train.cache_files)
    assert isinstance(first.lengths["train"], np.memmap)  # a .npy column beside the cache, memory-mapped

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("the second setup tokenized again")

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", no_tokenizing)
    second = TranslationDataModule(**_options(tmp_path, corpus, num_proc=2))
    second.setup("fit")
    assert second.datasets["train"].cache_files == train.cache_files
    assert np.array_equal(second.lengths["train"], first.lengths["train"])
    assert second.datasets["train"][:5]["input_ids"] == train[:5]["input_ids"]
    assert [b for b in second.train_dataloader().batch_sampler] == [b for b in first.train_dataloader().batch_sampler]
    # A different max_length is another tokenization (evaluation sources are cut to it): not the same cache.
    monkeypatch.undo()
    third = TranslationDataModule(**_options(tmp_path, corpus, num_proc=2, max_length=32))
    third.setup("fit")
    assert third.datasets["validation"].cache_files != second.datasets["validation"].cache_files


def _rank(dm: TranslationDataModule, rank: int, world_size: int) -> TranslationDataModule:
    dm.trainer = SimpleNamespace(world_size=world_size, global_rank=rank, training=False)
    return dm


def test_sharded_training_data_gives_each_ddp_rank_only_its_own_shards(tmp_path, corpus):
    options = _options(tmp_path, corpus, train_shards=4, shard_dir=str(tmp_path / "shards"))
    writer = _rank(TranslationDataModule(**options), 0, 2)
    writer.prepare_data()  # what the Trainer runs on one process per node, before setup
    manifest = json.loads((tmp_path / "shards" / MANIFEST).read_text())
    assert manifest["num_shards"] == 4 and sum(manifest["rows"]) == len(writer.raw["train"])
    reference = TranslationDataModule(**_options(tmp_path, corpus))  # the same data without shards
    reference.setup("fit")
    everything = {tuple(ids) for ids in reference.datasets["train"]["input_ids"]}
    assert len(everything) == len(reference.datasets["train"])  # every pair distinct, so sets compare rows

    ranks = [_rank(TranslationDataModule(**options), rank, 2) for rank in range(2)]
    seen, steps = [], set()
    for rank, dm in enumerate(ranks):
        dm.setup("fit")
        files = [Path(f["filename"]).name for f in dm.datasets["train"].cache_files]
        assert files == [f"train-{i:05d}-of-00004.arrow" for i in rank_shard_ids(4, rank, 2)]  # only its shards
        rows = [tuple(ids) for ids in dm.datasets["train"]["input_ids"]]
        loader = dm.train_dataloader()
        loader.batch_sampler.set_epoch(1)
        batches = list(loader.batch_sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(rows)))  # its rows, each once per epoch
        steps.add(len(batches))
        seen.append(set(rows))
    assert len(steps) == 1  # the same number of steps on both ranks, or DDP would hang
    assert not seen[0] & seen[1]  # disjoint ...
    assert seen[0] | seen[1] == everything  # ... and together the whole training split


def test_shards_of_other_data_are_rewritten_and_too_few_shards_are_refused(tmp_path, corpus):
    options = _options(tmp_path, corpus, train_shards=2, shard_dir=str(tmp_path / "shards"))
    TranslationDataModule(**options).prepare_data()
    before = ShardedCorpus(tmp_path / "shards").manifest["fingerprint"]
    changed = dict(corpus, train=str(_write_tsv(tmp_path / "other.tsv", 1500, start=50_000)))
    dm = TranslationDataModule(**{**options, "data_files": changed})
    dm.prepare_data()
    assert ShardedCorpus(tmp_path / "shards").manifest["fingerprint"] != before
    with pytest.raises(RuntimeError, match="holds no finished shards of this data"):  # stale, and not rank 0's to fix
        _rank(TranslationDataModule(**options), 1, 2).setup("fit")
    with pytest.raises(ValueError, match="train_shards=2 is fewer than the 3 DDP ranks"):
        _rank(TranslationDataModule(**{**options, "data_files": changed}), 0, 3).setup("fit")
    with pytest.raises(ValueError, match="train_shards is set but shard_dir is not"):
        TranslationDataModule(**{**options, "shard_dir": None})


def test_the_tokenizer_can_be_trained_on_a_sample_of_the_training_pairs(tmp_path, corpus, monkeypatch):
    import hf_seq2seq_vit.data.translation as translation

    seen = []
    real = translation.train_translation_tokenizers
    monkeypatch.setattr(translation, "train_translation_tokenizers",
                        lambda src, tgt, **options: seen.append((list(src), list(tgt))) or real(src, tgt, **options))
    options = {**_options(tmp_path, corpus), "tokenizer_dir": None, "tokenizer_train_size": 300}
    dm = TranslationDataModule(**options)
    dm.setup("validate")
    (src, tgt), = seen
    assert len(src) == len(tgt) == 300
    train = dm.raw["train"]
    assert set(zip(src, tgt)) <= set(zip(train["en"], train["de"]))  # pairs of the training split, still aligned
    with pytest.raises(ValueError, match="tokenizer_train_size=0 is invalid"):
        TranslationDataModule(**{**options, "tokenizer_train_size": 0})


def test_the_tokenized_columns_and_padded_batches_are_those_of_the_tokenizer_and_transformers_collator(tmp_path,
                                                                                                      corpus):
    import torch
    from transformers import DataCollatorForSeq2Seq

    dm = TranslationDataModule(**_options(tmp_path, corpus, max_length=12, max_tokens=300))
    dm.setup("fit")
    tokenizer = dm.tokenizer
    assert 0 < dm.num_filtered < len(dm.raw["train"])  # some training pairs are over max_length: dropped
    expected = {}
    for split, training in (("train", True), ("validation", False)):
        raw = dm.raw[split]
        encoded = tokenizer(list(raw["en"]), text_target=list(raw["de"]), truncation=not training, max_length=12)
        rows = [{"input_ids": ids, "attention_mask": mask, "labels": labels}
                for ids, mask, labels in zip(encoded["input_ids"], encoded["attention_mask"], encoded["labels"])]
        if training:
            rows = [row for row in rows if max(len(row["input_ids"]), len(row["labels"])) <= 12]
        else:
            assert any(len(ids) > 12 for ids in tokenizer(list(raw["en"]))["input_ids"])  # so the cut is tested
        tokenized = dm.datasets[split]
        assert tokenized["input_ids"] == [row["input_ids"] for row in rows]
        assert tokenized["labels"] == [row["labels"] for row in rows]
        assert tokenized["length"] == [max(len(row["input_ids"]), len(row["labels"])) for row in rows]
        assert np.array_equal(dm.lengths[split], tokenized["length"])
        expected[split] = rows
    # The training cache holds ids only (2 bytes a token for this vocabulary): no mask, no text, no index mapping.
    train = dm.datasets["train"]
    assert set(train.column_names) == {"input_ids", "labels", "length"} and train._indices is None
    assert train.features["input_ids"].feature.dtype == "uint16"

    for side in ("right", "left"):
        tokenizer.padding_side = side
        reference = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, return_tensors="pt")
        for split, loader in (("train", dm.train_dataloader()), ("validation", dm.val_dataloader())):
            for indices, batch in zip(loader.batch_sampler, loader):
                want = reference([expected[split][i] for i in indices])
                assert list(batch)[:3] == ["input_ids", "attention_mask", "labels"]
                for key in ("input_ids", "attention_mask", "labels"):
                    assert batch[key].dtype == want[key].dtype == torch.int64 and torch.equal(batch[key], want[key])
                if split == "validation":
                    assert batch["src_text"] == [dm.raw[split]["en"][i] for i in indices]
                    assert batch["tgt_text"] == [dm.raw[split]["de"][i] for i in indices]


def _resident_bytes(path: Path) -> int:
    """Resident bytes of this process's mappings of ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" not in fields[0]:  # a mapping's header line
                inside = len(fields) == 6 and fields[5] == str(path)
            elif inside and fields[0] == "Rss:":
                total += int(fields[1]) * 1024
    return total


def test_released_pages_leave_the_process_and_the_data_reads_the_same(tmp_path, corpus, monkeypatch):
    import datasets
    import pyarrow.compute as pc

    import hf_seq2seq_vit.data.translation as translation
    from hf_seq2seq_vit.data.streaming import release_mapped_pages

    path = tmp_path / "rows.arrow"
    rows = datasets.Dataset.from_dict({"ids": [list(range(i % 50, i % 50 + 64)) for i in range(20_000)]})
    rows = rows.map(lambda batch: batch, batched=True, cache_file_name=str(path))
    column = rows.with_format("arrow")[:]["ids"]
    total = pc.sum(pc.list_flatten(column)).as_py()  # reads every page of the file
    assert _resident_bytes(path) > path.stat().st_size // 2
    assert release_mapped_pages([path]) >= path.stat().st_size // 2
    assert _resident_bytes(path) == 0
    assert pc.sum(pc.list_flatten(column)).as_py() == total and rows[12_345]["ids"][:2] == [45, 46]

    # The training loader hands the pages of its split back when they pass the budget, and not while they fit.
    import hf_seq2seq_vit.data.streaming as streaming

    released = []
    monkeypatch.setattr(streaming, "release_mapped_pages", lambda files: released.append(list(files)))
    dm = TranslationDataModule(**_options(tmp_path, corpus))
    dm.setup("fit")
    files = [f["filename"] for f in dm.datasets["train"].cache_files]
    released.clear()
    assert sum(len(batch["input_ids"]) for batch in dm.train_dataloader()) == len(dm.datasets["train"])
    assert released == []  # a file of a few hundred kB stays under the default budget
    release_mapped_pages(files)  # (the real one) so that the next pass maps pages again
    monkeypatch.setattr(streaming.MappedPageBudget, "BUDGET", 0)  # any page mapped since the last release
    assert sum(len(batch["input_ids"]) for batch in dm.train_dataloader()) == len(dm.datasets["train"])
    assert len(released) >= 1 and all(r == files for r in released)


def test_the_page_budget_keeps_a_pass_over_a_large_file_within_it(tmp_path):
    import mmap

    from hf_seq2seq_vit.data.streaming import MappedPageBudget

    path = tmp_path / "pages.bin"
    path.write_bytes(np.arange(32 << 20, dtype=np.uint8).tobytes())  # 32 MiB
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ)
    view = np.frombuffer(mapped, dtype=np.uint8)
    budget, peak, total = MappedPageBudget([path], budget=4 << 20), 0, 0
    for start in range(0, len(view), 1 << 20):  # 1 MiB at a time, in file order
        total += int(view[start:start + (1 << 20)].sum(dtype=np.int64))
        budget()
        peak = max(peak, _resident_bytes(path))
    assert total == int(np.arange(32 << 20, dtype=np.uint8).sum(dtype=np.int64))
    assert budget.releases >= 32 // 6 and peak <= (4 + 2) << 20  # at most the budget and a step over it
    wide = MappedPageBudget([path], budget=1 << 30)
    for start in range(0, len(view), 1 << 20):
        view[start:start + (1 << 20)].sum()
        wide()
    assert wide.releases == 0 and _resident_bytes(path) >= 16 << 20
    del view
    mapped.close()


def _pool_of(row: int, count: int, pool_size: int) -> int:
    pools = -(-count // pool_size)
    bounds = np.linspace(0, count, pools + 1).astype(np.int64)
    return int(np.searchsorted(bounds, row, side="right")) - 1


@pytest.mark.parametrize("replicas", [1, 3])
def test_a_corpus_larger_than_a_pool_is_batched_pool_by_pool_with_the_same_count_every_epoch(replicas):
    lengths = np.random.default_rng(7).integers(2, 80, 10_000)
    for shuffle in (True, False):
        counts = set()
        for epoch in range(3):
            seen = []
            for rank in range(replicas):
                sampler = TokenBudgetBatchSampler(lengths, 600, shuffle=shuffle, seed=1, num_replicas=replicas,
                                                  rank=rank, pool_size=3000)
                sampler.set_epoch(epoch)
                batches = list(sampler)
                counts.add(len(batches))
                for batch in batches:
                    assert len(batch) * lengths[batch].max() <= 600
                    assert len({_pool_of(row, len(lengths), 3000) for row in batch}) == 1  # one pool's rows
                seen += [row for batch in batches for row in batch]
            assert sorted(seen) == list(range(len(lengths)))  # every row once (a split batch keeps its rows)
        assert len(counts) == 1  # the same number of batches in every epoch and on every rank
    # Pools change the plan only for corpora larger than one: a pool as large as the corpus is the whole-corpus plan.
    one, whole = (TokenBudgetBatchSampler(lengths, 600, seed=1, pool_size=size) for size in (len(lengths), None))
    assert list(one) == list(whole)
    # Consecutive batches come from one pool at a time: the pools are visited one after another.
    sampler = TokenBudgetBatchSampler(lengths, 600, seed=1, pool_size=3000)
    visits = [_pool_of(batch[0], len(lengths), 3000) for batch in sampler]
    changes = sum(a != b for a, b in zip(visits, visits[1:]))
    assert changes == 3 and sorted(set(visits)) == [0, 1, 2, 3]


def test_a_training_split_larger_than_a_pool_is_tokenized_in_a_shuffled_order(tmp_path, corpus, monkeypatch):
    import hf_seq2seq_vit.data.translation as translation

    small = TranslationDataModule(**_options(tmp_path, corpus))
    small.setup("fit")
    monkeypatch.setattr(translation, "POOL_SIZE", 1000)  # the 2,300 training pairs are now "large"
    large = TranslationDataModule(**_options(tmp_path, corpus))
    large.setup("fit")
    before, after = small.datasets["train"]["input_ids"], large.datasets["train"]["input_ids"]
    assert sorted(map(tuple, before)) == sorted(map(tuple, after)) and before != after  # same rows, reordered
    again = TranslationDataModule(**_options(tmp_path, corpus))
    again.setup("fit")
    assert again.datasets["train"]["input_ids"] == after  # the same order (and cache) on every run


@pytest.mark.parametrize("in_memory", [False, True])
def test_held_out_splits_are_the_rows_and_order_of_a_datasets_shuffle_without_its_list_of_rows(tmp_path,
                                                                                                in_memory):
    import datasets

    from hf_seq2seq_vit.data.translation import _canonical_splits, _drop_incomplete_pairs, _load_table_files

    path = tmp_path / "pairs.tsv"  # every 7th pair has an empty side: the blank-pair filter's mapping is composed
    path.write_text("en\tde\n" + "".join(f"s{i}\t{f't{i}' if i % 7 else ''}\n" for i in range(5000)))
    if in_memory:
        table = {"en": [f"s{i}" for i in range(5000)], "de": [f"t{i}" if i % 7 else "" for i in range(5000)]}
        raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict(table)})
    else:
        raw = _load_table_files({"train": str(path)}, None, cache_dir=str(tmp_path / "cache"))
    raw = _drop_incomplete_pairs(raw, ("en", "de"), "pairs")
    splits = _canonical_splits(raw, ("en", "de"), "train", None, None, 300, 200, 3)
    shuffled = raw["train"].select_columns(["en", "de"]).shuffle(seed=3)  # what the splits were cut from until now
    expected = {"validation": range(0, 300), "test": range(300, 500), "train": range(500, len(shuffled))}
    for split, rows in expected.items():
        assert splits[split][:] == shuffled.select(rows)[:], split
    assert len(splits["train"]) == 5000 - 715 - 500
    assert bool(splits["train"].cache_files) != in_memory  # a file-backed mapping is cached beside the data
    again = _canonical_splits(raw, ("en", "de"), "train", None, None, 300, 200, 3)
    assert again["train"]._fingerprint == splits["train"]._fingerprint  # so the tokenized cache is found again


def test_the_four_byte_permutation_is_the_one_numpy_draws():
    from hf_seq2seq_vit.data.translation import _permutation

    for count in (1, 10, 12_345, 1_000_003):
        assert np.array_equal(_permutation(count, 5), np.random.default_rng(5).permutation(count))
        assert _permutation(count, 5).dtype == np.uint32


def test_a_large_training_split_is_read_a_block_of_consecutive_file_rows_at_a_time():
    import datasets

    from hf_seq2seq_vit.data.translation import _shuffled_blocks

    table = datasets.Dataset.from_dict({"row": list(range(40 * 256))})  # whole blocks, so that the
    for mapped in (table, table.shuffle(seed=4).select(range(36 * 256))):  # test can cut them apart again
        positions = _shuffled_blocks(mapped, seed=2, block=256)
        assert sorted(positions.tolist()) == list(range(len(mapped)))  # every position once
        rows = np.asarray(mapped["row"])[positions]  # the file rows read, in the order they are read
        blocks = [rows[at:at + 256] for at in range(0, len(rows), 256)]
        assert all((np.diff(block) > 0).all() for block in blocks)  # ascending file rows inside each block
        firsts = [int(block[0]) for block in blocks]
        assert firsts != sorted(firsts)  # the blocks themselves come in a shuffled order
        assert sorted(np.concatenate(blocks).tolist()) == sorted(mapped["row"])
