"""ConvViT ONNX export (#16): ``export --format onnx`` writes a graph that ONNX Runtime runs with the model's logits
(within 1e-4) at any batch size; a missing ONNX Runtime is a clear error."""

import json
import sys

import numpy as np
import pytest
import torch
from helpers.checkpoints import make_image_checkpoint

from hf_seq2seq_vit.cli import main as cli_main
from hf_seq2seq_vit.export.onnx import ONNX_FILE, RECORD_FILE, OnnxImageClassifier


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    model, _ = make_image_checkpoint(root / "image.ckpt")
    assert cli_main(["export", str(root / "image.ckpt"), str(root / "onnx"), "--format", "onnx"]) == 0
    return model.eval(), root / "onnx"


def test_onnx_runtime_gives_the_model_logits_at_any_batch(exported):
    model, folder = exported
    assert {ONNX_FILE, RECORD_FILE, "config.json", "preprocessor_config.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / RECORD_FILE).read_text())["output"] == "logits"
    classifier = OnnxImageClassifier(folder, intra_threads=1)
    generator = torch.Generator().manual_seed(1)
    for batch in (1, 7):
        pixels = torch.randn(batch, 3, 32, 32, generator=generator)
        with torch.no_grad():
            expected = model(pixel_values=pixels).logits.numpy()
        got = classifier(pixels)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4
    # The folder's image processor prepares images for it, as for the Hugging Face folder.
    image = (np.arange(32 * 32 * 3) % 255).astype(np.uint8).reshape(32, 32, 3)
    pixels = classifier.image_processor(image, return_tensors="pt").pixel_values
    with torch.no_grad():
        assert np.abs(classifier(pixels) - model(pixel_values=pixels).logits.numpy()).max() < 1e-4


def test_missing_onnx_runtime_says_what_to_install(exported, monkeypatch, tmp_path, capsys):
    _, folder = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'hf-seq2seq-vit\[onnx\]'"):
        OnnxImageClassifier(folder)
    make_image_checkpoint(tmp_path / "image.ckpt")
    assert cli_main(["export", str(tmp_path / "image.ckpt"), str(tmp_path / "out"), "--format", "onnx"]) == 2
    assert "pip install 'hf-seq2seq-vit[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
