"""The examples in both model folders' docstrings run as written, and every public class and function has one
(one docstring style for the two models: purpose, Args/Returns, Example)."""

import pytest
from helpers.docstrings import check_examples_run, check_public_names_have_examples

MODULES = [
    "hf_seq2seq_vit.models.seq2seq_transformer.configuration_seq2seq_transformer",
    "hf_seq2seq_vit.models.seq2seq_transformer.layers_seq2seq_transformer",
    "hf_seq2seq_vit.models.seq2seq_transformer.modeling_seq2seq_transformer",
    "hf_seq2seq_vit.models.seq2seq_transformer.pipeline_seq2seq_transformer",
    "hf_seq2seq_vit.models.conv_vit.configuration_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.modeling_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.image_processing_conv_vit",
    "hf_seq2seq_vit.models.conv_vit.attention_rollout",
    "hf_seq2seq_vit.models.conv_vit.pipeline_conv_vit",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    check_examples_run(name)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_and_function_has_an_example(name):
    check_public_names_have_examples(name)
