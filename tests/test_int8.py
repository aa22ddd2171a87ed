"""The PyTorch int8 path (#16): ``quantize_int8`` swaps every ``nn.Linear`` for a dynamically quantized one in a
copy, the logits stay close to float32, and the pipeline / ``translate --engine torch-int8`` use it."""

import torch
from conftest import tiny_config
from helpers.checkpoints import SAMPLE_SENTENCES, make_translation_checkpoint

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration
from hf_seq2seq_vit.cli import main as cli_main
from hf_seq2seq_vit.engines import quantize_int8
from hf_seq2seq_vit.pipelines import TranslationPipeline


def test_linear_layers_are_int8_in_a_copy_and_logits_stay_close(tokenizer):
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config(d_model=64, encoder_ffn_dim=128,
                                                                   decoder_ffn_dim=128)).eval()
    quantized = quantize_int8(model)
    linears = [name for name, module in model.named_modules() if type(module) is torch.nn.Linear]
    assert linears and all(type(model.get_submodule(name)) is torch.nn.Linear for name in linears)  # untouched
    assert all(type(quantized.get_submodule(name)) is torch.ao.nn.quantized.dynamic.Linear for name in linears)
    inputs = tokenizer(SAMPLE_SENTENCES, return_tensors="pt", padding=True)
    decoder_input_ids = inputs["input_ids"][:, :6]
    with torch.no_grad():
        expected = model(**inputs, decoder_input_ids=decoder_input_ids).logits
        got = quantized(**inputs, decoder_input_ids=decoder_input_ids).logits
    assert not torch.equal(expected, got)  # it really computes in int8
    assert torch.corrcoef(torch.stack([expected.flatten(), got.flatten()]))[0, 1] > 0.99


def test_pipeline_and_command_line_take_torch_int8(tokenizer, tmp_path, capsys):
    checkpoint = tmp_path / "translation.ckpt"
    model = make_translation_checkpoint(checkpoint, tokenizer)
    translations = TranslationPipeline(model=model, tokenizer=tokenizer, engine="torch-int8")(
        SAMPLE_SENTENCES + [""], num_beams=2, max_new_tokens=8, batch_size=2)
    assert len(translations) == len(SAMPLE_SENTENCES) + 1 and translations[-1] == {"translation_text": ""}
    assert all(isinstance(item["translation_text"], str) for item in translations)

    assert cli_main(["export", str(checkpoint), str(tmp_path / "hf")]) == 0
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SAMPLE_SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    assert cli_main(["translate", str(tmp_path / "hf"), "-i", str(source), "-o", str(out), "--engine", "torch-int8",
                     "--max-new-tokens", "8"]) == 0
    assert out.read_text(encoding="utf-8").count("\n") == len(SAMPLE_SENTENCES)
    capsys.readouterr()
    # --quantization picks CTranslate2's compute type; with another engine it is refused by name.
    assert cli_main(["translate", str(tmp_path / "hf"), "-i", str(source), "--quantization", "int8"]) == 2
    assert "--quantization is for --engine ctranslate2" in capsys.readouterr().err
