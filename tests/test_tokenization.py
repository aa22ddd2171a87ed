"""Tokenizer training and its transformers wrapper: fixed special ids, exact round trips (Korean included),
text_target labels, padding, save/load, and argument checks."""

import gzip
import itertools
import json
from pathlib import Path

import pytest

from hf_seq2seq_vit.tokenization import (
    EOS_TOKEN_ID,
    PAD_TOKEN_ID,
    UNK_TOKEN_ID,
    load_tokenizer,
    normalize_whitespace,
    read_corpus_lines,
    train_separate_vocab_tokenizer,
    train_tokenizer,
    train_translation_tokenizers,
)

BUNDLED = Path(__file__).resolve().parents[1] / "hf_seq2seq_vit" / "bundled"
MULTI30K_EN = BUNDLED / "multi30k" / "train.en.gz"
MULTI30K_DE = BUNDLED / "multi30k" / "train.de.gz"
TATOEBA = BUNDLED / "korean-english" / "tatoeba-kor-eng.tsv.gz"

ROUND_TRIP = ["나는 사과를 좋아해", "Ein Mann fährt Fahrrad.", "A man, in a red shirt, rides a bike!"]
LANGUAGE_TAGS = ["<2en>", "<2de>", "<2ko>"]


def head(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in itertools.islice(handle, n)]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """300 Multi30k English and German lines plus the first 500 Tatoeba English/Korean pairs (short, with "!")."""
    tatoeba = [line.split("\t") for line in head(TATOEBA, 500)]
    korean = [row[1] for row in tatoeba]
    english = [row[0] for row in tatoeba]
    return head(MULTI30K_EN, 300) + head(MULTI30K_DE, 300) + english + korean


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_tokenizer(corpus, vocab_size=1200, language_tags=LANGUAGE_TAGS, model_max_length=64)


@pytest.fixture(scope="module")
def unigram(corpus):
    return train_tokenizer(corpus, vocab_size=1200, model="unigram", language_tags=LANGUAGE_TAGS)


@pytest.fixture(params=["bpe", "unigram"])
def tok(request):
    return request.getfixturevalue(request.param)


def test_special_token_ids_are_fixed(tok):
    assert tok.convert_tokens_to_ids(["<pad>", "<s>", "</s>", "<unk>"]) == [0, 1, 2, 3]
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.convert_tokens_to_ids(LANGUAGE_TAGS) == [4, 5, 6]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip_is_exact(tok, text):
    ids = tok(text).input_ids
    assert UNK_TOKEN_ID not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_korean_is_not_split_into_bytes(bpe):
    tokens = bpe.convert_ids_to_tokens(bpe("나는 사과를 좋아해", add_special_tokens=False).input_ids)
    # Every piece is whole Hangul syllables (plus the word-start mark), never byte-level stand-ins like "ë".
    assert all(all("가" <= char <= "힣" for char in token.lstrip("▁")) for token in tokens)
    assert "".join(tokens).replace("▁", " ").strip() == "나는 사과를 좋아해"


def test_sequences_end_with_eos_and_do_not_start_with_bos(tok):
    ids = tok("Ein Mann.").input_ids
    assert ids[-1] == EOS_TOKEN_ID
    assert ids[0] != tok.bos_token_id
    assert ids.count(EOS_TOKEN_ID) == 1


def test_text_target_gives_labels_ending_in_eos(bpe):
    batch = bpe(["A man rides a bike."], text_target=["Ein Mann fährt Fahrrad."])
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"] == [bpe("A man rides a bike.").input_ids]
    assert batch["labels"] == [bpe("Ein Mann fährt Fahrrad.").input_ids]
    assert batch["labels"][0][-1] == EOS_TOKEN_ID


def test_padding_uses_pad_id_and_masks_it(bpe):
    batch = bpe(["Ein Mann.", "Zwei junge Männer spielen Fußball im Park."], padding=True)
    short, long = batch["input_ids"]
    n = len(bpe("Ein Mann.").input_ids)
    assert len(short) == len(long) > n
    assert short[n:] == [PAD_TOKEN_ID] * (len(short) - n)
    assert batch["attention_mask"][0] == [1] * n + [0] * (len(short) - n)
    assert batch["attention_mask"][1] == [1] * len(long)


def test_truncation_stops_at_model_max_length_and_keeps_eos(bpe):
    ids = bpe(" ".join(["Ein Mann fährt Fahrrad."] * 40), truncation=True).input_ids
    assert len(ids) == bpe.model_max_length == 64
    assert ids[-1] == EOS_TOKEN_ID


def test_save_then_auto_tokenizer_gives_identical_ids(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    # A class transformers itself provides, so loading needs neither this package nor trust_remote_code.
    assert config["tokenizer_class"] in {"PreTrainedTokenizerFast", "TokenizersBackend"}
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    texts = [*ROUND_TRIP, "<2de> A man ☃ rides."]
    assert reloaded(texts).input_ids == tok(texts).input_ids
    assert reloaded(texts, text_target=texts)["labels"] == tok(texts, text_target=texts)["labels"]
    assert (reloaded.pad_token_id, reloaded.bos_token_id, reloaded.eos_token_id, reloaded.unk_token_id) == (0, 1, 2, 3)
    assert reloaded.decode(reloaded(ROUND_TRIP[0]).input_ids, skip_special_tokens=True) == ROUND_TRIP[0]


def test_load_tokenizer_reads_a_saved_folder(bpe, tmp_path):
    bpe.save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path)(ROUND_TRIP).input_ids == bpe(ROUND_TRIP).input_ids


def test_language_tags_are_single_special_tokens(tok):
    ids = tok("<2ko> A man.").input_ids
    assert ids[0] == tok.convert_tokens_to_ids("<2ko>")
    assert ids[1:] == tok("A man.").input_ids
    assert tok.decode(ids, skip_special_tokens=True) == "A man."


def test_unknown_character_maps_to_unk(tok):
    ids = tok("A ☃ man").input_ids
    assert UNK_TOKEN_ID in ids
    assert tok.decode(ids, skip_special_tokens=True).split() == ["A", "man"]


def test_nfkc_folds_full_width_letters(bpe):
    assert bpe("Ｍａｎｎ").input_ids == bpe("Mann").input_ids


def test_training_from_a_datasets_column(corpus):
    from datasets import Dataset

    dataset = Dataset.from_dict({"text": corpus, "n": list(range(len(corpus)))})
    from_column = train_tokenizer(dataset["text"], vocab_size=1200)
    from_list = train_tokenizer(corpus, vocab_size=1200)
    assert from_column.get_vocab() == from_list.get_vocab()


def test_training_from_text_and_gzip_files(tmp_path):
    plain = tmp_path / "de.txt"
    plain.write_text("\n".join(head(MULTI30K_DE, 200)) + "\n\n", encoding="utf-8")
    tok = train_tokenizer(files=[str(plain), str(MULTI30K_EN)], vocab_size=500)
    assert len(tok) == 500
    for text in ROUND_TRIP[1:]:
        assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text


def test_unigram_uses_a_unigram_model(unigram):
    assert type(unigram.backend_tokenizer.model).__name__ == "Unigram"
    assert len(unigram) == 1200


def test_joint_translation_tokenizer_is_shared(corpus):
    en, de = head(MULTI30K_EN, 300), head(MULTI30K_DE, 300)
    src, tgt = train_translation_tokenizers(en, de, vocab_size=600, language_tags=["<2de>"])
    assert src is tgt
    assert src.convert_ids_to_tokens(src("<2de> A man.").input_ids)[0] == "<2de>"
    batch = src(en[:2], text_target=de[:2])
    assert batch["labels"] == src(de[:2]).input_ids


def test_separate_translation_tokenizers_have_their_own_vocabularies():
    en, de = head(MULTI30K_EN, 300), head(MULTI30K_DE, 300)
    src, tgt = train_translation_tokenizers(iter(en), iter(de), vocab_size=400, joint=False)
    assert src is not tgt
    assert "▁Mann" in tgt.get_vocab() and "▁Mann" not in src.get_vocab()
    assert (src.eos_token_id, tgt.eos_token_id, src.pad_token_id, tgt.pad_token_id) == (2, 2, 0, 0)
    assert tgt(text_target=["Ein Mann."])["input_ids"][0][-1] == EOS_TOKEN_ID


def test_load_tokenizer_on_an_empty_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no tokenizer\.json.*save_pretrained"):
        load_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError, match="No tokenizer folder"):
        load_tokenizer(tmp_path / "missing")


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        (dict(), "texts"),
        (dict(texts=[]), "texts"),
        (dict(texts=["", "  "]), "texts"),
        (dict(texts="one string"), "texts"),
        (dict(texts=["a b"], vocab_size=4), "vocab_size"),
        (dict(texts=["a b"], vocab_size=8, language_tags=["<2en>", "<2de>", "<2fr>", "<2ko>"]), "vocab_size"),
        (dict(texts=["a b"], model="wordpiece"), "model"),
        (dict(texts=["a b"], min_frequency=-1), "min_frequency"),
        (dict(texts=["a b"], model_max_length=0), "model_max_length"),
        (dict(files=["/no/such/file.txt"]), "files"),
        (dict(texts=["a b"], language_tags=["<2en>", "<2en>"]), "language_tags"),
        (dict(texts=["a b"], language_tags=["</s>"]), "language_tags"),
        (dict(texts=["가나다라마바사아자차카타파하"], vocab_size=10, model="unigram"), "vocab_size"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(kwargs, names):
    with pytest.raises(ValueError, match=names):
        train_tokenizer(**kwargs)


def test_invalid_translation_arguments_raise_value_error():
    with pytest.raises(ValueError, match="tgt_texts"):
        train_translation_tokenizers(["A man."], [], vocab_size=100)
    with pytest.raises(ValueError, match="language_tags"):
        train_translation_tokenizers(["A man."], ["Ein Mann."], vocab_size=100, joint=False, language_tags=["<2de>"])


# ---------------------------------------------------------------------------------------------------------------------
# Whitespace inside a sentence (issue 15): a tab or newline is a word boundary, never <unk> glued to a word.

WHITESPACE_VARIANTS = ["A man\nin a red shirt.", "A man\tin a red shirt.", "A man  in a red shirt.",
                       " A man\r\nin a red shirt. ", "A man\u2003in a red shirt."]


@pytest.mark.parametrize("text", WHITESPACE_VARIANTS)
def test_whitespace_inside_a_sentence_is_one_space(tok, text):
    ids = tok(text).input_ids
    assert UNK_TOKEN_ID not in ids
    assert ids == tok("A man in a red shirt.").input_ids
    assert tok.decode(ids, skip_special_tokens=True) == "A man in a red shirt."
    assert normalize_whitespace(text) == "A man in a red shirt."


def test_whitespace_normalisation_survives_save_and_auto_tokenizer(bpe, tmp_path):
    from transformers import AutoTokenizer

    bpe.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(WHITESPACE_VARIANTS).input_ids == [bpe("A man in a red shirt.").input_ids] * 5


def test_load_tokenizer_upgrades_a_tokenizer_saved_without_whitespace_normalisation(corpus, tmp_path):
    from tokenizers import normalizers

    old = train_tokenizer(corpus, vocab_size=800)
    old.backend_tokenizer.normalizer = normalizers.NFKC()  # what tokenizers saved before the fix had
    assert UNK_TOKEN_ID in old("A man\nin a red shirt.").input_ids  # the bug, reproduced
    old.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert loaded("A man\nin a red shirt.").input_ids == old("A man in a red shirt.").input_ids
    assert loaded(ROUND_TRIP).input_ids == old(ROUND_TRIP).input_ids  # single-spaced text: the same ids as before


def test_read_corpus_lines_names_the_file_and_line_of_bad_bytes(tmp_path):
    latin1 = tmp_path / "latin1.de"
    latin1.write_bytes("Ein Mann.\nZwei Hunde.\nGrüße aus Köln.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.de', line 3: the byte b'\\xfc' at offset 2 .*is not UTF-8; save the "
                                         r"file as UTF-8"):
        read_corpus_lines(latin1)
    truncated = tmp_path / "cut.en.gz"
    compressed = gzip.compress("".join(f"Line {i} of the corpus.\n" for i in range(5000)).encode())
    truncated.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"cut.en.gz' is a truncated or corrupt gzip file .*compress it again"):
        read_corpus_lines(truncated)
    not_gzip = tmp_path / "plain.en.gz"
    not_gzip.write_text("A man.\n")
    with pytest.raises(ValueError, match=r"plain.en.gz' is a truncated or corrupt gzip file"):
        read_corpus_lines(not_gzip)
    with_bom = tmp_path / "bom.en"
    with_bom.write_bytes("\ufeffA man.\r\n\r\nA dog.\n".encode("utf-8"))
    assert read_corpus_lines(with_bom) == ["A man.", "", "A dog."]  # empty lines kept, BOM and CRLF dropped


# ---------------------------------------------------------------------------------- per-language (separate) vocabularies
@pytest.fixture(scope="module")
def tatoeba_sides() -> dict[str, list[str]]:
    rows = [line.split("\t") for line in head(TATOEBA, 800)]
    return {"ko": [row[1] for row in rows], "en": [row[0] for row in rows]}


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def separate(request, tatoeba_sides):
    return request.param, train_separate_vocab_tokenizer(tatoeba_sides, {"ko": 900, "en": 500}, model=request.param)


def test_separate_vocabularies_round_trip_and_keep_the_special_ids(separate, tatoeba_sides):
    _, tok = separate
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<s>", "</s>", "<unk>"]
    for text in ROUND_TRIP[:1] + tatoeba_sides["ko"][-50:] + tatoeba_sides["en"][-50:]:
        ids = tok(text).input_ids
        assert ids[-1] == EOS_TOKEN_ID
        assert tok.decode(ids, skip_special_tokens=True) == normalize_whitespace(text)


def test_separate_vocabularies_tokenize_each_language_as_its_own_model(separate, tatoeba_sides):
    # Korean and English share no letters, so each side must come out exactly as its own tokenizer cuts it,
    # the other language's subwords and merges notwithstanding.
    model, tok = separate
    for lang, size in (("ko", 900), ("en", 500)):
        alone = train_tokenizer(tatoeba_sides[lang], vocab_size=size, model=model)
        # Letters of one script, spaces and punctuation (split off into tokens of their own before the subwords).
        hangul_or_latin = [t for t in tatoeba_sides[lang] if "".join(c for c in t if c not in " .,!?'\"").isalpha()][:100]
        assert len(hangul_or_latin) > 20
        for text in hangul_or_latin:
            assert tok.tokenize(text) == alone.tokenize(text)
    # One vocabulary of about both sizes together (the shared characters and the specials counted once).
    assert 900 + 500 - 200 < len(tok) <= 900 + 500 - 4


def test_separate_vocabularies_save_and_load_the_same(separate, tmp_path, tatoeba_sides):
    _, tok = separate
    tok.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    texts = tatoeba_sides["ko"][:30] + tatoeba_sides["en"][:30]
    assert loaded(texts).input_ids == tok(texts).input_ids
    assert loaded.get_vocab() == tok.get_vocab()


def test_separate_vocabularies_check_their_arguments(tatoeba_sides):
    with pytest.raises(ValueError, match="same languages"):
        train_separate_vocab_tokenizer(tatoeba_sides, {"ko": 900})
    with pytest.raises(ValueError, match=r"vocab_sizes\['ko'\].*smaller than the number of distinct characters"):
        train_separate_vocab_tokenizer(tatoeba_sides, {"ko": 100, "en": 500}, model="unigram")
