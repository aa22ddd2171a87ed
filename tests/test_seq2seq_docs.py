"""The examples in the translator's docstrings run as written (one docstring style: purpose, Args/Returns, Example)."""

import doctest
import importlib

import pytest

MODULES = [
    "hf_seq2seq_vit.models.seq2seq_transformer.configuration_seq2seq_transformer",
    "hf_seq2seq_vit.models.seq2seq_transformer.layers_seq2seq_transformer",
    "hf_seq2seq_vit.models.seq2seq_transformer.modeling_seq2seq_transformer",
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
