"""CTranslate2 export and engine (#16): every architecture variant converts exactly; the engine decodes like
``generate()``; the pipeline and the command line take ``engine="ctranslate2"``; bad inputs fail clearly.

Random tiny models with ``init_std=0.3`` (their translations depend on the input); sequences are compared token for
token and the log-probabilities CTranslate2 assigns to our model's own greedy output must match ours within 1e-4
(a converter mistake, e.g. a transposed projection or a missing scale, moves them by far more).
"""

import json
import sys
import warnings

import pytest
import torch
import transformers
from conftest import tiny_config
from helpers.checkpoints import SAMPLE_SENTENCES, make_image_checkpoint, make_translation_checkpoint

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration
from hf_seq2seq_vit.cli import main as cli_main
from hf_seq2seq_vit.engines import CTranslate2Engine
from hf_seq2seq_vit.export import ExportError
from hf_seq2seq_vit.export import main as export_main
from hf_seq2seq_vit.export.ctranslate2 import ENGINE_FILE, export_ctranslate2, save_ctranslate2
from hf_seq2seq_vit.lightning import TranslationModule
from hf_seq2seq_vit.pipelines import TranslationPipeline

SOURCES = ["A man is riding a bicycle.", "Two dogs are playing in the snow.", "A woman sings on a stage.",
           "People walk down a busy street at night.", "A child in a red shirt jumps into the water.",
           "Three men are working on a roof.", "A girl reads a book.", "Dogs."]

# Every switch the converter maps: norm placement, positions, vocabularies, embedding scale, tied output, FFN.
VARIANTS = {
    "post-norm, sinusoidal, shared, scaled, tied": {},
    "pre-norm": {"normalize_before": True},
    "learned positions": {"position_embedding_type": "learned"},
    "separate vocabularies (smaller target), untied": {"share_encoder_decoder_embeddings": False,
                                                       "tgt_vocab_size": 380, "tie_word_embeddings": False},
    "separate embeddings, tied output": {"share_encoder_decoder_embeddings": False},
    "unscaled embeddings": {"scale_embedding": False},
    "gelu, 3+1 layers, 2 decoder heads": {"activation_function": "gelu", "encoder_layers": 3, "decoder_layers": 1,
                                          "decoder_attention_heads": 2},
}


def random_model(**overrides):
    torch.manual_seed(0)
    return Seq2SeqTransformerForConditionalGeneration(tiny_config(init_std=0.3, **overrides)).eval()


def padded(a: torch.Tensor, b: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(a.shape[1], b.shape[1])
    grow = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[1]), value=pad)  # noqa: E731
    return grow(a), grow(b)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_each_variant_decodes_like_generate(variant, tokenizer, tmp_path):
    model = random_model(**VARIANTS[variant])
    save_ctranslate2(model, tokenizer, tmp_path)
    engine = CTranslate2Engine(tmp_path, intra_threads=1)
    inputs = tokenizer(SOURCES, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model.generate(**inputs, num_beams=1, do_sample=False, max_new_tokens=16, output_scores=True,
                                  return_dict_in_generate=True)
    got = engine.generate(**inputs, num_beams=1, max_new_tokens=16)
    assert torch.equal(*padded(expected.sequences, got, model.config.pad_token_id))

    # Scores: CTranslate2's log-probabilities of our greedy tokens (teacher-forced) are ours.
    ours = torch.stack(expected.scores, 1).log_softmax(-1)  # (B, T, V)
    for row, source in enumerate(SOURCES):
        target = [token for token in expected.sequences[row, 1:].tolist() if token != model.config.pad_token_id]
        theirs = engine.translator.score_batch(
            [tokenizer.convert_ids_to_tokens(tokenizer(source).input_ids)],
            [[engine._target_tokens[token] for token in target if token != model.config.eos_token_id]],
        )[0].log_probs[: len(target)]  # CTranslate2 scores an end token after a cut sequence too
        mine = ours[row, torch.arange(len(target)), target]
        assert torch.allclose(torch.tensor(theirs), mine, atol=1e-4), (variant, source)
    # The greedy hypothesis score is the mean token log-probability (length_penalty 1), as CTranslate2 reports it.
    hypotheses = engine.translate_ids([tokenizer(SOURCES[0]).input_ids], num_beams=1, max_new_tokens=16)
    first = [t for t in expected.sequences[0, 1:].tolist() if t != model.config.pad_token_id]
    assert hypotheses[0][0][1] == pytest.approx(float(ours[0, torch.arange(len(first)), first].mean()), abs=1e-4)


def test_beam_search_and_lengths_match_generate(tokenizer, tmp_path):
    model = random_model(normalize_before=True)
    save_ctranslate2(model, tokenizer, tmp_path)
    engine = CTranslate2Engine(tmp_path, intra_threads=1)
    inputs = tokenizer(SOURCES, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model.generate(**inputs, num_beams=4, max_new_tokens=12, num_return_sequences=2)
    got = engine.generate(**inputs, num_beams=4, max_new_tokens=12, num_return_sequences=2)
    assert got.shape[0] == 2 * len(SOURCES)
    assert torch.equal(*padded(expected, got, model.config.pad_token_id))
    # max_new_tokens counts generated tokens (the start token excluded), as in transformers; max_length includes it.
    assert engine.generate(**inputs, num_beams=1, max_new_tokens=3).shape[1] <= 4
    assert engine.generate(**inputs, num_beams=1, max_length=3).shape[1] <= 3


def test_int8_export_is_smaller_and_still_translates(tokenizer, tmp_path):
    model = random_model(d_model=64, encoder_ffn_dim=256, decoder_ffn_dim=256)
    save_ctranslate2(model, tokenizer, tmp_path / "f32")
    save_ctranslate2(model, tokenizer, tmp_path / "int8", quantization="int8")
    sizes = {name: (tmp_path / name / "model.bin").stat().st_size for name in ("f32", "int8")}
    assert sizes["int8"] < 0.6 * sizes["f32"]
    record = json.loads((tmp_path / "int8" / ENGINE_FILE).read_text())
    assert record["quantization"] == "int8"
    engine = CTranslate2Engine(tmp_path / "int8", intra_threads=1)
    assert len(engine.translate(SOURCES[:2], num_beams=2, max_new_tokens=8)) == 2


def test_pipeline_engine_ctranslate2_gives_the_torch_translations(tokenizer):
    model = random_model()
    torch_pipeline = TranslationPipeline(model=model, tokenizer=tokenizer)
    ct2_pipeline = TranslationPipeline(model=model, tokenizer=tokenizer, engine="ctranslate2",
                                       engine_options={"intra_threads": 1})
    for options in ({"num_beams": 1, "max_new_tokens": 10}, {"num_beams": 4, "max_new_tokens": 10}):
        sentences = SOURCES + ["", SOURCES[0]]
        got = ct2_pipeline(sentences, batch_size=3, **options)
        assert got == torch_pipeline(sentences, batch_size=3, **options)
        assert got[len(SOURCES)] == {"translation_text": ""}  # blank stays blank, order kept
    with pytest.raises(ValueError, match="engine='bogus' is not supported"):
        TranslationPipeline(model=model, tokenizer=tokenizer, engine="bogus")
    with pytest.raises(TypeError, match="does not take"):
        ct2_pipeline(SOURCES[:1], generate_kwargs={"top_k": 3})


def test_export_cli_and_translate_cli(tokenizer, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch, "set_num_threads", lambda n: threads_set.append(n))  # --threads 1: no global change
    threads_set = []
    checkpoint = tmp_path / "translation.ckpt"
    make_translation_checkpoint(checkpoint, tokenizer)
    assert export_main([str(checkpoint), str(tmp_path / "hf")]) == 0
    assert cli_main(["export", str(checkpoint), str(tmp_path / "ct2"), "--format", "ctranslate2"]) == 0
    assert {"model.bin", "tokenizer.json", "generation_config.json", ENGINE_FILE} <= {
        p.name for p in (tmp_path / "ct2").iterdir()}
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SAMPLE_SENTENCES + ["", "A dog."]) + "\n", encoding="utf-8")
    outputs = {}
    for name, args in {"torch": [str(tmp_path / "hf")],
                       "ct2 folder": [str(tmp_path / "ct2"), "--engine", "ctranslate2"],
                       "ct2 from hf": [str(tmp_path / "hf"), "--engine", "ctranslate2"],
                       # --threads 2: two half batches decoded side by side (inter_threads), same translations
                       "ct2 folder, 2 threads": [str(tmp_path / "ct2"), "--engine", "ctranslate2", "--threads", "2"],
                       "torch, 1 thread": [str(tmp_path / "hf"), "--threads", "1"]}.items():
        out = tmp_path / f"{name}.txt"
        assert cli_main(["translate", *args, "-i", str(source), "-o", str(out), "--num-beams", "2",
                         "--max-new-tokens", "12", "--batch-size", "2"]) == 0
        outputs[name] = out.read_text(encoding="utf-8")
    assert len(set(outputs.values())) == 1, outputs
    assert threads_set == [1]
    assert outputs["torch"].count("\n") == len(SAMPLE_SENTENCES) + 2
    # transformers' pipeline() passes engine= to the folder's own (remote-code) pipeline class.
    remote = transformers.pipeline("translation", model=str(tmp_path / "hf"), trust_remote_code=True,
                                   engine="ctranslate2", engine_options={"intra_threads": 1})
    assert type(remote.engine).__name__ == "CTranslate2Engine"
    assert [item["translation_text"] for item in remote(SAMPLE_SENTENCES, num_beams=2, max_new_tokens=12)] == \
        outputs["torch"].splitlines()[: len(SAMPLE_SENTENCES)]
    # Exporting again replaces the earlier export; int8 storage.
    assert export_main([str(checkpoint), str(tmp_path / "ct2"), "--format", "ctranslate2",
                        "--quantization", "int8"]) == 0
    assert json.loads((tmp_path / "ct2" / ENGINE_FILE).read_text())["quantization"] == "int8"
    capsys.readouterr()
    # A CTranslate2 folder needs --engine ctranslate2.
    assert cli_main(["translate", str(tmp_path / "ct2"), "-i", str(source)]) == 2
    assert "--engine ctranslate2" in capsys.readouterr().err


def test_bad_inputs_are_clear_errors(tokenizer, tmp_path, capsys, monkeypatch):
    checkpoint, image_checkpoint = tmp_path / "translation.ckpt", tmp_path / "image.ckpt"
    make_translation_checkpoint(checkpoint, tokenizer)
    make_image_checkpoint(image_checkpoint)
    # Unknown format / quantization, or --quantization without ctranslate2: argparse's exit 2 naming the option.
    for argv, message in (([str(checkpoint), str(tmp_path / "x"), "--format", "tflite"], "--format"),
                          ([str(checkpoint), str(tmp_path / "x"), "--format", "ctranslate2", "--quantization", "int4"],
                           "--quantization"),
                          ([str(checkpoint), str(tmp_path / "x"), "--quantization", "int8"],
                           "--quantization is for --format ctranslate2")):
        with pytest.raises(SystemExit) as stop:
            export_main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
    # The other task's format: one line, exit 2, nothing written.
    assert export_main([str(image_checkpoint), str(tmp_path / "img-ct2"), "--format", "ctranslate2"]) == 2
    assert "exports translators only" in capsys.readouterr().err
    assert export_main([str(checkpoint), str(tmp_path / "tr-onnx"), "--format", "onnx"]) == 2
    assert "exports image classifiers only" in capsys.readouterr().err
    assert not (tmp_path / "img-ct2").exists() and not (tmp_path / "tr-onnx").exists()
    with pytest.raises(ExportError, match="--quantization 'int4' is not supported"):
        export_ctranslate2(checkpoint, tmp_path / "q", quantization="int4")
    # CTranslate2 missing: the export and the translate command say how to install it.
    monkeypatch.setitem(sys.modules, "ctranslate2", None)
    assert export_main([str(checkpoint), str(tmp_path / "no-ct2"), "--format", "ctranslate2"]) == 2
    assert "pip install 'hf-seq2seq-vit[ct2]'" in capsys.readouterr().err
    assert export_main([str(checkpoint), str(tmp_path / "hf")]) == 0
    capsys.readouterr()
    assert cli_main(["translate", str(tmp_path / "hf"), "--engine", "ctranslate2", "-i", str(checkpoint)]) == 2
    assert "pip install 'hf-seq2seq-vit[ct2]'" in capsys.readouterr().err
    with pytest.raises(ImportError, match=r"hf-seq2seq-vit\[ct2\]"):
        TranslationPipeline(model=random_model(), tokenizer=tokenizer, engine="ctranslate2")


def test_beam_stopping_rule_is_the_engines_or_refused(tokenizer, tmp_path):
    # CTranslate2 ends a beam search when num_beams hypotheses are finished: transformers' early_stopping=True.
    model = random_model(normalize_before=True)
    model.generation_config.num_beams, model.generation_config.early_stopping = 4, True
    save_ctranslate2(model, tokenizer, tmp_path / "stored-true")
    inputs = tokenizer(SOURCES, return_tensors="pt", padding=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the stored rule is the engine's: nothing to warn about
        engine = CTranslate2Engine(tmp_path / "stored-true", intra_threads=1)
        got = engine.generate(**inputs, num_beams=4, max_new_tokens=12)
        assert engine.generate(**inputs, num_beams=4, max_new_tokens=12, early_stopping=True).equal(got)
    with torch.no_grad():
        expected = model.generate(**inputs, num_beams=4, max_new_tokens=12)  # the stored default: True
    assert torch.equal(*padded(expected, got, model.config.pad_token_id))
    # Another rule asked for explicitly is an error naming it, from the engine and from the pipeline.
    for rule in (False, "never"):
        with pytest.raises(ValueError, match=f"early_stopping={rule!r} is not available with engine 'ctranslate2'"):
            engine.generate(**inputs, num_beams=4, max_new_tokens=12, early_stopping=rule)
    ct2_pipeline = TranslationPipeline(model=model, tokenizer=tokenizer, engine="ctranslate2",
                                       engine_options={"intra_threads": 1})
    with pytest.raises(ValueError, match="use engine='torch'"):
        ct2_pipeline(SOURCES[:2], num_beams=4, early_stopping=False)
    # Greedy search has no stopping rule to differ on.
    engine.generate(**inputs, num_beams=1, max_new_tokens=4, early_stopping=False)
    # A folder that stores another rule decodes with the engine's, and says so once.
    model.generation_config.early_stopping = False
    save_ctranslate2(model, tokenizer, tmp_path / "stored-false")
    engine = CTranslate2Engine(tmp_path / "stored-false", intra_threads=1)
    with pytest.warns(UserWarning, match="early_stopping=False, but engine 'ctranslate2' ends beam search"):
        engine.generate(**inputs, num_beams=4, max_new_tokens=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        engine.generate(**inputs, num_beams=4, max_new_tokens=12)


def test_exported_translators_default_to_the_engines_beam_stopping_rule(tokenizer, tmp_path):
    # A checkpoint's stored settings (num_beams 3, no early_stopping: written before the setting existed) export
    # with early_stopping=True, the rule the training module now saves and validates with.
    checkpoint = tmp_path / "translation.ckpt"
    make_translation_checkpoint(checkpoint, tokenizer)
    assert export_main([str(checkpoint), str(tmp_path / "hf")]) == 0
    assert cli_main(["export", str(checkpoint), str(tmp_path / "ct2"), "--format", "ctranslate2"]) == 0
    for folder in ("hf", "ct2"):
        generation = json.loads((tmp_path / folder / "generation_config.json").read_text())
        assert (generation["num_beams"], generation["early_stopping"]) == (3, True), folder
    module = TranslationModule(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                               attention_heads=2, ffn_dim=32, num_beams=2)
    assert module.contract_extras()["generation_config"]["early_stopping"] is True
    module = TranslationModule(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                               attention_heads=2, ffn_dim=32, num_beams=2, early_stopping=False)
    assert module.contract_extras()["generation_config"]["early_stopping"] is False


def test_inter_threads_split_the_batch_and_translate_the_same(tokenizer, tmp_path):
    model = random_model()
    save_ctranslate2(model, tokenizer, tmp_path)
    inputs = tokenizer(SOURCES, return_tensors="pt", padding=True)
    one = CTranslate2Engine(tmp_path, intra_threads=1)
    two = CTranslate2Engine(tmp_path, intra_threads=1, inter_threads=2)
    for options in ({"num_beams": 1}, {"num_beams": 4, "early_stopping": True}):
        expected = one.generate(**inputs, max_new_tokens=10, **options)
        assert torch.equal(*padded(two.generate(**inputs, max_new_tokens=10, **options), expected,
                                   model.config.pad_token_id))
    ct2_pipeline = TranslationPipeline(model=model, tokenizer=tokenizer, engine="ctranslate2",
                                       engine_options={"intra_threads": 1, "inter_threads": 2})
    assert ct2_pipeline(SOURCES, num_beams=1, max_new_tokens=10) == TranslationPipeline(
        model=model, tokenizer=tokenizer)(SOURCES, num_beams=1, max_new_tokens=10)
    for name, value in (("inter_threads", 0), ("intra_threads", -1), ("max_batch_size", 2.5),
                        ("inter_threads", True)):
        with pytest.raises(ValueError, match=f"{name}={value!r} is invalid"):
            CTranslate2Engine(tmp_path, **{name: value})
