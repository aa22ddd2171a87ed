"""Tatoeba Korean–English: the export reader, the connected-group split and the bundled data that uses them."""

import gzip

import pytest

from hf_seq2seq_vit.data.korean import (TATOEBA_FILE, connected_groups, read_tatoeba_pairs, sentence_key,
                                        split_by_group)
from hf_seq2seq_vit.data.translation import load_parallel_text

SEED_SENTENCE = "나는 사과를 좋아해"


def write_export(path, rows):
    """A Tatoeba export as the site writes it: a byte-order mark, CRLF line ends, gzip."""
    text = "\ufeff" + "".join("\t".join(str(field) for field in row) + "\r\n" for row in rows)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(text)
    return path


def many_to_many_rows():
    # 4 chains that a split by row would cut: 가 has two English translations, "A2" two Korean ones (가-A, 가-A2,
    # 나-A2: one group of 3, ids shared across rows), 다 and 다.  (the same sentence after whitespace folding) and
    # a group of two pairs linked only through its English side; then 30 one-pair groups.
    rows = [(1, "가", 101, "A"), (1, "가", 102, "A2"), (2, "나", 102, "A2"),
            (3, "다", 103, "C"), (4, " 다 ", 104, "C2"),
            (5, "라", 105, "D"), (6, "마", 105, "D")]
    rows += [(100 + i, f"문장 {i}", 1000 + i, f"Sentence {i}.") for i in range(30)]
    return rows


def sentences_by_split(splits, lang):
    return {split: {sentence_key(row[lang]) for row in rows} for split, rows in splits.items()}


def test_reader_keeps_ids_and_strips_bom_and_crlf(tmp_path):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()))
    assert len(pairs) == 37
    assert pairs[0] == {"kor_id": 1, "ko": "가", "eng_id": 101, "en": "A"}
    assert pairs[-1] == {"kor_id": 129, "ko": "문장 29", "eng_id": 1029, "en": "Sentence 29."}


def test_reader_names_the_bad_line(tmp_path):
    path = write_export(tmp_path / "bad.tsv.gz", [(1, "가", 101, "A"), (2, "나", "B")])
    with pytest.raises(ValueError, match=r"line 2: 3 tab-separated fields, expected 4"):
        read_tatoeba_pairs(path)


def test_groups_follow_shared_sentences_on_either_side(tmp_path):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()))
    groups = connected_groups(pairs)
    assert groups[:3] == [[0, 1, 2], [3, 4], [5, 6]]
    assert sorted(len(group) for group in groups) == [1] * 30 + [2, 2, 3]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_keeps_every_sentence_in_one_split(tmp_path, seed):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()))
    splits = split_by_group(pairs, val_size=6, test_size=5, seed=seed)
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 26, "validation": 6, "test": 5}
    for lang in ("ko", "en"):
        seen = sentences_by_split(splits, lang)
        assert not seen["train"] & seen["validation"] and not seen["train"] & seen["test"]
        assert not seen["validation"] & seen["test"]
    # Every pair is in exactly one split, with its ids.
    assert sorted((r["kor_id"], r["eng_id"]) for rows in splits.values() for r in rows) == \
        sorted((p["kor_id"], p["eng_id"]) for p in pairs)


def test_split_is_deterministic_and_depends_on_the_seed(tmp_path):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()))
    first = split_by_group(pairs, val_size=6, test_size=5, seed=7)
    assert split_by_group(list(pairs), val_size=6, test_size=5, seed=7) == first
    assert any(split_by_group(pairs, val_size=6, test_size=5, seed=s)["test"] != first["test"] for s in range(8, 12))


def test_a_group_larger_than_the_held_out_room_trains(tmp_path):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()[:3]))  # one group of 3
    splits = split_by_group(pairs, val_size=1, test_size=1, seed=0)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [3, 0, 0]


def test_split_refuses_sizes_that_leave_no_training_pairs(tmp_path):
    pairs = read_tatoeba_pairs(write_export(tmp_path / "pairs.tsv.gz", many_to_many_rows()))
    with pytest.raises(ValueError, match="leaves no training pairs out of 37"):
        split_by_group(pairs, val_size=20, test_size=17)


def test_shipped_export_split_is_group_disjoint_and_lacks_the_seed_sentence():
    pairs = read_tatoeba_pairs(TATOEBA_FILE)
    assert len(pairs) == 11443 and pairs[0]["kor_id"] == 5350 and pairs[0]["eng_id"] == 1276
    # The seed's own example must stay unseen (the model has to generalise to it), with or without punctuation.
    assert not any(sentence_key(p["ko"]).rstrip(".!?") == SEED_SENTENCE for p in pairs)
    raw = load_parallel_text("bundled:tatoeba-ko-en", "ko", "en", val_size=500, test_size=500, split_seed=0)
    assert {split: len(raw[split]) for split in raw} == {"train": 10443, "validation": 500, "test": 500}
    for lang in ("ko", "en"):
        seen = {split: {sentence_key(text) for text in raw[split][lang]} for split in raw}
        assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"]
        assert not seen["validation"] & seen["test"]
    assert raw["test"][0] == {"ko": "전화는 성가실 수 있다.", "en": "The telephone can be a nuisance."}


def test_the_2025_tatoeba_split_is_still_available():
    raw = load_parallel_text("bundled:tatoeba-ko-en-2025", "ko", "en", val_size=300, test_size=300, split_seed=0)
    assert {split: len(raw[split]) for split in raw} == {"train": 3198, "validation": 300, "test": 300}


def test_data_module_trains_per_language_vocabularies_into_one_saved_tokenizer(tmp_path):
    from hf_seq2seq_vit.data.translation import TranslationDataModule
    from hf_seq2seq_vit.tokenization import load_tokenizer

    options = dict(val_size=50, test_size=50, max_train_examples=400, tokenizer_model="unigram",
                   tokenizer_vocab_size={"ko": 700, "en": 300}, tokenizer_dir=str(tmp_path / "tok"))
    dm = TranslationDataModule("bundled:tatoeba-ko-en", "ko", "en", **options)
    dm.prepare_data()
    dm.setup("fit")
    english = [t for t in dm.tokenizer.get_vocab() if t.strip("▁").isascii() and t.strip("▁").isalpha()]
    assert len(english) > 250  # English got its own budget, not what Korean's syllables left over
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.get_vocab() == dm.tokenizer.get_vocab()
    sample = dm.raw["validation"]["ko"][:5]
    assert loaded(sample).input_ids == dm.tokenizer(sample).input_ids
    with pytest.raises(ValueError, match=r"one size for each of 'ko' and 'en'"):
        TranslationDataModule("bundled:tatoeba-ko-en", "ko", "en", tokenizer_vocab_size={"ko": 700, "de": 300})
