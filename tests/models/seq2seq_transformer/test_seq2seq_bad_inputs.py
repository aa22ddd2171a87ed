"""Bad inputs to the translator fail with a ValueError that names the argument (or file) and the fix (#15)."""

import json

import pytest
import torch
from conftest import tiny_config
from transformers import AutoModelForSeq2SeqLM, GenerationConfig

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration

SRC = torch.tensor([[5, 6, 7, 2], [9, 10, 2, 0]])
SRC_MASK = (SRC != 0).long()


@pytest.mark.parametrize("options", [dict(num_beams=0), dict(num_beams=-2), dict(num_beams=2.5),
                                     dict(num_return_sequences=0)])
def test_impossible_search_settings_name_the_argument(tiny_seq2seq, options):
    name = next(iter(options))
    with pytest.raises(ValueError, match=rf"{name}=.* passed to generate\(\) is invalid: it must be an integer >= 1"):
        tiny_seq2seq.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=3, **options)
    with pytest.raises(ValueError, match=name):
        config = GenerationConfig(max_new_tokens=3, **options)
        tiny_seq2seq.generate(SRC, attention_mask=SRC_MASK, generation_config=config)


def test_valid_search_settings_still_generate(tiny_seq2seq):
    out = tiny_seq2seq.generate(SRC, attention_mask=SRC_MASK, max_new_tokens=3, num_beams=2, num_return_sequences=2)
    assert out.shape[0] == 4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bool])
def test_non_integer_input_ids_name_the_argument_and_the_fix(tiny_seq2seq, dtype):
    with pytest.raises(ValueError, match=r"input_ids must hold integer token ids .*tokenizer"):
        tiny_seq2seq(SRC.to(dtype), SRC_MASK, labels=SRC)
    with pytest.raises(ValueError, match=r"input_ids must hold integer token ids"):
        tiny_seq2seq.generate(SRC.to(dtype), attention_mask=SRC_MASK, max_new_tokens=3)
    with pytest.raises(ValueError, match=r"decoder_input_ids must hold integer token ids"):
        tiny_seq2seq(SRC, SRC_MASK, decoder_input_ids=SRC.to(dtype))


def test_int32_input_ids_are_token_ids(tiny_seq2seq):
    expected = tiny_seq2seq(SRC, SRC_MASK, labels=SRC).logits
    torch.testing.assert_close(tiny_seq2seq(SRC.int(), SRC_MASK, labels=SRC).logits, expected)


def test_negative_num_beams_in_a_saved_generation_config_fails_at_load(tiny_seq2seq, tmp_path):
    tiny_seq2seq.save_pretrained(tmp_path)
    path = tmp_path / "generation_config.json"
    saved = json.loads(path.read_text())
    saved["num_beams"] = -1
    path.write_text(json.dumps(saved))
    for loader in (Seq2SeqTransformerForConditionalGeneration, AutoModelForSeq2SeqLM):
        with pytest.raises(ValueError, match=r"num_beams=-1 in .*generation_config\.json \(fix that file\)"):
            loader.from_pretrained(tmp_path)
    saved["num_beams"] = 3
    path.write_text(json.dumps(saved))
    assert Seq2SeqTransformerForConditionalGeneration.from_pretrained(tmp_path).generation_config.num_beams == 3


def test_impossible_generation_config_is_refused_at_save(tmp_path):
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config())
    model.generation_config.num_beams = 0
    with pytest.raises(ValueError, match=r"num_beams=0 in model.generation_config \(not saved\)"):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
