"""TranslationPipeline: the transformers 4 output format, batching, beam size and length options, remote loading."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.checkpoints import SAMPLE_SENTENCES, make_translation_checkpoint

from hf_seq2seq_vit.pipelines import TranslationPipeline

SOURCES = [*SAMPLE_SENTENCES, "A little girl climbs into a wooden playhouse.", "People are walking."]


@pytest.fixture(scope="module")
def model(tmp_path_factory, tokenizer):
    """A random tiny translator whose outputs depend on its input (init_std 0.3)."""
    return make_translation_checkpoint(tmp_path_factory.mktemp("pipe") / "t.ckpt", tokenizer)


@pytest.fixture(scope="module")
def translator(model, tokenizer):
    return TranslationPipeline(model=model, tokenizer=tokenizer)


def direct(model, tokenizer, sentences, **generate_kwargs) -> list[str]:
    """Translate one sentence at a time with model.generate: the reference the pipeline must match."""
    texts = []
    for sentence in sentences:
        with torch.no_grad():
            ids = model.generate(**tokenizer([sentence], return_tensors="pt"), **generate_kwargs)
        texts.append(tokenizer.decode(ids[0], skip_special_tokens=True))
    return texts


def test_one_sentence_gives_a_list_with_one_translation_text(translator, model, tokenizer):
    result = translator(SOURCES[0], max_new_tokens=12)
    assert result == [{"translation_text": direct(model, tokenizer, SOURCES[:1], max_new_tokens=12)[0]}]


def test_batched_translation_equals_one_at_a_time(translator, model, tokenizer):
    expected = direct(model, tokenizer, SOURCES, max_new_tokens=12)
    assert len(set(expected)) == len(expected), "the test model should translate each sentence differently"
    for batch_size in (2, 5):  # 2: a last, smaller batch; 5: everything padded together
        result = translator(SOURCES, batch_size=batch_size, max_new_tokens=12)
        assert [item["translation_text"] for item in result] == expected


def test_beam_size_and_max_length_reach_generate(translator, model, tokenizer):
    beam = translator(SOURCES, num_beams=3, max_length=10, batch_size=2)
    assert [item["translation_text"] for item in beam] == direct(model, tokenizer, SOURCES, num_beams=3, max_length=10)
    greedy = translator(SOURCES, num_beams=1, max_length=10)
    assert beam != greedy  # the beam size changed the search
    short = translator(SOURCES, max_new_tokens=2)
    assert [item["translation_text"] for item in short] == direct(model, tokenizer, SOURCES, max_new_tokens=2)
    with torch.no_grad():  # the decoder start token + at most 2 new tokens
        assert model.generate(**tokenizer(SOURCES[:1], return_tensors="pt"), max_new_tokens=2).shape[-1] <= 3


def test_options_given_at_construction_are_defaults(model, tokenizer):
    translator = TranslationPipeline(model=model, tokenizer=tokenizer, num_beams=3, max_length=10)
    assert translator(SOURCES[:2]) == [
        {"translation_text": text} for text in direct(model, tokenizer, SOURCES[:2], num_beams=3, max_length=10)
    ]


def test_several_translations_per_sentence(translator, model, tokenizer):
    result = translator(SOURCES[:2], num_beams=3, num_return_sequences=2, max_length=10)
    assert [len(item) for item in result] == [2, 2]
    best = [item[0]["translation_text"] for item in result]
    assert best == direct(model, tokenizer, SOURCES[:2], num_beams=3, max_length=10)


def test_other_generate_arguments_go_through_generate_kwargs(translator, model, tokenizer):
    result = translator(SOURCES[:1], generate_kwargs={"max_new_tokens": 6, "repetition_penalty": 1.5})
    assert result[0]["translation_text"] == direct(
        model, tokenizer, SOURCES[:1], max_new_tokens=6, repetition_penalty=1.5)[0]


def test_unknown_option_is_a_clear_error(translator):
    with pytest.raises(TypeError, match=r"unknown options \['beam_size'\].*generate_kwargs"):
        translator(SOURCES[0], beam_size=4)


def test_non_text_input_is_a_clear_error(translator):
    with pytest.raises(TypeError, match="takes a string or a list of strings, got int"):
        translator(42)


def test_the_old_import_path_is_the_same_class():
    from hf_seq2seq_vit.models.seq2seq_transformer.pipeline_seq2seq_transformer import TranslationPipeline as beside

    assert beside is TranslationPipeline


def test_empty_list_and_non_string_items_are_clear_errors(translator):
    with pytest.raises(ValueError, match="got an empty list of sentences; pass at least one string"):
        translator([])
    with pytest.raises(TypeError, match=r"input 1 is None \(NoneType\); every input must be a string"):
        translator(["A man.", None])


def test_blank_sentences_translate_to_empty_strings(translator, model, tokenizer):
    assert translator("") == [{"translation_text": ""}]
    assert translator(["  \t"]) == [{"translation_text": ""}]
    expected = direct(model, tokenizer, SOURCES[:2], max_new_tokens=12)
    assert all(expected), "the test model should translate the sentences to something"
    mixed = translator([SOURCES[0], "", SOURCES[1], " "], batch_size=2, max_new_tokens=12)
    assert [item["translation_text"] for item in mixed] == [expected[0], "", expected[1], ""]
    several = translator(["", SOURCES[0]], num_beams=2, num_return_sequences=2, max_new_tokens=12)
    assert several[0] == [{"translation_text": ""}] * 2 and len(several[1]) == 2


def test_tokenizer_larger_than_the_model_vocabulary_is_refused(tokenizer):
    from conftest import tiny_config

    from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration

    small = Seq2SeqTransformerForConditionalGeneration(tiny_config(vocab_size=len(tokenizer) - 10)).eval()
    with pytest.raises(ValueError, match=f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
                                         f"{len(tokenizer) - 10}"):
        TranslationPipeline(model=small, tokenizer=tokenizer)


def test_save_pretrained_registers_the_custom_pipeline(translator, tmp_path):
    translator.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["custom_pipelines"] == {"translation": {"impl": "pipeline_seq2seq_transformer.TranslationPipeline",
                                                          "pt": ["AutoModelForSeq2SeqLM"]}}
    source = (tmp_path / "pipeline_seq2seq_transformer.py").read_text()
    # Remote code: the copied file may import only torch and transformers (at the top).
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "typing", "torch", "transformers"}


def test_pipeline_from_a_folder_in_this_process(translator, model, tokenizer, tmp_path):
    from transformers import pipeline

    translator.save_pretrained(tmp_path)
    loaded = pipeline("translation", model=str(tmp_path), trust_remote_code=True)
    assert loaded(SOURCES, batch_size=2, max_new_tokens=12) == translator(SOURCES, max_new_tokens=12)
