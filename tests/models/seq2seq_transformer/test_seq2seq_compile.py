"""`generate()` with transformers' static cache and a `torch.compile(fullgraph=True)` forward (#13.5): one graph, no
graph breaks or data-dependent shapes, the tokens of the dynamic cache, and no recompilation for a shorter prompt."""

import torch
from conftest import tiny_config
from torch._dynamo.utils import counters
from transformers.generation.configuration_utils import CompileConfig

from hf_seq2seq_vit import Seq2SeqTransformerForConditionalGeneration


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded batch (pad 0) and its attention mask, built fresh so that every tensor is contiguous."""
    width = max(len(row) for row in rows)
    ids = torch.tensor([row + [0] * (width - len(row)) for row in rows])
    return ids, (ids != 0).long()


def test_static_cache_with_compiled_forward():
    torch.manual_seed(0)
    model = Seq2SeqTransformerForConditionalGeneration(tiny_config(init_std=0.5)).eval()
    # aot_eager traces the forward through dynamo and AOTAutograd (the static cache's in-place writes included)
    # without a C++ compiler; dynamic=True keeps the source length symbolic, so a shorter prompt reuses the graph.
    compile_config = CompileConfig(fullgraph=True, dynamic=True, backend="aot_eager", mode=None)
    compile_config._compile_all_devices = True  # transformers auto-compiles on accelerators only unless told so
    options = dict(max_new_tokens=11, eos_token_id=None, cache_implementation="static", compile_config=compile_config)

    torch._dynamo.reset()
    counters.clear()
    try:
        ids, mask = padded([[5, 6, 7, 8, 9, 2], [10, 11, 2]])
        expected = model.generate(ids, attention_mask=mask, max_new_tokens=11, eos_token_id=None)
        assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected)
        assert counters["stats"]["unique_graphs"] == 1, "the decoding step should be one compiled graph"
        assert not counters["graph_break"], dict(counters["graph_break"])
        with torch._dynamo.config.patch(error_on_recompile=True):  # a recompilation raises
            ids, mask = padded([[12, 13, 14, 2], [15, 2]])
            expected = model.generate(ids, attention_mask=mask, max_new_tokens=11, eos_token_id=None)
            assert torch.equal(model.generate(ids, attention_mask=mask, **options), expected)
        assert counters["stats"]["unique_graphs"] == 1
    finally:
        torch._dynamo.reset()
