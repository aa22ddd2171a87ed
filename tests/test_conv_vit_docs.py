"""The examples in ConvViT's docstrings run as written (the translator's docstring style: purpose, Args/Returns,
Example on every public class and function)."""

import doctest
import importlib

import pytest

MODULES = [
    "hf_seq2seq_vit.models.conv_vit.configuration_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.modeling_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.image_processing_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.attention_rollout",
    "hf_seq2seq_vit.models.conv_vit.pipeline_conv_vit",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_and_function_has_an_example(name):
    module = importlib.import_module(name)
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or getattr(value, "__module__", None) != name:
            continue
        if isinstance(value, type) or callable(value):
            assert value.__doc__ and "Example" in value.__doc__, f"{name}.{attribute} needs a docstring example"
