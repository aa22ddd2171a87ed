"""ConvViT: config validation, forward behaviour, attention backends, position interpolation, save/load (in-process
and through remote code in a fresh interpreter), the pipeline, overfitting real CIFAR-10 images, attention rollout."""

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import FIXTURES, REPO
from PIL import Image

from hf_seq2seq_vit import ConvViTConfig, ConvViTForImageClassification, ConvViTImageProcessor, ConvViTModel
from hf_seq2seq_vit.models.conv_vit.attention_rollout import attention_rollout, attention_rollout_heatmap, overlay_heatmap

DATA = FIXTURES / "cifar10_tiny.parquet"
CIFAR10_LABELS = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def tiny_conv_vit_config(**overrides) -> ConvViTConfig:
    """hidden 32, 2 layers, 4 heads; a 32 px image → three stride-2 convs → 4×4 tokens (+ [CLS])."""
    sizes = dict(
        image_size=32, stem_channels=[16, 32, 64], hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        mlp_ratio=2.0, num_labels=10, id2label=dict(enumerate(CIFAR10_LABELS)),
        label2id={name: index for index, name in enumerate(CIFAR10_LABELS)},
    )
    sizes.update(overrides)
    return ConvViTConfig(**sizes)


def tiny_model(seed: int = 0, **overrides) -> ConvViTForImageClassification:
    torch.manual_seed(seed)
    return ConvViTForImageClassification(tiny_conv_vit_config(**overrides)).eval()


@pytest.fixture(scope="module")
def cifar_images() -> tuple[list[Image.Image], torch.Tensor]:
    """The 80 bundled CIFAR-10 training images (8 per class) as PIL images, and their labels."""
    table = pq.read_table(DATA)
    images = [Image.open(io.BytesIO(row["bytes"])).convert("RGB") for row in table.column("image").to_pylist()]
    return images, torch.tensor(table.column("label").to_pylist())


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------------------------------


INVALID_ARCHITECTURES = [
    ("stem_type", "vgg"),
    ("pooling", "max"),
    ("position_embedding_type", "sinusoidal"),
    ("num_attention_heads", 5),  # 32 is not divisible by 5
    ("hidden_size", 0),
    ("image_size", -32),
    ("image_size", [32]),
    ("drop_path_rate", 1.5),
    ("hidden_dropout_prob", -0.1),
    ("mlp_ratio", 0),
    ("stem_strides", [2, 2]),  # three stem convs need three strides
    ("stem_channels", []),
    ("stem_kernel_size", 2),
    ("hidden_act", "not_an_activation"),
    ("num_channels", 0),
]


@pytest.mark.parametrize("field, value", INVALID_ARCHITECTURES)
def test_any_well_typed_value_is_accepted_by_the_config_and_refused_by_the_model(field, value):
    # at construction, as transformers configs allow (ViTConfig(hidden_size=37) with 12 heads builds)
    config = tiny_conv_vit_config(**{field: value})
    assert getattr(config, field) == value
    with pytest.raises(ValueError, match=rf"ConvViTConfig\.{field}=.*is invalid: expected"):
        ConvViTForImageClassification(config)
    # and as an attribute of a valid config; the bare model checks too
    config = tiny_conv_vit_config()
    setattr(config, field, value)
    assert getattr(config, field) == value
    with pytest.raises(ValueError, match=rf"ConvViTConfig\.{field}=.*is invalid: expected"):
        ConvViTModel(config)
    with pytest.raises(ValueError, match=rf"ConvViTConfig\.{field}="):
        config.check_architecture()


def test_common_properties_can_be_set_and_survive_save_and_load(tmp_path):
    # what transformers' own config tests do: set each common property at construction and as an attribute
    for index, name in enumerate(["hidden_size", "num_attention_heads", "num_hidden_layers"]):
        assert getattr(ConvViTConfig(**{name: index}), name) == index
        config = ConvViTConfig()
        setattr(config, name, index)
        assert getattr(config, name) == index
    config = ConvViTConfig(hidden_size=37)  # the default 6 heads do not divide 37: fine for a config
    config.save_pretrained(tmp_path)
    restored = ConvViTConfig.from_pretrained(tmp_path)
    assert restored.hidden_size == 37 and restored.num_attention_heads == 6
    restored.num_attention_heads = 1
    assert ConvViTModel(restored).config.num_attention_heads == 1  # now buildable


@pytest.mark.parametrize("field, value", [("hidden_size", "32"), ("stem_channels", "16,32"), ("qkv_bias", "yes")])
def test_a_value_of_the_wrong_type_is_refused_when_set_naming_the_field(field, value):
    from huggingface_hub.errors import StrictDataclassFieldValidationError

    with pytest.raises(StrictDataclassFieldValidationError, match=rf"field '{field}'"):
        tiny_conv_vit_config(**{field: value})
    config = tiny_conv_vit_config()
    with pytest.raises(StrictDataclassFieldValidationError, match=rf"field '{field}'"):
        setattr(config, field, value)


def test_patch_stem_needs_patch_size_dividing_image_size():
    with pytest.raises(ValueError, match=r"ConvViTConfig\.patch_size=5"):
        tiny_model(stem_type="patch", patch_size=5)


def test_unknown_timm_backbone_raises_value_error():
    with pytest.raises(ValueError, match=r"ConvViTConfig\.timm_backbone='no_such_net'"):
        tiny_model(stem_type="timm", timm_backbone="no_such_net")
    with pytest.raises(ValueError, match=r"ConvViTConfig\.timm_backbone=None"):
        tiny_model(stem_type="timm")


def test_auto_classes_build_conv_vit_from_a_config():
    from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

    sizes = {key: value for key, value in tiny_conv_vit_config().to_dict().items() if key != "model_type"}
    config = AutoConfig.for_model("conv_vit", **sizes)
    assert isinstance(config, ConvViTConfig)
    assert type(AutoModel.from_config(config)) is ConvViTModel
    assert type(AutoModelForImageClassification.from_config(config)) is ConvViTForImageClassification


def test_presets_give_the_documented_token_grids():
    cifar = ConvViTConfig.from_preset("cifar10")
    model = ConvViTModel(cifar).eval()
    assert model.embeddings.grid_size == (4, 4)  # 32 px / 2³
    assert model(torch.zeros(1, 3, 32, 32)).last_hidden_state.shape == (1, 17, 256)
    patch = ConvViTModel(ConvViTConfig.from_preset("cifar10-patch", num_hidden_layers=1))
    assert patch.embeddings.grid_size == (8, 8)
    imagenet = ConvViTConfig.from_preset("imagenet", num_hidden_layers=1)
    assert ConvViTModel(imagenet).embeddings.grid_size == (14, 14)  # 224 px / 2⁴, like 16×16 patches
    assert ConvViTConfig.from_preset("imagenet", num_labels=5).num_labels == 5
    with pytest.raises(ValueError, match="Unknown ConvViT preset"):
        ConvViTConfig.from_preset("cifar100")


def test_config_round_trips_through_dict():
    config = tiny_conv_vit_config(stem_strides=[2, 2, 1], pooling="mean", drop_path_rate=0.1)
    restored = ConvViTConfig.from_dict(config.to_dict())
    assert restored.to_dict() == config.to_dict()
    assert restored.id2label[3] == "cat"


# ------------------------------------------------------------------------------------------------------------------
# forward behaviour
# ------------------------------------------------------------------------------------------------------------------


def test_outputs_are_consistent(pixels):
    model = tiny_model()
    outputs = model(pixels, output_attentions=True, output_hidden_states=True)
    assert outputs.logits.shape == (3, 10)
    assert len(outputs.hidden_states) == 3 and outputs.hidden_states[0].shape == (3, 17, 32)
    assert len(outputs.attentions) == 2
    attention = outputs.attentions[0]
    assert attention.shape == (3, 4, 17, 17)
    assert torch.allclose(attention.sum(-1), torch.ones(3, 4, 17), atol=1e-5)  # rows are distributions
    base = model.conv_vit(pixels)
    # the pooled output is the final-normalised [CLS] token, and the head is a linear map of it
    assert torch.equal(base.pooler_output, base.last_hidden_state[:, 0])
    assert torch.allclose(outputs.logits, model.classifier(base.pooler_output), atol=1e-6)
    # images differ → logits differ (the model looks at its input)
    assert not torch.allclose(outputs.logits[0], outputs.logits[1])


def test_loss_is_cross_entropy_of_logits(pixels):
    model = tiny_model()
    labels = torch.tensor([3, 0, 9])
    outputs = model(pixels, labels=labels)
    assert torch.allclose(outputs.loss, torch.nn.functional.cross_entropy(outputs.logits, labels))
    loss, logits = model(pixels, labels=labels, return_dict=False)
    assert torch.equal(loss, outputs.loss) and torch.equal(logits, outputs.logits)


def test_forward_features_and_head_compose_to_forward(pixels):
    model = tiny_model(pooling="mean")
    features = model.forward_features(pixels)
    assert features.shape == (3, 16, 32)  # mean pooling: no [CLS] token
    assert torch.allclose(model.forward_head(features), model(pixels).logits, atol=1e-6)
    assert torch.allclose(model.forward_head(features, pre_logits=True), features.mean(dim=1), atol=1e-6)


def test_sdpa_and_eager_attention_agree(pixels):
    sdpa = tiny_model()
    eager = ConvViTForImageClassification(tiny_conv_vit_config(attn_implementation="eager")).eval()
    eager.load_state_dict(sdpa.state_dict())
    assert sdpa.config._attn_implementation == "sdpa"
    assert eager.config._attn_implementation == "eager"
    sdpa_out = sdpa(pixels, output_hidden_states=True)
    eager_out = eager(pixels, output_hidden_states=True)
    assert torch.allclose(sdpa_out.logits, eager_out.logits, atol=1e-5)
    for a, b in zip(sdpa_out.hidden_states, eager_out.hidden_states):
        assert torch.allclose(a, b, atol=1e-5)
    # asking sdpa for attention maps gives the eager maps (weights only exist in the eager kernel)
    for a, b in zip(sdpa(pixels, output_attentions=True).attentions, eager(pixels, output_attentions=True).attentions):
        assert torch.allclose(a, b, atol=1e-6)


def test_attention_matches_reference_computation():
    model = tiny_model()
    attention = model.conv_vit.encoder.layers[0].attention
    hidden = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(3))
    output, _ = attention(hidden)
    reference = torch.nn.MultiheadAttention(32, 4, batch_first=True).eval()
    with torch.no_grad():
        reference.in_proj_weight.copy_(attention.qkv.weight)
        reference.in_proj_bias.copy_(attention.qkv.bias)
        reference.out_proj.weight.copy_(attention.proj.weight)
        reference.out_proj.bias.copy_(attention.proj.bias)
    expected, _ = reference(hidden, hidden, hidden, need_weights=False)
    assert torch.allclose(output, expected, atol=1e-5)


def test_position_interpolation(pixels):
    model = tiny_model()
    # at the trained size the interpolating path is the plain path, exactly
    assert torch.equal(model(pixels).logits, model(pixels, interpolate_pos_encoding=True).logits)
    big = torch.nn.functional.interpolate(pixels, size=(48, 48), mode="bilinear", align_corners=False)
    outputs = model(big, interpolate_pos_encoding=True, output_hidden_states=True)
    assert outputs.hidden_states[0].shape == (3, 1 + 6 * 6, 32)  # 48 px → 6×6 grid
    assert torch.isfinite(outputs.logits).all()
    # the 6×6 table is a resampling of the learned 4×4 one: [CLS] position kept, corners stay close
    table = model.conv_vit.embeddings.position_embeddings_for((6, 6))
    learned = model.conv_vit.embeddings.position_embeddings
    assert torch.equal(table[:, 0], learned[:, 0])
    assert not torch.allclose(table[:, 1:17], learned[:, 1:])
    wide = model(torch.randn(1, 3, 32, 64), interpolate_pos_encoding=True, output_hidden_states=True)
    assert wide.hidden_states[0].shape == (1, 1 + 4 * 8, 32)  # non-square inputs work too


def test_wrong_image_size_without_interpolation_raises(pixels):
    model = tiny_model()
    with pytest.raises(ValueError, match=r"48×48.*interpolate_pos_encoding=True"):
        model(torch.randn(1, 3, 48, 48))


def test_wrong_channel_count_raises():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"1 channels but the model expects num_channels=3"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"shape \(batch, channels, height, width\)"):
        model(torch.randn(3, 32, 32))


def test_dropout_and_stochastic_depth_act_only_in_training(pixels):
    model = tiny_model(drop_path_rate=0.5, hidden_dropout_prob=0.1)
    assert model.conv_vit.encoder.layers[0].drop_path.__class__.__name__ == "Identity"  # rate 0 for block 0
    assert model.conv_vit.encoder.layers[1].drop_path.drop_prob == pytest.approx(0.5)
    assert torch.equal(model(pixels).logits, model(pixels).logits)
    model.train()
    torch.manual_seed(0)
    first = model(pixels).logits
    torch.manual_seed(1)
    assert not torch.allclose(first, model(pixels).logits)


def test_patch_stem_and_timm_stem_run():
    patch = tiny_model(stem_type="patch", patch_size=8)
    assert patch.conv_vit.embeddings.grid_size == (4, 4)
    assert patch(torch.randn(2, 3, 32, 32)).logits.shape == (2, 10)
    timm_model = tiny_model(stem_type="timm", timm_backbone="resnet10t", timm_out_index=2)  # stride 8 → 4×4
    assert timm_model.conv_vit.embeddings.grid_size == (4, 4)
    outputs = timm_model(torch.randn(2, 3, 32, 32), output_hidden_states=True)
    assert outputs.hidden_states[0].shape == (2, 17, 32)
    with pytest.raises(ValueError, match=r"image_size=36 must be a multiple of 8"):
        tiny_model(stem_type="timm", timm_backbone="resnet10t", timm_out_index=2, image_size=36)


# ------------------------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------------------------


def test_overfits_16_cifar_images(cifar_images):
    images, labels = cifar_images
    images, labels = images[:16], labels[:16]  # the first 16 rows: every class, interleaved
    processor = ConvViTImageProcessor.from_preset("cifar10")
    pixel_values = processor(images, return_tensors="pt")["pixel_values"]
    model = tiny_model()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    accuracy = 0.0
    for step in range(300):
        outputs = model(pixel_values, labels=labels)
        optimizer.zero_grad()
        outputs.loss.backward()
        optimizer.step()
        if step % 10 == 9:
            model.eval()
            with torch.no_grad():
                accuracy = (model(pixel_values).logits.argmax(-1) == labels).float().mean().item()
            model.train()
            if accuracy == 1.0:
                break
    assert accuracy == 1.0, f"train accuracy {accuracy:.2f} after {step + 1} steps"


# ------------------------------------------------------------------------------------------------------------------
# saving and loading
# ------------------------------------------------------------------------------------------------------------------


def test_save_load_identical_logits_and_every_weight_loaded(tmp_path, pixels):
    from transformers import AutoConfig, AutoModel, AutoModelForImageClassification

    model = tiny_model(stem_strides=[2, 2, 1], pooling="mean")  # non-default fields must survive the round trip
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()

    loaded, info = ConvViTForImageClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() or info["missing_keys"] == []
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert torch.equal(loaded.eval()(pixels).logits, model(pixels).logits)
    for name, tensor in model.state_dict().items():  # BatchNorm running statistics included
        assert torch.equal(tensor, loaded.state_dict()[name]), name

    auto = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert isinstance(auto, ConvViTForImageClassification)
    assert torch.equal(auto(pixels).logits, model(pixels).logits)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), ConvViTConfig)
    base = AutoModel.from_pretrained(tmp_path).eval()  # the backbone alone, from the classifier's checkpoint
    assert isinstance(base, ConvViTModel)
    assert torch.equal(base(pixels).last_hidden_state, model.conv_vit(pixels).last_hidden_state)

    eager = ConvViTForImageClassification.from_pretrained(tmp_path, attn_implementation="eager").eval()
    assert eager.config._attn_implementation == "eager"
    assert torch.allclose(eager(pixels).logits, model(pixels).logits, atol=1e-5)


def test_timm_stem_save_load_round_trip(tmp_path):
    model = tiny_model(stem_type="timm", timm_backbone="resnet10t", timm_out_index=2)
    model.save_pretrained(tmp_path)
    loaded, info = ConvViTForImageClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    images = torch.randn(2, 3, 32, 32)
    assert torch.equal(loaded.eval()(images).logits, model(images).logits)


def save_tiny_classifier(folder: Path) -> tuple[ConvViTForImageClassification, ConvViTImageProcessor]:
    model = tiny_model(seed=5)
    processor = ConvViTImageProcessor.from_preset("cifar10")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model, processor


def test_remote_code_loads_in_fresh_process_without_the_package(tmp_path, cifar_images):
    folder = tmp_path / "model"
    model, processor = save_tiny_classifier(folder)
    for name in ("configuration_conv_vit.py", "modeling_conv_vit.py", "image_processing_conv_vit.py"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_conv_vit.ConvViTConfig",
        "AutoModelForImageClassification": "modeling_conv_vit.ConvViTForImageClassification",
    }
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    assert preprocessor["auto_map"] == {"AutoImageProcessor": "image_processing_conv_vit.ConvViTImageProcessor"}

    images = cifar_images[0][:4]
    for index, image in enumerate(images):
        image.save(tmp_path / f"image{index}.png")
    with torch.no_grad():
        expected = model(processor(images, return_tensors="pt")["pixel_values"]).logits

    script = textwrap.dedent(
        f"""
        import sys
        import torch
        from PIL import Image
        from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

        torch.set_num_threads({torch.get_num_threads()})  # as this process: the same kernels, the same sums
        folder = {str(folder)!r}
        images = [Image.open({str(tmp_path)!r} + f"/image{{i}}.png") for i in range(4)]
        model = AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True).eval()
        processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
        with torch.no_grad():
            logits = model(**processor(images, return_tensors="pt")).logits
        torch.save(logits, {str(tmp_path / "logits.pt")!r})
        top = pipeline("image-classification", model=folder, trust_remote_code=True)(images[0], top_k=1)[0]
        print("LABEL", top["label"])
        assert "hf_seq2seq_vit" not in sys.modules, "the package must not be imported"
        print("CLASS", type(model).__module__, type(processor).__module__)
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CLASS transformers_modules." in result.stdout  # the classes came from the copied files
    # Another process may still split work differently (another OpenMP team): equal up to float rounding.
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected, rtol=1e-5, atol=1e-6)
    assert f"LABEL {CIFAR10_LABELS[expected[0].argmax().item()]}" in result.stdout


def test_pipeline_returns_sorted_labels_with_scores(tmp_path, cifar_images):
    from transformers import pipeline

    model, processor = save_tiny_classifier(tmp_path)
    image = cifar_images[0][3]
    # In-process the registered local classes serve; trust_remote_code=False also stops transformers 5.2x from
    # probing the folder for a *video* processor derived from the image processor's auto_map (a y/N prompt).
    classifier = pipeline("image-classification", model=str(tmp_path), trust_remote_code=False)
    assert isinstance(classifier.model, ConvViTForImageClassification)
    assert isinstance(classifier.image_processor, ConvViTImageProcessor)
    predictions = classifier(image, top_k=10)
    assert {p["label"] for p in predictions} == set(CIFAR10_LABELS)
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        probabilities = model(processor(image, return_tensors="pt")["pixel_values"]).logits.softmax(-1)[0]
    assert predictions[0]["label"] == CIFAR10_LABELS[probabilities.argmax().item()]
    assert predictions[0]["score"] == pytest.approx(probabilities.max().item(), abs=1e-5)
    assert len(classifier(image)) == 5  # the pipeline's default top_k


# ------------------------------------------------------------------------------------------------------------------
# attention rollout
# ------------------------------------------------------------------------------------------------------------------


def test_attention_rollout_follows_attention_to_the_attended_token():
    # every token attends to token 6 in every layer and head → the rollout of the [CLS] row peaks there
    attention = torch.zeros(1, 2, 17, 17)
    attention[..., 6] = 1.0
    rollout = attention_rollout([attention, attention])
    assert torch.allclose(rollout.sum(-1), torch.ones(1, 17))
    assert rollout[0, 0].argmax().item() == 6
    identity = torch.eye(17).expand(1, 2, 17, 17)
    assert torch.allclose(attention_rollout([identity] * 3), torch.eye(17)[None])
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout([attention], head_fusion="median")
    with pytest.raises(ValueError, match="output_attentions=True"):
        attention_rollout([])


def test_attention_rollout_heatmap_and_overlay(tmp_path, cifar_images):
    model = tiny_model()
    image = cifar_images[0][0]
    pixel_values = ConvViTImageProcessor.from_preset("cifar10")(image, return_tensors="pt")["pixel_values"]
    heatmap = attention_rollout_heatmap(model, pixel_values)
    assert heatmap.shape == (1, 4, 4)
    assert heatmap.max().item() == pytest.approx(1.0) and heatmap.min().item() >= 0.0
    overlay = overlay_heatmap(image, heatmap[0], path=tmp_path / "rollout.png")
    assert overlay.size == image.size
    assert Image.open(tmp_path / "rollout.png").size == image.size
    assert not np.array_equal(np.asarray(overlay), np.asarray(image))


def test_integer_pixel_values_are_refused_with_a_pointer_to_the_processor():
    model = tiny_model()
    raw = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"dtype torch.uint8.*image processor"):
        model(raw)
    processed = ConvViTImageProcessor.from_preset("cifar10")(raw, return_tensors="pt")["pixel_values"]
    assert model(processed).logits.shape == (2, 10)


def test_attention_rollout_is_still_importable_from_its_old_path():
    import hf_seq2seq_vit.attention_rollout as old_path
    import hf_seq2seq_vit.models.conv_vit.attention_rollout as beside_the_model

    for name in ("attention_rollout", "attention_rollout_heatmap", "overlay_heatmap"):
        assert getattr(old_path, name) is getattr(beside_the_model, name)


def test_model_folder_imports_no_training_data_or_export_code():
    # the folder is what a user's transformers loads as remote code: torch, transformers, timm (numpy/PIL for images)
    import ast

    folder = REPO / "hf_seq2seq_vit" / "models" / "conv_vit"
    allowed = {"torch", "transformers", "timm", "huggingface_hub", "numpy", "PIL"}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            third_party = {root for root in roots if root not in sys.stdlib_module_names}
            assert third_party <= allowed, f"{path.name} imports {sorted(third_party - allowed)}"


def test_conv_vit_pipeline_reports_missing_files_and_keeps_16_bit_images(tmp_path):
    from transformers import pipeline

    from hf_seq2seq_vit.models.conv_vit.pipeline_conv_vit import ConvViTImageClassificationPipeline

    model, processor = save_tiny_classifier(tmp_path / "model")
    classifier = pipeline(
        "image-classification", model=str(tmp_path / "model"), pipeline_class=ConvViTImageClassificationPipeline,
        trust_remote_code=False,
    )
    with pytest.raises(FileNotFoundError, match=r"no_such_cat.png' does not exist"):
        classifier(str(tmp_path / "no_such_cat.png"))
    # a dark 16-bit image: transformers' loader would clip it to white (every value > 255)
    levels = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) % 64) * 128 + 300
    Image.fromarray(levels).save(tmp_path / "dark16.png")
    top = classifier(str(tmp_path / "dark16.png"), top_k=10)
    with torch.no_grad():
        pixel_values = processor(Image.open(tmp_path / "dark16.png"), return_tensors="pt")["pixel_values"]
        probabilities = model(pixel_values).logits.softmax(-1)[0]
    assert pixel_values.max() < 0  # dark: below every channel's mean
    assert {p["label"]: p["score"] for p in top} == pytest.approx(
        {CIFAR10_LABELS[i]: probabilities[i].item() for i in range(10)}, abs=1e-5
    )


def test_eager_attention_is_transformers_vit_kernel_and_matches_the_softmax_formula():
    # no copy of an attention kernel in the ConvViT folder: the eager path is transformers' ViT function
    from transformers.models.vit import modeling_vit

    from hf_seq2seq_vit.models.conv_vit import modeling_conv_vit

    assert modeling_conv_vit.eager_attention_forward is modeling_vit.eager_attention_forward
    model = tiny_model()
    attention = next(m for m in model.modules() if isinstance(m, modeling_conv_vit.ConvViTAttention))
    hidden = torch.randn(2, 5, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # output_attentions=True takes the eager kernel whatever the configured one
        output, probabilities = attention(hidden, output_attentions=True)
        heads, dim = attention.num_heads, attention.head_dim
        q, k, v = attention.qkv(hidden).view(2, 5, 3, heads, dim).permute(2, 0, 3, 1, 4)
        expected_probabilities = torch.softmax(q @ k.transpose(-1, -2) / dim**0.5, dim=-1)
        expected = attention.proj((expected_probabilities @ v).transpose(1, 2).reshape(2, 5, -1))
    assert torch.allclose(probabilities, expected_probabilities, atol=1e-6)
    assert torch.allclose(output, expected, atol=1e-6)


@pytest.mark.parametrize("stem", [dict(), dict(stem_type="timm", timm_backbone="resnet10t", timm_out_index=2)])
def test_model_built_on_meta_device_gets_real_batchnorm_statistics(stem):
    """Built on the meta device, moved to memory and initialised (as large-model loaders do), every BatchNorm of the
    stem (timm's included) starts from mean 0, variance 1, no batches seen: the buffers of a normally built model."""
    config = tiny_conv_vit_config(**stem)
    expected = dict(ConvViTForImageClassification(config).named_buffers())
    with torch.device("meta"):
        model = ConvViTForImageClassification(config)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for _, buffer in model.named_buffers():
            buffer.fill_(7)  # stand in for the uninitialised memory to_empty() hands out
    model.init_weights()
    buffers = dict(model.named_buffers())
    assert any("running_var" in name for name in buffers)
    assert buffers.keys() == expected.keys()
    for name, value in buffers.items():
        assert torch.equal(value, expected[name]), name


def test_set_attn_implementation_switches_the_kernel_of_a_built_model(monkeypatch):
    """`model.set_attn_implementation(...)` (transformers' switch after loading) changes the kernel the layers call."""
    from hf_seq2seq_vit.models.conv_vit import modeling_conv_vit

    model = tiny_model()
    pixel_values = torch.randn(2, 3, 32, 32)
    assert model.config._attn_implementation == "sdpa"
    sdpa_logits = model(pixel_values).logits
    calls = []
    eager = modeling_conv_vit.eager_attention_forward
    monkeypatch.setattr(modeling_conv_vit, "eager_attention_forward", lambda *a, **k: calls.append(1) or eager(*a, **k))
    model.set_attn_implementation("eager")
    assert model.config._attn_implementation == "eager"
    eager_logits = model(pixel_values).logits
    assert len(calls) == model.config.num_hidden_layers  # every layer ran the eager kernel
    torch.testing.assert_close(eager_logits, sdpa_logits, atol=1e-5, rtol=1e-5)
    model.set_attn_implementation("sdpa")
    calls.clear()
    torch.testing.assert_close(model(pixel_values).logits, sdpa_logits)
    assert not calls
