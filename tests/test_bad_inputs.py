"""Bad inputs across the package, as an adversarial user would try them (issue 15).

Each row is one input and what must happen: either a clear error (the exception type, and a message that names the
argument or file and says what to do) or a correct result (checked against a reference, not just "no crash").
Everything is tiny (a 1+1-layer translator, a 1-layer ConvViT, files of a few lines) so the table runs in seconds.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import pipeline

from hf_seq2seq_vit import (
    ConvViTConfig,
    ConvViTForImageClassification,
    ConvViTImageProcessor,
    Seq2SeqTransformerConfig,
    Seq2SeqTransformerForConditionalGeneration,
)
from hf_seq2seq_vit.data import TranslationDataModule, load_parallel_text
from hf_seq2seq_vit.data.images import ImageDataModule
from hf_seq2seq_vit.export import ExportError, export_checkpoint, load_exported
from hf_seq2seq_vit.lightning.image_classification import ImageClassificationModule
from hf_seq2seq_vit.lightning.translation import TranslationModule
from hf_seq2seq_vit.models.conv_vit.pipeline_conv_vit import ConvViTImageClassificationPipeline
from hf_seq2seq_vit.tokenization import (
    EOS_TOKEN_ID,
    UNK_TOKEN_ID,
    load_tokenizer,
    read_corpus_lines,
    train_tokenizer,
    train_translation_tokenizers,
)

SENTENCES = ["A man rides a bike.", "Ein Mann fährt Fahrrad.", "Two dogs play in the snow.", "Zwei Hunde spielen."]
TRANSLATOR = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
                  encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=32)
VIT = dict(image_size=32, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_labels=3)
LEGACY = FIXTURES / "legacy_checkpoints"
LEGACY_TRANSLATION_CHECKPOINT = LEGACY / "translation_2026-12-02.ckpt"
LEGACY_IMAGE_CHECKPOINT = LEGACY / "image_classification_2026-12-02.ckpt"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("bad_inputs")
    exported = {"translation": export_checkpoint(str(LEGACY_TRANSLATION_CHECKPOINT), str(tmp / "translator")),
                "image": export_checkpoint(str(LEGACY_IMAGE_CHECKPOINT), str(tmp / "classifier"))}
    tok = train_tokenizer(SENTENCES * 20, vocab_size=100)
    translator = Seq2SeqTransformerForConditionalGeneration(
        Seq2SeqTransformerConfig(vocab_size=len(tok), **TRANSLATOR)).eval()
    yield SimpleNamespace(
        tok=tok, translator=translator, inputs=tok(["A man rides."], return_tensors="pt"),
        classifier=ConvViTForImageClassification(ConvViTConfig(**VIT)).eval(),
        processor=ConvViTImageProcessor.from_preset("cifar10"), tmp=tmp, exported=exported,
        translation_pipeline=pipeline("translation", model=str(exported["translation"]), trust_remote_code=True),
        image_pipeline=pipeline("image-classification", model=str(exported["image"]),
                                pipeline_class=ConvViTImageClassificationPipeline),
    )
    torch.set_num_threads(threads)


def raises(exception: type[BaseException], match: str):
    return ("raises", exception, match)


def gives(check):
    """``check(result, ctx)`` must hold: the input is handled, and handled correctly."""
    return ("gives", check)


# --------------------------------------------------------------------------------------------------------------------
# Helpers that write small bad files under the test's own folder


def write(ctx, name: str, data: str | bytes):
    path = ctx.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def corpus_folder(ctx, name: str, de: bytes, en: str = "A man.\nA dog.\nGreetings from Cologne.\n"):
    write(ctx, f"{name}/train.en", en)
    write(ctx, f"{name}/train.de.gz", de)
    return str(ctx.tmp / name)


def truncated_gzip() -> bytes:
    compressed = gzip.compress("".join(f"Satz Nummer {i}.\n" for i in range(3000)).encode())
    return compressed[: len(compressed) // 2]


def generate(ctx, **kwargs):
    return ctx.translator.generate(**ctx.inputs, max_new_tokens=kwargs.pop("max_new_tokens", 4), **kwargs)


def translation_dm(ctx, **kwargs):
    return TranslationDataModule(**{"dataset": "bundled:multi30k", "src_lang": "en", "tgt_lang": "de", **kwargs})


def image_dm(ctx, **kwargs):
    return ImageDataModule(**{"num_workers": 0, "pin_memory": False, **kwargs})


def tsv_dropping_rows_without_target(ctx):
    path = write(ctx, "missing_target.tsv", "en\tde\nA man.\tEin Mann.\nA dog.\nA tree.\tEin Baum.\n\tEine Katze.\n"
                                           "A house.\tEin Haus.\n")
    return load_parallel_text(str(path), "en", "de", val_size=1, test_size=1)


def predict_lines(ctx):
    path = write(ctx, "predict.txt", "A man.\n\n \t \nTwo\tdogs.\n")
    dm = translation_dm(ctx, max_train_examples=200, tokenizer_vocab_size=300, predict_path=str(path))
    dm.setup("predict")
    rows = {}
    for batch in dm.predict_dataloader():
        for index, ids, mask in zip(batch["index"].tolist(), batch["input_ids"], batch["attention_mask"]):
            rows[index] = ids[mask.bool()].tolist()
    return dm.tokenizer, [rows[i] for i in range(len(rows))]


def image_file(ctx, name: str, array: np.ndarray):
    path = ctx.tmp / name
    Image.fromarray(array).save(path)
    return path


def export_target_with_a_user_file(ctx):
    folder = ctx.tmp / "my_documents"
    folder.mkdir(exist_ok=True)
    (folder / "thesis.tex").write_text("keep me")
    try:
        export_checkpoint(str(LEGACY_TRANSLATION_CHECKPOINT), str(folder))
    finally:
        assert (folder / "thesis.tex").read_text() == "keep me"  # never deleted


def damaged_export(ctx, name: str, damage: str):
    """A copy of the exported translator whose weights lack one tensor, or hold a NaN / the tokenizer.json is cut."""
    folder = ctx.tmp / name
    shutil.copytree(ctx.exported["translation"], folder)
    if damage == "tokenizer":
        (folder / "tokenizer.json").write_text('{"version": "1.0", "model": ')
        return folder
    tensors = load_file(folder / "model.safetensors")
    tensor = next(key for key in sorted(tensors) if key.endswith("fc1.weight"))
    if damage == "missing":
        del tensors[tensor]
    else:
        tensors[tensor][0, 0] = float("nan")
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def command_line(ctx, *argv: str) -> tuple[int, str]:
    """``hf-seq2seq-vit ARGV``: the exit status and the last line of stderr."""
    from hf_seq2seq_vit.cli import main

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            status = main([str(arg) for arg in argv])
        except SystemExit as exit_info:  # argparse's usage errors
            status = exit_info.code
    return status, stderr.getvalue().strip().splitlines()[-1]


def one_line_error(pattern: str):
    """A command-line user error: exit status 2 and one line naming what is wrong."""
    return gives(lambda result, c: result[0] == 2 and re.search(pattern, result[1]) is not None)


WHITE = np.full((8, 8, 3), 255, dtype=np.uint8)

CASES = [
    # --- model configs --------------------------------------------------------------------------------------------
    ("config: heads do not divide d_model",
     lambda c: Seq2SeqTransformerConfig(**{**TRANSLATOR, "encoder_attention_heads": 5}),
     raises(ValueError, r"d_model \(32\) must be divisible by encoder_attention_heads \(5\)")),
    ("config: unknown activation", lambda c: Seq2SeqTransformerConfig(activation_function="relu6"),
     raises(ValueError, r"activation_function='relu6' is not supported; choose one of")),
    ("config: vocab_size 0", lambda c: Seq2SeqTransformerConfig(vocab_size=0),
     raises(ValueError, r"vocab_size must be a positive integer, got 0")),
    ("config: dropout 1.5", lambda c: Seq2SeqTransformerConfig(dropout=1.5),
     raises(ValueError, r"dropout must be in \[0, 1\), got 1.5")),
    ("config: misspelt key", lambda c: Seq2SeqTransformerConfig(d_modle=64),
     raises(ValueError, r"unknown key 'd_modle'; did you mean 'd_model'")),
    ("config: unknown position embedding", lambda c: Seq2SeqTransformerConfig(position_embedding_type="rotary"),
     raises(ValueError, r"position_embedding_type='rotary' is not supported")),
    ("config: d_model as a string", lambda c: Seq2SeqTransformerConfig(d_model="32"),
     raises(Exception, r"d_model.*expected int, got str")),
    ("config: pad id outside the vocabulary", lambda c: Seq2SeqTransformerConfig(vocab_size=50, pad_token_id=500),
     raises(ValueError, r"pad_token_id=500 is outside the vocabulary")),
    ("config: shared embeddings with two vocabularies",
     lambda c: Seq2SeqTransformerConfig(vocab_size=60, tgt_vocab_size=50),
     raises(ValueError, r"share_encoder_decoder_embeddings=True needs one vocabulary.*set "
                        r"share_encoder_decoder_embeddings=False")),
    ("vit config: heads do not divide hidden_size",
     lambda c: ConvViTForImageClassification(ConvViTConfig(**{**VIT, "num_attention_heads": 5})),
     raises(ValueError, r"num_attention_heads=5 is invalid: expected a divisor of hidden_size=32")),
    ("vit config: unknown pooling", lambda c: ConvViTForImageClassification(ConvViTConfig(**{**VIT, "pooling": "max"})),
     raises(ValueError, r"pooling='max' is invalid: expected one of \['cls', 'mean'\]")),
    ("vit config: unknown stem", lambda c: ConvViTForImageClassification(ConvViTConfig(**{**VIT, "stem_type": "big"})),
     raises(ValueError, r"stem_type='big' is invalid: expected one of")),
    ("vit config: unknown activation", lambda c: ConvViTForImageClassification(ConvViTConfig(**{**VIT, "hidden_act": "nope"})),
     raises(ValueError, r"hidden_act='nope' is invalid")),
    # --- model inputs ---------------------------------------------------------------------------------------------
    ("input: float input_ids", lambda c: c.translator(input_ids=c.inputs.input_ids.float(), labels=c.inputs.input_ids),
     raises(ValueError, r"input_ids must hold integer token ids .*got dtype torch.float32")),
    ("input: token id beyond the vocabulary",
     lambda c: c.translator(input_ids=torch.tensor([[500, 2]]), labels=c.inputs.input_ids),
     raises(ValueError, r"input_ids contains token id 500 outside the vocabulary.*different tokenizer")),
    ("input: negative token id", lambda c: c.translator(input_ids=torch.tensor([[-5, 2]]), labels=c.inputs.input_ids),
     raises(ValueError, r"input_ids contains token id -5 outside the vocabulary")),
    ("input: longer than max_position_embeddings",
     lambda c: c.translator(input_ids=torch.ones(1, 100, dtype=torch.long), labels=c.inputs.input_ids),
     raises(ValueError, r"input_ids has 100 tokens but the model has max_position_embeddings=32; truncate")),
    ("input: 1-D input_ids to generate", lambda c: c.translator.generate(input_ids=c.inputs.input_ids[0]),
     raises(ValueError, r"input_ids must have shape \(batch, length\), got \(\d+,\)")),
    ("input: attention_mask longer than input_ids",
     lambda c: c.translator(input_ids=c.inputs.input_ids, attention_mask=torch.ones(1, c.inputs.input_ids.shape[1] + 2),
                            labels=c.inputs.input_ids),
     raises(ValueError, r"attention_mask has shape \(1, \d+\) but input_ids has shape \(1, \d+\); pass the mask")),
    ("input: encoder_attention_mask of another batch",
     lambda c: c.translator(input_ids=c.inputs.input_ids, attention_mask=torch.ones(2, c.inputs.input_ids.shape[1]),
                            labels=c.inputs.input_ids),
     raises(ValueError, r"attention_mask has shape \(2, \d+\) but input_ids has shape \(1, \d+\)")),
    ("vit input: NaN pixels", lambda c: c.classifier(torch.full((1, 3, 32, 32), float("nan"))),
     raises(ValueError, r"pixel_values contain NaN or infinite values")),
    ("vit input: labels for a model without a head",
     lambda c: ConvViTForImageClassification(ConvViTConfig(**{**VIT, "num_labels": 0}))(
         torch.randn(1, 3, 32, 32), labels=torch.tensor([0])),
     raises(ValueError, r"labels were given but config.num_labels=0.*set num_labels")),
    ("vit input: one channel", lambda c: c.classifier(torch.randn(1, 1, 32, 32)),
     raises(ValueError, r"pixel_values have 1 channels but the model expects num_channels=3")),
    ("vit input: wrong image size", lambda c: c.classifier(torch.randn(1, 3, 64, 64)),
     raises(ValueError, r"image size \(64×64\) doesn't match the model's image_size \(32×32\)")),
    ("vit input: uint8 pixels", lambda c: c.classifier(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)),
     raises(ValueError, r"pixel_values have dtype torch.uint8.*image processor")),
    ("vit input: no batch dimension", lambda c: c.classifier(torch.randn(3, 32, 32)),
     raises(ValueError, r"pixel_values must have shape \(batch, channels, height, width\); got \(3, 32, 32\)")),
    # --- generate arguments ---------------------------------------------------------------------------------------
    ("generate: num_beams 0", lambda c: generate(c, num_beams=0),
     raises(ValueError, r"num_beams=0 .* must be an integer >= 1")),
    ("generate: num_beams -2", lambda c: generate(c, num_beams=-2),
     raises(ValueError, r"num_beams=-2 .* must be an integer >= 1")),
    ("generate: more sequences than beams", lambda c: generate(c, num_beams=2, num_return_sequences=3),
     raises(ValueError, r"num_return_sequences.*\(3\).*num_beams.*\(2\)")),
    ("generate: max_new_tokens 0", lambda c: generate(c, max_new_tokens=0),
     raises(ValueError, r"max_new_tokens.*must be greater than 0")),
    ("generate: misspelt argument", lambda c: generate(c, num_beam=2),
     raises(ValueError, r"\['num_beam'\]")),
    ("generate: negative num_beams in generation_config",
     lambda c: c.translator.generate(**c.inputs, generation_config=type(c.translator.generation_config)(num_beams=-1)),
     raises(ValueError, r"num_beams=-1 .* must be an integer >= 1")),
    # --- tokenizer ------------------------------------------------------------------------------------------------
    ("tokenizer: vocab_size below the special tokens", lambda c: train_tokenizer(SENTENCES, vocab_size=3),
     raises(ValueError, r"vocab_size=3 leaves no room for learned tokens")),
    ("tokenizer: unknown model", lambda c: train_tokenizer(SENTENCES, model="wordpiece"),
     raises(ValueError, r"model must be one of \['bpe', 'unigram'\], got 'wordpiece'")),
    ("tokenizer: one string instead of a list", lambda c: train_tokenizer("A man.", vocab_size=50),
     raises(ValueError, r"texts must be an iterable of strings, not one string")),
    ("tokenizer: only blank lines", lambda c: train_tokenizer(["", "  "], vocab_size=50),
     raises(ValueError, r"texts/files gave no non-blank lines")),
    ("tokenizer: target column forgotten", lambda c: train_translation_tokenizers(SENTENCES, [], vocab_size=50),
     raises(ValueError, r"tgt_texts gave no non-blank lines")),
    ("tokenizer: language_tags as a string", lambda c: train_tokenizer(SENTENCES, language_tags="<2de>"),
     raises(ValueError, r"language_tags must be a list of strings")),
    ("tokenizer: training file that does not exist", lambda c: train_tokenizer(files=[str(c.tmp / "corpus.txt")]),
     raises(ValueError, r"files lists paths that are not files: \['.*corpus.txt'\]")),
    ("tokenizer: language tag with a space", lambda c: train_tokenizer(SENTENCES, language_tags=["<2 de>"]),
     raises(ValueError, r"language_tags must be non-empty strings without spaces")),
    ("tokenizer: load a missing folder", lambda c: load_tokenizer(c.tmp / "no_tokenizer_here"),
     raises(FileNotFoundError, r"No tokenizer folder at '.*no_tokenizer_here'. Train one")),
    ("tokenizer: invalid tokenizer.json", lambda c: load_tokenizer(write(c, "broken_tok/tokenizer.json", "{not json").parent),
     raises(ValueError, r"broken_tok/tokenizer.json' is not a valid tokenizer file .*save_pretrained")),
    ("tokenizer: newline inside a sentence", lambda c: c.tok("A man\nrides.\tTwo  dogs.").input_ids,
     gives(lambda ids, c: UNK_TOKEN_ID not in ids and ids == c.tok("A man rides. Two dogs.").input_ids)),
    # --- data modules ---------------------------------------------------------------------------------------------
    ("data: the same language twice", lambda c: translation_dm(c, tgt_lang="en"),
     raises(ValueError, r"src_lang and tgt_lang are both 'en'")),
    ("data: max_length above max_tokens", lambda c: translation_dm(c, max_length=512, max_tokens=256),
     raises(ValueError, r"max_length=512 exceeds max_tokens=256")),
    ("data: max_train_examples 0", lambda c: translation_dm(c, max_train_examples=0),
     raises(ValueError, r"max_train_examples=0 is invalid: give an int >= 1")),
    ("data: max_val_examples -5", lambda c: translation_dm(c, max_val_examples=-5),
     raises(ValueError, r"max_val_examples=-5 is invalid")),
    ("data: missing data file", lambda c: translation_dm(c, dataset="data/missing.tsv"),
     raises(FileNotFoundError, r"No data file or folder at 'data/missing.tsv'")),
    ("data: language not in the data", lambda c: translation_dm(c, tgt_lang="fr"),
     raises(ValueError, r"Language 'fr' is not in the data .* it has \['de', 'en'\]")),
    ("data: unknown bundled dataset", lambda c: translation_dm(c, dataset="bundled:wmt"),
     raises(ValueError, r"Unknown bundled dataset 'bundled:wmt'; choose one of")),
    ("data: predict_path missing", lambda c: translation_dm(c, predict_path=str(c.tmp / "sentences.txt")),
     raises(FileNotFoundError, r"predict_path='.*sentences.txt' is not a file")),
    ("data: data_files of two formats",
     lambda c: translation_dm(c, data_files={"train": str(write(c, "a.tsv", "en\tde\n")),
                                             "validation": str(write(c, "b.jsonl", "{}\n"))}),
     raises(ValueError, r"data_files must all be one of")),
    ("data: TSV header without the language",
     lambda c: translation_dm(c, dataset=str(write(c, "fr.tsv", "en\tfr\nA man.\tUn homme.\n"))),
     raises(ValueError, r"Language 'de' is not in the data '.*fr.tsv': its columns are \['en', 'fr'\]")),
    ("data: columns without the language",
     lambda c: translation_dm(c, dataset=str(write(c, "plain.tsv", "A man.\tEin Mann.\n")), columns=["en", "fr"]),
     raises(ValueError, r"Language 'de' is not in the data '.*plain.tsv': its columns are \['en', 'fr'\]")),
    ("data: data_files not a mapping", lambda c: translation_dm(c, data_files=["pairs.tsv"]),
     raises(ValueError, r"data_files must map split names to files")),
    ("data: held-out pairs leave no training data",
     lambda c: load_parallel_text(str(write(c, "three.tsv", "en\tde\nA.\tB.\nC.\tD.\nE.\tF.\n")), "en", "de",
                                  val_size=2, test_size=1),
     raises(ValueError, r"val_size \+ test_size = 3 leaves no training pairs out of 3")),
    ("data: train_split that does not exist",
     lambda c: load_parallel_text(str(write(c, "split.tsv", "en\tde\nA.\tB.\n")), "en", "de", train_split="training"),
     raises(ValueError, r"The data has no split 'training' \(it has \['train'\]\); set train_split")),
    ("data: empty predict file", lambda c: translation_dm(
        c, max_train_examples=50, tokenizer_vocab_size=200, predict_path=str(write(c, "empty.txt", ""))).setup("predict"),
     raises(ValueError, r"predict_path='.*empty.txt' is empty; give one sentence per line")),
    ("data: latin-1 predict file", lambda c: translation_dm(
        c, max_train_examples=50, tokenizer_vocab_size=200,
        predict_path=str(write(c, "latin1.txt", "Grüße.\n".encode("latin-1")))).setup("predict"),
     raises(ValueError, r"latin1.txt', line 1: .* is not UTF-8")),
    ("images: unknown train_crop", lambda c: image_dm(c, predict_path=str(c.tmp), train_crop="center"),
     raises(ValueError, r"train_crop='center' is invalid: expected one of")),
    ("images: Mixup with an odd batch", lambda c: image_dm(c, predict_path=str(c.tmp), mixup_alpha=0.8, batch_size=7),
     raises(ValueError, r"batch_size=7 must be even when Mixup/CutMix is on")),
    ("images: data_files glob matching nothing", lambda c: image_dm(c, data_files={"train": str(c.tmp / "*.parquet")}),
     raises(FileNotFoundError, r"data_files\['train'\]='.*\*.parquet' matches no file")),
    ("images: max_test_examples 0", lambda c: image_dm(c, data_files={"train": "x"}, max_test_examples=0),
     raises(ValueError, r"ImageDataModule.max_test_examples=0 is invalid")),
    ("images: predict folder without images",
     lambda c: image_dm(c, predict_path=str(write(c, "no_images/readme.txt", "hi").parent)),
     raises(FileNotFoundError, r"predict_path='.*no_images' is a folder without images")),
    ("data: empty lines of a predict file", predict_lines,
     gives(lambda result, c: result[1][1] == result[1][2] == [EOS_TOKEN_ID]
           and result[1][3] == result[0]("Two dogs.").input_ids and len(result[1]) == 4)),
    # --- corpus files ---------------------------------------------------------------------------------------------
    ("corpus: latin-1 line-parallel file",
     lambda c: load_parallel_text(corpus_folder(c, "latin1", gzip.compress("Ein Mann.\nEin Hund.\nGrüße.\n".encode("latin-1"))),
                                  "en", "de", val_size=1, test_size=1),
     raises(ValueError, r"train.de.gz', line 3: .* is not UTF-8; save the file as UTF-8")),
    ("corpus: truncated .gz", lambda c: load_parallel_text(corpus_folder(c, "cut", truncated_gzip()), "en", "de"),
     raises(ValueError, r"train.de.gz' is a truncated or corrupt gzip file")),
    ("corpus: files of different lengths",
     lambda c: load_parallel_text(corpus_folder(c, "uneven", gzip.compress(b"Ein Mann.\n")), "en", "de"),
     raises(ValueError, r"'.*train.en' has 3 lines but '.*train.de.gz' has 1")),
    ("corpus: TSV row with an extra field",
     lambda c: load_parallel_text(str(write(c, "extra.tsv", "en\tde\nA.\tB.\nC.\tD.\tE.\n")), "en", "de",
                                  val_size=0, test_size=0),
     raises(ValueError, r"Could not read the data file '.*extra.tsv': ParserError: .*line 3")),
    ("corpus: latin-1 TSV",
     lambda c: load_parallel_text(str(write(c, "latin1.tsv", "en\tde\nHi.\tGrüße.\n".encode("latin-1"))), "en", "de",
                                  val_size=0, test_size=0),
     raises(ValueError, r"Could not read the data file '.*latin1.tsv': UnicodeDecodeError.*UTF-8")),
    ("corpus: TSV rows without a target", tsv_dropping_rows_without_target,
     gives(lambda raw, c: sorted(p for s in raw.values() for p in zip(s["en"], s["de"]))
           == [("A house.", "Ein Haus."), ("A man.", "Ein Mann."), ("A tree.", "Ein Baum.")])),
    ("corpus: BOM and CRLF line ends", lambda c: read_corpus_lines(write(c, "bom.txt", "\ufeffA.\r\n\r\nB.\r\n")),
     gives(lambda lines, c: lines == ["A.", "", "B."])),
    # --- image processor ------------------------------------------------------------------------------------------
    ("processor: NaN pixels", lambda c: c.processor(np.full((8, 8, 3), np.nan, dtype=np.float32)),
     raises(ValueError, r"NaN or infinite pixel values.*replace or drop them")),
    ("processor: two-channel array", lambda c: c.processor(np.zeros((8, 8, 2), dtype=np.uint8)),
     raises(ValueError, r"Image has 2 channels but the processor expects num_channels=3")),
    ("processor: missing image path", lambda c: c.processor(str(c.tmp / "holiday.png")),
     raises(FileNotFoundError, r"Image file '.*holiday.png' does not exist")),
    ("processor: empty list", lambda c: c.processor([]), raises(ValueError, r"got an empty list of images")),
    ("processor: empty image", lambda c: c.processor(np.zeros((0, 0, 3), dtype=np.uint8)),
     raises(ValueError, r"Image is empty: shape \(0, 0, 3\)")),
    ("processor: negative size", lambda c: ConvViTImageProcessor(size={"height": -3, "width": 4}),
     raises(ValueError, r"size=\{'height': -3, 'width': 4\} is invalid: sizes must be positive")),
    ("processor: 16-bit white is white",
     lambda c: c.processor(np.full((8, 8, 3), 65535, dtype=np.uint16), return_tensors="pt")["pixel_values"],
     gives(lambda pixels, c: torch.equal(pixels, c.processor(WHITE, return_tensors="pt")["pixel_values"]))),
    ("processor: 16-bit grey PNG (I;16)",
     lambda c: c.processor(Image.open(image_file(c, "grey16.png", np.full((8, 8), 30000, dtype=np.uint16))),
                           return_tensors="pt")["pixel_values"],
     gives(lambda pixels, c: torch.allclose(pixels, c.processor(
         np.full((8, 8, 3), 30000 / 65535, dtype=np.float32), do_rescale=False, return_tensors="pt")["pixel_values"],
         atol=1e-5))),
    ("processor: uint8 tensor (C, H, W)",
     lambda c: c.processor(torch.from_numpy(WHITE).permute(2, 0, 1).contiguous(), return_tensors="pt")["pixel_values"],
     gives(lambda pixels, c: torch.equal(pixels, c.processor(WHITE, return_tensors="pt")["pixel_values"]))),
    # --- export and loading ---------------------------------------------------------------------------------------
    ("export: missing checkpoint", lambda c: export_checkpoint(str(c.tmp / "none.ckpt"), str(c.tmp / "out1")),
     raises(ExportError, r"No checkpoint file at '.*none.ckpt'")),
    ("export: file that is no checkpoint",
     lambda c: export_checkpoint(str(write(c, "garbage.ckpt", b"garbage")), str(c.tmp / "out2")),
     raises(ExportError, r"Could not read '.*garbage.ckpt' as a checkpoint")),
    ("export: into a folder of the user's files", export_target_with_a_user_file,
     raises(ExportError, r"'.*my_documents' is not empty and is not an earlier export.*--overwrite")),
    ("load: missing folder", lambda c: load_exported(str(c.tmp / "no_model")),
     raises(ExportError, r"'.*no_model' is not an exported model folder \(no config.json\)")),
    ("load: weights file missing a tensor", lambda c: load_exported(damaged_export(c, "missing_tensor", "missing")),
     raises(ExportError, r"model.safetensors has no tensor '.*fc1.weight'")),
    ("load: NaN in the weights", lambda c: load_exported(damaged_export(c, "nan_weights", "nan")),
     raises(ExportError, r"Tensor '.*fc1.weight' of the weights file .*model.safetensors holds NaN or inf")),
    ("load: pipeline on NaN weights",
     lambda c: pipeline("translation", model=str(damaged_export(c, "nan_pipe", "nan")), trust_remote_code=True),
     raises(ValueError, r"Tensor '.*fc1.weight' of the weights file .*model.safetensors holds NaN or inf")),
    ("load: invalid tokenizer.json", lambda c: load_exported(damaged_export(c, "cut_tokenizer", "tokenizer")),
     raises(ExportError, r"tokenizer.json' is not a valid tokenizer.json")),
    ("checkpoint: image checkpoint into TranslationModule",
     lambda c: TranslationModule.load_from_checkpoint(LEGACY_IMAGE_CHECKPOINT),
     raises(ValueError, r"is a 'image-classification' checkpoint, not a 'translation' one")),
    ("checkpoint: translation checkpoint into ImageClassificationModule",
     lambda c: ImageClassificationModule.load_from_checkpoint(LEGACY_TRANSLATION_CHECKPOINT),
     raises(ValueError, r"is a 'translation' checkpoint, not a 'image-classification' one")),
    ("checkpoint: https URL", lambda c: TranslationModule.load_from_checkpoint("https://example.com/model.ckpt"),
     raises(ValueError, r"checkpoint_path='https://example.com/model.ckpt' is a URL.*local path")),
    # --- pipelines ------------------------------------------------------------------------------------------------
    ("pipeline: empty list", lambda c: c.translation_pipeline([]),
     raises(ValueError, r"empty list of sentences; pass at least one string")),
    ("pipeline: None among the sentences", lambda c: c.translation_pipeline(["A man.", None]),
     raises(TypeError, r"input 1 is None .*every input must be a string")),
    ("pipeline: a number", lambda c: c.translation_pipeline(5), raises(TypeError, r"takes a string or a list of strings")),
    ("pipeline: num_beams 0", lambda c: c.translation_pipeline("A man.", num_beams=0),
     raises(ValueError, r"num_beams=0 .* must be an integer >= 1")),
    ("pipeline: empty and blank sentences", lambda c: c.translation_pipeline(["", " \t", "A man."], max_new_tokens=3),
     gives(lambda out, c: [o["translation_text"] for o in out[:2]] == ["", ""] and len(out) == 3)),
    # --- command line ---------------------------------------------------------------------------------------------
    ("cli: translate with a missing model",
     lambda c: command_line(c, "translate", c.tmp / "no_model", "-i", write(c, "cli_in.txt", "A man.\n")),
     one_line_error(r"^error: no model folder at '.*no_model'")),
    ("cli: translate a missing input file",
     lambda c: command_line(c, "translate", c.exported["translation"], "-i", c.tmp / "none.txt"),
     one_line_error(r"^error: input file '.*none.txt' not found")),
    ("cli: translate with the image model",
     lambda c: command_line(c, "translate", c.exported["image"], "-i", write(c, "cli_in2.txt", "A man.\n")),
     one_line_error(r"is a image-classification model, not translation; use `hf-seq2seq-vit classify`")),
    ("cli: translate a CP949 (not UTF-8) file",
     lambda c: command_line(c, "translate", c.exported["translation"], "-i",
                            write(c, "cp949.txt", b"A man.\n" + "나는 사과를 좋아해\n".encode("cp949")),
                            "-o", c.tmp / "cp949.out"),
     one_line_error(r"^error: '.*cp949.txt', line 2, is not UTF-8 text .*iconv")),
    ("cli: --num-beams 0",
     lambda c: command_line(c, "translate", c.exported["translation"], "--num-beams", "0"),
     one_line_error(r"argument --num-beams: expected a whole number >= 1, got 0")),
    ("cli: classify a missing image", lambda c: command_line(c, "classify", c.exported["image"], c.tmp / "none.png"),
     one_line_error(r"^error: no file, folder or glob match for '.*none.png'")),
    ("cli: classify a file that is no image",
     lambda c: command_line(c, "classify", c.exported["image"], write(c, "fake.png", b"\x89PNG\r\n\x1a\nxx"),
                            "-o", c.tmp / "labels.csv"),
     one_line_error(r"^error: cannot read '.*fake.png' as an image")),
    ("image pipeline: missing image", lambda c: c.image_pipeline(str(c.tmp / "holiday.jpg")),
     raises(FileNotFoundError, r"'.*holiday.jpg' does not exist")),
]


@pytest.mark.parametrize("action, expected", [pytest.param(action, expected, id=name)
                                              for name, action, expected in CASES])
def test_bad_input(ctx, action, expected, caplog):
    caplog.set_level(logging.WARNING)
    if expected[0] == "raises":
        _, exception, match = expected
        with pytest.raises(exception, match=match):
            action(ctx)
    else:
        assert expected[1](action(ctx), ctx)


def test_the_table_has_at_least_40_cases():
    assert len(CASES) >= 40 and len({name for name, *_ in CASES}) == len(CASES)
